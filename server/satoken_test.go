package server_test

import (
	"context"
	"crypto/x509"
	"encoding/pem"
	"fmt"
	"net"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"testing"
	"time"

	authenticationv1 "k8s.io/api/authentication/v1"
	corev1 "k8s.io/api/core/v1"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/types"
	"k8s.io/apimachinery/pkg/util/wait"
	"k8s.io/client-go/kubernetes"
	"k8s.io/client-go/rest"

	"github.com/sqlkube/sqlkube/cluster"
	"github.com/sqlkube/sqlkube/internal/testenv"
	"github.com/sqlkube/sqlkube/server"
)

// asToken returns a client of ts that authenticates with token.
func (ts *testServer) asToken(token string) *kubernetes.Clientset {
	cfg := rest.CopyConfig(ts.cfg)
	cfg.BearerToken = token
	return kubernetes.NewForConfigOrDie(cfg)
}

func createServiceAccount(t *testing.T, c kubernetes.Interface, ns, name string) *corev1.ServiceAccount {
	t.Helper()
	sa, err := c.CoreV1().ServiceAccounts(ns).Create(context.Background(), &corev1.ServiceAccount{ObjectMeta: metav1.ObjectMeta{Name: name}}, metav1.CreateOptions{})
	if err != nil {
		t.Fatal(err)
	}
	return sa
}

func whoami(c kubernetes.Interface) (authenticationv1.UserInfo, error) {
	r, err := c.AuthenticationV1().SelfSubjectReviews().Create(context.Background(), &authenticationv1.SelfSubjectReview{}, metav1.CreateOptions{})
	if err != nil {
		return authenticationv1.UserInfo{}, err
	}
	return r.Status.UserInfo, nil
}

func createToken(c kubernetes.Interface, ns, sa string, spec authenticationv1.TokenRequestSpec) (*authenticationv1.TokenRequest, error) {
	return c.CoreV1().ServiceAccounts(ns).CreateToken(context.Background(), sa, &authenticationv1.TokenRequest{Spec: spec}, metav1.CreateOptions{})
}

