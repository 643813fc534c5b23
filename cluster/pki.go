package cluster

import (
	"crypto"
	"crypto/ecdsa"
	"crypto/elliptic"
	"crypto/rand"
	"crypto/tls"
	"crypto/x509"
	"crypto/x509/pkix"
	"encoding/hex"
	"encoding/pem"
	"errors"
	"fmt"
	"io/fs"
	"math/big"
	"os"
	"path/filepath"
	"strings"
	"time"
)

// The cluster's files in its data directory, created on first start like
// k3s does. Servers that share a datastore end up with the same CA,
// encryption key and signing key (see shareIdentity); the admin token is
// theirs to give alike (--token).
const (
	caCertFile            = "ca.crt"
	caKeyFile             = "ca.key"
	adminTokenFile        = "admin.token"
	encryptionKey         = "encryption.key"
	serviceAccountKeyFile = "service-account.key"
)

func newKey() (*ecdsa.PrivateKey, error) { return ecdsa.GenerateKey(elliptic.P256(), rand.Reader) }

func writePEM(path, typ string, der []byte, mode os.FileMode) error {
	data := pem.EncodeToMemory(&pem.Block{Type: typ, Bytes: der})
	if err := os.WriteFile(path, data, mode); err != nil {
		return fmt.Errorf("write %s: %w", path, err)
	}
	return nil
}

func readPEM(path, typ string) ([]byte, error) {
	data, err := os.ReadFile(path)
	if err != nil {
		return nil, err
	}
	b, _ := pem.Decode(data)
	if b == nil || b.Type != typ {
		return nil, fmt.Errorf("%s: no %s PEM block", path, typ)
	}
	return b.Bytes, nil
}

func loadOrCreateCA(dir string) (*x509.Certificate, crypto.Signer, []byte, error) {
	certPath, keyPath := filepath.Join(dir, caCertFile), filepath.Join(dir, caKeyFile)
	der, err := readPEM(certPath, "CERTIFICATE")
	if err == nil {
		keyDER, err := readPEM(keyPath, "EC PRIVATE KEY")
		if err != nil {
			return nil, nil, nil, fmt.Errorf("read CA key: %w", err)
		}
		cert, err := x509.ParseCertificate(der)
		if err != nil {
			return nil, nil, nil, fmt.Errorf("parse %s: %w", certPath, err)
		}
		key, err := x509.ParseECPrivateKey(keyDER)
		if err != nil {
			return nil, nil, nil, fmt.Errorf("parse %s: %w", keyPath, err)
		}
		return cert, key, pem.EncodeToMemory(&pem.Block{Type: "CERTIFICATE", Bytes: der}), nil
	}
	if !errors.Is(err, fs.ErrNotExist) {
		return nil, nil, nil, fmt.Errorf("read CA: %w", err)
	}
	key, err := newKey()
	if err != nil {
		return nil, nil, nil, fmt.Errorf("generate CA key: %w", err)
	}
	now := time.Now()
	tmpl := &x509.Certificate{
		SerialNumber:          serial(),
		Subject:               pkix.Name{CommonName: "sqlkube-ca@" + fmt.Sprint(now.Unix())},
		NotBefore:             now.Add(-time.Hour),
		NotAfter:              now.AddDate(10, 0, 0),
		KeyUsage:              x509.KeyUsageCertSign | x509.KeyUsageDigitalSignature | x509.KeyUsageKeyEncipherment,
		BasicConstraintsValid: true,
		IsCA:                  true,
	}
	der, err = x509.CreateCertificate(rand.Reader, tmpl, tmpl, key.Public(), key)
	if err != nil {
		return nil, nil, nil, fmt.Errorf("create CA: %w", err)
	}
	keyDER, err := x509.MarshalECPrivateKey(key)
	if err != nil {
		return nil, nil, nil, fmt.Errorf("encode CA key: %w", err)
	}
	if err := writePEM(keyPath, "EC PRIVATE KEY", keyDER, 0o600); err != nil {
		return nil, nil, nil, err
	}
	if err := writePEM(certPath, "CERTIFICATE", der, 0o644); err != nil {
		return nil, nil, nil, err
	}
	cert, _ := x509.ParseCertificate(der)
	return cert, key, pem.EncodeToMemory(&pem.Block{Type: "CERTIFICATE", Bytes: der}), nil
}

// serial returns a random certificate serial number (120 bits).
func serial() *big.Int {
	n, _ := rand.Int(rand.Reader, new(big.Int).Lsh(big.NewInt(1), 120))
	return n
}

