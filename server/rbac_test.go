package server_test

import (
	"context"
	"net/http"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"testing"
	"time"

	authenticationv1 "k8s.io/api/authentication/v1"
	authorizationv1 "k8s.io/api/authorization/v1"
	corev1 "k8s.io/api/core/v1"
	rbacv1 "k8s.io/api/rbac/v1"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/client-go/kubernetes"
	"k8s.io/client-go/rest"

	"github.com/sqlkube/sqlkube/server"
)

// startWithAlice starts a server that also knows alice ("alice-token"),
// a user in no group but system:authenticated, and the node n1, and
// returns a client of alice's and one of n1's.
func startWithAlice(t *testing.T) (ts *testServer, alice, node *kubernetes.Clientset) {
	t.Helper()
	tokens := filepath.Join(t.TempDir(), "tokens.csv")
	if err := os.WriteFile(tokens, []byte("alice-token,alice,u-alice\nnode-token,system:node:n1,u-n1,system:nodes\n"), 0o600); err != nil {
		t.Fatal(err)
	}
	ts = start(t, "", func(c *server.Config) { c.TokenAuthFile = tokens })
	as := func(token string) *kubernetes.Clientset {
		cfg := rest.CopyConfig(ts.cfg)
		cfg.BearerToken = token
		return kubernetes.NewForConfigOrDie(cfg)
	}
	return ts, as("alice-token"), as("node-token")
}

func bind(t *testing.T, c kubernetes.Interface, ns, name string, role rbacv1.RoleRef, subject rbacv1.Subject) {
	t.Helper()
	ctx := context.Background()
	var err error
	if ns == "" {
		_, err = c.RbacV1().ClusterRoleBindings().Create(ctx, &rbacv1.ClusterRoleBinding{ObjectMeta: metav1.ObjectMeta{Name: name}, RoleRef: role, Subjects: []rbacv1.Subject{subject}}, metav1.CreateOptions{})
	} else {
		_, err = c.RbacV1().RoleBindings(ns).Create(ctx, &rbacv1.RoleBinding{ObjectMeta: metav1.ObjectMeta{Name: name}, RoleRef: role, Subjects: []rbacv1.Subject{subject}}, metav1.CreateOptions{})
	}
	if err != nil {
		t.Fatalf("bind %s: %v", name, err)
	}
}

var aliceSubject = rbacv1.Subject{Kind: rbacv1.UserKind, APIGroup: rbacv1.GroupName, Name: "alice"}

func clusterRole(name string) rbacv1.RoleRef {
	return rbacv1.RoleRef{APIGroup: rbacv1.GroupName, Kind: "ClusterRole", Name: name}
}

