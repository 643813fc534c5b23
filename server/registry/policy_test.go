package registry

import (
	"testing"

	policyv1 "k8s.io/api/policy/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/util/intstr"
)

func TestPodDisruptionBudgetRules(t *testing.T) {
	r := policyResources()[0]
	sel := &metav1.LabelSelector{MatchLabels: map[string]string{"app": "web"}}
	pct := func(s string) *intstr.IntOrString { v := intstr.FromString(s); return &v }
	num := func(n int32) *intstr.IntOrString { v := intstr.FromInt32(n); return &v }
	for _, tt := range []struct {
		name  string
		spec  policyv1.PodDisruptionBudgetSpec
		field string // "" for valid
	}{
		{"minAvailable", policyv1.PodDisruptionBudgetSpec{MinAvailable: num(2), Selector: sel}, ""},
		{"maxUnavailable percent", policyv1.PodDisruptionBudgetSpec{MaxUnavailable: pct("25%"), Selector: sel}, ""},
		{"neither (a budget of nothing)", policyv1.PodDisruptionBudgetSpec{Selector: sel}, ""},
		{"both", policyv1.PodDisruptionBudgetSpec{MinAvailable: num(1), MaxUnavailable: num(1)}, "spec"},
		{"negative", policyv1.PodDisruptionBudgetSpec{MinAvailable: num(-1)}, "spec.minAvailable"},
		{"over 100%", policyv1.PodDisruptionBudgetSpec{MaxUnavailable: pct("101%")}, "spec.maxUnavailable"},
		{"not a percentage", policyv1.PodDisruptionBudgetSpec{MinAvailable: pct("half")}, "spec.minAvailable"},
		{"bad selector", policyv1.PodDisruptionBudgetSpec{Selector: &metav1.LabelSelector{MatchLabels: map[string]string{"a b": "c"}}}, "spec.selector.matchLabels"},
		{"unknown policy", policyv1.PodDisruptionBudgetSpec{UnhealthyPodEvictionPolicy: new(policyv1.UnhealthyPodEvictionPolicyType("Sometimes"))}, "spec.unhealthyPodEvictionPolicy"},
	} {
		t.Run(tt.name, func(t *testing.T) {
			errs := r.Validate(&policyv1.PodDisruptionBudget{ObjectMeta: metav1.ObjectMeta{Name: "web"}, Spec: tt.spec})
			if tt.field == "" && len(errs) > 0 || tt.field != "" && (len(errs) != 1 || errs[0].Field != tt.field) {
				t.Errorf("errors %v, want %q", errs, tt.field)
			}
		})
	}

	pdb := &policyv1.PodDisruptionBudget{ObjectMeta: metav1.ObjectMeta{Name: "web"},
		Spec:   policyv1.PodDisruptionBudgetSpec{MaxUnavailable: pct("25%")},
		Status: policyv1.PodDisruptionBudgetStatus{DisruptionsAllowed: 2}}
	row := r.Row(pdb)
	if len(row) != len(r.Columns) || row[1] != "N/A" || row[2] != "25%" || row[3] != int64(2) {
		t.Errorf("row %v, want web N/A 25%% 2 AGE", row)
	}
}
