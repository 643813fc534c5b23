package agent

import (
	"context"
	"errors"
	"fmt"
	"os"
	"time"

	corev1 "k8s.io/api/core/v1"
	"k8s.io/apimachinery/pkg/api/equality"

	"github.com/sqlkube/sqlkube/node"
	"github.com/sqlkube/sqlkube/node/runtime"
)

// syncPod brings the pod of w to what its spec asks, as far as it can now,
// and posts its status. It returns when to sync again (0: after the
// resync period), and finished once the pod is gone and everything it held
// is released.
func (a *Agent) syncPod(ctx context.Context, w *podWorker) (time.Duration, bool) {
	pod, deleted := w.current()
	if deleted || pod.DeletionTimestamp != nil {
		return a.terminatePod(ctx, w, pod, deleted)
	}
	if err := a.runtimeHealthy(); err != nil {
		return 2 * time.Second, false
	}
	all, err := a.rt.Containers(ctx)
	if err != nil {
		a.runtimeError("list", pod, err)
		return 2 * time.Second, false
	}
	byName := podContainers(all, pod.UID)
	if pod.Status.Phase == corev1.PodSucceeded || pod.Status.Phase == corev1.PodFailed {
		// A finished pod stays finished, whatever is left of it here (an
		// agent that restarted, a machine that rebooted).
		w.terminal = true
		w.stopProbes()
	}
	if w.terminal {
		a.releaseSandbox(ctx, w, pod)
		return 0, false
	}
	if w.sandbox == nil {
		if !a.takeStartSlot(ctx, w) {
			return time.Second, false
		}
		defer a.freeStartSlot(w)
	}
	now := time.Now()
	if err := a.volumes.Setup(ctx, pod); err != nil {
		a.waitAll(w, pod, corev1.ContainerStateWaiting{Reason: "ContainerCreating"})
		a.eventOnce(w, pod, corev1.EventTypeWarning, "FailedMount", "MountVolume.SetUp failed: %v", err)
		a.postStatus(ctx, w, pod, byName, now)
		return 5 * time.Second, false
	}
	sb, err := a.ensureSandbox(ctx, w, pod)
	if err != nil {
		a.waitAll(w, pod, corev1.ContainerStateWaiting{Reason: "ContainerCreating"})
		a.eventOnce(w, pod, corev1.EventTypeWarning, "FailedCreatePodSandBox", "Failed to create pod sandbox: %v", err)
		a.postStatus(ctx, w, pod, byName, now)
		return 5 * time.Second, false
	}
	next := time.Duration(0)
	changed := false
	initDone, n, ch := a.syncInitContainers(ctx, w, pod, sb, byName, now)
	next, changed = soonest(next, n), changed || ch
	if initDone {
		n, ch := a.syncContainers(ctx, w, pod, sb, byName, now)
		next, changed = soonest(next, n), changed || ch
	}
	if changed {
		if all, err = a.rt.Containers(ctx); err != nil {
			a.runtimeError("list", pod, err)
			return 2 * time.Second, false
		}
		byName = podContainers(all, pod.UID)
	}
	st := a.postStatus(ctx, w, pod, byName, time.Now())
	if st != nil && (st.Phase == corev1.PodSucceeded || st.Phase == corev1.PodFailed) {
		w.terminal = true
		w.stopProbes()
		a.releaseSandbox(ctx, w, pod)
	}
	return next, false
}

// soonest is the earlier of two "sync again in" durations, 0 meaning none.
func soonest(a, b time.Duration) time.Duration {
	switch {
	case a <= 0:
		return b
	case b <= 0:
		return a
	default:
		return min(a, b)
	}
}

// waitAll records why every container of pod that has not started waits.
func (a *Agent) waitAll(w *podWorker, pod *corev1.Pod, why corev1.ContainerStateWaiting) {
	for _, c := range pod.Spec.InitContainers {
		if _, ok := w.waiting[c.Name]; !ok {
			w.waiting[c.Name] = why
		}
	}
	for _, c := range pod.Spec.Containers {
		if _, ok := w.waiting[c.Name]; !ok {
			w.waiting[c.Name] = why
		}
	}
}