// TestRBAC: a user may do what the bindings in the store grant, from the
// moment they are written, and nothing else; the default roles are
// Kubernetes' (view reads no Secrets, edit writes no roles).
func TestRBAC(t *testing.T) {
	ts, alice, _ := startWithAlice(t)
	ctx := context.Background()
	if _, err := ts.client.CoreV1().Namespaces().Create(ctx, &corev1.Namespace{ObjectMeta: metav1.ObjectMeta{Name: "team"}}, metav1.CreateOptions{}); err != nil {
		t.Fatal(err)
	}
	_, err := alice.CoreV1().Pods("team").List(ctx, metav1.ListOptions{})
	if !apierrors.IsForbidden(err) || !strings.Contains(err.Error(), `User "alice" cannot list resource "pods" in API group "" in the namespace "team"`) {
		t.Fatalf("alice lists pods before any binding: %v, want kube's forbidden", err)
	}
	bind(t, ts.client, "team", "alice-view", clusterRole("view"), aliceSubject)
	// No wait: the binding holds from the moment it is written.
	if _, err := alice.CoreV1().Pods("team").List(ctx, metav1.ListOptions{}); err != nil {
		t.Fatalf("alice lists pods bound to view: %v", err)
	}
	for _, tc := range []struct {
		what string
		err  error
	}{
		{"get a secret in team", func() error { _, err := alice.CoreV1().Secrets("team").List(ctx, metav1.ListOptions{}); return err }()},
		{"list pods in default", func() error { _, err := alice.CoreV1().Pods("default").List(ctx, metav1.ListOptions{}); return err }()},
		{"create a configmap in team", func() error {
			_, err := alice.CoreV1().ConfigMaps("team").Create(ctx, &corev1.ConfigMap{ObjectMeta: metav1.ObjectMeta{Name: "x"}}, metav1.CreateOptions{})
			return err
		}()},
	} {
		if !apierrors.IsForbidden(tc.err) {
			t.Errorf("alice bound to view may %s: %v, want forbidden", tc.what, tc.err)
		}
	}
	bind(t, ts.client, "team", "alice-edit", clusterRole("edit"), aliceSubject)
	if _, err := alice.CoreV1().ConfigMaps("team").Create(ctx, &corev1.ConfigMap{ObjectMeta: metav1.ObjectMeta{Name: "x"}}, metav1.CreateOptions{}); err != nil {
		t.Fatalf("alice bound to edit creates a configmap: %v", err)
	}
	if _, err := alice.RbacV1().Roles("team").Create(ctx, &rbacv1.Role{ObjectMeta: metav1.ObjectMeta{Name: "r"}}, metav1.CreateOptions{}); !apierrors.IsForbidden(err) {
		t.Fatalf("alice bound to edit creates a role: %v, want forbidden", err)
	}
	// The history names the user behind the write.
	cm, err := ts.client.CoreV1().ConfigMaps("team").Get(ctx, "x", metav1.GetOptions{})
	if err != nil || cm.Name != "x" {
		t.Fatalf("configmap alice created: %v", err)
	}
	// Revoked, as soon as the binding is gone.
	if err := ts.client.RbacV1().RoleBindings("team").Delete(ctx, "alice-edit", metav1.DeleteOptions{}); err != nil {
		t.Fatal(err)
	}
	if err := alice.CoreV1().ConfigMaps("team").Delete(ctx, "x", metav1.DeleteOptions{}); !apierrors.IsForbidden(err) {
		t.Fatalf("alice deletes once edit is unbound: %v, want forbidden", err)
	}
}

// TestRBACEscalation: a user who may write roles and bindings cannot
// grant through them more than it holds, as in Kubernetes.
func TestRBACEscalation(t *testing.T) {
	ts, alice, _ := startWithAlice(t)
	ctx := context.Background()
	_, err := ts.client.RbacV1().Roles("default").Create(ctx, &rbacv1.Role{
		ObjectMeta: metav1.ObjectMeta{Name: "role-writer"},
		Rules: []rbacv1.PolicyRule{
			// Not "*", which holds escalate and bind too.
			{Verbs: []string{"create", "get", "list", "update", "delete"}, APIGroups: []string{rbacv1.GroupName}, Resources: []string{"roles", "rolebindings"}},
			{Verbs: []string{"get"}, APIGroups: []string{""}, Resources: []string{"pods"}},
		},
	}, metav1.CreateOptions{})
	if err != nil {
		t.Fatal(err)
	}
	bind(t, ts.client, "default", "alice-writes-roles", rbacv1.RoleRef{APIGroup: rbacv1.GroupName, Kind: "Role", Name: "role-writer"}, aliceSubject)
	role := func(name string, verbs ...string) *rbacv1.Role {
		return &rbacv1.Role{ObjectMeta: metav1.ObjectMeta{Name: name}, Rules: []rbacv1.PolicyRule{{Verbs: verbs, APIGroups: []string{""}, Resources: []string{"pods"}}}}
	}
	if _, err := alice.RbacV1().Roles("default").Create(ctx, role("pod-reader", "get"), metav1.CreateOptions{}); err != nil {
		t.Fatalf("alice creates a role with what she holds: %v", err)
	}
	if _, err := alice.RbacV1().Roles("default").Create(ctx, role("pod-killer", "delete"), metav1.CreateOptions{}); !apierrors.IsForbidden(err) {
		t.Fatalf("alice creates a role with more than she holds: %v, want forbidden", err)
	}
	_, err = alice.RbacV1().RoleBindings("default").Create(ctx, &rbacv1.RoleBinding{ObjectMeta: metav1.ObjectMeta{Name: "alice-admin"}, RoleRef: clusterRole("cluster-admin"), Subjects: []rbacv1.Subject{aliceSubject}}, metav1.CreateOptions{})
	if !apierrors.IsForbidden(err) {
		t.Fatalf("alice binds herself to cluster-admin: %v, want forbidden", err)
	}
	if _, err := alice.CoreV1().Pods("default").List(ctx, metav1.ListOptions{}); !apierrors.IsForbidden(err) {
		t.Fatalf("after the refused escalations alice lists pods: %v", err)
	}
}

