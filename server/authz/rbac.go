package authz

import (
	"context"
	"errors"
	"fmt"

	rbacv1 "k8s.io/api/rbac/v1"
)

// RBAC is Kubernetes' RBAC authorizer over a Source: a request is allowed
// when a rule of a role bound to the user allows it. ClusterRoleBindings
// apply in every namespace and to cluster-scoped requests; RoleBindings
// apply in their namespace and may reference a Role of that namespace or
// a ClusterRole. RBAC never denies: it allows or has no opinion.
//
// RBAC reads the Source on every call and keeps no state.
type RBAC struct {
	src Source
}

var (
	_ Authorizer   = (*RBAC)(nil)
	_ RuleResolver = (*RBAC)(nil)
)

// NewRBAC returns an RBAC authorizer reading roles and bindings from src.
func NewRBAC(src Source) *RBAC {
	return &RBAC{src: src}
}

// Authorize implements Authorizer. An allow names the binding, its role
// and the subject that matched, as upstream:
//
//	RBAC: allowed by ClusterRoleBinding "x" of ClusterRole "y" to User "z"
//
// When nothing allows, the decision is DecisionNoOpinion and the reason
// lists the bindings that could not be followed (a missing role), if any.
// As upstream, such errors never fail the request: err is always nil.
func (r *RBAC) Authorize(ctx context.Context, a Attributes) (Decision, string, error) {
	var (
		reason string
		errs   []error
	)
	r.visitRulesFor(a.User, a.Namespace, func(source binding, rule *rbacv1.PolicyRule, err error) bool {
		if err != nil {
			errs = append(errs, err)
			return true
		}
		if RuleAllows(a, rule) {
			reason = "RBAC: allowed by " + source.String()
			return false
		}
		return true
	})
	if reason != "" {
		return DecisionAllow, reason, nil
	}
	if len(errs) > 0 {
		return DecisionNoOpinion, "RBAC: " + errors.Join(errs...).Error(), nil
	}
	return DecisionNoOpinion, "", nil
}

// RulesFor implements RuleResolver: every rule of every role bound to u by
// a ClusterRoleBinding, and, when namespace is not empty, by a RoleBinding
// of namespace. Rules with nonResourceURLs are returned in nonResource,
// the others in resource. A binding whose role is missing (or cannot be
// read) is skipped and makes the answer incomplete; err then joins the
// reasons. The rules are those of the roles, not copies: do not modify
// them.
func (r *RBAC) RulesFor(ctx context.Context, u User, namespace string) (resource, nonResource []rbacv1.PolicyRule, incomplete bool, err error) {
	var errs []error
	r.visitRulesFor(u, namespace, func(_ binding, rule *rbacv1.PolicyRule, err error) bool {
		if err != nil {
			errs = append(errs, err)
			return true
		}
		if len(rule.NonResourceURLs) > 0 {
			nonResource = append(nonResource, *rule)
		} else {
			resource = append(resource, *rule)
		}
		return true
	})
	return resource, nonResource, len(errs) > 0, errors.Join(errs...)
}

