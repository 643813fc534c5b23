package registry

import (
	"fmt"
	"time"

	batchv1 "k8s.io/api/batch/v1"
	corev1 "k8s.io/api/core/v1"
	apiequality "k8s.io/apimachinery/pkg/api/equality"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	metav1validation "k8s.io/apimachinery/pkg/apis/meta/v1/validation"
	"k8s.io/apimachinery/pkg/labels"
	"k8s.io/apimachinery/pkg/runtime"
	"k8s.io/apimachinery/pkg/util/duration"
	"k8s.io/apimachinery/pkg/util/validation/field"
)

// Labels the API server puts on a Job's pod template (and its selector)
// when the Job does not choose its own selector (spec.manualSelector).
const (
	jobControllerUIDLabel       = "batch.kubernetes.io/controller-uid"
	jobNameLabel                = "batch.kubernetes.io/job-name"
	legacyJobControllerUIDLabel = "controller-uid"
	legacyJobNameLabel          = "job-name"
)

// batchResources returns batch/v1 jobs and cronjobs (cronjob.go). A Job
// has a status subresource; on create the server generates its selector
// from the Job's uid and labels the pod template to match, as
// kube-apiserver does.
func batchResources() []*Resource {
	return []*Resource{
		{
			Group: "batch", Version: "v1", Resource: "jobs",
			Kind: "Job", ListKind: "JobList",
			Namespaced:   true,
			Categories:   []string{"all"},
			Subresources: []string{"status"},
			New:          func() runtime.Object { return &batchv1.Job{} },
			NewList:      func() runtime.Object { return &batchv1.JobList{} },
			Default:      func(obj runtime.Object) { defaultJob(obj.(*batchv1.Job)) },
			PrepareForCreate: func(obj runtime.Object) {
				j := obj.(*batchv1.Job)
				j.Status = batchv1.JobStatus{}
				generateJobSelector(j)
			},
			PrepareForUpdate: func(obj, old runtime.Object) {
				obj.(*batchv1.Job).Status = old.(*batchv1.Job).Status
			},
			PrepareForStatusUpdate: func(obj, old runtime.Object) {
				j, o := obj.(*batchv1.Job), old.(*batchv1.Job)
				j.Spec = o.Spec
				j.Labels = o.Labels
			},
			Validate: func(obj runtime.Object) field.ErrorList { return validateJob(obj.(*batchv1.Job)) },
			ValidateUpdate: func(obj, old runtime.Object) field.ErrorList {
				return validateJobUpdate(obj.(*batchv1.Job), old.(*batchv1.Job))
			},
			Columns: jobColumns(),
			Row:     func(obj runtime.Object) []any { return jobRow(obj.(*batchv1.Job)) },
		},
		cronJobResource(),
	}
}

// defaultJob sets what batch/v1 defaults: completions and parallelism 1
// when both are unset (parallelism 1 alone otherwise), backoffLimit 6,
// NonIndexed completion, not suspended, pods replaced once terminating or
// failed, and the pod template defaults.
func defaultJob(j *batchv1.Job) {
	s := &j.Spec
	if s.Completions == nil && s.Parallelism == nil {
		s.Completions = new(int32(1))
		s.Parallelism = new(int32(1))
	}
	if s.Parallelism == nil {
		s.Parallelism = new(int32(1))
	}
	if s.BackoffLimit == nil {
		s.BackoffLimit = new(int32(6))
	}
	if s.CompletionMode == nil {
		s.CompletionMode = new(batchv1.NonIndexedCompletion)
	}
	if s.Suspend == nil {
		s.Suspend = new(false)
	}
	if s.PodReplacementPolicy == nil {
		s.PodReplacementPolicy = new(batchv1.TerminatingOrFailed)
	}
	if s.ManualSelector == nil {
		s.ManualSelector = new(false)
	}
	defaultPodSpec(&s.Template.Spec)
}

// generateJobSelector makes the Job select its own pods by its uid, unless
// it chose its selector (manualSelector), and labels the template so.
func generateJobSelector(j *batchv1.Job) {
	if j.Spec.ManualSelector != nil && *j.Spec.ManualSelector {
		return
	}
	uid := string(j.UID)
	if j.Spec.Template.Labels == nil {
		j.Spec.Template.Labels = map[string]string{}
	}
	l := j.Spec.Template.Labels
	l[jobControllerUIDLabel], l[legacyJobControllerUIDLabel] = uid, uid
	l[jobNameLabel], l[legacyJobNameLabel] = j.Name, j.Name
	if j.Spec.Selector == nil {
		j.Spec.Selector = &metav1.LabelSelector{MatchLabels: map[string]string{jobControllerUIDLabel: uid}}
	}
}

func validateJob(j *batchv1.Job) field.ErrorList { return validateJobSpec(&j.Spec) }

func validateJobUpdate(j, old *batchv1.Job) field.ErrorList {
	errs := validateJobSpec(&j.Spec)
	spec := field.NewPath("spec")
	if !apiequality.Semantic.DeepEqual(j.Spec.Selector, old.Spec.Selector) {
		errs = append(errs, field.Invalid(spec.Child("selector"), j.Spec.Selector, "field is immutable"))
	}
	if !apiequality.Semantic.DeepEqual(j.Spec.Template, old.Spec.Template) {
		errs = append(errs, field.Invalid(spec.Child("template"), j.Spec.Template, "field is immutable"))
	}
	if !apiequality.Semantic.DeepEqual(j.Spec.Completions, old.Spec.Completions) {
		errs = append(errs, field.Invalid(spec.Child("completions"), j.Spec.Completions, "field is immutable"))
	}
	if !apiequality.Semantic.DeepEqual(j.Spec.CompletionMode, old.Spec.CompletionMode) {
		errs = append(errs, field.Invalid(spec.Child("completionMode"), j.Spec.CompletionMode, "field is immutable"))
	}
	st := field.NewPath("status")
	errs = append(errs, nonNegativeErrors(st, map[string]int64{
		"active": int64(j.Status.Active), "succeeded": int64(j.Status.Succeeded), "failed": int64(j.Status.Failed),
	})...)
	return errs
}

