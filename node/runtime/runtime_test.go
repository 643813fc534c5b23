package runtime

import (
	"context"
	"errors"
	"io"
	"log/slog"
	"net"
	"net/netip"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	tasksapi "github.com/containerd/containerd/api/services/tasks/v1"
	"github.com/containerd/containerd/errdefs"
	"github.com/containerd/containerd/snapshots"
	"github.com/sqlkube/sqlkube/internal/testenv"
)

const podCIDR = "10.244.7.0/24"

func TestMain(m *testing.M) { testenv.IsolateNetwork(m) }

// env is one private containerd and registry with the busybox image, and a
// runtime over them.
type env struct {
	socket, stateDir, image string
	rt                      *Runtime
	logDir                  string
}

func newEnv(t *testing.T) *env {
	t.Helper()
	e := &env{socket: testenv.Containerd(t)}
	reg := testenv.Registry(t)
	e.image = testenv.PushBusybox(t, reg, "busybox:1")
	e.stateDir = t.TempDir()
	e.logDir = t.TempDir()
	e.rt = e.newRuntime(t)
	if err := e.rt.ConfigureNetwork(podCIDR); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { e.removeAll(t) })
	return e
}

func (e *env) newRuntime(t *testing.T) *Runtime {
	t.Helper()
	rt, err := New(context.Background(), Config{Address: e.socket, StateDir: e.stateDir,
		Logger: slog.New(slog.NewTextHandler(testWriter{t}, nil))})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { rt.Close() })
	return rt
}

// removeAll removes every container and sandbox, so no mount outlives the test.
func (e *env) removeAll(t *testing.T) {
	ctx := context.Background()
	cs, _ := e.rt.Containers(ctx)
	for _, c := range cs {
		if err := e.rt.RemoveContainer(ctx, c.ID); err != nil {
			t.Errorf("cleanup: %v", err)
		}
	}
	sbs, _ := e.rt.Sandboxes(ctx)
	for _, sb := range sbs {
		if err := e.rt.RemoveSandbox(ctx, sb.UID); err != nil {
			t.Errorf("cleanup: %v", err)
		}
	}
}

type testWriter struct{ t *testing.T }

func (w testWriter) Write(p []byte) (int, error) {
	w.t.Log(strings.TrimSpace(string(p)))
	return len(p), nil
}

// run creates and starts a container of sb running cmd.
func (e *env) run(t *testing.T, sb Sandbox, name string, cmd []string, mod func(*ContainerConfig)) string {
	t.Helper()
	ctx := context.Background()
	img, err := e.rt.PullImage(ctx, e.image, nil)
	if err != nil {
		t.Fatal(err)
	}
	cfg := ContainerConfig{Name: name, Image: img, Command: cmd,
		LogPath: filepath.Join(e.logDir, sb.UID, name+".log"), Labels: map[string]string{"test": name}}
	if mod != nil {
		mod(&cfg)
	}
	id, err := e.rt.CreateContainer(ctx, sb, cfg)
	if err != nil {
		t.Fatal(err)
	}
	if err := e.rt.StartContainer(ctx, id); err != nil {
		t.Fatal(err)
	}
	return id
}

// waitExit polls until container id exited and returns its status.
func (e *env) waitExit(t *testing.T, id string) ContainerStatus {
	t.Helper()
	var st ContainerStatus
	eventually(t, 30*time.Second, "container "+id+" exits", func() bool {
		var err error
		st, err = e.rt.ContainerStatus(context.Background(), id)
		if err != nil {
			t.Fatal(err)
		}
		return st.State == StateExited
	})
	return st
}

func (e *env) logOf(t *testing.T, id string) string {
	t.Helper()
	st, err := e.rt.ContainerStatus(context.Background(), id)
	if err != nil {
		t.Fatal(err)
	}
	data, err := os.ReadFile(st.LogPath)
	if err != nil && !errors.Is(err, os.ErrNotExist) {
		t.Fatal(err)
	}
	return string(data)
}

func eventually(t *testing.T, timeout time.Duration, what string, cond func() bool) {
	t.Helper()
	deadline := time.Now().Add(timeout)
	for !cond() {
		if time.Now().After(deadline) {
			t.Fatalf("timed out waiting until %s", what)
		}
		time.Sleep(50 * time.Millisecond)
	}
}

