package runtime

import (
	"context"
	"errors"
	"fmt"
	"maps"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"syscall"
	"time"

	containerd "github.com/containerd/containerd"
	eventtypes "github.com/containerd/containerd/api/events"
	tasksapi "github.com/containerd/containerd/api/services/tasks/v1"
	tasktypes "github.com/containerd/containerd/api/types/task"
	"github.com/containerd/containerd/cio"
	"github.com/containerd/containerd/containers"
	"github.com/containerd/containerd/errdefs"
	"github.com/containerd/typeurl/v2"
	"github.com/moby/sys/signal"
)

// ContainerState is a container's lifecycle state.
type ContainerState string

const (
	StateCreated ContainerState = "created"
	StateRunning ContainerState = "running"
	StateExited  ContainerState = "exited"
	StateUnknown ContainerState = "unknown"
)

// Reasons of exited containers.
const (
	ReasonCompleted = "Completed"
	ReasonError     = "Error"
	ReasonOOMKilled = "OOMKilled"
)

// ContainerStatus is what containerd knows about a container.
type ContainerStatus struct {
	ID                               string
	Sandbox                          string // pod uid
	Name                             string
	Attempt                          int
	Labels                           map[string]string // the agent's labels (ContainerConfig.Labels)
	Image                            ImageInfo         // Ref and ID only
	State                            ContainerState
	Pid                              uint32
	CreatedAt, StartedAt, FinishedAt time.Time
	ExitCode                         int32
	Reason                           string // exited: "Completed", "Error" or "OOMKilled"
	Message                          string
	LogPath                          string
}

// StartContainer starts container id, its stdout and stderr going to its
// log path through the log driver (run by containerd's shim, so logging
// outlives the agent).
func (r *Runtime) StartContainer(ctx context.Context, id string) error {
	ctx = r.ns(ctx)
	c, err := r.client.LoadContainer(ctx, id)
	if errdefs.IsNotFound(err) {
		return fmt.Errorf("start container %s: %w", id, ErrNotFound)
	}
	if err != nil {
		return fmt.Errorf("start container %s: %w", id, err)
	}
	info, err := c.Info(ctx, containerd.WithoutRefreshedMetadata) // as loaded just now
	if err != nil {
		return fmt.Errorf("start container %s: %w", id, err)
	}
	labels := info.Labels
	fail := func(err error) error {
		return fmt.Errorf("start container %s of pod %s/%s: %w", labels[labelName], labels[labelNamespace], labels[labelUID], err)
	}
	logPath := labels[labelLogPath]
	if logPath == "" {
		return fail(errors.New("container has no log path"))
	}
	if err := os.MkdirAll(filepath.Dir(logPath), 0o755); err != nil {
		return fail(err)
	}
	creator := cio.LogFile(logPath)
	if r.cfg.LogDriver != "" {
		creator = cio.BinaryIO(r.cfg.LogDriver, map[string]string{"--path": logPath})
	}
	task, err := c.NewTask(ctx, creator)
	if err != nil {
		return fail(fmt.Errorf("create task: %w", err))
	}
	if err := task.Start(ctx); err != nil {
		_, _ = task.Delete(context.WithoutCancel(ctx), containerd.WithProcessKill)
		return fail(fmt.Errorf("start task: %w", err))
	}
	if _, err := c.SetLabels(ctx, map[string]string{labelStartedAt: time.Now().UTC().Format(timeLayout)}); err != nil {
		r.log.Warn("record container start", "id", id, "error", err)
	}
	return nil
}

// StopContainer sends the image's stop signal (default SIGTERM), then
// SIGKILL after grace, and returns once the container exited and its exit
// is recorded. A container that is not running is no error.
func (r *Runtime) StopContainer(ctx context.Context, id string, grace time.Duration) error {
	ctx = r.ns(ctx)
	c, err := r.client.ContainerService().Get(ctx, id)
	if errdefs.IsNotFound(err) {
		return nil
	}
	if err != nil {
		return fmt.Errorf("stop container %s: %w", id, err)
	}
	cont, err := r.client.LoadContainer(ctx, id)
	if err != nil {
		return fmt.Errorf("stop container %s: %w", id, err)
	}
	task, err := cont.Task(ctx, nil)
	if errdefs.IsNotFound(err) {
		return nil
	}
	if err != nil {
		return fmt.Errorf("stop container %s: %w", id, err)
	}
	waitCtx, cancel := context.WithCancel(ctx)
	defer cancel()
	exited, err := task.Wait(waitCtx)
	if err != nil {
		return fmt.Errorf("stop container %s: wait: %w", id, err)
	}
	sig := syscall.SIGTERM
	if s, err := signal.ParseSignal(c.Labels[labelStopSignal]); err == nil {
		sig = s
	}
	if grace > 0 {
		if err := task.Kill(ctx, sig); err != nil && !errdefs.IsNotFound(err) {
			return fmt.Errorf("stop container %s: signal %s: %w", id, sig, err)
		}
		timer := time.NewTimer(grace)
		select {
		case <-exited:
			timer.Stop()
			_, err := r.status(ctx, c, nil)
			return err
		case <-timer.C:
		case <-ctx.Done():
			timer.Stop()
			return fmt.Errorf("stop container %s: %w", id, ctx.Err())
		}
	}
	if err := task.Kill(ctx, syscall.SIGKILL); err != nil && !errdefs.IsNotFound(err) {
		return fmt.Errorf("stop container %s: kill: %w", id, err)
	}
	select {
	case <-exited:
	case <-ctx.Done():
		return fmt.Errorf("stop container %s: %w", id, ctx.Err())
	}
	_, err = r.status(ctx, c, nil)
	return err
}

