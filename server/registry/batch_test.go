package registry

import (
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
