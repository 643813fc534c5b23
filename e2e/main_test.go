package e2e

import (
	"context"
	"fmt"
	"net"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/sqlkube/sqlkube/internal/testenv"
)

// binary is the sqlkube binary TestMain builds for the suite.
var binary string

func TestMain(m *testing.M) {
	dir, err := os.MkdirTemp("", "sqlkube-e2e-")
	if err != nil {
		fmt.Fprintln(os.Stderr, err)
		os.Exit(1)
	}
	binary = filepath.Join(dir, "sqlkube")
	build := exec.Command("go", "build", "-o", binary, "github.com/sqlkube/sqlkube/cmd/sqlkube")
	build.Stdout, build.Stderr = os.Stderr, os.Stderr
	if err := build.Run(); err != nil {
		fmt.Fprintln(os.Stderr, "build sqlkube:", err)
		os.Exit(1)
	}
	code := m.Run()
	os.RemoveAll(dir)
	os.Exit(code)
}

// cluster is a running `sqlkube server` and a kubectl pointed at it.
type cluster struct {
	dir        string
	kubeconfig string
	port       int
}

func freePort(t *testing.T) int {
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	defer l.Close()
	return l.Addr().(*net.TCPAddr).Port
}

// startServer runs `sqlkube server` with args until the test ends.
func startServer(t *testing.T, args ...string) *cluster {
	t.Helper()
	if _, err := exec.LookPath("kubectl"); err != nil {
		testenv.Missing(t, "kubectl")
	}
	c := &cluster{dir: t.TempDir(), port: freePort(t)}
	c.kubeconfig = filepath.Join(c.dir, "admin.kubeconfig")
	p := startProcess(t, filepath.Join(c.dir, "server.log"), append([]string{"server", "--data-dir", c.dir, "--bind-address", "127.0.0.1", "--secure-port", fmt.Sprint(c.port)}, args...)...)
	deadline := time.Now().Add(30 * time.Second)
	for {
		if out, err := c.kubectl("get", "--raw", "/readyz"); err == nil && out == "ok" {
			return c
		}
		select {
		case <-p.Done():
			b, _ := os.ReadFile(p.log)
			t.Fatalf("server exited:\n%s", b)
		default:
		}
		if time.Now().After(deadline) {
			t.Fatal("server not ready within 30s")
		}
		time.Sleep(100 * time.Millisecond)
	}
}

// process is a sqlkube process a test started.
type process struct {
	*testenv.Process
	log string
}

// startProcess runs the sqlkube binary with args, its output in logPath,
// until the test ends (or Stop); the log is printed if the test failed.
func startProcess(t *testing.T, logPath string, args ...string) *process {
	t.Helper()
	logf, err := os.Create(logPath)
	if err != nil {
		t.Fatal(err)
	}
	cmd := exec.Command(binary, args...)
	cmd.Stdout, cmd.Stderr = logf, logf
	child, err := testenv.StartProcess(cmd)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() {
		child.Stop(syscall.SIGTERM, 10*time.Second)
		logf.Close()
		if t.Failed() {
			if b, err := os.ReadFile(logPath); err == nil {
				t.Logf("%s:\n%s", filepath.Base(logPath), b)
			}
		}
	})
	return &process{Process: child, log: logPath}
}

// kubectl runs the installed kubectl against the cluster and returns its
// combined output, trimmed.
func (c *cluster) kubectl(args ...string) (string, error) {
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	cmd := exec.CommandContext(ctx, "kubectl", append([]string{"--kubeconfig", c.kubeconfig, "--cache-dir", filepath.Join(c.dir, "kubectl-cache")}, args...)...)
	out, err := cmd.CombinedOutput()
	return strings.TrimSpace(string(out)), err
}
