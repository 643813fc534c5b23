package server

import (
	"crypto/ecdsa"
	"crypto/ed25519"
	"crypto/rsa"
	"crypto/subtle"
	"crypto/x509"
	"crypto/x509/pkix"
	"encoding/json"
	"encoding/pem"
	"errors"
	"fmt"
	"net"
	"net/http"
	"strings"
	"time"

	"github.com/labstack/echo/v4"
	"golang.org/x/time/rate"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	"k8s.io/apimachinery/pkg/util/validation"

	"github.com/sqlkube/sqlkube/cluster"
	"github.com/sqlkube/sqlkube/server/authz"
)

// The node credentials exchange (cluster.NodeCredentialsPath): a node
// agent that holds the node join token gets a client certificate
// (CN=system:node:NAME, O=system:nodes) and a serving certificate for its
// own port, both signed by the cluster CA, for keys it made itself.
//
// It is an endpoint of its own outside /api, authenticated by the join
// secret alone, rather than a CertificateSigningRequest object approved by
// a controller as with kubeadm's TLS bootstrap, because sqlkube has no
// certificates.k8s.io yet (issue 17). When it comes, the agent can post a
// CSR with the same token and this endpoint can go.
//
// Anyone holding the token can get credentials for any node name, as
// with k3s's agent token: the token is the cluster's trust in a machine.

// Bounds of the exchange.
const (
	nodeCredentialsMaxBody   = 64 << 10
	nodeCredentialsMaxAddrs  = 32
	nodeCredentialsValidity  = 365 * 24 * time.Hour
	nodeCredentialsRate      = 5 // requests per second, all clients together
	nodeCredentialsBurst     = 20
	nodeCredentialsClockSkew = 5 * time.Minute
)

// nodeJoinRoutes serves the cluster CA and the node credentials exchange.
// Neither needs a TLS client certificate nor an API token.
func (s *Server) nodeJoinRoutes(e *echo.Echo) {
	// One limiter for every caller: it bounds signing work and guessing,
	// and the secret is compared in constant time besides.
	limit := rate.NewLimiter(nodeCredentialsRate, nodeCredentialsBurst)
	e.GET(cluster.NodeCAPath, func(c echo.Context) error {
		return c.Blob(http.StatusOK, "application/x-pem-file", s.cluster.CAPEM)
	})
	e.POST(cluster.NodeCredentialsPath, func(c echo.Context) error {
		r, w := c.Request(), c.Response()
		if !limit.Allow() {
			w.Header().Set("Retry-After", "1")
			writeStatus(w, apierrors.NewTooManyRequests("too many node credential requests", 1))
			return nil
		}
		if !s.nodeJoinSecretOK(r) {
			s.log.Warn("refused node credentials: bad join token", "remote", r.RemoteAddr)
			writeStatus(w, apierrors.NewUnauthorized("invalid node join token"))
			return nil
		}
		var req cluster.NodeCredentialsRequest
		dec := json.NewDecoder(http.MaxBytesReader(w, r.Body, nodeCredentialsMaxBody))
		dec.DisallowUnknownFields()
		if err := dec.Decode(&req); err != nil {
			writeStatus(w, apierrors.NewBadRequest(fmt.Sprintf("decode the node credentials request: %v", err)))
			return nil
		}
		resp, err := s.issueNodeCredentials(req, time.Now())
		if err != nil {
			s.log.Warn("refused node credentials", "node", req.NodeName, "remote", r.RemoteAddr, "err", err)
			writeStatus(w, err)
			return nil
		}
		s.log.Info("issued node credentials", "node", req.NodeName, "addresses", req.Addresses, "remote", r.RemoteAddr)
		writeJSON(w, http.StatusOK, resp)
		return nil
	})
}

// nodeJoinSecretOK reports whether the request carries the bearer token
// node:<the cluster's join secret>, compared in constant time.
func (s *Server) nodeJoinSecretOK(r *http.Request) bool {
	scheme, token, _ := strings.Cut(strings.TrimSpace(r.Header.Get("Authorization")), " ")
	if !strings.EqualFold(scheme, "Bearer") {
		return false
	}
	want := cluster.NodeSecretPrefix + s.cluster.NodeJoinSecret
	return s.cluster.NodeJoinSecret != "" && subtle.ConstantTimeCompare([]byte(strings.TrimSpace(token)), []byte(want)) == 1
}

