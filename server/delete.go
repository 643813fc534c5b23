package server

import (
	"context"
	"errors"
	"fmt"
	"net/http"
	"slices"
	"strconv"
	"time"

	corev1 "k8s.io/api/core/v1"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	"k8s.io/apimachinery/pkg/api/meta"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/runtime"

	"github.com/sqlkube/sqlkube/storage"
)

// Deletion follows Kubernetes: an object with finalizers, or a pod bound
// to a node with a grace period, is marked (deletionTimestamp) and stays
// until its finalizers are removed or its node deletes it with grace 0;
// everything else goes at once. Propagation policies Orphan and
// Foreground add the finalizers the garbage collector acts on.

// deleteObject deletes or marks one object. It returns the object as it
// now is and whether it is gone from the store.
func (s *Server) deleteObject(ctx context.Context, q *request, cur storage.Object, obj runtime.Object, opts *metav1.DeleteOptions) (runtime.Object, bool, error) {
	acc, _ := meta.Accessor(obj)
	gr := q.res.GVR().GroupResource()
	if err := admitNode(q.user, gr, acc.GetName(), obj); err != nil {
		return nil, false, err
	}
	if err := admitDelete(q, obj); err != nil {
		return nil, false, err
	}
	key := storage.Key{Resource: q.res.StorageResource(), Namespace: acc.GetNamespace(), Name: acc.GetName()}
	if p := opts.Preconditions; p != nil {
		if p.UID != nil && *p.UID != acc.GetUID() {
			return nil, false, apierrors.NewConflict(gr, acc.GetName(), fmt.Errorf("the UID in the precondition (%s) does not match the UID in record (%s); the object might have been deleted and then recreated", *p.UID, acc.GetUID()))
		}
		if p.ResourceVersion != nil && *p.ResourceVersion != acc.GetResourceVersion() {
			return nil, false, apierrors.NewConflict(gr, acc.GetName(), fmt.Errorf("the ResourceVersion in the precondition (%s) does not match the ResourceVersion in record (%s); the object might have been modified", *p.ResourceVersion, acc.GetResourceVersion()))
		}
	}
	finalizers := acc.GetFinalizers()
	if pp := opts.PropagationPolicy; pp != nil && acc.GetDeletionTimestamp() == nil {
		switch *pp {
		case metav1.DeletePropagationOrphan:
			finalizers = addFinalizer(finalizers, metav1.FinalizerOrphanDependents)
		case metav1.DeletePropagationForeground:
			finalizers = addFinalizer(finalizers, metav1.FinalizerDeleteDependents)
		}
	} else if opts.OrphanDependents != nil && *opts.OrphanDependents && acc.GetDeletionTimestamp() == nil {
		finalizers = addFinalizer(finalizers, metav1.FinalizerOrphanDependents)
	}
	grace := gracePeriod(obj, opts)
	if len(finalizers) == 0 && grace == 0 && !hasSpecFinalizers(obj) {
		if q.dryRun() {
			return obj, true, nil
		}
		if _, err := s.store.Delete(ctx, key, cur.Revision); err != nil {
			return nil, false, storageError(err, gr, acc.GetName())
		}
		if svc, ok := obj.(*corev1.Service); ok {
			s.releaseService(context.WithoutCancel(ctx), svc)
		}
		return obj, true, nil
	}
	// Mark it: the deletion finishes when the finalizers are gone (see
	// replace) or the node deletes the pod with grace 0.
	if dt := acc.GetDeletionTimestamp(); dt == nil || grace < deref(acc.GetDeletionGracePeriodSeconds()) {
		t := metav1.NewTime(time.Now().Add(time.Duration(grace) * time.Second).Truncate(time.Second))
		acc.SetDeletionTimestamp(&t)
		acc.SetDeletionGracePeriodSeconds(&grace)
	}
	acc.SetFinalizers(finalizers)
	if ns, ok := obj.(*corev1.Namespace); ok {
		ns.Status.Phase = corev1.NamespaceTerminating
	}
	if q.dryRun() {
		return obj, false, nil
	}
	value, err := encodeForStorage(q.res, obj)
	if err != nil {
		return nil, false, apierrors.NewInternalError(err)
	}
	o, err := s.store.Update(ctx, key, value, cur.Revision)
	if err != nil {
		return nil, false, storageError(err, gr, acc.GetName())
	}
	acc.SetResourceVersion(strconv.FormatInt(o.Revision, 10))
	return obj, false, nil
}

