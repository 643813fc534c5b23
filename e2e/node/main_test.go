package node

import (
	"bytes"
	"context"
	"fmt"
	"net"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/sqlkube/sqlkube/internal/testenv"
)

func TestMain(m *testing.M) { testenv.IsolateNetwork(m) }

// env is what every test of the package shares: one API server, one node
// agent, a private containerd and a registry holding the busybox image.
// TestNode sets it up once and runs the tests as its subtests.
type env struct {
	root       *testing.T // TestNode's: the processes live as long as it
	binary     string
	dir        string // the server's data dir
	kubeconfig string
	image      string
	containerd *testenv.ContainerdDaemon
	server     *process
	agent      *process
	agentArgs  []string
	nodeDir    string // the agent's data dir
}

// TestNode builds the binary, starts the cluster, and runs every scenario
// against it. The order matters only at the end: the agent and containerd
// restarts, then the leak check after every pod is deleted.
func TestNode(t *testing.T) {
	if _, err := exec.LookPath("kubectl"); err != nil {
		testenv.Missing(t, "kubectl")
	}
	e := &env{root: t, containerd: testenv.StartContainerd(t)}
	e.image = testenv.PushBusybox(t, testenv.Registry(t), "busybox:1")
	e.build(t)
	e.startServer(t)
	e.nodeDir = filepath.Join(t.TempDir(), "node")
	t.Cleanup(func() {
		// What pods still hold when a test failed or ran alone (network
		// namespaces) must not keep the temporary directory.
		m := mountsUnder(e.nodeDir)
		for i := len(m) - 1; i >= 0; i-- {
			_ = syscall.Unmount(m[i], syscall.MNT_DETACH)
		}
	})
	e.agentArgs = []string{"node", "--kubeconfig", e.kubeconfig, "--name", "n1",
		"--containerd-socket", e.containerd.Socket, "--data-dir", e.nodeDir,
		"--port", fmt.Sprint(freePort(t)), "--read-only-port", fmt.Sprint(freePort(t))}
	e.startAgent(t)
	e.eventually(t, 60*time.Second, "node n1 is Ready", func() bool {
		out, _ := e.kubectl("get", "node", "n1", "-o", `jsonpath={.status.conditions[?(@.type=="Ready")].status}`)
		return out == "True"
	})

	t.Run("pods", func(t *testing.T) {
		for _, tc := range []struct {
			name string
			run  func(*testing.T, *env)
		}{
			{"logs", testLogs},
			{"exec", testExec},
			{"cp", testCp},
			{"port-forward", testPortForward},
			{"probes", testProbes},
			{"oom", testOOM},
			{"bad input", testBadInput},
		} {
			t.Run(tc.name, func(t *testing.T) {
				t.Parallel()
				tc.run(t, e)
			})
		}
	})
	t.Run("agent restart", func(t *testing.T) { testAgentRestart(t, e) })
	t.Run("containerd restart", func(t *testing.T) { testContainerdRestart(t, e) })
	t.Run("no leaks", func(t *testing.T) { testNoLeaks(t, e) })
	t.Run("join", func(t *testing.T) { testJoin(t, e) })
}

// build builds the sqlkube binary into a temporary directory.
func (e *env) build(t *testing.T) {
	t.Helper()
	e.binary = filepath.Join(t.TempDir(), "sqlkube")
	out, err := exec.Command("go", "build", "-o", e.binary, "github.com/sqlkube/sqlkube/cmd/sqlkube").CombinedOutput()
	if err != nil {
		t.Fatalf("build sqlkube: %v\n%s", err, out)
	}
}

func (e *env) startServer(t *testing.T) {
	t.Helper()
	e.dir = t.TempDir()
	e.kubeconfig = filepath.Join(e.dir, "admin.kubeconfig")
	e.server = e.start(t, "server.log", "server", "--data-dir", e.dir, "--bind-address", "127.0.0.1",
		"--secure-port", fmt.Sprint(freePort(t)))
	e.eventually(t, 30*time.Second, "the server is ready", func() bool {
		select {
		case <-e.server.Done():
			b, _ := os.ReadFile(e.server.log)
			t.Fatalf("server exited:\n%s", b)
		default:
		}
		out, err := e.kubectl("get", "--raw", "/readyz")
		return err == nil && out == "ok"
	})
}

// startAgent starts `sqlkube node` with e.agentArgs; its log is appended to
// agent.log, so a restarted agent keeps the log of the one before.
func (e *env) startAgent(t *testing.T) {
	t.Helper()
	e.agent = e.start(t, "agent.log", e.agentArgs...)
}

// stopAgent stops the agent with SIGTERM and fails if it does not exit on it.
func (e *env) stopAgent(t *testing.T) {
	t.Helper()
	if !e.agent.Stop(syscall.SIGTERM, 20*time.Second) {
		t.Error("the agent did not exit on SIGTERM within 20s")
	}
}

// process is a sqlkube process a test started.
type process struct {
	*testenv.Process
	log string
}

