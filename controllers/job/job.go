package job

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"sort"
	"time"

	batchv1 "k8s.io/api/batch/v1"
	corev1 "k8s.io/api/core/v1"
	apiequality "k8s.io/apimachinery/pkg/api/equality"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/labels"
	"k8s.io/client-go/kubernetes"
	batchlisters "k8s.io/client-go/listers/batch/v1"
	corelisters "k8s.io/client-go/listers/core/v1"
	"k8s.io/client-go/tools/cache"
	"k8s.io/client-go/tools/record"
	"k8s.io/kubectl/pkg/util/podutils"

	"github.com/sqlkube/sqlkube/controllers/ownership"
	"github.com/sqlkube/sqlkube/controllers/reconcile"
)

// Name is the controller's name in logs, events and the controller
// manager's --controllers flag.
const Name = "job"

const (
	defaultBackoffLimit = 6
	backoffBase         = 10 * time.Second
	backoffMax          = 6 * time.Minute
	maxBatch            = 64 // pods one slow-start batch creates at most
)

// The labels Kubernetes put on Job pods before batch.kubernetes.io/
// prefixed ones; the API server still adds both.
const (
	legacyJobNameLabel       = "job-name"
	legacyControllerUIDLabel = "controller-uid"
)

var controllerKind = batchv1.SchemeGroupVersion.WithKind("Job")

// Controller runs Jobs' pods and reports their progress.
type Controller struct {
	client    kubernetes.Interface
	log       *slog.Logger
	recorder  record.EventRecorder
	jobLister batchlisters.JobLister
	podLister corelisters.PodLister
	synced    []cache.InformerSynced
	queue     *reconcile.Queue
	owners    *ownership.Owners[*batchv1.Job]
	pending   *ownership.PendingPods
	now       func() time.Time
	// backoffBase and backoffMax bound the delay before a failed pod is
	// replaced: base, 2*base, 4*base, ... at most max.
	backoffBase, backoffMax time.Duration
}

// New returns a controller that watches Jobs and their pods through
// cfg.Informers. The caller starts the informer factory.
func New(cfg *reconcile.Config) *Controller {
	jobInf := cfg.Informers.Batch().V1().Jobs()
	podInf := cfg.Informers.Core().V1().Pods()
	c := &Controller{
		client:      cfg.Client,
		log:         cfg.Log(Name),
		recorder:    cfg.Recorder(Name + "-controller"),
		jobLister:   jobInf.Lister(),
		podLister:   podInf.Lister(),
		synced:      []cache.InformerSynced{jobInf.Informer().HasSynced, podInf.Informer().HasSynced},
		pending:     ownership.NewPendingPods(),
		now:         time.Now,
		backoffBase: backoffBase,
		backoffMax:  backoffMax,
	}
	c.queue = reconcile.NewQueue(Name, c.log, c.sync)
	// Jobs adopt no orphans (Selecting is not used): no selector.
	c.owners = ownership.NewOwners[*batchv1.Job](controllerKind, c.jobLister.Jobs, nil)
	if _, err := jobInf.Informer().AddEventHandler(c.queue.EventHandler()); err != nil {
		c.log.Error("add job event handler", "err", err)
	}
	if _, err := podInf.Informer().AddEventHandler(reconcile.OwnerEventHandler(c.enqueueOwner)); err != nil {
		c.log.Error("add pod event handler", "err", err)
	}
	return c
}

// Run syncs Jobs with workers goroutines until ctx is done.
func (c *Controller) Run(ctx context.Context, workers int) {
	c.log.Info("starting", "workers", workers)
	defer c.log.Info("stopped")
	c.queue.Run(ctx, workers, c.synced...)
}

// enqueueOwner queues the Job that controls a pod (or a pod's tombstone).
func (c *Controller) enqueueOwner(obj any) {
	pod, ok := reconcile.ObjectOf[*corev1.Pod](obj)
	if !ok {
		return
	}
	if job, ok := c.owners.Resolve(pod.Namespace, metav1.GetControllerOf(pod)); ok {
		c.queue.Add(reconcile.Key(job))
	}
}

