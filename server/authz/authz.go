package authz

import (
	"context"
	"slices"
	"strings"

	rbacv1 "k8s.io/api/rbac/v1"
)

// Well-known users and groups.
const (
	// GroupMasters may do anything, and passes every escalation check.
	GroupMasters = "system:masters"
	// GroupAuthenticated holds every authenticated user.
	GroupAuthenticated = "system:authenticated"
	// GroupUnauthenticated holds the anonymous user.
	GroupUnauthenticated = "system:unauthenticated"
	// GroupNodes holds the node agents (users system:node:NAME).
	GroupNodes = "system:nodes"
	// NodeUserPrefix prefixes the node name in a node agent's user name.
	NodeUserPrefix = "system:node:"
	// ServiceAccountUserPrefix prefixes NAMESPACE:NAME in a service
	// account's user name.
	ServiceAccountUserPrefix = "system:serviceaccount:"
)

// User is who a request is made as.
type User struct {
	Name   string
	UID    string
	Groups []string
	Extra  map[string][]string
}

// InGroup reports whether u is a member of group.
func (u User) InGroup(group string) bool {
	return slices.Contains(u.Groups, group)
}

// ServiceAccountUser returns the user name a service account
// authenticates as: system:serviceaccount:NAMESPACE:NAME.
func ServiceAccountUser(namespace, name string) string {
	return ServiceAccountUserPrefix + namespace + ":" + name
}

// NodeName returns the node u speaks for when u is a node agent: named
// system:node:NAME and a member of system:nodes. It returns "" and false
// for every other user.
func (u User) NodeName() (string, bool) {
	name, ok := strings.CutPrefix(u.Name, NodeUserPrefix)
	if !ok || name == "" || !u.InGroup(GroupNodes) {
		return "", false
	}
	return name, true
}

// Attributes describe one request, as kube-apiserver's
// authorizer.Attributes. For a list or watch restricted to one object by
// the field selector metadata.name, Name holds that name, as
// kube-apiserver sets it.
type Attributes struct {
	User User
	// Verb is the request verb: get list watch create update patch delete
	// deletecollection, or a special one (impersonate, bind, escalate,
	// use, approve, ...). For non-resource requests it is the lower-case
	// HTTP method (get, post, put, ...).
	Verb string
	// ResourceRequest is true for requests to API objects; false for
	// non-resource paths (/healthz, /version, /api ...).
	ResourceRequest bool
	APIGroup        string
	APIVersion      string
	Resource        string
	Subresource     string
	Namespace       string
	Name            string
	// Path is the request path of a non-resource request.
	Path string
}

// Decision is an authorizer's answer.
type Decision int

const (
	// DecisionNoOpinion means this authorizer does not allow the request;
	// another one in the chain may.
	DecisionNoOpinion Decision = iota
	// DecisionAllow allows the request.
	DecisionAllow
	// DecisionDeny refuses the request; no later authorizer is asked.
	DecisionDeny
)

// String names d as kube-apiserver's audit log does.
func (d Decision) String() string {
	switch d {
	case DecisionAllow:
		return "allow"
	case DecisionDeny:
		return "deny"
	default:
		return "no opinion"
	}
}

// Authorizer decides one request. The reason explains the decision for
// logs, audit and SubjectAccessReview status; err reports a failure to
// decide (a Source that could not be read), in which case the decision is
// still meaningful (an authorizer may allow despite partial errors).
type Authorizer interface {
	Authorize(ctx context.Context, a Attributes) (Decision, string, error)
}

// RuleResolver answers SelfSubjectRulesReview and
// `kubectl auth can-i --list`: the rules that apply to u in namespace (""
// for cluster-wide rules only). Incomplete is true when some bindings
// could not be followed (a missing role, a read error); err then tells
// why.
type RuleResolver interface {
	RulesFor(ctx context.Context, u User, namespace string) (resource, nonResource []rbacv1.PolicyRule, incomplete bool, err error)
}
