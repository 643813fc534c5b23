package job

import (
	"context"
	"sort"
	"strings"
	"testing"
	"time"

	batchv1 "k8s.io/api/batch/v1"
	corev1 "k8s.io/api/core/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/labels"
	"k8s.io/apimachinery/pkg/runtime"
	"k8s.io/apimachinery/pkg/types"
	"k8s.io/client-go/kubernetes/fake"
	k8stesting "k8s.io/client-go/testing"
	"k8s.io/client-go/tools/record"

	"github.com/sqlkube/sqlkube/controllers/internal/controllertest"
)

var t0 = time.Date(2026, 1, 1, 0, 0, 0, 0, time.UTC)

// newJob returns a Job as the API server stores it: defaulted, with a
// generated selector and labelled template.
func newJob(mods ...func(*batchv1.Job)) *batchv1.Job {
	lbls := map[string]string{
		batchv1.ControllerUidLabel: "job-uid", legacyControllerUIDLabel: "job-uid",
		batchv1.JobNameLabel: "once", legacyJobNameLabel: "once",
	}
	j := &batchv1.Job{
		ObjectMeta: metav1.ObjectMeta{Name: "once", Namespace: "demo", UID: "job-uid"},
		Spec: batchv1.JobSpec{
			Completions:  new(int32(3)),
			Parallelism:  new(int32(2)),
			BackoffLimit: new(int32(6)),
			Selector:     &metav1.LabelSelector{MatchLabels: map[string]string{batchv1.ControllerUidLabel: "job-uid"}},
			Template: corev1.PodTemplateSpec{
				ObjectMeta: metav1.ObjectMeta{Labels: lbls},
				Spec: corev1.PodSpec{
					RestartPolicy: corev1.RestartPolicyNever,
					Containers:    []corev1.Container{{Name: "j", Image: "job:1"}},
				},
			},
		},
		Status: batchv1.JobStatus{StartTime: &metav1.Time{Time: t0.Add(-time.Minute)}},
	}
	for _, m := range mods {
		m(j)
	}
	return j
}

func jobPod(job *batchv1.Job, name string, phase corev1.PodPhase, mods ...func(*corev1.Pod)) *corev1.Pod {
	p := newPod(job)
	p.Name, p.GenerateName, p.UID = name, "", types.UID("uid-"+name)
	p.CreationTimestamp = metav1.NewTime(t0.Add(-time.Minute))
	p.Status.Phase = phase
	if phase == corev1.PodRunning {
		p.Spec.NodeName = "n1"
		p.Status.Conditions = []corev1.PodCondition{{Type: corev1.PodReady, Status: corev1.ConditionTrue}}
	}
	for _, m := range mods {
		m(p)
	}
	return p
}

func finishedAgo(d time.Duration) func(*corev1.Pod) {
	return func(p *corev1.Pod) {
		p.Status.ContainerStatuses = []corev1.ContainerStatus{{Name: "j", State: corev1.ContainerState{
			Terminated: &corev1.ContainerStateTerminated{ExitCode: 1, FinishedAt: metav1.NewTime(t0.Add(-d))},
		}}}
	}
}

type fixture struct {
	t      *testing.T
	client *fake.Clientset
	c      *Controller
}

func newFixture(t *testing.T, objs ...runtime.Object) *fixture {
	t.Helper()
	client, cfg := controllertest.NewConfig(t, objs...)
	c := New(cfg)
	c.recorder = record.NewFakeRecorder(1000)
	c.now = func() time.Time { return t0 }
	controllertest.Cache(t, cfg.Informers, objs...)
	return &fixture{t: t, client: client, c: c}
}

// writes lists pod writes as "create" and "delete NAME".
func (f *fixture) writes() []string {
	var out []string
	for _, a := range f.client.Actions() {
		if a.GetResource().Resource != "pods" {
			continue
		}
		switch a.GetVerb() {
		case "create":
			out = append(out, "create")
		case "delete":
			out = append(out, "delete "+a.(k8stesting.DeleteAction).GetName())
		}
	}
	sort.Strings(out)
	return out
}