// RemoveContainer kills and deletes container id's task, and deletes the
// container with its snapshot. Removing a missing container is no error.
func (r *Runtime) RemoveContainer(ctx context.Context, id string) error {
	ctx = r.ns(ctx)
	c, err := r.client.LoadContainer(ctx, id)
	if errdefs.IsNotFound(err) {
		return nil
	}
	if err != nil {
		return fmt.Errorf("remove container %s: %w", id, err)
	}
	if task, err := c.Task(ctx, nil); err == nil {
		if _, err := task.Delete(ctx, containerd.WithProcessKill); err != nil && !errdefs.IsNotFound(err) {
			return fmt.Errorf("remove container %s: delete task: %w", id, err)
		}
	} else if !errdefs.IsNotFound(err) {
		return fmt.Errorf("remove container %s: %w", id, err)
	}
	if err := c.Delete(ctx, containerd.WithSnapshotCleanup); err != nil && !errdefs.IsNotFound(err) {
		return fmt.Errorf("remove container %s: %w", id, err)
	}
	return nil
}

// ContainerStatus returns the status of container id; the error wraps
// ErrNotFound when there is no such container.
func (r *Runtime) ContainerStatus(ctx context.Context, id string) (ContainerStatus, error) {
	ctx = r.ns(ctx)
	c, err := r.client.ContainerService().Get(ctx, id)
	if errdefs.IsNotFound(err) || (err == nil && c.Labels[labelKind] != kindContainer) {
		return ContainerStatus{}, fmt.Errorf("container %s: %w", id, ErrNotFound)
	}
	if err != nil {
		return ContainerStatus{}, fmt.Errorf("container %s: %w", id, err)
	}
	return r.status(ctx, c, nil)
}

// Containers returns the status of every container in the runtime's
// namespace (sandbox records excluded).
func (r *Runtime) Containers(ctx context.Context) ([]ContainerStatus, error) {
	ctx = r.ns(ctx)
	list, err := r.client.ContainerService().List(ctx, fmt.Sprintf("labels.%q==%s", labelKind, kindContainer))
	if err != nil {
		return nil, fmt.Errorf("list containers: %w", err)
	}
	tasks, err := r.client.TaskService().List(ctx, &tasksapi.ListTasksRequest{})
	if err = errdefs.FromGRPC(err); err != nil {
		return nil, fmt.Errorf("list tasks: %w", err)
	}
	procs := map[string]*tasktypes.Process{}
	for _, p := range tasks.Tasks {
		procs[p.ID] = p
	}
	out := make([]ContainerStatus, 0, len(list))
	for _, c := range list {
		p := procs[c.ID]
		if p == nil {
			p = &tasktypes.Process{} // no task: status reads the labels
		}
		st, err := r.status(ctx, c, p)
		if errdefs.IsNotFound(err) {
			continue // removed since the list: another pod's worker did
		}
		if err != nil {
			return nil, err
		}
		out = append(out, st)
	}
	return out, nil
}

// status builds c's status. proc is c's task as listed, an empty Process
// when it has none, or nil to look it up. A stopped task's exit is recorded
// in c's labels and the task deleted.
func (r *Runtime) status(ctx context.Context, c containers.Container, proc *tasktypes.Process) (ContainerStatus, error) {
	l := c.Labels
	st := ContainerStatus{
		ID: c.ID, Sandbox: l[labelUID], Name: l[labelName], LogPath: l[labelLogPath],
		Image:     ImageInfo{Ref: l[labelImageRef], ID: l[labelImageID]},
		CreatedAt: c.CreatedAt, Labels: map[string]string{},
	}
	st.Attempt, _ = strconv.Atoi(l[labelAttempt])
	for k, v := range l {
		if !strings.HasPrefix(k, labelPrefix) {
			st.Labels[k] = v
		}
	}
	st.StartedAt = parseTime(l[labelStartedAt])
	if l[labelExitCode] != "" {
		return exitedStatus(st, l), nil
	}
	if proc == nil {
		resp, err := r.client.TaskService().Get(ctx, &tasksapi.GetRequest{ContainerID: c.ID})
		err = errdefs.FromGRPC(err)
		switch {
		case errdefs.IsNotFound(err):
			proc = &tasktypes.Process{}
		case err != nil:
			return ContainerStatus{}, fmt.Errorf("container %s: task: %w", c.ID, err)
		default:
			proc = resp.Process
		}
	}
	switch proc.Status {
	case tasktypes.Status_RUNNING, tasktypes.Status_PAUSED, tasktypes.Status_PAUSING:
		st.State, st.Pid = StateRunning, proc.Pid
		return st, nil
	case tasktypes.Status_CREATED:
		st.State = StateCreated
		return st, nil
	case tasktypes.Status_STOPPED:
		return r.recordExit(ctx, c, st, proc)
	}
	if st.StartedAt.IsZero() {
		st.State = StateCreated
		return st, nil
	}
	// started, but the task is gone without a recorded exit (containerd
	// lost it, e.g. a reboot): report it as exited with an unknown status
	st.State, st.ExitCode, st.Reason = StateUnknown, containerd.UnknownExitStatus, ReasonError
	st.Message = "container's task is gone"
	return st, nil
}