func validateJobSpec(s *batchv1.JobSpec) field.ErrorList {
	sel, errs := validateWorkloadSelector(s.Selector, "Job")
	return append(errs, validateJobSpecAt(s, field.NewPath("spec"), sel)...)
}

// validateJobSpecAt checks a Job spec found at spec (a Job's "spec", a
// CronJob's "spec.jobTemplate.spec"), all but its selector: the counts,
// the completion mode, the template's labels against sel (when sel is
// set), its restartPolicy (OnFailure or Never) and its pod spec.
func validateJobSpecAt(s *batchv1.JobSpec, spec *field.Path, sel labels.Selector) field.ErrorList {
	errs := nonNegativeErrors(spec, map[string]int64{
		"parallelism": int64(deref32(s.Parallelism)), "completions": int64(deref32(s.Completions)),
		"backoffLimit": int64(deref32(s.BackoffLimit)),
	})
	if s.ActiveDeadlineSeconds != nil && *s.ActiveDeadlineSeconds <= 0 {
		errs = append(errs, field.Invalid(spec.Child("activeDeadlineSeconds"), *s.ActiveDeadlineSeconds, "must be greater than 0"))
	}
	if m := s.CompletionMode; m != nil && *m != batchv1.NonIndexedCompletion && *m != batchv1.IndexedCompletion {
		errs = append(errs, field.NotSupported(spec.Child("completionMode"), *m, []string{string(batchv1.NonIndexedCompletion), string(batchv1.IndexedCompletion)}))
	}
	if m := s.CompletionMode; m != nil && *m == batchv1.IndexedCompletion && s.Completions == nil {
		errs = append(errs, field.Required(spec.Child("completions"), fmt.Sprintf("when completion mode is %s", batchv1.IndexedCompletion)))
	}
	t := &s.Template
	labelsPath := spec.Child("template", "metadata", "labels")
	errs = append(errs, metav1validation.ValidateLabels(t.Labels, labelsPath)...)
	if sel != nil && !sel.Empty() && !sel.Matches(labels.Set(t.Labels)) {
		errs = append(errs, field.Invalid(labelsPath, t.Labels, "`selector` does not match template `labels`"))
	}
	podPath := spec.Child("template", "spec")
	if p := t.Spec.RestartPolicy; p != corev1.RestartPolicyOnFailure && p != corev1.RestartPolicyNever {
		errs = append(errs, field.NotSupported(podPath.Child("restartPolicy"), p, []string{string(corev1.RestartPolicyOnFailure), string(corev1.RestartPolicyNever)}))
	}
	return append(errs, podSpecErrors(&t.Spec, nil, podPath)...)
}

func deref32(p *int32) int32 {
	if p == nil {
		return 0
	}
	return *p
}

func jobColumns() []metav1.TableColumnDefinition {
	status := batchv1.JobStatus{}.SwaggerDoc()
	cols := []metav1.TableColumnDefinition{
		coreNameColumn(),
		{Name: "Status", Type: "string", Description: "Status of the job."},
		{Name: "Completions", Type: "string", Description: status["succeeded"]},
		{Name: "Duration", Type: "string", Description: "Time required to complete the job."},
		coreAgeColumn(),
	}
	cols = append(cols, printTemplateColumns()...)
	return append(cols, printSelectorColumn(batchv1.JobSpec{}.SwaggerDoc()["selector"]))
}

// jobRow fills the columns the way kubectl shows a Job: Complete, Failed,
// Suspended or Running; "succeeded/completions" (or "/1 of N" when only
// parallelism is set); how long it ran.
func jobRow(j *batchv1.Job) []any {
	completions := fmt.Sprintf("%d/1", j.Status.Succeeded)
	if j.Spec.Completions != nil {
		completions = fmt.Sprintf("%d/%d", j.Status.Succeeded, *j.Spec.Completions)
	} else if p := deref32(j.Spec.Parallelism); p > 1 {
		completions = fmt.Sprintf("%d/1 of %d", j.Status.Succeeded, p)
	}
	state := "Running"
	for _, c := range j.Status.Conditions {
		if c.Status != corev1.ConditionTrue {
			continue
		}
		switch c.Type {
		case batchv1.JobComplete:
			state = "Complete"
		case batchv1.JobFailed:
			state = "Failed"
		case batchv1.JobSuspended:
			state = "Suspended"
		case batchv1.JobFailureTarget:
			state = "FailureTarget"
		case batchv1.JobSuccessCriteriaMet:
			state = "SuccessCriteriaMet"
		}
	}
	took := ""
	switch {
	case j.Status.StartTime == nil:
	case j.Status.CompletionTime == nil:
		took = duration.HumanDuration(time.Since(j.Status.StartTime.Time))
	default:
		took = duration.HumanDuration(j.Status.CompletionTime.Sub(j.Status.StartTime.Time))
	}
	names, images := printTemplateCells(&j.Spec.Template.Spec)
	return []any{j.Name, state, completions, took, age(j.CreationTimestamp), names, images, metav1.FormatLabelSelector(j.Spec.Selector)}
}
