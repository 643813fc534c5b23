package runtime

import (
	"context"
	"fmt"
	"log/slog"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"testing"
	"time"
)

// loggerScript is a minimal binary logger: it reads the container's stdout
// (fd 3) and stderr (fd 4), prefixes each stream's lines, and signals
// readiness by closing fd 5.
const loggerScript = `#!/bin/sh
while [ $# -gt 0 ]; do case "$1" in --path) path=$2; shift 2;; *) shift;; esac; done
exec 5>&-
sed 's/^/out: /' <&3 >>"$path" &
sed 's/^/err: /' <&4 >>"$path"
wait
`

func TestLogDriver(t *testing.T) {
	e := newEnv(t)
	driver := filepath.Join(t.TempDir(), "logger")
	if err := os.WriteFile(driver, []byte(loggerScript), 0o755); err != nil {
		t.Fatal(err)
	}
	rt, err := New(context.Background(), Config{Address: e.socket, StateDir: e.stateDir, LogDriver: driver,
		Logger: slog.New(slog.NewTextHandler(testWriter{t}, nil))})
	if err != nil {
		t.Fatal(err)
	}
	defer rt.Close()
	ctx := context.Background()
	sb, err := rt.RunSandbox(ctx, SandboxConfig{UID: "logs", Namespace: "ns", Name: "logs"})
	if err != nil {
		t.Fatal(err)
	}
	img, err := rt.PullImage(ctx, e.image, nil)
	if err != nil {
		t.Fatal(err)
	}
	logPath := filepath.Join(e.logDir, "logs", "c.log")
	id, err := rt.CreateContainer(ctx, sb, ContainerConfig{Name: "c", Image: img, LogPath: logPath,
		Command: []string{"sh", "-c", "echo to-stdout; echo to-stderr >&2"}})
	if err != nil {
		t.Fatal(err)
	}
	if err := rt.StartContainer(ctx, id); err != nil {
		t.Fatal(err)
	}
	e.waitExit(t, id)
	eventually(t, 10*time.Second, "log lines written", func() bool {
		data, _ := os.ReadFile(logPath)
		return strings.Contains(string(data), "out: to-stdout") && strings.Contains(string(data), "err: to-stderr")
	})
}

// TestManyPods starts 30 pods at once with the image present and logs how
// long each took (no assertion on wall-clock time).
func TestManyPods(t *testing.T) {
	e := newEnv(t)
	ctx := context.Background()
	img, err := e.rt.PullImage(ctx, e.image, nil)
	if err != nil {
		t.Fatal(err)
	}
	const pods = 30
	var wg sync.WaitGroup
	ids := make([]string, pods)
	took := make([]time.Duration, pods)
	errs := make([]error, pods)
	for i := range pods {
		wg.Add(1)
		go func() {
			defer wg.Done()
			start := time.Now()
			uid := fmt.Sprintf("many-%d", i)
			sb, err := e.rt.RunSandbox(ctx, SandboxConfig{UID: uid, Namespace: "ns", Name: uid})
			if err != nil {
				errs[i] = err
				return
			}
			id, err := e.rt.CreateContainer(ctx, sb, ContainerConfig{Name: "c", Image: img,
				Command: []string{"sleep", "3600"}, LogPath: filepath.Join(e.logDir, uid, "c.log")})
			if err != nil {
				errs[i] = err
				return
			}
			errs[i] = e.rt.StartContainer(ctx, id)
			ids[i], took[i] = id, time.Since(start)
		}()
	}
	wg.Wait()
	for i, err := range errs {
		if err != nil {
			t.Fatalf("pod %d: %v", i, err)
		}
	}
	t.Logf("pod start times: %v", took)
	all, err := e.rt.Containers(ctx)
	if err != nil {
		t.Fatal(err)
	}
	running := 0
	for _, c := range all {
		if c.State == StateRunning {
			running++
		}
	}
	if running != pods {
		t.Fatalf("%d of %d containers running", running, pods)
	}
	sbs, err := e.rt.Sandboxes(ctx)
	if err != nil {
		t.Fatal(err)
	}
	ips := map[string]bool{}
	for _, sb := range sbs {
		ips[sb.IP] = true
	}
	if len(ips) != pods {
		t.Fatalf("%d distinct IPs for %d pods", len(ips), pods)
	}
}
