package sim

import (
	"context"
	"crypto/sha256"
	"encoding/hex"
	"fmt"
	"time"

	corev1 "k8s.io/api/core/v1"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/client-go/tools/cache"

	"github.com/sqlkube/sqlkube/node"
)

// transformPod keeps of a pod what the simulator reads before the pod goes
// into the cache, so that 30,000 pods fit in little memory: identity,
// deletion, node and, for pods on our nodes, what building their status
// needs (restart policy, container names and images, readiness gates,
// phase, IP, start time and conditions the node does not own).
func (s *Simulator) transformPod(obj any) (any, error) {
	pod, ok := obj.(*corev1.Pod)
	if !ok {
		return obj, nil
	}
	out := &corev1.Pod{ObjectMeta: metav1.ObjectMeta{
		Name: pod.Name, Namespace: pod.Namespace, UID: pod.UID, ResourceVersion: pod.ResourceVersion,
		DeletionTimestamp: pod.DeletionTimestamp,
	}}
	out.Spec.NodeName = pod.Spec.NodeName
	if s.nodes[pod.Spec.NodeName] == nil {
		return out, nil
	}
	out.Spec.RestartPolicy = pod.Spec.RestartPolicy
	out.Spec.HostNetwork = pod.Spec.HostNetwork
	out.Spec.ReadinessGates = pod.Spec.ReadinessGates
	out.Spec.InitContainers = slimContainers(pod.Spec.InitContainers)
	out.Spec.Containers = slimContainers(pod.Spec.Containers)
	out.Status.Phase = pod.Status.Phase
	out.Status.PodIP = pod.Status.PodIP
	out.Status.StartTime = pod.Status.StartTime
	out.Status.QOSClass = pod.Status.QOSClass
	for _, c := range pod.Status.Conditions {
		// Ready is kept to notice someone else marking the pod not ready
		// (the node lifecycle controller, while this node looked dead).
		if !node.IsOwnedPodCondition(c.Type) || c.Type == corev1.PodReady {
			out.Status.Conditions = append(out.Status.Conditions, c)
		}
	}
	return out, nil
}

func slimContainers(cs []corev1.Container) []corev1.Container {
	if len(cs) == 0 {
		return nil
	}
	out := make([]corev1.Container, len(cs))
	for i, c := range cs {
		out[i] = corev1.Container{Name: c.Name, Image: c.Image, RestartPolicy: c.RestartPolicy}
	}
	return out
}

// podHandler queues the pods bound to our nodes, and releases the IP of
// such a pod once it is gone.
func (s *Simulator) podHandler() cache.ResourceEventHandler {
	return cache.FilteringResourceEventHandler{
		FilterFunc: func(obj any) bool {
			if d, ok := obj.(cache.DeletedFinalStateUnknown); ok {
				obj = d.Obj
			}
			pod, ok := obj.(*corev1.Pod)
			return ok && s.nodes[pod.Spec.NodeName] != nil
		},
		Handler: cache.ResourceEventHandlerFuncs{
			AddFunc:    s.podQueue.Enqueue,
			UpdateFunc: func(_, obj any) { s.podQueue.Enqueue(obj) },
			DeleteFunc: func(obj any) {
				if d, ok := obj.(cache.DeletedFinalStateUnknown); ok {
					obj = d.Obj
				}
				pod := obj.(*corev1.Pod)
				s.nodes[pod.Spec.NodeName].ips.release(pod.UID)
			},
		},
	}
}

// syncPodKey runs syncPod and queues the key again when syncPod asks.
func (s *Simulator) syncPodKey(ctx context.Context, key string) error {
	after, err := s.syncPod(ctx, key)
	if after > 0 {
		s.podQueue.AddAfter(key, after)
	}
	return err
}

