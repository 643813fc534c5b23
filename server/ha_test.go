package server_test

import (
	"context"
	"fmt"
	"strings"
	"testing"

	corev1 "k8s.io/api/core/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/types"
	"k8s.io/client-go/kubernetes"
	"k8s.io/client-go/rest"

	"github.com/sqlkube/sqlkube/cluster"
	"github.com/sqlkube/sqlkube/internal/testenv"
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
	url, err := pg.CreateDatabase(ctx, fmt.Sprint("two_servers_", dbSeq.Add(1)))
	if err != nil {
		t.Fatal(err)
	}
	a := startCluster(t, cluster.Config{Datastore: url, Token: "cluster-secret"})
	b := startCluster(t, cluster.Config{Datastore: url, Token: "cluster-secret"})
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
	// Writes alternate between the servers as fast as they can: each
	// server's cache of current objects may lag the other's writes, and
	// every write must still see the newest object.
	cms := map[bool]*kubernetes.Clientset{true: a.client, false: b.client}
	cm, err := a.client.CoreV1().ConfigMaps("default").Create(ctx, &corev1.ConfigMap{ObjectMeta: metav1.ObjectMeta{Name: "pingpong"}, Data: map[string]string{"n": "0"}}, metav1.CreateOptions{})
	if err != nil {
		t.Fatal(err)
	}
	for i := 1; i <= 40; i++ {
		c := cms[i%2 == 0].CoreV1().ConfigMaps("default")
		if i%4 < 2 {
			cm.Data["n"] = fmt.Sprint(i)
			if cm, err = c.Update(ctx, cm, metav1.UpdateOptions{}); err != nil {
				t.Fatalf("update %d with the newest resourceVersion: %v", i, err)
			}
		} else {
			if cm, err = c.Patch(ctx, "pingpong", types.MergePatchType, []byte(fmt.Sprintf(`{"data":{"n":"%d"}}`, i)), metav1.PatchOptions{}); err != nil {
				t.Fatalf("patch %d: %v", i, err)
			}
		}
	}
	for side, cs := range cms {
		got, err := cs.CoreV1().ConfigMaps("default").Get(ctx, "pingpong", metav1.GetOptions{})
		if err != nil || got.Data["n"] != "40" {
			t.Fatalf("server A=%v reads %v %v, want n=40", side, got.Data, err)
		}
	}
	if err := b.client.CoreV1().ConfigMaps("default").Delete(ctx, "pingpong", metav1.DeleteOptions{}); err != nil {
		t.Fatalf("delete through the other server: %v", err)
	}

	_, err = cluster.Open(ctx, cluster.Config{DataDir: t.TempDir(), Datastore: url, Token: "another-token"})
	if err == nil || !strings.Contains(err.Error(), "another token") {
		t.Fatalf("a server with another token: %v", err)
	}
}
