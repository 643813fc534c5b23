package join

import (
	"bytes"
	"context"
	"crypto/ecdsa"
	"crypto/tls"
	"crypto/x509"
	"encoding/json"
	"encoding/pem"
	"errors"
	"fmt"
	"io"
	"net/http"
	"os"
	"path/filepath"
	"strings"

	"k8s.io/client-go/tools/clientcmd"
	clientcmdapi "k8s.io/client-go/tools/clientcmd/api"

	"github.com/sqlkube/sqlkube/cluster"
)

// maxResponse bounds what Join reads from a server.
const maxResponse = 1 << 20

// issued is what a server issued, checked.
type issued struct {
	server                string
	ca                    *x509.Certificate
	caPEM                 []byte
	clientPEM, servingPEM []byte
}

// exchange gets the node's certificates from server: it fetches the CA
// without trusting the connection, checks it against the pinned hash,
// and only then, over a connection verified with that CA, sends the
// secret and the two keys' requests.
func (c config) exchange(ctx context.Context, server string, clientKey, servingKey *ecdsa.PrivateKey) (*issued, error) {
	ctx, cancel := context.WithTimeout(ctx, c.Timeout)
	defer cancel()
	server = strings.TrimSuffix(server, "/")
	if !strings.HasPrefix(server, "https://") {
		return nil, fmt.Errorf("want an https:// URL")
	}
	// The CA comes over an unverified connection: the pin makes it safe,
	// and nothing secret is sent on it.
	insecure := &http.Client{Transport: &http.Transport{TLSClientConfig: &tls.Config{InsecureSkipVerify: true, MinVersion: tls.VersionTLS12}}}
	defer insecure.CloseIdleConnections()
	caPEM, err := get(ctx, insecure, server+cluster.NodeCAPath)
	if err != nil {
		return nil, fmt.Errorf("fetch the CA: %w", err)
	}
	ca, err := parseCA(caPEM)
	if err != nil {
		return nil, err
	}
	if got := cluster.CAHash(ca.Raw); got != c.caHash {
		return nil, fmt.Errorf("%w: the server's is %s, the token pins %s", ErrCAMismatch, got, c.caHash)
	}
	caPEM = pem.EncodeToMemory(&pem.Block{Type: "CERTIFICATE", Bytes: ca.Raw})
	roots := x509.NewCertPool()
	roots.AddCert(ca)
	trusted := &http.Client{Transport: &http.Transport{TLSClientConfig: &tls.Config{RootCAs: roots, MinVersion: tls.VersionTLS12}}}
	defer trusted.CloseIdleConnections()

	req := cluster.NodeCredentialsRequest{NodeName: c.NodeName, Addresses: c.Addresses}
	user := "system:node:" + c.NodeName
	if req.CSR, err = csr(clientKey, user, nil); err != nil {
		return nil, fmt.Errorf("client certificate request: %w", err)
	}
	if req.ServingCSR, err = csr(servingKey, user, append([]string{c.NodeName}, c.Addresses...)); err != nil {
		return nil, fmt.Errorf("serving certificate request: %w", err)
	}
	body, err := json.Marshal(req)
	if err != nil {
		return nil, err
	}
	hreq, err := http.NewRequestWithContext(ctx, http.MethodPost, server+cluster.NodeCredentialsPath, bytes.NewReader(body))
	if err != nil {
		return nil, err
	}
	hreq.Header.Set("Content-Type", "application/json")
	hreq.Header.Set("Authorization", "Bearer "+cluster.NodeSecretPrefix+c.secret)
	resp, err := trusted.Do(hreq)
	if err != nil {
		return nil, err
	}
	defer resp.Body.Close()
	b, err := io.ReadAll(io.LimitReader(resp.Body, maxResponse))
	if err != nil {
		return nil, err
	}
	switch {
	case resp.StatusCode == http.StatusUnauthorized:
		return nil, ErrTokenRefused
	case resp.StatusCode != http.StatusOK:
		return nil, fmt.Errorf("%s: %s", resp.Status, bytes.TrimSpace(b))
	}
	var out cluster.NodeCredentialsResponse
	if err := json.Unmarshal(b, &out); err != nil {
		return nil, fmt.Errorf("decode the credentials: %w", err)
	}
	is := &issued{server: server, ca: ca, caPEM: caPEM, clientPEM: []byte(out.ClientCert), servingPEM: []byte(out.ServingCert)}
	if err := matches(is.clientPEM, clientKey); err != nil {
		return nil, fmt.Errorf("client certificate: %w", err)
	}
	if err := matches(is.servingPEM, servingKey); err != nil {
		return nil, fmt.Errorf("serving certificate: %w", err)
	}
	return is, nil
}

