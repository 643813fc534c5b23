package cronjob

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"time"

	batchv1 "k8s.io/api/batch/v1"
	corev1 "k8s.io/api/core/v1"
	apiequality "k8s.io/apimachinery/pkg/api/equality"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/labels"
	"k8s.io/apimachinery/pkg/types"
	"k8s.io/client-go/kubernetes"
	batchlisters "k8s.io/client-go/listers/batch/v1"
	"k8s.io/client-go/tools/cache"
	"k8s.io/client-go/tools/record"

	jobctl "github.com/sqlkube/sqlkube/controllers/job"
	"github.com/sqlkube/sqlkube/controllers/ownership"
	"github.com/sqlkube/sqlkube/controllers/reconcile"
)

// Name is the controller's name in logs, events and the controller
// manager's --controllers flag.
const Name = "cronjob"

var controllerKind = batchv1.SchemeGroupVersion.WithKind("CronJob")

// Controller starts CronJobs' Jobs on schedule and keeps their status.
type Controller struct {
	client        kubernetes.Interface
	log           *slog.Logger
	recorder      record.EventRecorder
	cronJobLister batchlisters.CronJobLister
	jobLister     batchlisters.JobLister
	synced        []cache.InformerSynced
	queue         *reconcile.Queue
	owners        *ownership.Owners[*batchv1.CronJob]
	// now is the controller's clock (time.Now); tests set it.
	now func() time.Time
	// local is the zone of schedules without spec.timeZone: the
	// controller's, as in Kubernetes.
	local *time.Location
}

// New returns a controller that watches CronJobs and Jobs through
// cfg.Informers. The caller starts the informer factory.
func New(cfg *reconcile.Config) *Controller {
	cjInf := cfg.Informers.Batch().V1().CronJobs()
	jobInf := cfg.Informers.Batch().V1().Jobs()
	c := &Controller{
		client:        cfg.Client,
		log:           cfg.Log(Name),
		recorder:      cfg.Recorder(Name + "-controller"),
		cronJobLister: cjInf.Lister(),
		jobLister:     jobInf.Lister(),
		synced:        []cache.InformerSynced{cjInf.Informer().HasSynced, jobInf.Informer().HasSynced},
		now:           time.Now,
		local:         time.Local,
	}
	c.queue = reconcile.NewQueue(Name, c.log, c.sync)
	// CronJobs adopt no orphans (Selecting is not used): no selector.
	c.owners = ownership.NewOwners[*batchv1.CronJob](controllerKind, c.cronJobLister.CronJobs, nil)
	if _, err := cjInf.Informer().AddEventHandler(c.queue.EventHandler()); err != nil {
		c.log.Error("add cronjob event handler", "err", err)
	}
	if _, err := jobInf.Informer().AddEventHandler(reconcile.OwnerEventHandler(c.enqueueOwner)); err != nil {
		c.log.Error("add job event handler", "err", err)
	}
	return c
}

// Run syncs CronJobs with workers goroutines until ctx is done.
func (c *Controller) Run(ctx context.Context, workers int) {
	c.log.Info("starting", "workers", workers)
	defer c.log.Info("stopped")
	c.queue.Run(ctx, workers, c.synced...)
}

// enqueueOwner queues the CronJob that controls a Job (or a Job's
// tombstone): a Job that finished or went away changes its status.
func (c *Controller) enqueueOwner(obj any) {
	job, ok := reconcile.ObjectOf[*batchv1.Job](obj)
	if !ok {
		return
	}
	if cj, ok := c.owners.Resolve(job.Namespace, metav1.GetControllerOf(job)); ok {
		c.queue.Add(reconcile.Key(cj))
	}
}

