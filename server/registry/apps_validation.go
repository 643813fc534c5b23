package registry

import (
	"fmt"
	"slices"
	"strconv"

	appsv1 "k8s.io/api/apps/v1"
	corev1 "k8s.io/api/core/v1"
	apiequality "k8s.io/apimachinery/pkg/api/equality"
	apivalidation "k8s.io/apimachinery/pkg/api/validation"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	metav1validation "k8s.io/apimachinery/pkg/apis/meta/v1/validation"
	"k8s.io/apimachinery/pkg/labels"
	"k8s.io/apimachinery/pkg/util/intstr"
	"k8s.io/apimachinery/pkg/util/validation"
	"k8s.io/apimachinery/pkg/util/validation/field"
)

// This file holds what kube-apiserver checks on apps/v1 objects. Every
// function expects an object that has been defaulted (Resource.Default):
// for instance, a RollingUpdate strategy without rollingUpdate is reported
// rather than filled in. Paths are rooted at the object ("spec.selector").

// validateDeployment checks a Deployment on create.
func validateDeployment(d *appsv1.Deployment) field.ErrorList {
	errs := validateObjectName(d.Name, apivalidation.NameIsDNSSubdomain)
	return append(errs, validateDeploymentSpec(&d.Spec)...)
}

// validateDeploymentUpdate checks a Deployment update: the new spec as on
// create, an unchanged spec.selector, and the status (which is the stored
// one unless the update came through /status).
func validateDeploymentUpdate(d, old *appsv1.Deployment) field.ErrorList {
	errs := validateDeploymentSpec(&d.Spec)
	errs = append(errs, apivalidation.ValidateImmutableField(d.Spec.Selector, old.Spec.Selector, field.NewPath("spec", "selector"))...)
	return append(errs, validateDeploymentStatus(&d.Status, &old.Status)...)
}

func validateDeploymentSpec(spec *appsv1.DeploymentSpec) field.ErrorList {
	var errs field.ErrorList
	errs = append(errs, replicasErrors(spec.Replicas)...)
	sel, selErrs := validateWorkloadSelector(spec.Selector, "deployment")
	errs = append(errs, selErrs...)
	errs = append(errs, validateWorkloadTemplate(&spec.Template, sel, nil)...)
	errs = append(errs, validateDeploymentStrategy(&spec.Strategy)...)
	errs = append(errs, apivalidation.ValidateNonnegativeField(int64(spec.MinReadySeconds), field.NewPath("spec").Child("minReadySeconds"))...)
	if spec.RevisionHistoryLimit != nil {
		errs = append(errs, apivalidation.ValidateNonnegativeField(int64(*spec.RevisionHistoryLimit), field.NewPath("spec").Child("revisionHistoryLimit"))...)
	}
	if p := spec.ProgressDeadlineSeconds; p != nil {
		path := field.NewPath("spec").Child("progressDeadlineSeconds")
		errs = append(errs, apivalidation.ValidateNonnegativeField(int64(*p), path)...)
		if *p <= spec.MinReadySeconds {
			errs = append(errs, field.Invalid(path, *p, "must be greater than minReadySeconds"))
		}
	}
	return errs
}

func validateDeploymentStrategy(s *appsv1.DeploymentStrategy) field.ErrorList {
	path := field.NewPath("spec").Child("strategy")
	switch s.Type {
	case appsv1.RecreateDeploymentStrategyType:
		if s.RollingUpdate != nil {
			return field.ErrorList{field.Forbidden(path.Child("rollingUpdate"), "may not be specified when strategy `type` is 'Recreate'")}
		}
		return nil
	case appsv1.RollingUpdateDeploymentStrategyType:
		ru := s.RollingUpdate
		if ru == nil {
			return field.ErrorList{field.Required(path.Child("rollingUpdate"), "this should be defaulted and never be nil")}
		}
		path = path.Child("rollingUpdate")
		var errs field.ErrorList
		unavailable, surge := intOrPercentOrZero(ru.MaxUnavailable), intOrPercentOrZero(ru.MaxSurge)
		errs = append(errs, intOrPercentErrors(unavailable, path.Child("maxUnavailable"))...)
		errs = append(errs, intOrPercentErrors(surge, path.Child("maxSurge"))...)
		if intOrPercentValue(unavailable) == 0 && intOrPercentValue(surge) == 0 {
			errs = append(errs, field.Invalid(path.Child("maxUnavailable"), unavailable.String(), "may not be 0 when `maxSurge` is 0"))
		}
		return append(errs, notOver100PercentErrors(unavailable, path.Child("maxUnavailable"))...)
	default:
		return field.ErrorList{field.NotSupported(path.Child("type"), s.Type, []string{
			string(appsv1.RecreateDeploymentStrategyType), string(appsv1.RollingUpdateDeploymentStrategyType),
		})}
	}
}

