package statefulset

import (
	"context"
	"errors"
	"fmt"

	appsv1 "k8s.io/api/apps/v1"
	corev1 "k8s.io/api/core/v1"
	apiequality "k8s.io/apimachinery/pkg/api/equality"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/types"

	"github.com/sqlkube/sqlkube/controllers/reconcile"
)

// This file makes the PersistentVolumeClaims of a StatefulSet's pods and
// keeps their owner references as the set's
// persistentVolumeClaimRetentionPolicy asks. Claims are read through the
// API when a pod is created or scaled away, not watched: those are the
// only moments the controller looks at them.

const (
	retain       = appsv1.RetainPersistentVolumeClaimRetentionPolicyType
	deleteClaims = appsv1.DeletePersistentVolumeClaimRetentionPolicyType
)

// retentionPolicy returns set's claim retention policy, Retain where it
// is unset.
func retentionPolicy(set *appsv1.StatefulSet) appsv1.StatefulSetPersistentVolumeClaimRetentionPolicy {
	p := appsv1.StatefulSetPersistentVolumeClaimRetentionPolicy{WhenDeleted: retain, WhenScaled: retain}
	if sp := set.Spec.PersistentVolumeClaimRetentionPolicy; sp != nil {
		if sp.WhenDeleted != "" {
			p.WhenDeleted = sp.WhenDeleted
		}
		if sp.WhenScaled != "" {
			p.WhenScaled = sp.WhenScaled
		}
	}
	return p
}

// ensureClaims makes sure the claims of set's pod podName (ordinal n)
// exist and can be used: it creates the missing ones, and fails for a
// claim being deleted or, when claims are deleted on scale-down, one
// still owned by an earlier pod of that name (the garbage collector is
// about to delete it). Existing claims get the owner references the
// retention policy asks for.
func (c *Controller) ensureClaims(ctx context.Context, set *appsv1.StatefulSet, podName string, n int) error {
	policy := retentionPolicy(set)
	claims := c.client.CoreV1().PersistentVolumeClaims(set.Namespace)
	var errs []error
	for _, want := range newClaims(set, n) {
		got, err := claims.Get(ctx, want.Name, metav1.GetOptions{})
		switch {
		case apierrors.IsNotFound(err):
			want.OwnerReferences, _, _ = claimOwners(set, want, podName, "", false)
			_, err := claims.Create(ctx, want, metav1.CreateOptions{})
			if apierrors.IsAlreadyExists(err) {
				// Made since the Get; the next attempt looks at it.
				errs = append(errs, fmt.Errorf("create claim %s: %w", want.Name, err))
				continue
			}
			c.claimEvent(ctx, set, podName, want.Name, err)
			if err != nil {
				errs = append(errs, fmt.Errorf("create claim %s: %w", want.Name, err))
			}
		case err != nil:
			c.claimEvent(ctx, set, podName, want.Name, err)
			errs = append(errs, fmt.Errorf("get claim %s: %w", want.Name, err))
		case got.DeletionTimestamp != nil:
			errs = append(errs, fmt.Errorf("claim %s is being deleted", want.Name))
		case policy.WhenScaled == deleteClaims && ownedByOtherPod(got, podName):
			errs = append(errs, fmt.Errorf("claim %s belongs to an earlier pod %s: waiting for the garbage collector to delete it", want.Name, podName))
		default:
			errs = append(errs, c.setClaimOwners(ctx, set, got, podName, "", false))
		}
	}
	return errors.Join(errs...)
}

// claimEvent records the outcome of creating claim for set's pod podName.
func (c *Controller) claimEvent(ctx context.Context, set *appsv1.StatefulSet, podName, claim string, err error) {
	if err == nil {
		c.recorder.Eventf(set, corev1.EventTypeNormal, "SuccessfulCreate", "create Claim %s Pod %s in StatefulSet %s success", claim, podName, set.Name)
		return
	}
	if ctx.Err() == nil {
		c.recorder.Eventf(set, corev1.EventTypeWarning, "FailedCreate", "create Claim %s for Pod %s in StatefulSet %s failed error: %v", claim, podName, set.Name, err)
	}
}

// ownedByOtherPod reports whether claim has an owner reference to a pod
// named podName, which does not exist yet: an earlier pod of that name.
func ownedByOtherPod(claim *corev1.PersistentVolumeClaim, podName string) bool {
	for _, r := range claim.OwnerReferences {
		if isPodRef(r, podName) {
			return true
		}
	}
	return false
}