func TestImages(t *testing.T) {
	e := newEnv(t)
	ctx := context.Background()
	t.Run("pull from a plain-HTTP loopback registry", func(t *testing.T) {
		img, err := e.rt.PullImage(ctx, e.image, nil)
		if err != nil {
			t.Fatal(err)
		}
		if !strings.HasPrefix(img.ID, strings.TrimSuffix(e.image, ":1")+"@sha256:") {
			t.Errorf("ID = %q", img.ID)
		}
		if len(img.Config.Cmd) != 1 || img.Config.Cmd[0] != "/bin/sh" {
			t.Errorf("Config.Cmd = %v", img.Config.Cmd)
		}
		got, ok, err := e.rt.GetImage(ctx, e.image)
		if err != nil || !ok || got.ID != img.ID {
			t.Errorf("GetImage = %+v, %v, %v", got, ok, err)
		}
	})
	errCases := []struct {
		name, ref string
		want      error
	}{
		{"missing image", strings.Replace(e.image, "busybox", "does-not-exist", 1), ErrImageNotFound},
		{"registry down", "127.0.0.1:1/busybox:1", ErrRegistryUnavailable},
	}
	for _, tc := range errCases {
		t.Run(tc.name, func(t *testing.T) {
			_, err := e.rt.PullImage(ctx, tc.ref, nil)
			if !errors.Is(err, tc.want) {
				t.Fatalf("PullImage(%s) = %v, want %v", tc.ref, err, tc.want)
			}
			if !strings.Contains(err.Error(), tc.ref) {
				t.Errorf("error %q does not name the image", err)
			}
		})
	}
	t.Run("absent image", func(t *testing.T) {
		_, ok, err := e.rt.GetImage(ctx, "example.test/nothing:1")
		if ok || err != nil {
			t.Fatalf("GetImage = %v, %v", ok, err)
		}
	})
	t.Run("import archives", func(t *testing.T) {
		dir := t.TempDir()
		testenv.BusyboxArchive(t, dir, "example.test/imported:1")
		if err := e.rt.ImportImages(ctx, dir); err != nil {
			t.Fatal(err)
		}
		img, ok, err := e.rt.GetImage(ctx, "example.test/imported:1")
		if err != nil || !ok {
			t.Fatalf("GetImage = %v, %v", ok, err)
		}
		sb, err := e.rt.RunSandbox(ctx, SandboxConfig{UID: "imp", Namespace: "ns", Name: "imp"})
		if err != nil {
			t.Fatal(err)
		}
		id, err := e.rt.CreateContainer(ctx, sb, ContainerConfig{Name: "c", Image: img,
			Command: []string{"echo", "imported"}, LogPath: filepath.Join(e.logDir, "imp.log")})
		if err != nil {
			t.Fatal(err)
		}
		if err := e.rt.StartContainer(ctx, id); err != nil {
			t.Fatal(err)
		}
		if st := e.waitExit(t, id); st.ExitCode != 0 || !strings.Contains(e.logOf(t, id), "imported") {
			t.Fatalf("status %+v, log %q", st, e.logOf(t, id))
		}
	})
}

