package node

import (
	"bufio"
	"bytes"
	"context"
	"crypto/rand"
	"errors"
	"fmt"
	"io"
	"net/http"
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

// transports are the two ways kubectl streams exec and port-forward: the
// default WebSocket, and SPDY, which older clients use.
var transports = []struct {
	name string
	env  []string
}{
	{"websocket", nil},
	{"spdy", []string{"KUBECTL_REMOTE_COMMAND_WEBSOCKETS=false", "KUBECTL_PORT_FORWARD_WEBSOCKETS=false"}},
}

// startKubectl starts a long-running kubectl (logs -f, port-forward) with
// its stdout on a pipe; it is stopped when the test ends.
func (e *env) startKubectl(t *testing.T, env []string, args ...string) (*testenv.Process, io.Reader, *bytes.Buffer) {
	t.Helper()
	cmd := e.kubectlCmd(context.Background(), env, args...)
	stdout, err := cmd.StdoutPipe()
	if err != nil {
		t.Fatal(err)
	}
	var stderr bytes.Buffer
	cmd.Stderr = &stderr
	p, err := testenv.StartProcess(cmd)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { p.Stop(syscall.SIGTERM, 5*time.Second) })
	return p, stdout, &stderr
}

// readLine reads one line from lines within timeout.
func readLine(t *testing.T, lines <-chan string, timeout time.Duration, what string) string {
	t.Helper()
	select {
	case l, ok := <-lines:
		if !ok {
			t.Fatalf("%s: output ended", what)
		}
		return l
	case <-time.After(timeout):
		t.Fatalf("%s: no line within %s", what, timeout)
	}
	return ""
}

func lineChan(r io.Reader) <-chan string {
	ch := make(chan string)
	go func() {
		defer close(ch)
		s := bufio.NewScanner(r)
		for s.Scan() {
			ch <- s.Text()
		}
	}()
	return ch
}

