// Package disruption keeps the status of policy/v1 PodDisruptionBudgets,
// like kube-controller-manager's disruption controller. The API server's
// pods/eviction subresource (what `kubectl drain` calls) reads that status
// to decide whether a pod may be evicted: only while
// status.disruptionsAllowed is above 0 and status.observedGeneration has
// caught up with the budget's generation.
//
// A budget's pods are those in its namespace that spec.selector matches; a
// missing selector matches none, an empty one every pod. From them the
// controller computes:
//
//   - expectedPods and desiredHealthy. An integer minAvailable expects the
//     selected pods and desires minAvailable healthy. A percentage
//     minAvailable, or maxUnavailable, expects the sum of spec.replicas of
//     the pods' controllers, each counted once (a ReplicaSet controlled by
//     a Deployment counts as the Deployment; a StatefulSet counts itself),
//     and desires ceil(minAvailable% × expected), or expected −
//     maxUnavailable (a percentage rounded up), at least 0. Pods without a
//     controller are left out of the sum, with a Warning UnmanagedPods
//     event on the budget.
//   - currentHealthy: pods that are Ready, not being deleted, and not in
//     status.disruptedPods.
//   - disruptionsAllowed: currentHealthy − desiredHealthy, at least 0, and
//     0 while expectedPods is 0, so that a budget whose pods are only being
//     created is safe before the controller has seen them.
//
// status.disruptedPods is written by the eviction handler: each eviction
// takes one disruption and records the pod's name with the time. The
// pod counts as unhealthy until the controller sees it terminating or
// gone, when the entry is dropped; an entry older than DeletionTimeout
// (2 minutes) is taken as an eviction that did not delete the pod, dropped
// with a Warning NotDeleted event on the pod, and the budget is synced
// again when the oldest entry is due to expire.
//
// The condition DisruptionAllowed is True with reason SufficientPods when
// a disruption is allowed, else False with InsufficientPods; its
// lastTransitionTime changes only when its status does. When the counts
// cannot be computed (a pod's controller is neither a ReplicaSet nor a
// StatefulSet in the cache: Warning CalculateExpectedPodCountFailed,
// "found no controllers for pod ..."), the controller writes
// disruptionsAllowed 0 and the condition False with reason SyncFailed,
// leaving the other counts, and does not retry: adding or scaling a
// ReplicaSet, Deployment or StatefulSet, or any change to the budget or
// its pods, syncs it again. The status is written through the status
// subresource, and only when it changed; conflicts are retried.
//
// Where it differs from Kubernetes: a pod event queues every budget that
// selects the pod (before and after a label change), not one of them;
// ReplicaSets, Deployments and StatefulSets that appear, go away or
// change spec.replicas queue the budgets of their namespace (Kubernetes
// does not watch them); the fail-safe status is not rewritten when it is
// already in place. Not implemented: ReplicationControllers (not served)
// and other controllers through their scale subresource (custom
// resources), so pods they control make a percentage or maxUnavailable
// budget fail as described; the MultiplePodDisruptionBudgets event on a
// pod that several budgets select (the eviction handler refuses such pods
// with an error that says so); resetting a stale DisruptionTarget pod
// condition; and the controller's metrics.
//
// Controller is safe for concurrent use; a key is never synced by two
// workers at once.
package disruption