// startSlots is how many pods the agent starts at once. Starting a pod
// (network, snapshot, shim, runc) is mostly CPU work: when every pod of a
// burst starts at once, they share the cores and all become Ready
// together at the end. Started a few at a time in arrival order (a
// channel serves blocked senders first come, first served), the first
// pods are Ready early and the last no later.
const startSlots = 4

// takeStartSlot waits for one of the agent's start slots; false when ctx
// ended first.
func (a *Agent) takeStartSlot(ctx context.Context, w *podWorker) bool {
	if a.starts == nil {
		return true
	}
	select {
	case a.starts <- struct{}{}:
		w.starting = true
		return true
	case <-ctx.Done():
		return false
	}
}

// freeStartSlot gives back w's start slot, if it holds one.
func (a *Agent) freeStartSlot(w *podWorker) {
	if w.starting {
		w.starting = false
		<-a.starts
	}
}

// ensureSandbox returns the pod's sandbox, creating it (network namespace,
// IP) the first time.
func (a *Agent) ensureSandbox(ctx context.Context, w *podWorker, pod *corev1.Pod) (runtime.Sandbox, error) {
	if w.sandbox != nil {
		return *w.sandbox, nil
	}
	hostname := pod.Name
	if pod.Spec.Hostname != "" {
		hostname = pod.Spec.Hostname
	}
	sb, err := a.rt.RunSandbox(ctx, runtime.SandboxConfig{
		UID: string(pod.UID), Namespace: pod.Namespace, Name: pod.Name, Hostname: hostname,
		HostNetwork: pod.Spec.HostNetwork, ResolvConf: resolvConf(pod),
	})
	if err != nil {
		a.runtimeError("sandbox", pod, err)
		return runtime.Sandbox{}, err
	}
	if pod.Spec.HostNetwork {
		sb.IP = a.hostIP
	}
	w.sandbox = &sb
	return sb, nil
}

// releaseSandbox removes the sandbox of a pod whose containers all
// finished: its IP goes back to the pool. The exited containers stay, for
// their logs and status, until the pod is deleted.
func (a *Agent) releaseSandbox(ctx context.Context, w *podWorker, pod *corev1.Pod) {
	if w.cleanedUp {
		return
	}
	if err := a.rt.RemoveSandbox(ctx, string(pod.UID)); err != nil {
		a.runtimeError("remove sandbox", pod, err)
		return
	}
	w.sandbox, w.cleanedUp = nil, true
}

// resolvConf is the pod's /etc/resolv.conf: the node's own for now (the
// cluster DNS comes with the proxy), or the pod's dnsConfig alone for
// dnsPolicy None; dnsConfig's servers, searches and options are added.
func resolvConf(pod *corev1.Pod) []byte {
	var servers, searches, options []string
	if pod.Spec.DNSPolicy != corev1.DNSNone {
		if b, err := os.ReadFile("/etc/resolv.conf"); err == nil && pod.Spec.DNSConfig == nil {
			return b
		} else if err == nil {
			servers, searches, options = parseResolvConf(b)
		}
	}
	if dc := pod.Spec.DNSConfig; dc != nil {
		servers = append(servers, dc.Nameservers...)
		searches = append(searches, dc.Searches...)
		for _, o := range dc.Options {
			if o.Value != nil {
				options = append(options, o.Name+":"+*o.Value)
			} else {
				options = append(options, o.Name)
			}
		}
	}
	return formatResolvConf(servers, searches, options)
}

