package authz

import (
	"context"
	"strings"
	"testing"

	rbacv1 "k8s.io/api/rbac/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
)

func crb(name, role string, subjects ...rbacv1.Subject) *rbacv1.ClusterRoleBinding {
	return &rbacv1.ClusterRoleBinding{
		ObjectMeta: metav1.ObjectMeta{Name: name},
		RoleRef:    rbacv1.RoleRef{APIGroup: rbacGroup, Kind: "ClusterRole", Name: role},
		Subjects:   subjects,
	}
}

func rb(ns, name, kind, role string, subjects ...rbacv1.Subject) *rbacv1.RoleBinding {
	return &rbacv1.RoleBinding{
		ObjectMeta: metav1.ObjectMeta{Namespace: ns, Name: name},
		RoleRef:    rbacv1.RoleRef{APIGroup: rbacGroup, Kind: kind, Name: role},
		Subjects:   subjects,
	}
}

func nsRole(ns, name string, rules ...rbacv1.PolicyRule) *rbacv1.Role {
	return &rbacv1.Role{ObjectMeta: metav1.ObjectMeta{Namespace: ns, Name: name}, Rules: rules}
}

func as(u User, a Attributes) Attributes {
	a.User = u
	return a
}

func TestRBACBindings(t *testing.T) {
	src := &StaticSource{
		ClusterRoles: []*rbacv1.ClusterRole{
			clusterRole("pod-reader", nil, rule("get", "list").groups("").resources("pods").build()),
			clusterRole("node-reader", nil, rule("get").groups("").resources("nodes").build()),
			clusterRole("health", nil, rule("get").urls("/healthz").build()),
		},
		Roles: []*rbacv1.Role{
			nsRole("a", "cm-writer", rule("create").groups("").resources("configmaps").build()),
		},
		ClusterRoleBindings: []*rbacv1.ClusterRoleBinding{
			crb("alice-nodes", "node-reader", userSubject("alice")),
			crb("ops-pods", "pod-reader", groupSubject("ops")),
			crb("sa-health", "health", saSubject("kube-system", "prober")),
			// A ServiceAccount subject without a namespace matches nobody
			// in a ClusterRoleBinding.
			crb("sa-nons", "node-reader", saSubject("", "prober")),
			crb("dangling", "no-such-role", userSubject("dave")),
		},
		RoleBindings: []*rbacv1.RoleBinding{
			rb("a", "bob-pods", "ClusterRole", "pod-reader", userSubject("bob")),
			rb("a", "bob-cm", "Role", "cm-writer", userSubject("bob")),
			rb("a", "sa-pods", "ClusterRole", "pod-reader", saSubject("", "builder")),
			rb("a", "dangling", "Role", "no-such-role", userSubject("dave")),
		},
	}
	alice := User{Name: "alice", Groups: []string{GroupAuthenticated}}
	bob := User{Name: "bob"}
	carol := User{Name: "carol", Groups: []string{"ops"}}
	dave := User{Name: "dave"}
	prober := User{Name: ServiceAccountUser("kube-system", "prober")}
	builder := User{Name: ServiceAccountUser("a", "builder")}
	builderB := User{Name: ServiceAccountUser("b", "builder")}

	tests := []struct {
		name   string
		a      Attributes
		want   Decision
		reason string
	}{
		{"user subject", as(alice, res("get", "", "nodes", "", "", "n1")), DecisionAllow,
			`RBAC: allowed by ClusterRoleBinding "alice-nodes" of ClusterRole "node-reader" to User "alice"`},
		{"user subject other verb", as(alice, res("delete", "", "nodes", "", "", "n1")), DecisionNoOpinion, ""},
		{"user name is not a group", as(User{Name: "x", Groups: []string{"alice"}}, res("get", "", "nodes", "", "", "n1")), DecisionNoOpinion, ""},
		{"group subject", as(carol, res("list", "", "pods", "", "z", "")), DecisionAllow,
			`RBAC: allowed by ClusterRoleBinding "ops-pods" of ClusterRole "pod-reader" to Group "ops"`},
		{"cluster binding applies cluster-wide", as(carol, res("list", "", "pods", "", "", "")), DecisionAllow, ""},
		{"service account subject", as(prober, path("get", "/healthz")), DecisionAllow,
			`RBAC: allowed by ClusterRoleBinding "sa-health" of ClusterRole "health" to ServiceAccount "prober/kube-system"`},
		{"service account subject without namespace in a cluster binding", as(User{Name: ServiceAccountUser("", "prober")}, res("get", "", "nodes", "", "", "n")), DecisionNoOpinion, ""},
		{"rolebinding to clusterrole in its namespace", as(bob, res("get", "", "pods", "", "a", "p")), DecisionAllow,
			`RBAC: allowed by RoleBinding "bob-pods/a" of ClusterRole "pod-reader" to User "bob"`},
		{"rolebinding to clusterrole not in another namespace", as(bob, res("get", "", "pods", "", "b", "p")), DecisionNoOpinion, ""},
		{"rolebinding not cluster-wide", as(bob, res("list", "", "pods", "", "", "")), DecisionNoOpinion, ""},
		{"rolebinding to role", as(bob, res("create", "", "configmaps", "", "a", "")), DecisionAllow,
			`RBAC: allowed by RoleBinding "bob-cm/a" of Role "cm-writer" to User "bob"`},
		{"service account subject defaults to the binding's namespace", as(builder, res("get", "", "pods", "", "a", "p")), DecisionAllow,
			`RBAC: allowed by RoleBinding "sa-pods/a" of ClusterRole "pod-reader" to ServiceAccount "builder/a"`},
		{"service account of another namespace", as(builderB, res("get", "", "pods", "", "a", "p")), DecisionNoOpinion, ""},
		{"missing roles are skipped and reported", as(dave, res("get", "", "pods", "", "a", "p")), DecisionNoOpinion, "no-such-role"},
	}
	r := NewRBAC(src)
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			d, reason, err := r.Authorize(context.Background(), tt.a)
			if err != nil {
				t.Fatalf("Authorize: %v", err)
			}
			if d != tt.want {
				t.Errorf("decision %v, want %v (reason %q)", d, tt.want, reason)
			}
			if tt.reason != "" && !strings.Contains(reason, tt.reason) {
				t.Errorf("reason %q, want it to contain %q", reason, tt.reason)
			}
		})
	}
}