// visitRulesFor calls visit with every rule that applies to u in
// namespace, and with every error met on the way, until visit returns
// false.
func (r *RBAC) visitRulesFor(u User, namespace string, visit func(source binding, rule *rbacv1.PolicyRule, err error) bool) {
	crbs, err := r.src.ListClusterRoleBindings()
	if err != nil {
		if !visit(binding{}, nil, fmt.Errorf("list clusterrolebindings: %w", err)) {
			return
		}
	}
	for _, b := range crbs {
		subject, ok := appliesTo(u, b.Subjects, "")
		if !ok {
			continue
		}
		rules, err := r.roleRefRules(b.RoleRef, "")
		if err != nil {
			if !visit(binding{}, nil, fmt.Errorf("clusterrolebinding %s: %w", b.Name, err)) {
				return
			}
			continue
		}
		src := binding{kind: "ClusterRoleBinding", name: b.Name, roleRef: b.RoleRef, subject: subject}
		for i := range rules {
			if !visit(src, &rules[i], nil) {
				return
			}
		}
	}
	if namespace == "" {
		return
	}
	rbs, err := r.src.ListRoleBindings(namespace)
	if err != nil {
		visit(binding{}, nil, fmt.Errorf("list rolebindings in %s: %w", namespace, err))
		return
	}
	for _, b := range rbs {
		subject, ok := appliesTo(u, b.Subjects, namespace)
		if !ok {
			continue
		}
		rules, err := r.roleRefRules(b.RoleRef, namespace)
		if err != nil {
			if !visit(binding{}, nil, fmt.Errorf("rolebinding %s/%s: %w", namespace, b.Name, err)) {
				return
			}
			continue
		}
		src := binding{kind: "RoleBinding", name: b.Name, namespace: namespace, roleRef: b.RoleRef, subject: subject}
		for i := range rules {
			if !visit(src, &rules[i], nil) {
				return
			}
		}
	}
}

// RoleRefRules returns the rules of the role ref points to: a ClusterRole,
// or a Role in namespace. A missing role is a NotFound error.
func RoleRefRules(src Source, ref rbacv1.RoleRef, namespace string) ([]rbacv1.PolicyRule, error) {
	return (&RBAC{src: src}).roleRefRules(ref, namespace)
}

func (r *RBAC) roleRefRules(ref rbacv1.RoleRef, namespace string) ([]rbacv1.PolicyRule, error) {
	switch ref.Kind {
	case "ClusterRole":
		role, err := r.src.GetClusterRole(ref.Name)
		if err != nil {
			return nil, err
		}
		return role.Rules, nil
	case "Role":
		if namespace == "" {
			return nil, fmt.Errorf("role %q referenced outside a namespace", ref.Name)
		}
		role, err := r.src.GetRole(namespace, ref.Name)
		if err != nil {
			return nil, err
		}
		return role.Rules, nil
	default:
		return nil, fmt.Errorf("unsupported role reference kind %q", ref.Kind)
	}
}

// appliesTo returns the first subject that u is: a User by name, a Group
// u is in, or a ServiceAccount whose user name is u's. A ServiceAccount
// subject without a namespace means namespace (the RoleBinding's), and
// matches nobody in a ClusterRoleBinding.
func appliesTo(u User, subjects []rbacv1.Subject, namespace string) (*rbacv1.Subject, bool) {
	for i := range subjects {
		if subjectMatches(u, &subjects[i], namespace) {
			return &subjects[i], true
		}
	}
	return nil, false
}

func subjectMatches(u User, s *rbacv1.Subject, namespace string) bool {
	switch s.Kind {
	case rbacv1.UserKind:
		return u.Name == s.Name
	case rbacv1.GroupKind:
		return u.InGroup(s.Name)
	case rbacv1.ServiceAccountKind:
		ns := s.Namespace
		if ns == "" {
			ns = namespace
		}
		return ns != "" && u.Name == ServiceAccountUser(ns, s.Name)
	default:
		return false
	}
}

// binding describes where a rule came from, for reasons.
type binding struct {
	kind, name, namespace string
	roleRef               rbacv1.RoleRef
	subject               *rbacv1.Subject
}

func (b binding) String() string {
	name := b.name
	if b.namespace != "" {
		name += "/" + b.namespace
	}
	return fmt.Sprintf("%s %q of %s %q to %s", b.kind, name, b.roleRef.Kind, b.roleRef.Name, describeSubject(b.subject, b.namespace))
}

func describeSubject(s *rbacv1.Subject, namespace string) string {
	if s.Kind == rbacv1.ServiceAccountKind {
		ns := s.Namespace
		if ns == "" {
			ns = namespace
		}
		return fmt.Sprintf("%s %q", s.Kind, s.Name+"/"+ns)
	}
	return fmt.Sprintf("%s %q", s.Kind, s.Name)
}
