// Package garbagecollector deletes objects whose owners are gone, following
// metadata.ownerReferences across every resource the API server serves.
//
// Controller discovers the resources that support list, watch and delete
// (events excepted), watches each with a metadata-only informer
// (k8s.io/client-go/metadata/metadatainformer) and keeps a graph of owners
// and dependents by UID. Discovery is repeated every 30 s, so resources
// the server starts serving later are watched too. Work items are UIDs in
// one queue, with three kinds of work:
//
//   - delete: a dependent whose owner may be gone or is being deleted in
//     the foreground. Owner absence is verified with a live GET (an object
//     of the same name with another UID is not the owner) and remembered.
//     With no owner left the dependent is deleted (background, or the
//     policy its own finalizers ask for); with other owners remaining only
//     the dangling references are removed. The dependents of an owner that
//     waits for them (foreground) are deleted too, in the foreground
//     themselves when they have dependents.
//   - foreground: an owner with a deletionTimestamp and the
//     foregroundDeletion finalizer; once no dependent with
//     blockOwnerDeletion=true remains, the finalizer is removed and the API
//     server completes the deletion.
//   - orphan: an owner with the orphan finalizer; its dependents lose their
//     reference to it, then the finalizer is removed.
//
// The graph is built by informer event handlers under one mutex; workers
// read it, and write only through the API. Deletions carry a UID
// precondition; finalizer and ownerReference changes are merge patches
// pinned to the resourceVersion they were computed on, so a race with
// another writer is retried rather than overwritten.
package garbagecollector
