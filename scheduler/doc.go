// Package scheduler places pods on nodes, like kube-scheduler: it watches
// pods whose spec.nodeName is empty (and whose schedulerName is "" or
// "default-scheduler"), picks a node for each and binds the pod there
// through the pods/binding subresource.
//
// The package owns three things:
//
//   - a cache of node state built from the pod and node informers: per node,
//     its allocatable resources, the sum of the requests of the pods bound or
//     assumed there, host ports in use, pod counts per controller owner. A
//     pod chosen for a node is "assumed": it counts against the node at once,
//     before the binding is written, and until the informer shows it bound (or
//     the binding fails and it is forgotten). That is what keeps a burst of
//     pods from overcommitting a node.
//   - a scheduling queue ordered by spec.priority, then first come first
//     served, with back-off for pods that did not fit and a parking area for
//     unschedulable pods that is emptied when a node or pod change could let
//     them fit.
//   - the algorithm: filters (filter.go) that rule nodes out, with the reason
//     each node failed, and scores (score.go) that rank the feasible ones.
//     Each check is a small type behind one interface, built per pod only
//     when the pod has a constraint it cares about. In large clusters a
//     cycle stops after finding max(100, 5% of the nodes) feasible nodes,
//     starting where the previous cycle stopped.
//
// A bound pod gets a Normal "Scheduled" Event, as in Kubernetes. When no
// node fits, the pod gets a FailedScheduling Warning Event and its
// PodScheduled condition is set to False (reason Unschedulable) with a
// message in Kubernetes' words, e.g. "0/4 nodes are available: 1 node(s) had
// untolerated taint {dedicated: db}, 3 Insufficient cpu."
//
// It does not own preemption, volumes, or topology spread constraints beyond
// spreading the pods of one controller across nodes.
//
// Concurrency: one goroutine runs the scheduling cycles, so decisions are
// made one pod at a time against the cache; bindings and status writes run in
// a bounded pool of goroutines (32) so that the cycle never waits for the
// API. Informer handlers update the cache and the queue under their own
// locks. The client should not be rate-limited to a few QPS: every pod costs
// one binding.
package scheduler