func (f *fixture) job() *batchv1.Job {
	f.t.Helper()
	j, err := f.client.BatchV1().Jobs("demo").Get(context.Background(), "once", metav1.GetOptions{})
	if err != nil {
		f.t.Fatal(err)
	}
	return j
}

func conditionOf(j *batchv1.Job) string {
	for _, c := range j.Status.Conditions {
		if c.Status == corev1.ConditionTrue {
			return string(c.Type) + "/" + c.Reason
		}
	}
	return ""
}

func TestSync(t *testing.T) {
	completionsUnset := func(j *batchv1.Job) { j.Spec.Completions = nil }
	backoff1 := func(j *batchv1.Job) { j.Spec.BackoffLimit = new(int32(1)) }
	tests := []struct {
		name      string
		job       *batchv1.Job
		pods      []func(*batchv1.Job) *corev1.Pod
		want      []string // pod writes
		condition string   // "Type/Reason" of the true condition
		active    int32
		succeeded int32
		failed    int32
	}{
		{
			name:   "new job starts parallelism pods",
			job:    newJob(func(j *batchv1.Job) { j.Status = batchv1.JobStatus{} }),
			want:   []string{"create", "create"},
			active: 2,
		},
		{
			name: "never more than the completions left",
			job:  newJob(),
			pods: []func(*batchv1.Job) *corev1.Pod{
				func(j *batchv1.Job) *corev1.Pod { return jobPod(j, "a", corev1.PodSucceeded) },
				func(j *batchv1.Job) *corev1.Pod { return jobPod(j, "b", corev1.PodSucceeded) },
				func(j *batchv1.Job) *corev1.Pod { return jobPod(j, "c", corev1.PodRunning) },
			},
			active: 1, succeeded: 2,
		},
		{
			name: "completions reached",
			job:  newJob(),
			pods: []func(*batchv1.Job) *corev1.Pod{
				func(j *batchv1.Job) *corev1.Pod { return jobPod(j, "a", corev1.PodSucceeded) },
				func(j *batchv1.Job) *corev1.Pod { return jobPod(j, "b", corev1.PodSucceeded) },
				func(j *batchv1.Job) *corev1.Pod { return jobPod(j, "c", corev1.PodSucceeded) },
			},
			condition: "Complete/", succeeded: 3,
		},
		{
			name: "completions unset: one success stops new pods, others finish",
			job:  newJob(completionsUnset),
			pods: []func(*batchv1.Job) *corev1.Pod{
				func(j *batchv1.Job) *corev1.Pod { return jobPod(j, "a", corev1.PodSucceeded) },
				func(j *batchv1.Job) *corev1.Pod { return jobPod(j, "b", corev1.PodRunning) },
			},
			active: 1, succeeded: 1,
		},
		{
			name: "completions unset: complete when the rest finished",
			job:  newJob(completionsUnset),
			pods: []func(*batchv1.Job) *corev1.Pod{
				func(j *batchv1.Job) *corev1.Pod { return jobPod(j, "a", corev1.PodSucceeded) },
				func(j *batchv1.Job) *corev1.Pod { return jobPod(j, "b", corev1.PodFailed, finishedAgo(time.Hour)) },
			},
			condition: "Complete/", succeeded: 1, failed: 1,
		},
		{
			name: "backoff limit exceeded deletes the running pods",
			job:  newJob(backoff1),
			pods: []func(*batchv1.Job) *corev1.Pod{
				func(j *batchv1.Job) *corev1.Pod { return jobPod(j, "a", corev1.PodFailed, finishedAgo(time.Hour)) },
				func(j *batchv1.Job) *corev1.Pod { return jobPod(j, "b", corev1.PodFailed, finishedAgo(time.Hour)) },
				func(j *batchv1.Job) *corev1.Pod { return jobPod(j, "c", corev1.PodRunning) },
			},
			want:      []string{"delete c"},
			condition: "Failed/BackoffLimitExceeded", failed: 3,
		},
		{
			name: "at the backoff limit the job goes on",
			job:  newJob(backoff1, func(j *batchv1.Job) { j.Spec.Parallelism = new(int32(1)) }),
			pods: []func(*batchv1.Job) *corev1.Pod{
				func(j *batchv1.Job) *corev1.Pod { return jobPod(j, "a", corev1.PodFailed, finishedAgo(time.Hour)) },
			},
			want:   []string{"create"},
			active: 1, failed: 1,
		},
		{
			name: "OnFailure container restarts count",
			job: newJob(func(j *batchv1.Job) {
				j.Spec.BackoffLimit = new(int32(2))
				j.Spec.Template.Spec.RestartPolicy = corev1.RestartPolicyOnFailure
				j.Spec.Parallelism = new(int32(1))
			}),
			pods: []func(*batchv1.Job) *corev1.Pod{
				func(j *batchv1.Job) *corev1.Pod {
					return jobPod(j, "a", corev1.PodRunning, func(p *corev1.Pod) {
						p.Status.ContainerStatuses = []corev1.ContainerStatus{{Name: "j", RestartCount: 2}}
					})
				},
			},
			want:      []string{"delete a"},
			condition: "Failed/BackoffLimitExceeded", failed: 1,
		},
		{
			name: "active deadline exceeded",
			job:  newJob(func(j *batchv1.Job) { j.Spec.ActiveDeadlineSeconds = new(int64(30)) }),
			pods: []func(*batchv1.Job) *corev1.Pod{
				func(j *batchv1.Job) *corev1.Pod { return jobPod(j, "a", corev1.PodRunning) },
			},
			want:      []string{"delete a"},
			condition: "Failed/DeadlineExceeded", failed: 1,
		},
		{
			name: "a failed pod is replaced after its back-off",
			job:  newJob(),
			pods: []func(*batchv1.Job) *corev1.Pod{
				func(j *batchv1.Job) *corev1.Pod { return jobPod(j, "a", corev1.PodFailed, finishedAgo(11*time.Second)) },
				func(j *batchv1.Job) *corev1.Pod { return jobPod(j, "b", corev1.PodRunning) },
			},
			want:   []string{"create"},
			active: 2, failed: 1,
		},
		{
			name: "a failed pod is not replaced during its back-off",
			job:  newJob(),
			pods: []func(*batchv1.Job) *corev1.Pod{
				func(j *batchv1.Job) *corev1.Pod { return jobPod(j, "a", corev1.PodFailed, finishedAgo(9*time.Second)) },
				func(j *batchv1.Job) *corev1.Pod { return jobPod(j, "b", corev1.PodRunning) },
			},
			active: 1, failed: 1,
		},
		{
			name: "the back-off doubles",
			job:  newJob(func(j *batchv1.Job) { j.Status.Failed = 2 }),
			pods: []func(*batchv1.Job) *corev1.Pod{
				func(j *batchv1.Job) *corev1.Pod { return jobPod(j, "a", corev1.PodFailed, finishedAgo(time.Hour)) },
				func(j *batchv1.Job) *corev1.Pod { return jobPod(j, "b", corev1.PodFailed, finishedAgo(15*time.Second)) },
				func(j *batchv1.Job) *corev1.Pod { return jobPod(j, "c", corev1.PodRunning) },
			},
			active: 1, failed: 2,
		},
		{
			name: "lower parallelism deletes the pod least far along",
			job:  newJob(func(j *batchv1.Job) { j.Spec.Parallelism = new(int32(1)) }),
			pods: []func(*batchv1.Job) *corev1.Pod{
				func(j *batchv1.Job) *corev1.Pod { return jobPod(j, "running", corev1.PodRunning) },
				func(j *batchv1.Job) *corev1.Pod { return jobPod(j, "pending", corev1.PodPending) },
			},
			want:   []string{"delete pending"},
			active: 1,
		},
		{
			name: "suspended job runs nothing",
			job:  newJob(func(j *batchv1.Job) { j.Spec.Suspend = new(true); j.Status = batchv1.JobStatus{} }),
			pods: []func(*batchv1.Job) *corev1.Pod{
				func(j *batchv1.Job) *corev1.Pod { return jobPod(j, "a", corev1.PodRunning) },
			},
			want: []string{"delete a"},
		},
		{
			name: "counts never go down when finished pods disappear",
			job:  newJob(func(j *batchv1.Job) { j.Status.Succeeded = 2; j.Status.Active = 1 }),
			pods: []func(*batchv1.Job) *corev1.Pod{
				func(j *batchv1.Job) *corev1.Pod { return jobPod(j, "c", corev1.PodRunning) },
			},
			active: 1, succeeded: 2,
		},
		{
			name: "pods of others are not counted",
			job:  newJob(),
			pods: []func(*batchv1.Job) *corev1.Pod{
				func(j *batchv1.Job) *corev1.Pod {
					return jobPod(j, "stranger", corev1.PodSucceeded, func(p *corev1.Pod) { p.OwnerReferences = nil })
				},
			},
			want:   []string{"create", "create"},
			active: 2,
		},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			objs := []runtime.Object{tt.job}
			for _, p := range tt.pods {
				objs = append(objs, p(tt.job))
			}
			f := newFixture(t, objs...)
			if err := f.c.sync(context.Background(), "demo/once"); err != nil {
				t.Fatal(err)
			}
			if got := f.writes(); strings.Join(got, ",") != strings.Join(tt.want, ",") {
				t.Errorf("pod writes = %q, want %q", got, tt.want)
			}
			j := f.job()
			st := j.Status
			if got := conditionOf(j); got != tt.condition {
				t.Errorf("condition = %q, want %q", got, tt.condition)
			}
			if st.Active != tt.active || st.Succeeded != tt.succeeded || st.Failed != tt.failed {
				t.Errorf("active/succeeded/failed = %d/%d/%d, want %d/%d/%d", st.Active, st.Succeeded, st.Failed, tt.active, tt.succeeded, tt.failed)
			}
			if strings.HasPrefix(tt.condition, "Complete") != (st.CompletionTime != nil) {
				t.Errorf("completionTime = %v with condition %q", st.CompletionTime, tt.condition)
			}
			suspended := j.Spec.Suspend != nil && *j.Spec.Suspend
			if (st.StartTime == nil) != suspended {
				t.Errorf("startTime = %v", st.StartTime)
			}
		})
	}
}

