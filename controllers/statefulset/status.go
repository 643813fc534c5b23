package statefulset

import (
	"context"
	"fmt"
	"time"

	appsv1 "k8s.io/api/apps/v1"
	corev1 "k8s.io/api/core/v1"
	apiequality "k8s.io/apimachinery/pkg/api/equality"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
)

// status returns the status s's pods give, as the cache showed them at
// the start of the sync, and how long until the next Ready pod has been
// Ready for minReadySeconds (0 when none is waiting).
//
// currentRevision stays what it was until every one of spec.replicas
// pods exists, is Ready and runs the update revision; then it becomes the
// update revision. That is when `kubectl rollout status` says the
// rollout is complete.
func (s *state) status() (appsv1.StatefulSetStatus, time.Duration) {
	set := s.set
	st := appsv1.StatefulSetStatus{
		ObservedGeneration: set.Generation,
		CurrentRevision:    s.currentRev,
		UpdateRevision:     s.updateRev,
		CollisionCount:     set.Status.CollisionCount,
		Conditions:         set.Status.Conditions,
	}
	if st.CollisionCount == nil {
		// No ControllerRevisions are written, so names never collide.
		st.CollisionCount = new(int32(0))
	}
	var wait time.Duration
	for _, pod := range s.pods {
		st.Replicas++
		if runningAndReady(pod) {
			st.ReadyReplicas++
			if available(pod, set.Spec.MinReadySeconds, s.now) {
				st.AvailableReplicas++
			} else if d := untilAvailable(pod, set.Spec.MinReadySeconds, s.now.Time); d > 0 && (wait == 0 || d < wait) {
				wait = d
			}
		}
		if terminating(pod) {
			continue
		}
		switch revisionOf(pod) {
		case s.currentRev:
			st.CurrentReplicas++
			if s.currentRev == s.updateRev {
				st.UpdatedReplicas++
			}
		case s.updateRev:
			st.UpdatedReplicas++
		}
	}
	want := int32(replicas(set))
	if st.UpdatedReplicas == want && st.ReadyReplicas == want && st.Replicas == want {
		st.CurrentRevision = st.UpdateRevision
		st.CurrentReplicas = st.UpdatedReplicas
	}
	return st, wait
}

// untilAvailable returns how long until a Ready pod has been Ready for
// minReadySeconds.
func untilAvailable(pod *corev1.Pod, minReadySeconds int32, now time.Time) time.Duration {
	for _, cond := range pod.Status.Conditions {
		if cond.Type == corev1.PodReady && cond.Status == corev1.ConditionTrue {
			return cond.LastTransitionTime.Add(time.Duration(minReadySeconds) * time.Second).Sub(now)
		}
	}
	return 0
}

// writeStatus writes the status of s's set when it changed, and requeues
// the set for when a Ready pod becomes available.
func (c *Controller) writeStatus(ctx context.Context, s *state) error {
	st, wait := s.status()
	if wait > 0 {
		c.queue.AddAfter(s.key, wait+10*time.Millisecond)
	}
	if apiequality.Semantic.DeepEqual(s.set.Status, st) {
		return nil
	}
	set := s.set.DeepCopy()
	set.Status = st
	if _, err := c.client.AppsV1().StatefulSets(set.Namespace).UpdateStatus(ctx, set, metav1.UpdateOptions{}); err != nil {
		return fmt.Errorf("update status of statefulset %s: %w", s.key, err)
	}
	return nil
}
