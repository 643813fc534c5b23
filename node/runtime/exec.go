package runtime

import (
	"context"
	"crypto/rand"
	"encoding/hex"
	"errors"
	"fmt"
	"io"
	"sync"
	"syscall"
	"time"

	v1 "github.com/containerd/cgroups/v3/cgroup1/stats"
	v2 "github.com/containerd/cgroups/v3/cgroup2/stats"
	containerd "github.com/containerd/containerd"
	tasksapi "github.com/containerd/containerd/api/services/tasks/v1"
	"github.com/containerd/containerd/cio"
	"github.com/containerd/containerd/errdefs"
	"github.com/containerd/typeurl/v2"
)

// TermSize is a terminal's size in characters.
type TermSize struct{ Width, Height uint16 }

// Streams are the standard streams of an exec'd process.
type Streams struct {
	Stdin          io.Reader // nil: no stdin
	Stdout, Stderr io.Writer
	// TTY allocates a terminal; its output, stderr included, goes to Stdout.
	TTY    bool
	Resize <-chan TermSize
}

// Exec runs cmd in running container id with the container's environment,
// user and working directory, and returns its exit code. When ctx ends the
// process is killed. An executable that does not exist makes Exec fail
// with an error saying so (runc's "executable file not found in $PATH"),
// not with exit code 127.
func (r *Runtime) Exec(ctx context.Context, id string, cmd []string, s Streams) (int, error) {
	ctx = r.ns(ctx)
	if len(cmd) == 0 {
		return 0, fmt.Errorf("exec in container %s: empty command", id)
	}
	c, err := r.client.LoadContainer(ctx, id)
	if errdefs.IsNotFound(err) {
		return 0, fmt.Errorf("exec in container %s: %w", id, ErrNotFound)
	}
	if err != nil {
		return 0, fmt.Errorf("exec in container %s: %w", id, err)
	}
	spec, err := c.Spec(ctx)
	if err != nil {
		return 0, fmt.Errorf("exec in container %s: %w", id, err)
	}
	task, err := c.Task(ctx, nil)
	if errdefs.IsNotFound(err) {
		return 0, fmt.Errorf("exec in container %s: container is not running", id)
	}
	if err != nil {
		return 0, fmt.Errorf("exec in container %s: %w", id, err)
	}
	pspec := *spec.Process
	pspec.Args = cmd
	pspec.Terminal = s.TTY
	execID := "exec-" + randomHex(8)

	stdout, stderr := s.Stdout, s.Stderr
	if stdout == nil {
		stdout = io.Discard
	}
	if stderr == nil || s.TTY {
		stderr = io.Discard
	}
	var stdinDone chan struct{}
	stdin := s.Stdin
	if stdin != nil {
		stdinDone = make(chan struct{})
		stdin = &eofNotifier{r: stdin, done: stdinDone}
	}
	opts := []cio.Opt{cio.WithStreams(stdin, stdout, stderr)}
	if s.TTY {
		opts = append(opts, cio.WithTerminal)
	}
	// the process is cleaned up with a context that outlives a cancelled ctx
	cleanCtx := context.WithoutCancel(ctx)
	process, err := task.Exec(ctx, execID, &pspec, cio.NewCreator(opts...))
	if err != nil {
		return 0, fmt.Errorf("exec %v in container %s: %w", cmd, id, err)
	}
	defer func() {
		if _, err := process.Delete(cleanCtx, containerd.WithProcessKill); err != nil && !errdefs.IsNotFound(err) {
			r.log.Warn("delete exec process", "id", id, "exec", execID, "error", err)
		}
	}()
	exited, err := process.Wait(cleanCtx)
	if err != nil {
		return 0, fmt.Errorf("exec %v in container %s: wait: %w", cmd, id, err)
	}
	if err := process.Start(ctx); err != nil {
		return 0, fmt.Errorf("exec %v in container %s: %w", cmd, id, err)
	}
	if stdinDone != nil {
		go func() {
			select {
			case <-stdinDone:
				_ = process.CloseIO(cleanCtx, containerd.WithStdinCloser)
			case <-exited:
			}
		}()
	}
	for {
		select {
		case size, ok := <-s.Resize:
			if !ok {
				s.Resize = nil
				continue
			}
			if s.TTY {
				_ = process.Resize(ctx, uint32(size.Width), uint32(size.Height))
			}
		case <-ctx.Done():
			_ = process.Kill(cleanCtx, syscall.SIGKILL)
			<-exited
			return 0, fmt.Errorf("exec %v in container %s: %w", cmd, id, ctx.Err())
		case st := <-exited:
			code, _, err := st.Result()
			if err != nil {
				return 0, fmt.Errorf("exec %v in container %s: %w", cmd, id, err)
			}
			// the output copy ends when the process's pipes close
			if io := process.IO(); io != nil {
				io.Wait()
			}
			return int(code), nil
		}
	}
}