// syncInitContainers runs the init containers one after the other. It
// reports whether all of them are done (sidecars: started), when to look
// again, and whether it started or stopped a container.
func (a *Agent) syncInitContainers(ctx context.Context, w *podWorker, pod *corev1.Pod, sb runtime.Sandbox, byName map[string][]runtime.ContainerStatus, now time.Time) (bool, time.Duration, bool) {
	for i := range pod.Spec.InitContainers {
		c := &pod.Spec.InitContainers[i]
		sidecar := c.RestartPolicy != nil && *c.RestartPolicy == corev1.ContainerRestartPolicyAlways
		cs := byName[c.Name]
		if len(cs) == 0 {
			return false, a.startContainer(ctx, w, pod, sb, c, 0, true), true
		}
		latest := cs[0]
		if latest.State == runtime.StateRunning {
			if sidecar {
				if a.livenessFailed(ctx, w, pod, c, latest) {
					return false, 0, true
				}
				a.ensureProbes(w, pod, c, latest.ID, sb.IP)
				continue
			}
			return false, 0, false
		}
		if !sidecar && succeeded(w, latest) {
			continue
		}
		if pod.Spec.RestartPolicy == corev1.RestartPolicyNever && !sidecar {
			return false, 0, false // the pod failed
		}
		next, started := a.restart(ctx, w, pod, sb, c, latest, true, now)
		return false, next, started
	}
	return true, 0, false
}

// syncContainers starts the pod's containers, restarts those that exited
// when the restart policy says so, and kills those whose liveness probe
// failed.
func (a *Agent) syncContainers(ctx context.Context, w *podWorker, pod *corev1.Pod, sb runtime.Sandbox, byName map[string][]runtime.ContainerStatus, now time.Time) (time.Duration, bool) {
	next, changed := time.Duration(0), false
	for i := range pod.Spec.Containers {
		c := &pod.Spec.Containers[i]
		cs := byName[c.Name]
		for _, old := range cs[min(len(cs), 2):] {
			a.removeContainer(ctx, pod, old)
		}
		if len(cs) == 0 {
			next = soonest(next, a.startContainer(ctx, w, pod, sb, c, 0, false))
			changed = true
			continue
		}
		latest := cs[0]
		if latest.State == runtime.StateRunning {
			if a.livenessFailed(ctx, w, pod, c, latest) {
				changed = true
				next = soonest(next, 10*time.Millisecond)
				continue
			}
			a.ensureProbes(w, pod, c, latest.ID, sb.IP)
			continue
		}
		if !restartable(pod.Spec.RestartPolicy, w, latest) {
			continue
		}
		n, started := a.restart(ctx, w, pod, sb, c, latest, false, now)
		next, changed = soonest(next, n), changed || started
	}
	return next, changed
}

// succeeded reports whether a finished container exited 0.
func succeeded(w *podWorker, c runtime.ContainerStatus) bool {
	_, failedStart := w.startErr[c.ID]
	return c.State == runtime.StateExited && c.ExitCode == 0 && !failedStart
}

// restartable reports whether a finished container is to run again under
// the pod's restart policy.
func restartable(policy corev1.RestartPolicy, w *podWorker, c runtime.ContainerStatus) bool {
	switch policy {
	case corev1.RestartPolicyNever:
		return false
	case corev1.RestartPolicyOnFailure:
		return !succeeded(w, c)
	default:
		return true
	}
}

// restart starts the next attempt of container c, whose latest attempt
// finished, unless it is in back-off: then it records CrashLoopBackOff and
// returns when the back-off ends.
func (a *Agent) restart(ctx context.Context, w *podWorker, pod *corev1.Pod, sb runtime.Sandbox, c *corev1.Container, latest runtime.ContainerStatus, init bool, now time.Time) (time.Duration, bool) {
	b := w.backoff[c.Name]
	if b == nil {
		b = &backoff{}
		w.backoff[c.Name] = b
	}
	finished := latest.FinishedAt
	if finished.IsZero() {
		finished = latest.CreatedAt
	}
	if until, blocked := b.blockedUntil(finished, now); blocked {
		msg := fmt.Sprintf("back-off %s restarting failed container=%s pod=%s_%s(%s)", b.delay, c.Name, pod.Name, pod.Namespace, pod.UID)
		if w.waiting[c.Name].Reason != "CrashLoopBackOff" {
			a.event(pod, corev1.EventTypeWarning, "BackOff", "Back-off restarting failed container %s in pod %s_%s(%s)", c.Name, pod.Name, pod.Namespace, pod.UID)
		}
		w.waiting[c.Name] = corev1.ContainerStateWaiting{Reason: "CrashLoopBackOff", Message: msg}
		return until.Sub(now), false
	}
	b.step(finished, now)
	return a.startContainer(ctx, w, pod, sb, c, attemptOf(latest)+1, init), true
}

