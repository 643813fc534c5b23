// Package namespace finishes the deletion of namespaces: once a Namespace
// has a deletionTimestamp, Controller deletes everything in it, waits until
// nothing is left, then removes the "kubernetes" finalizer from
// spec.finalizers through the namespaces/finalize subresource, after which
// the API server deletes the namespace.
//
// The content is found through discovery, not a fixed list: every
// namespaced resource that supports list and deletecollection is emptied
// with one deletecollection (background propagation), falling back to
// deleting objects one by one where deletecollection is refused. Pods bound
// to a node are only marked by that; their node finishes the deletion, and
// the controller waits for it, requeueing the namespace with back-off.
// Progress is reported in the namespace's status conditions
// (NamespaceDeletionDiscoveryFailure, NamespaceDeletionContentFailure,
// NamespaceContentRemaining, NamespaceFinalizersRemaining), as in
// Kubernetes.
//
// Controller reads Namespaces from the shared informer factory, lists and
// deletes content with a metadata client, and takes a namespace name as
// its key; one namespace is never synced by two workers at once.
package namespace
