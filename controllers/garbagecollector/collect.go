package garbagecollector

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"slices"
	"strings"

	apierrors "k8s.io/apimachinery/pkg/api/errors"
	"k8s.io/apimachinery/pkg/api/meta"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/runtime/schema"
	"k8s.io/apimachinery/pkg/types"

	"github.com/sqlkube/sqlkube/controllers/reconcile"
)

// sync runs one work item, "kind/uid".
func (c *Controller) sync(ctx context.Context, key string) error {
	kind, uid, ok := strings.Cut(key, "/")
	if !ok {
		return reconcile.Permanent(fmt.Errorf("garbage collector key %q", key))
	}
	switch kind {
	case workDelete:
		return c.attemptToDelete(ctx, types.UID(uid))
	case workForeground:
		return c.processForeground(ctx, types.UID(uid))
	case workOrphan:
		return c.processOrphan(ctx, types.UID(uid))
	case workVirtual:
		return c.processVirtual(ctx, types.UID(uid))
	}
	return reconcile.Permanent(fmt.Errorf("garbage collector key %q: unknown work", key))
}

// ownerState is what a dependent's owner reference points at.
type ownerState int

const (
	ownerSolid    ownerState = iota // exists, not waiting for dependents
	ownerDangling                   // gone, or replaced by another UID
	ownerWaiting                    // being deleted in the foreground
)

// ownerState looks up the owner ref of an object in namespace ns: from the
// graph when an informer observes it, else with a live GET by name whose
// UID must match.
func (c *Controller) ownerState(ctx context.Context, ref metav1.OwnerReference, ns string) (ownerState, error) {
	if o, ok := c.graph.get(ref.UID); ok && o.observed {
		if o.deletingDependents() {
			return ownerWaiting, nil
		}
		return ownerSolid, nil
	}
	if c.absent.has(ref.UID) {
		return ownerDangling, nil
	}
	gvr, namespaced, err := c.resourceFor(ref.APIVersion, ref.Kind)
	if err != nil {
		return 0, err
	}
	if !namespaced {
		ns = ""
	} else if ns == "" {
		// A cluster-scoped object cannot have a namespaced owner.
		return ownerDangling, nil
	}
	live, err := c.metadata.Resource(gvr).Namespace(ns).Get(ctx, ref.Name, metav1.GetOptions{})
	if apierrors.IsNotFound(err) || (err == nil && live.UID != ref.UID) {
		c.absent.add(ref.UID)
		return ownerDangling, nil
	}
	if err != nil {
		return 0, fmt.Errorf("get owner %s %s/%s: %w", ref.Kind, ns, ref.Name, err)
	}
	if live.DeletionTimestamp != nil && slices.Contains(live.Finalizers, metav1.FinalizerDeleteDependents) {
		return ownerWaiting, nil
	}
	return ownerSolid, nil
}

// resourceFor maps an owner reference's apiVersion and kind to a resource
// and whether it is namespaced, refreshing the mapping once when the kind
// is unknown.
func (c *Controller) resourceFor(apiVersion, kind string) (schema.GroupVersionResource, bool, error) {
	gv, err := schema.ParseGroupVersion(apiVersion)
	if err != nil {
		return schema.GroupVersionResource{}, false, reconcile.Permanent(fmt.Errorf("owner apiVersion %q: %w", apiVersion, err))
	}
	gk := schema.GroupKind{Group: gv.Group, Kind: kind}
	m, err := c.mapper.RESTMapping(gk, gv.Version)
	if meta.IsNoMatchError(err) {
		if r, ok := c.mapper.(meta.ResettableRESTMapper); ok {
			r.Reset()
			m, err = c.mapper.RESTMapping(gk, gv.Version)
		}
	}
	if err != nil {
		return schema.GroupVersionResource{}, false, fmt.Errorf("resource of %s %s: %w", apiVersion, kind, err)
	}
	return m.Resource, m.Scope.Name() == meta.RESTScopeNameNamespace, nil
}