// releaseClaimsToPod makes pod, set's pod with ordinal n that is about to
// be scaled away, the owner of its claims when the policy deletes claims
// on scale-down, and drops the set's reference. A claim that does not
// exist is skipped.
func (c *Controller) releaseClaimsToPod(ctx context.Context, set *appsv1.StatefulSet, pod *corev1.Pod, n int) error {
	if retentionPolicy(set).WhenScaled != deleteClaims {
		return nil
	}
	for _, t := range set.Spec.VolumeClaimTemplates {
		name := claimName(set, t.Name, n)
		claim, err := c.client.CoreV1().PersistentVolumeClaims(set.Namespace).Get(ctx, name, metav1.GetOptions{})
		if apierrors.IsNotFound(err) {
			continue
		}
		if err != nil {
			return fmt.Errorf("get claim %s of pod %s: %w", name, pod.Name, err)
		}
		if err := c.setClaimOwners(ctx, set, claim, pod.Name, pod.UID, true); err != nil {
			return err
		}
	}
	return nil
}

// setClaimOwners updates claim's owner references to what claimOwners
// says, when that differs from what it has.
func (c *Controller) setClaimOwners(ctx context.Context, set *appsv1.StatefulSet, claim *corev1.PersistentVolumeClaim, podName string, podUID types.UID, scaledDown bool) error {
	refs, changed, conflict := claimOwners(set, claim, podName, podUID, scaledDown)
	if conflict {
		c.recorder.Eventf(set, corev1.EventTypeWarning, "ConflictingController",
			"PersistentVolumeClaim %s has a conflicting OwnerReference that acts as a managing controller, the retention policy is ignored for this claim", claim.Name)
	}
	if !changed {
		return nil
	}
	cp := claim.DeepCopy()
	cp.OwnerReferences = refs
	if _, err := c.client.CoreV1().PersistentVolumeClaims(cp.Namespace).Update(ctx, cp, metav1.UpdateOptions{}); err != nil {
		return fmt.Errorf("update owners of claim %s for the retention policy of statefulset %s: %w", cp.Name, reconcile.Key(set), err)
	}
	return nil
}

// claimOwners returns the owner references claim, mounted by set's pod
// podName (podUID, empty before the pod exists), should have, and whether
// they differ from its own, following Kubernetes' table:
//
//	whenDeleted Retain, whenScaled Retain: no reference to the set or pod
//	whenDeleted Delete, whenScaled Retain: the set is its controller
//	whenDeleted Retain, whenScaled Delete: the pod, once scaled down
//	whenDeleted Delete, whenScaled Delete: the set, or once scaled down the pod
//
// A claim with a reference to an earlier set or pod of the same name is
// left alone: the garbage collector decides its fate. A claim that
// another controller owns keeps only that controller, and conflict
// reports it.
func claimOwners(set *appsv1.StatefulSet, claim *corev1.PersistentVolumeClaim, podName string, podUID types.UID, scaledDown bool) (refs []metav1.OwnerReference, changed, conflict bool) {
	policy := retentionPolicy(set)
	var other bool
	for _, r := range claim.OwnerReferences {
		switch {
		case isSetRef(r, set.Name):
			if r.UID != set.UID {
				return claim.OwnerReferences, false, false
			}
		case isPodRef(r, podName):
			if r.UID != podUID {
				return claim.OwnerReferences, false, false
			}
		default:
			refs = append(refs, r)
			other = other || (r.Controller != nil && *r.Controller)
		}
	}
	retainAll := policy.WhenDeleted == retain && policy.WhenScaled == retain
	if other && !retainAll {
		return refs, !sameRefs(refs, claim.OwnerReferences), true
	}
	deleteOnScale := scaledDown && policy.WhenScaled == deleteClaims
	if policy.WhenDeleted == deleteClaims && !deleteOnScale {
		refs = append(refs, *metav1.NewControllerRef(set, controllerKind))
	}
	if deleteOnScale && podUID != "" {
		refs = append(refs, metav1.OwnerReference{
			APIVersion: podKind.GroupVersion().String(), Kind: podKind.Kind, Name: podName, UID: podUID,
			Controller: new(true), BlockOwnerDeletion: new(true),
		})
	}
	return refs, !sameRefs(refs, claim.OwnerReferences), false
}

func isSetRef(r metav1.OwnerReference, name string) bool {
	return r.APIVersion == controllerKind.GroupVersion().String() && r.Kind == controllerKind.Kind && r.Name == name
}

func isPodRef(r metav1.OwnerReference, name string) bool {
	return r.APIVersion == podKind.GroupVersion().String() && r.Kind == podKind.Kind && r.Name == name
}

// sameRefs reports whether a and b hold the same references, in any
// order.
func sameRefs(a, b []metav1.OwnerReference) bool {
	if len(a) != len(b) {
		return false
	}
	for _, x := range a {
		found := false
		for _, y := range b {
			if apiequality.Semantic.DeepEqual(x, y) {
				found = true
				break
			}
		}
		if !found {
			return false
		}
	}
	return true
}
