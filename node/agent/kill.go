package agent

import (
	"context"
	"errors"
	"fmt"
	"net/http"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"time"

	corev1 "k8s.io/api/core/v1"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/labels"
	"k8s.io/apimachinery/pkg/types"

	"github.com/sqlkube/sqlkube/node/runtime"
)

var everything = labels.Everything()

// Grace periods: the kubelet's default, and the least it gives a
// container to stop.
const (
	defaultGrace = 30 * time.Second
	minGrace     = 2 * time.Second
)

// terminatePod stops the containers of a pod being deleted (preStop
// hooks, SIGTERM, SIGKILL after the grace period), releases everything it
// held, and finishes its deletion in the API with grace period 0. deleted
// says the API has no pod any more (a forced deletion): its containers get
// the least grace.
func (a *Agent) terminatePod(ctx context.Context, w *podWorker, pod *corev1.Pod, deleted bool) (time.Duration, bool) {
	grace := defaultGrace
	switch {
	case deleted:
		grace = minGrace
	case pod.DeletionGracePeriodSeconds != nil:
		grace = time.Duration(*pod.DeletionGracePeriodSeconds) * time.Second
	case pod.Spec.TerminationGracePeriodSeconds != nil:
		grace = time.Duration(*pod.Spec.TerminationGracePeriodSeconds) * time.Second
	}
	if !w.killed {
		if err := a.killPod(ctx, w, pod, grace); err != nil {
			a.runtimeError("stop pod", pod, err)
			return time.Second, false
		}
		w.killed = true
	}
	if err := a.cleanupPod(ctx, pod.Namespace, pod.Name, pod.UID); err != nil {
		a.runtimeError("release pod", pod, err)
		return time.Second, false
	}
	if !deleted {
		zero := int64(0)
		uid := pod.UID
		err := a.client.CoreV1().Pods(pod.Namespace).Delete(ctx, pod.Name, metav1.DeleteOptions{
			GracePeriodSeconds: &zero,
			Preconditions:      &metav1.Preconditions{UID: &uid},
		})
		if err != nil && !apierrors.IsNotFound(err) && !apierrors.IsConflict(err) {
			a.log.Warn("finish deletion of pod", "pod", pod.Namespace+"/"+pod.Name, "err", err)
			return time.Second, false
		}
	}
	return 0, true
}

// killPod stops every running container of pod within grace: the
// containers first, then the sidecars, each with its preStop hook.
func (a *Agent) killPod(ctx context.Context, w *podWorker, pod *corev1.Pod, grace time.Duration) error {
	w.stopProbes()
	all, err := a.rt.Containers(ctx)
	if err != nil {
		return fmt.Errorf("list containers of pod %s/%s: %w", pod.Namespace, pod.Name, err)
	}
	byName := podContainers(all, pod.UID)
	deadline := time.Now().Add(grace)
	stop := func(specs []corev1.Container) error {
		var wg sync.WaitGroup
		errs := make([]error, len(specs))
		for i := range specs {
			c := &specs[i]
			cs := byName[c.Name]
			if len(cs) == 0 || cs[0].State != runtime.StateRunning {
				continue
			}
			wg.Add(1)
			go func() {
				defer wg.Done()
				errs[i] = a.killContainer(ctx, pod, c, cs[0], time.Until(deadline), "Stopping container "+c.Name)
			}()
		}
		wg.Wait()
		return errors.Join(errs...)
	}
	if err := stop(pod.Spec.Containers); err != nil {
		return err
	}
	return stop(pod.Spec.InitContainers)
}

// killContainer runs c's preStop hook, then stops the container, sending
// SIGKILL once grace (at least minGrace) has passed.
func (a *Agent) killContainer(ctx context.Context, pod *corev1.Pod, c *corev1.Container, rc runtime.ContainerStatus, grace time.Duration, why string) error {
	a.event(pod, corev1.EventTypeNormal, "Killing", "%s", why)
	start := time.Now()
	if c != nil && c.Lifecycle != nil && c.Lifecycle.PreStop != nil {
		hctx, cancel := context.WithTimeout(ctx, grace)
		if err := a.runHook(hctx, pod, c, rc.ID, c.Lifecycle.PreStop); err != nil {
			a.event(pod, corev1.EventTypeWarning, "FailedPreStopHook", "PreStopHook failed: %v", err)
		}
		cancel()
	}
	left := max(grace-time.Since(start), minGrace)
	if err := a.rt.StopContainer(ctx, rc.ID, left); err != nil && !errors.Is(err, runtime.ErrNotFound) {
		return fmt.Errorf("stop container %s of pod %s/%s: %w", c.Name, pod.Namespace, pod.Name, err)
	}
	return nil
}