// blockedUntil reports whether a container that finished at finished is
// still in back-off at now, and until when: the kubelet waits the current
// delay after each failure but the first, and forgets a container that ran
// well for twice the longest delay.
func (b *backoff) blockedUntil(finished, now time.Time) (time.Time, bool) {
	if b.delay == 0 || finished.Sub(b.updated) > 2*backoffMax {
		return time.Time{}, false
	}
	until := finished.Add(b.delay)
	return until, now.Before(until)
}

// step records a restart at now of a container that finished at finished.
func (b *backoff) step(finished, now time.Time) {
	if b.delay == 0 || finished.Sub(b.updated) > 2*backoffMax {
		b.delay = backoffInitial
	} else {
		b.delay = min(2*b.delay, backoffMax)
	}
	b.updated = now
}

// postStatus computes the pod's status from its containers and posts it
// when it changed. It returns the status, or nil if it could not post it.
func (a *Agent) postStatus(ctx context.Context, w *podWorker, pod *corev1.Pod, byName map[string][]runtime.ContainerStatus, now time.Time) *corev1.PodStatus {
	st := a.podStatus(w, pod, byName, now)
	if w.lastPost != nil && equality.Semantic.DeepEqual(*w.lastPost, st) && sameReady(pod.Status, st) {
		return &st
	}
	if w.lastPost == nil && equality.Semantic.DeepEqual(pod.Status, st) {
		w.lastPost = &st
		return &st
	}
	gone, err := node.PostStatus(ctx, a.client, pod, st)
	if err != nil {
		if ctx.Err() == nil {
			a.log.Warn("post pod status", "pod", pod.Namespace+"/"+pod.Name, "err", err)
		}
		return nil
	}
	if !gone {
		w.lastPost = &st
		if !w.reported && st.Phase == corev1.PodRunning && allRunning(st.ContainerStatuses) {
			w.reported = true
			a.metrics.podStart.Observe(time.Since(w.seen).Seconds())
		}
	}
	return &st
}

// sameReady reports whether the pod's stored Ready condition says what st
// says: when another component changed it (the node lifecycle controller
// marks the pods of a node it thought dead not ready), the agent posts its
// status again, though it did not change in the agent's eyes.
func sameReady(stored, st corev1.PodStatus) bool {
	return podReady(stored) == podReady(st)
}

func podReady(st corev1.PodStatus) corev1.ConditionStatus {
	for _, c := range st.Conditions {
		if c.Type == corev1.PodReady {
			return c.Status
		}
	}
	return ""
}

func allRunning(cs []corev1.ContainerStatus) bool {
	for _, c := range cs {
		if c.State.Running == nil {
			return false
		}
	}
	return len(cs) > 0
}

// runtimeError logs and counts a failed runtime operation on pod.
func (a *Agent) runtimeError(op string, pod *corev1.Pod, err error) {
	a.metrics.runtimeErrors.WithLabelValues(op).Inc()
	if !errors.Is(err, context.Canceled) {
		a.log.Warn("runtime "+op+" failed", "pod", pod.Namespace+"/"+pod.Name, "err", err)
	}
}

// event records an event about pod.
func (a *Agent) event(pod *corev1.Pod, typ, reason, format string, args ...any) {
	if a.recorder != nil {
		a.recorder.Eventf(pod, typ, reason, format, args...)
	}
}

// eventOnce records an event about pod unless the same one was the last
// recorded by this worker for that reason.
func (a *Agent) eventOnce(w *podWorker, pod *corev1.Pod, typ, reason, format string, args ...any) {
	msg := fmt.Sprintf(format, args...)
	if w.lastEvent == nil {
		w.lastEvent = map[string]string{}
	}
	if w.lastEvent[reason] == msg {
		return
	}
	w.lastEvent[reason] = msg
	a.event(pod, typ, reason, "%s", msg)
}
