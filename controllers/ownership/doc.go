// Package ownership is the owner logic shared by the controllers that own
// other objects through a controller owner reference: ReplicaSets own
// pods, Deployments own ReplicaSets, DaemonSets, Jobs and StatefulSets own
// pods, CronJobs own Jobs. Controllers that own nothing (endpoints,
// namespace, nodelifecycle, ...) need only package reconcile, on which
// this one builds.
//
// The types an owning controller needs:
//
//   - Owners finds an object's owner in the cache (Resolve, ByKey) and the
//     owners whose selector matches an orphan (Selecting); NewOwners builds
//     one from a typed lister.
//   - Dependents maps informer events on owned objects to the owners to
//     sync; its methods are informer handler funcs.
//   - Claimer adopts matching orphans and releases owned objects that
//     stopped matching, with RecheckOwner and OwnerRefPatch for the API
//     side.
//   - PendingPods holds an owner back while pods it created or deleted are
//     not in the cache yet.
//   - PodFromTemplate and SlowStart make an owner's pods.
//
// What it does not hold: any controller's reconcile logic, or anything
// that knows a particular kind beyond what is passed in.
//
// Concurrency: PendingPods is safe for concurrent use, and so is Owners
// when its functions are (listers are). A Dependents or Claimer is as safe
// as the functions it is given; a Claimer is meant for one sync.
package ownership
