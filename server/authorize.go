package server

import (
	"context"
	"encoding/json"
	"fmt"
	"net/http"
	"strings"
	"sync"
	"sync/atomic"

	corev1 "k8s.io/api/core/v1"
	rbacv1 "k8s.io/api/rbac/v1"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	"k8s.io/apimachinery/pkg/fields"
	"k8s.io/apimachinery/pkg/runtime/schema"

	"github.com/sqlkube/sqlkube/server/authz"
	"github.com/sqlkube/sqlkube/storage"
)

// Authorization is kube-apiserver's --authorization-mode=Node,RBAC behind
// the privileged group: system:masters may do anything; a node agent
// (system:node:NAME in system:nodes) is decided first by the node
// authorizer, which lets it read only what the pods bound to it use; then
// every request by the Roles, ClusterRoles and bindings in the store. What
// none allows is forbidden.

// The RBAC resources, as the store names them.
const (
	storeClusterRoles        = "clusterroles.rbac.authorization.k8s.io"
	storeRoles               = "roles.rbac.authorization.k8s.io"
	storeClusterRoleBindings = "clusterrolebindings.rbac.authorization.k8s.io"
	storeRoleBindings        = "rolebindings.rbac.authorization.k8s.io"
)

// authorizer decides requests over the store.
type authorizer struct {
	st   *storage.Store
	rbac *rbacSource
}

func newAuthorizer(st *storage.Store) *authorizer {
	return &authorizer{st: st, rbac: newRBACSource(st)}
}

// decide answers whether a is allowed, and why.
func (az *authorizer) decide(ctx context.Context, a authz.Attributes) (bool, string, error) {
	if a.User.InGroup(groupMasters) {
		return true, "allowed as a member of " + groupMasters, nil
	}
	if _, ok := a.User.NodeName(); ok {
		d, reason, err := authz.NewNode(&nodeGraph{ctx: ctx, st: az.st}).Authorize(ctx, a)
		if err != nil || d != authz.DecisionNoOpinion {
			return d == authz.DecisionAllow, reason, err
		}
	}
	view, err := az.rbac.current(ctx, false)
	if err != nil {
		return false, "", err
	}
	d, reason, _ := authz.NewRBAC(view).Authorize(ctx, a)
	if d == authz.DecisionAllow {
		return true, reason, nil
	}
	// The view may lag a binding just written, through this server or
	// another: before refusing, read the RBAC objects as the store has
	// them now.
	fresh, err := az.rbac.current(ctx, true)
	if err != nil || fresh == view {
		return false, reason, err
	}
	d, reason, _ = authz.NewRBAC(fresh).Authorize(ctx, a)
	return d == authz.DecisionAllow, reason, nil
}

// rulesFor answers a rules review: what u may do in namespace, as far as
// RBAC tells (a node's reads through its pods are not rules).
func (az *authorizer) rulesFor(ctx context.Context, u user, namespace string) (resource, nonResource []rbacv1.PolicyRule, incomplete bool, err error) {
	if u.InGroup(groupMasters) {
		all := []rbacv1.PolicyRule{{Verbs: []string{"*"}, APIGroups: []string{"*"}, Resources: []string{"*"}}}
		return all, []rbacv1.PolicyRule{{Verbs: []string{"*"}, NonResourceURLs: []string{"*"}}}, false, nil
	}
	view, err := az.rbac.current(ctx, false)
	if err != nil {
		return nil, nil, true, err
	}
	return authz.NewRBAC(view).RulesFor(ctx, u, namespace)
}

// authorize refuses a with 403 unless an authorizer allows it.
func (s *Server) authorize(ctx context.Context, a authz.Attributes) error {
	ok, reason, err := s.authz.decide(ctx, a)
	if err != nil {
		return apierrors.NewInternalError(fmt.Errorf("authorize: %w", err))
	}
	if !ok {
		return forbidden(a, reason)
	}
	return nil
}

// forbidden is the 403 of a refused request, in kube-apiserver's words:
// `pods is forbidden: User "x" cannot list resource "pods" in API group
// "" in the namespace "default"`.
func forbidden(a authz.Attributes, reason string) error {
	var msg string
	var gr schema.GroupResource
	if a.ResourceRequest {
		resource := a.Resource
		if a.Subresource != "" {
			resource += "/" + a.Subresource
		}
		gr = schema.GroupResource{Group: a.APIGroup, Resource: resource}
		msg = fmt.Sprintf("User %q cannot %s resource %q in API group %q", a.User.Name, a.Verb, resource, a.APIGroup)
		if a.Namespace != "" {
			msg += fmt.Sprintf(" in the namespace %q", a.Namespace)
		} else {
			msg += " at the cluster scope"
		}
	} else {
		msg = fmt.Sprintf("User %q cannot %s path %q", a.User.Name, a.Verb, a.Path)
	}
	if reason != "" {
		msg += ": " + reason
	}
	return apierrors.NewForbidden(gr, a.Name, fmt.Errorf("%s", msg))
}

