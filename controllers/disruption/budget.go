package disruption

import (
	"fmt"
	"slices"
	"time"

	corev1 "k8s.io/api/core/v1"
	policyv1 "k8s.io/api/policy/v1"
	apimeta "k8s.io/apimachinery/pkg/api/meta"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/runtime/schema"
	"k8s.io/apimachinery/pkg/types"
	"k8s.io/apimachinery/pkg/util/intstr"
	"k8s.io/kubectl/pkg/util/podutils"

	"github.com/sqlkube/sqlkube/controllers/reconcile"
)

// This file works out a budget's numbers, as Kubernetes' disruption
// controller does: how many pods it expects, how many of them must be
// healthy, which evictions are still in flight, and so how many more
// pods may be evicted.

// expected is what a budget's spec asks for.
type expected struct {
	// pods is status.expectedPods: the pods the budget selects (an
	// integer minAvailable) or the replicas of their controllers.
	pods int32
	// healthy is status.desiredHealthy.
	healthy int32
	// unmanaged names the selected pods without a controller, left out
	// of pods.
	unmanaged []string
}

// expectedPods works out the expected and desired healthy pod counts of
// pdb, which selects pods. An integer minAvailable counts the pods
// themselves. A percentage, or maxUnavailable, is of the replicas their
// controllers want, so that a budget does not loosen while pods are
// missing: a rollout that has not recreated a pod yet still counts it. It
// fails when a pod's controller cannot be found.
func (c *Controller) expectedPods(pdb *policyv1.PodDisruptionBudget, pods []*corev1.Pod) (expected, error) {
	var exp expected
	switch minAvail, maxUnavail := pdb.Spec.MinAvailable, pdb.Spec.MaxUnavailable; {
	case maxUnavail != nil:
		var err error
		if exp.pods, exp.unmanaged, err = c.controllersScale(pods); err != nil {
			return exp, err
		}
		n, err := intstr.GetScaledValueFromIntOrPercent(maxUnavail, int(exp.pods), true)
		if err != nil {
			return exp, fmt.Errorf("maxUnavailable: %w", err)
		}
		exp.healthy = max(exp.pods-int32(n), 0)
	case minAvail != nil && minAvail.Type == intstr.Int:
		exp.pods = int32(len(pods))
		exp.healthy = minAvail.IntVal
	case minAvail != nil:
		var err error
		if exp.pods, exp.unmanaged, err = c.controllersScale(pods); err != nil {
			return exp, err
		}
		n, err := intstr.GetScaledValueFromIntOrPercent(minAvail, int(exp.pods), true)
		if err != nil {
			return exp, fmt.Errorf("minAvailable: %w", err)
		}
		exp.healthy = int32(n)
	}
	// Neither set: nothing expected, and so no disruption allowed.
	return exp, nil
}

// controllersScale returns the sum of spec.replicas of the controllers of
// pods, each counted once, and the names of the pods without a
// controller. A ReplicaSet that a Deployment controls counts as the
// Deployment. It fails on a pod whose controller is not a ReplicaSet or
// StatefulSet in the cache.
func (c *Controller) controllersScale(pods []*corev1.Pod) (int32, []string, error) {
	var unmanaged []string
	seen := map[types.UID]bool{}   // controller references resolved
	scale := map[types.UID]int32{} // by the UID of what they resolved to
	for _, pod := range pods {
		ref := metav1.GetControllerOf(pod)
		if ref == nil {
			unmanaged = append(unmanaged, pod.Name)
			continue
		}
		if seen[ref.UID] {
			continue
		}
		uid, n, err := c.resolve(pod.Namespace, ref)
		if err != nil {
			return 0, nil, fmt.Errorf("controller of pod %q: %w", pod.Name, err)
		}
		if uid == "" {
			return 0, nil, fmt.Errorf("found no controllers for pod %q", pod.Name)
		}
		seen[ref.UID] = true
		scale[uid] = n
	}
	var sum int32
	for _, n := range scale {
		sum += n
	}
	return sum, unmanaged, nil
}

var (
	rsKind  = schema.GroupKind{Group: "apps", Kind: "ReplicaSet"}
	ssKind  = schema.GroupKind{Group: "apps", Kind: "StatefulSet"}
	depKind = schema.GroupKind{Group: "apps", Kind: "Deployment"}
)

// resolve returns the UID and spec.replicas of the controller ref points
// at, or an empty UID when it is not a ReplicaSet, Deployment (through
// its ReplicaSet) or StatefulSet in the cache with the referenced UID. It
// fails only on a malformed apiVersion.
func (c *Controller) resolve(namespace string, ref *metav1.OwnerReference) (types.UID, int32, error) {
	gk, err := groupKind(ref)
	if err != nil {
		return "", 0, err
	}
	switch gk {
	case rsKind:
		rs, err := c.rsLister.ReplicaSets(namespace).Get(ref.Name)
		if err != nil || rs.UID != ref.UID {
			return "", 0, nil
		}
		dref := metav1.GetControllerOf(rs)
		if dref == nil {
			return rs.UID, replicas(rs.Spec.Replicas), nil
		}
		if dref.Kind != depKind.Kind {
			// Kubernetes takes a ReplicaSet controlled by anything
			// but a Deployment as its own controller.
			return rs.UID, replicas(rs.Spec.Replicas), nil
		}
		if dgk, err := groupKind(dref); err != nil || dgk != depKind {
			return "", 0, err
		}
		d, err := c.dLister.Deployments(namespace).Get(dref.Name)
		if err != nil || d.UID != dref.UID {
			return "", 0, nil
		}
		return d.UID, replicas(d.Spec.Replicas), nil
	case ssKind:
		ss, err := c.ssLister.StatefulSets(namespace).Get(ref.Name)
		if err != nil || ss.UID != ref.UID {
			return "", 0, nil
		}
		return ss.UID, replicas(ss.Spec.Replicas), nil
	}
	return "", 0, nil
}

