package nodelifecycle

import (
	"context"
	"errors"
	"fmt"
	"time"

	corev1 "k8s.io/api/core/v1"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/labels"
	"k8s.io/klog/v2"
)

// podsOn returns the pods bound to node name, from the cache.
func (c *Controller) podsOn(name string) ([]*corev1.Pod, error) {
	if c.podIndexer != nil {
		objs, err := c.podIndexer.ByIndex(nodeIndex, name)
		if err != nil {
			return nil, err
		}
		pods := make([]*corev1.Pod, 0, len(objs))
		for _, o := range objs {
			pods = append(pods, o.(*corev1.Pod))
		}
		return pods, nil
	}
	all, err := c.podLister.List(labels.Everything())
	if err != nil {
		return nil, err
	}
	var pods []*corev1.Pod
	for _, p := range all {
		if p.Spec.NodeName == name {
			pods = append(pods, p)
		}
	}
	return pods, nil
}

// syncPods makes one eviction pass over the pods bound to node name: it
// force-deletes the pods of a node that does not exist, marks the pods of
// an unreachable node not Ready, deletes pods whose toleration of the
// node's NoExecute taints ran out, and arms a timer for the next one.
func (c *Controller) syncPods(ctx context.Context, name string) error {
	pods, err := c.podsOn(name)
	if err != nil {
		return fmt.Errorf("list pods on node %s: %w", name, err)
	}
	node, err := c.nodeLister.Get(name)
	if apierrors.IsNotFound(err) {
		return c.collectOrphans(ctx, name, pods)
	}
	if err != nil {
		return fmt.Errorf("get node %s: %w", name, err)
	}
	c.foundNode(name)
	now := c.now()
	ready := readyStatus(node)
	var noExecute []corev1.Taint
	for _, t := range node.Spec.Taints {
		if t.Effect == corev1.TaintEffectNoExecute {
			noExecute = append(noExecute, t)
		}
	}
	started := c.taintStarts(name, noExecute, now)

	var errs []error
	var next time.Time
	for _, pod := range pods {
		if pod.DeletionTimestamp != nil {
			// Nothing on an unreachable node will finish this deletion.
			if ready == corev1.ConditionUnknown {
				errs = append(errs, c.deletePod(ctx, pod, true, ""))
			}
			continue
		}
		if pod.Status.Phase == corev1.PodSucceeded || pod.Status.Phase == corev1.PodFailed {
			continue
		}
		at, evict := evictionTime(pod, noExecute, started, now)
		switch {
		case evict && !at.After(now):
			notReady := ready == corev1.ConditionFalse || ready == corev1.ConditionUnknown
			errs = append(errs, c.deletePod(ctx, pod, notReady, "TaintManagerEviction"))
			continue
		case evict && (next.IsZero() || at.Before(next)):
			next = at
		}
		if ready == corev1.ConditionUnknown {
			errs = append(errs, c.markPodNotReady(ctx, pod, now))
		}
	}
	if !next.IsZero() {
		c.evictions.AddAfter(name, next.Sub(now))
	}
	return errors.Join(errs...)
}

// taintStarts returns, for each NoExecute taint of node name (by
// key:value:effect), when its toleration periods start: its timeAdded, or
// when the controller first saw it if it has none.
func (c *Controller) taintStarts(name string, taints []corev1.Taint, now time.Time) map[string]time.Time {
	c.mu.Lock()
	defer c.mu.Unlock()
	seen := c.taintSeen[name]
	out := make(map[string]time.Time, len(taints))
	keep := map[string]time.Time{}
	for _, t := range taints {
		k := taintID(t)
		switch {
		case t.TimeAdded != nil:
			out[k] = t.TimeAdded.Time
		case !seen[k].IsZero():
			out[k], keep[k] = seen[k], seen[k]
		default:
			out[k], keep[k] = now, now
		}
	}
	if len(keep) == 0 {
		delete(c.taintSeen, name)
	} else {
		c.taintSeen[name] = keep
	}
	return out
}

func taintID(t corev1.Taint) string { return t.Key + "=" + t.Value + ":" + string(t.Effect) }

