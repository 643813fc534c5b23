package registry

import (
	"strings"
	"testing"
	"time"

	batchv1 "k8s.io/api/batch/v1"
	corev1 "k8s.io/api/core/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/types"
)

func TestJobRules(t *testing.T) {
	r := batchResources()[0]
	job := &batchv1.Job{
		ObjectMeta: metav1.ObjectMeta{Name: "pi", Namespace: "demo", UID: types.UID("u-1")},
		Spec: batchv1.JobSpec{Completions: new(int32(3)), Template: corev1.PodTemplateSpec{Spec: corev1.PodSpec{
			RestartPolicy: corev1.RestartPolicyOnFailure,
			Containers:    []corev1.Container{{Name: "pi", Image: "perl"}},
		}}},
	}
	r.Default(job)
	r.PrepareForCreate(job)
	if errs := r.Validate(job); len(errs) > 0 {
		t.Fatalf("valid job: %v", errs)
	}
	if *job.Spec.Parallelism != 1 || *job.Spec.Completions != 3 {
		t.Errorf("parallelism %d completions %d, want 1 and 3 (completions as given)", *job.Spec.Parallelism, *job.Spec.Completions)
	}

	changed := job.DeepCopy()
	changed.Spec.Template.Spec.Containers[0].Image = "python"
	changed.Spec.Completions = new(int32(4))
	errs := r.ValidateUpdate(changed, job)
	if len(errs) != 2 || errs[0].Field != "spec.template" || errs[1].Field != "spec.completions" {
		t.Errorf("changing template and completions: %v, want both immutable", errs)
	}

	manual := job.DeepCopy()
	manual.Spec.Selector = &metav1.LabelSelector{MatchLabels: map[string]string{"app": "pi"}}
	manual.Spec.ManualSelector = new(true)
	manual.Spec.Template.Labels = map[string]string{"app": "other"}
	if errs := r.Validate(manual); len(errs) != 1 || errs[0].Field != "spec.template.metadata.labels" {
		t.Errorf("manual selector not matching the template: %v, want one error on the labels", errs)
	}

	start := metav1.NewTime(time.Now().Add(-90 * time.Second))
	end := metav1.NewTime(start.Add(30 * time.Second))
	job.Status = batchv1.JobStatus{Succeeded: 3, StartTime: &start, CompletionTime: &end,
		Conditions: []batchv1.JobCondition{{Type: batchv1.JobComplete, Status: corev1.ConditionTrue}}}
	row := r.Row(job)
	if len(row) != len(r.Columns) || row[1] != "Complete" || row[2] != "3/3" || row[3] != "30s" {
		t.Errorf("row %v, want Complete 3/3 30s and one cell per column", row)
	}
}