// TestBootstrapPolicy: the default roles are served, the aggregated ones
// pick up new roles labelled for them, and sqlkube:read-only is a binding
// to view.
func TestBootstrapPolicy(t *testing.T) {
	ts := start(t, "")
	ctx := context.Background()
	for _, name := range []string{"cluster-admin", "admin", "edit", "view", "system:basic-user", "system:public-info-viewer", "system:node", "system:kube-scheduler", "system:controller:replicaset"} {
		if _, err := ts.client.RbacV1().ClusterRoles().Get(ctx, name, metav1.GetOptions{}); err != nil {
			t.Errorf("cluster role %s: %v", name, err)
		}
	}
	crb, err := ts.client.RbacV1().ClusterRoleBindings().Get(ctx, "sqlkube:read-only", metav1.GetOptions{})
	if err != nil || crb.RoleRef.Name != "view" {
		t.Fatalf("sqlkube:read-only binding: %+v %v", crb, err)
	}
	_, err = ts.client.RbacV1().ClusterRoles().Create(ctx, &rbacv1.ClusterRole{
		ObjectMeta: metav1.ObjectMeta{Name: "widget-viewer", Labels: map[string]string{"rbac.authorization.k8s.io/aggregate-to-view": "true"}},
		Rules:      []rbacv1.PolicyRule{{Verbs: []string{"get"}, APIGroups: []string{"example.com"}, Resources: []string{"widgets"}}},
	}, metav1.CreateOptions{})
	if err != nil {
		t.Fatal(err)
	}
	deadline := time.Now().Add(10 * time.Second)
	for {
		view, err := ts.client.RbacV1().ClusterRoles().Get(ctx, "view", metav1.GetOptions{})
		if err != nil {
			t.Fatal(err)
		}
		if slices.ContainsFunc(view.Rules, func(r rbacv1.PolicyRule) bool { return slices.Contains(r.Resources, "widgets") }) {
			if slices.ContainsFunc(view.Rules, func(r rbacv1.PolicyRule) bool { return slices.Contains(r.Resources, "secrets") }) {
				t.Fatalf("view grants secrets: %+v", view.Rules)
			}
			break
		}
		if time.Now().After(deadline) {
			t.Fatalf("view did not aggregate widget-viewer: %+v", view.Rules)
		}
		time.Sleep(50 * time.Millisecond)
	}
	// A binding that names a role it may not reference is refused.
	_, err = ts.client.RbacV1().ClusterRoleBindings().Create(ctx, &rbacv1.ClusterRoleBinding{ObjectMeta: metav1.ObjectMeta{Name: "bad"}, RoleRef: rbacv1.RoleRef{APIGroup: rbacv1.GroupName, Kind: "Role", Name: "x"}, Subjects: []rbacv1.Subject{aliceSubject}}, metav1.CreateOptions{})
	if !apierrors.IsInvalid(err) {
		t.Fatalf("a ClusterRoleBinding to a Role: %v, want invalid", err)
	}
}

