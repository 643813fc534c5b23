package join

import (
	"context"
	"crypto/ecdsa"
	"crypto/elliptic"
	"crypto/rand"
	"crypto/tls"
	"crypto/x509"
	"crypto/x509/pkix"
	"encoding/pem"
	"errors"
	"fmt"
	"log/slog"
	"net"
	"os"
	"path/filepath"
	"strings"
	"time"

	"k8s.io/apimachinery/pkg/util/validation"

	"github.com/sqlkube/sqlkube/cluster"
)

// Config configures Join.
type Config struct {
	// Servers are the API servers' URLs (https://HOST:PORT), tried in
	// order. At least one is required.
	Servers []string
	// Token is the node join token, K10<CA hash>::node:<secret>.
	Token string
	// NodeName is the Node this agent runs as, a DNS-1123 subdomain.
	NodeName string
	// Addresses are the node's IP addresses and host names, which its
	// serving certificate covers beside NodeName.
	Addresses []string
	// DataDir is the agent's data directory; Join writes in it.
	DataDir string
	// Timeout bounds the exchange with one server (default 10 s).
	Timeout time.Duration
	Logger  *slog.Logger
}

// Credentials are what the agent serves its own port with: its serving
// certificate and the cluster CA (to verify clients, the API server).
type Credentials struct {
	ServingCert tls.Certificate
	CA          *x509.CertPool
}

// Errors a join can fail with, for errors.Is.
var (
	// ErrCAMismatch: a server presented another CA than the token pins.
	ErrCAMismatch = errors.New("the server's CA does not match the node token's CA hash")
	// ErrTokenRefused: a server refused the token's secret.
	ErrTokenRefused = errors.New("the server refused the node token")
)

// minValidity is how long certificates must still be valid to be reused.
const minValidity = 30 * 24 * time.Hour

// KubeconfigFile is the node's kubeconfig, under DataDir.
const KubeconfigFile = "node.kubeconfig"

// The other files Join keeps, under DataDir.
const (
	pkiDir          = "pki"
	caFile          = "ca.crt"
	clientCertFile  = "node.crt"
	clientKeyFile   = "node.key"
	servingCertFile = "serving.crt"
	servingKeyFile  = "serving.key"
)

// config is a checked Config with the token parsed.
type config struct {
	Config
	caHash, secret string
}

func (c Config) check() (config, error) {
	if len(c.Servers) == 0 {
		return config{}, errors.New("join: no server to join")
	}
	if c.DataDir == "" {
		return config{}, errors.New("join: a data directory is required")
	}
	if errs := validation.IsDNS1123Subdomain(c.NodeName); len(errs) > 0 {
		return config{}, fmt.Errorf("join: node name %q: %s", c.NodeName, strings.Join(errs, "; "))
	}
	hash, secret, err := cluster.ParseNodeToken(c.Token)
	if err != nil {
		return config{}, fmt.Errorf("join: %w", err)
	}
	if c.Timeout <= 0 {
		c.Timeout = 10 * time.Second
	}
	if c.Logger == nil {
		c.Logger = slog.New(slog.DiscardHandler)
	}
	return config{Config: c, caHash: hash, secret: secret}, nil
}

// Join returns the path of the node's kubeconfig and its serving
// credentials: the ones in cfg.DataDir when they can be reused (see the
// package comment), else new ones from the first server in cfg.Servers
// that issues them. It fails when none does, with every server's error
// (ErrCAMismatch, ErrTokenRefused, or how it could not be reached), and
// then writes nothing.
func Join(ctx context.Context, cfg Config) (kubeconfigPath string, creds Credentials, err error) {
	c, err := cfg.check()
	if err != nil {
		return "", Credentials{}, err
	}
	kubeconfigPath = filepath.Join(c.DataDir, KubeconfigFile)
	creds, why := c.reuse()
	if why == "" {
		c.Logger.Info("reusing the node credentials", "node", c.NodeName, "kubeconfig", kubeconfigPath)
		return kubeconfigPath, creds, nil
	}
	c.Logger.Info("joining the cluster", "node", c.NodeName, "servers", c.Servers, "because", why)
	clientKey, err := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	if err != nil {
		return "", Credentials{}, fmt.Errorf("join: generate the client key of node %s: %w", c.NodeName, err)
	}
	servingKey, err := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	if err != nil {
		return "", Credentials{}, fmt.Errorf("join: generate the serving key of node %s: %w", c.NodeName, err)
	}
	var errs []error
	for _, server := range c.Servers {
		issued, err := c.exchange(ctx, server, clientKey, servingKey)
		if err != nil {
			c.Logger.Warn("could not join through a server", "server", server, "node", c.NodeName, "err", err)
			errs = append(errs, fmt.Errorf("server %s: %w", server, err))
			if ctx.Err() != nil {
				break
			}
			continue
		}
		if err := c.write(issued, clientKey, servingKey); err != nil {
			return "", Credentials{}, err
		}
		if creds, why = c.reuse(); why != "" {
			return "", Credentials{}, fmt.Errorf("join: node %s: the credentials %s issued: %s", c.NodeName, server, why)
		}
		c.Logger.Info("joined the cluster", "node", c.NodeName, "server", server, "kubeconfig", kubeconfigPath)
		return kubeconfigPath, creds, nil
	}
	return "", Credentials{}, fmt.Errorf("join: node %s: %w", c.NodeName, errors.Join(errs...))
}

