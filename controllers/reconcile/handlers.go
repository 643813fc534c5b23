package reconcile

import (
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/client-go/tools/cache"
)

// OwnerEventHandler calls enqueue for every object added, deleted or
// changed (resyncs skipped), with both versions of a changed object: its
// owner may have changed with it. enqueue resolves an object (or a
// deletion tombstone) to the owner to queue, such as the Job of a pod.
func OwnerEventHandler(enqueue func(obj any)) cache.ResourceEventHandlerFuncs {
	return cache.ResourceEventHandlerFuncs{
		AddFunc: enqueue,
		UpdateFunc: func(old, cur any) {
			if Unchanged(old, cur) {
				return
			}
			enqueue(old)
			enqueue(cur)
		},
		DeleteFunc: enqueue,
	}
}

// Unchanged reports whether an update event is a resync of an object whose
// resourceVersion did not change.
func Unchanged(old, cur any) bool {
	o, ok1 := old.(interface{ GetResourceVersion() string })
	c, ok2 := cur.(interface{ GetResourceVersion() string })
	return ok1 && ok2 && o.GetResourceVersion() == c.GetResourceVersion()
}

// ObjectOf returns obj as a T, unwrapping a cache.DeletedFinalStateUnknown
// tombstone that a delete handler may receive. It reports false when obj
// (or the tombstone's object) is not a T.
func ObjectOf[T any](obj any) (T, bool) {
	if tomb, ok := obj.(cache.DeletedFinalStateUnknown); ok {
		obj = tomb.Obj
	}
	t, ok := obj.(T)
	return t, ok
}

// Key returns obj's work queue key, "namespace/name" (or "name" for a
// cluster-scoped object).
func Key(obj metav1.Object) string {
	if obj.GetNamespace() == "" {
		return obj.GetName()
	}
	return obj.GetNamespace() + "/" + obj.GetName()
}