// TestServiceAccountTokenRequest: kubectl create token, through
// client-go: the token authenticates as the service account with its
// groups; expiry and audiences are as asked, and checked; a missing
// account is 404; a too short expiry is refused; TokenReview answers from
// the same authentication.
func TestServiceAccountTokenRequest(t *testing.T) {
	ts := start(t, "")
	ctx := context.Background()
	sa := createServiceAccount(t, ts.client, "default", "robot")

	tr, err := createToken(ts.client, "default", "robot", authenticationv1.TokenRequestSpec{})
	if err != nil {
		t.Fatalf("create token: %v", err)
	}
	if strings.Count(tr.Status.Token, ".") != 2 {
		t.Fatalf("token %q is not a JWT", tr.Status.Token)
	}
	if d := time.Until(tr.Status.ExpirationTimestamp.Time); d < 59*time.Minute || d > 61*time.Minute {
		t.Errorf("expires in %v, want 1h by default", d)
	}
	if tr.Spec.ExpirationSeconds == nil || *tr.Spec.ExpirationSeconds != 3600 || !slices.Equal(tr.Spec.Audiences, []string{"https://kubernetes.default.svc.cluster.local"}) {
		t.Errorf("spec %+v: want 3600 s and the API audience", tr.Spec)
	}
	robot := ts.asToken(tr.Status.Token)
	u, err := whoami(robot)
	if err != nil {
		t.Fatalf("whoami with the token: %v", err)
	}
	wantGroups := []string{"system:serviceaccounts", "system:serviceaccounts:default", "system:authenticated"}
	if u.Username != "system:serviceaccount:default:robot" || u.UID != string(sa.UID) || !slices.Equal(u.Groups, wantGroups) {
		t.Fatalf("whoami = %+v, want the service account default/robot (uid %s) in %v", u, sa.UID, wantGroups)
	}
	if id := u.Extra["authentication.kubernetes.io/credential-id"]; len(id) != 1 || !strings.HasPrefix(id[0], "JTI=") {
		t.Errorf("extra %v: want a credential-id JTI=...", u.Extra)
	}
	// RBAC decides what it may do: nothing is granted to it.
	if _, err := robot.CoreV1().Secrets("default").List(ctx, metav1.ListOptions{}); !apierrors.IsForbidden(err) {
		t.Errorf("service account lists secrets: %v, want 403", err)
	}

	// Another audience: the API refuses it, a TokenReview for that
	// audience accepts it.
	vault, err := createToken(ts.client, "default", "robot", authenticationv1.TokenRequestSpec{Audiences: []string{"vault"}, ExpirationSeconds: ptr(int64(7200))})
	if err != nil {
		t.Fatal(err)
	}
	if d := time.Until(vault.Status.ExpirationTimestamp.Time); d < 119*time.Minute || d > 121*time.Minute {
		t.Errorf("--duration 2h expires in %v", d)
	}
	if _, err := whoami(ts.asToken(vault.Status.Token)); !apierrors.IsUnauthorized(err) {
		t.Fatalf("token for audience vault against the API: %v, want 401", err)
	}
	review := func(token string, auds ...string) authenticationv1.TokenReviewStatus {
		t.Helper()
		r, err := ts.client.AuthenticationV1().TokenReviews().Create(ctx, &authenticationv1.TokenReview{Spec: authenticationv1.TokenReviewSpec{Token: token, Audiences: auds}}, metav1.CreateOptions{})
		if err != nil {
			t.Fatal(err)
		}
		return r.Status
	}
	if st := review(tr.Status.Token); !st.Authenticated || st.User.Username != "system:serviceaccount:default:robot" || st.User.UID != string(sa.UID) {
		t.Errorf("review of a good token: %+v", st)
	}
	if st := review(vault.Status.Token, "vault", "other"); !st.Authenticated || !slices.Equal(st.Audiences, []string{"vault"}) {
		t.Errorf("review of the vault token for vault: %+v", st)
	}
	if st := review(vault.Status.Token); st.Authenticated || st.Error == "" {
		t.Errorf("review of the vault token for the API: %+v, want refused", st)
	}
	forged := tr.Status.Token[:len(tr.Status.Token)-4] + "AAAA"
	if st := review(forged); st.Authenticated {
		t.Errorf("review of a forged token: %+v", st)
	}
	if st := review("not-a-token"); st.Authenticated {
		t.Errorf("review of garbage: %+v", st)
	}

	// Errors.
	if _, err := createToken(ts.client, "default", "nobody", authenticationv1.TokenRequestSpec{}); !apierrors.IsNotFound(err) {
		t.Errorf("token for a missing service account: %v, want 404", err)
	}
	if _, err := createToken(ts.client, "default", "robot", authenticationv1.TokenRequestSpec{ExpirationSeconds: ptr(int64(300))}); !apierrors.IsInvalid(err) {
		t.Errorf("token for 5 minutes: %v, want 422", err)
	}
	long, err := createToken(ts.client, "default", "robot", authenticationv1.TokenRequestSpec{ExpirationSeconds: ptr(int64(30 * 24 * 3600))})
	if err != nil || *long.Spec.ExpirationSeconds != 48*3600 {
		t.Errorf("token for 30 days: %v %v, want lowered to 48h", long, err)
	}
	// The token stops working when its service account is deleted.
	if err := ts.client.CoreV1().ServiceAccounts("default").Delete(ctx, "robot", metav1.DeleteOptions{}); err != nil {
		t.Fatal(err)
	}
	if _, err := whoami(robot); !apierrors.IsUnauthorized(err) {
		t.Fatalf("token of a deleted service account: %v, want 401", err)
	}
	if st := review(tr.Status.Token); st.Authenticated {
		t.Errorf("review of a deleted account's token: %+v", st)
	}
}

func ptr[T any](v T) *T { return &v }