// start runs the binary with args, its output appended to logName in the
// server's data dir, until TestNode ends; the log is printed if it failed.
func (e *env) start(t *testing.T, logName string, args ...string) *process {
	t.Helper()
	dir := e.dir
	if dir == "" {
		dir = t.TempDir()
	}
	logPath := filepath.Join(dir, logName)
	logf, err := os.OpenFile(logPath, os.O_CREATE|os.O_WRONLY|os.O_APPEND, 0o644)
	if err != nil {
		t.Fatal(err)
	}
	cmd := exec.Command(e.binary, args...)
	cmd.Stdout, cmd.Stderr = logf, logf
	child, err := testenv.StartProcess(cmd)
	if err != nil {
		t.Fatal(err)
	}
	p := &process{Process: child, log: logPath}
	e.root.Cleanup(func() {
		child.Stop(syscall.SIGTERM, 20*time.Second)
		logf.Close()
		if e.root.Failed() && (p == e.agent || p == e.server) { // once for a restarted agent
			if b, err := os.ReadFile(logPath); err == nil {
				e.root.Logf("%s:\n%s", logName, tailString(string(b), 30000))
			}
		}
	})
	return p
}

func tailString(s string, n int) string {
	if len(s) > n {
		return s[len(s)-n:]
	}
	return s
}

func freePort(t *testing.T) int {
	t.Helper()
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	defer l.Close()
	return l.Addr().(*net.TCPAddr).Port
}

// kubectlCmd is the installed kubectl with args, pointed at the cluster
// through KUBECONFIG, with extra environment variables env ("K=V").
func (e *env) kubectlCmd(ctx context.Context, env []string, args ...string) *exec.Cmd {
	return e.command(ctx, env, "kubectl", args...)
}

// command is name with args, in an environment where kubectl reaches the
// cluster, with extra environment variables env ("K=V").
func (e *env) command(ctx context.Context, env []string, name string, args ...string) *exec.Cmd {
	cmd := exec.CommandContext(ctx, name, args...)
	cmd.Env = append(append(os.Environ(), "KUBECONFIG="+e.kubeconfig,
		"KUBECACHEDIR="+filepath.Join(e.dir, "kubectl-cache")), env...)
	return cmd
}

// kubectl runs kubectl and returns its combined output, trimmed.
func (e *env) kubectl(args ...string) (string, error) {
	ctx, cancel := context.WithTimeout(context.Background(), 60*time.Second)
	defer cancel()
	out, err := e.kubectlCmd(ctx, nil, args...).CombinedOutput()
	return strings.TrimSpace(string(out)), err
}

// must runs kubectl and fails the test if it fails.
func (e *env) must(t *testing.T, args ...string) string {
	t.Helper()
	out, err := e.kubectl(args...)
	if err != nil {
		t.Fatalf("kubectl %s: %v\n%s", strings.Join(args, " "), err, out)
	}
	return out
}

// apply creates the objects of manifest (YAML) in namespace ns.
func (e *env) apply(t *testing.T, ns, manifest string) {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 60*time.Second)
	defer cancel()
	cmd := e.kubectlCmd(ctx, nil, "apply", "-n", ns, "-f", "-")
	cmd.Stdin = strings.NewReader(manifest)
	if out, err := cmd.CombinedOutput(); err != nil {
		t.Fatalf("kubectl apply: %v\n%s\n%s", err, out, manifest)
	}
}

// namespace creates a namespace for one test; the pods of the test live in
// it. It is not deleted at the end: testNoLeaks deletes every pod.
func (e *env) namespace(t *testing.T, name string) string {
	t.Helper()
	e.must(t, "create", "namespace", name)
	return name
}

// jsonpath returns `kubectl get` of obj in ns with a jsonpath template.
func (e *env) jsonpath(ns, obj, tmpl string) string {
	out, err := e.kubectl("get", "-n", ns, obj, "-o", "jsonpath="+tmpl)
	if err != nil {
		return ""
	}
	return out
}

// waitFor polls `kubectl get` of obj with a jsonpath template until its
// output matches the regexp want, and returns the output.
func (e *env) waitFor(t *testing.T, timeout time.Duration, ns, obj, tmpl, want string) string {
	t.Helper()
	re := regexp.MustCompile(want)
	var out string
	e.eventually(t, timeout, fmt.Sprintf("%s %s matches /%s/", obj, tmpl, want), func() bool {
		out = e.jsonpath(ns, obj, tmpl)
		return re.MatchString(out)
	}, func() string { return "last: " + out })
	return out
}

// waitReady waits until pod in ns is Ready.
func (e *env) waitReady(t *testing.T, ns, pod string) {
	t.Helper()
	e.waitFor(t, 60*time.Second, ns, "pod/"+pod, `{.status.conditions[?(@.type=="Ready")].status}`, `^True$`)
}

// eventually polls cond every 100ms until it holds, failing the test with
// what (and the output of the optional describe funcs) after timeout.
func (e *env) eventually(t *testing.T, timeout time.Duration, what string, cond func() bool, describe ...func() string) {
	t.Helper()
	deadline := time.Now().Add(timeout)
	for !cond() {
		if time.Now().After(deadline) {
			var b bytes.Buffer
			for _, d := range describe {
				b.WriteString(d())
				b.WriteString("\n")
			}
			t.Fatalf("not within %s: %s\n%s", timeout, what, b.String())
		}
		time.Sleep(100 * time.Millisecond)
	}
}

// busyboxPod is the manifest of a one-container pod running the busybox
// image with command (a shell script) and extra container fields (YAML
// flow-style map entries, may be empty).
func (e *env) busyboxPod(name, script, extra string) string {
	if extra != "" {
		extra = ", " + extra
	}
	return fmt.Sprintf(`apiVersion: v1
kind: Pod
metadata: {name: %s}
spec:
  terminationGracePeriodSeconds: 2
  containers:
  - {name: c, image: %s, command: [sh, -c, %q]%s}
`, name, e.image, script, extra)
}
