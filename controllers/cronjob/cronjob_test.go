package cronjob

import (
	"context"
	"fmt"
	"slices"
	"strings"
	"testing"
	"time"

	batchv1 "k8s.io/api/batch/v1"
	corev1 "k8s.io/api/core/v1"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/runtime"
	"k8s.io/apimachinery/pkg/types"
	"k8s.io/client-go/kubernetes/fake"
	k8stesting "k8s.io/client-go/testing"
	"k8s.io/client-go/tools/record"

	"github.com/sqlkube/sqlkube/controllers/internal/controllertest"
)

// The unit tests run at now0, 30 seconds after the 10:00 run of an hourly
// CronJob created at 09:30.
var (
	now0    = time.Date(2026, 3, 10, 10, 0, 30, 0, time.UTC)
	run10   = time.Date(2026, 3, 10, 10, 0, 0, 0, time.UTC)
	run9    = run10.Add(-time.Hour)
	created = time.Date(2026, 3, 10, 9, 30, 0, 0, time.UTC)
)

// nameAt is the Job name Kubernetes gives the run at t: the CronJob's
// name and t in minutes since the epoch.
func nameAt(t time.Time) string { return fmt.Sprintf("report-%d", t.Unix()/60) }

// newCronJob returns a CronJob as the API server stores it (defaulted).
func newCronJob(mods ...func(*batchv1.CronJob)) *batchv1.CronJob {
	cj := &batchv1.CronJob{
		ObjectMeta: metav1.ObjectMeta{Name: "report", Namespace: "demo", UID: "cj-uid", CreationTimestamp: metav1.NewTime(created)},
		Spec: batchv1.CronJobSpec{
			Schedule:                   "0 * * * *",
			ConcurrencyPolicy:          batchv1.AllowConcurrent,
			Suspend:                    new(false),
			SuccessfulJobsHistoryLimit: new(int32(3)),
			FailedJobsHistoryLimit:     new(int32(1)),
			JobTemplate: batchv1.JobTemplateSpec{
				ObjectMeta: metav1.ObjectMeta{
					Labels:      map[string]string{"app": "report"},
					Annotations: map[string]string{"team": "data"},
				},
				Spec: batchv1.JobSpec{
					BackoffLimit: new(int32(2)),
					Template: corev1.PodTemplateSpec{
						ObjectMeta: metav1.ObjectMeta{Labels: map[string]string{"app": "report"}},
						Spec: corev1.PodSpec{
							RestartPolicy: corev1.RestartPolicyNever,
							Containers:    []corev1.Container{{Name: "r", Image: "report:1"}},
						},
					},
				},
			},
		},
	}
	for _, m := range mods {
		m(cj)
	}
	return cj
}

// ownedJob returns the Job cj started at t, with its status changed by
// mods.
func ownedJob(cj *batchv1.CronJob, t time.Time, mods ...func(*batchv1.Job)) *batchv1.Job {
	j := newJob(cj, t)
	j.UID = types.UID("uid-" + j.Name)
	j.CreationTimestamp = metav1.NewTime(t)
	j.Status.StartTime = &metav1.Time{Time: t}
	for _, m := range mods {
		m(j)
	}
	return j
}

func done(cond batchv1.JobConditionType, at time.Time) func(*batchv1.Job) {
	return func(j *batchv1.Job) {
		j.Status.Conditions = []batchv1.JobCondition{{Type: cond, Status: corev1.ConditionTrue, LastTransitionTime: metav1.NewTime(at)}}
		if cond == batchv1.JobComplete {
			j.Status.CompletionTime = &metav1.Time{Time: at}
		}
	}
}

// activeAt records the Jobs in cj's status.active and the time of the
// last as lastScheduleTime.
func activeAt(jobs ...*batchv1.Job) func(*batchv1.CronJob) {
	return func(cj *batchv1.CronJob) {
		for _, j := range jobs {
			cj.Status.Active = append(cj.Status.Active, corev1.ObjectReference{Kind: "Job", APIVersion: "batch/v1", Namespace: j.Namespace, Name: j.Name, UID: j.UID})
			cj.Status.LastScheduleTime = &metav1.Time{Time: j.CreationTimestamp.Time}
		}
	}
}