// sync reconciles the CronJob named by key: it brings status.active and
// status.lastSuccessfulTime in line with the Jobs it controls, deletes
// finished Jobs beyond the history limits, starts the Job that is due,
// writes the status if it changed, and queues the key again for the next
// schedule time.
func (c *Controller) sync(ctx context.Context, key string) error {
	cached, err := c.owners.ByKey(key)
	if apierrors.IsNotFound(err) {
		return nil
	}
	if err != nil {
		return err
	}
	jobs, err := c.jobsOf(cached)
	if err != nil {
		return fmt.Errorf("list jobs of cronjob %s: %w", key, err)
	}
	cj, err := c.current(ctx, cached, jobs)
	if err != nil || cj == nil {
		return err
	}
	cj = cj.DeepCopy()
	orig := cj.Status.DeepCopy()

	reconcileErr := c.reconcile(ctx, cj, jobs)
	errs := []error{reconcileErr, c.cleanup(ctx, cj, jobs)}
	if reconcileErr == nil {
		// With status.active in doubt (a Job that could not be
		// read), a Forbid policy could start a second Job: wait for
		// the retry.
		errs = append(errs, c.schedule(ctx, key, cj))
	}
	if !apiequality.Semantic.DeepEqual(orig, &cj.Status) {
		if _, err := c.client.BatchV1().CronJobs(cj.Namespace).UpdateStatus(ctx, cj, metav1.UpdateOptions{}); err != nil {
			errs = append(errs, fmt.Errorf("update status of cronjob %s: %w", key, err))
		}
	}
	return errors.Join(errs...)
}

// jobsOf returns the Jobs in the cache that cj controls (by uid, so not
// those of an earlier CronJob of the same name).
func (c *Controller) jobsOf(cj *batchv1.CronJob) ([]*batchv1.Job, error) {
	all, err := c.jobLister.Jobs(cj.Namespace).List(labels.Everything())
	if err != nil {
		return nil, err
	}
	var out []*batchv1.Job
	for _, j := range all {
		if metav1.IsControlledBy(j, cj) {
			out = append(out, j)
		}
	}
	return out, nil
}

// current returns cached, or a fresh copy read from the API when a Job
// that cached controls is running but missing from its status.active: the
// cache may not have seen the status update that recorded it yet, and
// acting on the stale copy would report the Job as unexpected and try to
// start it again. It returns nil (and no error) when the CronJob is gone.
func (c *Controller) current(ctx context.Context, cached *batchv1.CronJob, jobs []*batchv1.Job) (*batchv1.CronJob, error) {
	for _, j := range jobs {
		if _, done := jobctl.Finished(j); done || activeIndex(cached, j.UID) >= 0 {
			continue
		}
		fresh, err := c.client.BatchV1().CronJobs(cached.Namespace).Get(ctx, cached.Name, metav1.GetOptions{})
		switch {
		case apierrors.IsNotFound(err):
			return nil, nil
		case err != nil:
			return nil, fmt.Errorf("get cronjob %s: %w", reconcile.Key(cached), err)
		case fresh.UID != cached.UID:
			// Deleted and created again: wait for the cache.
			return nil, fmt.Errorf("cronjob %s was recreated (uid %s, cached %s)", reconcile.Key(cached), fresh.UID, cached.UID)
		}
		return fresh, nil
	}
	return cached, nil
}

