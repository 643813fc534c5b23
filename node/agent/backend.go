package agent

import (
	"context"
	"fmt"
	"io"
	"time"

	corev1 "k8s.io/api/core/v1"

	"github.com/sqlkube/sqlkube/node/agentapi"
	"github.com/sqlkube/sqlkube/node/logs"
	"github.com/sqlkube/sqlkube/node/runtime"
)

// The agent serves the API server's logs, exec and port-forward requests
// (package agentapi calls these).

// requestError is an answer to the API server: its message is the
// client's, its kind (agentapi.ErrNotFound, ErrBadRequest) the status.
type requestError struct {
	msg  string
	kind error
}

func (e *requestError) Error() string { return e.msg }
func (e *requestError) Unwrap() error { return e.kind }

func badRequest(format string, args ...any) error {
	return &requestError{msg: fmt.Sprintf(format, args...), kind: agentapi.ErrBadRequest}
}

// errNoPod is the kubelet's answer for a pod it does not run.
func errNoPod(namespace, name string) error {
	return &requestError{msg: fmt.Sprintf("pod %s/%s is not running on this node", namespace, name), kind: agentapi.ErrNotFound}
}

// containerOfPod finds the attempts of container name of pod
// namespace/podName (the pod's only container when name is "").
func (a *Agent) containerOfPod(ctx context.Context, namespace, podName, name string) (*corev1.Pod, []runtime.ContainerStatus, error) {
	w := a.worker(namespace, podName)
	if w == nil {
		return nil, nil, errNoPod(namespace, podName)
	}
	pod, _ := w.current()
	if pod == nil {
		return nil, nil, errNoPod(namespace, podName)
	}
	if name == "" {
		if len(pod.Spec.Containers) != 1 {
			return nil, nil, badRequest("a container name must be specified for pod %s", podName)
		}
		name = pod.Spec.Containers[0].Name
	}
	all, err := a.rt.Containers(ctx)
	if err != nil {
		return nil, nil, fmt.Errorf("list containers: %w", err)
	}
	cs := podContainers(all, pod.UID)[name]
	if len(cs) == 0 {
		return nil, nil, badRequest("container %q in pod %q is waiting to start", name, podName)
	}
	return pod, cs, nil
}

// Logs writes a container's log, as `kubectl logs` asks for it.
func (a *Agent) Logs(ctx context.Context, namespace, pod string, opts agentapi.LogOptions, w io.Writer) error {
	p, cs, err := a.containerOfPod(ctx, namespace, pod, opts.Container)
	if err != nil {
		return err
	}
	c := cs[0]
	if opts.Previous {
		if len(cs) < 2 {
			return badRequest("previous terminated container %q in pod %q not found", c.Labels[labelContainer], pod)
		}
		c = cs[1]
	}
	path := c.LogPath
	if path == "" {
		path = a.logPath(p, c.Labels[labelContainer], attemptOf(c))
	}
	lo := logs.Options{Follow: opts.Follow, TailLines: opts.TailLines, Timestamps: opts.Timestamps, LimitBytes: opts.LimitBytes, SinceTime: opts.SinceTime}
	if opts.SinceSeconds != nil {
		t := time.Now().Add(-time.Duration(*opts.SinceSeconds) * time.Second)
		lo.SinceTime = &t
	}
	if opts.Follow {
		done := make(chan struct{})
		lo.Done = done
		go a.closeWhenExited(ctx, c.ID, path, done)
	}
	return logs.Read(ctx, path, lo, w)
}

// closeWhenExited closes done once container id no longer runs and its
// last lines reached the log at path.
func (a *Agent) closeWhenExited(ctx context.Context, id, path string, done chan struct{}) {
	defer close(done)
	t := time.NewTicker(250 * time.Millisecond)
	defer t.Stop()
	for {
		st, err := a.rt.ContainerStatus(ctx, id)
		if err != nil || st.State != runtime.StateRunning {
			logs.WaitSettled(ctx, path, 300*time.Millisecond, 3*time.Second)
			return
		}
		select {
		case <-ctx.Done():
			return
		case <-t.C:
		}
	}
}

// runningContainer returns the running attempt of a container.
func (a *Agent) runningContainer(ctx context.Context, namespace, pod, container string) (runtime.ContainerStatus, error) {
	_, cs, err := a.containerOfPod(ctx, namespace, pod, container)
	if err != nil {
		return runtime.ContainerStatus{}, err
	}
	if cs[0].State != runtime.StateRunning {
		return runtime.ContainerStatus{}, badRequest("container %s of pod %s/%s is not running", container, namespace, pod)
	}
	return cs[0], nil
}

// Exec runs cmd in a running container.
func (a *Agent) Exec(ctx context.Context, namespace, pod, container string, cmd []string, s agentapi.Streams) (int, error) {
	c, err := a.runningContainer(ctx, namespace, pod, container)
	if err != nil {
		return 0, err
	}
	return a.rt.Exec(ctx, c.ID, cmd, runtimeStreams(ctx, s))
}

// runtimeStreams passes the API's streams and resize events to the runtime.
func runtimeStreams(ctx context.Context, s agentapi.Streams) runtime.Streams {
	out := runtime.Streams{Stdin: s.Stdin, Stdout: s.Stdout, Stderr: s.Stderr, TTY: s.TTY}
	if s.Resize != nil {
		ch := make(chan runtime.TermSize, 1)
		out.Resize = ch
		go func() {
			defer close(ch)
			for {
				select {
				case <-ctx.Done():
					return
				case sz, ok := <-s.Resize:
					if !ok {
						return
					}
					select {
					case ch <- runtime.TermSize{Width: sz.Width, Height: sz.Height}:
					case <-ctx.Done():
						return
					}
				}
			}
		}()
	}
	return out
}

// Attach follows a running container's output until it exits, as the
// runtime attaches: stdin is not attachable yet, and asking for it fails
// the session with an error saying so.
func (a *Agent) Attach(ctx context.Context, namespace, pod, container string, s agentapi.Streams) error {
	c, err := a.runningContainer(ctx, namespace, pod, container)
	if err != nil {
		return err
	}
	if err := a.rt.Attach(ctx, c.ID, runtimeStreams(ctx, s)); err != nil {
		return fmt.Errorf("attach to container %s of pod %s/%s: %w", container, namespace, pod, err)
	}
	return nil
}

// PortForward connects conn to port of the pod's network namespace.
func (a *Agent) PortForward(ctx context.Context, namespace, pod string, port int32, conn io.ReadWriteCloser) error {
	w := a.worker(namespace, pod)
	if w == nil {
		return errNoPod(namespace, pod)
	}
	sbs, err := a.rt.Sandboxes(ctx)
	if err != nil {
		return fmt.Errorf("port-forward to %s/%s: %w", namespace, pod, err)
	}
	for _, sb := range sbs {
		if sb.UID == string(w.uid) {
			return a.rt.PortForward(ctx, sb, port, conn)
		}
	}
	return badRequest("pod %s/%s has no sandbox", namespace, pod)
}

// Pods lists the pods bound to this node, as the kubelet's /pods.
func (a *Agent) Pods() []corev1.Pod {
	if a.pods == nil {
		return nil
	}
	var out []corev1.Pod
	for _, obj := range a.pods.GetStore().List() {
		if p, ok := obj.(*corev1.Pod); ok {
			out = append(out, *p)
		}
	}
	return out
}

// Healthy reports whether the agent can run pods.
func (a *Agent) Healthy() error { return a.runtimeHealthy() }