// syncPod "runs" the cached pod of key if it is bound to one of our nodes,
// and returns after how long to look at it again (0: when it changes).
//
//   - A pending pod gets an IP of its node's range and is reported Running
//     and Ready, its containers started now.
//   - A running pod with restartPolicy Never or OnFailure is reported
//     Succeeded, its containers terminated with exit code 0, JobDuration
//     after it started.
//   - A running pod the simulator does not know (it restarted) keeps its IP.
//   - A pod being deleted is deleted at once with grace period 0: its
//     simulated containers stop immediately.
//   - A finished or deleted pod's IP is released.
func (s *Simulator) syncPod(ctx context.Context, key string) (time.Duration, error) {
	obj, exists, err := s.podIndexer.GetByKey(key)
	if err != nil || !exists {
		return 0, err
	}
	pod := obj.(*corev1.Pod)
	n := s.nodes[pod.Spec.NodeName]
	if n == nil {
		return 0, nil
	}
	now := s.clock.Now()
	switch {
	case pod.DeletionTimestamp != nil:
		return 0, s.deletePod(ctx, n, pod)
	case pod.Status.Phase == corev1.PodSucceeded || pod.Status.Phase == corev1.PodFailed:
		n.ips.release(pod.UID)
		return 0, nil
	case pod.Status.Phase == corev1.PodRunning:
		started := now
		if pod.Status.StartTime != nil {
			started = pod.Status.StartTime.Time
		}
		run := n.ips.adopt(pod.UID, pod.Status.PodIP, started)
		due := run.started.Add(s.cfg.JobDuration)
		if !podReady(pod) && (!runsToCompletion(pod) || now.Before(due)) {
			// Its containers still run: say so again, as a kubelet's
			// status sync would.
			if err := s.postStatus(ctx, n, pod, s.runningStatus(pod, run, now)); err != nil {
				return 0, err
			}
		}
		if !runsToCompletion(pod) {
			return 0, nil
		}
		if now.Before(due) {
			return due.Sub(now), nil
		}
		if err := s.postStatus(ctx, n, pod, s.completedStatus(pod, run, now)); err != nil {
			return 0, err
		}
		n.ips.release(pod.UID)
		return 0, nil
	default:
		run, err := n.ips.allocate(pod.UID, now)
		if err != nil {
			return 0, fmt.Errorf("start pod %s on node %s (%s): %w", key, n.name, n.cidr, err)
		}
		if err := s.postStatus(ctx, n, pod, s.runningStatus(pod, run, now)); err != nil {
			return 0, err
		}
		if runsToCompletion(pod) {
			return s.cfg.JobDuration, nil
		}
		return 0, nil
	}
}

// podReady reports whether pod's Ready condition is True.
func podReady(pod *corev1.Pod) bool {
	for _, c := range pod.Status.Conditions {
		if c.Type == corev1.PodReady {
			return c.Status == corev1.ConditionTrue
		}
	}
	return false
}

// runsToCompletion reports whether pod's containers exit (restartPolicy
// Never or OnFailure) rather than run until deleted.
func runsToCompletion(pod *corev1.Pod) bool {
	return pod.Spec.RestartPolicy == corev1.RestartPolicyNever || pod.Spec.RestartPolicy == corev1.RestartPolicyOnFailure
}

// runningStatus is pod's status once started: init containers completed,
// sidecars and containers running and ready since run.started.
func (s *Simulator) runningStatus(pod *corev1.Pod, run podRun, now time.Time) corev1.PodStatus {
	started := metav1.NewTime(run.started)
	running := corev1.ContainerState{Running: &corev1.ContainerStateRunning{StartedAt: started}}
	done := corev1.ContainerState{Terminated: &corev1.ContainerStateTerminated{ExitCode: 0, Reason: "Completed", StartedAt: started, FinishedAt: started}}
	sb := s.sandbox(run)
	for _, c := range pod.Spec.InitContainers {
		if c.RestartPolicy != nil && *c.RestartPolicy == corev1.ContainerRestartPolicyAlways {
			sb.InitContainers = append(sb.InitContainers, containerStatus(pod, c, running, true))
		} else {
			sb.InitContainers = append(sb.InitContainers, containerStatus(pod, c, done, true))
		}
	}
	for _, c := range pod.Spec.Containers {
		sb.Containers = append(sb.Containers, containerStatus(pod, c, running, true))
	}
	return node.PodStatus(pod, sb, now)
}

