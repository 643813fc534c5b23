package authz

import (
	"context"
	"errors"
	"testing"

	rbacv1 "k8s.io/api/rbac/v1"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
)

func TestEscalation(t *testing.T) {
	getPods := rule("get").groups("").resources("pods").build()
	deletePods := rule("delete").groups("").resources("pods").build()
	getSecrets := rule("get").groups("").resources("secrets").build()
	src := &StaticSource{
		ClusterRoles: []*rbacv1.ClusterRole{
			clusterRole("pod-getter", nil, getPods),
			clusterRole("pod-deleter", nil, deletePods),
			clusterRole("bind-pod-deleter", nil, rule("bind").groups(rbacGroup).resources("clusterroles").names("pod-deleter").build()),
			clusterRole("role-escalator", nil, rule("escalate").groups(rbacGroup).resources("roles").build()),
			clusterRole("role-writer", nil, rule("create", "update").groups(rbacGroup).resources("roles", "rolebindings").build()),
		},
		Roles: []*rbacv1.Role{
			nsRole("a", "pod-deleter", deletePods),
		},
		RoleBindings: []*rbacv1.RoleBinding{
			rb("a", "getter", "ClusterRole", "pod-getter", userSubject("u"), userSubject("esc"), userSubject("binder")),
			rb("a", "escalator", "ClusterRole", "role-escalator", userSubject("esc")),
			rb("a", "binder", "ClusterRole", "bind-pod-deleter", userSubject("binder")),
		},
	}
	r := NewRBAC(src)
	ctx := context.Background()
	u := User{Name: "u"}
	esc := User{Name: "esc"}
	binder := User{Name: "binder"}
	master := User{Name: "root", Groups: []string{GroupMasters}}
	ref := func(kind, name string) rbacv1.RoleRef {
		return rbacv1.RoleRef{APIGroup: rbacGroup, Kind: kind, Name: name}
	}

	t.Run("ConfirmNoEscalation", func(t *testing.T) {
		tests := []struct {
			name   string
			u      User
			ns     string
			rules  []rbacv1.PolicyRule
			wantOK bool
		}{
			{"rules held", u, "a", []rbacv1.PolicyRule{getPods}, true},
			{"rule not held", u, "a", []rbacv1.PolicyRule{deletePods}, false},
			{"one of two not held", u, "a", []rbacv1.PolicyRule{getPods, getSecrets}, false},
			{"held only in another namespace", u, "b", []rbacv1.PolicyRule{getPods}, false},
			{"nothing", u, "a", nil, true},
		}
		for _, tt := range tests {
			t.Run(tt.name, func(t *testing.T) {
				err := ConfirmNoEscalation(ctx, r, tt.u, tt.ns, tt.rules)
				if (err == nil) != tt.wantOK {
					t.Fatalf("err = %v, want ok %v", err, tt.wantOK)
				}
				if err != nil && !errors.Is(err, ErrEscalation) {
					t.Errorf("err %v does not wrap ErrEscalation", err)
				}
			})
		}
	})

	t.Run("AuthorizeRoleWrite", func(t *testing.T) {
		tests := []struct {
			name   string
			u      User
			kind   string
			ns     string
			rules  []rbacv1.PolicyRule
			wantOK bool
		}{
			{"Role with held get pods", u, "Role", "a", []rbacv1.PolicyRule{getPods}, true},
			{"Role with delete pods not held", u, "Role", "a", []rbacv1.PolicyRule{deletePods}, false},
			{"escalate verb lets it through", esc, "Role", "a", []rbacv1.PolicyRule{deletePods, getSecrets}, true},
			{"escalate on roles is not on clusterroles", esc, "ClusterRole", "", []rbacv1.PolicyRule{deletePods}, false},
			{"ClusterRole needs cluster-wide rules", u, "ClusterRole", "", []rbacv1.PolicyRule{getPods}, false},
			{"masters pass", master, "ClusterRole", "", []rbacv1.PolicyRule{rule("*").groups("*").resources("*").build()}, true},
		}
		for _, tt := range tests {
			t.Run(tt.name, func(t *testing.T) {
				err := AuthorizeRoleWrite(ctx, r, r, tt.u, tt.kind, tt.ns, "new", tt.rules)
				if (err == nil) != tt.wantOK {
					t.Fatalf("err = %v, want ok %v", err, tt.wantOK)
				}
				if err != nil && !apierrors.IsForbidden(err) {
					t.Errorf("err %v is not Forbidden", err)
				}
			})
		}
	})

	t.Run("AuthorizeBindingWrite", func(t *testing.T) {
		tests := []struct {
			name   string
			u      User
			ns     string
			ref    rbacv1.RoleRef
			wantOK bool
		}{
			{"ClusterRole whose rules are held", u, "a", ref("ClusterRole", "pod-getter"), true},
			{"ClusterRole whose rules are not held", u, "a", ref("ClusterRole", "pod-deleter"), false},
			{"Role whose rules are not held", u, "a", ref("Role", "pod-deleter"), false},
			{"bind verb on the ClusterRole", binder, "a", ref("ClusterRole", "pod-deleter"), true},
			{"bind verb is per role name", binder, "a", ref("ClusterRole", "role-writer"), false},
			{"bind verb is per namespace", binder, "b", ref("ClusterRole", "pod-deleter"), false},
			{"ClusterRoleBinding needs cluster-wide rules", u, "", ref("ClusterRole", "pod-getter"), false},
			{"missing role", u, "a", ref("ClusterRole", "nope"), false},
			{"masters pass", master, "", ref("ClusterRole", "pod-deleter"), true},
		}
		for _, tt := range tests {
			t.Run(tt.name, func(t *testing.T) {
				err := AuthorizeBindingWrite(ctx, r, r, src, tt.u, tt.ns, "new", tt.ref)
				if (err == nil) != tt.wantOK {
					t.Fatalf("err = %v, want ok %v", err, tt.wantOK)
				}
				if err != nil && !apierrors.IsForbidden(err) {
					t.Errorf("err %v is not Forbidden", err)
				}
			})
		}
	})
}

// An editor cannot grant itself what edit lacks.
func TestEscalationBootstrapEdit(t *testing.T) {
	src := bootstrapWith(nil, []*rbacv1.RoleBinding{rb("a", "editor", "ClusterRole", "edit", userSubject("editor"))})
	r := NewRBAC(src)
	editor := User{Name: "editor", Groups: []string{GroupAuthenticated}}
	ctx := context.Background()
	if err := AuthorizeRoleWrite(ctx, r, r, editor, "Role", "a", "x", []rbacv1.PolicyRule{rule("get", "delete").groups("").resources("secrets").build()}); err != nil {
		t.Errorf("editor granting secrets get/delete it holds: %v", err)
	}
	if err := AuthorizeRoleWrite(ctx, r, r, editor, "Role", "a", "x", []rbacv1.PolicyRule{rule("create").groups(rbacGroup).resources("rolebindings").build()}); err == nil {
		t.Errorf("editor granted rolebindings create, which edit lacks")
	}
	if err := AuthorizeBindingWrite(ctx, r, r, src, editor, "a", "x", rbacv1.RoleRef{APIGroup: rbacGroup, Kind: "ClusterRole", Name: "admin"}); err == nil {
		t.Errorf("editor bound admin")
	}
	if err := AuthorizeBindingWrite(ctx, r, r, src, editor, "a", "x", rbacv1.RoleRef{APIGroup: rbacGroup, Kind: "ClusterRole", Name: "view"}); err != nil {
		t.Errorf("editor binding view, which edit covers: %v", err)
	}
}
