package job_test

import (
	"context"
	"fmt"
	"testing"
	"time"

	batchv1 "k8s.io/api/batch/v1"
	corev1 "k8s.io/api/core/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/util/wait"
	"k8s.io/client-go/kubernetes"

	"github.com/sqlkube/sqlkube/controllers/internal/controllertest"
	"github.com/sqlkube/sqlkube/controllers/job"
)

// playNode acts as the nodes until ctx is done: a pending pod moves to the
// phase its "outcome" label names (Succeeded, Failed or Running).
func playNode(ctx context.Context, client kubernetes.Interface, ns string) {
	controllertest.Every(ctx, 50*time.Millisecond, func() {
		pods, err := client.CoreV1().Pods(ns).List(ctx, metav1.ListOptions{})
		if err != nil {
			return
		}
		for _, p := range pods.Items {
			phase := corev1.PodPhase(p.Labels["outcome"])
			if p.DeletionTimestamp != nil || p.Status.Phase == phase || p.Status.Phase == corev1.PodSucceeded || p.Status.Phase == corev1.PodFailed {
				continue
			}
			p.Status.Phase = phase
			_, _ = client.CoreV1().Pods(ns).UpdateStatus(ctx, &p, metav1.UpdateOptions{})
		}
	})
}

func newJob(name string, outcome corev1.PodPhase, mods ...func(*batchv1.Job)) *batchv1.Job {
	j := &batchv1.Job{
		ObjectMeta: metav1.ObjectMeta{Name: name, Namespace: "demo"},
		Spec: batchv1.JobSpec{
			Template: corev1.PodTemplateSpec{
				ObjectMeta: metav1.ObjectMeta{Labels: map[string]string{"outcome": string(outcome)}},
				Spec: corev1.PodSpec{
					RestartPolicy: corev1.RestartPolicyNever,
					Containers:    []corev1.Container{{Name: "j", Image: "registry.local/job:1"}},
				},
			},
		},
	}
	for _, m := range mods {
		m(j)
	}
	return j
}

func TestJobOnRealServer(t *testing.T) {
	srv, ctx := controllertest.StartServer(t, 50*time.Second)
	client := srv.Client
	controllertest.CreateNamespace(ctx, t, client, "demo")
	jobs := []*batchv1.Job{
		// The acceptance script's Job.
		newJob("once", corev1.PodSucceeded, func(j *batchv1.Job) { j.Spec.Completions = new(int32(3)) }),
		newJob("wide", corev1.PodSucceeded, func(j *batchv1.Job) {
			j.Spec.Completions, j.Spec.Parallelism = new(int32(5)), new(int32(5))
		}),
		newJob("broken", corev1.PodFailed, func(j *batchv1.Job) { j.Spec.BackoffLimit = new(int32(0)) }),
		newJob("slow", corev1.PodRunning, func(j *batchv1.Job) { j.Spec.ActiveDeadlineSeconds = new(int64(1)) }),
	}
	for _, j := range jobs {
		if _, err := client.BatchV1().Jobs("demo").Create(ctx, j, metav1.CreateOptions{}); err != nil {
			t.Fatalf("create job %s: %v", j.Name, err)
		}
	}

	controllertest.Run(t, srv, job.New, 2, controllertest.Quiet)
	playNode(ctx, client, "demo")

	// waitCondition waits as `kubectl wait --for=condition=TYPE` does and
	// checks the reason and the counts.
	waitCondition := func(name string, cond batchv1.JobConditionType, reason string, succeeded, failed int32) *batchv1.Job {
		t.Helper()
		var last *batchv1.Job
		err := wait.PollUntilContextTimeout(ctx, 50*time.Millisecond, 20*time.Second, true, func(ctx context.Context) (bool, error) {
			j, err := client.BatchV1().Jobs("demo").Get(ctx, name, metav1.GetOptions{})
			if err != nil {
				return false, err
			}
			last = j
			for _, c := range j.Status.Conditions {
				if c.Type == cond && c.Status == corev1.ConditionTrue {
					return c.Reason == reason && j.Status.Succeeded == succeeded && j.Status.Failed == failed && j.Status.Active == 0, nil
				}
			}
			return false, nil
		})
		if err != nil {
			t.Fatalf("job %s %s: %v; status %+v", name, cond, err, last.Status)
		}
		return last
	}
	podsOf := func(name string) []corev1.Pod {
		t.Helper()
		pods, err := client.CoreV1().Pods("demo").List(ctx, metav1.ListOptions{LabelSelector: batchv1.JobNameLabel + "=" + name})
		if err != nil {
			t.Fatal(err)
		}
		return pods.Items
	}

	for _, name := range []string{"once", "wide"} {
		j := waitCondition(name, batchv1.JobComplete, "", *j(jobs, name).Spec.Completions, 0)
		if j.Status.CompletionTime == nil || j.Status.StartTime == nil {
			t.Errorf("job %s: startTime %v, completionTime %v", name, j.Status.StartTime, j.Status.CompletionTime)
		}
		pods := podsOf(name)
		if len(pods) != int(*j.Spec.Completions) {
			t.Errorf("job %s made %d pods, want %d", name, len(pods), *j.Spec.Completions)
		}
		for _, p := range pods {
			if ref := metav1.GetControllerOf(&p); ref == nil || ref.UID != j.UID {
				t.Errorf("pod %s controller = %v", p.Name, ref)
			}
		}
	}
	waitCondition("broken", batchv1.JobFailed, batchv1.JobReasonBackoffLimitExceeded, 0, 1)
	if n := len(podsOf("broken")); n != 1 {
		t.Errorf("job broken made %d pods, want 1", n)
	}
	waitCondition("slow", batchv1.JobFailed, batchv1.JobReasonDeadlineExceeded, 0, 1)
	if err := wait.PollUntilContextTimeout(ctx, 50*time.Millisecond, 10*time.Second, true, func(context.Context) (bool, error) {
		return len(podsOf("slow")) == 0, nil
	}); err != nil {
		t.Errorf("the pod of the job past its deadline was not deleted: %v", err)
	}
}

func j(jobs []*batchv1.Job, name string) *batchv1.Job {
	for _, x := range jobs {
		if x.Name == name {
			return x
		}
	}
	panic(fmt.Sprintf("no job %s", name))
}