// counts is what a Job's pods say.
type counts struct {
	active      []*corev1.Pod // neither finished nor being deleted
	succeeded   int32
	failed      int32
	ready       int32
	terminating int32
	lastFailure time.Time // when the latest failed pod finished
}

func countPods(pods []*corev1.Pod) counts {
	var n counts
	for _, p := range pods {
		switch {
		case p.Status.Phase == corev1.PodSucceeded:
			n.succeeded++
		case p.Status.Phase == corev1.PodFailed:
			n.failed++
			if t := finishedAt(p); t.After(n.lastFailure) {
				n.lastFailure = t
			}
		case p.DeletionTimestamp != nil:
			n.terminating++
		default:
			n.active = append(n.active, p)
			if podutils.IsPodReady(p) {
				n.ready++
			}
		}
	}
	return n
}

// finishedAt is when the last container of a finished pod stopped, or as
// close to it as the pod says.
func finishedAt(p *corev1.Pod) time.Time {
	var t time.Time
	for _, s := range append(append([]corev1.ContainerStatus{}, p.Status.InitContainerStatuses...), p.Status.ContainerStatuses...) {
		if term := s.State.Terminated; term != nil && term.FinishedAt.After(t) {
			t = term.FinishedAt.Time
		}
	}
	if t.IsZero() {
		for _, cond := range p.Status.Conditions {
			if cond.LastTransitionTime.After(t) {
				t = cond.LastTransitionTime.Time
			}
		}
	}
	if t.IsZero() {
		t = p.CreationTimestamp.Time
	}
	return t
}

// sync reconciles the Job named by key: it decides whether the Job is
// finished, creates or deletes pods so that the right number runs, and
// writes the status.
func (c *Controller) sync(ctx context.Context, key string) error {
	cached, err := c.owners.ByKey(key)
	if apierrors.IsNotFound(err) {
		c.pending.Forget(key)
		return nil
	}
	if err != nil {
		return err
	}
	job := cached.DeepCopy()
	if job.DeletionTimestamp != nil {
		return nil
	}
	sel, err := selector(job)
	if err != nil {
		c.recorder.Eventf(job, corev1.EventTypeWarning, "InvalidSelector", "Invalid selector: %v", err)
		return reconcile.Permanent(fmt.Errorf("job %s selector: %w", key, err))
	}
	all, err := c.podLister.Pods(job.Namespace).List(sel)
	if err != nil {
		return fmt.Errorf("list pods of job %s: %w", key, err)
	}
	var pods []*corev1.Pod
	for _, p := range all {
		if metav1.IsControlledBy(p, job) {
			pods = append(pods, p)
		}
	}
	n := countPods(pods)
	now := c.now()
	settled := c.pending.Settled(key, c.podLister, now)

	if _, done := Finished(job); done {
		// Pods left running by a sync that failed half-way.
		if settled && len(n.active) > 0 {
			_, err := c.deletePods(ctx, key, job, n.active)
			return err
		}
		return nil
	}

	st := job.Status.DeepCopy()
	st.Succeeded = max(st.Succeeded, n.succeeded)
	st.Failed = max(st.Failed, n.failed)
	st.Ready = &n.ready
	st.Terminating = &n.terminating
	suspended := job.Spec.Suspend != nil && *job.Spec.Suspend
	if st.StartTime == nil && !suspended {
		st.StartTime = &metav1.Time{Time: now}
	}

	var errs []error
	active := int32(len(n.active))
	switch reason, message := failure(job, st, n, now); {
	case reason != "":
		deleted, err := c.deletePods(ctx, key, job, n.active)
		errs = append(errs, err)
		active -= deleted
		st.Failed += deleted
		st.Conditions = append(st.Conditions, condition(batchv1.JobFailed, reason, message, now))
		c.recorder.Event(job, corev1.EventTypeWarning, reason, message)
	case complete(job, st.Succeeded, active):
		deleted, err := c.deletePods(ctx, key, job, n.active)
		errs = append(errs, err)
		active -= deleted
		st.Conditions = append(st.Conditions, condition(batchv1.JobComplete, "", "", now))
		st.CompletionTime = &metav1.Time{Time: now}
		c.recorder.Event(job, corev1.EventTypeNormal, "Completed", "Job completed")
	default:
		if settled {
			diff, err := c.manage(ctx, key, job, st, n, suspended)
			errs = append(errs, err)
			active += diff
		}
		if d := job.Spec.ActiveDeadlineSeconds; d != nil && st.StartTime != nil {
			c.queue.AddAfter(key, st.StartTime.Add(time.Duration(*d)*time.Second).Sub(now)+10*time.Millisecond)
		}
	}
	st.Active = active
	if !apiequality.Semantic.DeepEqual(&job.Status, st) {
		job.Status = *st
		if _, err := c.client.BatchV1().Jobs(job.Namespace).UpdateStatus(ctx, job, metav1.UpdateOptions{}); err != nil {
			errs = append(errs, fmt.Errorf("update status of job %s: %w", key, err))
		}
	}
	return errors.Join(errs...)
}

