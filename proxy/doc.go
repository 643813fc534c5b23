// Package proxy is sqlkube's service proxy: kube-proxy's nftables mode,
// written with github.com/google/nftables (netlink, no nft binary).
//
// It owns exactly one nftables table, "ip sqlkube", and touches nothing
// else. From Services and EndpointSlices, Build computes the whole desired
// Table as an in-memory model (base chains on the nat and filter hooks,
// verdict maps keyed by address . protocol . port, one chain per Service
// port and one per endpoint); Render prints it as stable text for golden
// tests. Each sync applies the whole model in one netlink transaction that
// deletes and recreates the table, so a packet sees either the old rule set
// or the new one, never half of either.
//
// What the rules do:
//   - ClusterIP: `ip daddr . meta l4proto . th dport vmap @service-ips`
//     leads to the Service port's chain, which picks a ready endpoint with
//     `numgen random mod N` and DNATs to it in the endpoint's chain.
//   - NodePort: on every local address (`fib daddr type local`, not
//     127.0.0.0/8) through @service-nodeports.
//   - Masquerade: traffic from outside the cluster CIDR (the node itself,
//     other machines), NodePort traffic (unless externalTrafficPolicy is
//     Local), a pod reaching itself (hairpin) and a local pod reaching a
//     local endpoint (so the reply returns through the node rather than
//     straight over the bridge); and pod egress leaving the cluster CIDR.
//   - sessionAffinity ClientIP: one timeout set of client addresses per
//     endpoint, refreshed on each new connection.
//   - internalTrafficPolicy/externalTrafficPolicy Local and
//     trafficDistribution PreferClose: endpoints on this node.
//   - No ready endpoint: the filter hooks refuse the connection at once
//     (TCP reset, else ICMP port unreachable) through @no-endpoint-*.
//
// Proxier runs it: informer callbacks only request a sync; one goroutine
// syncs at most once per MinSyncPeriod, resyncs fully every SyncPeriod
// (repairing a table someone deleted), and after a failed sync retries with
// backoff. It serves /metrics and /healthz. A Proxier is used by one Run.
package proxy