// issueNodeCredentials checks req and signs its two keys: a client
// certificate for system:node:NAME and a serving certificate for the
// node's name and addresses. It returns an API error for a bad request.
func (s *Server) issueNodeCredentials(req cluster.NodeCredentialsRequest, now time.Time) (*cluster.NodeCredentialsResponse, error) {
	if errs := validation.IsDNS1123Subdomain(req.NodeName); len(errs) > 0 {
		return nil, apierrors.NewBadRequest(fmt.Sprintf("node name %q: %s", req.NodeName, strings.Join(errs, "; ")))
	}
	if len(req.Addresses) > nodeCredentialsMaxAddrs {
		return nil, apierrors.NewBadRequest(fmt.Sprintf("node %s: %d addresses, at most %d", req.NodeName, len(req.Addresses), nodeCredentialsMaxAddrs))
	}
	var ips []net.IP
	dns := []string{req.NodeName}
	for _, a := range req.Addresses {
		if ip := net.ParseIP(a); ip != nil {
			ips = append(ips, ip)
			continue
		}
		if errs := validation.IsDNS1123Subdomain(a); len(errs) > 0 {
			return nil, apierrors.NewBadRequest(fmt.Sprintf("node %s: address %q is neither an IP address nor a DNS name", req.NodeName, a))
		}
		if a != req.NodeName {
			dns = append(dns, a)
		}
	}
	clientKey, err := csrPublicKey(req.CSR)
	if err != nil {
		return nil, apierrors.NewBadRequest(fmt.Sprintf("node %s: csr: %v", req.NodeName, err))
	}
	servingKey, err := csrPublicKey(req.ServingCSR)
	if err != nil {
		return nil, apierrors.NewBadRequest(fmt.Sprintf("node %s: servingCSR: %v", req.NodeName, err))
	}
	subject := pkix.Name{CommonName: authz.NodeUserPrefix + req.NodeName, Organization: []string{authz.GroupNodes}}
	base := x509.Certificate{
		Subject:   subject,
		NotBefore: now.Add(-nodeCredentialsClockSkew),
		NotAfter:  now.Add(nodeCredentialsValidity),
		KeyUsage:  x509.KeyUsageDigitalSignature,
	}
	clientTmpl := base
	clientTmpl.ExtKeyUsage = []x509.ExtKeyUsage{x509.ExtKeyUsageClientAuth}
	clientDER, err := s.cluster.Sign(&clientTmpl, clientKey)
	if err != nil {
		return nil, apierrors.NewInternalError(fmt.Errorf("client certificate of node %s: %w", req.NodeName, err))
	}
	servingTmpl := base
	servingTmpl.ExtKeyUsage = []x509.ExtKeyUsage{x509.ExtKeyUsageServerAuth}
	servingTmpl.DNSNames, servingTmpl.IPAddresses = dns, ips
	servingDER, err := s.cluster.Sign(&servingTmpl, servingKey)
	if err != nil {
		return nil, apierrors.NewInternalError(fmt.Errorf("serving certificate of node %s: %w", req.NodeName, err))
	}
	return &cluster.NodeCredentialsResponse{
		ClientCert:  string(pem.EncodeToMemory(&pem.Block{Type: "CERTIFICATE", Bytes: clientDER})),
		ServingCert: string(pem.EncodeToMemory(&pem.Block{Type: "CERTIFICATE", Bytes: servingDER})),
		CA:          string(s.cluster.CAPEM),
	}, nil
}

// csrPublicKey returns the public key of a PEM certificate request whose
// signature proves its holder has the private key: ECDSA, Ed25519, or
// RSA of 2048 bits or more. Everything else in the request is ignored.
func csrPublicKey(csrPEM string) (any, error) {
	b, _ := pem.Decode([]byte(csrPEM))
	if b == nil || b.Type != "CERTIFICATE REQUEST" {
		return nil, errors.New("no CERTIFICATE REQUEST PEM block")
	}
	csr, err := x509.ParseCertificateRequest(b.Bytes)
	if err != nil {
		return nil, err
	}
	if err := csr.CheckSignature(); err != nil {
		return nil, fmt.Errorf("signature: %w", err)
	}
	switch k := csr.PublicKey.(type) {
	case *ecdsa.PublicKey, ed25519.PublicKey:
	case *rsa.PublicKey:
		if k.N.BitLen() < 2048 {
			return nil, fmt.Errorf("an RSA key of %d bits: want 2048 or more", k.N.BitLen())
		}
	default:
		return nil, fmt.Errorf("unsupported key type %T", k)
	}
	return csr.PublicKey, nil
}