// completedStatus is pod's status once its containers exited 0 at now.
func (s *Simulator) completedStatus(pod *corev1.Pod, run podRun, now time.Time) corev1.PodStatus {
	started := metav1.NewTime(run.started)
	done := corev1.ContainerState{Terminated: &corev1.ContainerStateTerminated{ExitCode: 0, Reason: "Completed", StartedAt: started, FinishedAt: metav1.NewTime(now)}}
	initDone := corev1.ContainerState{Terminated: &corev1.ContainerStateTerminated{ExitCode: 0, Reason: "Completed", StartedAt: started, FinishedAt: started}}
	sb := s.sandbox(run)
	for _, c := range pod.Spec.InitContainers {
		if c.RestartPolicy != nil && *c.RestartPolicy == corev1.ContainerRestartPolicyAlways {
			sb.InitContainers = append(sb.InitContainers, containerStatus(pod, c, done, false))
		} else {
			sb.InitContainers = append(sb.InitContainers, containerStatus(pod, c, initDone, true))
		}
	}
	for _, c := range pod.Spec.Containers {
		sb.Containers = append(sb.Containers, containerStatus(pod, c, done, false))
	}
	return node.PodStatus(pod, sb, now)
}

func (s *Simulator) sandbox(run podRun) node.SandboxStatus {
	sb := node.SandboxStatus{HostIP: s.cfg.NodeIP, StartTime: run.started}
	if run.ip.IsValid() {
		sb.PodIP = run.ip.String()
	}
	return sb
}

// containerStatus is the status of container c of pod in state.
func containerStatus(pod *corev1.Pod, c corev1.Container, state corev1.ContainerState, ready bool) corev1.ContainerStatus {
	started := state.Running != nil
	id := sha256.Sum256([]byte(string(pod.UID) + "/" + c.Name))
	img := sha256.Sum256([]byte(c.Image))
	return corev1.ContainerStatus{
		Name:        c.Name,
		Image:       c.Image,
		ImageID:     "sha256:" + hex.EncodeToString(img[:]),
		ContainerID: "sim://" + hex.EncodeToString(id[:]),
		State:       state,
		Ready:       ready,
		Started:     &started,
	}
}

// postStatus replaces pod's status, if the pod is still the one cached
// (same UID). A pod that is gone or was replaced is not an error: its IP
// is released and the informer brings the new one.
func (s *Simulator) postStatus(ctx context.Context, n *simNode, pod *corev1.Pod, status corev1.PodStatus) error {
	gone, err := node.PostStatus(ctx, s.cfg.Client, pod, status)
	if gone {
		n.ips.release(pod.UID)
	}
	if err != nil {
		return fmt.Errorf("on node %s: %w", n.name, err)
	}
	return nil
}

// deletePod finishes the deletion of pod, whose simulated containers stop
// at once: it deletes it with grace period 0, if it still has the same UID,
// and releases its IP.
func (s *Simulator) deletePod(ctx context.Context, n *simNode, pod *corev1.Pod) error {
	zero := int64(0)
	uid := pod.UID
	err := s.cfg.Client.CoreV1().Pods(pod.Namespace).Delete(ctx, pod.Name, metav1.DeleteOptions{
		GracePeriodSeconds: &zero,
		Preconditions:      &metav1.Preconditions{UID: &uid},
	})
	if err != nil && !apierrors.IsNotFound(err) && !apierrors.IsConflict(err) {
		return fmt.Errorf("delete pod %s/%s from node %s: %w", pod.Namespace, pod.Name, n.name, err)
	}
	n.ips.release(uid)
	return nil
}