// resourceAttributes describes a resource request for the authorizers. A
// list or watch of one object by the field selector metadata.name names
// that object, as kube-apiserver does (a node agent watches each Secret
// it uses so).
func resourceAttributes(u user, verb string, ri requestInfo, r *http.Request) authz.Attributes {
	a := authz.Attributes{
		User: u, Verb: verb, ResourceRequest: true,
		APIGroup: ri.group, APIVersion: ri.version, Resource: ri.resource, Subresource: ri.subresource,
		Namespace: ri.namespace, Name: ri.name,
	}
	if (verb == "list" || verb == "watch") && a.Name == "" {
		if fs, err := fields.ParseSelector(r.URL.Query().Get("fieldSelector")); err == nil {
			if name, ok := fs.RequiresExactMatch("metadata.name"); ok {
				a.Name = name
			}
		}
	}
	return a
}

// nonResourceAttributes describes a request for a path that is not an
// API object (discovery, /metrics, /debug/pprof/).
func nonResourceAttributes(u user, r *http.Request) authz.Attributes {
	verb := strings.ToLower(r.Method)
	if verb == "head" {
		verb = "get"
	}
	return authz.Attributes{User: u, Verb: verb, Path: r.URL.Path}
}

// rbacSource is the authorizer's view of the RBAC objects: decoded and in
// memory, rebuilt from the store's list cache when one of the four
// resources changed. Finding that nothing changed reads memory only.
type rbacSource struct {
	st   *storage.Store
	mu   sync.Mutex // held while the view is rebuilt
	view atomic.Pointer[rbacView]
	// The mirrors the view is built from, used with mu held.
	clusterRoles        mirror[*rbacv1.ClusterRole]
	roles               mirror[*rbacv1.Role]
	clusterRoleBindings mirror[*rbacv1.ClusterRoleBinding]
	roleBindings        mirror[*rbacv1.RoleBinding]
}

func newRBACSource(st *storage.Store) *rbacSource {
	return &rbacSource{
		st:                  st,
		clusterRoles:        mirror[*rbacv1.ClusterRole]{resource: storeClusterRoles},
		roles:               mirror[*rbacv1.Role]{resource: storeRoles},
		clusterRoleBindings: mirror[*rbacv1.ClusterRoleBinding]{resource: storeClusterRoleBindings},
		roleBindings:        mirror[*rbacv1.RoleBinding]{resource: storeRoleBindings},
	}
}

// current returns the view: as the list cache has the objects, or, with
// consistent, as the database has them now.
func (s *rbacSource) current(ctx context.Context, consistent bool) (*rbacView, error) {
	v := s.view.Load()
	if v != nil && !consistent && !v.stale(s.st) {
		return v, nil
	}
	s.mu.Lock()
	defer s.mu.Unlock()
	if v2 := s.view.Load(); v2 != v && !consistent {
		return v2, nil // another request rebuilt it meanwhile
	}
	changed := false
	for _, refresh := range []func(context.Context, *storage.Store, bool) (bool, error){
		s.clusterRoles.refresh, s.roles.refresh, s.clusterRoleBindings.refresh, s.roleBindings.refresh,
	} {
		c, err := refresh(ctx, s.st, consistent)
		if err != nil {
			return nil, fmt.Errorf("read the RBAC policy: %w", err)
		}
		changed = changed || c
	}
	revs := [4]int64{s.clusterRoles.rev, s.roles.rev, s.clusterRoleBindings.rev, s.roleBindings.rev}
	if v = s.view.Load(); v != nil && !changed && v.revs == revs {
		return v, nil
	}
	v = &rbacView{
		revs:         revs,
		clusterRoles: map[string]*rbacv1.ClusterRole{}, roles: map[storage.Key]*rbacv1.Role{},
		roleBindings: map[string][]*rbacv1.RoleBinding{},
	}
	for k, m := range s.clusterRoles.items {
		v.clusterRoles[k.Name] = m.obj
	}
	for k, m := range s.roles.items {
		v.roles[storage.Key{Namespace: k.Namespace, Name: k.Name}] = m.obj
	}
	for _, m := range s.clusterRoleBindings.items {
		v.clusterRoleBindings = append(v.clusterRoleBindings, m.obj)
	}
	for k, m := range s.roleBindings.items {
		v.roleBindings[k.Namespace] = append(v.roleBindings[k.Namespace], m.obj)
	}
	s.view.Store(v)
	return v, nil
}

// rbacResources are the resources a view is built from, in the order of
// its revs.
var rbacResources = [4]string{storeClusterRoles, storeRoles, storeClusterRoleBindings, storeRoleBindings}