func get(ctx context.Context, client *http.Client, url string) ([]byte, error) {
	req, err := http.NewRequestWithContext(ctx, http.MethodGet, url, nil)
	if err != nil {
		return nil, err
	}
	resp, err := client.Do(req)
	if err != nil {
		return nil, err
	}
	defer resp.Body.Close()
	b, err := io.ReadAll(io.LimitReader(resp.Body, maxResponse))
	if err != nil {
		return nil, err
	}
	if resp.StatusCode != http.StatusOK {
		return nil, fmt.Errorf("GET %s: %s", url, resp.Status)
	}
	return b, nil
}

// matches checks that certPEM is a certificate for key.
func matches(certPEM []byte, key *ecdsa.PrivateKey) error {
	b, _ := pem.Decode(certPEM)
	if b == nil || b.Type != "CERTIFICATE" {
		return errors.New("no CERTIFICATE PEM block")
	}
	cert, err := x509.ParseCertificate(b.Bytes)
	if err != nil {
		return err
	}
	if pub, ok := cert.PublicKey.(*ecdsa.PublicKey); !ok || !pub.Equal(&key.PublicKey) {
		return errors.New("issued for another key")
	}
	return nil
}

// write stores what was issued and the keys, the kubeconfig last.
func (c config) write(is *issued, clientKey, servingKey *ecdsa.PrivateKey) error {
	dir := filepath.Join(c.DataDir, pkiDir)
	if err := os.MkdirAll(dir, 0o700); err != nil {
		return fmt.Errorf("join: create %s: %w", dir, err)
	}
	clientKeyPEM, err := keyPEM(clientKey)
	if err != nil {
		return err
	}
	servingKeyPEM, err := keyPEM(servingKey)
	if err != nil {
		return err
	}
	for _, f := range []struct {
		name string
		data []byte
		mode os.FileMode
	}{
		{caFile, is.caPEM, 0o644},
		{clientKeyFile, clientKeyPEM, 0o600},
		{clientCertFile, is.clientPEM, 0o644},
		{servingKeyFile, servingKeyPEM, 0o600},
		{servingCertFile, is.servingPEM, 0o644},
	} {
		if err := writeFile(filepath.Join(dir, f.name), f.data, f.mode); err != nil {
			return err
		}
	}
	kc := clientcmdapi.NewConfig()
	kc.Clusters["sqlkube"] = &clientcmdapi.Cluster{Server: c.Servers[0], CertificateAuthority: filepath.Join(dir, caFile)}
	kc.AuthInfos["node"] = &clientcmdapi.AuthInfo{ClientCertificate: filepath.Join(dir, clientCertFile), ClientKey: filepath.Join(dir, clientKeyFile)}
	kc.Contexts["node"] = &clientcmdapi.Context{Cluster: "sqlkube", AuthInfo: "node"}
	kc.CurrentContext = "node"
	b, err := clientcmd.Write(*kc)
	if err != nil {
		return fmt.Errorf("join: encode the node kubeconfig: %w", err)
	}
	return writeFile(filepath.Join(c.DataDir, KubeconfigFile), b, 0o600)
}

func keyPEM(key *ecdsa.PrivateKey) ([]byte, error) {
	der, err := x509.MarshalECPrivateKey(key)
	if err != nil {
		return nil, fmt.Errorf("join: encode a key: %w", err)
	}
	return pem.EncodeToMemory(&pem.Block{Type: "EC PRIVATE KEY", Bytes: der}), nil
}

// writeFile writes data aside and renames it into place, so that a
// reader never sees half a file, with mode whatever the file had before.
func writeFile(path string, data []byte, mode os.FileMode) error {
	tmp := path + ".tmp"
	if err := os.WriteFile(tmp, data, mode); err != nil {
		return fmt.Errorf("join: write %s: %w", path, err)
	}
	if err := os.Chmod(tmp, mode); err != nil {
		return fmt.Errorf("join: write %s: %w", path, err)
	}
	if err := os.Rename(tmp, path); err != nil {
		return fmt.Errorf("join: write %s: %w", path, err)
	}
	return nil
}
