package server_test

import (
	"context"
	"strings"
	"testing"

	corev1 "k8s.io/api/core/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/client-go/kubernetes"
	"k8s.io/client-go/rest"

	"github.com/sqlkube/sqlkube/internal/testenv"
	"github.com/sqlkube/sqlkube/server"
)

// TestTwoServersOneIdentity: servers started with the same --token on one
// PostgreSQL are one cluster: one CA (a kubeconfig from one works on the
// other) and one secrets key (each reads what the other wrote). A server
// with another token is refused, and changes nothing.
func TestTwoServersOneIdentity(t *testing.T) {
	if pg == nil {
		testenv.Missing(t, "PostgreSQL")
	}
	ctx := context.Background()
	url, err := pg.CreateDatabase(ctx, "two_servers")
	if err != nil {
		t.Fatal(err)
	}
	withToken := func(tok string) func(*server.Config) { return func(c *server.Config) { c.Token = tok } }
	a := start(t, url, withToken("cluster-secret"))
	b := start(t, url, withToken("cluster-secret"))
	if _, err := a.client.CoreV1().Secrets("default").Create(ctx, &corev1.Secret{
		ObjectMeta: metav1.ObjectMeta{Name: "db"}, StringData: map[string]string{"password": "s3cr3t"},
	}, metav1.CreateOptions{}); err != nil {
		t.Fatal(err)
	}
	got, err := b.client.CoreV1().Secrets("default").Get(ctx, "db", metav1.GetOptions{})
	if err != nil || string(got.Data["password"]) != "s3cr3t" {
		t.Fatalf("server B reading A's secret: %v %v", got, err)
	}
	// A's kubeconfig (A's CA, A's token) against B's address: TLS verifies.
	cfg := rest.CopyConfig(a.cfg)
	cfg.Host = b.url
	if _, err := kubernetes.NewForConfigOrDie(cfg).CoreV1().Services("default").Get(ctx, "kubernetes", metav1.GetOptions{}); err != nil {
		t.Fatalf("A's kubeconfig against B: %v", err)
	}
	_, err = server.New(ctx, server.Config{DataDir: t.TempDir(), Datastore: url, Token: "another-token", SecurePort: freePort(t)})
	if err == nil || !strings.Contains(err.Error(), "another token") {
		t.Fatalf("a server with another token: %v", err)
	}
}