// rbacView is one state of the RBAC objects, for authz.NewRBAC. It is
// never changed once built.
type rbacView struct {
	// revs are the list cache's revisions of rbacResources the view was
	// read at (-1: the resource was not cached yet).
	revs                [4]int64
	clusterRoles        map[string]*rbacv1.ClusterRole
	roles               map[storage.Key]*rbacv1.Role // by namespace and name
	clusterRoleBindings []*rbacv1.ClusterRoleBinding
	roleBindings        map[string][]*rbacv1.RoleBinding // by namespace
}

// stale reports whether the list cache has changes the view lacks; it
// reads memory only.
func (v *rbacView) stale(st *storage.Store) bool {
	for i, res := range rbacResources {
		if rev, ok := st.ResourceRevision(res); !ok || rev != v.revs[i] {
			return true
		}
	}
	return false
}

func (v *rbacView) GetClusterRole(name string) (*rbacv1.ClusterRole, error) {
	if r, ok := v.clusterRoles[name]; ok {
		return r, nil
	}
	return nil, apierrors.NewNotFound(rbacv1.Resource("clusterroles"), name)
}

func (v *rbacView) GetRole(namespace, name string) (*rbacv1.Role, error) {
	if r, ok := v.roles[storage.Key{Namespace: namespace, Name: name}]; ok {
		return r, nil
	}
	return nil, apierrors.NewNotFound(rbacv1.Resource("roles"), name)
}

func (v *rbacView) ListClusterRoleBindings() ([]*rbacv1.ClusterRoleBinding, error) {
	return v.clusterRoleBindings, nil
}

func (v *rbacView) ListRoleBindings(namespace string) ([]*rbacv1.RoleBinding, error) {
	return v.roleBindings[namespace], nil
}

// mirror holds the decoded objects of one resource as the store's list
// cache has them; refresh rebuilds it when the resource changed, decoding
// only the objects that did.
type mirror[T any] struct {
	resource string
	// rev is the resource's revision in the list cache when the items
	// were read; -1 when it was not cached then.
	rev   int64
	items map[storage.Key]mirrored[T]
}

type mirrored[T any] struct {
	revision int64
	obj      T
}

// refresh reads the resource again when it changed, or always with
// consistent (the list is then as of the database's current revision).
func (m *mirror[T]) refresh(ctx context.Context, st *storage.Store, consistent bool) (bool, error) {
	// The revision is read before the list, which is at least as new: a
	// change between the two makes the next call read again.
	rev, ok := st.ResourceRevision(m.resource)
	if !ok {
		rev = -1
	}
	if !consistent && m.items != nil && ok && rev == m.rev {
		return false, nil
	}
	l, err := st.List(ctx, storage.ListOptions{Resource: m.resource})
	if err != nil {
		return false, err
	}
	changed := len(l.Items) != len(m.items)
	items := make(map[storage.Key]mirrored[T], len(l.Items))
	for _, o := range l.Items {
		if old, ok := m.items[o.Key]; ok && old.revision == o.Revision {
			items[o.Key] = old
			continue
		}
		var obj T
		if err := json.Unmarshal(o.Value, &obj); err != nil {
			return false, fmt.Errorf("decode %s: %w", o.Key, err)
		}
		items[o.Key] = mirrored[T]{revision: o.Revision, obj: obj}
		changed = true
	}
	m.items, m.rev = items, rev
	return changed, nil
}

// nodeGraph answers the node authorizer from the store: the pods bound to
// a node, read consistently (a pod bound a moment ago counts).
type nodeGraph struct {
	ctx context.Context
	st  *storage.Store
}

func (g *nodeGraph) PodsOnNode(node string) ([]*corev1.Pod, error) {
	l, err := g.st.List(g.ctx, storage.ListOptions{Resource: "pods"})
	if err != nil {
		return nil, err
	}
	var pods []*corev1.Pod
	for _, o := range l.Items {
		// Only the pods of this node are decoded.
		if n, _ := jsonString(o.Value, "spec", "nodeName"); n != node {
			continue
		}
		pod := &corev1.Pod{}
		if err := json.Unmarshal(o.Value, pod); err != nil {
			return nil, fmt.Errorf("decode %s: %w", o.Key, err)
		}
		pods = append(pods, pod)
	}
	return pods, nil
}

func (g *nodeGraph) GetPersistentVolumeClaim(namespace, name string) (*corev1.PersistentVolumeClaim, error) {
	o, err := g.st.Get(g.ctx, storage.Key{Resource: "persistentvolumeclaims", Namespace: namespace, Name: name})
	if err != nil {
		return nil, storageError(err, corev1.Resource("persistentvolumeclaims"), name)
	}
	claim := &corev1.PersistentVolumeClaim{}
	if err := json.Unmarshal(o.Value, claim); err != nil {
		return nil, fmt.Errorf("decode %s: %w", o.Key, err)
	}
	return claim, nil
}