// TestPodBoundToken: a token bound to a pod carries the pod (and node)
// in the user's extra, and stops working once the pod is gone; a bound
// object that does not exist, or has another UID, is refused.
func TestPodBoundToken(t *testing.T) {
	ts := start(t, "")
	ctx := context.Background()
	createServiceAccount(t, ts.client, "default", "web")
	pod, err := ts.client.CoreV1().Pods("default").Create(ctx, &corev1.Pod{
		ObjectMeta: metav1.ObjectMeta{Name: "web-1"},
		Spec:       corev1.PodSpec{ServiceAccountName: "web", Containers: []corev1.Container{{Name: "c", Image: "nginx"}}},
	}, metav1.CreateOptions{})
	if err != nil {
		t.Fatal(err)
	}
	ref := func(kind, name, uid string) authenticationv1.TokenRequestSpec {
		return authenticationv1.TokenRequestSpec{BoundObjectRef: &authenticationv1.BoundObjectReference{APIVersion: "v1", Kind: kind, Name: name, UID: types.UID(uid)}}
	}
	tr, err := createToken(ts.client, "default", "web", ref("Pod", "web-1", ""))
	if err != nil {
		t.Fatalf("kubectl create token web --bound-object-kind Pod --bound-object-name web-1: %v", err)
	}
	c := ts.asToken(tr.Status.Token)
	u, err := whoami(c)
	if err != nil {
		t.Fatal(err)
	}
	if fmt.Sprint(u.Extra["authentication.kubernetes.io/pod-name"]) != "[web-1]" ||
		fmt.Sprint(u.Extra["authentication.kubernetes.io/pod-uid"]) != fmt.Sprint([]string{string(pod.UID)}) {
		t.Fatalf("extra %v: want the pod's name and uid", u.Extra)
	}

	if _, err := createToken(ts.client, "default", "web", ref("Pod", "nope", "")); !apierrors.IsNotFound(err) {
		t.Errorf("bound to a missing pod: %v, want 404", err)
	}
	if _, err := createToken(ts.client, "default", "web", ref("Pod", "web-1", "other-uid")); !apierrors.IsConflict(err) {
		t.Errorf("bound to a pod with another uid: %v, want 409", err)
	}
	if _, err := createToken(ts.client, "default", "web", ref("ConfigMap", "x", "")); !apierrors.IsBadRequest(err) {
		t.Errorf("bound to a ConfigMap: %v, want 400", err)
	}

	if err := ts.client.CoreV1().Pods("default").Delete(ctx, "web-1", metav1.DeleteOptions{GracePeriodSeconds: ptr(int64(0))}); err != nil {
		t.Fatal(err)
	}
	err = wait.PollUntilContextTimeout(ctx, 50*time.Millisecond, 5*time.Second, true, func(context.Context) (bool, error) {
		_, err := whoami(c)
		return apierrors.IsUnauthorized(err), nil
	})
	if err != nil {
		t.Fatal("the token of a deleted pod still authenticates")
	}
}

// TestNodeRequestsTokensForItsPods: a node may ask a token for the
// service account of a pod bound to it, bound to that pod (the token
// names the node), and nothing else, as the Node authorizer and
// NodeRestriction allow.
func TestNodeRequestsTokensForItsPods(t *testing.T) {
	ts, as := startWithUsers(t)
	ctx := context.Background()
	node := as("node-token") // system:node:n1
	createServiceAccount(t, ts.client, "default", "web")
	if _, err := ts.client.CoreV1().Pods("default").Create(ctx, &corev1.Pod{
		ObjectMeta: metav1.ObjectMeta{Name: "web-on-n1"},
		Spec:       corev1.PodSpec{NodeName: "n1", ServiceAccountName: "web", Containers: []corev1.Container{{Name: "c", Image: "nginx"}}},
	}, metav1.CreateOptions{}); err != nil {
		t.Fatal(err)
	}
	bound := authenticationv1.TokenRequestSpec{BoundObjectRef: &authenticationv1.BoundObjectReference{APIVersion: "v1", Kind: "Pod", Name: "web-on-n1"}}
	var tr *authenticationv1.TokenRequest
	err := wait.PollUntilContextTimeout(ctx, 50*time.Millisecond, 5*time.Second, true, func(context.Context) (bool, error) {
		var err error
		tr, err = createToken(node, "default", "web", bound)
		return err == nil, nil
	})
	if err != nil {
		t.Fatalf("node n1 asks a token for its pod: %v", err)
	}
	u, err := whoami(ts.asToken(tr.Status.Token))
	if err != nil || fmt.Sprint(u.Extra["authentication.kubernetes.io/node-name"]) != "[n1]" {
		t.Fatalf("whoami: %+v %v, want the node in extra", u, err)
	}
	if _, err := createToken(node, "default", "web", authenticationv1.TokenRequestSpec{}); !apierrors.IsForbidden(err) {
		t.Errorf("node asks an unbound token: %v, want 403", err)
	}
}