func validateDeploymentStatus(s, old *appsv1.DeploymentStatus) field.ErrorList {
	errs := nonNegativeErrors(field.NewPath("status"), map[string]int64{
		"observedGeneration":  s.ObservedGeneration,
		"replicas":            int64(s.Replicas),
		"updatedReplicas":     int64(s.UpdatedReplicas),
		"readyReplicas":       int64(s.ReadyReplicas),
		"availableReplicas":   int64(s.AvailableReplicas),
		"unavailableReplicas": int64(s.UnavailableReplicas),
	})
	errs = append(errs, replicaCountErrors(s.Replicas, s.ReadyReplicas, s.AvailableReplicas)...)
	if s.UpdatedReplicas > s.Replicas {
		errs = append(errs, field.Invalid(field.NewPath("status").Child("updatedReplicas"), s.UpdatedReplicas, "cannot be greater than status.replicas"))
	}
	return append(errs, collisionCountErrors(s.CollisionCount, old.CollisionCount)...)
}

// validateReplicaSet checks a ReplicaSet on create.
func validateReplicaSet(rs *appsv1.ReplicaSet) field.ErrorList {
	errs := validateObjectName(rs.Name, apivalidation.NameIsDNSSubdomain)
	return append(errs, validateReplicaSetSpec(&rs.Spec)...)
}

// validateReplicaSetUpdate checks a ReplicaSet update: the spec as on
// create, an unchanged spec.selector, and the status.
func validateReplicaSetUpdate(rs, old *appsv1.ReplicaSet) field.ErrorList {
	errs := validateReplicaSetSpec(&rs.Spec)
	errs = append(errs, apivalidation.ValidateImmutableField(rs.Spec.Selector, old.Spec.Selector, field.NewPath("spec", "selector"))...)
	s := &rs.Status
	errs = append(errs, nonNegativeErrors(field.NewPath("status"), map[string]int64{
		"observedGeneration":   s.ObservedGeneration,
		"replicas":             int64(s.Replicas),
		"fullyLabeledReplicas": int64(s.FullyLabeledReplicas),
		"readyReplicas":        int64(s.ReadyReplicas),
		"availableReplicas":    int64(s.AvailableReplicas),
	})...)
	if s.FullyLabeledReplicas > s.Replicas {
		errs = append(errs, field.Invalid(field.NewPath("status").Child("fullyLabeledReplicas"), s.FullyLabeledReplicas, "cannot be greater than status.replicas"))
	}
	return append(errs, replicaCountErrors(s.Replicas, s.ReadyReplicas, s.AvailableReplicas)...)
}

func validateReplicaSetSpec(spec *appsv1.ReplicaSetSpec) field.ErrorList {
	errs := replicasErrors(spec.Replicas)
	errs = append(errs, apivalidation.ValidateNonnegativeField(int64(spec.MinReadySeconds), field.NewPath("spec").Child("minReadySeconds"))...)
	sel, selErrs := validateWorkloadSelector(spec.Selector, "replicaset")
	errs = append(errs, selErrs...)
	return append(errs, validateWorkloadTemplate(&spec.Template, sel, nil)...)
}

// validateDaemonSet checks a DaemonSet on create.
func validateDaemonSet(ds *appsv1.DaemonSet) field.ErrorList {
	errs := validateObjectName(ds.Name, apivalidation.NameIsDNSSubdomain)
	return append(errs, validateDaemonSetSpec(&ds.Spec)...)
}