// gracePeriod is how long a pod gets to stop: the request's grace
// period, else the pod's own, else 30 s; 0 for pods no node runs and for
// every other kind (namespaces wait on their finalizer instead).
func gracePeriod(obj runtime.Object, opts *metav1.DeleteOptions) int64 {
	pod, ok := obj.(*corev1.Pod)
	if !ok || pod.Spec.NodeName == "" || pod.Status.Phase == corev1.PodSucceeded || pod.Status.Phase == corev1.PodFailed {
		return 0
	}
	if opts.GracePeriodSeconds != nil {
		return *opts.GracePeriodSeconds
	}
	if pod.Spec.TerminationGracePeriodSeconds != nil {
		return *pod.Spec.TerminationGracePeriodSeconds
	}
	return 30
}

// hasSpecFinalizers reports whether obj is a namespace whose
// spec.finalizers are not all removed yet: it stays Terminating until the
// namespace controller has emptied it and finalized it.
func hasSpecFinalizers(obj runtime.Object) bool {
	ns, ok := obj.(*corev1.Namespace)
	return ok && len(ns.Spec.Finalizers) > 0
}

func addFinalizer(fs []string, f string) []string {
	if slices.Contains(fs, f) {
		return fs
	}
	return append(slices.Clone(fs), f)
}

func deref(p *int64) int64 {
	if p == nil {
		return 1 << 62
	}
	return *p
}

func (s *Server) delete(q *request) error {
	opts, err := s.deleteParams(q)
	if err != nil {
		return err
	}
	cur, old, err := s.current(q)
	if err != nil {
		return err
	}
	obj, gone, err := s.deleteRetrying(q, q.ri.name, cur, old, opts)
	if err != nil {
		return err
	}
	// Like kube-apiserver: the object while its deletion is pending, and
	// for pods; a Status once other kinds are gone.
	if !gone || q.res.Kind == "Pod" {
		return s.writeObject(q, http.StatusOK, obj)
	}
	acc, _ := meta.Accessor(obj)
	writeJSON(q.w, http.StatusOK, &metav1.Status{
		TypeMeta: metav1.TypeMeta{Kind: "Status", APIVersion: "v1"},
		Status:   metav1.StatusSuccess,
		Details:  &metav1.StatusDetails{Name: acc.GetName(), Group: q.res.Group, Kind: q.res.Resource, UID: acc.GetUID()},
	})
	return nil
}

// deleteRetrying deletes obj (stored as cur), deciding again on the stored
// object when it changed meanwhile (a node updating a pod's status, a
// stale cache entry), as kube-apiserver's deletes do; the caller's
// preconditions are checked again on what was read.
func (s *Server) deleteRetrying(q *request, name string, cur storage.Object, obj runtime.Object, opts *metav1.DeleteOptions) (runtime.Object, bool, error) {
	for attempt := 1; ; attempt++ {
		out, gone, err := s.deleteObject(q.ctx(), q, cur, obj, opts)
		if !apierrors.IsConflict(err) || attempt == 5 {
			return out, gone, err
		}
		if cur, obj, err = s.freshNamed(q, name); err != nil {
			return nil, false, err
		}
	}
}

func (s *Server) deleteCollection(q *request) error {
	opts, err := s.deleteParams(q)
	if err != nil {
		return err
	}
	objs, _, _, err := s.listObjects(q)
	if err != nil {
		return err
	}
	// One object that may not go refuses the whole request before any
	// goes.
	for _, obj := range objs {
		if err := admitDelete(q, obj); err != nil {
			return err
		}
	}
	for _, obj := range objs {
		acc, _ := meta.Accessor(obj)
		rev, _ := strconv.ParseInt(acc.GetResourceVersion(), 10, 64)
		cur := storage.Object{Revision: rev}
		if _, _, err := s.deleteRetrying(q, acc.GetName(), cur, obj, opts); err != nil && !apierrors.IsNotFound(err) && !errors.Is(err, storage.ErrNotFound) {
			return err
		}
	}
	list := q.res.NewList()
	_ = meta.SetList(list, objs)
	list.GetObjectKind().SetGroupVersionKind(q.res.GroupVersion().WithKind(q.res.ListKind))
	writeJSON(q.w, http.StatusOK, list)
	return nil
}

// admitDelete refuses, with 403, the deletion of an object its resource's
// strategy keeps (default, kube-system, kube-public).
func admitDelete(q *request, obj runtime.Object) error {
	if q.res.AdmitDelete == nil {
		return nil
	}
	if err := q.res.AdmitDelete(obj); err != nil {
		acc, _ := meta.Accessor(obj)
		return apierrors.NewForbidden(q.res.GVR().GroupResource(), acc.GetName(), err)
	}
	return nil
}