// TestNodeReadsOnlyWhatItsPodsUse: the node authorizer gives a node the
// Secrets its pods use and no others.
func TestNodeReadsOnlyWhatItsPodsUse(t *testing.T) {
	ts, _, node := startWithAlice(t)
	ctx := context.Background()
	for _, name := range []string{"mine", "theirs"} {
		if _, err := ts.client.CoreV1().Secrets("default").Create(ctx, &corev1.Secret{ObjectMeta: metav1.ObjectMeta{Name: name}}, metav1.CreateOptions{}); err != nil {
			t.Fatal(err)
		}
	}
	pod := func(name, node, secret string) *corev1.Pod {
		return &corev1.Pod{ObjectMeta: metav1.ObjectMeta{Name: name}, Spec: corev1.PodSpec{NodeName: node,
			Containers: []corev1.Container{{Name: "c", Image: "busybox", EnvFrom: []corev1.EnvFromSource{{SecretRef: &corev1.SecretEnvSource{LocalObjectReference: corev1.LocalObjectReference{Name: secret}}}}}}}}
	}
	for _, p := range []*corev1.Pod{pod("on-n1", "n1", "mine"), pod("on-n2", "n2", "theirs")} {
		if _, err := ts.client.CoreV1().Pods("default").Create(ctx, p, metav1.CreateOptions{}); err != nil {
			t.Fatal(err)
		}
	}
	if _, err := node.CoreV1().Secrets("default").Get(ctx, "mine", metav1.GetOptions{}); err != nil {
		t.Fatalf("n1 reads the secret of its pod: %v", err)
	}
	if _, err := node.CoreV1().Secrets("default").Get(ctx, "theirs", metav1.GetOptions{}); !apierrors.IsForbidden(err) {
		t.Fatalf("n1 reads the secret of n2's pod: %v, want forbidden", err)
	}
	if _, err := node.CoreV1().Secrets("default").List(ctx, metav1.ListOptions{}); !apierrors.IsForbidden(err) {
		t.Fatalf("n1 lists every secret: %v, want forbidden", err)
	}
	if _, err := node.CoreV1().Pods("default").List(ctx, metav1.ListOptions{}); err != nil {
		t.Fatalf("n1 lists pods: %v", err)
	}
}

// TestImpersonation: Impersonate-* headers act as another user when RBAC
// grants the impersonate verb, and are refused otherwise.
func TestImpersonation(t *testing.T) {
	ts, alice, _ := startWithAlice(t)
	ctx := context.Background()
	as := func(c *kubernetes.Clientset, imp rest.ImpersonationConfig) *kubernetes.Clientset {
		cfg := rest.CopyConfig(ts.cfg)
		if c != nil {
			cfg.BearerToken = "alice-token"
		}
		cfg.Impersonate = imp
		return kubernetes.NewForConfigOrDie(cfg)
	}
	whoami := func(c *kubernetes.Clientset) (authenticationv1.UserInfo, error) {
		r, err := c.AuthenticationV1().SelfSubjectReviews().Create(ctx, &authenticationv1.SelfSubjectReview{}, metav1.CreateOptions{})
		if err != nil {
			return authenticationv1.UserInfo{}, err
		}
		return r.Status.UserInfo, nil
	}
	// The admin acts as bob in group dev, and is then only bob.
	bob := as(nil, rest.ImpersonationConfig{UserName: "bob", Groups: []string{"dev"}, Extra: map[string][]string{"scopes": {"a"}}})
	info, err := whoami(bob)
	if err != nil || info.Username != "bob" || !slices.Contains(info.Groups, "dev") || !slices.Contains(info.Groups, "system:authenticated") || slices.Contains(info.Groups, "system:masters") {
		t.Fatalf("the admin as bob: %+v %v", info, err)
	}
	if _, err := bob.CoreV1().Secrets("default").List(ctx, metav1.ListOptions{}); !apierrors.IsForbidden(err) {
		t.Fatalf("bob lists secrets: %v, want forbidden", err)
	}
	// Alice may not impersonate, until RBAC says she may (users only).
	aliceAsBob := as(alice, rest.ImpersonationConfig{UserName: "bob"})
	if _, err := whoami(aliceAsBob); !apierrors.IsForbidden(err) || !strings.Contains(err.Error(), "impersonate") {
		t.Fatalf("alice as bob without the right: %v, want forbidden", err)
	}
	if _, err := ts.client.RbacV1().ClusterRoles().Create(ctx, &rbacv1.ClusterRole{ObjectMeta: metav1.ObjectMeta{Name: "impersonate-bob"},
		Rules: []rbacv1.PolicyRule{{Verbs: []string{"impersonate"}, APIGroups: []string{""}, Resources: []string{"users"}, ResourceNames: []string{"bob"}}}}, metav1.CreateOptions{}); err != nil {
		t.Fatal(err)
	}
	bind(t, ts.client, "", "alice-impersonates-bob", clusterRole("impersonate-bob"), aliceSubject)
	if info, err := whoami(aliceAsBob); err != nil || info.Username != "bob" {
		t.Fatalf("alice as bob with the right: %+v %v", info, err)
	}
	for _, imp := range []rest.ImpersonationConfig{{UserName: "carol"}, {UserName: "bob", Groups: []string{"system:masters"}}} {
		if _, err := whoami(as(alice, imp)); !apierrors.IsForbidden(err) {
			t.Errorf("alice as %+v: %v, want forbidden", imp, err)
		}
	}
	// Groups without a user are a bad request.
	code, body := ts.raw(t, http.MethodGet, "/api/v1/namespaces", "", nil, "")
	if code != 200 {
		t.Fatalf("plain request: %d %s", code, body)
	}
	req, _ := http.NewRequest(http.MethodGet, ts.url+"/api/v1/namespaces", nil)
	req.Header.Set("Authorization", "Bearer "+ts.cfg.BearerToken)
	req.Header.Set("Impersonate-Group", "dev")
	resp, err := rawClient.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	resp.Body.Close()
	if resp.StatusCode != http.StatusBadRequest {
		t.Fatalf("Impersonate-Group alone: %d, want 400", resp.StatusCode)
	}
}