// validateDaemonSetUpdate checks a DaemonSet update: the spec as on create,
// an unchanged spec.selector, and the status.
func validateDaemonSetUpdate(ds, old *appsv1.DaemonSet) field.ErrorList {
	errs := validateDaemonSetSpec(&ds.Spec)
	errs = append(errs, apivalidation.ValidateImmutableField(ds.Spec.Selector, old.Spec.Selector, field.NewPath("spec", "selector"))...)
	s := &ds.Status
	errs = append(errs, nonNegativeErrors(field.NewPath("status"), map[string]int64{
		"observedGeneration":     s.ObservedGeneration,
		"currentNumberScheduled": int64(s.CurrentNumberScheduled),
		"numberMisscheduled":     int64(s.NumberMisscheduled),
		"desiredNumberScheduled": int64(s.DesiredNumberScheduled),
		"numberReady":            int64(s.NumberReady),
		"updatedNumberScheduled": int64(s.UpdatedNumberScheduled),
		"numberAvailable":        int64(s.NumberAvailable),
		"numberUnavailable":      int64(s.NumberUnavailable),
	})...)
	return append(errs, collisionCountErrors(s.CollisionCount, old.Status.CollisionCount)...)
}

func validateDaemonSetSpec(spec *appsv1.DaemonSetSpec) field.ErrorList {
	sel, errs := validateWorkloadSelector(spec.Selector, "daemonset")
	errs = append(errs, validateWorkloadTemplate(&spec.Template, sel, nil)...)
	errs = append(errs, apivalidation.ValidateNonnegativeField(int64(spec.MinReadySeconds), field.NewPath("spec").Child("minReadySeconds"))...)
	if spec.RevisionHistoryLimit != nil {
		errs = append(errs, apivalidation.ValidateNonnegativeField(int64(*spec.RevisionHistoryLimit), field.NewPath("spec").Child("revisionHistoryLimit"))...)
	}
	path := field.NewPath("spec").Child("updateStrategy")
	switch s := spec.UpdateStrategy; s.Type {
	case appsv1.OnDeleteDaemonSetStrategyType:
	case appsv1.RollingUpdateDaemonSetStrategyType:
		if s.RollingUpdate == nil {
			return append(errs, field.Required(path.Child("rollingUpdate"), ""))
		}
		path = path.Child("rollingUpdate")
		unavailable, surge := intOrPercentOrZero(s.RollingUpdate.MaxUnavailable), intOrPercentOrZero(s.RollingUpdate.MaxSurge)
		errs = append(errs, intOrPercentErrors(unavailable, path.Child("maxUnavailable"))...)
		errs = append(errs, intOrPercentErrors(surge, path.Child("maxSurge"))...)
		errs = append(errs, notOver100PercentErrors(unavailable, path.Child("maxUnavailable"))...)
		errs = append(errs, notOver100PercentErrors(surge, path.Child("maxSurge"))...)
		hasUnavailable, hasSurge := intOrPercentValue(unavailable) != 0, intOrPercentValue(surge) != 0
		switch {
		case hasUnavailable && hasSurge:
			errs = append(errs, field.Invalid(path.Child("maxSurge"), surge.String(), "may not be set when maxUnavailable is non-zero"))
		case !hasUnavailable && !hasSurge:
			errs = append(errs, field.Required(path.Child("maxUnavailable"), "cannot be 0 when maxSurge is 0"))
		}
	default:
		errs = append(errs, field.NotSupported(path.Child("type"), s.Type, []string{
			string(appsv1.RollingUpdateDaemonSetStrategyType), string(appsv1.OnDeleteDaemonSetStrategyType),
		}))
	}
	return errs
}

// validateStatefulSet checks a StatefulSet on create. Its name must be a
// DNS label, not just a subdomain, because it becomes pod hostnames.
func validateStatefulSet(sts *appsv1.StatefulSet) field.ErrorList {
	errs := validateObjectName(sts.Name, apivalidation.NameIsDNSLabel)
	return append(errs, validateStatefulSetSpec(&sts.Spec)...)
}