// recordExit keeps a stopped task's exit in the container's labels and
// deletes the task.
func (r *Runtime) recordExit(ctx context.Context, c containers.Container, st ContainerStatus, proc *tasktypes.Process) (ContainerStatus, error) {
	finished := time.Now().UTC()
	if proc.ExitedAt != nil {
		finished = proc.ExitedAt.AsTime().UTC()
	}
	reason := ReasonCompleted
	if proc.ExitStatus != 0 {
		reason = ReasonError
	}
	if oomKilled(st.Sandbox, c.ID) {
		reason = ReasonOOMKilled
	}
	exit := map[string]string{
		labelExitCode:   strconv.FormatUint(uint64(proc.ExitStatus), 10),
		labelFinishedAt: finished.Format(timeLayout),
		labelReason:     reason,
	}
	cont, err := r.client.LoadContainer(ctx, c.ID)
	if err != nil {
		return ContainerStatus{}, fmt.Errorf("container %s: %w", c.ID, err)
	}
	if _, err := cont.SetLabels(ctx, exit); err != nil {
		return ContainerStatus{}, fmt.Errorf("container %s: record exit: %w", c.ID, err)
	}
	_, err = r.client.TaskService().Delete(ctx, &tasksapi.DeleteTaskRequest{ContainerID: c.ID})
	if err = errdefs.FromGRPC(err); err != nil && !errdefs.IsNotFound(err) {
		r.log.Warn("delete exited task", "id", c.ID, "error", err)
	}
	labels := maps.Clone(c.Labels)
	maps.Copy(labels, exit)
	return exitedStatus(st, labels), nil
}

func exitedStatus(st ContainerStatus, l map[string]string) ContainerStatus {
	code, _ := strconv.ParseInt(l[labelExitCode], 10, 32)
	st.State, st.ExitCode = StateExited, int32(code)
	st.FinishedAt = parseTime(l[labelFinishedAt])
	st.Reason, st.Message = l[labelReason], l[labelMessage]
	return st
}

func parseTime(s string) time.Time {
	t, err := time.Parse(timeLayout, s)
	if err != nil {
		return time.Time{}
	}
	return t
}

// oomKilled reports whether the kernel's OOM killer killed a process of the
// container, from its memory cgroup (which exists until the task is deleted).
func oomKilled(uid, id string) bool {
	rel := filepath.Join("sqlkube", "pod"+uid, id)
	for _, f := range []struct{ path, key string }{
		{filepath.Join("/sys/fs/cgroup/memory", rel, "memory.oom_control"), "oom_kill"}, // v1
		{filepath.Join("/sys/fs/cgroup", rel, "memory.events"), "oom_kill"},             // v2
	} {
		data, err := os.ReadFile(f.path)
		if err != nil {
			continue
		}
		for _, line := range strings.Split(string(data), "\n") {
			k, v, ok := strings.Cut(line, " ")
			if ok && k == f.key {
				n, _ := strconv.ParseUint(strings.TrimSpace(v), 10, 64)
				return n > 0
			}
		}
	}
	return false
}

// Exits streams the ids of containers whose main process exited, from
// containerd's events of the runtime's namespace. The channel closes when
// ctx ends or the event stream breaks; subscribe again then.
func (r *Runtime) Exits(ctx context.Context) (<-chan string, error) {
	ctx = r.ns(ctx)
	if err := r.Ping(ctx); err != nil {
		return nil, err
	}
	events, errs := r.client.Subscribe(ctx,
		fmt.Sprintf(`topic=="/tasks/exit",namespace==%q`, r.cfg.Namespace))
	out := make(chan string, 64)
	go func() {
		defer close(out)
		for {
			select {
			case <-ctx.Done():
				return
			case err := <-errs:
				if err != nil && ctx.Err() == nil {
					r.log.Warn("containerd event stream broke", "error", err)
				}
				return
			case env, ok := <-events:
				if !ok {
					return
				}
				if env.Event == nil {
					continue
				}
				v, err := typeurl.UnmarshalAny(env.Event)
				if err != nil {
					continue
				}
				exit, ok := v.(*eventtypes.TaskExit)
				if !ok || exit.ID != exit.ContainerID {
					continue // an exec'd process, not the container
				}
				select {
				case out <- exit.ContainerID:
				case <-ctx.Done():
					return
				}
			}
		}
	}()
	return out, nil
}
