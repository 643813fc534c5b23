package cronjob

import (
	"context"
	"fmt"
	"maps"
	"slices"
	"testing"
	"time"

	batchv1 "k8s.io/api/batch/v1"
	corev1 "k8s.io/api/core/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/client-go/kubernetes"

	"github.com/sqlkube/sqlkube/controllers/internal/controllertest"
	"github.com/sqlkube/sqlkube/controllers/reconcile"
)

func newServerCronJob(name, schedule string, mods ...func(*batchv1.CronJob)) *batchv1.CronJob {
	cj := &batchv1.CronJob{
		ObjectMeta: metav1.ObjectMeta{Name: name, Namespace: "demo"},
		Spec: batchv1.CronJobSpec{
			Schedule: schedule,
			JobTemplate: batchv1.JobTemplateSpec{
				ObjectMeta: metav1.ObjectMeta{Labels: map[string]string{"cronjob": name}},
				Spec: batchv1.JobSpec{Template: corev1.PodTemplateSpec{Spec: corev1.PodSpec{
					RestartPolicy: corev1.RestartPolicyNever,
					Containers:    []corev1.Container{{Name: "c", Image: "registry.local/report:1"}},
				}}},
			},
		},
	}
	for _, m := range mods {
		m(cj)
	}
	return cj
}

// jobsOwnedBy lists the Jobs in demo that cj controls, by name.
func jobsOwnedBy(ctx context.Context, t *testing.T, client kubernetes.Interface, cj *batchv1.CronJob) map[string]batchv1.Job {
	t.Helper()
	list, err := client.BatchV1().Jobs("demo").List(ctx, metav1.ListOptions{})
	if err != nil {
		t.Fatal(err)
	}
	out := map[string]batchv1.Job{}
	for _, j := range list.Items {
		if metav1.IsControlledBy(&j, cj) {
			out[j.Name] = j
		}
	}
	return out
}