// validateStatefulSetUpdate checks a StatefulSet update: the spec as on
// create, no change to spec fields other than replicas, ordinals, template,
// updateStrategy, revisionHistoryLimit, persistentVolumeClaimRetentionPolicy
// and minReadySeconds (so spec.selector, serviceName, volumeClaimTemplates
// and podManagementPolicy are immutable), and the status.
func validateStatefulSetUpdate(sts, old *appsv1.StatefulSet) field.ErrorList {
	errs := validateStatefulSetSpec(&sts.Spec)
	errs = append(errs, apivalidation.ValidateImmutableField(sts.Spec.Selector, old.Spec.Selector, field.NewPath("spec", "selector"))...)
	rest := *sts.Spec.DeepCopy()
	rest.Replicas, rest.Ordinals, rest.Template = old.Spec.Replicas, old.Spec.Ordinals, old.Spec.Template
	rest.UpdateStrategy, rest.RevisionHistoryLimit = old.Spec.UpdateStrategy, old.Spec.RevisionHistoryLimit
	rest.PersistentVolumeClaimRetentionPolicy, rest.MinReadySeconds = old.Spec.PersistentVolumeClaimRetentionPolicy, old.Spec.MinReadySeconds
	rest.Selector = old.Spec.Selector // reported above with its own path
	if !apiequality.Semantic.DeepEqual(rest, old.Spec) {
		errs = append(errs, field.Forbidden(field.NewPath("spec"), "updates to statefulset spec for fields other than 'replicas', 'ordinals', 'template', 'updateStrategy', 'revisionHistoryLimit', 'persistentVolumeClaimRetentionPolicy' and 'minReadySeconds' are forbidden"))
	}
	s := &sts.Status
	errs = append(errs, nonNegativeErrors(field.NewPath("status"), map[string]int64{
		"replicas":           int64(s.Replicas),
		"readyReplicas":      int64(s.ReadyReplicas),
		"currentReplicas":    int64(s.CurrentReplicas),
		"updatedReplicas":    int64(s.UpdatedReplicas),
		"availableReplicas":  int64(s.AvailableReplicas),
		"observedGeneration": s.ObservedGeneration,
	})...)
	for name, v := range map[string]int32{"currentReplicas": s.CurrentReplicas, "updatedReplicas": s.UpdatedReplicas} {
		if v > s.Replicas {
			errs = append(errs, field.Invalid(field.NewPath("status").Child(name), v, "cannot be greater than status.replicas"))
		}
	}
	errs = append(errs, replicaCountErrors(s.Replicas, s.ReadyReplicas, s.AvailableReplicas)...)
	return append(errs, collisionCountErrors(s.CollisionCount, old.Status.CollisionCount)...)
}

func validateStatefulSetSpec(spec *appsv1.StatefulSetSpec) field.ErrorList {
	var errs field.ErrorList
	switch spec.PodManagementPolicy {
	case appsv1.OrderedReadyPodManagement, appsv1.ParallelPodManagement:
	default:
		errs = append(errs, field.NotSupported(field.NewPath("spec").Child("podManagementPolicy"), spec.PodManagementPolicy, []string{
			string(appsv1.OrderedReadyPodManagement), string(appsv1.ParallelPodManagement),
		}))
	}
	path := field.NewPath("spec").Child("updateStrategy")
	switch s := spec.UpdateStrategy; s.Type {
	case appsv1.OnDeleteStatefulSetStrategyType:
		if s.RollingUpdate != nil {
			errs = append(errs, field.Forbidden(path.Child("rollingUpdate"), "only allowed for updateStrategy 'RollingUpdate'"))
		}
	case appsv1.RollingUpdateStatefulSetStrategyType:
		if ru := s.RollingUpdate; ru != nil {
			if ru.Partition != nil {
				errs = append(errs, apivalidation.ValidateNonnegativeField(int64(*ru.Partition), path.Child("rollingUpdate", "partition"))...)
			}
			if ru.MaxUnavailable != nil {
				p := path.Child("rollingUpdate", "maxUnavailable")
				errs = append(errs, intOrPercentErrors(*ru.MaxUnavailable, p)...)
				if intOrPercentValue(*ru.MaxUnavailable) == 0 {
					errs = append(errs, field.Invalid(p, ru.MaxUnavailable.String(), "cannot be 0"))
				}
				errs = append(errs, notOver100PercentErrors(*ru.MaxUnavailable, p)...)
			}
		}
	default:
		errs = append(errs, field.NotSupported(path.Child("type"), s.Type, []string{
			string(appsv1.RollingUpdateStatefulSetStrategyType), string(appsv1.OnDeleteStatefulSetStrategyType),
		}))
	}
	if p := spec.PersistentVolumeClaimRetentionPolicy; p != nil {
		path := field.NewPath("spec").Child("persistentVolumeClaimRetentionPolicy")
		for name, v := range map[string]appsv1.PersistentVolumeClaimRetentionPolicyType{"whenDeleted": p.WhenDeleted, "whenScaled": p.WhenScaled} {
			if v != appsv1.RetainPersistentVolumeClaimRetentionPolicyType && v != appsv1.DeletePersistentVolumeClaimRetentionPolicyType {
				errs = append(errs, field.NotSupported(path.Child(name), v, []string{
					string(appsv1.RetainPersistentVolumeClaimRetentionPolicyType), string(appsv1.DeletePersistentVolumeClaimRetentionPolicyType),
				}))
			}
		}
	}
	errs = append(errs, replicasErrors(spec.Replicas)...)
	errs = append(errs, apivalidation.ValidateNonnegativeField(int64(spec.MinReadySeconds), field.NewPath("spec").Child("minReadySeconds"))...)
	if spec.RevisionHistoryLimit != nil {
		errs = append(errs, apivalidation.ValidateNonnegativeField(int64(*spec.RevisionHistoryLimit), field.NewPath("spec").Child("revisionHistoryLimit"))...)
	}
	if spec.Ordinals != nil {
		errs = append(errs, apivalidation.ValidateNonnegativeField(int64(spec.Ordinals.Start), field.NewPath("spec").Child("ordinals", "start"))...)
	}
	sel, selErrs := validateWorkloadSelector(spec.Selector, "statefulset")
	errs = append(errs, selErrs...)
	// Containers may mount a volume claim template by its name.
	claims := map[string]bool{}
	for i, pvc := range spec.VolumeClaimTemplates {
		p := field.NewPath("spec").Child("volumeClaimTemplates").Index(i).Child("metadata", "name")
		if pvc.Name == "" {
			errs = append(errs, field.Required(p, ""))
			continue
		}
		for _, msg := range validation.IsDNS1123Subdomain(pvc.Name) {
			errs = append(errs, field.Invalid(p, pvc.Name, msg))
		}
		claims[pvc.Name] = true
	}
	return append(errs, validateWorkloadTemplate(&spec.Template, sel, claims)...)
}

