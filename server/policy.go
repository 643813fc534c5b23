package server

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"reflect"
	"slices"
	"time"

	rbacv1 "k8s.io/api/rbac/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/runtime"
	"k8s.io/apimachinery/pkg/types"
	"k8s.io/apimachinery/pkg/util/uuid"

	"github.com/sqlkube/sqlkube/server/authz"
	"github.com/sqlkube/sqlkube/storage"
)

// The default RBAC policy is Kubernetes' bootstrap policy (authz), written
// at every start as kube-apiserver reconciles it: a missing object is
// created; one annotated rbac.authorization.kubernetes.io/autoupdate=true
// gets back the rules and subjects the policy has and it lost, keeping what
// an administrator added. An administrator who sets autoupdate to false
// keeps the object as it is.

const autoupdateAnnotation = "rbac.authorization.kubernetes.io/autoupdate"

// bootstrapPolicy writes the default policy, then aggregates the
// aggregated ClusterRoles (admin, edit, view), so that a binding to view
// grants its rules as soon as the server answers.
func (s *Server) bootstrapPolicy(ctx context.Context) error {
	ctx = storage.WithActor(ctx, "system:apiserver")
	p := authz.BootstrapPolicy()
	for _, r := range p.ClusterRoles {
		if err := s.reconcilePolicyObject(ctx, storage.Key{Resource: storeClusterRoles, Name: r.Name}, r, &rbacv1.ClusterRole{}); err != nil {
			return err
		}
	}
	for _, r := range p.Roles {
		if err := s.reconcilePolicyObject(ctx, storage.Key{Resource: storeRoles, Namespace: r.Namespace, Name: r.Name}, r, &rbacv1.Role{}); err != nil {
			return err
		}
	}
	for _, b := range p.ClusterRoleBindings {
		if err := s.reconcilePolicyObject(ctx, storage.Key{Resource: storeClusterRoleBindings, Name: b.Name}, b, &rbacv1.ClusterRoleBinding{}); err != nil {
			return err
		}
	}
	for _, b := range p.RoleBindings {
		if err := s.reconcilePolicyObject(ctx, storage.Key{Resource: storeRoleBindings, Namespace: b.Namespace, Name: b.Name}, b, &rbacv1.RoleBinding{}); err != nil {
			return err
		}
	}
	return s.aggregateClusterRoles(ctx)
}

// reconcilePolicyObject creates want at key, or merges what it grants
// into the stored object (decoded into stored) when that one is marked
// for auto-update.
func (s *Server) reconcilePolicyObject(ctx context.Context, key storage.Key, want, stored runtime.Object) error {
	for attempt := 0; attempt < 5; attempt++ {
		cur, err := s.store.Get(ctx, key)
		if errors.Is(err, storage.ErrNotFound) {
			setPolicyMeta(want)
			value, err := json.Marshal(want)
			if err != nil {
				return fmt.Errorf("bootstrap %s: %w", key, err)
			}
			if _, err := s.store.Create(ctx, key, value); errors.Is(err, storage.ErrExists) {
				continue // another server's; merge into it
			} else if err != nil {
				return fmt.Errorf("bootstrap %s: %w", key, err)
			}
			return nil
		}
		if err != nil {
			return fmt.Errorf("bootstrap %s: %w", key, err)
		}
		if err := json.Unmarshal(cur.Value, stored); err != nil {
			return fmt.Errorf("bootstrap %s: decode: %w", key, err)
		}
		if !mergePolicy(stored, want) {
			return nil
		}
		value, err := json.Marshal(stored)
		if err != nil {
			return fmt.Errorf("bootstrap %s: %w", key, err)
		}
		if _, err := s.store.Update(ctx, key, value, cur.Revision); errors.Is(err, storage.ErrConflict) {
			continue
		} else if err != nil {
			return fmt.Errorf("bootstrap %s: %w", key, err)
		}
		return nil
	}
	return fmt.Errorf("bootstrap %s: changed concurrently 5 times", key)
}

