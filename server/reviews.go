package server

import (
	"fmt"
	"net/http"
	"slices"
	"strings"

	authenticationv1 "k8s.io/api/authentication/v1"
	authorizationv1 "k8s.io/api/authorization/v1"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	"k8s.io/apimachinery/pkg/runtime/schema"
)

// The self reviews answer what a client may ask about itself: who the
// server takes it for (kubectl auth whoami) and what it may do (kubectl
// auth can-i). Every authenticated user may create them; nothing is
// stored.

// isSelfReview reports the resources any authenticated user may create.
func isSelfReview(gr schema.GroupResource) bool {
	switch gr {
	case schema.GroupResource{Group: "authorization.k8s.io", Resource: "selfsubjectaccessreviews"},
		schema.GroupResource{Group: "authorization.k8s.io", Resource: "selfsubjectrulesreviews"},
		schema.GroupResource{Group: "authentication.k8s.io", Resource: "selfsubjectreviews"}:
		return true
	}
	return false
}

// publicPaths are the non-resource paths every authenticated user may
// GET: discovery, OpenAPI, health and version.
var publicPaths = []string{"/api", "/api/*", "/apis", "/apis/*", "/openapi/*", "/healthz", "/livez", "/readyz", "/version"}

// review answers the self review in the request body.
func (s *Server) review(q *request) error {
	obj, err := s.readObject(q)
	if err != nil {
		return err
	}
	switch r := obj.(type) {
	case *authorizationv1.SelfSubjectAccessReview:
		r.Status = s.accessReview(q.user, r.Spec)
	case *authorizationv1.SelfSubjectRulesReview:
		r.Status = rulesOf(q.user, r.Spec.Namespace)
	case *authenticationv1.SelfSubjectReview:
		r.Status.UserInfo = authenticationv1.UserInfo{Username: q.user.name, Groups: q.user.groups}
	default:
		return apierrors.NewInternalError(fmt.Errorf("no review for %T", obj))
	}
	setTypeMeta(q.res, obj)
	return s.writeObject(q, http.StatusCreated, obj)
}

// accessReview answers whether u may do what spec describes, by the rules
// every request is authorized by.
func (s *Server) accessReview(u user, spec authorizationv1.SelfSubjectAccessReviewSpec) authorizationv1.SubjectAccessReviewStatus {
	if a := spec.NonResourceAttributes; a != nil {
		allowed := u.in(groupMasters) || (a.Verb == "get" && slices.ContainsFunc(publicPaths, func(p string) bool {
			prefix, wild := strings.CutSuffix(p, "*")
			return a.Path == p || (wild && strings.HasPrefix(a.Path, prefix))
		}))
		return authorizationv1.SubjectAccessReviewStatus{Allowed: allowed}
	}
	a := spec.ResourceAttributes
	if a == nil {
		return authorizationv1.SubjectAccessReviewStatus{EvaluationError: "neither resourceAttributes nor nonResourceAttributes is set"}
	}
	gr := schema.GroupResource{Group: a.Group, Resource: a.Resource}
	ri := requestInfo{group: a.Group, version: a.Version, namespace: a.Namespace, resource: a.Resource, name: a.Name, subresource: a.Subresource}
	if err := authorize(u, a.Verb, ri, gr); err != nil {
		return authorizationv1.SubjectAccessReviewStatus{Allowed: false, Reason: err.Error()}
	}
	return authorizationv1.SubjectAccessReviewStatus{Allowed: true}
}

// rulesOf lists what u may do in namespace ns, as the authorizer decides
// it.
func rulesOf(u user, ns string) authorizationv1.SubjectRulesReviewStatus {
	everyone := []authorizationv1.ResourceRule{
		{Verbs: []string{"create"}, APIGroups: []string{"authorization.k8s.io"}, Resources: []string{"selfsubjectaccessreviews", "selfsubjectrulesreviews"}},
		{Verbs: []string{"create"}, APIGroups: []string{"authentication.k8s.io"}, Resources: []string{"selfsubjectreviews"}},
	}
	st := authorizationv1.SubjectRulesReviewStatus{
		NonResourceRules: []authorizationv1.NonResourceRule{{Verbs: []string{"get"}, NonResourceURLs: publicPaths}},
	}
	read := authorizationv1.ResourceRule{Verbs: []string{"get", "list", "watch"}, APIGroups: []string{"*"}, Resources: []string{"*"}}
	switch {
	case u.in(groupMasters):
		st.ResourceRules = []authorizationv1.ResourceRule{{Verbs: []string{"*"}, APIGroups: []string{"*"}, Resources: []string{"*"}}}
		st.NonResourceRules = []authorizationv1.NonResourceRule{{Verbs: []string{"*"}, NonResourceURLs: []string{"*"}}}
		return st
	case u.in(groupReadOnly):
		st.ResourceRules = append(everyone, read)
	default:
		st.ResourceRules = everyone
	}
	if node, ok := u.nodeName(); ok {
		st.ResourceRules = append(st.ResourceRules, read,
			authorizationv1.ResourceRule{Verbs: []string{"create"}, APIGroups: []string{""}, Resources: []string{"nodes"}},
			authorizationv1.ResourceRule{Verbs: []string{"get", "update", "patch"}, APIGroups: []string{""}, Resources: []string{"nodes", "nodes/status"}, ResourceNames: []string{node}},
			authorizationv1.ResourceRule{Verbs: []string{"create", "update", "patch"}, APIGroups: []string{""}, Resources: []string{"events"}},
			authorizationv1.ResourceRule{Verbs: []string{"update", "patch", "delete"}, APIGroups: []string{""}, Resources: []string{"pods", "pods/status"}},
		)
		if ns == "kube-node-lease" {
			st.ResourceRules = append(st.ResourceRules,
				authorizationv1.ResourceRule{Verbs: []string{"create"}, APIGroups: []string{"coordination.k8s.io"}, Resources: []string{"leases"}},
				authorizationv1.ResourceRule{Verbs: []string{"update", "patch"}, APIGroups: []string{"coordination.k8s.io"}, Resources: []string{"leases"}, ResourceNames: []string{node}},
			)
		}
	}
	return st
}
