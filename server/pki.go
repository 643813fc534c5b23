package server

import (
	"crypto/tls"
	"crypto/x509"
	"crypto/x509/pkix"
	"fmt"
	"net"
	"os"
	"path/filepath"
	"time"

	"k8s.io/client-go/tools/clientcmd"
	clientcmdapi "k8s.io/client-go/tools/clientcmd/api"

	"github.com/sqlkube/sqlkube/cluster"
)

// The API server's own files, beside the cluster's in its data directory:
// a serving certificate issued by the cluster's CA for the API's hosts,
// and the admin kubeconfig.
const (
	servingCert    = "serving.crt"
	servingKey     = "serving.key"
	kubeconfigFile = "admin.kubeconfig"
)

// servingCertificate returns the serving certificate, issuing a new one
// with the cluster's CA when there is none, it expires within 30 days, it
// misses a host, or another CA issued it. The server's private files, the
// serving key and the admin kubeconfig, are made private to their owner
// first: a write keeps an existing file's mode.
func servingCertificate(c *cluster.Cluster, hosts []string) (tls.Certificate, error) {
	if err := c.PrivateFiles(servingKey, kubeconfigFile); err != nil {
		return tls.Certificate{}, err
	}
	certPath, keyPath := filepath.Join(c.DataDir, servingCert), filepath.Join(c.DataDir, servingKey)
	if cert, err := tls.LoadX509KeyPair(certPath, keyPath); err == nil {
		if leaf, err := x509.ParseCertificate(cert.Certificate[0]); err == nil && covers(leaf, hosts) &&
			time.Until(leaf.NotAfter) > 30*24*time.Hour && leaf.CheckSignatureFrom(c.CA) == nil {
			return cert, nil
		}
	}
	now := time.Now()
	tmpl := &x509.Certificate{
		Subject:     pkix.Name{CommonName: "sqlkube-apiserver"},
		NotBefore:   now.Add(-time.Hour),
		NotAfter:    now.AddDate(1, 0, 0),
		KeyUsage:    x509.KeyUsageDigitalSignature | x509.KeyUsageKeyEncipherment,
		ExtKeyUsage: []x509.ExtKeyUsage{x509.ExtKeyUsageServerAuth},
	}
	for _, h := range hosts {
		if ip := net.ParseIP(h); ip != nil {
			tmpl.IPAddresses = append(tmpl.IPAddresses, ip)
		} else {
			tmpl.DNSNames = append(tmpl.DNSNames, h)
		}
	}
	return c.Issue(tmpl, servingCert, servingKey)
}

func covers(c *x509.Certificate, hosts []string) bool {
	for _, h := range hosts {
		if c.VerifyHostname(h) != nil {
			return false
		}
	}
	return true
}

// writeKubeconfig writes an admin kubeconfig for server at path.
func writeKubeconfig(path, server string, caPEM []byte, token string) error {
	cfg := clientcmdapi.NewConfig()
	cfg.Clusters["sqlkube"] = &clientcmdapi.Cluster{Server: server, CertificateAuthorityData: caPEM}
	cfg.AuthInfos["admin"] = &clientcmdapi.AuthInfo{Token: token}
	cfg.Contexts["sqlkube"] = &clientcmdapi.Context{Cluster: "sqlkube", AuthInfo: "admin", Namespace: "default"}
	cfg.CurrentContext = "sqlkube"
	b, err := clientcmd.Write(*cfg)
	if err != nil {
		return fmt.Errorf("encode kubeconfig %s: %w", path, err)
	}
	// Written aside and renamed: whoever polls for the file (scripts, tests)
	// never reads half of it.
	tmp := path + ".tmp"
	if err := os.WriteFile(tmp, b, 0o600); err != nil {
		return fmt.Errorf("write kubeconfig %s: %w", path, err)
	}
	if err := os.Rename(tmp, path); err != nil {
		return fmt.Errorf("write kubeconfig %s: %w", path, err)
	}
	return nil
}