// setPolicyMeta gives a new policy object what the API gives a created one.
func setPolicyMeta(obj runtime.Object) {
	kind := reflect.TypeOf(obj).Elem().Name()
	obj.GetObjectKind().SetGroupVersionKind(rbacv1.SchemeGroupVersion.WithKind(kind))
	m := obj.(metav1.Object)
	m.SetUID(types.UID(uuid.NewUUID()))
	m.SetCreationTimestamp(metav1.NewTime(time.Now().Truncate(time.Second)))
}

// mergePolicy adds to stored, when it is marked for auto-update, the rules
// and subjects of want it lacks, and reports whether it changed.
func mergePolicy(stored, want runtime.Object) bool {
	if stored.(metav1.Object).GetAnnotations()[autoupdateAnnotation] != "true" {
		return false
	}
	switch st := stored.(type) {
	case *rbacv1.ClusterRole:
		w := want.(*rbacv1.ClusterRole)
		changed := false
		if w.AggregationRule != nil && !reflect.DeepEqual(st.AggregationRule, w.AggregationRule) {
			st.AggregationRule, changed = w.AggregationRule.DeepCopy(), true
		}
		if w.AggregationRule != nil {
			return changed // its rules are the aggregation's
		}
		rules, added := unionRules(st.Rules, w.Rules)
		st.Rules = rules
		return changed || added
	case *rbacv1.Role:
		rules, added := unionRules(st.Rules, want.(*rbacv1.Role).Rules)
		st.Rules = rules
		return added
	case *rbacv1.ClusterRoleBinding:
		subjects, added := unionSubjects(st.Subjects, want.(*rbacv1.ClusterRoleBinding).Subjects)
		st.Subjects = subjects
		return added
	case *rbacv1.RoleBinding:
		subjects, added := unionSubjects(st.Subjects, want.(*rbacv1.RoleBinding).Subjects)
		st.Subjects = subjects
		return added
	}
	return false
}

func unionRules(have, want []rbacv1.PolicyRule) ([]rbacv1.PolicyRule, bool) {
	added := false
	for _, r := range want {
		if !slices.ContainsFunc(have, func(h rbacv1.PolicyRule) bool { return reflect.DeepEqual(h, r) }) {
			have, added = append(have, r), true
		}
	}
	return have, added
}

func unionSubjects(have, want []rbacv1.Subject) ([]rbacv1.Subject, bool) {
	added := false
	for _, sub := range want {
		if !slices.Contains(have, sub) {
			have, added = append(have, sub), true
		}
	}
	return have, added
}

// aggregateClusterRoles sets the rules of every aggregated ClusterRole to
// those of the ClusterRoles its selectors pick, as Kubernetes'
// clusterrole-aggregation controller does.
func (s *Server) aggregateClusterRoles(ctx context.Context) error {
	ctx = storage.WithActor(ctx, "system:controller:clusterrole-aggregation")
	l, err := s.store.List(ctx, storage.ListOptions{Resource: storeClusterRoles})
	if err != nil {
		return fmt.Errorf("aggregate cluster roles: %w", err)
	}
	roles := make([]*rbacv1.ClusterRole, 0, len(l.Items))
	revs := map[string]int64{}
	for _, o := range l.Items {
		r := &rbacv1.ClusterRole{}
		if err := json.Unmarshal(o.Value, r); err != nil {
			return fmt.Errorf("aggregate cluster roles: decode %s: %w", o.Key, err)
		}
		roles = append(roles, r)
		revs[r.Name] = o.Revision
	}
	for _, r := range roles {
		if r.AggregationRule == nil {
			continue
		}
		rules, err := authz.Aggregate(r, roles)
		if err != nil {
			s.log.Warn("cannot aggregate cluster role", "name", r.Name, "err", err)
			continue
		}
		if reflect.DeepEqual(rules, r.Rules) || (len(rules) == 0 && len(r.Rules) == 0) {
			continue
		}
		r.Rules = rules
		value, err := json.Marshal(r)
		if err != nil {
			return fmt.Errorf("aggregate cluster role %s: %w", r.Name, err)
		}
		key := storage.Key{Resource: storeClusterRoles, Name: r.Name}
		if _, err := s.store.Update(ctx, key, value, revs[r.Name]); err != nil && !errors.Is(err, storage.ErrConflict) {
			return fmt.Errorf("aggregate cluster role %s: %w", r.Name, err)
		}
		// A conflict: the role changed meanwhile; the next pass sees it.
	}
	return nil
}