// reconcile updates cj's status from its Jobs: finished Jobs leave
// status.active, the latest completionTime of a Job that succeeded becomes
// status.lastSuccessfulTime, and references to Jobs that no longer exist
// are dropped.
func (c *Controller) reconcile(ctx context.Context, cj *batchv1.CronJob, jobs []*batchv1.Job) error {
	seen := make(map[types.UID]bool, len(jobs))
	for _, j := range jobs {
		seen[j.UID] = true
		cond, done := jobctl.Finished(j)
		active := activeIndex(cj, j.UID) >= 0
		switch {
		case !done && !active:
			// Made by hand (kubectl create job --from=cronjob/...)
			// or by a controller that lost its status update:
			// Kubernetes does not count it as active either.
			c.recorder.Eventf(cj, corev1.EventTypeWarning, "UnexpectedJob", "Saw a job that the controller did not create or forgot: %s", j.Name)
		case done && active:
			removeActive(cj, j.UID)
			c.recorder.Eventf(cj, corev1.EventTypeNormal, "SawCompletedJob", "Saw completed job: %s, condition: %s", j.Name, cond)
		}
		if cond == batchv1.JobComplete && j.Status.CompletionTime != nil {
			if last := cj.Status.LastSuccessfulTime; last == nil || j.Status.CompletionTime.After(last.Time) {
				cj.Status.LastSuccessfulTime = j.Status.CompletionTime.DeepCopy()
			}
		}
	}

	var errs []error
	for _, ref := range append([]corev1.ObjectReference(nil), cj.Status.Active...) {
		if seen[ref.UID] {
			continue
		}
		// Not in the cache: gone, or created so recently that the
		// cache has not seen it. Ask the API.
		ns := ref.Namespace
		if ns == "" {
			ns = cj.Namespace
		}
		j, err := c.client.BatchV1().Jobs(ns).Get(ctx, ref.Name, metav1.GetOptions{})
		switch {
		case apierrors.IsNotFound(err) || err == nil && j.UID != ref.UID:
			removeActive(cj, ref.UID)
			c.recorder.Eventf(cj, corev1.EventTypeNormal, "MissingJob", "Active job went missing: %s", ref.Name)
		case err != nil:
			errs = append(errs, fmt.Errorf("get job %s/%s of cronjob %s: %w", ns, ref.Name, reconcile.Key(cj), err))
		}
	}
	return errors.Join(errs...)
}

// schedule starts the Job that is due, if any, honouring spec.suspend,
// spec.startingDeadlineSeconds and spec.concurrencyPolicy, and queues key
// again for the next schedule time.
func (c *Controller) schedule(ctx context.Context, key string, cj *batchv1.CronJob) error {
	if cj.DeletionTimestamp != nil || cj.Spec.Suspend != nil && *cj.Spec.Suspend {
		// Nothing to wait for: resuming the CronJob is an update,
		// which queues it.
		return nil
	}
	s, err := parseSchedule(cj, c.local)
	if err != nil {
		// Reported, not retried: only a change of the spec, which
		// queues the CronJob, can fix it.
		var se *scheduleError
		if errors.As(err, &se) {
			c.recorder.Event(cj, corev1.EventTypeWarning, se.reason, se.Error())
		}
		c.log.Warn("cronjob cannot be scheduled", "cronjob", key, "err", err)
		return nil
	}
	now := c.now()
	p, err := planFor(cj, s, now)
	if err != nil {
		c.recorder.Eventf(cj, corev1.EventTypeWarning, "InvalidSchedule", "invalid schedule: %s : %v", cj.Spec.Schedule, err)
		c.log.Warn("cronjob cannot be scheduled", "cronjob", key, "schedule", cj.Spec.Schedule, "err", err)
		return nil
	}
	if !p.next.IsZero() {
		c.queue.AddAfter(key, p.next.Sub(now)+nextScheduleSlack)
	}
	if p.run.IsZero() {
		if !p.missed.IsZero() {
			c.recorder.Eventf(cj, corev1.EventTypeWarning, "MissSchedule", "Missed scheduled time to start a job: %s", p.missed.UTC().Format(time.RFC1123Z))
		}
		return nil
	}
	if p.tooMany {
		c.recorder.Event(cj, corev1.EventTypeWarning, "TooManyMissedTimes", "too many missed start times. Set or decrease .spec.startingDeadlineSeconds or check clock skew")
	}
	name := jobName(cj, p.run)
	if activeNamed(cj, name) || cj.Status.LastScheduleTime != nil && cj.Status.LastScheduleTime.Equal(&metav1.Time{Time: p.run}) {
		return nil // already started
	}
	switch cj.Spec.ConcurrencyPolicy {
	case batchv1.ForbidConcurrent:
		if len(cj.Status.Active) > 0 {
			// When the running Job finishes, its update queues the
			// CronJob, which then starts this run if it is still
			// within its starting deadline.
			c.recorder.Event(cj, corev1.EventTypeNormal, "JobAlreadyActive", "Not starting job because prior execution is running and concurrency policy is Forbid")
			return nil
		}
	case batchv1.ReplaceConcurrent:
		for _, ref := range append([]corev1.ObjectReference(nil), cj.Status.Active...) {
			if err := c.deleteJob(ctx, cj, ref.Name, ref.UID); err != nil {
				return fmt.Errorf("replace: %w", err)
			}
			removeActive(cj, ref.UID)
		}
	}
	return c.start(ctx, cj, p.run)
}

