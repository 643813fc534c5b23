// Package cluster opens a cluster's store and settles its identity: what
// every face of the process (the API server, the node agent, the offline
// tools) shares, opened once by the process's composition (cli).
//
// It owns the data directory (its permissions and the identity's local
// copies: CA, admin token, secrets encryption key, service-account
// signing key, node join token), the cluster identity sealed in the
// datastore with the cluster token, and history compaction. The node join
// token (nodetoken.go) is what a node agent joins with: its secret is
// part of the identity, so every server of a cluster accepts it, and it
// pins the cluster's CA by hash. It does not serve anything and
// knows nothing of the API server's own files (serving certificate, admin
// kubeconfig), which the server keeps beside them.
//
//	c, err := cluster.Open(ctx, cluster.Config{DataDir: dir, Datastore: url, Token: token})
//	defer c.Close()
//	go c.RunCompaction(ctx, storage.Retention{MinAge: 30 * 24 * time.Hour}, 0)
//	s, err := server.New(ctx, server.Config{...}, c)
//
// Open makes the data directory private to its owner, creates what is
// missing locally, and makes it the cluster's: the first process to open
// a datastore stores its identity there (sealed under a key derived from
// the token with scrypt), the others take that one and must be given the
// same token. Only then is the Store opened, with the cluster's key
// encrypting secrets from its first read on.
//
// A Cluster is read-only after Open and safe for concurrent use; its Store
// is shared by every face, and closed by Close once they are done.
package cluster