// attemptToDelete decides about a dependent: delete it when no owner is
// left (or the remaining ones wait for it), or drop the references to
// owners that are gone.
func (c *Controller) attemptToDelete(ctx context.Context, uid types.UID) error {
	n, ok := c.graph.get(uid)
	if !ok || !n.observed {
		return nil
	}
	if n.deleting {
		if n.deletingDependents() {
			c.queue.Add(workForeground + "/" + string(uid))
		}
		return nil
	}
	if len(n.owners) == 0 {
		return nil
	}
	client := c.metadata.Resource(n.gvr).Namespace(n.namespace)
	latest, err := client.Get(ctx, n.name, metav1.GetOptions{})
	if apierrors.IsNotFound(err) {
		return nil // its delete event is on its way
	}
	if err != nil {
		return fmt.Errorf("get %s %s/%s: %w", n.kind, n.namespace, n.name, err)
	}
	if latest.UID != uid || latest.DeletionTimestamp != nil {
		return nil // replaced, or already going: events will follow
	}
	var solid, gone []metav1.OwnerReference
	waiting := false
	for _, ref := range latest.OwnerReferences {
		st, err := c.ownerState(ctx, ref, n.namespace)
		if err != nil {
			return err
		}
		switch st {
		case ownerSolid:
			solid = append(solid, ref)
		case ownerWaiting:
			waiting = true
			gone = append(gone, ref)
		case ownerDangling:
			gone = append(gone, ref)
		}
	}
	switch {
	case len(latest.OwnerReferences) == 0 || len(gone) == 0:
		return nil
	case len(solid) > 0:
		// Another owner keeps it: only drop the references that are gone
		// or that hold up a foreground deletion.
		c.log.Debug("removing owner references", "kind", n.kind, "object", n.namespace+"/"+n.name, "removed", len(gone))
		return c.patchOwners(ctx, n.gvr, latest, solid)
	}
	policy := metav1.DeletePropagationBackground
	switch {
	case waiting && len(n.dependents) > 0:
		policy = metav1.DeletePropagationForeground
	case slices.Contains(latest.Finalizers, metav1.FinalizerOrphanDependents):
		policy = metav1.DeletePropagationOrphan
	case slices.Contains(latest.Finalizers, metav1.FinalizerDeleteDependents):
		policy = metav1.DeletePropagationForeground
	}
	c.log.Debug("deleting dependent", "kind", n.kind, "object", n.namespace+"/"+n.name, "propagation", policy)
	err = client.Delete(ctx, n.name, metav1.DeleteOptions{Preconditions: &metav1.Preconditions{UID: &uid}, PropagationPolicy: &policy})
	if err != nil && !apierrors.IsNotFound(err) && !apierrors.IsConflict(err) {
		return fmt.Errorf("delete %s %s/%s: %w", n.kind, n.namespace, n.name, err)
	}
	return nil
}

// processForeground removes the foregroundDeletion finalizer from an
// owner once no dependent blocks it, and otherwise makes sure its
// blocking dependents are being deleted.
func (c *Controller) processForeground(ctx context.Context, uid types.UID) error {
	n, ok := c.graph.get(uid)
	if !ok || !n.deletingDependents() {
		return nil
	}
	blocked := false
	for _, d := range n.dependents {
		if !d.block {
			continue
		}
		blocked = true
		if !d.deleting {
			c.queue.Add(workDelete + "/" + string(d.uid))
		}
	}
	if blocked {
		return nil // their deletion events bring the owner back here
	}
	c.log.Debug("dependents gone; completing foreground deletion", "kind", n.kind, "object", n.namespace+"/"+n.name)
	return c.removeFinalizer(ctx, n, metav1.FinalizerDeleteDependents)
}