// reuse loads the credentials in the data directory, or says why they
// cannot be used.
func (c config) reuse() (Credentials, string) {
	if _, err := os.Stat(filepath.Join(c.DataDir, KubeconfigFile)); err != nil {
		return Credentials{}, "no kubeconfig"
	}
	dir := filepath.Join(c.DataDir, pkiDir)
	caPEM, err := os.ReadFile(filepath.Join(dir, caFile))
	if err != nil {
		return Credentials{}, "no CA: " + err.Error()
	}
	ca, err := parseCA(caPEM)
	if err != nil {
		return Credentials{}, err.Error()
	}
	if cluster.CAHash(ca.Raw) != c.caHash {
		return Credentials{}, "the CA is not the one the token pins"
	}
	roots := x509.NewCertPool()
	roots.AddCert(ca)
	now := time.Now()
	check := func(certFile, keyFile string, usage x509.ExtKeyUsage, names []string) (tls.Certificate, string) {
		pair, err := tls.LoadX509KeyPair(filepath.Join(dir, certFile), filepath.Join(dir, keyFile))
		if err != nil {
			return pair, err.Error()
		}
		leaf, err := x509.ParseCertificate(pair.Certificate[0])
		if err != nil {
			return pair, fmt.Sprintf("%s: %v", certFile, err)
		}
		if _, err := leaf.Verify(x509.VerifyOptions{Roots: roots, KeyUsages: []x509.ExtKeyUsage{usage}, CurrentTime: now.Add(minValidity)}); err != nil {
			return pair, fmt.Sprintf("%s is not valid for 30 more days: %v", certFile, err)
		}
		if leaf.Subject.CommonName != "system:node:"+c.NodeName {
			return pair, fmt.Sprintf("%s is for %s", certFile, leaf.Subject.CommonName)
		}
		for _, n := range names {
			if err := leaf.VerifyHostname(n); err != nil {
				return pair, fmt.Sprintf("%s does not cover %s", certFile, n)
			}
		}
		pair.Leaf = leaf
		return pair, ""
	}
	if _, why := check(clientCertFile, clientKeyFile, x509.ExtKeyUsageClientAuth, nil); why != "" {
		return Credentials{}, why
	}
	serving, why := check(servingCertFile, servingKeyFile, x509.ExtKeyUsageServerAuth, append([]string{c.NodeName}, c.Addresses...))
	if why != "" {
		return Credentials{}, why
	}
	return Credentials{ServingCert: serving, CA: roots}, ""
}

func parseCA(caPEM []byte) (*x509.Certificate, error) {
	b, _ := pem.Decode(caPEM)
	if b == nil || b.Type != "CERTIFICATE" {
		return nil, errors.New("the CA is no CERTIFICATE PEM block")
	}
	ca, err := x509.ParseCertificate(b.Bytes)
	if err != nil {
		return nil, fmt.Errorf("parse the CA: %w", err)
	}
	return ca, nil
}

// csr returns a PEM certificate request for key. The server only takes
// its public key; the subject is informative.
func csr(key *ecdsa.PrivateKey, cn string, names []string) (string, error) {
	tmpl := &x509.CertificateRequest{Subject: pkix.Name{CommonName: cn}}
	for _, n := range names {
		if ip := net.ParseIP(n); ip != nil {
			tmpl.IPAddresses = append(tmpl.IPAddresses, ip)
		} else {
			tmpl.DNSNames = append(tmpl.DNSNames, n)
		}
	}
	der, err := x509.CreateCertificateRequest(rand.Reader, tmpl, key)
	if err != nil {
		return "", err
	}
	return string(pem.EncodeToMemory(&pem.Block{Type: "CERTIFICATE REQUEST", Bytes: der})), nil
}