// replicasErrors rejects a negative spec.replicas.
func replicasErrors(replicas *int32) field.ErrorList {
	if replicas == nil {
		return nil
	}
	return apivalidation.ValidateNonnegativeField(int64(*replicas), field.NewPath("spec").Child("replicas"))
}

// nonNegativeErrors rejects every negative value in fields, each reported
// at parent.<name>, in name order.
func nonNegativeErrors(parent *field.Path, fields map[string]int64) field.ErrorList {
	names := make([]string, 0, len(fields))
	for name := range fields {
		names = append(names, name)
	}
	slices.Sort(names)
	var errs field.ErrorList
	for _, name := range names {
		errs = append(errs, apivalidation.ValidateNonnegativeField(fields[name], parent.Child(name))...)
	}
	return errs
}

// replicaCountErrors checks the ordering every replicated status keeps:
// ready ≤ replicas and available ≤ ready.
func replicaCountErrors(replicas, ready, available int32) field.ErrorList {
	var errs field.ErrorList
	if ready > replicas {
		errs = append(errs, field.Invalid(field.NewPath("status").Child("readyReplicas"), ready, "cannot be greater than status.replicas"))
	}
	if available > replicas {
		errs = append(errs, field.Invalid(field.NewPath("status").Child("availableReplicas"), available, "cannot be greater than status.replicas"))
	}
	if available > ready {
		errs = append(errs, field.Invalid(field.NewPath("status").Child("availableReplicas"), available, "cannot be greater than readyReplicas"))
	}
	return errs
}

// collisionCountErrors rejects a negative status.collisionCount and one
// lower than the stored value.
func collisionCountErrors(count, old *int32) field.ErrorList {
	path := field.NewPath("status").Child("collisionCount")
	var errs field.ErrorList
	if count != nil {
		errs = append(errs, apivalidation.ValidateNonnegativeField(int64(*count), path)...)
	}
	if old != nil && (count == nil || *count < *old) {
		value := int32(0)
		if count != nil {
			value = *count
		}
		errs = append(errs, field.Invalid(path, value, "cannot be decremented"))
	}
	return errs
}

// intOrPercentOrZero returns *v, or integer 0 when v is nil.
func intOrPercentOrZero(v *intstr.IntOrString) intstr.IntOrString {
	if v == nil {
		return intstr.FromInt32(0)
	}
	return *v
}

