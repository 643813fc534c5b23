// Package dns is sqlkube's cluster DNS: a DNS server, built on
// github.com/miekg/dns, that answers names of the cluster domain from
// Services and EndpointSlices, and forwards every other name to the node's
// own resolvers. It follows the Kubernetes DNS-based service discovery
// specification and the behaviour of CoreDNS's kubernetes plugin.
//
// What it answers, for the domain cluster.local (every record with TTL 5):
//
//   - SVC.NS.svc.cluster.local: A/AAAA of the ClusterIPs; for a headless
//     Service, one record per ready endpoint address (NXDOMAIN while it has
//     none); for an ExternalName Service, a CNAME to the external name,
//     followed by the target's addresses when asked A or AAAA;
//   - ENDPOINT.SVC.NS.svc.cluster.local: a ready endpoint, named by its
//     hostname (StatefulSet pods, through the Service as their subdomain) or
//     by its address with dashes (10-244-1-5);
//   - _PORT._PROTO.SVC.NS.svc.cluster.local SRV: the named port, pointing at
//     the Service's name, or at each endpoint's name for a headless Service
//     (SVC.NS.svc.cluster.local SRV lists every port);
//   - PTR for ClusterIPs and ready endpoint addresses; other reverse names
//     are forwarded;
//   - IP-DASHED.NS.pod.cluster.local: that address (CoreDNS's "pods
//     insecure"), and dns-version.cluster.local TXT;
//   - NXDOMAIN for other names under the domain and NODATA (NOERROR, no
//     answer) for names that exist without the type asked, both with the
//     zone's SOA; NS.svc.cluster.local exists (NODATA) while some Service
//     lives in NS.
//
// A Server keeps an in-memory index that informer events update one Service
// at a time; a query is a map lookup under a read lock, never a list.
// Forwarded queries go over UDP (TCP when the client used TCP or the answer
// was truncated) to each upstream in turn; SERVFAIL when none answers.
//
// ResolvConf builds a pod's resolv.conf with the kubelet's rules; the node
// agent writes it into the pod.
//
// New validates a Config; Run serves until its context ends; Ready is
// closed once the sockets are bound and the caches synced. A Server is safe
// for concurrent use; ResolvConf is a pure function.
package dns
