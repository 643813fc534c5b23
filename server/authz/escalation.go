package authz

import (
	"context"
	"errors"
	"fmt"
	"slices"
	"strings"

	rbacv1 "k8s.io/api/rbac/v1"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	"k8s.io/component-helpers/auth/rbac/validation"
)

// ErrEscalation is wrapped by the errors of ConfirmNoEscalation: the user
// tried to grant permissions it does not hold.
var ErrEscalation = errors.New("attempt to grant RBAC permissions not currently held")

// EscalationAllowed reports whether u skips every escalation check: the
// members of system:masters, as upstream.
func EscalationAllowed(u User) bool {
	return u.InGroup(GroupMasters)
}

// ConfirmNoEscalation returns nil when the rules u holds in namespace (""
// for cluster-wide rules only) cover rules, as judged by
// validation.Covers; otherwise an error wrapping ErrEscalation that lists
// the missing permissions (and, if the user's rules could not all be
// resolved, why). It does not look at system:masters or at the escalate
// and bind verbs: AuthorizeRoleWrite and AuthorizeBindingWrite do.
func ConfirmNoEscalation(ctx context.Context, resolver RuleResolver, u User, namespace string, rules []rbacv1.PolicyRule) error {
	resource, nonResource, _, resolveErr := resolver.RulesFor(ctx, u, namespace)
	owner := append(slices.Clip(resource), nonResource...)
	covered, missing := validation.Covers(owner, rules)
	if covered {
		return nil
	}
	var lines []string
	for _, m := range missing {
		lines = append(lines, describeRule(m))
	}
	slices.Sort(lines)
	lines = slices.Compact(lines)
	err := fmt.Errorf("%w: user %q (groups=%q) lacks:\n%s", ErrEscalation, u.Name, u.Groups, strings.Join(lines, "\n"))
	if resolveErr != nil {
		err = fmt.Errorf("%w; resolution errors: %v", err, resolveErr)
	}
	return err
}

// RoleEscalationAuthorized reports whether a allows u the escalate verb on
// the Role (kind "Role", in namespace) or ClusterRole (kind "ClusterRole")
// named name: whoever may escalate a role may give it any rules.
func RoleEscalationAuthorized(ctx context.Context, a Authorizer, u User, kind, namespace, name string) bool {
	resource, ok := roleResource(kind)
	if !ok {
		return false
	}
	d, _, err := a.Authorize(ctx, Attributes{
		User: u, Verb: "escalate", ResourceRequest: true,
		APIGroup: rbacv1.GroupName, APIVersion: "*", Resource: resource,
		Namespace: namespace, Name: name,
	})
	return err == nil && d == DecisionAllow
}

// BindingAuthorized reports whether a allows u the bind verb on the role
// ref points to, checked in bindingNamespace (the binding's namespace, ""
// for a ClusterRoleBinding), as upstream: whoever may bind a role may bind
// it without holding its rules.
func BindingAuthorized(ctx context.Context, a Authorizer, u User, ref rbacv1.RoleRef, bindingNamespace string) bool {
	resource, ok := roleResource(ref.Kind)
	if !ok {
		return false
	}
	d, _, err := a.Authorize(ctx, Attributes{
		User: u, Verb: "bind", ResourceRequest: true,
		APIGroup: ref.APIGroup, APIVersion: "*", Resource: resource,
		Namespace: bindingNamespace, Name: ref.Name,
	})
	return err == nil && d == DecisionAllow
}

// AuthorizeRoleWrite decides a create or update of a Role (kind "Role",
// in namespace) or ClusterRole (kind "ClusterRole", namespace "") named
// name that will hold rules, as upstream's role registry: masters pass,
// so does a user allowed to escalate the role, and anyone else must hold
// every rule. The error is a Forbidden API error.
func AuthorizeRoleWrite(ctx context.Context, a Authorizer, resolver RuleResolver, u User, kind, namespace, name string, rules []rbacv1.PolicyRule) error {
	if EscalationAllowed(u) || RoleEscalationAuthorized(ctx, a, u, kind, namespace, name) {
		return nil
	}
	if err := ConfirmNoEscalation(ctx, resolver, u, namespace, rules); err != nil {
		resource, _ := roleResource(kind)
		return apierrors.NewForbidden(rbacv1.Resource(resource), name, err)
	}
	return nil
}

// AuthorizeBindingWrite decides a create or update of a RoleBinding (in
// namespace) or ClusterRoleBinding (namespace "") named name referencing
// ref, as upstream's binding registries: masters pass, so does a user
// allowed to bind the role, and anyone else must hold every rule of the
// role, read from src. A missing role is refused. The error is a
// Forbidden API error.
func AuthorizeBindingWrite(ctx context.Context, a Authorizer, resolver RuleResolver, src Source, u User, namespace, name string, ref rbacv1.RoleRef) error {
	resource := "clusterrolebindings"
	if namespace != "" {
		resource = "rolebindings"
	}
	if EscalationAllowed(u) || BindingAuthorized(ctx, a, u, ref, namespace) {
		return nil
	}
	rules, err := RoleRefRules(src, ref, namespace)
	if err != nil {
		return apierrors.NewForbidden(rbacv1.Resource(resource), name, err)
	}
	if err := ConfirmNoEscalation(ctx, resolver, u, namespace, rules); err != nil {
		return apierrors.NewForbidden(rbacv1.Resource(resource), name, err)
	}
	return nil
}

func roleResource(kind string) (string, bool) {
	switch kind {
	case "Role":
		return "roles", true
	case "ClusterRole":
		return "clusterroles", true
	}
	return "", false
}

// describeRule prints one broken-down rule compactly, like upstream's
// CompactString: {APIGroups:["apps"], Resources:["deployments"], Verbs:["get"]}.
func describeRule(r rbacv1.PolicyRule) string {
	var parts []string
	add := func(name string, v []string) {
		if len(v) > 0 {
			parts = append(parts, fmt.Sprintf("%s:%q", name, v))
		}
	}
	add("APIGroups", r.APIGroups)
	add("Resources", r.Resources)
	add("ResourceNames", r.ResourceNames)
	add("NonResourceURLs", r.NonResourceURLs)
	add("Verbs", r.Verbs)
	return "{" + strings.Join(parts, ", ") + "}"
}
