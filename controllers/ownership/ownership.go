package ownership

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"strings"

	apierrors "k8s.io/apimachinery/pkg/api/errors"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/labels"
	"k8s.io/apimachinery/pkg/runtime/schema"
	"k8s.io/apimachinery/pkg/types"
	"k8s.io/client-go/tools/cache"

	"github.com/sqlkube/sqlkube/controllers/reconcile"
)

// This file holds the controller owner reference logic shared by the
// controllers that own objects (ReplicaSets own pods, Deployments own
// ReplicaSets, DaemonSets and Jobs own pods): finding an object's owner in
// the cache, mapping informer events on owned objects to owner keys, and
// adopting and releasing owned objects.

// Owners looks up, in an informer cache, the owners of one kind (the
// ReplicaSets of a ReplicaSet controller, say) that control other objects
// through a controller owner reference. Kind and Get are required;
// List and Selector are needed by Selecting only. Safe for concurrent use
// when its functions are (listers are).
type Owners[O metav1.Object] struct {
	// Kind is the owners' group, version and kind, as owner references
	// name it.
	Kind schema.GroupVersionKind
	// Get returns the owner namespace/name from the cache.
	Get func(namespace, name string) (O, error)
	// List returns the owners in namespace from the cache.
	List func(namespace string) ([]O, error)
	// Selector returns the label selector with which an owner selects the
	// objects it controls.
	Selector func(O) *metav1.LabelSelector
}

// NamespaceLister is the namespaced view of a typed lister
// (appslisters.ReplicaSetNamespaceLister, ...) that NewOwners reads.
type NamespaceLister[O any] interface {
	Get(name string) (O, error)
	List(selector labels.Selector) ([]O, error)
}

// NewOwners returns the Owners of kind read through namespaced, a typed
// lister's namespace method (rsLister.ReplicaSets, say), with selector as
// Owners.Selector. selector may be nil when Selecting is never called.
func NewOwners[O metav1.Object, L NamespaceLister[O]](kind schema.GroupVersionKind, namespaced func(namespace string) L, selector func(O) *metav1.LabelSelector) *Owners[O] {
	return &Owners[O]{
		Kind:     kind,
		Get:      func(namespace, name string) (O, error) { return namespaced(namespace).Get(name) },
		List:     func(namespace string) ([]O, error) { return namespaced(namespace).List(labels.Everything()) },
		Selector: selector,
	}
}

// Resolve returns the owner ref points at. It reports false when ref is
// nil, names another kind or API version, or names an owner that is not
// in the cache or was replaced by one of the same name (another UID).
func (o *Owners[O]) Resolve(namespace string, ref *metav1.OwnerReference) (O, bool) {
	var zero O
	if ref == nil || ref.Kind != o.Kind.Kind || ref.APIVersion != o.Kind.GroupVersion().String() {
		return zero, false
	}
	owner, err := o.Get(namespace, ref.Name)
	if err != nil || owner.GetUID() != ref.UID {
		return zero, false
	}
	return owner, true
}

// ByKey returns the owner named by a work queue key ("namespace/name")
// from the cache. A malformed key is a reconcile.Permanent error; for an
// owner not in the cache (deleted) apierrors.IsNotFound reports true.
func (o *Owners[O]) ByKey(key string) (O, error) {
	var zero O
	kind := strings.ToLower(o.Kind.Kind)
	ns, name, err := cache.SplitMetaNamespaceKey(key)
	if err != nil {
		return zero, reconcile.Permanent(fmt.Errorf("%s key %q: %w", kind, key, err))
	}
	owner, err := o.Get(ns, name)
	if err != nil {
		return zero, fmt.Errorf("get %s %s: %w", kind, key, err)
	}
	return owner, nil
}

// Selecting returns the owners in namespace whose selector is valid, not
// empty and matches lbls: those that may adopt an orphan with these
// labels. A failed list returns none.
func (o *Owners[O]) Selecting(namespace string, lbls map[string]string) []O {
	all, err := o.List(namespace)
	if err != nil {
		return nil
	}
	var out []O
	for _, owner := range all {
		sel, err := metav1.LabelSelectorAsSelector(o.Selector(owner))
		if err != nil || sel.Empty() || !sel.Matches(labels.Set(lbls)) {
			continue
		}
		out = append(out, owner)
	}
	return out
}

