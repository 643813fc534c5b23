// Package node holds end-to-end tests of the node agent: the real sqlkube
// binary (server and node), a private containerd and registry, and the
// installed kubectl, as a user runs them. They need root; TestMain runs them
// in a network namespace of their own.
package node