type fixture struct {
	t        *testing.T
	client   *fake.Clientset
	c        *Controller
	recorder *record.FakeRecorder
}

func newFixture(t *testing.T, objs ...runtime.Object) *fixture {
	t.Helper()
	client, cfg := controllertest.NewConfig(t, objs...)
	c := New(cfg)
	rec := record.NewFakeRecorder(100)
	c.recorder = rec
	c.now = func() time.Time { return now0 }
	c.local = time.UTC
	controllertest.Cache(t, cfg.Informers, objs...)
	return &fixture{t: t, client: client, c: c, recorder: rec}
}

func (f *fixture) sync() error {
	return f.c.sync(context.Background(), "demo/report")
}

// writes lists the Job writes as "create NAME" and "delete NAME".
func (f *fixture) writes() []string {
	var out []string
	for _, a := range f.client.Actions() {
		if a.GetResource().Resource != "jobs" {
			continue
		}
		switch a := a.(type) {
		case k8stesting.CreateAction:
			out = append(out, "create "+a.GetObject().(*batchv1.Job).Name)
		case k8stesting.DeleteAction:
			out = append(out, "delete "+a.GetName())
		}
	}
	return out
}

// statusUpdates counts the CronJob status writes.
func (f *fixture) statusUpdates() int {
	n := 0
	for _, a := range f.client.Actions() {
		if a.GetVerb() == "update" && a.GetResource().Resource == "cronjobs" && a.GetSubresource() == "status" {
			n++
		}
	}
	return n
}

func (f *fixture) cronJob() *batchv1.CronJob {
	f.t.Helper()
	cj, err := f.client.BatchV1().CronJobs("demo").Get(context.Background(), "report", metav1.GetOptions{})
	if err != nil {
		f.t.Fatal(err)
	}
	return cj
}

// events returns the reasons of the events recorded so far.
func (f *fixture) events() []string {
	var out []string
	for _, e := range controllertest.Events(f.recorder) {
		out = append(out, strings.Fields(e)[1])
	}
	return out
}

func activeNames(cj *batchv1.CronJob) []string {
	var out []string
	for _, r := range cj.Status.Active {
		out = append(out, r.Name)
	}
	return out
}

