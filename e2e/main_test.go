package e2e

import (
	"context"
	"fmt"
	"net"
	"os"
	"os/exec"
	"path/filepath"
	"runtime"
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
		case <-p.exited:
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
	cmd    *exec.Cmd
	log    string
	exited chan struct{}
}

// startProcess runs the sqlkube binary with args, its output in logPath,
// until the test ends (or stop); the log is printed if the test failed.
func startProcess(t *testing.T, logPath string, args ...string) *process {
	t.Helper()
	logf, err := os.Create(logPath)
	if err != nil {
		t.Fatal(err)
	}
	p := &process{cmd: exec.Command(binary, args...), log: logPath, exited: make(chan struct{})}
	p.cmd.Stdout, p.cmd.Stderr = logf, logf
	p.cmd.SysProcAttr = &syscall.SysProcAttr{Pdeathsig: syscall.SIGKILL}
	started := make(chan error, 1)
	go func() {
		// Pdeathsig follows the thread that started the child
		// (golang/go#27505): keep it while the process runs, so that a
		// test binary that dies takes it along.
		runtime.LockOSThread()
		defer runtime.UnlockOSThread()
		err := p.cmd.Start()
		started <- err
		if err == nil {
			_ = p.cmd.Wait()
		}
		close(p.exited)
	}()
	if err := <-started; err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() {
		p.stop(syscall.SIGTERM)
		logf.Close()
		if t.Failed() {
			if b, err := os.ReadFile(logPath); err == nil {
				t.Logf("%s:\n%s", filepath.Base(logPath), b)
			}
		}
	})
	return p
}

// stop sends sig and waits for the process to exit, killing it after 10 s.
func (p *process) stop(sig syscall.Signal) {
	_ = p.cmd.Process.Signal(sig)
	select {
	case <-p.exited:
	case <-time.After(10 * time.Second):
		_ = p.cmd.Process.Kill()
		<-p.exited
	}
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