// selector returns the Job's pod selector; when unset, the one the API
// server generates from the Job's uid.
func selector(job *batchv1.Job) (labels.Selector, error) {
	if job.Spec.Selector == nil {
		return labels.SelectorFromSet(labels.Set{batchv1.ControllerUidLabel: string(job.UID)}), nil
	}
	sel, err := metav1.LabelSelectorAsSelector(job.Spec.Selector)
	if err == nil && sel.Empty() {
		err = errors.New("empty selector selects every pod")
	}
	return sel, err
}

// Finished returns the type of the Job's true Complete or Failed
// condition, and whether it has one: whether the Job is over, and how.
func Finished(job *batchv1.Job) (batchv1.JobConditionType, bool) {
	for _, c := range job.Status.Conditions {
		if (c.Type == batchv1.JobComplete || c.Type == batchv1.JobFailed) && c.Status == corev1.ConditionTrue {
			return c.Type, true
		}
	}
	return "", false
}

// failure returns why the Job has failed, or "" if it has not.
func failure(job *batchv1.Job, st *batchv1.JobStatus, n counts, now time.Time) (reason, message string) {
	limit := int32(defaultBackoffLimit)
	if job.Spec.BackoffLimit != nil {
		limit = *job.Spec.BackoffLimit
	}
	if st.Failed > limit || pastBackoffLimitOnFailure(job, n.active, limit) {
		return batchv1.JobReasonBackoffLimitExceeded, "Job has reached the specified backoff limit"
	}
	if d := job.Spec.ActiveDeadlineSeconds; d != nil && st.StartTime != nil && !now.Before(st.StartTime.Add(time.Duration(*d)*time.Second)) {
		return batchv1.JobReasonDeadlineExceeded, "Job was active longer than specified deadline"
	}
	return "", ""
}

// pastBackoffLimitOnFailure counts container restarts of a restartPolicy
// OnFailure Job's running pods against its backoff limit: such pods never
// fail, their containers restart in place.
func pastBackoffLimitOnFailure(job *batchv1.Job, active []*corev1.Pod, limit int32) bool {
	if job.Spec.Template.Spec.RestartPolicy != corev1.RestartPolicyOnFailure {
		return false
	}
	var restarts int32
	for _, p := range active {
		for _, s := range append(append([]corev1.ContainerStatus{}, p.Status.InitContainerStatuses...), p.Status.ContainerStatuses...) {
			restarts += s.RestartCount
		}
	}
	if limit == 0 {
		return restarts > 0
	}
	return restarts >= limit
}

// complete reports whether enough pods succeeded: completions of them, or,
// with completions unset, one and no pod still running.
func complete(job *batchv1.Job, succeeded, active int32) bool {
	if job.Spec.Completions != nil {
		return succeeded >= *job.Spec.Completions
	}
	return succeeded > 0 && active == 0
}

func condition(t batchv1.JobConditionType, reason, message string, now time.Time) batchv1.JobCondition {
	return batchv1.JobCondition{
		Type: t, Status: corev1.ConditionTrue, Reason: reason, Message: message,
		LastProbeTime: metav1.NewTime(now), LastTransitionTime: metav1.NewTime(now),
	}
}

