package registry

import (
	"fmt"
	"strings"
	"time"

	"github.com/robfig/cron/v3"
	batchv1 "k8s.io/api/batch/v1"
	apivalidation "k8s.io/apimachinery/pkg/api/validation"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	metav1validation "k8s.io/apimachinery/pkg/apis/meta/v1/validation"
	"k8s.io/apimachinery/pkg/labels"
	"k8s.io/apimachinery/pkg/runtime"
	"k8s.io/apimachinery/pkg/util/validation/field"
)

// maxCronJobNameLength leaves room for the suffix the controller appends
// to name a Job ("-" and the scheduled time in minutes, 11 characters)
// within the 63 characters of the label the Job's pods carry.
const maxCronJobNameLength = 52

// cronJobResource is batch/v1 cronjobs, with a status subresource. The
// schedule is checked with the parser the controller runs it with
// (robfig/cron's standard five fields and its @ descriptors), so what is
// stored can be scheduled.
func cronJobResource() *Resource {
	return &Resource{
		Group: "batch", Version: "v1", Resource: "cronjobs",
		Kind: "CronJob", ListKind: "CronJobList",
		Namespaced:   true,
		ShortNames:   []string{"cj"},
		Categories:   []string{"all"},
		Subresources: []string{"status"},
		New:          func() runtime.Object { return &batchv1.CronJob{} },
		NewList:      func() runtime.Object { return &batchv1.CronJobList{} },
		Default:      func(obj runtime.Object) { defaultCronJob(obj.(*batchv1.CronJob)) },
		PrepareForCreate: func(obj runtime.Object) {
			obj.(*batchv1.CronJob).Status = batchv1.CronJobStatus{}
		},
		PrepareForUpdate: func(obj, old runtime.Object) {
			obj.(*batchv1.CronJob).Status = old.(*batchv1.CronJob).Status
		},
		PrepareForStatusUpdate: func(obj, old runtime.Object) {
			c, o := obj.(*batchv1.CronJob), old.(*batchv1.CronJob)
			c.Spec = o.Spec
			c.Labels = o.Labels
		},
		Validate: func(obj runtime.Object) field.ErrorList {
			c := obj.(*batchv1.CronJob)
			errs := validateObjectName(c.Name, apivalidation.NameIsDNSSubdomain)
			if len(c.Name) > maxCronJobNameLength {
				errs = append(errs, field.Invalid(field.NewPath("metadata", "name"), c.Name, fmt.Sprintf("must be no more than %d characters", maxCronJobNameLength)))
			}
			return append(errs, validateCronJobSpec(&c.Spec)...)
		},
		ValidateUpdate: func(obj, _ runtime.Object) field.ErrorList {
			return validateCronJobSpec(&obj.(*batchv1.CronJob).Spec)
		},
		Columns: cronJobColumns(),
		Row:     func(obj runtime.Object) []any { return cronJobRow(obj.(*batchv1.CronJob)) },
	}
}

// defaultCronJob sets what batch/v1 defaults: concurrencyPolicy Allow, not
// suspended, 3 successful and 1 failed Job kept, and the defaults of the
// Jobs' pod template. The Job spec itself is defaulted when each Job is
// created, as in Kubernetes.
func defaultCronJob(c *batchv1.CronJob) {
	s := &c.Spec
	if s.ConcurrencyPolicy == "" {
		s.ConcurrencyPolicy = batchv1.AllowConcurrent
	}
	if s.Suspend == nil {
		s.Suspend = new(false)
	}
	if s.SuccessfulJobsHistoryLimit == nil {
		s.SuccessfulJobsHistoryLimit = new(int32(3))
	}
	if s.FailedJobsHistoryLimit == nil {
		s.FailedJobsHistoryLimit = new(int32(1))
	}
	defaultPodSpec(&s.JobTemplate.Spec.Template.Spec)
}

