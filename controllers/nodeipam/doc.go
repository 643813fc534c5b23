// Package nodeipam gives every Node without a pod range one: a block of
// NodeCIDRMaskSize bits (default /24) out of the cluster's pod range
// (ClusterCIDR, default 10.244.0.0/16, `sqlkube server --cluster-cidr`),
// written to spec.podCIDR and spec.podCIDRs, as Kubernetes' node IPAM
// controller does with its range allocator (IPv4 only).
//
// A Node that has a range keeps it, whoever set it: the simulator
// (node/sim) sets its nodes' ranges itself when it creates them, and a
// range outside the cluster's is left alone. No range another Node holds
// is handed out: the ranges in use are read from the informer cache at
// every allocation, plus those this controller wrote that the cache has
// not shown yet. The update carries the cached resourceVersion, so a
// concurrent writer makes it conflict and the Node is retried. A deleted
// Node's range is free again, and Nodes still waiting are retried then.
// When the cluster range is full, the Node gets a Warning Event
// (CIDRNotAvailable) and a log line, and waits for a deletion.
//
// Controller runs under the controller manager's leader election, so
// several servers of a cluster never allocate at once; allocation is
// serialized inside the process too (one sync at a time holds the lock
// from choosing a range to writing it).
package nodeipam
