package join_test

import (
	"bytes"
	"context"
	"crypto/tls"
	"crypto/x509"
	"errors"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	authenticationv1 "k8s.io/api/authentication/v1"
	corev1 "k8s.io/api/core/v1"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/client-go/kubernetes"
	"k8s.io/client-go/tools/clientcmd"

	"github.com/sqlkube/sqlkube/cluster"
	"github.com/sqlkube/sqlkube/internal/testserver"
	"github.com/sqlkube/sqlkube/node/join"
)

// joinFixture is a running API server and its node token.
type joinFixture struct {
	ts    *testserver.Server
	token string
}

func newFixture(t *testing.T) joinFixture {
	t.Helper()
	ts := testserver.Start(t)
	b, err := os.ReadFile(filepath.Join(ts.DataDir, cluster.NodeTokenFile))
	if err != nil {
		t.Fatal(err)
	}
	return joinFixture{ts: ts, token: strings.TrimSpace(string(b))}
}

func (f joinFixture) config(t *testing.T, dir string) join.Config {
	return join.Config{Servers: []string{f.ts.Config.Host}, Token: f.token, NodeName: "n1", Addresses: []string{"127.0.0.1", "n1.local"}, DataDir: dir, Timeout: 5 * time.Second}
}

// unreachable is a URL where no server listens.
const unreachable = "https://127.0.0.1:1"

func TestJoin(t *testing.T) {
	f := newFixture(t)
	ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
	defer cancel()
	dir := t.TempDir()
	cfg := f.config(t, dir)
	cfg.Servers = []string{unreachable, f.ts.Config.Host}
	kubeconfig, creds, err := join.Join(ctx, cfg)
	if err != nil {
		t.Fatal(err)
	}

	t.Run("files", func(t *testing.T) {
		for name, mode := range map[string]os.FileMode{
			"node.kubeconfig": 0o600, "pki/node.key": 0o600, "pki/serving.key": 0o600,
			"pki/node.crt": 0o644, "pki/serving.crt": 0o644, "pki/ca.crt": 0o644,
		} {
			fi, err := os.Stat(filepath.Join(dir, name))
			if err != nil {
				t.Fatal(err)
			}
			if fi.Mode().Perm() != mode {
				t.Errorf("%s: mode %v, want %v", name, fi.Mode().Perm(), mode)
			}
		}
	})

	t.Run("kubeconfig is the node", func(t *testing.T) {
		rc, err := clientcmd.BuildConfigFromFlags("", kubeconfig)
		if err != nil {
			t.Fatal(err)
		}
		if rc.Host != unreachable {
			t.Errorf("kubeconfig server = %s, want the first server's", rc.Host)
		}
		rc.Host = f.ts.Config.Host
		c := kubernetes.NewForConfigOrDie(rc)
		r, err := c.AuthenticationV1().SelfSubjectReviews().Create(ctx, &authenticationv1.SelfSubjectReview{}, metav1.CreateOptions{})
		if err != nil {
			t.Fatal(err)
		}
		if r.Status.UserInfo.Username != "system:node:n1" {
			t.Fatalf("user = %+v", r.Status.UserInfo)
		}
		if _, err := c.CoreV1().Nodes().Create(ctx, &corev1.Node{ObjectMeta: metav1.ObjectMeta{Name: "n1"}}, metav1.CreateOptions{}); err != nil {
			t.Fatalf("create its own Node: %v", err)
		}
		if _, err := c.CoreV1().Nodes().Get(ctx, "n1", metav1.GetOptions{}); err != nil {
			t.Fatalf("get its own Node: %v", err)
		}
		if _, err := c.CoreV1().Secrets("").List(ctx, metav1.ListOptions{}); !apierrors.IsForbidden(err) {
			t.Fatalf("list secrets cluster-wide: error = %v, want Forbidden", err)
		}
	})

	t.Run("serving credentials", func(t *testing.T) {
		leaf := creds.ServingCert.Leaf
		if leaf == nil {
			t.Fatal("no parsed leaf")
		}
		for _, host := range []string{"n1", "n1.local", "127.0.0.1"} {
			if _, err := leaf.Verify(x509.VerifyOptions{Roots: creds.CA, DNSName: host}); err != nil {
				t.Errorf("serving certificate for %s: %v", host, err)
			}
		}
		// The pool holds the cluster CA: it verifies the API server.
		conn, err := tls.Dial("tcp", strings.TrimPrefix(f.ts.Config.Host, "https://"), &tls.Config{RootCAs: creds.CA, ServerName: "127.0.0.1"})
		if err != nil {
			t.Fatalf("verify the API server with the CA: %v", err)
		}
		conn.Close()
	})

	t.Run("second join reuses", func(t *testing.T) {
		before, _ := os.ReadFile(filepath.Join(dir, "pki/node.crt"))
		again := f.config(t, dir)
		again.Servers = []string{unreachable}
		if _, _, err := join.Join(ctx, again); err != nil {
			t.Fatalf("second join: %v", err)
		}
		after, _ := os.ReadFile(filepath.Join(dir, "pki/node.crt"))
		if !bytes.Equal(before, after) {
			t.Fatal("the second join issued new credentials")
		}
	})

	t.Run("new address rejoins", func(t *testing.T) {
		before, _ := os.ReadFile(filepath.Join(dir, "pki/serving.crt"))
		again := f.config(t, dir)
		again.Addresses = append(again.Addresses, "10.1.2.3")
		_, creds, err := join.Join(ctx, again)
		if err != nil {
			t.Fatal(err)
		}
		after, _ := os.ReadFile(filepath.Join(dir, "pki/serving.crt"))
		if bytes.Equal(before, after) {
			t.Fatal("the serving certificate was kept though it misses an address")
		}
		if err := creds.ServingCert.Leaf.VerifyHostname("10.1.2.3"); err != nil {
			t.Fatal(err)
		}
	})
}

