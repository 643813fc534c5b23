package replicaset

import (
	"context"
	"errors"
	"fmt"
	"time"

	appsv1 "k8s.io/api/apps/v1"
	corev1 "k8s.io/api/core/v1"
	apiequality "k8s.io/apimachinery/pkg/api/equality"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/labels"
	"k8s.io/kubectl/pkg/util/podutils"

	"github.com/sqlkube/sqlkube/controllers/ownership"
	"github.com/sqlkube/sqlkube/controllers/reconcile"
)

// sync reconciles the ReplicaSet named by key: claim pods, create or
// delete the difference (when earlier writes were observed), and write
// the status.
func (c *Controller) sync(ctx context.Context, key string) error {
	rs, err := c.owners.ByKey(key)
	if apierrors.IsNotFound(err) {
		c.exp.forget(key)
		return nil
	}
	if err != nil {
		return err
	}
	selector, err := metav1.LabelSelectorAsSelector(rs.Spec.Selector)
	if err != nil {
		c.recorder.Eventf(rs, corev1.EventTypeWarning, "InvalidSelector", "invalid selector: %v", err)
		return reconcile.Permanent(fmt.Errorf("replicaset %s selector: %w", key, err))
	}
	needsSync := c.exp.satisfied(key) && rs.DeletionTimestamp == nil

	pods, err := c.claimPods(ctx, rs, selector, c.candidatePods(rs))
	if err != nil {
		return err
	}
	var manageErr error
	if needsSync {
		manageErr = c.manageReplicas(ctx, rs, pods)
	}
	now := c.now()
	status := calculateStatus(rs, pods, manageErr, now)
	updated, err := c.updateStatus(ctx, rs, status)
	if err != nil {
		return errors.Join(manageErr, err)
	}
	if manageErr != nil {
		return manageErr
	}
	if d, ok := nextAvailable(updated, pods, now); ok {
		c.queue.AddAfter(key, d)
	}
	return nil
}

// candidatePods returns the active pods rs owns and the active orphans of
// its namespace: all it may claim.
func (c *Controller) candidatePods(rs *appsv1.ReplicaSet) []*corev1.Pod {
	var out []*corev1.Pod
	for _, k := range []string{string(rs.UID), orphanIndexKey(rs.Namespace)} {
		objs, err := c.podIndexer.ByIndex(podOwnerIndex, k)
		if err != nil {
			continue
		}
		for _, o := range objs {
			if p, ok := o.(*corev1.Pod); ok && p.Namespace == rs.Namespace && isActive(p) {
				out = append(out, p)
			}
		}
	}
	return out
}

// isActive reports whether pod counts toward a ReplicaSet: not finished
// and not terminating.
func isActive(pod *corev1.Pod) bool {
	return pod.Status.Phase != corev1.PodSucceeded && pod.Status.Phase != corev1.PodFailed && pod.DeletionTimestamp == nil
}

// claimPods returns the pods of candidates that rs controls after
// adopting matching orphans and releasing owned pods that stopped
// matching. Any failed adoption or release fails the claim.
func (c *Controller) claimPods(ctx context.Context, rs *appsv1.ReplicaSet, selector labels.Selector, candidates []*corev1.Pod) ([]*corev1.Pod, error) {
	m := ownership.Claimer[*corev1.Pod]{
		Owner:    rs,
		Selector: selector,
		Recheck: func(ctx context.Context) error {
			return ownership.RecheckOwner(ctx, rs, controllerKind.Kind, c.client.AppsV1().ReplicaSets(rs.Namespace).Get)
		},
		Adopt:   func(ctx context.Context, pod *corev1.Pod) (*corev1.Pod, error) { return c.adoptPod(ctx, rs, pod) },
		Release: func(ctx context.Context, pod *corev1.Pod) error { return c.releasePod(ctx, rs, pod) },
	}
	claimed, err := m.Claim(ctx, candidates)
	if err != nil {
		return nil, err
	}
	return claimed, nil
}

// manageReplicas creates or deletes pods so that len(pods) moves toward
// spec.replicas, at most c.burst per call.
func (c *Controller) manageReplicas(ctx context.Context, rs *appsv1.ReplicaSet, pods []*corev1.Pod) error {
	key := rsKey(rs)
	want := int(replicasOf(rs))
	diff := len(pods) - want
	switch {
	case diff < 0:
		n := min(-diff, c.burst)
		c.exp.expectCreations(key, n)
		c.log.Debug("creating pods", "replicaset", key, "want", want, "have", len(pods), "creating", n)
		perPod := n <= eventPerPodLimit
		created, err := slowStartBatch(n, 1, c.parallel, func() error { return c.createPod(ctx, rs, perPod) })
		if !perPod && created > 0 {
			c.recorder.Eventf(rs, corev1.EventTypeNormal, "SuccessfulCreate", "Created %d pods", created)
		}
		for range n - created {
			c.exp.creationObserved(key)
		}
		return err
	case diff > 0:
		n := min(diff, c.burst)
		victims := podsToDelete(pods, n)
		keys := make([]string, len(victims))
		for i, p := range victims {
			keys[i] = podKey(p)
		}
		c.exp.expectDeletions(key, keys)
		c.log.Debug("deleting pods", "replicaset", key, "want", want, "have", len(pods), "deleting", n)
		return c.deletePods(ctx, rs, victims, n <= eventPerPodLimit)
	}
	return nil
}