func testLogs(t *testing.T, e *env) {
	ns := e.namespace(t, "logs")
	e.apply(t, ns, e.busyboxPod("follow", `echo first; while [ ! -f /tmp/go ]; do sleep 0.1; done; echo second`, "")+
		"  restartPolicy: Never\n---\n"+
		e.busyboxPod("lines", `for i in $(seq 1 10); do echo line$i; done; while [ ! -f /tmp/go ]; do sleep 0.1; done; echo new; sleep 3600`, "")+
		"---\n"+
		e.busyboxPod("crash", `echo attempt-$(cat /data/n 2>/dev/null); echo x >> /data/n; [ $(wc -l < /data/n) -ge 2 ] || exit 1; sleep 3600`,
			"volumeMounts: [{name: data, mountPath: /data}]")+
		"  volumes: [{name: data, emptyDir: {}}]\n")

	t.Run("follow streams and returns when the container exits", func(t *testing.T) {
		e.waitFor(t, 60*time.Second, ns, "pod/follow", "{.status.phase}", "^Running$")
		p, stdout, stderr := e.startKubectl(t, nil, "logs", "-f", "-n", ns, "follow")
		lines := lineChan(stdout)
		if l := readLine(t, lines, 30*time.Second, "logs -f"); l != "first" {
			t.Fatalf("first line %q, want first", l)
		}
		// The container waits for /tmp/go: "first" came while it runs.
		e.must(t, "exec", "-n", ns, "follow", "--", "touch", "/tmp/go")
		if l := readLine(t, lines, 30*time.Second, "logs -f"); l != "second" {
			t.Fatalf("second line %q, want second", l)
		}
		select {
		case <-p.Done():
			if p.Err() != nil {
				t.Errorf("kubectl logs -f: %v\n%s", p.Err(), stderr)
			}
		case <-time.After(60 * time.Second):
			t.Fatal("kubectl logs -f did not return after the container exited")
		}
	})

	t.Run("options", func(t *testing.T) {
		e.waitFor(t, 60*time.Second, ns, "pod/lines", "{.status.phase}", "^Running$")
		e.eventually(t, 30*time.Second, "all ten lines are logged", func() bool {
			out, _ := e.kubectl("logs", "-n", ns, "lines")
			return strings.HasSuffix(out, "line10")
		})
		if out := e.must(t, "logs", "-n", ns, "lines", "--tail=3"); out != "line8\nline9\nline10" {
			t.Errorf("--tail=3: %q", out)
		}
		if out := e.must(t, "logs", "-n", ns, "lines", "--limit-bytes=5"); out != "line1" {
			t.Errorf("--limit-bytes=5: %q", out)
		}
		ts := regexp.MustCompile(`^(\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d(\.\d+)?Z) line(\d+)$`)
		out := e.must(t, "logs", "-n", ns, "lines", "--timestamps")
		var first time.Time
		for i, l := range strings.Split(out, "\n") {
			m := ts.FindStringSubmatch(l)
			if m == nil || m[3] != fmt.Sprint(i+1) {
				t.Fatalf("--timestamps line %d: %q", i+1, l)
			}
			if i == 0 {
				first, _ = time.Parse(time.RFC3339Nano, m[1])
			}
		}
		// --since-time has a resolution of one second: wait for the next
		// second before the container prints "new".
		since := first.Truncate(time.Second).Add(time.Second)
		time.Sleep(time.Until(since.Add(100 * time.Millisecond)))
		e.must(t, "exec", "-n", ns, "lines", "--", "touch", "/tmp/go")
		e.eventually(t, 30*time.Second, "the new line is logged", func() bool {
			out, _ := e.kubectl("logs", "-n", ns, "lines", "--tail=1")
			return out == "new"
		})
		if out := e.must(t, "logs", "-n", ns, "lines", "--since-time="+since.Format(time.RFC3339)); out != "new" {
			t.Errorf("--since-time=%s: %q, want only the line printed after", since.Format(time.RFC3339), out)
		}
		if out := e.must(t, "logs", "-n", ns, "lines", "--since=1h"); !strings.HasPrefix(out, "line1\n") || !strings.HasSuffix(out, "new") {
			t.Errorf("--since=1h: %q, want every line", out)
		}
	})

	t.Run("previous", func(t *testing.T) {
		e.waitFor(t, 90*time.Second, ns, "pod/crash", "{.status.containerStatuses[0].restartCount}", "^[1-9]")
		e.waitFor(t, 30*time.Second, ns, "pod/crash", "{.status.phase}", "^Running$")
		e.eventually(t, 30*time.Second, "the second attempt logs", func() bool {
			out, _ := e.kubectl("logs", "-n", ns, "crash")
			return out == "attempt-x"
		})
		if out := e.must(t, "logs", "-n", ns, "crash", "--previous"); out != "attempt-" {
			t.Errorf("--previous: %q, want attempt-", out)
		}
	})
}