func TestPod(t *testing.T) {
	e := newEnv(t)
	ctx := context.Background()
	sb, err := e.rt.RunSandbox(ctx, SandboxConfig{UID: "pod-1", Namespace: "demo", Name: "web", Hostname: "web"})
	if err != nil {
		t.Fatal(err)
	}
	t.Run("sandbox has an IP of the pod CIDR", func(t *testing.T) {
		ip, err := netip.ParseAddr(sb.IP)
		if err != nil || !netip.MustParsePrefix(podCIDR).Contains(ip) {
			t.Fatalf("IP %q not in %s (%v)", sb.IP, podCIDR, err)
		}
		again, err := e.rt.RunSandbox(ctx, SandboxConfig{UID: "pod-1", Namespace: "demo", Name: "web"})
		if err != nil || again.IP != sb.IP || again.NetNS != sb.NetNS {
			t.Fatalf("second RunSandbox = %+v, %v; first %+v", again, err, sb)
		}
	})
	server := e.run(t, sb, "server", []string{"sh", "-c",
		"echo hello-pod > /tmp/index.html; echo up; exec httpd -f -p 8080 -h /tmp"}, nil)
	t.Run("containers of a pod share its network", func(t *testing.T) {
		client := e.run(t, sb, "client", []string{"sh", "-c",
			"until wget -qO- http://127.0.0.1:8080/index.html; do sleep 0.1; done; hostname"}, nil)
		st := e.waitExit(t, client)
		log := e.logOf(t, client)
		if st.ExitCode != 0 || st.Reason != ReasonCompleted || !strings.Contains(log, "hello-pod") || !strings.Contains(log, "web") {
			t.Fatalf("client status %+v, log %q", st, log)
		}
	})
	t.Run("memory limit reaches the cgroup", func(t *testing.T) {
		id := e.run(t, sb, "limits", []string{"cat", "/sys/fs/cgroup/memory/memory.limit_in_bytes"},
			func(c *ContainerConfig) { c.MemoryLimit = 32 << 20 })
		e.waitExit(t, id)
		if log := e.logOf(t, id); strings.TrimSpace(log) != "33554432" {
			t.Fatalf("log %q", log)
		}
	})
	t.Run("OOM kill is reported", func(t *testing.T) {
		id := e.run(t, sb, "oom", []string{"sh", "-c", `x=$(head -c 64m /dev/zero | tr "\0" a); echo survived`},
			func(c *ContainerConfig) { c.MemoryLimit = 8 << 20 })
		st := e.waitExit(t, id)
		if st.Reason != ReasonOOMKilled || st.ExitCode == 0 {
			t.Fatalf("status %+v, log %q", st, e.logOf(t, id))
		}
	})
	t.Run("exit code is kept after the task is gone", func(t *testing.T) {
		id := e.run(t, sb, "exit3", []string{"sh", "-c", "echo crashing; exit 3"}, nil)
		st := e.waitExit(t, id)
		_, err := e.rt.client.TaskService().Get(e.rt.ns(ctx), &tasksapi.GetRequest{ContainerID: id})
		if !errdefs.IsNotFound(errdefs.FromGRPC(err)) {
			t.Errorf("task still there: %v", err)
		}
		again, err := e.rt.ContainerStatus(ctx, id)
		if err != nil {
			t.Fatal(err)
		}
		for _, s := range []ContainerStatus{st, again} {
			if s.State != StateExited || s.ExitCode != 3 || s.Reason != ReasonError || s.FinishedAt.IsZero() || s.Labels["test"] != "exit3" {
				t.Fatalf("status %+v", s)
			}
		}
	})
	t.Run("exec", func(t *testing.T) {
		cases := []struct {
			name    string
			cmd     []string
			code    int
			out     string
			wantErr string
		}{
			{"output and exit code", []string{"sh", "-c", "echo out-$HOSTNAME; exit 5"}, 5, "out-", ""},
			{"missing executable", []string{"no-such-binary"}, 0, "", "not found"},
		}
		for _, tc := range cases {
			t.Run(tc.name, func(t *testing.T) {
				var out strings.Builder
				code, err := e.rt.Exec(ctx, server, tc.cmd, Streams{Stdout: &out, Stderr: &out})
				if tc.wantErr != "" {
					if err == nil || !strings.Contains(err.Error(), tc.wantErr) {
						t.Fatalf("Exec = %d, %v; want error with %q", code, err, tc.wantErr)
					}
					return
				}
				if err != nil || code != tc.code || !strings.Contains(out.String(), tc.out) {
					t.Fatalf("Exec = %d, %v, output %q", code, err, out.String())
				}
			})
		}
		t.Run("stdin", func(t *testing.T) {
			var out strings.Builder
			code, err := e.rt.Exec(ctx, server, []string{"cat"}, Streams{Stdin: strings.NewReader("from-stdin"), Stdout: &out})
			if err != nil || code != 0 || out.String() != "from-stdin" {
				t.Fatalf("Exec = %d, %v, output %q", code, err, out.String())
			}
		})
	})
	t.Run("port-forward reaches the pod's loopback", func(t *testing.T) {
		local, remote := net.Pipe()
		done := make(chan error, 1)
		go func() { done <- e.rt.PortForward(ctx, sb, 8080, remote) }()
		if _, err := io.WriteString(local, "GET /index.html HTTP/1.0\r\n\r\n"); err != nil {
			t.Fatal(err)
		}
		resp, _ := io.ReadAll(local)
		if err := <-done; err != nil {
			t.Fatal(err)
		}
		if !strings.Contains(string(resp), "hello-pod") {
			t.Fatalf("response %q", resp)
		}
	})
	t.Run("stats", func(t *testing.T) {
		st, err := e.rt.Stats(ctx, server)
		if err != nil || st.MemoryUsageBytes == 0 || st.CPUUsageNanos == 0 {
			t.Fatalf("Stats = %+v, %v", st, err)
		}
	})
	t.Run("stop honours SIGTERM, then kills", func(t *testing.T) {
		cases := []struct {
			name, script string
			code         int32
		}{
			{"handles TERM", `trap "echo term; exit 0" TERM; echo ready; while true; do sleep 0.1; done`, 0},
			{"ignores TERM", `trap "" TERM; echo ready; while true; do sleep 0.1; done`, 137},
		}
		for _, tc := range cases {
			t.Run(tc.name, func(t *testing.T) {
				id := e.run(t, sb, strings.ReplaceAll(tc.name, " ", "-"), []string{"sh", "-c", tc.script}, nil)
				eventually(t, 10*time.Second, "container ready", func() bool { return strings.Contains(e.logOf(t, id), "ready") })
				if err := e.rt.StopContainer(ctx, id, 500*time.Millisecond); err != nil {
					t.Fatal(err)
				}
				st, err := e.rt.ContainerStatus(ctx, id)
				if err != nil || st.State != StateExited || st.ExitCode != tc.code {
					t.Fatalf("status %+v, %v", st, err)
				}
			})
		}
	})
	t.Run("exits are streamed", func(t *testing.T) {
		sctx, cancel := context.WithCancel(ctx)
		defer cancel()
		exits, err := e.rt.Exits(sctx)
		if err != nil {
			t.Fatal(err)
		}
		id := e.run(t, sb, "quick", []string{"true"}, nil)
		timeout := time.After(30 * time.Second)
		for {
			select {
			case got, ok := <-exits:
				if !ok {
					t.Fatal("exit stream closed")
				}
				if got == id {
					return
				}
			case <-timeout:
				t.Fatal("no exit event")
			}
		}
	})
	t.Run("a new runtime adopts what runs", func(t *testing.T) {
		before, err := e.rt.ContainerStatus(ctx, server)
		if err != nil || before.State != StateRunning {
			t.Fatalf("status %+v, %v", before, err)
		}
		rt2 := e.newRuntime(t)
		sbs, err := rt2.Sandboxes(ctx)
		if err != nil || len(sbs) != 1 || sbs[0].UID != sb.UID || sbs[0].IP != sb.IP || sbs[0].NetNS != sb.NetNS {
			t.Fatalf("Sandboxes = %+v, %v", sbs, err)
		}
		after, err := rt2.ContainerStatus(ctx, server)
		if err != nil || after.State != StateRunning || after.Pid != before.Pid || !after.StartedAt.Equal(before.StartedAt) {
			t.Fatalf("after restart %+v, %v; before %+v", after, err, before)
		}
		all, err := rt2.Containers(ctx)
		if err != nil {
			t.Fatal(err)
		}
		for _, c := range all {
			if c.ID == server && c.State != StateRunning {
				t.Fatalf("Containers: server %+v", c)
			}
		}
	})
	t.Run("removal leaves nothing behind", func(t *testing.T) {
		e.removeAll(t)
		nctx := e.rt.ns(ctx)
		if cs, err := e.rt.client.Containers(nctx); err != nil || len(cs) != 0 {
			t.Errorf("containers left: %v, %v", len(cs), err)
		}
		if ts, err := e.rt.client.TaskService().List(nctx, &tasksapi.ListTasksRequest{}); err != nil || len(ts.Tasks) != 0 {
			t.Errorf("tasks left: %v, %v", ts, err)
		}
		var snaps []string
		_ = e.rt.client.SnapshotService(e.rt.snapshotter).Walk(nctx, func(_ context.Context, info snapshotInfo) error {
			if info.Kind == snapshotActive {
				snaps = append(snaps, info.Name)
			}
			return nil
		})
		if len(snaps) != 0 {
			t.Errorf("active snapshots left: %v", snaps)
		}
		if left, _ := os.ReadDir(filepath.Join(e.stateDir, "netns")); len(left) != 0 {
			t.Errorf("netns files left: %v", left)
		}
		leases, _ := filepath.Glob(filepath.Join(e.stateDir, "cni", "ipam", "*", "10.*"))
		if len(leases) != 0 {
			t.Errorf("IP leases left: %v", leases)
		}
		if _, err := os.Stat(filepath.Join(e.stateDir, "sandboxes", sb.UID)); !errors.Is(err, os.ErrNotExist) {
			t.Errorf("sandbox files left: %v", err)
		}
		if err := e.rt.RemoveSandbox(ctx, sb.UID); err != nil {
			t.Errorf("second RemoveSandbox: %v", err)
		}
	})
}

type snapshotInfo = snapshots.Info

const snapshotActive = snapshots.KindActive