// processOrphan removes an orphaning owner's references from its
// dependents, then its orphan finalizer.
func (c *Controller) processOrphan(ctx context.Context, uid types.UID) error {
	n, ok := c.graph.get(uid)
	if !ok || !n.orphaning() {
		return nil
	}
	var errs []error
	for _, d := range n.dependents {
		dn, ok := c.graph.get(d.uid)
		if !ok || !dn.observed {
			continue
		}
		client := c.metadata.Resource(dn.gvr).Namespace(dn.namespace)
		latest, err := client.Get(ctx, dn.name, metav1.GetOptions{})
		if apierrors.IsNotFound(err) {
			continue
		}
		if err != nil {
			errs = append(errs, fmt.Errorf("get %s %s/%s: %w", dn.kind, dn.namespace, dn.name, err))
			continue
		}
		if latest.UID != d.uid {
			continue
		}
		keep := slices.DeleteFunc(slices.Clone(latest.OwnerReferences), func(r metav1.OwnerReference) bool { return r.UID == uid })
		if len(keep) == len(latest.OwnerReferences) {
			continue
		}
		if err := c.patchOwners(ctx, dn.gvr, latest, keep); err != nil {
			errs = append(errs, err)
		}
	}
	if err := errors.Join(errs...); err != nil {
		return err
	}
	c.log.Debug("dependents orphaned", "kind", n.kind, "object", n.namespace+"/"+n.name, "dependents", len(n.dependents))
	return c.removeFinalizer(ctx, n, metav1.FinalizerOrphanDependents)
}

// processVirtual checks an owner that dependents reference but no informer
// has shown: if it does not exist, its dependents are checked.
func (c *Controller) processVirtual(ctx context.Context, uid types.UID) error {
	n, ok := c.graph.get(uid)
	if !ok || n.observed || len(n.dependents) == 0 {
		return nil
	}
	st, err := c.ownerState(ctx, metav1.OwnerReference{APIVersion: n.apiVersion, Kind: n.kind, Name: n.name, UID: uid}, n.namespace)
	if err != nil {
		return err
	}
	if st == ownerDangling {
		for _, d := range n.dependents {
			c.queue.Add(workDelete + "/" + string(d.uid))
		}
	}
	return nil
}

// removeFinalizer removes finalizer from the live object of n with a
// merge patch pinned to the resourceVersion it read.
func (c *Controller) removeFinalizer(ctx context.Context, n snapshot, finalizer string) error {
	client := c.metadata.Resource(n.gvr).Namespace(n.namespace)
	latest, err := client.Get(ctx, n.name, metav1.GetOptions{})
	if apierrors.IsNotFound(err) {
		return nil
	}
	if err != nil {
		return fmt.Errorf("get %s %s/%s: %w", n.kind, n.namespace, n.name, err)
	}
	if latest.UID != n.uid || !slices.Contains(latest.Finalizers, finalizer) {
		return nil
	}
	fins := slices.DeleteFunc(slices.Clone(latest.Finalizers), func(f string) bool { return f == finalizer })
	if err := c.patchMeta(ctx, n.gvr, latest, "finalizers", fins); err != nil {
		return fmt.Errorf("remove finalizer %s from %s %s/%s: %w", finalizer, n.kind, n.namespace, n.name, err)
	}
	return nil
}

// patchOwners sets the ownerReferences of obj to owners.
func (c *Controller) patchOwners(ctx context.Context, gvr schema.GroupVersionResource, obj *metav1.PartialObjectMetadata, owners []metav1.OwnerReference) error {
	if err := c.patchMeta(ctx, gvr, obj, "ownerReferences", owners); err != nil {
		return fmt.Errorf("update owner references of %s %s/%s: %w", gvr.Resource, obj.Namespace, obj.Name, err)
	}
	return nil
}

// patchMeta sets metadata.field of obj to value (null when empty) with a
// merge patch that fails on a conflict if obj changed since it was read.
func (c *Controller) patchMeta(ctx context.Context, gvr schema.GroupVersionResource, obj *metav1.PartialObjectMetadata, field string, value any) error {
	md := map[string]any{"resourceVersion": obj.ResourceVersion, "uid": obj.UID}
	if v := value; isEmpty(v) {
		md[field] = nil
	} else {
		md[field] = v
	}
	data, err := json.Marshal(map[string]any{"metadata": md})
	if err != nil {
		return err
	}
	_, err = c.metadata.Resource(gvr).Namespace(obj.Namespace).Patch(ctx, obj.Name, types.MergePatchType, data, metav1.PatchOptions{})
	if apierrors.IsNotFound(err) {
		return nil
	}
	return err
}

func isEmpty(v any) bool {
	switch v := v.(type) {
	case []string:
		return len(v) == 0
	case []metav1.OwnerReference:
		return len(v) == 0
	}
	return v == nil
}
