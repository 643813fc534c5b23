// Package replicaset is the ReplicaSet controller: it keeps spec.replicas
// active pods matching a ReplicaSet's selector and reports how many there
// are, how many are ready and how many are available.
//
// What it owns: pods whose controller owner reference is a ReplicaSet. It
// creates them from the template (generateName "<rs>-", a controller
// owner reference that blocks owner deletion), adopts orphan pods that
// match the selector, releases owned pods that stopped matching, and on
// scale-down deletes unscheduled, then not-ready, then newest pods first
// (podutils.ActivePods order). Terminating pods (deletionTimestamp set)
// and finished pods do not count. What it does not own: scheduling,
// running pods (nodes), and deleting pods of a deleted ReplicaSet (the
// garbage collector).
//
// Scale-up creates at most burstReplicas pods per sync, in slow-start
// batches of 1, 2, 4, ... run in parallel, so a failing template costs
// one request rather than thousands. Until the controller's own creations
// and deletions show up in the pod informer (expectations), a ReplicaSet
// is not resized again, so a large scale-up never overshoots. A sync that
// creates or deletes up to 20 pods posts an Event per pod ("Created pod:
// web-x7k2p"); a larger one posts one ("Created 500 pods"), so Events do
// not double the API writes of a big scale-up.
//
// New registers the informers and handlers; Run runs the workers. Each
// sync is keyed by "namespace/name" and idempotent; any number of workers
// may run, a key is never synced by two at once.
package replicaset