func testExec(t *testing.T, e *env) {
	ns := e.namespace(t, "exec")
	e.apply(t, ns, e.busyboxPod("sh", "sleep 3600", ""))
	e.waitReady(t, ns, "sh")
	for _, tr := range transports {
		t.Run(tr.name, func(t *testing.T) {
			run := func(stdin string, args ...string) (string, int, time.Duration) {
				ctx, cancel := context.WithTimeout(context.Background(), 60*time.Second)
				defer cancel()
				cmd := e.command(ctx, tr.env, "kubectl", args...)
				if args[0] == "script" {
					cmd = e.command(ctx, tr.env, "script", args[1:]...)
				}
				cmd.Stdin = strings.NewReader(stdin)
				if args[0] == "script" {
					// script sends ^D to kubectl when its stdin ends: keep it open.
					pr, pw, err := os.Pipe()
					if err != nil {
						t.Fatal(err)
					}
					defer pr.Close()
					defer pw.Close()
					cmd.Stdin = pr
				}
				start := time.Now()
				out, err := cmd.CombinedOutput()
				took := time.Since(start)
				var exit *exec.ExitError
				if err != nil && !errors.As(err, &exit) {
					t.Fatalf("kubectl %v: %v", args, err)
				}
				return strings.TrimSpace(string(out)), cmd.ProcessState.ExitCode(), took
			}
			out, code, took := run("", "exec", "-n", ns, "sh", "--", "sh", "-c", "echo out; exit 3")
			if code != 3 || out != "out\ncommand terminated with exit code 3" {
				t.Errorf("exec exit 3: exit code %d, output %q", code, out)
			}
			t.Logf("exec 'exit 3' took %s", took.Round(time.Millisecond))
			out, code, took = run("hello\nworld\n", "exec", "-i", "-n", ns, "sh", "--", "cat")
			if code != 0 || out != "hello\nworld" {
				t.Errorf("exec -i cat: exit code %d, output %q", code, out)
			}
			t.Logf("exec -i cat took %s", took.Round(time.Millisecond))
			out, code, _ = run("", "exec", "-n", ns, "sh", "--", "no-such-command")
			if code == 0 || !strings.Contains(out, "no-such-command") {
				t.Errorf("exec of a missing command: exit code %d, output %q", code, out)
			}
			t.Logf("exec of a missing command: exit code %d, output %q", code, out)

			// util-linux script gives kubectl a pty of the size set here;
			// the size reaches the container's tty once the process runs.
			kc := fmt.Sprintf(`stty rows 33 cols 111; kubectl exec -it -n %s sh -- sh -c 'tty; until s=$(stty size 2>/dev/null); [ "${s#[1-9]}" != "$s" ]; do sleep 0.1; done; echo $s'`, ns)
			out, code, took = run("", "script", "-qec", kc, "/dev/null")
			if code != 0 || !regexp.MustCompile(`^/dev/pts/\d+\r\n33 111$`).MatchString(out) {
				t.Errorf("exec -it: exit code %d, output %q; want /dev/pts/N and the size 33 111", code, out)
			}
			t.Logf("exec -it took %s, output %q", took.Round(time.Millisecond), out)
		})
	}
}

func testCp(t *testing.T, e *env) {
	ns := e.namespace(t, "cp")
	e.apply(t, ns, e.busyboxPod("files", "sleep 3600", ""))
	e.waitReady(t, ns, "files")
	dir := t.TempDir()
	data := make([]byte, 256<<10)
	if _, err := rand.Read(data); err != nil {
		t.Fatal(err)
	}
	local, local2 := filepath.Join(dir, "x"), filepath.Join(dir, "x2")
	if err := os.WriteFile(local, data, 0o644); err != nil {
		t.Fatal(err)
	}
	e.must(t, "cp", local, ns+"/files:/tmp/x")
	e.must(t, "cp", ns+"/files:/tmp/x", local2)
	got, err := os.ReadFile(local2)
	if err != nil {
		t.Fatal(err)
	}
	if !bytes.Equal(got, data) {
		t.Errorf("kubectl cp round trip: got %d bytes, want the %d written", len(got), len(data))
	}
}

func testPortForward(t *testing.T, e *env) {
	ns := e.namespace(t, "pf")
	e.apply(t, ns, e.busyboxPod("web", "echo hello-pf > /www/index.html; exec httpd -f -p 8080 -h /www", "ports: [{containerPort: 8080}]"))
	e.waitReady(t, ns, "web")
	for _, tr := range transports {
		t.Run(tr.name, func(t *testing.T) {
			port := freePort(t)
			p, stdout, stderr := e.startKubectl(t, tr.env, "port-forward", "-n", ns, "pod/web", fmt.Sprintf("%d:8080", port))
			lines := lineChan(stdout)
			if l := readLine(t, lines, 30*time.Second, "port-forward"); !strings.HasPrefix(l, "Forwarding from 127.0.0.1:") {
				t.Fatalf("port-forward printed %q\n%s", l, stderr)
			}
			go func() {
				for range lines { // "Handling connection for ..."
				}
			}()
			hc := &http.Client{Timeout: 10 * time.Second}
			for i := 0; i < 3; i++ {
				resp, err := hc.Get(fmt.Sprintf("http://127.0.0.1:%d/index.html", port))
				if err != nil {
					t.Fatalf("GET through port-forward: %v\n%s", err, stderr)
				}
				body, _ := io.ReadAll(resp.Body)
				resp.Body.Close()
				if string(body) != "hello-pf\n" {
					t.Fatalf("GET through port-forward: %s %q", resp.Status, body)
				}
			}
			p.Stop(syscall.SIGTERM, 5*time.Second)
		})
	}
}