func TestSync(t *testing.T) {
	cj := newCronJob()
	running9 := ownedJob(cj, run9)
	tests := []struct {
		name           string
		cj             *batchv1.CronJob
		jobs           []*batchv1.Job // in the cache and the API
		apiOnly        []*batchv1.Job // in the API, not yet in the cache
		writes         []string
		active         []string
		lastSchedule   time.Time // zero: unset
		lastSuccessful time.Time
		events         []string
	}{
		{
			name:         "the due run starts a Job",
			cj:           newCronJob(),
			writes:       []string{"create " + nameAt(run10)},
			active:       []string{nameAt(run10)},
			lastSchedule: run10,
			events:       []string{"SuccessfulCreate"},
		},
		{
			name:   "nothing due: nothing written",
			cj:     newCronJob(func(cj *batchv1.CronJob) { cj.CreationTimestamp = metav1.NewTime(run10.Add(10 * time.Second)) }),
			events: nil,
		},
		{
			name:   "suspended: no Job",
			cj:     newCronJob(func(cj *batchv1.CronJob) { cj.Spec.Suspend = new(true) }),
			events: nil,
		},
		{
			name: "being deleted: no Job",
			cj: newCronJob(func(cj *batchv1.CronJob) {
				cj.DeletionTimestamp = &metav1.Time{Time: now0}
				cj.Finalizers = []string{"foregroundDeletion"}
			}),
		},
		{
			name:         "Allow starts a Job while another runs",
			cj:           newCronJob(activeAt(running9)),
			jobs:         []*batchv1.Job{running9},
			writes:       []string{"create " + nameAt(run10)},
			active:       []string{nameAt(run9), nameAt(run10)},
			lastSchedule: run10,
			events:       []string{"SuccessfulCreate"},
		},
		{
			name: "Forbid skips while a Job runs",
			cj: newCronJob(activeAt(running9), func(cj *batchv1.CronJob) {
				cj.Spec.ConcurrencyPolicy = batchv1.ForbidConcurrent
			}),
			jobs:         []*batchv1.Job{running9},
			active:       []string{nameAt(run9)},
			lastSchedule: run9,
			events:       []string{"JobAlreadyActive"},
		},
		{
			name: "Forbid starts the run once the Job finished",
			cj: newCronJob(activeAt(running9), func(cj *batchv1.CronJob) {
				cj.Spec.ConcurrencyPolicy = batchv1.ForbidConcurrent
			}),
			jobs:           []*batchv1.Job{ownedJob(cj, run9, done(batchv1.JobComplete, run10.Add(20*time.Second)))},
			writes:         []string{"create " + nameAt(run10)},
			active:         []string{nameAt(run10)},
			lastSchedule:   run10,
			lastSuccessful: run10.Add(20 * time.Second),
			events:         []string{"SawCompletedJob", "SuccessfulCreate"},
		},
		{
			name: "Replace deletes the running Job and starts one",
			cj: newCronJob(activeAt(running9), func(cj *batchv1.CronJob) {
				cj.Spec.ConcurrencyPolicy = batchv1.ReplaceConcurrent
			}),
			jobs:         []*batchv1.Job{running9},
			writes:       []string{"delete " + nameAt(run9), "create " + nameAt(run10)},
			active:       []string{nameAt(run10)},
			lastSchedule: run10,
			events:       []string{"SuccessfulDelete", "SuccessfulCreate"},
		},
		{
			name:           "a finished Job leaves status.active; its completion is the last success",
			cj:             newCronJob(activeAt(ownedJob(cj, run10))),
			jobs:           []*batchv1.Job{ownedJob(cj, run10, done(batchv1.JobComplete, run10.Add(25*time.Second)))},
			lastSchedule:   run10,
			lastSuccessful: run10.Add(25 * time.Second),
			events:         []string{"SawCompletedJob"},
		},
		{
			name:         "a failed Job leaves status.active and is no success",
			cj:           newCronJob(activeAt(ownedJob(cj, run10))),
			jobs:         []*batchv1.Job{ownedJob(cj, run10, done(batchv1.JobFailed, run10.Add(25*time.Second)))},
			lastSchedule: run10,
			events:       []string{"SawCompletedJob"},
		},
		{
			name: "lastSuccessfulTime only moves forward",
			cj: newCronJob(activeAt(ownedJob(cj, run10)), func(cj *batchv1.CronJob) {
				cj.Status.LastSuccessfulTime = &metav1.Time{Time: run10.Add(5 * time.Second)}
			}),
			jobs: []*batchv1.Job{
				ownedJob(cj, run10),
				ownedJob(cj, run9, done(batchv1.JobComplete, run9.Add(time.Minute))),
			},
			active:         []string{nameAt(run10)},
			lastSchedule:   run10,
			lastSuccessful: run10.Add(5 * time.Second),
		},
		{
			name:         "a Job deleted by someone else leaves status.active",
			cj:           newCronJob(activeAt(ownedJob(cj, run10))),
			lastSchedule: run10,
			events:       []string{"MissingJob"},
		},
		{
			name:         "a recorded Job the cache has not seen yet stays",
			cj:           newCronJob(activeAt(ownedJob(cj, run10))),
			apiOnly:      []*batchv1.Job{ownedJob(cj, run10)},
			lastSchedule: run10,
			active:       []string{nameAt(run10)},
		},
		{
			name:         "a running Job that was not recorded is reported, not counted",
			cj:           newCronJob(func(cj *batchv1.CronJob) { cj.Status.LastScheduleTime = &metav1.Time{Time: run10} }),
			jobs:         []*batchv1.Job{ownedJob(cj, run9, func(j *batchv1.Job) { j.Name = "report-manual" })},
			lastSchedule: run10,
			events:       []string{"UnexpectedJob"},
		},
		{
			name: "Jobs of another CronJob of the same name are not ours",
			cj:   newCronJob(func(cj *batchv1.CronJob) { cj.Status.LastScheduleTime = &metav1.Time{Time: run10} }),
			jobs: []*batchv1.Job{ownedJob(cj, run9, done(batchv1.JobComplete, run9.Add(time.Minute)), func(j *batchv1.Job) {
				j.OwnerReferences[0].UID = "old-cj-uid"
			})},
			lastSchedule: run10,
		},
		{
			name:   "past the starting deadline: missed, no Job",
			cj:     newCronJob(func(cj *batchv1.CronJob) { cj.Spec.StartingDeadlineSeconds = new(int64(10)) }),
			events: []string{"MissSchedule"},
		},
		{
			name:         "within the starting deadline: the Job starts",
			cj:           newCronJob(func(cj *batchv1.CronJob) { cj.Spec.StartingDeadlineSeconds = new(int64(60)) }),
			writes:       []string{"create " + nameAt(run10)},
			active:       []string{nameAt(run10)},
			lastSchedule: run10,
			events:       []string{"SuccessfulCreate"},
		},
		{
			name:         "too many missed: a warning, and the latest run starts",
			cj:           newCronJob(func(cj *batchv1.CronJob) { cj.CreationTimestamp = metav1.NewTime(run10.AddDate(0, 0, -7)) }),
			writes:       []string{"create " + nameAt(run10)},
			active:       []string{nameAt(run10)},
			lastSchedule: run10,
			events:       []string{"TooManyMissedTimes", "SuccessfulCreate"},
		},
		{
			name: "successful history beyond the limit: the oldest go",
			cj:   newCronJob(func(cj *batchv1.CronJob) { cj.Status.LastScheduleTime = &metav1.Time{Time: run10} }),
			jobs: []*batchv1.Job{
				ownedJob(cj, run10.Add(-5*time.Hour), done(batchv1.JobComplete, run10.Add(-5*time.Hour))),
				ownedJob(cj, run10.Add(-1*time.Hour), done(batchv1.JobComplete, run10.Add(-1*time.Hour))),
				ownedJob(cj, run10.Add(-3*time.Hour), done(batchv1.JobComplete, run10.Add(-3*time.Hour))),
				ownedJob(cj, run10.Add(-4*time.Hour), done(batchv1.JobComplete, run10.Add(-4*time.Hour))),
				ownedJob(cj, run10.Add(-2*time.Hour), done(batchv1.JobComplete, run10.Add(-2*time.Hour))),
				ownedJob(cj, run10.Add(-6*time.Hour), done(batchv1.JobFailed, run10.Add(-6*time.Hour))),
			},
			writes:         []string{"delete " + nameAt(run10.Add(-5*time.Hour)), "delete " + nameAt(run10.Add(-4*time.Hour))},
			lastSchedule:   run10,
			lastSuccessful: run10.Add(-time.Hour),
			events:         []string{"SuccessfulDelete", "SuccessfulDelete"},
		},
		{
			name: "failed history beyond the limit: the oldest go, running Jobs stay",
			cj: newCronJob(activeAt(ownedJob(cj, run10)), func(cj *batchv1.CronJob) {
				cj.Spec.FailedJobsHistoryLimit = new(int32(2))
			}),
			jobs: []*batchv1.Job{
				ownedJob(cj, run10),
				ownedJob(cj, run10.Add(-2*time.Hour), done(batchv1.JobFailed, run10.Add(-2*time.Hour))),
				ownedJob(cj, run10.Add(-1*time.Hour), done(batchv1.JobFailed, run10.Add(-1*time.Hour))),
				ownedJob(cj, run10.Add(-3*time.Hour), done(batchv1.JobFailed, run10.Add(-3*time.Hour))),
				ownedJob(cj, run10.Add(-4*time.Hour), done(batchv1.JobComplete, run10.Add(-4*time.Hour))),
			},
			writes:         []string{"delete " + nameAt(run10.Add(-3*time.Hour))},
			active:         []string{nameAt(run10)},
			lastSchedule:   run10,
			lastSuccessful: run10.Add(-4 * time.Hour),
			events:         []string{"SuccessfulDelete"},
		},
		{
			name: "history limit 0 keeps no finished Job",
			cj: newCronJob(func(cj *batchv1.CronJob) {
				cj.Status.LastScheduleTime = &metav1.Time{Time: run10}
				cj.Spec.SuccessfulJobsHistoryLimit = new(int32(0))
			}),
			jobs:           []*batchv1.Job{ownedJob(cj, run9, done(batchv1.JobComplete, run9.Add(time.Minute)))},
			writes:         []string{"delete " + nameAt(run9)},
			lastSchedule:   run10,
			lastSuccessful: run9.Add(time.Minute),
			events:         []string{"SuccessfulDelete"},
		},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			objs := []runtime.Object{tt.cj}
			for _, j := range tt.jobs {
				objs = append(objs, j)
			}
			f := newFixture(t, objs...)
			for _, j := range tt.apiOnly {
				if _, err := f.client.BatchV1().Jobs("demo").Create(context.Background(), j, metav1.CreateOptions{}); err != nil {
					t.Fatal(err)
				}
			}
			f.client.ClearActions()
			if err := f.sync(); err != nil {
				t.Fatal(err)
			}
			if got := f.writes(); !slices.Equal(got, tt.writes) {
				t.Errorf("job writes = %q, want %q", got, tt.writes)
			}
			got := f.cronJob()
			if names := activeNames(got); !slices.Equal(names, tt.active) {
				t.Errorf("status.active = %q, want %q", names, tt.active)
			}
			checkTime(t, "status.lastScheduleTime", got.Status.LastScheduleTime, tt.lastSchedule)
			checkTime(t, "status.lastSuccessfulTime", got.Status.LastSuccessfulTime, tt.lastSuccessful)
			if ev := f.events(); !slices.Equal(ev, tt.events) {
				t.Errorf("events = %q, want %q", ev, tt.events)
			}
			if changed := !equalStatus(tt.cj, got); changed != (f.statusUpdates() > 0) {
				t.Errorf("status changed %t, but %d status updates", changed, f.statusUpdates())
			}
		})
	}
}