func TestRBACRulesFor(t *testing.T) {
	src := &StaticSource{
		ClusterRoles: []*rbacv1.ClusterRole{
			clusterRole("pod-reader", nil, rule("get").groups("").resources("pods").build()),
			clusterRole("health", nil, rule("get").urls("/healthz").build()),
		},
		ClusterRoleBindings: []*rbacv1.ClusterRoleBinding{
			crb("health", "health", userSubject("bob")),
		},
		RoleBindings: []*rbacv1.RoleBinding{
			rb("a", "pods", "ClusterRole", "pod-reader", userSubject("bob")),
			rb("a", "gone", "Role", "gone", userSubject("bob")),
		},
	}
	bob := User{Name: "bob"}
	tests := []struct {
		name                  string
		ns                    string
		resource, nonResource int
		incomplete            bool
	}{
		{"namespace a", "a", 1, 1, true},
		{"cluster only", "", 0, 1, false},
		{"namespace b", "b", 0, 1, false},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			r, nr, incomplete, err := NewRBAC(src).RulesFor(context.Background(), bob, tt.ns)
			if len(r) != tt.resource || len(nr) != tt.nonResource || incomplete != tt.incomplete {
				t.Errorf("got %d resource, %d non-resource rules, incomplete %v (err %v); want %d, %d, %v",
					len(r), len(nr), incomplete, err, tt.resource, tt.nonResource, tt.incomplete)
			}
			if incomplete != (err != nil) {
				t.Errorf("incomplete %v but err %v", incomplete, err)
			}
		})
	}
}
