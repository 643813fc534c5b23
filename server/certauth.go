package server

import (
	"crypto/tls"
	"crypto/x509"
	"slices"
)

// Client-certificate authentication, as kube-apiserver's
// --client-ca-file: the TLS handshake requests a client certificate
// without requiring one (kubectl with a token sends none), and verifies
// one that is sent against the cluster's CA, for client authentication;
// a certificate that does not verify (another CA, self-signed, expired,
// a serving certificate) fails the handshake. A verified certificate is
// the user of its subject's common name, in the groups of its
// organizations and system:authenticated, before any bearer token: node
// agents authenticate this way (system:node:NAME in system:nodes, issued
// by the node-credentials endpoint), and the Node authorizer and node
// admission apply to them as to a node's token.

// tlsConfig is the serving TLS configuration: the serving certificate,
// and client certificates requested and verified against the cluster CA.
func (s *Server) tlsConfig() *tls.Config {
	pool := x509.NewCertPool()
	pool.AddCert(s.cluster.CA)
	return &tls.Config{
		Certificates: []tls.Certificate{s.serving},
		MinVersion:   tls.VersionTLS12,
		NextProtos:   []string{"h2", "http/1.1"},
		ClientAuth:   tls.VerifyClientCertIfGiven,
		ClientCAs:    pool,
	}
}

// certUser returns the user of the connection's verified client
// certificate: subject CN as name, O values and system:authenticated as
// groups. A certificate without a CN authenticates no one.
func certUser(state *tls.ConnectionState) (user, bool) {
	if state == nil || len(state.VerifiedChains) == 0 || len(state.VerifiedChains[0]) == 0 {
		return user{}, false
	}
	leaf := state.VerifiedChains[0][0]
	if leaf.Subject.CommonName == "" {
		return user{}, false
	}
	groups := slices.Clone(leaf.Subject.Organization)
	if !slices.Contains(groups, groupAuthenticated) {
		groups = append(groups, groupAuthenticated)
	}
	return user{Name: leaf.Subject.CommonName, Groups: groups}, true
}