// Dependents turns informer events on objects of type D into the owners of
// type O to sync, the way sample-controller's handleObject does: an
// object's controller owner if it has one, else, for an orphan with
// labels, every owner that selects it (it may adopt it). Owners and
// Enqueue are required; the hooks are optional and see the resolved owner
// before (Added, Deleted) or after (Updated) it is enqueued. Its methods
// are informer handler funcs: register them with
// cache.ResourceEventHandlerFuncs.
type Dependents[O, D metav1.Object] struct {
	Owners  *Owners[O]
	Enqueue func(owner O)

	// Added is called when an object controlled by owner appeared.
	Added func(owner O, obj D)
	// Updated is called when an object controlled by owner changed.
	Updated func(owner O, old, cur D)
	// Deleted is called when an object controlled by owner was deleted.
	Deleted func(owner O, obj D)
}

// Add handles an added object. One first seen already terminating (a
// restart of the controller) is handled as deleted.
func (d *Dependents[O, D]) Add(obj any) {
	dep := obj.(D)
	if dep.GetDeletionTimestamp() != nil {
		d.Delete(dep)
		return
	}
	if ref := metav1.GetControllerOf(dep); ref != nil {
		if owner, ok := d.Owners.Resolve(dep.GetNamespace(), ref); ok {
			if d.Added != nil {
				d.Added(owner, dep)
			}
			d.Enqueue(owner)
		}
		return
	}
	d.enqueueSelecting(dep)
}

// Update handles an updated object, ignoring resyncs. When the controller
// reference changed the old owner is enqueued too; an orphan is offered to
// the owners selecting it only when its labels or reference changed.
func (d *Dependents[O, D]) Update(old, cur any) {
	if reconcile.Unchanged(old, cur) {
		return
	}
	oldDep, curDep := old.(D), cur.(D)
	curRef, oldRef := metav1.GetControllerOf(curDep), metav1.GetControllerOf(oldDep)
	refChanged := (curRef == nil) != (oldRef == nil) || (curRef != nil && curRef.UID != oldRef.UID)
	if refChanged && oldRef != nil {
		if owner, ok := d.Owners.Resolve(oldDep.GetNamespace(), oldRef); ok {
			d.Enqueue(owner)
		}
	}
	if curRef != nil {
		owner, ok := d.Owners.Resolve(curDep.GetNamespace(), curRef)
		if !ok {
			return
		}
		d.Enqueue(owner)
		if d.Updated != nil {
			d.Updated(owner, oldDep, curDep)
		}
		return
	}
	if refChanged || !labels.Equals(oldDep.GetLabels(), curDep.GetLabels()) {
		d.enqueueSelecting(curDep)
	}
}

// Delete handles a deleted object or its tombstone.
func (d *Dependents[O, D]) Delete(obj any) {
	dep, ok := reconcile.ObjectOf[D](obj)
	if !ok {
		return
	}
	owner, ok := d.Owners.Resolve(dep.GetNamespace(), metav1.GetControllerOf(dep))
	if !ok {
		return
	}
	if d.Deleted != nil {
		d.Deleted(owner, dep)
	}
	d.Enqueue(owner)
}

func (d *Dependents[O, D]) enqueueSelecting(dep D) {
	if len(dep.GetLabels()) == 0 {
		return
	}
	for _, owner := range d.Owners.Selecting(dep.GetNamespace(), dep.GetLabels()) {
		d.Enqueue(owner)
	}
}

// Claimer adopts and releases the objects of type D of one owner, like
// Kubernetes' ControllerRefManager: an owner controls the objects whose
// controller reference names its UID and that its selector matches. Owner,
// Selector, Adopt and Release are required.
type Claimer[D metav1.Object] struct {
	Owner    metav1.Object
	Selector labels.Selector
	// Recheck, when set, is called once before the first adoption, and an
	// error stops every adoption (see RecheckOwner).
	Recheck func(ctx context.Context) error
	// Adopt makes Owner the controller of an orphan and returns the
	// object as owned.
	Adopt func(ctx context.Context, obj D) (D, error)
	// Release removes Owner's reference from an object it controls.
	Release func(ctx context.Context, obj D) error
}