// TestLegacyTokenSecret: a Secret of type kubernetes.io/service-account-token
// gets the service account's uid, a token, the CA and the namespace; the
// token authenticates as the service account while the Secret exists.
func TestLegacyTokenSecret(t *testing.T) {
	ts := start(t, "")
	ctx := context.Background()
	sa := createServiceAccount(t, ts.client, "default", "builder")
	if _, err := ts.client.CoreV1().Secrets("default").Create(ctx, &corev1.Secret{
		ObjectMeta: metav1.ObjectMeta{Name: "builder-token", Annotations: map[string]string{corev1.ServiceAccountNameKey: "builder"}},
		Type:       corev1.SecretTypeServiceAccountToken,
	}, metav1.CreateOptions{}); err != nil {
		t.Fatal(err)
	}
	var secret *corev1.Secret
	err := wait.PollUntilContextTimeout(ctx, 50*time.Millisecond, 10*time.Second, true, func(ctx context.Context) (bool, error) {
		var err error
		secret, err = ts.client.CoreV1().Secrets("default").Get(ctx, "builder-token", metav1.GetOptions{})
		return err == nil && len(secret.Data["token"]) > 0, nil
	})
	if err != nil {
		t.Fatalf("the token secret was not filled in: %+v", secret)
	}
	ca, _ := os.ReadFile(filepath.Join(ts.dir, "ca.crt"))
	if secret.Annotations[corev1.ServiceAccountUIDKey] != string(sa.UID) || string(secret.Data["ca.crt"]) != string(ca) || string(secret.Data["namespace"]) != "default" {
		t.Fatalf("secret: annotations %v, ca.crt %d bytes, namespace %q", secret.Annotations, len(secret.Data["ca.crt"]), secret.Data["namespace"])
	}
	c := ts.asToken(string(secret.Data["token"]))
	u, err := whoami(c)
	if err != nil || u.Username != "system:serviceaccount:default:builder" || u.UID != string(sa.UID) {
		t.Fatalf("whoami with the legacy token: %+v %v", u, err)
	}
	if err := ts.client.CoreV1().Secrets("default").Delete(ctx, "builder-token", metav1.DeleteOptions{}); err != nil {
		t.Fatal(err)
	}
	if _, err := whoami(c); !apierrors.IsUnauthorized(err) {
		t.Fatalf("legacy token of a deleted secret: %v, want 401", err)
	}
}

