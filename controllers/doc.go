// Package controllers holds what every controller shares: the Config a
// controller is built from, and Queue, the rate-limited work loop that turns
// informer events into keys and runs a reconcile function over them.
//
// Each controller lives in its own package below this one (replicaset,
// deployment, ...). A controller reads from informer caches, writes through
// the API, and has a sync function that takes a key ("namespace/name" or
// "name") and is safe to run any number of times. The manager package wires
// them together and runs them in the elected leader only.
//
// For the controllers that own other objects through a controller owner
// reference (ReplicaSets own pods, Deployments own ReplicaSets, DaemonSets
// and Jobs own pods, CronJobs own Jobs) it also holds the owner logic they
// share:
//
//   - Owners finds an object's owner in the cache (Resolve) and the owners
//     whose selector matches an orphan (Selecting).
//   - Dependents maps informer events on owned objects to the owners to
//     sync; its methods are informer handler funcs.
//   - Claimer adopts matching orphans and releases owned objects that stopped
//     matching, with RecheckOwner and OwnerRefPatch for the API side.
//   - PendingPods holds an owner back while pods it created or deleted are
//     not in the cache yet.
//   - PodFromTemplate and SlowStart make an owner's pods.
//
// What it does not hold: any controller's reconcile logic, or anything
// that knows a particular kind beyond what is passed in.
//
// Concurrency: Queue, Config, PendingPods and Owners are safe for
// concurrent use (Owners when its functions are, as listers are). A
// Dependents or Claimer is as safe as the functions it is given; a Claimer
// is meant for one sync.
package controllers