func checkTime(t *testing.T, what string, got *metav1.Time, want time.Time) {
	t.Helper()
	switch {
	case want.IsZero() && got != nil:
		t.Errorf("%s = %s, want unset", what, got.UTC().Format(time.RFC3339))
	case !want.IsZero() && (got == nil || !got.Equal(&metav1.Time{Time: want})):
		t.Errorf("%s = %v, want %s", what, got, want.Format(time.RFC3339))
	}
}

func equalStatus(a, b *batchv1.CronJob) bool {
	return slices.Equal(activeNames(a), activeNames(b)) &&
		a.Status.LastScheduleTime.Equal(b.Status.LastScheduleTime) &&
		a.Status.LastSuccessfulTime.Equal(b.Status.LastSuccessfulTime)
}

// TestSyncCreatesTheJob checks the Job a run starts, field by field.
func TestSyncCreatesTheJob(t *testing.T) {
	cj := newCronJob(func(cj *batchv1.CronJob) {
		cj.Spec.Schedule = "0 11 * * *"
		cj.Spec.TimeZone = new("Europe/Berlin") // 11:00 in Berlin is 10:00 UTC in March
		cj.CreationTimestamp = metav1.NewTime(run10.Add(-24 * time.Hour).Add(time.Minute))
	})
	f := newFixture(t, cj)
	if err := f.sync(); err != nil {
		t.Fatal(err)
	}
	job, err := f.client.BatchV1().Jobs("demo").Get(context.Background(), nameAt(run10), metav1.GetOptions{})
	if err != nil {
		t.Fatalf("the Job named after the run time: %v", err)
	}
	if got, want := job.Annotations[batchv1.CronJobScheduledTimestampAnnotation], "2026-03-10T11:00:00+01:00"; got != want {
		t.Errorf("scheduled-timestamp annotation = %q, want %q", got, want)
	}
	if job.Annotations["team"] != "data" || job.Labels["app"] != "report" || len(job.Labels) != 1 {
		t.Errorf("labels %v, annotations %v: want the template's", job.Labels, job.Annotations)
	}
	ref := metav1.GetControllerOf(job)
	if ref == nil || ref.UID != cj.UID || ref.Kind != "CronJob" || ref.APIVersion != "batch/v1" || ref.Name != "report" ||
		ref.BlockOwnerDeletion == nil || !*ref.BlockOwnerDeletion {
		t.Errorf("controller reference = %+v", ref)
	}
	if job.Spec.BackoffLimit == nil || *job.Spec.BackoffLimit != 2 || job.Spec.Template.Spec.Containers[0].Image != "report:1" {
		t.Errorf("spec = %+v, want the template's", job.Spec)
	}
	// The template itself is not changed.
	if _, ok := cj.Spec.JobTemplate.Annotations[batchv1.CronJobScheduledTimestampAnnotation]; ok {
		t.Error("the CronJob's template got the annotation")
	}
	got := f.cronJob()
	if len(got.Status.Active) != 1 || got.Status.Active[0].Kind != "Job" || got.Status.Active[0].Name != job.Name {
		t.Errorf("status.active = %+v", got.Status.Active)
	}
}

