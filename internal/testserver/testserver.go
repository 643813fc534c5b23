// Package testserver starts a real sqlkube API server inside a test, for
// integration tests of its clients (scheduler, controllers, nodes).
package testserver

import (
	"context"
	"net"
	"os"
	"testing"
	"time"

	"k8s.io/client-go/kubernetes"
	"k8s.io/client-go/rest"
	"k8s.io/client-go/tools/clientcmd"

	"github.com/sqlkube/sqlkube/cluster"
	"github.com/sqlkube/sqlkube/server"
)

// Server is a running API server on SQLite in a temporary directory.
type Server struct {
	Config     *rest.Config
	Client     kubernetes.Interface
	Kubeconfig string
	DataDir    string
}

// Start runs a server until the test ends: it opens a cluster in a
// temporary directory and serves it, as `sqlkube server` does, without
// compaction. The API server alone runs no controllers and no scheduler
// (the sqlkube command wires those), so a test drives exactly the ones it
// builds. mods adjust the server's configuration.
func Start(t testing.TB, mods ...func(*server.Config)) *Server {
	t.Helper()
	dir := t.TempDir()
	ctx, cancel := context.WithCancel(context.Background())
	cfg := server.Config{SecurePort: freePort(t), Version: "test"}
	for _, m := range mods {
		m(&cfg)
	}
	c, err := cluster.Open(ctx, cluster.Config{DataDir: dir, Logger: cfg.Logger})
	if err != nil {
		cancel()
		t.Fatalf("open the cluster: %v", err)
	}
	s, err := server.New(ctx, cfg, c)
	if err != nil {
		cancel()
		c.Close()
		t.Fatalf("start API server: %v", err)
	}
	done := make(chan error, 1)
	go func() { done <- s.Run(ctx) }()
	t.Cleanup(func() {
		cancel()
		if err := <-done; err != nil {
			t.Errorf("API server: %v", err)
		}
		c.Close()
	})
	ts := &Server{Kubeconfig: s.KubeconfigPath(), DataDir: dir}
	deadline := time.Now().Add(10 * time.Second)
	for {
		if _, err := os.Stat(ts.Kubeconfig); err == nil {
			if ts.Config, err = clientcmd.BuildConfigFromFlags("", ts.Kubeconfig); err != nil {
				t.Fatalf("read %s: %v", ts.Kubeconfig, err)
			}
			ts.Config.QPS, ts.Config.Burst = -1, 0
			ts.Client = kubernetes.NewForConfigOrDie(ts.Config)
			if b, err := ts.Client.CoreV1().RESTClient().Get().AbsPath("/readyz").DoRaw(ctx); err == nil && string(b) == "ok" {
				return ts
			}
		}
		if time.Now().After(deadline) {
			t.Fatal("API server not ready in 10s")
		}
		time.Sleep(20 * time.Millisecond)
	}
}

func freePort(t testing.TB) int {
	t.Helper()
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatalf("free port: %v", err)
	}
	defer l.Close()
	return l.Addr().(*net.TCPAddr).Port
}
