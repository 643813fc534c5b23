package authz

import (
	rbacv1 "k8s.io/api/rbac/v1"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
)

// Source gives the RBAC authorizer the roles and bindings it decides by.
// The server backs it with its object cache; StaticSource backs it with
// slices. Returned objects are shared and must not be modified.
type Source interface {
	// GetClusterRole returns the named ClusterRole, or an error for which
	// apierrors.IsNotFound is true when there is none.
	GetClusterRole(name string) (*rbacv1.ClusterRole, error)
	// GetRole returns the named Role, or a NotFound error.
	GetRole(namespace, name string) (*rbacv1.Role, error)
	ListClusterRoleBindings() ([]*rbacv1.ClusterRoleBinding, error)
	// ListRoleBindings returns the RoleBindings of one namespace.
	ListRoleBindings(namespace string) ([]*rbacv1.RoleBinding, error)
}

// StaticSource is a Source over fixed slices, for tests and for the
// bootstrap policy. Its zero value is an empty policy. It is safe for
// concurrent reads; do not change its slices while it is in use.
type StaticSource struct {
	ClusterRoles        []*rbacv1.ClusterRole
	Roles               []*rbacv1.Role
	ClusterRoleBindings []*rbacv1.ClusterRoleBinding
	RoleBindings        []*rbacv1.RoleBinding
}

var _ Source = (*StaticSource)(nil)

// GetClusterRole implements Source.
func (s *StaticSource) GetClusterRole(name string) (*rbacv1.ClusterRole, error) {
	for _, r := range s.ClusterRoles {
		if r.Name == name {
			return r, nil
		}
	}
	return nil, apierrors.NewNotFound(rbacv1.Resource("clusterroles"), name)
}

// GetRole implements Source.
func (s *StaticSource) GetRole(namespace, name string) (*rbacv1.Role, error) {
	for _, r := range s.Roles {
		if r.Namespace == namespace && r.Name == name {
			return r, nil
		}
	}
	return nil, apierrors.NewNotFound(rbacv1.Resource("roles"), name)
}

// ListClusterRoleBindings implements Source.
func (s *StaticSource) ListClusterRoleBindings() ([]*rbacv1.ClusterRoleBinding, error) {
	return s.ClusterRoleBindings, nil
}

// ListRoleBindings implements Source.
func (s *StaticSource) ListRoleBindings(namespace string) ([]*rbacv1.RoleBinding, error) {
	var out []*rbacv1.RoleBinding
	for _, b := range s.RoleBindings {
		if b.Namespace == namespace {
			out = append(out, b)
		}
	}
	return out, nil
}
