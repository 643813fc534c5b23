package server_test

import (
	"context"
	"net/http"
	"slices"
	"testing"

	authenticationv1 "k8s.io/api/authentication/v1"
	authorizationv1 "k8s.io/api/authorization/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/client-go/kubernetes"
)

// TestSelfReviews: each user learns who the server takes it for and what
// it may do, and the answers agree with what the server then allows.
func TestSelfReviews(t *testing.T) {
	ts, as := startWithUsers(t)
	ctx := context.Background()
	admin, ro, node := ts.client, as("ro-token"), as("node-token")

	for _, tc := range []struct {
		client *kubernetes.Clientset
		name   string
		group  string
	}{{admin, "admin", "system:masters"}, {ro, "viewer", "sqlkube:read-only"}, {node, "system:node:n1", "system:nodes"}} {
		r, err := tc.client.AuthenticationV1().SelfSubjectReviews().Create(ctx, &authenticationv1.SelfSubjectReview{}, metav1.CreateOptions{})
		if err != nil {
			t.Fatalf("%s: whoami: %v", tc.name, err)
		}
		if r.Status.UserInfo.Username != tc.name || !slices.Contains(r.Status.UserInfo.Groups, tc.group) {
			t.Fatalf("%s: whoami says %+v", tc.name, r.Status.UserInfo)
		}
	}

	can := func(c *kubernetes.Clientset, a authorizationv1.ResourceAttributes) bool {
		t.Helper()
		r, err := c.AuthorizationV1().SelfSubjectAccessReviews().Create(ctx, &authorizationv1.SelfSubjectAccessReview{
			Spec: authorizationv1.SelfSubjectAccessReviewSpec{ResourceAttributes: &a}}, metav1.CreateOptions{})
		if err != nil {
			t.Fatalf("can-i %+v: %v", a, err)
		}
		return r.Status.Allowed
	}
	for _, tc := range []struct {
		who    string
		client *kubernetes.Clientset
		attrs  authorizationv1.ResourceAttributes
		want   bool
	}{
		{"admin", admin, authorizationv1.ResourceAttributes{Verb: "delete", Resource: "nodes", Name: "n1"}, true},
		{"viewer", ro, authorizationv1.ResourceAttributes{Verb: "list", Group: "apps", Resource: "deployments", Namespace: "default"}, true},
		{"viewer", ro, authorizationv1.ResourceAttributes{Verb: "create", Resource: "configmaps", Namespace: "default"}, false},
		{"node n1", node, authorizationv1.ResourceAttributes{Verb: "update", Resource: "nodes", Name: "n1"}, true},
		// As in Kubernetes, the node authorizer lets a node update nodes;
		// which one is admission's (NodeRestriction), see
		// TestAuthorization.
		{"node n1", node, authorizationv1.ResourceAttributes{Verb: "update", Resource: "nodes", Name: "n2"}, true},
		{"node n1", node, authorizationv1.ResourceAttributes{Verb: "get", Resource: "secrets", Namespace: "default", Name: "any"}, false},
		{"viewer", ro, authorizationv1.ResourceAttributes{Verb: "get", Resource: "secrets", Namespace: "default", Name: "any"}, false},
		{"node n1", node, authorizationv1.ResourceAttributes{Verb: "create", Resource: "configmaps", Namespace: "default"}, false},
	} {
		if got := can(tc.client, tc.attrs); got != tc.want {
			t.Errorf("%s can %s %s %s: got %v, want %v", tc.who, tc.attrs.Verb, tc.attrs.Resource, tc.attrs.Name, got, tc.want)
		}
	}

	// What the review allows, the server allows: the viewer was told no,
	// and a create is forbidden.
	code, _ := ts.raw(t, http.MethodPost, "/api/v1/namespaces/default/configmaps", "application/json", []byte(`{"metadata":{"name":"x"}}`), "ro-token")
	if code != http.StatusForbidden {
		t.Fatalf("viewer create: %d, want 403", code)
	}

	rules, err := ro.AuthorizationV1().SelfSubjectRulesReviews().Create(ctx, &authorizationv1.SelfSubjectRulesReview{
		Spec: authorizationv1.SelfSubjectRulesReviewSpec{Namespace: "default"}}, metav1.CreateOptions{})
	if err != nil {
		t.Fatal(err)
	}
	// The viewer is bound to view: it reads configmaps, not secrets, and
	// writes nothing.
	grants := func(verb, resource string) bool {
		return slices.ContainsFunc(rules.Status.ResourceRules, func(r authorizationv1.ResourceRule) bool {
			return slices.Contains(r.APIGroups, "") && (slices.Contains(r.Verbs, verb) || slices.Contains(r.Verbs, "*")) && (slices.Contains(r.Resources, resource) || slices.Contains(r.Resources, "*"))
		})
	}
	if !grants("list", "configmaps") || grants("get", "secrets") || grants("create", "configmaps") {
		t.Fatalf("viewer's rules: %+v", rules.Status.ResourceRules)
	}

	// Reviews are answered, not stored: they cannot be listed.
	if code, body := ts.raw(t, http.MethodGet, "/apis/authorization.k8s.io/v1/selfsubjectaccessreviews", "", nil, ""); code != http.StatusMethodNotAllowed {
		t.Fatalf("list of reviews: %d %s", code, body)
	}
}