// TestServingCertificateCoversInClusterNames: pods reach the API as
// kubernetes.default.svc or the kubernetes Service's ClusterIP, and
// operators through --tls-san names; the serving certificate covers them
// all, and an existing one that does not is re-issued.
func TestServingCertificateCoversInClusterNames(t *testing.T) {
	dir := t.TempDir()
	cfg := server.Config{SecurePort: freePort(t), ServiceCIDR: "10.43.0.0/16"}
	// newAndClose opens the cluster, prepares a server (issuing its
	// certificate) and closes the cluster.
	newAndClose := func() {
		t.Helper()
		ctx := context.Background()
		c, err := cluster.Open(ctx, cluster.Config{DataDir: dir})
		if err != nil {
			t.Fatal(err)
		}
		defer c.Close()
		if _, err := server.New(ctx, cfg, c); err != nil {
			t.Fatal(err)
		}
	}
	// A serving key left readable by others (and no certificate to go
	// with it) is private once the server has issued its own.
	if err := os.WriteFile(filepath.Join(dir, "serving.key"), nil, 0o644); err != nil {
		t.Fatal(err)
	}
	if err := os.Chmod(filepath.Join(dir, "serving.key"), 0o644); err != nil { // whatever the umask
		t.Fatal(err)
	}
	newAndClose()
	leaf := func() *x509.Certificate {
		t.Helper()
		b, err := os.ReadFile(filepath.Join(dir, "serving.crt"))
		if err != nil {
			t.Fatal(err)
		}
		p, _ := pem.Decode(b)
		c, err := x509.ParseCertificate(p.Bytes)
		if err != nil {
			t.Fatal(err)
		}
		return c
	}
	first := leaf()
	if fi, err := os.Stat(filepath.Join(dir, "serving.key")); err != nil {
		t.Fatal(err)
	} else if fi.Mode().Perm() != 0o600 {
		t.Fatalf("serving key has mode %v, want 0600", fi.Mode().Perm())
	}
	for _, h := range []string{"kubernetes", "kubernetes.default", "kubernetes.default.svc", "kubernetes.default.svc.cluster.local", "10.43.0.1", "localhost", "127.0.0.1"} {
		if err := first.VerifyHostname(h); err != nil {
			t.Errorf("serving certificate does not cover %s: %v", h, err)
		}
	}
	if first.VerifyHostname("api.example.com") == nil {
		t.Fatal("covers a name nobody asked for")
	}

	// Restarted with --tls-san: the certificate is re-issued.
	cfg.TLSSANs = []string{"api.example.com", "192.0.2.10"}
	newAndClose()
	second := leaf()
	if second.SerialNumber.Cmp(first.SerialNumber) == 0 {
		t.Fatal("the serving certificate was not re-issued for the new --tls-san")
	}
	if !slices.Contains(second.DNSNames, "api.example.com") || !slices.ContainsFunc(second.IPAddresses, func(ip net.IP) bool { return ip.Equal(net.ParseIP("192.0.2.10")) }) ||
		!slices.Contains(second.DNSNames, "kubernetes.default.svc") || !slices.ContainsFunc(second.IPAddresses, func(ip net.IP) bool { return ip.Equal(net.ParseIP("10.43.0.1")) }) {
		t.Fatalf("re-issued certificate: DNS %v, IPs %v", second.DNSNames, second.IPAddresses)
	}
}

// TestTokenFromAnotherServer: servers of one PostgreSQL share the signing
// key: a token one issued authenticates at the other.
func TestTokenFromAnotherServer(t *testing.T) {
	if pg == nil {
		testenv.Missing(t, "PostgreSQL")
	}
	ctx := context.Background()
	url, err := pg.CreateDatabase(ctx, fmt.Sprint("sa_tokens_", dbSeq.Add(1)))
	if err != nil {
		t.Fatal(err)
	}
	a := startCluster(t, cluster.Config{Datastore: url, Token: "cluster-secret"})
	b := startCluster(t, cluster.Config{Datastore: url, Token: "cluster-secret"})
	createServiceAccount(t, a.client, "default", "robot")
	tr, err := createToken(a.client, "default", "robot", authenticationv1.TokenRequestSpec{})
	if err != nil {
		t.Fatal(err)
	}
	u, err := whoami(b.asToken(tr.Status.Token))
	if err != nil || u.Username != "system:serviceaccount:default:robot" {
		t.Fatalf("A's token at B: %+v %v", u, err)
	}
	ka, _ := os.ReadFile(filepath.Join(a.dir, "service-account.key"))
	kb, _ := os.ReadFile(filepath.Join(b.dir, "service-account.key"))
	if len(ka) == 0 || string(ka) != string(kb) {
		t.Fatal("the servers' local signing keys differ")
	}
}