// evictionTime returns when pod must leave a node with the given NoExecute
// taints (started says when each was added): now if it does not tolerate
// one of them, else the earliest end of a limited toleration. evict is
// false when the pod tolerates them all without a limit. Of several
// tolerations that match a taint, the most lenient counts.
func evictionTime(pod *corev1.Pod, taints []corev1.Taint, started map[string]time.Time, now time.Time) (at time.Time, evict bool) {
	for _, taint := range taints {
		tolerated, forever := false, false
		var longest int64
		for i := range pod.Spec.Tolerations {
			tol := &pod.Spec.Tolerations[i]
			if !tol.ToleratesTaint(klog.Background(), &taint, true) {
				continue
			}
			tolerated = true
			if tol.TolerationSeconds == nil {
				forever = true
				break
			}
			longest = max(longest, *tol.TolerationSeconds)
		}
		switch {
		case !tolerated:
			return now, true
		case forever:
			continue
		}
		end := started[taintID(taint)].Add(time.Duration(longest) * time.Second)
		if !evict || end.Before(at) {
			at, evict = end, true
		}
	}
	return at, evict
}

// collectOrphans force-deletes the pods bound to node name once the API
// confirms that the node does not exist (the cache may lag behind a new
// node) and it has been missing for the quarantine.
func (c *Controller) collectOrphans(ctx context.Context, name string, pods []*corev1.Pod) error {
	if len(pods) == 0 {
		c.foundNode(name)
		return nil
	}
	if _, err := c.client.CoreV1().Nodes().Get(ctx, name, metav1.GetOptions{}); err == nil {
		c.foundNode(name)
		return nil // the node event will requeue it
	} else if !apierrors.IsNotFound(err) {
		return fmt.Errorf("get node %s: %w", name, err)
	}
	if wait := c.quarantineLeft(name); wait > 0 {
		c.evictions.AddAfter(name, wait)
		return nil
	}
	c.foundNode(name) // pods bound to it later get a quarantine of their own
	var errs []error
	for _, pod := range pods {
		errs = append(errs, c.deletePod(ctx, pod, true, "NodeGone"))
	}
	return errors.Join(errs...)
}

// quarantineLeft returns how long the pods of missing node name have yet
// to wait, counting from the first time it was found missing.
func (c *Controller) quarantineLeft(name string) time.Duration {
	now := c.now()
	c.mu.Lock()
	defer c.mu.Unlock()
	since, ok := c.missing[name]
	if !ok {
		since = now
		c.missing[name] = now
	}
	return since.Add(c.quarantine).Sub(now)
}

// foundNode ends the quarantine of node name.
func (c *Controller) foundNode(name string) {
	c.mu.Lock()
	delete(c.missing, name)
	c.mu.Unlock()
}

// deletePod deletes pod, with grace period 0 if force, and posts an event
// with reason on it unless reason is "".
func (c *Controller) deletePod(ctx context.Context, pod *corev1.Pod, force bool, reason string) error {
	opts := metav1.DeleteOptions{Preconditions: &metav1.Preconditions{UID: &pod.UID}}
	if force {
		opts.GracePeriodSeconds = new(int64(0))
	}
	if reason != "" {
		c.recorder.Eventf(pod, corev1.EventTypeNormal, reason, "Marking for deletion Pod %s/%s", pod.Namespace, pod.Name)
	}
	err := c.client.CoreV1().Pods(pod.Namespace).Delete(ctx, pod.Name, opts)
	if err != nil && !apierrors.IsNotFound(err) && !apierrors.IsConflict(err) {
		return fmt.Errorf("delete pod %s/%s on node %s: %w", pod.Namespace, pod.Name, pod.Spec.NodeName, err)
	}
	c.log.Debug("deleted pod", "pod", pod.Namespace+"/"+pod.Name, "node", pod.Spec.NodeName, "force", force, "reason", reason)
	return nil
}

// markPodNotReady sets a pod's Ready condition to False, as Kubernetes does
// for the pods of a node that stopped posting status.
func (c *Controller) markPodNotReady(ctx context.Context, pod *corev1.Pod, now time.Time) error {
	i := -1
	for j, cond := range pod.Status.Conditions {
		if cond.Type == corev1.PodReady {
			i = j
		}
	}
	if i < 0 || pod.Status.Conditions[i].Status == corev1.ConditionFalse {
		return nil
	}
	pod = pod.DeepCopy()
	pod.Status.Conditions[i].Status = corev1.ConditionFalse
	pod.Status.Conditions[i].LastTransitionTime = metav1.NewTime(now)
	_, err := c.client.CoreV1().Pods(pod.Namespace).UpdateStatus(ctx, pod, metav1.UpdateOptions{})
	if err != nil && !apierrors.IsNotFound(err) {
		return fmt.Errorf("mark pod %s/%s not ready: %w", pod.Namespace, pod.Name, err)
	}
	return nil
}
