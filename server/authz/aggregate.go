package authz

import (
	"fmt"
	"slices"
	"strings"

	rbacv1 "k8s.io/api/rbac/v1"
	"k8s.io/apimachinery/pkg/api/equality"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/labels"
)

// Aggregate returns the rules target should hold by its AggregationRule,
// as upstream's clusterroleaggregation controller computes them: for each
// selector in order, the ClusterRoles of all that match it (target
// itself excluded), sorted by name, contribute their rules in order,
// each rule kept once. It returns nil when target has no aggregation
// rule, and an error when a selector is invalid. all is not modified;
// the rules returned are copies.
func Aggregate(target *rbacv1.ClusterRole, all []*rbacv1.ClusterRole) ([]rbacv1.PolicyRule, error) {
	if target.AggregationRule == nil {
		return nil, nil
	}
	sorted := slices.Clone(all)
	slices.SortFunc(sorted, func(a, b *rbacv1.ClusterRole) int { return strings.Compare(a.Name, b.Name) })
	var rules []rbacv1.PolicyRule
	for i := range target.AggregationRule.ClusterRoleSelectors {
		sel, err := metav1.LabelSelectorAsSelector(&target.AggregationRule.ClusterRoleSelectors[i])
		if err != nil {
			return nil, fmt.Errorf("clusterrole %s: aggregation selector %d: %w", target.Name, i, err)
		}
		for _, role := range sorted {
			if role.Name == target.Name || !sel.Matches(labels.Set(role.Labels)) {
				continue
			}
			for _, r := range role.Rules {
				if !slices.ContainsFunc(rules, func(have rbacv1.PolicyRule) bool { return equality.Semantic.DeepEqual(have, r) }) {
					rules = append(rules, *r.DeepCopy())
				}
			}
		}
	}
	return rules, nil
}

// AggregateAll sets the rules of every aggregated ClusterRole in roles by
// Aggregate, repeating until nothing changes, so that a role aggregating
// another aggregated role (admin picks up edit, edit picks up view) holds
// the final rules, as the controller reaches after a few passes. It
// modifies the roles in place; give it copies of shared objects.
func AggregateAll(roles []*rbacv1.ClusterRole) error {
	// Each pass can only propagate rules one level further; more passes
	// than roles means a cycle that keeps changing, which cannot happen
	// because rules only accumulate.
	for pass := 0; pass <= len(roles); pass++ {
		changed := false
		for _, role := range roles {
			if role.AggregationRule == nil {
				continue
			}
			rules, err := Aggregate(role, roles)
			if err != nil {
				return err
			}
			if !equality.Semantic.DeepEqual(rules, role.Rules) {
				role.Rules = rules
				changed = true
			}
		}
		if !changed {
			return nil
		}
	}
	return fmt.Errorf("cluster role aggregation does not settle")
}
