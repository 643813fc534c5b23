// Package node holds what every sqlkube node agent does towards the API
// server, whatever runs its pods: it registers the Node, keeps its Lease in
// kube-node-lease renewed, reports the Node's conditions, and turns what a
// container runtime observes into a pod status.
//
// The package owns no loop and no runtime. An agent combines the pieces:
//
//   - Config describes a node; Register creates its Node, or on a restart
//     updates the existing one and posts Ready=True again.
//   - Lease renews one node's Lease (call Renew every renew interval, 10s
//     like the kubelet); PatchConditions re-posts the node's conditions,
//     which a kubelet does only when they change or every few minutes.
//   - SandboxStatus is the seam to a runtime: the pod's IP, when it started
//     and the container statuses the runtime sees. PodStatus builds the
//     pod's API status (phase, conditions, IPs) from it, and Phase gives the
//     kubelet's phase rules alone.
//
// The simulated runtime (package node/sim) runs many nodes in one process
// with these pieces; a containerd agent registers, heartbeats and reports
// status the same way.
//
// Everything here is safe for concurrent use except a Lease, which one
// goroutine renews at a time.
package node