// start creates cj's Job for the schedule time t and records it in the
// status. A Job of that name that cj already controls is the one a
// previous sync created (and failed to record): it is recorded instead.
func (c *Controller) start(ctx context.Context, cj *batchv1.CronJob, t time.Time) error {
	want := newJob(cj, t)
	job, err := c.client.BatchV1().Jobs(cj.Namespace).Create(ctx, want, metav1.CreateOptions{})
	switch {
	case apierrors.IsAlreadyExists(err):
		job, err = c.client.BatchV1().Jobs(cj.Namespace).Get(ctx, want.Name, metav1.GetOptions{})
		if err != nil {
			return fmt.Errorf("get existing job %s/%s of cronjob %s: %w", cj.Namespace, want.Name, reconcile.Key(cj), err)
		}
		if !metav1.IsControlledBy(job, cj) {
			c.recorder.Eventf(cj, corev1.EventTypeWarning, "FailedCreate", "Error creating job: job %s exists and is not controlled by this CronJob", want.Name)
			return nil
		}
		c.log.Debug("job already exists", "cronjob", reconcile.Key(cj), "job", want.Name)
	case err != nil:
		if !apierrors.HasStatusCause(err, corev1.NamespaceTerminatingCause) && ctx.Err() == nil {
			c.recorder.Eventf(cj, corev1.EventTypeWarning, "FailedCreate", "Error creating job: %v", err)
		}
		return fmt.Errorf("create job %s/%s of cronjob %s: %w", cj.Namespace, want.Name, reconcile.Key(cj), err)
	default:
		c.recorder.Eventf(cj, corev1.EventTypeNormal, "SuccessfulCreate", "Created job %s", job.Name)
	}
	if _, done := jobctl.Finished(job); !done && activeIndex(cj, job.UID) < 0 {
		cj.Status.Active = append(cj.Status.Active, corev1.ObjectReference{
			Kind: "Job", APIVersion: batchv1.SchemeGroupVersion.String(),
			Namespace: job.Namespace, Name: job.Name, UID: job.UID, ResourceVersion: job.ResourceVersion,
		})
	}
	cj.Status.LastScheduleTime = &metav1.Time{Time: t}
	return nil
}

// newJob returns cj's Job for the schedule time t: named after cj and t
// in minutes, so that a second attempt for the same time fails with
// AlreadyExists instead of running it twice; with the template's labels,
// annotations and spec, the scheduled time as an annotation (in
// spec.timeZone, else UTC, as Kubernetes writes it) and cj as its
// controller.
func newJob(cj *batchv1.CronJob, t time.Time) *batchv1.Job {
	tmpl := cj.Spec.JobTemplate.DeepCopy()
	lbls := tmpl.Labels
	if lbls == nil {
		lbls = map[string]string{}
	}
	annotations := tmpl.Annotations
	if annotations == nil {
		annotations = map[string]string{}
	}
	loc := time.UTC
	if tz := cj.Spec.TimeZone; tz != nil {
		if l, err := time.LoadLocation(*tz); err == nil {
			loc = l
		}
	}
	annotations[batchv1.CronJobScheduledTimestampAnnotation] = t.In(loc).Format(time.RFC3339)
	return &batchv1.Job{
		ObjectMeta: metav1.ObjectMeta{
			Name:            jobName(cj, t),
			Namespace:       cj.Namespace,
			Labels:          lbls,
			Annotations:     annotations,
			OwnerReferences: []metav1.OwnerReference{*metav1.NewControllerRef(cj, controllerKind)},
		},
		Spec: tmpl.Spec,
	}
}

// jobName is "<cronjob>-<t in minutes since the epoch>", Kubernetes'
// name for the Job of schedule time t.
func jobName(cj *batchv1.CronJob, t time.Time) string {
	return fmt.Sprintf("%s-%d", cj.Name, t.Unix()/60)
}
