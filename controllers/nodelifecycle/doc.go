// Package nodelifecycle watches node heartbeats, marks dead nodes, taints
// nodes by their conditions and evicts pods from nodes they may not stay
// on, like kube-controller-manager's node lifecycle controller, its taint
// manager and the orphan part of its pod garbage collector.
//
// Health: a node heartbeats by renewing its Lease in kube-node-lease (or
// by posting a new Ready heartbeat time in its status). The controller
// notes the local time at which it saw each renewal, so the node's clock
// does not matter. A node not seen renewing for Config.NodeMonitorGracePeriod
// gets its Ready (and pressure) conditions set to Unknown with the reason
// NodeStatusUnknown. A timer per node (Queue.AddAfter) wakes the
// controller when a grace period runs out; there is no polling, and a
// cluster of healthy nodes costs cache reads only, never a write.
//
// Taints follow the Ready condition: Unknown gives
// node.kubernetes.io/unreachable, False gives node.kubernetes.io/not-ready,
// each with effects NoExecute (with timeAdded) and NoSchedule; True removes
// them. MemoryPressure, DiskPressure, PIDPressure and NetworkUnavailable
// conditions and spec.unschedulable give the matching NoSchedule taints.
// Other taints are left alone.
//
// Eviction: a pod on a node with a NoExecute taint it does not tolerate is
// deleted at once; one that tolerates it for tolerationSeconds is deleted
// when that many seconds have passed since the taint's timeAdded (a timer
// again); a pod that tolerates it without a limit stays. When a node
// tolerates several such taints, the earliest deadline counts; when several
// tolerations match one taint, the most lenient counts. Finished pods are
// not evicted. On a node whose Ready condition is not True, evicted pods
// are deleted with grace period 0, because no node will confirm a graceful
// deletion; on an Unknown node, pods that were already being deleted are
// force-deleted too, and running pods are marked not Ready so that
// Services stop sending them traffic. Pods bound to a node that does not
// exist are force-deleted once the node has been missing for
// OrphanQuarantine (40 s, the pod garbage collector's quarantine), so that
// a node agent may register after the pods written for it.
//
// Not implemented: zone-aware eviction rate limits and the full-disruption
// mode in which Kubernetes stops evicting when every node of a zone is
// down; the out-of-service taint.
//
// Controller is safe for concurrent use.
package nodelifecycle
