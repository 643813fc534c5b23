// Package sim runs simulated nodes, many in one process, for tests and
// scale work (like kwok): `sqlkube node --simulate N --name PREFIX`.
//
// A Simulator registers its nodes PREFIX-0 … PREFIX-(N-1) with the
// capacity it is given, renews their Leases and re-posts their conditions
// the way a kubelet does (package node), and "runs" the pods bound to
// them: a pod becomes Running and Ready at once with an IP of its node's
// pod range; the containers of a pod whose restartPolicy is Never or
// OnFailure exit 0 after Config.JobDuration; a pod being deleted is
// deleted with grace period 0 at once. Nothing is executed and no network
// is set up: pod IPs are only written into status.
//
// It is built to carry 1,000 nodes and 30,000 pods in one process: one
// pod watch for all its nodes (field selector spec.nodeName!=) whose
// objects are cut down to what it reads before they are cached, one node
// watch, a bounded pool of status writers, and node heartbeats that cost
// one Lease update per node every RenewInterval.
//
// When the process dies, or Run's context ends, the Leases simply stop
// being renewed and the node lifecycle controller sees the nodes die.
package sim