// intOrPercentErrors rejects a negative integer or a string that is not a
// percentage ("25%").
func intOrPercentErrors(v intstr.IntOrString, path *field.Path) field.ErrorList {
	if v.Type == intstr.String {
		var errs field.ErrorList
		for _, msg := range validation.IsValidPercent(v.StrVal) {
			errs = append(errs, field.Invalid(path, v.StrVal, msg))
		}
		return errs
	}
	return apivalidation.ValidateNonnegativeField(int64(v.IntVal), path)
}

// intOrPercentValue returns the number in v, without its "%" if any; 0 for
// an invalid percentage.
func intOrPercentValue(v intstr.IntOrString) int {
	if v.Type != intstr.String {
		return int(v.IntVal)
	}
	if len(validation.IsValidPercent(v.StrVal)) != 0 {
		return 0
	}
	n, _ := strconv.Atoi(v.StrVal[:len(v.StrVal)-1])
	return n
}

// notOver100PercentErrors rejects a percentage above 100%.
func notOver100PercentErrors(v intstr.IntOrString, path *field.Path) field.ErrorList {
	if v.Type == intstr.String && len(validation.IsValidPercent(v.StrVal)) == 0 && intOrPercentValue(v) > 100 {
		return field.ErrorList{field.Invalid(path, v.StrVal, "must not be greater than 100%")}
	}
	return nil
}

// validateWorkloadSelector checks spec.selector of a workload: required,
// well formed, and not empty (an empty selector would adopt every pod in
// the namespace). It returns the parsed selector, or nil when it cannot be
// used to check the template labels.
func validateWorkloadSelector(sel *metav1.LabelSelector, kind string) (labels.Selector, field.ErrorList) {
	if sel == nil {
		return nil, field.ErrorList{field.Required(field.NewPath("spec", "selector"), "")}
	}
	errs := metav1validation.ValidateLabelSelector(sel, metav1validation.LabelSelectorValidationOptions{}, field.NewPath("spec", "selector"))
	if len(sel.MatchLabels)+len(sel.MatchExpressions) == 0 {
		errs = append(errs, field.Invalid(field.NewPath("spec", "selector"), sel, fmt.Sprintf("empty selector is invalid for %s", kind)))
	}
	parsed, err := metav1.LabelSelectorAsSelector(sel)
	if err != nil {
		return nil, append(errs, field.Invalid(field.NewPath("spec", "selector"), sel, fmt.Sprintf("invalid label selector: %v", err)))
	}
	return parsed, errs
}

// validateWorkloadTemplate checks spec.template of a workload: its labels
// are valid and matched by sel (skipped when sel is nil or empty), its
// restartPolicy is Always, it sets no activeDeadlineSeconds, and its pod
// spec is valid. Volume mounts may name a volume or one of extraVolumes
// (a StatefulSet's volume claim templates).
func validateWorkloadTemplate(t *corev1.PodTemplateSpec, sel labels.Selector, extraVolumes map[string]bool) field.ErrorList {
	labelsPath := field.NewPath("spec", "template", "metadata", "labels")
	errs := metav1validation.ValidateLabels(t.Labels, labelsPath)
	if sel != nil && !sel.Empty() && !sel.Matches(labels.Set(t.Labels)) {
		errs = append(errs, field.Invalid(labelsPath, t.Labels, "`selector` does not match template `labels`"))
	}
	podPath := field.NewPath("spec", "template", "spec")
	if t.Spec.RestartPolicy != corev1.RestartPolicyAlways {
		errs = append(errs, field.NotSupported(podPath.Child("restartPolicy"), t.Spec.RestartPolicy, []string{string(corev1.RestartPolicyAlways)}))
	}
	if len(t.Spec.EphemeralContainers) > 0 {
		errs = append(errs, field.Forbidden(podPath.Child("ephemeralContainers"), "ephemeral containers not allowed in pod template"))
	}
	if t.Spec.ActiveDeadlineSeconds != nil {
		errs = append(errs, field.Forbidden(podPath.Child("activeDeadlineSeconds"), "activeDeadlineSeconds is not supported in a pod template"))
	}
	return append(errs, podSpecErrors(&t.Spec, extraVolumes, podPath)...)
}