// TestCronJobIntegration runs the controller against the API server with
// a clock 55 seconds past the minute M that follows the CronJobs'
// creation: M is a missed schedule time, run at once, and M+1 comes 5
// seconds of real time later.
func TestCronJobIntegration(t *testing.T) {
	srv, ctx := controllertest.StartServer(t, 60*time.Second)
	client := srv.Client
	controllertest.CreateNamespace(ctx, t, client, "demo")

	// M must come after the CronJobs are created: do not start a few
	// seconds before a minute ends.
	if left := time.Until(time.Now().Truncate(time.Minute).Add(time.Minute)); left < 3*time.Second {
		time.Sleep(left + 10*time.Millisecond)
	}
	m := time.Now().Truncate(time.Minute).Add(time.Minute).UTC()
	// Fires at M only (once a year).
	atM := fmt.Sprintf("%d %d %d %d *", m.Minute(), m.Hour(), m.Day(), int(m.Month()))
	utc := func(cj *batchv1.CronJob) { cj.Spec.TimeZone = new("UTC") }
	cronJobs := map[string]*batchv1.CronJob{}
	for _, cj := range []*batchv1.CronJob{
		newServerCronJob("report", atM, utc),
		newServerCronJob("paused", atM, utc, func(cj *batchv1.CronJob) { cj.Spec.Suspend = new(true) }),
		newServerCronJob("tick", "* * * * *"),
	} {
		got, err := client.BatchV1().CronJobs("demo").Create(ctx, cj, metav1.CreateOptions{})
		if err != nil {
			t.Fatalf("create cronjob %s: %v", cj.Name, err)
		}
		if !got.CreationTimestamp.Time.Before(m) {
			t.Fatalf("cronjob %s created at %s, not before %s", cj.Name, got.CreationTimestamp, m)
		}
		cronJobs[cj.Name] = got
	}

	offset := time.Until(m.Add(55 * time.Second))
	controllertest.Run(t, srv, func(cfg *reconcile.Config) *Controller {
		c := New(cfg)
		c.now = func() time.Time { return time.Now().Add(offset) }
		return c
	}, 2, controllertest.Quiet)

	getCronJob := func(name string) *batchv1.CronJob {
		t.Helper()
		cj, err := client.BatchV1().CronJobs("demo").Get(ctx, name, metav1.GetOptions{})
		if err != nil {
			t.Fatal(err)
		}
		return cj
	}
	nameAtM := func(cronJob string) string { return fmt.Sprintf("%s-%d", cronJob, m.Unix()/60) }

	// The missed run of report starts a Job named after M, controlled by
	// report and recorded in its status.
	report := cronJobs["report"]
	var job batchv1.Job
	controllertest.Poll(ctx, t, 10*time.Second, "the job of report", func() (bool, error) {
		j, ok := jobsOwnedBy(ctx, t, client, report)[nameAtM("report")]
		job = j
		cj := getCronJob("report")
		return ok && len(cj.Status.Active) == 1 && cj.Status.Active[0].UID == j.UID &&
			cj.Status.LastScheduleTime != nil && cj.Status.LastScheduleTime.Equal(&metav1.Time{Time: m}), nil
	})
	if got := job.Annotations[batchv1.CronJobScheduledTimestampAnnotation]; got != m.Format(time.RFC3339) {
		t.Errorf("scheduled-timestamp annotation = %q, want %q", got, m.Format(time.RFC3339))
	}
	if job.Labels["cronjob"] != "report" || len(job.Spec.Template.Spec.Containers) != 1 {
		t.Errorf("job %s does not follow the template: labels %v, spec %+v", job.Name, job.Labels, job.Spec)
	}
	if n := len(jobsOwnedBy(ctx, t, client, report)); n != 1 {
		t.Errorf("report has %d jobs, want 1", n)
	}

	// The Job completes (as the job controller would record it): it
	// leaves status.active, and its completion time is the CronJob's last
	// success.
	completed := metav1.NewTime(time.Now().Truncate(time.Second))
	job.Status.StartTime = &metav1.Time{Time: completed.Add(-time.Second)}
	job.Status.CompletionTime = &completed
	job.Status.Succeeded = 1
	job.Status.Conditions = []batchv1.JobCondition{
		{Type: batchv1.JobSuccessCriteriaMet, Status: corev1.ConditionTrue, LastTransitionTime: completed},
		{Type: batchv1.JobComplete, Status: corev1.ConditionTrue, LastTransitionTime: completed},
	}
	if _, err := client.BatchV1().Jobs("demo").UpdateStatus(ctx, &job, metav1.UpdateOptions{}); err != nil {
		t.Fatalf("complete job %s: %v", job.Name, err)
	}
	controllertest.Poll(ctx, t, 10*time.Second, "report to see its job complete", func() (bool, error) {
		cj := getCronJob("report")
		return len(cj.Status.Active) == 0 && cj.Status.LastSuccessfulTime != nil && cj.Status.LastSuccessfulTime.Equal(&completed), nil
	})

	// What `kubectl describe cronjob report` lists.
	controllertest.Poll(ctx, t, 10*time.Second, "the events of report", func() (bool, error) {
		events, err := client.CoreV1().Events("demo").List(ctx, metav1.ListOptions{})
		if err != nil {
			return false, err
		}
		var reasons []string
		for _, e := range events.Items {
			if e.InvolvedObject.UID == report.UID {
				reasons = append(reasons, e.Reason)
			}
		}
		return slices.Contains(reasons, "SuccessfulCreate") && slices.Contains(reasons, "SawCompletedJob"), nil
	})

	// The suspended CronJob started nothing; resumed, it starts the run
	// it missed (it has no starting deadline).
	paused := cronJobs["paused"]
	if jobs := jobsOwnedBy(ctx, t, client, paused); len(jobs) != 0 {
		t.Errorf("suspended cronjob has jobs %v", slices.Collect(maps.Keys(jobs)))
	}
	if cj := getCronJob("paused"); len(cj.Status.Active) != 0 || cj.Status.LastScheduleTime != nil {
		t.Errorf("suspended cronjob status = %+v", cj.Status)
	}
	resumed := getCronJob("paused")
	resumed.Spec.Suspend = new(false)
	if _, err := client.BatchV1().CronJobs("demo").Update(ctx, resumed, metav1.UpdateOptions{}); err != nil {
		t.Fatalf("resume paused: %v", err)
	}
	controllertest.Poll(ctx, t, 10*time.Second, "the job of the resumed cronjob", func() (bool, error) {
		_, ok := jobsOwnedBy(ctx, t, client, paused)[nameAtM("paused")]
		return ok, nil
	})

	// tick ("* * * * *") ran M at once, and is queued for M+1, which
	// comes 5 seconds after the controller started; Allow keeps both
	// running.
	controllertest.Poll(ctx, t, 20*time.Second, "tick's jobs for M and M+1", func() (bool, error) {
		jobs := jobsOwnedBy(ctx, t, client, cronJobs["tick"])
		_, first := jobs[nameAtM("tick")]
		_, second := jobs[fmt.Sprintf("tick-%d", m.Unix()/60+1)]
		return first && second && len(getCronJob("tick").Status.Active) == 2, nil
	})
}
