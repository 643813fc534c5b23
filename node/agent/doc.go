// Package agent is sqlkube's node agent, its kubelet: it registers this
// machine as a Node, renews the node's Lease, and runs the pods bound to
// the node with real containers through a container runtime (package
// node/runtime: containerd and CNI).
//
// Each pod has a worker, one goroutine that owns what the agent knows of
// the pod and syncs it whenever the pod, one of its containers or a probe
// result changes, and at least every resync period: it sets up the pod's
// volumes and sandbox (network namespace), runs the init containers in
// order, then the containers, restarts those that exited as the restart
// policy says with the kubelet's back-off, and posts the pod's status. A
// pod being deleted is stopped gracefully (preStop hooks, SIGTERM,
// SIGKILL after the grace period), everything it held is released, and
// the agent finishes its deletion.
//
// The agent keeps no state that the runtime does not hold: containers
// carry their pod, name and attempt as labels, so an agent that restarts
// adopts running containers as they are, and removes those of pods
// deleted while it was away. What it holds only in memory (back-off
// delays, probe results, the reason a container waits) is rebuilt as a
// kubelet rebuilds it after a restart.
//
// The agent also serves the API server's requests for logs, exec and port
// forwarding, and a read-only port (see package node/agentapi).
package agent
