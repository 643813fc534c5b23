// Package join is the node agent's side of joining a cluster: from the
// node join token (cluster.ParseNodeToken, DATA-DIR/node-token on a
// server) it gets the node's credentials from an API server and keeps
// them in the agent's data directory.
//
//	kubeconfig, creds, err := join.Join(ctx, join.Config{
//		Servers:  []string{"https://10.0.0.1:6443"},
//		Token:    token,
//		NodeName: "n1",
//		DataDir:  "/var/lib/sqlkube-agent",
//	})
//
// Join trusts a server only once the CA it presents (at
// cluster.NodeCAPath) has the hash the token pins, and only then sends
// the token's secret. It makes two ECDSA keys, gets a client certificate
// (system:node:NAME in system:nodes) and a serving certificate for the
// agent's port through the server's node-credentials endpoint, and writes
//
//	DATA-DIR/pki/ca.crt, node.crt, node.key, serving.crt, serving.key
//	DATA-DIR/node.kubeconfig
//
// keys 0600, the kubeconfig last (it exists only when everything else
// does). A later Join reuses them while the certificates are valid for
// more than 30 days, were issued for the node's name and addresses, and
// the CA is the one the token pins; it contacts no server then. Nothing is
// written when a join fails.
//
// The kubeconfig names the first server only: client-go talks to one URL.
// Failing over to the other servers is left to later HA work (a
// client-side load balancer, as k3s's agent runs).
//
// It owns those files and nothing else; it does not register the Node or
// serve anything. Join may be called from one goroutine at a time per data
// directory.
package join