func TestCronJobRules(t *testing.T) {
	r := cronJobResource()
	valid := func() *batchv1.CronJob {
		return &batchv1.CronJob{
			ObjectMeta: metav1.ObjectMeta{Name: "backup", Namespace: "demo"},
			Spec: batchv1.CronJobSpec{
				Schedule: "*/5 * * * *",
				JobTemplate: batchv1.JobTemplateSpec{Spec: batchv1.JobSpec{Template: corev1.PodTemplateSpec{Spec: corev1.PodSpec{
					RestartPolicy: corev1.RestartPolicyOnFailure,
					Containers:    []corev1.Container{{Name: "backup", Image: "busybox"}},
				}}}},
			},
		}
	}
	cj := valid()
	r.Default(cj)
	if errs := r.Validate(cj); len(errs) > 0 {
		t.Fatalf("valid cronjob: %v", errs)
	}
	s := cj.Spec
	if s.ConcurrencyPolicy != batchv1.AllowConcurrent || *s.Suspend || *s.SuccessfulJobsHistoryLimit != 3 || *s.FailedJobsHistoryLimit != 1 {
		t.Errorf("defaults: policy %q suspend %v limits %d/%d, want Allow false 3/1",
			s.ConcurrencyPolicy, *s.Suspend, *s.SuccessfulJobsHistoryLimit, *s.FailedJobsHistoryLimit)
	}
	if tp := cj.Spec.JobTemplate.Spec.Template.Spec; tp.DNSPolicy != corev1.DNSClusterFirst || tp.Containers[0].TerminationMessagePath == "" {
		t.Errorf("job template pod spec not defaulted: %+v", tp)
	}
	if cj.Spec.JobTemplate.Spec.BackoffLimit != nil {
		t.Errorf("the Job spec got backoffLimit %d: Kubernetes defaults it on each Job, not in the template", *cj.Spec.JobTemplate.Spec.BackoffLimit)
	}

	for _, tt := range []struct {
		name  string
		mod   func(*batchv1.CronJob)
		field string
	}{
		{"no schedule", func(c *batchv1.CronJob) { c.Spec.Schedule = "" }, "spec.schedule"},
		{"six fields", func(c *batchv1.CronJob) { c.Spec.Schedule = "0 */5 * * * *" }, "spec.schedule"},
		{"bad minute", func(c *batchv1.CronJob) { c.Spec.Schedule = "61 * * * *" }, "spec.schedule"},
		{"TZ in schedule", func(c *batchv1.CronJob) { c.Spec.Schedule = "TZ=UTC 0 * * * *" }, "spec.schedule"},
		{"unknown time zone", func(c *batchv1.CronJob) { c.Spec.TimeZone = new("Mars/Olympus") }, "spec.timeZone"},
		{"Local time zone", func(c *batchv1.CronJob) { c.Spec.TimeZone = new("Local") }, "spec.timeZone"},
		{"unknown policy", func(c *batchv1.CronJob) { c.Spec.ConcurrencyPolicy = "Sometimes" }, "spec.concurrencyPolicy"},
		{"negative deadline", func(c *batchv1.CronJob) { c.Spec.StartingDeadlineSeconds = new(int64(-1)) }, "spec.startingDeadlineSeconds"},
		{"negative history", func(c *batchv1.CronJob) { c.Spec.FailedJobsHistoryLimit = new(int32(-1)) }, "spec.failedJobsHistoryLimit"},
		{"restartPolicy Always", func(c *batchv1.CronJob) {
			c.Spec.JobTemplate.Spec.Template.Spec.RestartPolicy = corev1.RestartPolicyAlways
		}, "spec.jobTemplate.spec.template.spec.restartPolicy"},
		{"no image", func(c *batchv1.CronJob) {
			c.Spec.JobTemplate.Spec.Template.Spec.Containers[0].Image = ""
		}, "spec.jobTemplate.spec.template.spec.containers[0].image"},
		{"name too long for its Jobs", func(c *batchv1.CronJob) { c.Name = strings.Repeat("a", 53) }, "metadata.name"},
	} {
		t.Run(tt.name, func(t *testing.T) {
			c := valid()
			tt.mod(c)
			r.Default(c)
			errs := r.Validate(c)
			if len(errs) != 1 || errs[0].Field != tt.field {
				t.Errorf("errors %v, want one on %s", errs, tt.field)
			}
		})
	}

	ok := valid()
	ok.Spec.Schedule, ok.Spec.TimeZone = "@hourly", new("Europe/Paris")
	r.Default(ok)
	if errs := r.Validate(ok); len(errs) > 0 {
		t.Errorf("@hourly in Europe/Paris: %v", errs)
	}

	last := metav1.NewTime(time.Now().Add(-2 * time.Minute))
	cj.Status = batchv1.CronJobStatus{LastScheduleTime: &last, Active: []corev1.ObjectReference{{Name: "backup-1"}}}
	row := r.Row(cj)
	want := []any{"backup", "*/5 * * * *", "<none>", "false", int64(1), "2m"}
	if len(row) != len(r.Columns) {
		t.Fatalf("row %v has %d cells for %d columns", row, len(row), len(r.Columns))
	}
	for i, w := range want {
		if row[i] != w {
			t.Errorf("cell %d (%s) = %v, want %v", i, r.Columns[i].Name, row[i], w)
		}
	}
}