func TestSyncFinishedJobWritesNothing(t *testing.T) {
	j := newJob(func(j *batchv1.Job) {
		j.Status.Succeeded = 3
		j.Status.Conditions = []batchv1.JobCondition{condition(batchv1.JobComplete, "", "", t0)}
	})
	f := newFixture(t, j, jobPod(j, "a", corev1.PodSucceeded))
	if err := f.c.sync(context.Background(), "demo/once"); err != nil {
		t.Fatal(err)
	}
	if a := f.client.Actions(); len(a) != 0 {
		t.Errorf("actions = %v", a)
	}
}

func TestNewPod(t *testing.T) {
	j := newJob(func(j *batchv1.Job) {
		j.Spec.Selector = nil
		j.Spec.Template.Labels = map[string]string{"app": "x"}
	})
	p := newPod(j)
	want := map[string]string{
		"app": "x", batchv1.JobNameLabel: "once", legacyJobNameLabel: "once",
		batchv1.ControllerUidLabel: "job-uid", legacyControllerUIDLabel: "job-uid",
	}
	for k, v := range want {
		if p.Labels[k] != v {
			t.Errorf("label %s = %q, want %q", k, p.Labels[k], v)
		}
	}
	if p.GenerateName != "once-" {
		t.Errorf("generateName = %q", p.GenerateName)
	}
	if ref := metav1.GetControllerOf(p); ref == nil || ref.UID != j.UID || ref.Kind != "Job" || ref.APIVersion != "batch/v1" {
		t.Errorf("controller = %v", ref)
	}
	sel, err := selector(j)
	if err != nil || !sel.Matches(labels.Set(p.Labels)) {
		t.Errorf("selector %v (%v) does not match its own pod", sel, err)
	}
}
