package statefulset

import (
	"context"

	appsv1 "k8s.io/api/apps/v1"
	corev1 "k8s.io/api/core/v1"
	"k8s.io/apimachinery/pkg/util/intstr"

	"github.com/sqlkube/sqlkube/controllers/ownership"
)

// This file is the update algorithm of Kubernetes' StatefulSet
// controller (updateStatefulSet): first every ordinal in range gets a
// healthy pod, then pods out of range are removed, then, for
// RollingUpdate, pods of an old revision are replaced from the highest
// ordinal down. With podManagementPolicy OrderedReady ("monotonic") each
// step waits for the one before it; with Parallel the pods of a step are
// handled at once.

// manage creates, deletes and replaces the pods of s's set. It stops at
// the first step that must wait; the pod events that end the wait sync
// the set again.
func (c *Controller) manage(ctx context.Context, s *state) error {
	monotonic := s.set.Spec.PodManagementPolicy != appsv1.ParallelPodManagement
	stop, err := runForAll(len(s.replicas), monotonic, func(i int) (bool, error) {
		return c.processReplica(ctx, s, i, monotonic)
	})
	if stop || err != nil {
		return err
	}
	// Here, when monotonic, every pod in range is Running, Ready and
	// available. Pods out of range go highest ordinal first; of the
	// unhealthy ones only the lowest may go without waiting, so that a
	// broken pod does not block the scale-down that would remove it.
	var firstUnhealthy *corev1.Pod
	for i := len(s.condemned) - 1; i >= 0; i-- {
		if !healthy(s.condemned[i].pod) {
			firstUnhealthy = s.condemned[i].pod
			break
		}
	}
	stop, err = runForAll(len(s.condemned), monotonic, func(i int) (bool, error) {
		return c.processCondemned(ctx, s, i, monotonic, firstUnhealthy)
	})
	if stop || err != nil {
		return err
	}
	if s.set.Spec.UpdateStrategy.Type == appsv1.OnDeleteStatefulSetStrategyType {
		// Pods are replaced by the current template only when someone
		// deletes them.
		return nil
	}
	return c.rollingUpdate(ctx, s)
}

// runForAll calls fn for 0..n-1: in order, stopping at the first call
// that says stop or fails, when monotonic; otherwise in slow-start
// batches of parallel calls, ignoring stop. It reports whether the caller
// must stop.
func runForAll(n int, monotonic bool, fn func(i int) (bool, error)) (bool, error) {
	if monotonic {
		for i := range n {
			if stop, err := fn(i); stop || err != nil {
				return true, err
			}
		}
		return false, nil
	}
	_, err := ownership.SlowStart(n, maxBatch, func(i int) error {
		_, err := fn(i)
		return err
	})
	return err != nil, err
}

// processReplica brings ordinal s.replicas[i] one step toward a healthy
// pod: it creates a missing pod, deletes a finished one (it is recreated
// once gone) and fixes identity labels. When monotonic it reports stop
// while the pod is not yet Running, Ready and available.
func (c *Controller) processReplica(ctx context.Context, s *state, i int, monotonic bool) (bool, error) {
	m := s.replicas[i]
	pod := m.pod
	if pod == nil {
		if err := c.createPod(ctx, s, m.ordinal); err != nil {
			return true, err
		}
		return monotonic, nil
	}
	if finished(pod) {
		if !terminating(pod) {
			c.log.Info("replacing finished pod", "statefulset", s.key, "pod", pod.Name, "phase", pod.Status.Phase)
			if err := c.deletePod(ctx, s, pod); err != nil {
				return true, err
			}
		}
		// It is recreated once it is gone.
		return true, nil
	}
	if terminating(pod) {
		return monotonic, nil
	}
	if monotonic && !available(pod, s.set.Spec.MinReadySeconds, s.now) {
		return true, nil
	}
	if !identityMatches(s.set, pod, m.ordinal) {
		if err := c.fixIdentity(ctx, s, pod, m.ordinal); err != nil {
			return true, err
		}
	}
	return false, nil
}

// processCondemned deletes s.condemned[i], a pod out of range, unless,
// when monotonic, it must wait: for a pod being deleted to go, or for the
// pod to be available unless it is the lowest unhealthy one.
func (c *Controller) processCondemned(ctx context.Context, s *state, i int, monotonic bool, firstUnhealthy *corev1.Pod) (bool, error) {
	pod := s.condemned[i].pod
	if terminating(pod) {
		return monotonic, nil
	}
	if monotonic && pod != firstUnhealthy && !available(pod, s.set.Spec.MinReadySeconds, s.now) {
		return true, nil
	}
	c.log.Info("deleting pod for scale down", "statefulset", s.key, "pod", pod.Name)
	return true, c.scaleDown(ctx, s, s.condemned[i])
}

// rollingUpdate deletes pods of another revision than s.updateRev with
// an index (ordinal - start) at or above the partition, highest first,
// while fewer than maxUnavailable pods in range are unavailable; each is
// recreated from the current template by a later sync. With Parallel,
// old pods that are unavailable anyway are deleted whatever the budget
// (as recent Kubernetes does), so a broken revision can be replaced.
func (c *Controller) rollingUpdate(ctx context.Context, s *state) error {
	set := s.set
	partition, maxUnavailable := 0, intstr.FromInt32(1)
	if ru := set.Spec.UpdateStrategy.RollingUpdate; ru != nil {
		if ru.Partition != nil {
			partition = int(*ru.Partition)
		}
		if ru.MaxUnavailable != nil {
			maxUnavailable = *ru.MaxUnavailable
		}
	}
	limit, err := intstr.GetScaledValueFromIntOrPercent(&maxUnavailable, len(s.replicas), false)
	if err != nil || limit < 1 {
		limit = 1
	}
	parallel := set.Spec.PodManagementPolicy == appsv1.ParallelPodManagement
	old := func(pod *corev1.Pod) bool {
		return pod != nil && revisionOf(pod) != s.updateRev && !terminating(pod)
	}
	isAvailable := func(pod *corev1.Pod) bool {
		return pod != nil && healthy(pod) && available(pod, set.Spec.MinReadySeconds, s.now)
	}
	unavailable, unavailableOld := 0, 0
	for _, m := range s.replicas {
		if !isAvailable(m.pod) {
			unavailable++
			if parallel && old(m.pod) {
				unavailableOld++
			}
		}
	}
	if unavailable >= limit && unavailableOld == 0 {
		return nil
	}
	budget := limit - unavailable
	for i := len(s.replicas) - 1; i >= partition && i >= 0; i-- {
		pod := s.replicas[i].pod
		if !old(pod) {
			continue
		}
		// With Parallel, an old pod unavailable already costs nothing to
		// replace.
		if free := parallel && !isAvailable(pod); !free {
			if budget <= 0 {
				if parallel {
					continue
				}
				break
			}
			budget--
		}
		c.log.Info("deleting pod for update", "statefulset", s.key, "pod", pod.Name, "revision", revisionOf(pod), "updateRevision", s.updateRev)
		if err := c.deletePod(ctx, s, pod); err != nil {
			return err
		}
	}
	return nil
}