// eventPerPodLimit is the largest number of pods one sync creates or
// deletes with an Event per pod ("Created pod: web-x7k2p"); larger
// batches get one Event ("Created 500 pods"), so that a big scale-up does
// not double the API writes.
const eventPerPodLimit = 20

// podsToDelete returns the n pods to delete first: unscheduled before
// scheduled, pending before running, not ready before ready, recently
// ready before long ready, more restarts before fewer, newer before older.
func podsToDelete(pods []*corev1.Pod, n int) []*corev1.Pod {
	sorted := append(podutils.ActivePods(nil), pods...)
	if n < len(sorted) {
		sortActive(sorted)
		sorted = sorted[:n]
	}
	return sorted
}

func replicasOf(rs *appsv1.ReplicaSet) int32 {
	if rs.Spec.Replicas == nil {
		return 1
	}
	return *rs.Spec.Replicas
}

// calculateStatus returns rs's status for the claimed pods at now.
// manageErr, the error of this sync's creations or deletions, sets the
// ReplicaFailure condition.
func calculateStatus(rs *appsv1.ReplicaSet, pods []*corev1.Pod, manageErr error, now time.Time) appsv1.ReplicaSetStatus {
	status := *rs.Status.DeepCopy()
	templateLabels := labels.Set(rs.Spec.Template.Labels).AsSelectorPreValidated()
	var full, ready, available int32
	for _, p := range pods {
		if templateLabels.Matches(labels.Set(p.Labels)) {
			full++
		}
		if podutils.IsPodReady(p) {
			ready++
			if podutils.IsPodAvailable(p, rs.Spec.MinReadySeconds, metav1.NewTime(now)) {
				available++
			}
		}
	}
	status.Replicas = int32(len(pods))
	status.FullyLabeledReplicas = full
	status.ReadyReplicas = ready
	status.AvailableReplicas = available

	failure := -1
	for i, cond := range status.Conditions {
		if cond.Type == appsv1.ReplicaSetReplicaFailure {
			failure = i
		}
	}
	switch {
	case manageErr != nil && failure < 0:
		reason := "FailedCreate"
		if len(pods) > int(replicasOf(rs)) {
			reason = "FailedDelete"
		}
		status.Conditions = append(status.Conditions, appsv1.ReplicaSetCondition{
			Type: appsv1.ReplicaSetReplicaFailure, Status: corev1.ConditionTrue,
			LastTransitionTime: metav1.NewTime(now), Reason: reason, Message: manageErr.Error(),
		})
	case manageErr == nil && failure >= 0:
		status.Conditions = append(status.Conditions[:failure], status.Conditions[failure+1:]...)
	}
	return status
}

// nextAvailable returns when the first ready but not yet available pod
// becomes available (minReadySeconds after it became ready).
func nextAvailable(rs *appsv1.ReplicaSet, pods []*corev1.Pod, now time.Time) (time.Duration, bool) {
	if rs.Spec.MinReadySeconds <= 0 {
		return 0, false
	}
	minReady := time.Duration(rs.Spec.MinReadySeconds) * time.Second
	var next time.Duration
	found := false
	for _, p := range pods {
		if !podutils.IsPodReady(p) || podutils.IsPodAvailable(p, rs.Spec.MinReadySeconds, metav1.NewTime(now)) {
			continue
		}
		d := minReady
		for _, cond := range p.Status.Conditions {
			if cond.Type == corev1.PodReady && !cond.LastTransitionTime.IsZero() {
				d = cond.LastTransitionTime.Add(minReady).Sub(now)
			}
		}
		d = max(d, 0) + 100*time.Millisecond
		if !found || d < next {
			next, found = d, true
		}
	}
	return next, found
}

// updateStatus writes status when it differs from what rs reports,
// retrying once on a conflict with a fresh read. It returns the
// ReplicaSet as stored.
func (c *Controller) updateStatus(ctx context.Context, rs *appsv1.ReplicaSet, status appsv1.ReplicaSetStatus) (*appsv1.ReplicaSet, error) {
	status.ObservedGeneration = rs.Generation
	if apiequality.Semantic.DeepEqual(rs.Status, status) {
		return rs, nil
	}
	client := c.client.AppsV1().ReplicaSets(rs.Namespace)
	cur := rs.DeepCopy()
	for attempt := 0; ; attempt++ {
		status.ObservedGeneration = cur.Generation
		cur.Status = status
		updated, err := client.UpdateStatus(ctx, cur, metav1.UpdateOptions{})
		if err == nil {
			return updated, nil
		}
		if !apierrors.IsConflict(err) || attempt > 0 {
			return nil, fmt.Errorf("update status of replicaset %s: %w", rsKey(rs), err)
		}
		if cur, err = client.Get(ctx, rs.Name, metav1.GetOptions{}); err != nil {
			return nil, fmt.Errorf("re-read replicaset %s for status: %w", rsKey(rs), err)
		}
	}
}