// aggregateLoop aggregates again whenever a ClusterRole changes, until ctx
// ends. Every server runs it; the writes are idempotent and guarded by
// revision.
func (s *Server) aggregateLoop(ctx context.Context) {
	var seen int64 = -1
	t := time.NewTicker(500 * time.Millisecond)
	defer t.Stop()
	for {
		select {
		case <-ctx.Done():
			return
		case <-t.C:
		}
		rev, ok := s.store.ResourceRevision(storeClusterRoles)
		if ok && rev == seen {
			continue
		}
		if err := s.aggregateClusterRoles(ctx); err != nil {
			if ctx.Err() == nil {
				s.log.Warn("cluster role aggregation failed", "err", err)
			}
			continue
		}
		seen = rev
	}
}

// decisions adapts the server's authorizer to authz's interfaces, for the
// escalation checks.
type decisions struct{ az *authorizer }

func (d decisions) Authorize(ctx context.Context, a authz.Attributes) (authz.Decision, string, error) {
	ok, reason, err := d.az.decide(ctx, a)
	if ok {
		return authz.DecisionAllow, reason, err
	}
	return authz.DecisionNoOpinion, reason, err
}

func (d decisions) RulesFor(ctx context.Context, u authz.User, namespace string) ([]rbacv1.PolicyRule, []rbacv1.PolicyRule, bool, error) {
	return d.az.rulesFor(ctx, u, namespace)
}

// admitPolicyWrite refuses a write of a Role, ClusterRole or binding that
// would grant more than the writer holds, unless the writer may escalate
// (the role) or bind (the referenced role), as Kubernetes' RBAC registry
// does: nobody gets more through RBAC than RBAC gave them.
func (s *Server) admitPolicyWrite(q *request, obj runtime.Object) error {
	ctx := q.r.Context()
	d := decisions{s.authz}
	switch o := obj.(type) {
	case *rbacv1.Role:
		return authz.AuthorizeRoleWrite(ctx, d, d, q.user, "Role", o.Namespace, o.Name, o.Rules)
	case *rbacv1.ClusterRole:
		if o.AggregationRule != nil && !authz.EscalationAllowed(q.user) && !authz.RoleEscalationAuthorized(ctx, d, q.user, "ClusterRole", "", o.Name) {
			// The rules of an aggregated role are whatever its selectors
			// pick: only who may escalate may make one.
			return forbidden(resourceAttributes(q.user, "escalate", q.ri, q.r), "an aggregationRule needs the escalate verb on the role")
		}
		return authz.AuthorizeRoleWrite(ctx, d, d, q.user, "ClusterRole", "", o.Name, o.Rules)
	case *rbacv1.RoleBinding, *rbacv1.ClusterRoleBinding:
		view, err := s.authz.rbac.current(ctx, false)
		if err != nil {
			return err
		}
		if rb, ok := o.(*rbacv1.RoleBinding); ok {
			return authz.AuthorizeBindingWrite(ctx, d, d, view, q.user, rb.Namespace, rb.Name, rb.RoleRef)
		}
		crb := o.(*rbacv1.ClusterRoleBinding)
		return authz.AuthorizeBindingWrite(ctx, d, d, view, q.user, "", crb.Name, crb.RoleRef)
	}
	return nil
}
