package replicaset

import (
	"context"
	"errors"
	"fmt"
	"sort"
	"sync"

	appsv1 "k8s.io/api/apps/v1"
	corev1 "k8s.io/api/core/v1"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/types"
	"k8s.io/kubectl/pkg/util/podutils"

	"github.com/sqlkube/sqlkube/controllers/ownership"
)

// newPod returns the pod rs creates from its template.
func newPod(rs *appsv1.ReplicaSet) *corev1.Pod {
	return ownership.PodFromTemplate(&rs.Spec.Template, rs, controllerKind)
}

// generateNameAttempts bounds the creations of one pod whose generated
// name was taken.
const generateNameAttempts = 3

// createPod creates one pod for rs. A namespace being terminated is not an
// error: the pod is not wanted any more.
func (c *Controller) createPod(ctx context.Context, rs *appsv1.ReplicaSet, event bool) error {
	var (
		pod *corev1.Pod
		err error
	)
	// A generated name may collide with an existing pod's; another
	// attempt draws a new one.
	for range generateNameAttempts {
		pod, err = c.client.CoreV1().Pods(rs.Namespace).Create(ctx, newPod(rs), metav1.CreateOptions{})
		if !apierrors.IsAlreadyExists(err) {
			break
		}
	}
	if err != nil {
		if apierrors.HasStatusCause(err, corev1.NamespaceTerminatingCause) {
			return nil
		}
		c.recorder.Eventf(rs, corev1.EventTypeWarning, "FailedCreate", "Error creating: %v", err)
		return fmt.Errorf("create pod for replicaset %s: %w", rsKey(rs), err)
	}
	if event {
		c.recorder.Eventf(rs, corev1.EventTypeNormal, "SuccessfulCreate", "Created pod: %s", pod.Name)
	}
	return nil
}

// deletePods deletes pods of rs in parallel. A pod already gone is not an
// error; a failed deletion is taken out of the expectations.
func (c *Controller) deletePods(ctx context.Context, rs *appsv1.ReplicaSet, pods []*corev1.Pod, perPodEvents bool) error {
	key := rsKey(rs)
	var (
		wg   sync.WaitGroup
		mu   sync.Mutex
		errs []error
	)
	for _, p := range pods {
		wg.Add(1)
		go func() {
			defer wg.Done()
			err := c.client.CoreV1().Pods(p.Namespace).Delete(ctx, p.Name, metav1.DeleteOptions{Preconditions: &metav1.Preconditions{UID: &p.UID}})
			if err == nil {
				if perPodEvents {
					c.recorder.Eventf(rs, corev1.EventTypeNormal, "SuccessfulDelete", "Deleted pod: %s", p.Name)
				}
				return
			}
			c.exp.deletionObserved(key, podKey(p))
			if apierrors.IsNotFound(err) || apierrors.IsConflict(err) {
				return
			}
			c.recorder.Eventf(rs, corev1.EventTypeWarning, "FailedDelete", "Error deleting: %v", err)
			mu.Lock()
			errs = append(errs, fmt.Errorf("delete pod %s of replicaset %s: %w", podKey(p), key, err))
			mu.Unlock()
		}()
	}
	wg.Wait()
	if !perPodEvents && len(errs) < len(pods) {
		c.recorder.Eventf(rs, corev1.EventTypeNormal, "SuccessfulDelete", "Deleted %d pods", len(pods)-len(errs))
	}
	return errors.Join(errs...)
}

// adoptPod makes rs the controller of the orphan pod and returns the pod
// as stored.
func (c *Controller) adoptPod(ctx context.Context, rs *appsv1.ReplicaSet, pod *corev1.Pod) (*corev1.Pod, error) {
	patch, err := ownership.OwnerRefPatch(rs, controllerKind, pod.UID, false)
	if err != nil {
		return nil, err
	}
	out, err := c.client.CoreV1().Pods(pod.Namespace).Patch(ctx, pod.Name, types.StrategicMergePatchType, patch, metav1.PatchOptions{})
	if err != nil {
		return nil, fmt.Errorf("adopt pod %s by replicaset %s: %w", podKey(pod), rsKey(rs), err)
	}
	return out, nil
}

// releasePod removes rs's owner reference from a pod that no longer
// matches its selector. A pod already gone is not an error.
func (c *Controller) releasePod(ctx context.Context, rs *appsv1.ReplicaSet, pod *corev1.Pod) error {
	patch, err := ownership.OwnerRefPatch(rs, controllerKind, pod.UID, true)
	if err != nil {
		return err
	}
	_, err = c.client.CoreV1().Pods(pod.Namespace).Patch(ctx, pod.Name, types.StrategicMergePatchType, patch, metav1.PatchOptions{})
	if err != nil && !apierrors.IsNotFound(err) {
		return fmt.Errorf("release pod %s from replicaset %s: %w", podKey(pod), rsKey(rs), err)
	}
	return nil
}

// slowStartBatch calls fn count times: first in batches of initial,
// 2*initial, 4*initial, ... whose calls run in parallel, and once a batch
// of maxParallel calls succeeded, from maxParallel workers that take calls
// until none remain. It stops starting calls after the first error, and
// returns how many calls succeeded and that error. A template the API
// rejects thus costs one request, while a good one soon runs at full
// parallelism without waiting for the slowest call of each batch.
// (ownership.SlowStart, for the few pods of a DaemonSet or Job sync,
// keeps doubling batches to the end instead.)
func slowStartBatch(count, initial, maxParallel int, fn func() error) (int, error) {
	remaining, successes := count, 0
	batch := min(remaining, initial, maxParallel)
	for batch > 0 && batch < maxParallel {
		ok, err := runParallel(batch, batch, fn)
		successes += ok
		if err != nil {
			return successes, err
		}
		remaining -= batch
		batch = min(2*batch, remaining)
	}
	if remaining == 0 {
		return successes, nil
	}
	ok, err := runParallel(remaining, maxParallel, fn)
	return successes + ok, err
}

// runParallel calls fn n times from at most workers goroutines, starting
// no new call after one failed. It returns the successes and the first
// error.
func runParallel(n, workers int, fn func() error) (int, error) {
	var (
		mu        sync.Mutex
		next      int
		successes int
		firstErr  error
		wg        sync.WaitGroup
	)
	take := func() bool {
		mu.Lock()
		defer mu.Unlock()
		if next >= n || firstErr != nil {
			return false
		}
		next++
		return true
	}
	for range min(workers, n) {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for take() {
				err := fn()
				mu.Lock()
				if err == nil {
					successes++
				} else if firstErr == nil {
					firstErr = err
				}
				mu.Unlock()
			}
		}()
	}
	wg.Wait()
	return successes, firstErr
}

func sortActive(pods podutils.ActivePods) { sort.Sort(pods) }
