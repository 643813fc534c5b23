// Package clusterdns keeps the endpoints of the cluster DNS Service,
// kube-system/kube-dns, which has no selector: its servers are the node
// agents, each answering on the first address of its node's pod range
// (node.DNSAddress), where its pods reach it directly. The controller
// writes one EndpointSlice, managed by it, with an endpoint per Node that
// has a pod range, ready while the Node is Ready; the proxy sends a pod's
// queries to the server of its own node when it is ready
// (trafficDistribution PreferClose), to another one otherwise.
package clusterdns
