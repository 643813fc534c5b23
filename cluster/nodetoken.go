package cluster

import (
	"crypto/rand"
	"crypto/sha256"
	"crypto/x509"
	"encoding/hex"
	"encoding/pem"
	"errors"
	"fmt"
	"io/fs"
	"os"
	"path/filepath"
	"strings"
)

// The node join token lets a machine join the cluster as a node: with it
// a node agent asks the API server for its credentials (see package
// server's node-credentials endpoint and package node/join). It is
// written like k3s's,
//
//	K10<sha256 of the CA certificate, hex>::node:<secret>
//
// The secret is part of the sealed cluster identity, so that every server
// of a cluster (several servers on one datastore, one --token) accepts the
// same token; each writes it, with the hash of the cluster's CA, to
// DATA-DIR/node-token. The hash lets the agent pin the CA: it checks the
// CA a server presents against the hash before it sends the secret, so a
// machine in the middle learns nothing. The hash is of the certificate's
// DER bytes, which do not depend on how the PEM is wrapped.
const (
	// NodeTokenFile is the node join token's file in the data directory.
	NodeTokenFile = "node-token"

	nodeTokenPrefix = "K10"
	// NodeSecretPrefix starts the secret part of the token, and the
	// bearer token the agent sends: "node:<secret>".
	NodeSecretPrefix = "node:"
	nodeTokenSep     = "::"
)

// CAHash returns the hex SHA-256 of a CA certificate's DER bytes, as a
// node join token pins it.
func CAHash(caDER []byte) string {
	h := sha256.Sum256(caDER)
	return hex.EncodeToString(h[:])
}

// FormatNodeToken returns the node join token of a cluster with the CA
// certificate caDER (DER) and node join secret.
func FormatNodeToken(caDER []byte, secret string) string {
	return nodeTokenPrefix + CAHash(caDER) + nodeTokenSep + NodeSecretPrefix + secret
}

// ParseNodeToken splits a node join token into the CA hash it pins (hex)
// and its secret. It fails on anything else than the full form: a token
// without a CA hash would let the agent trust any server.
func ParseNodeToken(token string) (caHash, secret string, err error) {
	token = strings.TrimSpace(token)
	rest, ok := strings.CutPrefix(token, nodeTokenPrefix)
	if !ok {
		return "", "", fmt.Errorf("node token: want %s<CA hash>%s%s<secret>", nodeTokenPrefix, nodeTokenSep, NodeSecretPrefix)
	}
	caHash, cred, ok := strings.Cut(rest, nodeTokenSep)
	if !ok {
		return "", "", errors.New("node token: no " + nodeTokenSep + " after the CA hash")
	}
	if b, err := hex.DecodeString(caHash); err != nil || len(b) != sha256.Size {
		return "", "", errors.New("node token: the CA hash is not a hex SHA-256")
	}
	secret, ok = strings.CutPrefix(cred, NodeSecretPrefix)
	if !ok || secret == "" {
		return "", "", fmt.Errorf("node token: want %s<secret> after the CA hash", NodeSecretPrefix)
	}
	return strings.ToLower(caHash), secret, nil
}

// newNodeJoinSecret returns a new random secret: 32 random bytes in hex.
func newNodeJoinSecret() (string, error) {
	b := make([]byte, 32)
	if _, err := rand.Read(b); err != nil {
		return "", fmt.Errorf("generate the node join secret: %w", err)
	}
	return hex.EncodeToString(b), nil
}

// loadOrCreateNodeJoinSecret returns the secret of the data directory's
// node token (its local copy of the cluster's), making one when there is
// none or the file is damaged. It writes no file: writeNodeToken does,
// once the cluster's CA is known.
func loadOrCreateNodeJoinSecret(dir string) (string, error) {
	b, err := os.ReadFile(filepath.Join(dir, NodeTokenFile))
	if err == nil {
		if _, secret, err := ParseNodeToken(string(b)); err == nil {
			return secret, nil
		}
	} else if !errors.Is(err, fs.ErrNotExist) {
		return "", fmt.Errorf("read %s: %w", NodeTokenFile, err)
	}
	return newNodeJoinSecret()
}

// writeNodeToken writes the node token of CA caPEM and secret to the data
// directory (0600), unless the file holds it already.
func writeNodeToken(dir string, caPEM []byte, secret string) error {
	b, _ := pem.Decode(caPEM)
	if b == nil || b.Type != "CERTIFICATE" {
		return errors.New("write the node token: the CA is no CERTIFICATE PEM block")
	}
	if _, err := x509.ParseCertificate(b.Bytes); err != nil {
		return fmt.Errorf("write the node token: parse the CA: %w", err)
	}
	token := FormatNodeToken(b.Bytes, secret) + "\n"
	path := filepath.Join(dir, NodeTokenFile)
	if old, err := os.ReadFile(path); err == nil && string(old) == token {
		return nil
	}
	tmp := path + ".tmp"
	if err := os.WriteFile(tmp, []byte(token), 0o600); err != nil {
		return fmt.Errorf("write %s: %w", NodeTokenFile, err)
	}
	if err := os.Rename(tmp, path); err != nil {
		return fmt.Errorf("write %s: %w", NodeTokenFile, err)
	}
	return nil
}

// NodeTokenPath is where the node join token is written.
func (c *Cluster) NodeTokenPath() string { return filepath.Join(c.DataDir, NodeTokenFile) }