// TestSubjectAccessReview: whoever may create SubjectAccessReviews asks
// about another user, with the answer the server itself would give.
func TestSubjectAccessReview(t *testing.T) {
	ts, alice, _ := startWithAlice(t)
	ctx := context.Background()
	bind(t, ts.client, "default", "alice-view", clusterRole("view"), aliceSubject)
	ask := func(verb, resource string) (bool, error) {
		r, err := ts.client.AuthorizationV1().SubjectAccessReviews().Create(ctx, &authorizationv1.SubjectAccessReview{Spec: authorizationv1.SubjectAccessReviewSpec{
			User: "alice", Groups: []string{"system:authenticated"},
			ResourceAttributes: &authorizationv1.ResourceAttributes{Namespace: "default", Verb: verb, Resource: resource},
		}}, metav1.CreateOptions{})
		if err != nil {
			return false, err
		}
		return r.Status.Allowed, nil
	}
	if ok, err := ask("list", "pods"); err != nil || !ok {
		t.Fatalf("may alice list pods: %v %v, want yes", ok, err)
	}
	if ok, err := ask("get", "secrets"); err != nil || ok {
		t.Fatalf("may alice get secrets: %v %v, want no", ok, err)
	}
	_, err := alice.AuthorizationV1().SubjectAccessReviews().Create(ctx, &authorizationv1.SubjectAccessReview{Spec: authorizationv1.SubjectAccessReviewSpec{
		User: "admin", ResourceAttributes: &authorizationv1.ResourceAttributes{Verb: "get", Resource: "pods"}}}, metav1.CreateOptions{})
	if !apierrors.IsForbidden(err) {
		t.Fatalf("alice asks about another user: %v, want forbidden", err)
	}
	_, err = ts.client.AuthorizationV1().SubjectAccessReviews().Create(ctx, &authorizationv1.SubjectAccessReview{Spec: authorizationv1.SubjectAccessReviewSpec{
		ResourceAttributes: &authorizationv1.ResourceAttributes{Verb: "get", Resource: "pods"}}}, metav1.CreateOptions{})
	if !apierrors.IsInvalid(err) {
		t.Fatalf("a review of nobody: %v, want invalid", err)
	}
}