// Claim returns the candidates the owner controls after adopting the
// orphans its selector matches and releasing the owned objects it no
// longer matches. An owner being deleted adopts and releases nothing, and
// an object being deleted is not adopted. An object gone by the time it is
// adopted or released is skipped. It returns what it claimed together
// with the joined errors of the adoptions and releases that failed.
func (m *Claimer[D]) Claim(ctx context.Context, candidates []D) ([]D, error) {
	var (
		claimed    []D
		errs       []error
		recheckErr error
		checked    bool
	)
	ownerDeleting := m.Owner.GetDeletionTimestamp() != nil
	for _, obj := range candidates {
		ref := metav1.GetControllerOf(obj)
		matches := m.Selector.Matches(labels.Set(obj.GetLabels()))
		switch {
		case ref != nil && ref.UID == m.Owner.GetUID():
			if matches {
				claimed = append(claimed, obj)
				continue
			}
			if ownerDeleting {
				continue
			}
			if err := m.Release(ctx, obj); err != nil && !apierrors.IsNotFound(err) {
				errs = append(errs, err)
			}
		case ref == nil && matches && !ownerDeleting && obj.GetDeletionTimestamp() == nil:
			if m.Recheck != nil && !checked {
				recheckErr, checked = m.Recheck(ctx), true
			}
			if recheckErr != nil {
				errs = append(errs, recheckErr)
				continue
			}
			adopted, err := m.Adopt(ctx, obj)
			if apierrors.IsNotFound(err) {
				continue
			}
			if err != nil {
				errs = append(errs, err)
				continue
			}
			claimed = append(claimed, adopted)
		}
	}
	return claimed, errors.Join(errs...)
}

// RecheckOwner re-reads cached, an owner of kind, with get (an API
// client's Get, not the cache) before it adopts anything. It fails when
// the read fails, when the owner was replaced by one of the same name
// (another UID), or when it is being deleted.
func RecheckOwner[O metav1.Object](ctx context.Context, cached O, kind string, get func(ctx context.Context, name string, opts metav1.GetOptions) (O, error)) error {
	what := strings.ToLower(kind) + " " + reconcile.Key(cached)
	fresh, err := get(ctx, cached.GetName(), metav1.GetOptions{})
	if err != nil {
		return fmt.Errorf("recheck %s before adoption: %w", what, err)
	}
	if fresh.GetUID() != cached.GetUID() {
		return fmt.Errorf("%s was recreated (uid %s, cached %s): not adopting", what, fresh.GetUID(), cached.GetUID())
	}
	if fresh.GetDeletionTimestamp() != nil {
		return fmt.Errorf("%s is being deleted: not adopting", what)
	}
	return nil
}

// OwnerRefPatch returns the strategic merge patch that makes owner, of
// kind, the controller of the object with UID uid (with
// blockOwnerDeletion), or, with remove, deletes owner's reference from it.
// Owner references merge by uid; the patch names the object's uid so that
// it fails with a conflict on an object replaced since it was read.
func OwnerRefPatch(owner metav1.Object, kind schema.GroupVersionKind, uid types.UID, remove bool) ([]byte, error) {
	ref := map[string]any{"uid": owner.GetUID()}
	if remove {
		ref["$patch"] = "delete"
	} else {
		ref = map[string]any{
			"apiVersion": kind.GroupVersion().String(), "kind": kind.Kind,
			"name": owner.GetName(), "uid": owner.GetUID(), "controller": true, "blockOwnerDeletion": true,
		}
	}
	patch, err := json.Marshal(map[string]any{"metadata": map[string]any{
		"uid":             uid,
		"ownerReferences": []any{ref},
	}})
	if err != nil {
		return nil, fmt.Errorf("owner reference patch for %s: %w", reconcile.Key(owner), err)
	}
	return patch, nil
}