// runHook runs a lifecycle handler: a command in the container, an HTTP
// GET, or a sleep.
func (a *Agent) runHook(ctx context.Context, pod *corev1.Pod, c *corev1.Container, id string, h *corev1.LifecycleHandler) error {
	switch {
	case h.Exec != nil:
		code, err := a.rt.Exec(ctx, id, h.Exec.Command, runtime.Streams{})
		if err != nil {
			return err
		}
		if code != 0 {
			return fmt.Errorf("command %q exited with %d", strings.Join(h.Exec.Command, " "), code)
		}
	case h.HTTPGet != nil:
		ip := pod.Status.PodIP
		if ip == "" {
			ip = a.hostIP
		}
		url, err := probeURL(h.HTTPGet, c, ip)
		if err != nil {
			return err
		}
		req, err := http.NewRequestWithContext(ctx, http.MethodGet, url, nil)
		if err != nil {
			return err
		}
		resp, err := probeClient.Do(req)
		if err != nil {
			return err
		}
		resp.Body.Close()
	case h.Sleep != nil:
		select {
		case <-ctx.Done():
		case <-time.After(time.Duration(h.Sleep.Seconds) * time.Second):
		}
	}
	return nil
}

// livenessFailed kills container c if its liveness or startup probe
// failed, so that the next sync restarts it; it reports whether it did.
func (a *Agent) livenessFailed(ctx context.Context, w *podWorker, pod *corev1.Pod, c *corev1.Container, rc runtime.ContainerStatus) bool {
	ps := w.probeState(rc.ID)
	if ps == nil || !ps.unhealthy.Load() {
		return false
	}
	w.dropProbes(rc.ID)
	grace := defaultGrace
	if pod.Spec.TerminationGracePeriodSeconds != nil {
		grace = time.Duration(*pod.Spec.TerminationGracePeriodSeconds) * time.Second
	}
	if err := a.killContainer(ctx, pod, c, rc, grace, fmt.Sprintf("Container %s failed %s probe, will be restarted", c.Name, ps.failedProbe())); err != nil {
		a.runtimeError("stop container", pod, err)
	}
	return true
}

// cleanupPod removes every container, the sandbox, the volumes and the
// logs of pod uid.
func (a *Agent) cleanupPod(ctx context.Context, namespace, name string, uid types.UID) error {
	all, err := a.rt.Containers(ctx)
	if err != nil {
		return fmt.Errorf("list containers of pod %s/%s: %w", namespace, name, err)
	}
	var errs []error
	for _, c := range all {
		if c.Labels[labelPodUID] != string(uid) {
			continue
		}
		if c.State == runtime.StateRunning {
			if err := a.rt.StopContainer(ctx, c.ID, minGrace); err != nil && !errors.Is(err, runtime.ErrNotFound) {
				errs = append(errs, err)
				continue
			}
		}
		if err := a.rt.RemoveContainer(ctx, c.ID); err != nil {
			errs = append(errs, err)
		}
	}
	if err := a.rt.RemoveSandbox(ctx, string(uid)); err != nil {
		errs = append(errs, err)
	}
	if err := a.volumes.Cleanup(ctx, uid); err != nil {
		errs = append(errs, err)
	}
	if namespace != "" {
		if err := os.RemoveAll(a.podLogDir(namespace, name, string(uid))); err != nil {
			errs = append(errs, err)
		}
	}
	if err := errors.Join(errs...); err != nil {
		return fmt.Errorf("release pod %s/%s: %w", namespace, name, err)
	}
	return nil
}

// removeOrphans releases what belongs to pods that were deleted while the
// agent was away: their containers, sandboxes, volumes and logs.
func (a *Agent) removeOrphans(ctx context.Context) error {
	known := map[types.UID]bool{}
	for _, obj := range a.pods.GetStore().List() {
		if p, ok := obj.(*corev1.Pod); ok {
			known[p.UID] = true
		}
	}
	orphans := map[types.UID][2]string{}
	all, err := a.rt.Containers(ctx)
	if err != nil {
		return err
	}
	for _, c := range all {
		uid := types.UID(c.Labels[labelPodUID])
		if uid != "" && !known[uid] {
			orphans[uid] = [2]string{c.Labels[labelPodNamespace], c.Labels[labelPodName]}
		}
	}
	sbs, err := a.rt.Sandboxes(ctx)
	if err != nil {
		return err
	}
	for _, sb := range sbs {
		if uid := types.UID(sb.UID); !known[uid] {
			orphans[uid] = [2]string{sb.Namespace, sb.Name}
		}
	}
	if uids, err := a.volumes.Pods(); err == nil {
		for _, uid := range uids {
			if _, ok := orphans[uid]; !ok && !known[uid] {
				orphans[uid] = [2]string{}
			}
		}
	}
	var errs []error
	for uid, id := range orphans {
		a.log.Info("removing what a deleted pod left", "pod", id[0]+"/"+id[1], "uid", uid)
		if err := a.cleanupPod(ctx, id[0], id[1], uid); err != nil {
			errs = append(errs, err)
		}
	}
	// Log directories of pods nobody knows any more.
	if entries, err := os.ReadDir(a.logsDir); err == nil {
		for _, e := range entries {
			i := strings.LastIndex(e.Name(), "_")
			if i < 0 || known[types.UID(e.Name()[i+1:])] {
				continue
			}
			errs = append(errs, os.RemoveAll(filepath.Join(a.logsDir, e.Name())))
		}
	}
	return errors.Join(errs...)
}
