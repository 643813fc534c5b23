package registry

import (
	"fmt"

	policyv1 "k8s.io/api/policy/v1"
	apivalidation "k8s.io/apimachinery/pkg/api/validation"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	metav1validation "k8s.io/apimachinery/pkg/apis/meta/v1/validation"
	"k8s.io/apimachinery/pkg/runtime"
	"k8s.io/apimachinery/pkg/util/intstr"
	"k8s.io/apimachinery/pkg/util/validation"
	"k8s.io/apimachinery/pkg/util/validation/field"
)

// policyResources returns policy/v1 poddisruptionbudgets. Their status is
// kept by the disruption controller and read by the pods/eviction
// subresource, which refuses evictions the budget does not allow.
func policyResources() []*Resource {
	return []*Resource{{
		Group: "policy", Version: "v1", Resource: "poddisruptionbudgets",
		Kind: "PodDisruptionBudget", ListKind: "PodDisruptionBudgetList",
		Namespaced:   true,
		ShortNames:   []string{"pdb"},
		Subresources: []string{"status"},
		New:          func() runtime.Object { return &policyv1.PodDisruptionBudget{} },
		NewList:      func() runtime.Object { return &policyv1.PodDisruptionBudgetList{} },
		PrepareForCreate: func(obj runtime.Object) {
			obj.(*policyv1.PodDisruptionBudget).Status = policyv1.PodDisruptionBudgetStatus{}
		},
		PrepareForUpdate: func(obj, old runtime.Object) {
			obj.(*policyv1.PodDisruptionBudget).Status = old.(*policyv1.PodDisruptionBudget).Status
		},
		PrepareForStatusUpdate: func(obj, old runtime.Object) {
			p, o := obj.(*policyv1.PodDisruptionBudget), old.(*policyv1.PodDisruptionBudget)
			p.Spec = o.Spec
			p.Labels = o.Labels
		},
		Validate: func(obj runtime.Object) field.ErrorList {
			p := obj.(*policyv1.PodDisruptionBudget)
			errs := validateObjectName(p.Name, apivalidation.NameIsDNSSubdomain)
			return append(errs, validatePDBSpec(&p.Spec)...)
		},
		ValidateUpdate: func(obj, _ runtime.Object) field.ErrorList {
			p := obj.(*policyv1.PodDisruptionBudget)
			return append(validatePDBSpec(&p.Spec), validatePDBStatus(&p.Status)...)
		},
		Columns: []metav1.TableColumnDefinition{
			coreNameColumn(),
			{Name: "Min Available", Type: "string", Description: "The minimum number of pods that must be available."},
			{Name: "Max Unavailable", Type: "string", Description: "The maximum number of pods that may be unavailable."},
			{Name: "Allowed Disruptions", Type: "integer", Description: "Calculated number of pods that may be disrupted at this time."},
			coreAgeColumn(),
		},
		Row: func(obj runtime.Object) []any {
			p := obj.(*policyv1.PodDisruptionBudget)
			minAvailable, maxUnavailable := "N/A", "N/A"
			if p.Spec.MinAvailable != nil {
				minAvailable = p.Spec.MinAvailable.String()
			}
			if p.Spec.MaxUnavailable != nil {
				maxUnavailable = p.Spec.MaxUnavailable.String()
			}
			return []any{p.Name, minAvailable, maxUnavailable, int64(p.Status.DisruptionsAllowed), age(p.CreationTimestamp)}
		},
	}}
}

// validatePDBSpec checks what kube-apiserver checks: at most one of
// minAvailable and maxUnavailable, each a non-negative integer or a
// percentage of at most 100%, a valid selector and a known unhealthy pod
// eviction policy.
func validatePDBSpec(s *policyv1.PodDisruptionBudgetSpec) field.ErrorList {
	spec := field.NewPath("spec")
	var errs field.ErrorList
	if s.MinAvailable != nil && s.MaxUnavailable != nil {
		errs = append(errs, field.Invalid(spec, s, "minAvailable and maxUnavailable cannot be both set"))
	}
	errs = append(errs, validateIntOrPercent(s.MinAvailable, spec.Child("minAvailable"))...)
	errs = append(errs, validateIntOrPercent(s.MaxUnavailable, spec.Child("maxUnavailable"))...)
	if s.Selector != nil {
		errs = append(errs, metav1validation.ValidateLabelSelector(s.Selector, metav1validation.LabelSelectorValidationOptions{}, spec.Child("selector"))...)
	}
	if p := s.UnhealthyPodEvictionPolicy; p != nil && *p != policyv1.IfHealthyBudget && *p != policyv1.AlwaysAllow {
		errs = append(errs, field.NotSupported(spec.Child("unhealthyPodEvictionPolicy"), *p,
			[]string{string(policyv1.IfHealthyBudget), string(policyv1.AlwaysAllow)}))
	}
	return errs
}

// validateIntOrPercent accepts nil, an integer >= 0, or "N%" with N at
// most 100.
func validateIntOrPercent(v *intstr.IntOrString, path *field.Path) field.ErrorList {
	if v == nil {
		return nil
	}
	switch v.Type {
	case intstr.Int:
		return apivalidation.ValidateNonnegativeField(int64(v.IntVal), path)
	case intstr.String:
		if len(validation.IsValidPercent(v.StrVal)) > 0 {
			return field.ErrorList{field.Invalid(path, v.StrVal, "must be an integer or percentage (e.g '5%')")}
		}
		var n int
		if _, err := fmt.Sscanf(v.StrVal, "%d%%", &n); err != nil || n > 100 {
			return field.ErrorList{field.Invalid(path, v.StrVal, "must not be greater than 100%")}
		}
	}
	return nil
}

// validatePDBStatus keeps the counts the controller writes non-negative
// (disruptionsAllowed too: the eviction subresource decrements it).
func validatePDBStatus(s *policyv1.PodDisruptionBudgetStatus) field.ErrorList {
	return nonNegativeErrors(field.NewPath("status"), map[string]int64{
		"disruptionsAllowed": int64(s.DisruptionsAllowed), "currentHealthy": int64(s.CurrentHealthy),
		"desiredHealthy": int64(s.DesiredHealthy), "expectedPods": int64(s.ExpectedPods),
	})
}