func TestJoinRefused(t *testing.T) {
	f := newFixture(t)
	ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
	defer cancel()
	hash, _, err := cluster.ParseNodeToken(f.token)
	if err != nil {
		t.Fatal(err)
	}
	for _, tt := range []struct {
		name    string
		token   string
		servers []string
		want    error
	}{
		{name: "wrong secret", token: "K10" + hash + "::node:wrong", want: join.ErrTokenRefused},
		{name: "wrong CA pin", token: "K10" + strings.Repeat("0", 64) + "::node:whatever", want: join.ErrCAMismatch},
		{name: "no server reachable", token: f.token, servers: []string{unreachable}},
	} {
		t.Run(tt.name, func(t *testing.T) {
			dir := filepath.Join(t.TempDir(), "agent")
			cfg := f.config(t, dir)
			cfg.Token = tt.token
			if tt.servers != nil {
				cfg.Servers = tt.servers
			}
			_, _, err := join.Join(ctx, cfg)
			if err == nil {
				t.Fatal("joined")
			}
			if tt.want != nil && !errors.Is(err, tt.want) {
				t.Fatalf("error = %v, want %v", err, tt.want)
			}
			if _, err := os.Stat(dir); !errors.Is(err, os.ErrNotExist) {
				t.Fatalf("the failed join wrote %s (%v)", dir, err)
			}
		})
	}
}

func TestJoinConfig(t *testing.T) {
	for _, tt := range []struct {
		name    string
		cfg     join.Config
		wantErr string
	}{
		{"no server", join.Config{Token: "x", NodeName: "n1", DataDir: "d"}, "no server"},
		{"no data dir", join.Config{Servers: []string{"https://a"}, NodeName: "n1"}, "data directory"},
		{"bad name", join.Config{Servers: []string{"https://a"}, NodeName: "N1", DataDir: "d"}, "node name"},
		{"token without pin", join.Config{Servers: []string{"https://a"}, NodeName: "n1", DataDir: "d", Token: "node:secret"}, "want K10"},
	} {
		t.Run(tt.name, func(t *testing.T) {
			_, _, err := join.Join(context.Background(), tt.cfg)
			if err == nil || !strings.Contains(err.Error(), tt.wantErr) {
				t.Fatalf("error = %v, want one containing %q", err, tt.wantErr)
			}
		})
	}
}
