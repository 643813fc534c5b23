package authz

import (
	"context"
	"reflect"
	"testing"

	rbacv1 "k8s.io/api/rbac/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
)

func TestAggregate(t *testing.T) {
	get := rule("get").groups("x").resources("a").build()
	list := rule("list").groups("x").resources("a").build()
	watch := rule("watch").groups("x").resources("a").build()
	target := &rbacv1.ClusterRole{
		ObjectMeta: metav1.ObjectMeta{Name: "target", Labels: map[string]string{"pick": "true"}},
		AggregationRule: &rbacv1.AggregationRule{ClusterRoleSelectors: []metav1.LabelSelector{
			{MatchLabels: map[string]string{"pick": "true"}},
			{MatchLabels: map[string]string{"also": "true"}},
		}},
		Rules: []rbacv1.PolicyRule{rule("delete").groups("old").resources("gone").build()},
	}
	all := []*rbacv1.ClusterRole{
		target,
		clusterRole("zz", map[string]string{"pick": "true"}, watch, get),
		clusterRole("aa", map[string]string{"pick": "true"}, get, list),
		clusterRole("mm", map[string]string{"also": "true", "pick": "true"}, list),
		clusterRole("other", map[string]string{"pick": "false"}, rule("*").groups("*").resources("*").build()),
	}
	got, err := Aggregate(target, all)
	if err != nil {
		t.Fatal(err)
	}
	// By selector, then by name (aa, mm, zz), each rule once; target's own
	// rules are replaced.
	want := []rbacv1.PolicyRule{get, list, watch}
	if !reflect.DeepEqual(got, want) {
		t.Errorf("Aggregate = %v, want %v", got, want)
	}
	if again, _ := Aggregate(target, []*rbacv1.ClusterRole{all[3], all[1], all[0], all[2]}); !reflect.DeepEqual(again, want) {
		t.Errorf("Aggregate depends on input order: %v", again)
	}
	if none, _ := Aggregate(all[1], all); none != nil {
		t.Errorf("Aggregate of a role without aggregation rule = %v", none)
	}
	bad := &rbacv1.ClusterRole{AggregationRule: &rbacv1.AggregationRule{ClusterRoleSelectors: []metav1.LabelSelector{
		{MatchExpressions: []metav1.LabelSelectorRequirement{{Key: "k", Operator: "Bogus"}}},
	}}}
	if _, err := Aggregate(bad, all); err == nil {
		t.Errorf("Aggregate with an invalid selector succeeded")
	}
}

// A new ClusterRole labelled aggregate-to-view reaches view, edit and
// admin; one labelled aggregate-to-edit reaches edit and admin only.
func TestAggregateBootstrapRoles(t *testing.T) {
	p := BootstrapPolicy()
	p.ClusterRoles = append(p.ClusterRoles,
		clusterRole("widgets-view", map[string]string{AggregateToView: "true"},
			rule("get", "list", "watch").groups("example.com").resources("widgets").build()),
		clusterRole("widgets-edit", map[string]string{AggregateToEdit: "true"},
			rule("create", "delete").groups("example.com").resources("widgets").build()),
	)
	src := p.Source()
	src.RoleBindings = append(src.RoleBindings,
		rb("a", "v", "ClusterRole", "view", userSubject("viewer")),
		rb("a", "e", "ClusterRole", "edit", userSubject("editor")),
		rb("a", "ad", "ClusterRole", "admin", userSubject("admin")),
	)
	r := NewRBAC(src)
	tests := []struct {
		user, verb string
		want       bool
	}{
		{"viewer", "list", true},
		{"editor", "list", true},
		{"admin", "list", true},
		{"viewer", "create", false},
		{"editor", "create", true},
		{"admin", "delete", true},
		{"nobody", "list", false},
	}
	for _, tt := range tests {
		t.Run(tt.user+" "+tt.verb, func(t *testing.T) {
			d, reason, _ := r.Authorize(context.Background(), as(User{Name: tt.user}, res(tt.verb, "example.com", "widgets", "", "a", "")))
			if got := d == DecisionAllow; got != tt.want {
				t.Errorf("allowed %v, want %v (%s)", got, tt.want, reason)
			}
		})
	}
}