// validateCronJobSpec checks what kube-apiserver checks: a schedule that
// parses, a time zone given by the field (never TZ= in the schedule) and
// known to the IANA database, a known concurrency policy, non-negative
// deadline and history limits, and a valid Job template.
func validateCronJobSpec(s *batchv1.CronJobSpec) field.ErrorList {
	spec := field.NewPath("spec")
	var errs field.ErrorList
	if s.Schedule == "" {
		errs = append(errs, field.Required(spec.Child("schedule"), ""))
	} else if _, err := cron.ParseStandard(s.Schedule); err != nil {
		errs = append(errs, field.Invalid(spec.Child("schedule"), s.Schedule, err.Error()))
	}
	if strings.Contains(s.Schedule, "TZ") {
		msg := "cannot use TZ or CRON_TZ in schedule, use timeZone field instead"
		if s.TimeZone != nil {
			msg = "cannot use both timeZone field and TZ or CRON_TZ in schedule"
		}
		errs = append(errs, field.Invalid(spec.Child("schedule"), s.Schedule, msg))
	}
	if tz := s.TimeZone; tz != nil {
		switch _, err := time.LoadLocation(*tz); {
		case *tz == "" || strings.EqualFold(*tz, "Local"):
			errs = append(errs, field.Invalid(spec.Child("timeZone"), *tz, "timeZone must be an explicit time zone as defined in https://www.iana.org/time-zones"))
		case err != nil:
			errs = append(errs, field.Invalid(spec.Child("timeZone"), *tz, err.Error()))
		}
	}
	switch p := s.ConcurrencyPolicy; p {
	case batchv1.AllowConcurrent, batchv1.ForbidConcurrent, batchv1.ReplaceConcurrent:
	case "":
		errs = append(errs, field.Required(spec.Child("concurrencyPolicy"), ""))
	default:
		errs = append(errs, field.NotSupported(spec.Child("concurrencyPolicy"), p,
			[]string{string(batchv1.AllowConcurrent), string(batchv1.ForbidConcurrent), string(batchv1.ReplaceConcurrent)}))
	}
	counts := map[string]int64{}
	if d := s.StartingDeadlineSeconds; d != nil {
		counts["startingDeadlineSeconds"] = *d
	}
	if n := s.SuccessfulJobsHistoryLimit; n != nil {
		counts["successfulJobsHistoryLimit"] = int64(*n)
	}
	if n := s.FailedJobsHistoryLimit; n != nil {
		counts["failedJobsHistoryLimit"] = int64(*n)
	}
	errs = append(errs, nonNegativeErrors(spec, counts)...)

	tmpl := spec.Child("jobTemplate")
	errs = append(errs, metav1validation.ValidateLabels(s.JobTemplate.Labels, tmpl.Child("metadata", "labels"))...)
	errs = append(errs, apivalidation.ValidateAnnotations(s.JobTemplate.Annotations, tmpl.Child("metadata", "annotations"))...)
	jobSpec := tmpl.Child("spec")
	var sel labels.Selector
	if s.JobTemplate.Spec.Selector != nil {
		errs = append(errs, metav1validation.ValidateLabelSelector(s.JobTemplate.Spec.Selector, metav1validation.LabelSelectorValidationOptions{}, jobSpec.Child("selector"))...)
		var err error
		if sel, err = metav1.LabelSelectorAsSelector(s.JobTemplate.Spec.Selector); err != nil {
			sel = nil // reported by ValidateLabelSelector
		}
	}
	return append(errs, validateJobSpecAt(&s.JobTemplate.Spec, jobSpec, sel)...)
}

// cronJobColumns are kubectl's: NAME SCHEDULE TIMEZONE SUSPEND ACTIVE
// LAST SCHEDULE AGE, and with -o wide CONTAINERS IMAGES SELECTOR.
func cronJobColumns() []metav1.TableColumnDefinition {
	spec, status := batchv1.CronJobSpec{}.SwaggerDoc(), batchv1.CronJobStatus{}.SwaggerDoc()
	cols := []metav1.TableColumnDefinition{
		coreNameColumn(),
		{Name: "Schedule", Type: "string", Description: spec["schedule"]},
		{Name: "Timezone", Type: "string", Description: spec["timeZone"]},
		{Name: "Suspend", Type: "boolean", Description: spec["suspend"]},
		{Name: "Active", Type: "integer", Description: status["active"]},
		{Name: "Last Schedule", Type: "string", Description: status["lastScheduleTime"]},
		coreAgeColumn(),
	}
	cols = append(cols, printTemplateColumns()...)
	return append(cols, printSelectorColumn(batchv1.JobSpec{}.SwaggerDoc()["selector"]))
}

func cronJobRow(c *batchv1.CronJob) []any {
	tz, last, suspend := "<none>", "<none>", "<unset>"
	if c.Spec.TimeZone != nil {
		tz = *c.Spec.TimeZone
	}
	if c.Status.LastScheduleTime != nil {
		last = age(*c.Status.LastScheduleTime)
	}
	if c.Spec.Suspend != nil {
		suspend = fmt.Sprintf("%t", *c.Spec.Suspend)
	}
	names, images := printTemplateCells(&c.Spec.JobTemplate.Spec.Template.Spec)
	return []any{c.Name, c.Spec.Schedule, tz, suspend, int64(len(c.Status.Active)), last, age(c.CreationTimestamp),
		names, images, metav1.FormatLabelSelector(c.Spec.JobTemplate.Spec.Selector)}
}
