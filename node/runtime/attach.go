package runtime

import (
	"context"
	"errors"
	"fmt"
	"time"

	"github.com/containerd/containerd/errdefs"

	"github.com/sqlkube/sqlkube/node/logs"
)

// ErrStdinNotAttachable: an attach asked for the container's stdin, which
// is not wired to anything the runtime can write (see the package doc).
var ErrStdinNotAttachable = errors.New("the container's stdin is not attachable: attach without stdin (no -i) to follow its output")

// Attach joins running container id's main process until it exits or ctx
// ends: what the process writes from now on (its log, followed, stdout
// and stderr merged) goes to s.Stdout, or to s.Stderr when only that was
// asked for, and the sizes on s.Resize resize its terminal when it has
// one. Attach returns nil when the process exits (after its last output
// is written), ctx's error when ctx ends, ErrNotFound for an unknown
// container and ErrStdinNotAttachable when s.Stdin is set.
func (r *Runtime) Attach(ctx context.Context, id string, s Streams) error {
	ctx = r.ns(ctx)
	if s.Stdin != nil {
		return fmt.Errorf("attach to container %s: %w", id, ErrStdinNotAttachable)
	}
	c, err := r.client.LoadContainer(ctx, id)
	if errdefs.IsNotFound(err) {
		return fmt.Errorf("attach to container %s: %w", id, ErrNotFound)
	}
	if err != nil {
		return fmt.Errorf("attach to container %s: %w", id, err)
	}
	labels, err := c.Labels(ctx)
	if err != nil {
		return fmt.Errorf("attach to container %s: %w", id, err)
	}
	logPath := labels[labelLogPath]
	if logPath == "" {
		return fmt.Errorf("attach to container %s: container has no log path", id)
	}
	task, err := c.Task(ctx, nil)
	if errdefs.IsNotFound(err) {
		return fmt.Errorf("attach to container %s: container is not running", id)
	}
	if err != nil {
		return fmt.Errorf("attach to container %s: %w", id, err)
	}
	waitCtx, cancel := context.WithCancel(ctx)
	defer cancel()
	exited, err := task.Wait(waitCtx)
	if err != nil {
		return fmt.Errorf("attach to container %s: wait: %w", id, err)
	}

	// The log is complete once the exit is recorded: recording it deletes
	// the task, and the shim waits for the log driver to finish first.
	done := make(chan struct{})
	go func() {
		defer close(done)
		for {
			select {
			case <-exited:
				_, _ = r.ContainerStatus(context.WithoutCancel(ctx), id)
				logs.WaitSettled(ctx, logPath, 300*time.Millisecond, 3*time.Second)
				return
			case size, ok := <-s.Resize:
				if !ok {
					s.Resize = nil
					continue
				}
				_ = task.Resize(ctx, uint32(size.Width), uint32(size.Height))
			case <-ctx.Done():
				return
			}
		}
	}()

	out := s.Stdout
	if out == nil {
		out = s.Stderr
	}
	if out == nil {
		select {
		case <-done:
			return nil
		case <-ctx.Done():
			return fmt.Errorf("attach to container %s: %w", id, ctx.Err())
		}
	}
	none := int64(0)
	err = logs.Read(ctx, logPath, logs.Options{Follow: true, TailLines: &none, Done: done}, out)
	if err == nil {
		err = ctx.Err() // done closes when ctx ends too
	}
	if err != nil {
		return fmt.Errorf("attach to container %s: %w", id, err)
	}
	return nil
}
