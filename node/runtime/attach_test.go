package runtime

import (
	"bytes"
	"context"
	"errors"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"testing"
	"time"
)

// lockedBuffer is a bytes.Buffer written by Attach and read by the test.
type lockedBuffer struct {
	mu sync.Mutex
	b  bytes.Buffer
}

func (l *lockedBuffer) Write(p []byte) (int, error) {
	l.mu.Lock()
	defer l.mu.Unlock()
	return l.b.Write(p)
}

func (l *lockedBuffer) String() string {
	l.mu.Lock()
	defer l.mu.Unlock()
	return l.b.String()
}

// TestAttach follows a running container's output until it exits, and
// refuses stdin, an exited container and an unknown one.
func TestAttach(t *testing.T) {
	e := newEnv(t)
	ctx := context.Background()
	sb, err := e.rt.RunSandbox(ctx, SandboxConfig{UID: "attach", Namespace: "ns", Name: "attach"})
	if err != nil {
		t.Fatal(err)
	}
	signal := t.TempDir()
	id := e.run(t, sb, "c", []string{"sh", "-c", "echo before; while [ ! -e /signal/go ]; do echo tick; sleep 0.1; done; echo bye; echo oops >&2; exit 3"},
		func(c *ContainerConfig) { c.Mounts = []Mount{{HostPath: signal, ContainerPath: "/signal"}} })
	eventually(t, 30*time.Second, "the container writes", func() bool { return strings.Contains(e.logOf(t, id), "tick") })

	if err := e.rt.Attach(ctx, id, Streams{Stdin: strings.NewReader("x"), Stdout: &lockedBuffer{}}); !errors.Is(err, ErrStdinNotAttachable) {
		t.Fatalf("attach with stdin: got %v, want ErrStdinNotAttachable", err)
	}

	var out lockedBuffer
	attached := make(chan error, 1)
	actx, cancel := context.WithTimeout(ctx, time.Minute)
	defer cancel()
	go func() { attached <- e.rt.Attach(actx, id, Streams{Stdout: &out}) }()
	eventually(t, 30*time.Second, "attach follows the output", func() bool { return strings.Contains(out.String(), "tick") })
	if err := os.WriteFile(filepath.Join(signal, "go"), nil, 0o644); err != nil {
		t.Fatal(err)
	}
	if err := <-attached; err != nil {
		t.Fatalf("attach: %v", err)
	}
	got := out.String()
	if strings.Contains(got, "before") || !strings.Contains(got, "bye\n") || !strings.Contains(got, "oops\n") {
		t.Fatalf("attach wrote %q, want the output from the attach on: ticks, bye and oops", got)
	}

	for _, tc := range []struct {
		name, id string
		want     string
	}{
		{name: "exited container", id: id, want: "not running"},
		{name: "unknown container", id: "nope", want: "not found"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			err := e.rt.Attach(ctx, tc.id, Streams{Stdout: &lockedBuffer{}})
			if err == nil || !strings.Contains(err.Error(), tc.want) {
				t.Fatalf("got %v, want an error saying %q", err, tc.want)
			}
		})
	}
}
