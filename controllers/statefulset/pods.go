package statefulset

import (
	"context"
	"fmt"

	corev1 "k8s.io/api/core/v1"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
)

// The pod writes of a sync. Events use Kubernetes' wording ("create Pod
// web-0 in StatefulSet web successful"), which `kubectl describe
// statefulset` shows.

// createPod creates s's pod with ordinal n from the current template,
// after the claims it mounts. When a claim cannot be made the pod is not
// created: it would never start.
func (c *Controller) createPod(ctx context.Context, s *state, n int) error {
	set := s.set
	pod := newPod(set, n, s.updateRev)
	if err := c.ensureClaims(ctx, set, pod.Name, n); err != nil {
		c.recorder.Eventf(set, corev1.EventTypeWarning, "FailedCreate", "create Pod %s in StatefulSet %s failed error: %v", pod.Name, set.Name, err)
		return fmt.Errorf("create pod %s of statefulset %s: %w", pod.Name, s.key, err)
	}
	_, err := c.client.CoreV1().Pods(set.Namespace).Create(ctx, pod, metav1.CreateOptions{})
	switch {
	case err == nil:
	case apierrors.HasStatusCause(err, corev1.NamespaceTerminatingCause):
		return nil // the pod is not wanted any more
	case apierrors.IsAlreadyExists(err):
		// Not in the cache yet, or a pod the set does not control took
		// the name: retry later, without an event (as Kubernetes).
		return fmt.Errorf("create pod %s of statefulset %s: %w", pod.Name, s.key, err)
	default:
		if ctx.Err() == nil {
			c.recorder.Eventf(set, corev1.EventTypeWarning, "FailedCreate", "create Pod %s in StatefulSet %s failed error: %v", pod.Name, set.Name, err)
		}
		return fmt.Errorf("create pod %s of statefulset %s: %w", pod.Name, s.key, err)
	}
	c.pending.Created(s.key, set.Namespace, pod.Name, s.now.Time)
	c.recorder.Eventf(set, corev1.EventTypeNormal, "SuccessfulCreate", "create Pod %s in StatefulSet %s successful", pod.Name, set.Name)
	return nil
}

// deletePod deletes pod of s's set, if it is still the pod that was read
// (same UID). A pod already gone is not an error.
func (c *Controller) deletePod(ctx context.Context, s *state, pod *corev1.Pod) error {
	set := s.set
	uid := pod.UID
	err := c.client.CoreV1().Pods(pod.Namespace).Delete(ctx, pod.Name, metav1.DeleteOptions{Preconditions: &metav1.Preconditions{UID: &uid}})
	if apierrors.IsNotFound(err) || apierrors.IsConflict(err) {
		return nil // gone already, or another pod took its name
	}
	if err != nil {
		if ctx.Err() == nil {
			c.recorder.Eventf(set, corev1.EventTypeWarning, "FailedDelete", "delete Pod %s in StatefulSet %s failed error: %v", pod.Name, set.Name, err)
		}
		return fmt.Errorf("delete pod %s of statefulset %s: %w", pod.Name, s.key, err)
	}
	c.pending.Deleted(s.key, pod.Namespace, pod.Name, pod.UID, s.now.Time)
	c.recorder.Eventf(set, corev1.EventTypeNormal, "SuccessfulDelete", "delete Pod %s in StatefulSet %s successful", pod.Name, set.Name)
	return nil
}

// fixIdentity gives pod, s's pod with ordinal n, its identity labels (an
// adopted pod may lack them). Its hostname, subdomain and volumes cannot
// change on a running pod and are left as they are.
func (c *Controller) fixIdentity(ctx context.Context, s *state, pod *corev1.Pod, n int) error {
	p := pod.DeepCopy()
	setIdentityLabels(s.set, p, n)
	_, err := c.client.CoreV1().Pods(p.Namespace).Update(ctx, p, metav1.UpdateOptions{})
	if apierrors.IsNotFound(err) {
		return nil
	}
	if err != nil {
		if ctx.Err() == nil {
			c.recorder.Eventf(s.set, corev1.EventTypeWarning, "FailedUpdate", "update Pod %s in StatefulSet %s failed error: %v", p.Name, s.set.Name, err)
		}
		return fmt.Errorf("update identity of pod %s of statefulset %s: %w", p.Name, s.key, err)
	}
	c.recorder.Eventf(s.set, corev1.EventTypeNormal, "SuccessfulUpdate", "update Pod %s in StatefulSet %s successful", p.Name, s.set.Name)
	return nil
}

// scaleDown deletes m, a pod out of range, after handing its claims to
// the pod when the retention policy deletes claims on scale-down (the
// garbage collector then deletes them once the pod is gone).
func (c *Controller) scaleDown(ctx context.Context, s *state, m member) error {
	if err := c.releaseClaimsToPod(ctx, s.set, m.pod, m.ordinal); err != nil {
		return err
	}
	return c.deletePod(ctx, s, m.pod)
}