// groupKind returns the group and kind of ref, with the retired
// extensions group read as apps, as Kubernetes accepts both.
func groupKind(ref *metav1.OwnerReference) (schema.GroupKind, error) {
	gv, err := schema.ParseGroupVersion(ref.APIVersion)
	if err != nil {
		return schema.GroupKind{}, fmt.Errorf("owner reference %s %s: %w", ref.Kind, ref.Name, err)
	}
	gk := schema.GroupKind{Group: gv.Group, Kind: ref.Kind}
	if gk.Group == "extensions" && gk.Kind != ssKind.Kind {
		gk.Group = "apps"
	}
	return gk, nil
}

// replicas is spec.replicas with the API's default, 1, when unset.
func replicas(r *int32) int32 {
	if r == nil {
		return 1
	}
	return *r
}

// disruptedPods returns the entries of pdb's status.disruptedPods that
// still stand at now: those of pods that exist, are not yet being deleted
// (the eviction's deletion was seen: the pod no longer counts anyway) and
// were evicted at most DeletionTimeout ago. A pod whose entry expired
// gets a Warning NotDeleted event. It also returns when the oldest entry
// kept expires (zero when none is kept), for the budget to be synced
// again then.
func (c *Controller) disruptedPods(pdb *policyv1.PodDisruptionBudget, pods []*corev1.Pod, now time.Time) (map[string]metav1.Time, time.Time) {
	var (
		out     map[string]metav1.Time
		recheck time.Time
	)
	if len(pdb.Status.DisruptedPods) == 0 {
		return nil, recheck
	}
	for _, pod := range pods {
		if pod.DeletionTimestamp != nil {
			continue
		}
		at, ok := pdb.Status.DisruptedPods[pod.Name]
		if !ok {
			continue
		}
		expires := at.Add(DeletionTimeout)
		if expires.Before(now) {
			c.log.Info("evicted pod was not deleted", "pod", reconcile.Key(pod), "evicted", at.Time, "poddisruptionbudget", reconcile.Key(pdb))
			c.recorder.Eventf(pod, corev1.EventTypeWarning, "NotDeleted", "Pod was expected by PDB %s to be deleted but it wasn't", reconcile.Key(pdb))
			continue
		}
		if recheck.IsZero() || expires.Before(recheck) {
			recheck = expires
		}
		if out == nil {
			out = map[string]metav1.Time{}
		}
		out[pod.Name] = at
	}
	return out, recheck
}

// countHealthy counts the pods that are Ready, not being deleted and not
// evicted a moment ago (in disrupted): those an eviction would take away.
func countHealthy(pods []*corev1.Pod, disrupted map[string]metav1.Time, now time.Time) int32 {
	var n int32
	for _, pod := range pods {
		if pod.DeletionTimestamp != nil {
			continue
		}
		if at, ok := disrupted[pod.Name]; ok && at.Add(DeletionTimeout).After(now) {
			continue
		}
		if podutils.IsPodReady(pod) {
			n++
		}
	}
	return n
}

// newStatus returns pdb's status for the counts given: disruptionsAllowed
// is how many healthy pods are above the desired number, and 0 while no
// pod is expected, so that a budget whose pods are only being created is
// safe before the controller saw them. observedGeneration becomes pdb's
// generation, and the condition DisruptionAllowed says whether an
// eviction may go through; its lastTransitionTime changes only with its
// status.
func newStatus(pdb *policyv1.PodDisruptionBudget, exp expected, healthy int32, disrupted map[string]metav1.Time, now time.Time) *policyv1.PodDisruptionBudgetStatus {
	allowed := healthy - exp.healthy
	if exp.pods <= 0 || allowed < 0 {
		allowed = 0
	}
	st := &policyv1.PodDisruptionBudgetStatus{
		ObservedGeneration: pdb.Generation,
		DisruptedPods:      disrupted,
		DisruptionsAllowed: allowed,
		CurrentHealthy:     healthy,
		DesiredHealthy:     exp.healthy,
		ExpectedPods:       exp.pods,
		Conditions:         slices.Clone(pdb.Status.Conditions),
	}
	cond := metav1.Condition{
		Type:               policyv1.DisruptionAllowedCondition,
		Status:             metav1.ConditionFalse,
		Reason:             policyv1.InsufficientPodsReason,
		ObservedGeneration: st.ObservedGeneration,
		LastTransitionTime: metav1.NewTime(now),
	}
	if allowed > 0 {
		cond.Status, cond.Reason = metav1.ConditionTrue, policyv1.SufficientPodsReason
	}
	apimeta.SetStatusCondition(&st.Conditions, cond)
	return st
}