// eofNotifier closes done once r is exhausted, so the process's stdin can
// be closed.
type eofNotifier struct {
	r    io.Reader
	done chan struct{}
	once sync.Once
}

func (e *eofNotifier) Read(p []byte) (int, error) {
	n, err := e.r.Read(p)
	if err != nil {
		e.once.Do(func() { close(e.done) })
	}
	return n, err
}

func randomHex(n int) string {
	b := make([]byte, n)
	_, _ = rand.Read(b)
	return hex.EncodeToString(b)
}

// Stats is a container's resource usage at Time.
type Stats struct {
	Time                  time.Time
	CPUUsageNanos         uint64
	MemoryUsageBytes      uint64
	MemoryWorkingSetBytes uint64 // usage minus inactive file pages
}

// Stats reads container id's resource usage from its task's cgroup.
func (r *Runtime) Stats(ctx context.Context, id string) (Stats, error) {
	ctx = r.ns(ctx)
	resp, err := r.client.TaskService().Metrics(ctx, &tasksapi.MetricsRequest{Filters: []string{"id==" + id}})
	if err = errdefs.FromGRPC(err); err != nil {
		return Stats{}, fmt.Errorf("stats of container %s: %w", id, err)
	}
	if len(resp.Metrics) == 0 || resp.Metrics[0].Data == nil {
		return Stats{}, fmt.Errorf("stats of container %s: no running task: %w", id, ErrNotFound)
	}
	m := resp.Metrics[0]
	st := Stats{Time: time.Now()}
	if m.Timestamp != nil {
		st.Time = m.Timestamp.AsTime()
	}
	data, err := typeurl.UnmarshalAny(m.Data)
	if err != nil {
		return Stats{}, fmt.Errorf("stats of container %s: %w", id, err)
	}
	switch d := data.(type) {
	case *v1.Metrics:
		if d.CPU != nil && d.CPU.Usage != nil {
			st.CPUUsageNanos = d.CPU.Usage.Total
		}
		if d.Memory != nil && d.Memory.Usage != nil {
			st.MemoryUsageBytes = d.Memory.Usage.Usage
			st.MemoryWorkingSetBytes = sub(d.Memory.Usage.Usage, d.Memory.TotalInactiveFile)
		}
	case *v2.Metrics:
		if d.CPU != nil {
			st.CPUUsageNanos = d.CPU.UsageUsec * 1000
		}
		if d.Memory != nil {
			st.MemoryUsageBytes = d.Memory.Usage
			st.MemoryWorkingSetBytes = sub(d.Memory.Usage, d.Memory.InactiveFile)
		}
	default:
		return Stats{}, errors.New("stats of container " + id + ": unknown metrics type " + m.Data.GetTypeUrl())
	}
	return st, nil
}

func sub(a, b uint64) uint64 {
	if b > a {
		return 0
	}
	return a - b
}