// manage creates or deletes pods so that the right number runs, and
// returns by how much it changed the number of active pods.
func (c *Controller) manage(ctx context.Context, key string, job *batchv1.Job, st *batchv1.JobStatus, n counts, suspended bool) (int32, error) {
	active := int32(len(n.active))
	want := int32(1)
	if job.Spec.Parallelism != nil {
		want = *job.Spec.Parallelism
	}
	switch {
	case suspended:
		want = 0
	case job.Spec.Completions == nil && st.Succeeded > 0:
		want = active // one succeeded: let the others finish, start none
	case job.Spec.Completions != nil:
		want = max(0, min(want, *job.Spec.Completions-st.Succeeded))
	}
	if active > want {
		sort.Sort(podutils.ActivePods(n.active)) // least far along first
		deleted, err := c.deletePods(ctx, key, job, n.active[:active-want])
		return -deleted, err
	}
	if active == want {
		return 0, nil
	}
	if st.Failed > 0 && n.failed > 0 {
		shift := min(st.Failed-1, 16)
		delay := min(c.backoffBase<<shift, c.backoffMax)
		if wait := n.lastFailure.Add(delay).Sub(c.now()); wait > 0 {
			c.queue.AddAfter(key, wait)
			return 0, nil
		}
	}
	created, err := c.createPods(ctx, key, job, int(want-active))
	return int32(created), err
}

// createPods creates n pods of job in slow-start batches
// (ownership.SlowStart) and returns how many it created.
func (c *Controller) createPods(ctx context.Context, key string, job *batchv1.Job, n int) (int, error) {
	return ownership.SlowStart(n, maxBatch, func(int) error { return c.createPod(ctx, key, job) })
}

func (c *Controller) createPod(ctx context.Context, key string, job *batchv1.Job) error {
	pod, err := c.client.CoreV1().Pods(job.Namespace).Create(ctx, newPod(job), metav1.CreateOptions{})
	if err != nil {
		if ctx.Err() == nil {
			c.recorder.Eventf(job, corev1.EventTypeWarning, "FailedCreate", "Error creating: %v", err)
		}
		return fmt.Errorf("create pod of job %s: %w", key, err)
	}
	c.pending.Created(key, pod.Namespace, pod.Name, c.now())
	c.recorder.Eventf(job, corev1.EventTypeNormal, "SuccessfulCreate", "Created pod: %s", pod.Name)
	return nil
}

// deletePods deletes pods of job and returns how many it deleted (or found
// gone).
func (c *Controller) deletePods(ctx context.Context, key string, job *batchv1.Job, pods []*corev1.Pod) (int32, error) {
	var deleted int32
	var errs []error
	for _, p := range pods {
		uid := p.UID
		err := c.client.CoreV1().Pods(p.Namespace).Delete(ctx, p.Name, metav1.DeleteOptions{Preconditions: &metav1.Preconditions{UID: &uid}})
		switch {
		case err == nil:
			c.pending.Deleted(key, p.Namespace, p.Name, p.UID, c.now())
			c.recorder.Eventf(job, corev1.EventTypeNormal, "SuccessfulDelete", "Deleted pod: %s", p.Name)
			deleted++
		case apierrors.IsNotFound(err) || apierrors.IsConflict(err):
			deleted++
		default:
			errs = append(errs, fmt.Errorf("delete pod %s/%s of job %s: %w", p.Namespace, p.Name, key, err))
		}
	}
	return deleted, errors.Join(errs...)
}

// newPod returns a pod of job.
func newPod(job *batchv1.Job) *corev1.Pod {
	pod := ownership.PodFromTemplate(&job.Spec.Template, job, controllerKind)
	lbls := pod.Labels
	for k, v := range map[string]string{batchv1.JobNameLabel: job.Name, legacyJobNameLabel: job.Name} {
		if _, ok := lbls[k]; !ok {
			lbls[k] = v
		}
	}
	if job.Spec.Selector == nil {
		lbls[batchv1.ControllerUidLabel] = string(job.UID)
		lbls[legacyControllerUIDLabel] = string(job.UID)
	}
	return pod
}