// Issue makes a new P-256 key and a certificate for it signed by the
// cluster's CA, from tmpl (subject, validity, usages, names; the serial
// number is set here), and writes them to the data directory as keyFile
// (0600) and certFile (0644), for a face that keeps its certificate there
// (the API server's serving certificate). It returns the pair as loaded
// back from those files.
func (c *Cluster) Issue(tmpl *x509.Certificate, certFile, keyFile string) (tls.Certificate, error) {
	key, err := newKey()
	if err != nil {
		return tls.Certificate{}, fmt.Errorf("generate the key of %s: %w", certFile, err)
	}
	t := *tmpl
	t.SerialNumber = serial()
	der, err := x509.CreateCertificate(rand.Reader, &t, c.CA, key.Public(), c.CAKey)
	if err != nil {
		return tls.Certificate{}, fmt.Errorf("create %s: %w", certFile, err)
	}
	keyDER, err := x509.MarshalECPrivateKey(key)
	if err != nil {
		return tls.Certificate{}, fmt.Errorf("encode the key of %s: %w", certFile, err)
	}
	certPath, keyPath := filepath.Join(c.DataDir, certFile), filepath.Join(c.DataDir, keyFile)
	if err := writePEM(keyPath, "EC PRIVATE KEY", keyDER, 0o600); err != nil {
		return tls.Certificate{}, err
	}
	if err := writePEM(certPath, "CERTIFICATE", der, 0o644); err != nil {
		return tls.Certificate{}, err
	}
	return tls.LoadX509KeyPair(certPath, keyPath)
}

// Sign returns a certificate (DER) for the public key pub signed by the
// cluster's CA, from tmpl (the serial number is set here): for a key that
// is not the server's, such as a node agent's (see package server's
// node-credentials endpoint). The caller checks that pub is the
// requester's and what tmpl grants.
func (c *Cluster) Sign(tmpl *x509.Certificate, pub crypto.PublicKey) ([]byte, error) {
	t := *tmpl
	t.SerialNumber = serial()
	der, err := x509.CreateCertificate(rand.Reader, &t, c.CA, pub, c.CAKey)
	if err != nil {
		return nil, fmt.Errorf("sign a certificate for %s: %w", tmpl.Subject.CommonName, err)
	}
	return der, nil
}

func loadOrCreateToken(path string) (string, error) {
	if b, err := os.ReadFile(path); err == nil {
		if t := strings.TrimSpace(string(b)); t != "" {
			return t, nil
		}
	} else if !errors.Is(err, fs.ErrNotExist) {
		return "", fmt.Errorf("read admin token: %w", err)
	}
	t, err := NewToken()
	if err != nil {
		return "", fmt.Errorf("generate admin token: %w", err)
	}
	if err := os.WriteFile(path, []byte(t+"\n"), 0o600); err != nil {
		return "", fmt.Errorf("write admin token: %w", err)
	}
	return t, nil
}

// NewToken returns a new random bearer token: 24 random bytes in hex, as
// the admin token is made.
func NewToken() (string, error) {
	b := make([]byte, 24)
	if _, err := rand.Read(b); err != nil {
		return "", err
	}
	return hex.EncodeToString(b), nil
}

// loadOrCreateServiceAccountKey returns the data directory's signing key
// (PEM), creating it when there is none.
func loadOrCreateServiceAccountKey(dir string) ([]byte, error) {
	path := filepath.Join(dir, serviceAccountKeyFile)
	b, err := os.ReadFile(path)
	if err == nil {
		if _, err := parseServiceAccountKey(b); err != nil {
			return nil, fmt.Errorf("%s: %w", path, err)
		}
		return b, nil
	}
	if !errors.Is(err, fs.ErrNotExist) {
		return nil, fmt.Errorf("read the service-account signing key: %w", err)
	}
	key, err := newKey()
	if err != nil {
		return nil, fmt.Errorf("generate the service-account signing key: %w", err)
	}
	der, err := x509.MarshalECPrivateKey(key)
	if err != nil {
		return nil, fmt.Errorf("encode the service-account signing key: %w", err)
	}
	b = pem.EncodeToMemory(&pem.Block{Type: "EC PRIVATE KEY", Bytes: der})
	if err := writeServiceAccountKey(dir, b); err != nil {
		return nil, err
	}
	return b, nil
}

func writeServiceAccountKey(dir string, pemKey []byte) error {
	if err := os.WriteFile(filepath.Join(dir, serviceAccountKeyFile), pemKey, 0o600); err != nil {
		return fmt.Errorf("write %s: %w", serviceAccountKeyFile, err)
	}
	return nil
}

// parseServiceAccountKey reads a PEM signing key: ECDSA P-256, for ES256.
func parseServiceAccountKey(pemKey []byte) (*ecdsa.PrivateKey, error) {
	b, _ := pem.Decode(pemKey)
	if b == nil || b.Type != "EC PRIVATE KEY" {
		return nil, errors.New("no EC PRIVATE KEY PEM block")
	}
	key, err := x509.ParseECPrivateKey(b.Bytes)
	if err != nil {
		return nil, err
	}
	if key.Curve.Params().BitSize != 256 {
		return nil, fmt.Errorf("a P-%d key: want P-256", key.Curve.Params().BitSize)
	}
	return key, nil
}
