package server

import (
	"context"
	"fmt"
	"net/http"

	authenticationv1 "k8s.io/api/authentication/v1"
	authorizationv1 "k8s.io/api/authorization/v1"
	rbacv1 "k8s.io/api/rbac/v1"
	apierrors "k8s.io/apimachinery/pkg/api/errors"

	"github.com/sqlkube/sqlkube/server/authz"
)

// The reviews answer who the server takes a client for (kubectl auth
// whoami) and what a user may do (kubectl auth can-i, --list, and any
// component asking about another user), from the authorizers that decide
// every request. Nothing is stored. Who may create them is RBAC's: every
// authenticated user the self reviews (system:basic-user), the others
// whoever is granted them.

// review answers the review in the request body.
func (s *Server) review(q *request) error {
	obj, err := s.readObject(q)
	if err != nil {
		return err
	}
	if r, ok := obj.(*authorizationv1.LocalSubjectAccessReview); ok {
		switch r.Namespace {
		case "":
			r.Namespace = q.ri.namespace
		case q.ri.namespace:
		default:
			return apierrors.NewBadRequest(fmt.Sprintf("the namespace of the object (%s) does not match the namespace on the URL (%s)", r.Namespace, q.ri.namespace))
		}
	}
	if q.res.Validate != nil {
		if errs := q.res.Validate(obj); len(errs) > 0 {
			return apierrors.NewInvalid(q.res.GVK().GroupKind(), "", errs)
		}
	}
	ctx := q.r.Context()
	switch r := obj.(type) {
	case *authorizationv1.SelfSubjectAccessReview:
		r.Status = s.accessReview(ctx, q.user, r.Spec.ResourceAttributes, r.Spec.NonResourceAttributes)
	case *authorizationv1.SubjectAccessReview:
		r.Status = s.accessReview(ctx, reviewedUser(r.Spec), r.Spec.ResourceAttributes, r.Spec.NonResourceAttributes)
	case *authorizationv1.LocalSubjectAccessReview:
		r.Status = s.accessReview(ctx, reviewedUser(r.Spec), r.Spec.ResourceAttributes, r.Spec.NonResourceAttributes)
	case *authorizationv1.SelfSubjectRulesReview:
		r.Status = s.rulesReview(ctx, q.user, r.Spec.Namespace)
	case *authenticationv1.TokenReview:
		r.Status = s.tokenReview(ctx, r.Spec)
	case *authenticationv1.SelfSubjectReview:
		r.Status.UserInfo = authenticationv1.UserInfo{Username: q.user.Name, UID: q.user.UID, Groups: q.user.Groups, Extra: extraValues(q.user.Extra)}
	default:
		return apierrors.NewInternalError(fmt.Errorf("no review for %T", obj))
	}
	setTypeMeta(q.res, obj)
	return s.writeObject(q, http.StatusCreated, obj)
}

// reviewedUser is the user a SubjectAccessReview asks about.
func reviewedUser(spec authorizationv1.SubjectAccessReviewSpec) user {
	u := user{Name: spec.User, UID: spec.UID, Groups: spec.Groups}
	if len(spec.Extra) > 0 {
		u.Extra = map[string][]string{}
		for k, v := range spec.Extra {
			u.Extra[k] = v
		}
	}
	return u
}

func extraValues(extra map[string][]string) map[string]authenticationv1.ExtraValue {
	if len(extra) == 0 {
		return nil
	}
	out := make(map[string]authenticationv1.ExtraValue, len(extra))
	for k, v := range extra {
		out[k] = v
	}
	return out
}

// accessReview answers whether u may do what the attributes describe.
func (s *Server) accessReview(ctx context.Context, u user, ra *authorizationv1.ResourceAttributes, na *authorizationv1.NonResourceAttributes) authorizationv1.SubjectAccessReviewStatus {
	var a authz.Attributes
	switch {
	case ra != nil:
		a = authz.Attributes{User: u, Verb: ra.Verb, ResourceRequest: true, APIGroup: ra.Group, APIVersion: ra.Version,
			Resource: ra.Resource, Subresource: ra.Subresource, Namespace: ra.Namespace, Name: ra.Name}
	case na != nil:
		a = authz.Attributes{User: u, Verb: na.Verb, Path: na.Path}
	default:
		return authorizationv1.SubjectAccessReviewStatus{EvaluationError: "neither resourceAttributes nor nonResourceAttributes is set"}
	}
	allowed, reason, err := s.authz.decide(ctx, a)
	st := authorizationv1.SubjectAccessReviewStatus{Allowed: allowed, Reason: reason}
	if err != nil {
		st.EvaluationError = err.Error()
	}
	return st
}

// rulesReview lists what u may do in namespace ns, as RBAC grants it.
func (s *Server) rulesReview(ctx context.Context, u user, ns string) authorizationv1.SubjectRulesReviewStatus {
	resource, nonResource, incomplete, err := s.authz.rulesFor(ctx, u, ns)
	st := authorizationv1.SubjectRulesReviewStatus{Incomplete: incomplete}
	if err != nil {
		st.EvaluationError = err.Error()
	}
	if _, ok := u.NodeName(); ok {
		// What a node reads through its pods is not a rule.
		st.Incomplete = true
		st.EvaluationError = "node authorizer does not support user rule resolution"
	}
	for _, r := range resource {
		st.ResourceRules = append(st.ResourceRules, resourceRule(r))
	}
	for _, r := range nonResource {
		st.NonResourceRules = append(st.NonResourceRules, authorizationv1.NonResourceRule{Verbs: r.Verbs, NonResourceURLs: r.NonResourceURLs})
	}
	return st
}

func resourceRule(r rbacv1.PolicyRule) authorizationv1.ResourceRule {
	return authorizationv1.ResourceRule{Verbs: r.Verbs, APIGroups: r.APIGroups, Resources: r.Resources, ResourceNames: r.ResourceNames}
}

// apiAudience is the audience of the API server's own tokens, Kubernetes'
// default (--api-audiences defaults to --service-account-issuer).
const apiAudience = defaultServiceAccountIssuer

// tokenReview answers who a bearer token authenticates as, for the
// audiences asked (the API server's when none are), as the requests' own
// authentication decides it.
func (s *Server) tokenReview(ctx context.Context, spec authenticationv1.TokenReviewSpec) authenticationv1.TokenReviewStatus {
	u, auds, err := s.users.review(ctx, spec.Token, spec.Audiences)
	if err != nil {
		return authenticationv1.TokenReviewStatus{Error: err.Error()}
	}
	return authenticationv1.TokenReviewStatus{
		Authenticated: true,
		Audiences:     auds,
		User:          authenticationv1.UserInfo{Username: u.Name, UID: u.UID, Groups: u.Groups, Extra: extraValues(u.Extra)},
	}
}