func TestSyncNoTimeZoneAnnotatesUTC(t *testing.T) {
	f := newFixture(t, newCronJob())
	f.c.local = time.FixedZone("X", 3600) // the controller's zone: 10:00 UTC is 11:00 there
	if err := f.sync(); err != nil {
		t.Fatal(err)
	}
	// "0 * * * *" is hourly in every whole-hour zone: the same run.
	job, err := f.client.BatchV1().Jobs("demo").Get(context.Background(), nameAt(run10), metav1.GetOptions{})
	if err != nil {
		t.Fatal(err)
	}
	if got := job.Annotations[batchv1.CronJobScheduledTimestampAnnotation]; got != "2026-03-10T10:00:00Z" {
		t.Errorf("scheduled-timestamp annotation = %q", got)
	}
}

// TestSyncJobAlreadyExists: a Job created by a sync whose status update
// was lost is recorded, not created twice; one of the same name that
// belongs to someone else is not taken.
func TestSyncJobAlreadyExists(t *testing.T) {
	t.Run("lost status update", func(t *testing.T) {
		cj := newCronJob()
		f := newFixture(t, cj)
		// The Job exists in the API, but not yet in the cache.
		if _, err := f.client.BatchV1().Jobs("demo").Create(context.Background(), ownedJob(cj, run10), metav1.CreateOptions{}); err != nil {
			t.Fatal(err)
		}
		if err := f.sync(); err != nil {
			t.Fatal(err)
		}
		got := f.cronJob()
		if names := activeNames(got); !slices.Equal(names, []string{nameAt(run10)}) || got.Status.Active[0].UID != "uid-"+types.UID(nameAt(run10)) {
			t.Errorf("status.active = %+v", got.Status.Active)
		}
		checkTime(t, "lastScheduleTime", got.Status.LastScheduleTime, run10)
		if ev := f.events(); len(ev) != 0 {
			t.Errorf("events = %q, want none", ev)
		}
	})
	t.Run("someone else's", func(t *testing.T) {
		cj := newCronJob()
		f := newFixture(t, cj)
		other := ownedJob(cj, run10)
		other.OwnerReferences = nil
		if _, err := f.client.BatchV1().Jobs("demo").Create(context.Background(), other, metav1.CreateOptions{}); err != nil {
			t.Fatal(err)
		}
		if err := f.sync(); err != nil {
			t.Fatal(err)
		}
		got := f.cronJob()
		if len(got.Status.Active) != 0 || got.Status.LastScheduleTime != nil {
			t.Errorf("status = %+v, want nothing recorded", got.Status)
		}
		if ev := f.events(); !slices.Equal(ev, []string{"FailedCreate"}) {
			t.Errorf("events = %q", ev)
		}
	})
}

// TestSyncReplaceDeletesInBackground: Replace (and history cleanup)
// delete with propagation Background, and only the Job they read.
func TestSyncReplaceDeletesInBackground(t *testing.T) {
	cj := newCronJob(func(cj *batchv1.CronJob) { cj.Spec.ConcurrencyPolicy = batchv1.ReplaceConcurrent })
	running := ownedJob(cj, run9)
	activeAt(running)(cj)
	f := newFixture(t, cj, running)
	if err := f.sync(); err != nil {
		t.Fatal(err)
	}
	var deletes int
	for _, a := range f.client.Actions() {
		d, ok := a.(k8stesting.DeleteAction)
		if !ok {
			continue
		}
		deletes++
		opts := d.GetDeleteOptions()
		if p := opts.PropagationPolicy; p == nil || *p != metav1.DeletePropagationBackground {
			t.Errorf("propagation = %v, want Background", p)
		}
		if pre := opts.Preconditions; pre == nil || pre.UID == nil || *pre.UID != running.UID {
			t.Errorf("preconditions = %+v, want the uid of %s", pre, running.Name)
		}
	}
	if deletes != 1 {
		t.Errorf("%d deletes, want 1", deletes)
	}
}

// TestSyncBadSchedule: a schedule stored before validation checked it
// gives a Warning event and no Job; it is not retried (no error), since
// only a change of the spec can fix it.
func TestSyncBadSchedule(t *testing.T) {
	tests := []struct {
		name   string
		mod    func(*batchv1.CronJob)
		reason string
	}{
		{"unparseable", func(cj *batchv1.CronJob) { cj.Spec.Schedule = "every day at nine" }, "UnparseableSchedule"},
		{"empty", func(cj *batchv1.CronJob) { cj.Spec.Schedule = "" }, "UnparseableSchedule"},
		{"unknown time zone", func(cj *batchv1.CronJob) { cj.Spec.TimeZone = new("Mars/Olympus_Mons") }, "UnknownTimeZone"},
		{"no such day", func(cj *batchv1.CronJob) { cj.Spec.Schedule = "0 0 30 2 *" }, "InvalidSchedule"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			f := newFixture(t, newCronJob(tt.mod))
			if err := f.sync(); err != nil {
				t.Errorf("err = %v, want none", err)
			}
			if w := f.writes(); len(w) != 0 {
				t.Errorf("job writes = %q", w)
			}
			if ev := f.events(); !slices.Equal(ev, []string{tt.reason}) {
				t.Errorf("events = %q, want %s", ev, tt.reason)
			}
		})
	}
}

func TestSyncDeletedCronJob(t *testing.T) {
	f := newFixture(t)
	if err := f.sync(); err != nil {
		t.Fatal(err)
	}
	if a := f.client.Actions(); len(a) != 0 {
		t.Errorf("actions = %v", a)
	}
}

// TestSyncStaleCache: right after a sync recorded a Job, the next one may
// see the Job in the cache before the status update that recorded it. It
// reads the CronJob from the API rather than report the Job as unexpected
// or start it again.
func TestSyncStaleCache(t *testing.T) {
	stale := newCronJob()
	job := ownedJob(stale, run10)
	f := newFixture(t, stale, job)
	fresh := stale.DeepCopy()
	activeAt(job)(fresh)
	if _, err := f.client.BatchV1().CronJobs("demo").UpdateStatus(context.Background(), fresh, metav1.UpdateOptions{}); err != nil {
		t.Fatal(err)
	}
	f.client.ClearActions()
	if err := f.sync(); err != nil {
		t.Fatal(err)
	}
	if w := f.writes(); len(w) != 0 {
		t.Errorf("job writes = %q", w)
	}
	if ev := f.events(); len(ev) != 0 {
		t.Errorf("events = %q", ev)
	}
	if n := f.statusUpdates(); n != 0 {
		t.Errorf("%d status updates", n)
	}
}

func TestSyncCreateFails(t *testing.T) {
	f := newFixture(t, newCronJob())
	f.client.PrependReactor("create", "jobs", func(k8stesting.Action) (bool, runtime.Object, error) {
		return true, nil, apierrors.NewInternalError(fmt.Errorf("database is down"))
	})
	if err := f.sync(); err == nil || !strings.Contains(err.Error(), "create job demo/"+nameAt(run10)) {
		t.Errorf("err = %v", err)
	}
	if got := f.cronJob(); got.Status.LastScheduleTime != nil || len(got.Status.Active) != 0 {
		t.Errorf("status = %+v, want nothing recorded", got.Status)
	}
	if ev := f.events(); !slices.Equal(ev, []string{"FailedCreate"}) {
		t.Errorf("events = %q", ev)
	}
}
