package server_test

import (
	"bytes"
	"crypto/ecdsa"
	"crypto/elliptic"
	"crypto/rand"
	"crypto/x509"
	"crypto/x509/pkix"
	"encoding/json"
	"encoding/pem"
	"io"
	"net/http"
	"slices"
	"strings"
	"testing"

	"github.com/sqlkube/sqlkube/cluster"
)

func newCSR(t *testing.T) string {
	t.Helper()
	key, err := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	if err != nil {
		t.Fatal(err)
	}
	der, err := x509.CreateCertificateRequest(rand.Reader, &x509.CertificateRequest{Subject: pkix.Name{CommonName: "ignored", Organization: []string{"system:masters"}}}, key)
	if err != nil {
		t.Fatal(err)
	}
	return string(pem.EncodeToMemory(&pem.Block{Type: "CERTIFICATE REQUEST", Bytes: der}))
}

func parseCertPEM(t *testing.T, s string) *x509.Certificate {
	t.Helper()
	b, _ := pem.Decode([]byte(s))
	if b == nil {
		t.Fatalf("no PEM in %q", s)
	}
	c, err := x509.ParseCertificate(b.Bytes)
	if err != nil {
		t.Fatal(err)
	}
	return c
}

// TestNodeCredentials: the CA is public; with the join token a node
// gets a client certificate for system:node:NAME and a serving
// certificate for its names and addresses, whatever its CSRs ask for;
// without it, or with a bad request, nothing is issued.
func TestNodeCredentials(t *testing.T) {
	ts := start(t, "")
	post := func(t *testing.T, auth string, body any) (int, []byte) {
		t.Helper()
		b, _ := json.Marshal(body)
		req, _ := http.NewRequest(http.MethodPost, ts.url+cluster.NodeCredentialsPath, bytes.NewReader(b))
		if auth != "" {
			req.Header.Set("Authorization", auth)
		}
		resp, err := rawClient.Do(req)
		if err != nil {
			t.Fatal(err)
		}
		defer resp.Body.Close()
		out, _ := io.ReadAll(resp.Body)
		return resp.StatusCode, out
	}

	t.Run("CA", func(t *testing.T) {
		resp, err := rawClient.Get(ts.url + cluster.NodeCAPath)
		if err != nil {
			t.Fatal(err)
		}
		defer resp.Body.Close()
		b, _ := io.ReadAll(resp.Body)
		if resp.StatusCode != http.StatusOK || !bytes.Equal(b, ts.cluster.CAPEM) {
			t.Fatalf("GET %s = %d %q, want the CA", cluster.NodeCAPath, resp.StatusCode, b)
		}
	})

	good := "Bearer node:" + ts.cluster.NodeJoinSecret
	req := cluster.NodeCredentialsRequest{NodeName: "n1", CSR: newCSR(t), ServingCSR: newCSR(t), Addresses: []string{"10.0.0.7", "n1.example.com"}}
	for _, tt := range []struct {
		name string
		auth string
		body any
		want int
	}{
		{"no token", "", req, http.StatusUnauthorized},
		{"wrong secret", "Bearer node:nope", req, http.StatusUnauthorized},
		{"admin token", "Bearer " + ts.cfg.BearerToken, req, http.StatusUnauthorized},
		{"bad node name", good, cluster.NodeCredentialsRequest{NodeName: "N_1", CSR: req.CSR, ServingCSR: req.ServingCSR}, http.StatusBadRequest},
		{"bad address", good, cluster.NodeCredentialsRequest{NodeName: "n1", CSR: req.CSR, ServingCSR: req.ServingCSR, Addresses: []string{"not an address"}}, http.StatusBadRequest},
		{"no CSR", good, cluster.NodeCredentialsRequest{NodeName: "n1", ServingCSR: req.ServingCSR}, http.StatusBadRequest},
		{"damaged CSR", good, cluster.NodeCredentialsRequest{NodeName: "n1", CSR: strings.Replace(req.CSR, "MI", "MJ", 1), ServingCSR: req.ServingCSR}, http.StatusBadRequest},
		{"unknown field", good, map[string]string{"nodeName": "n1", "role": "admin"}, http.StatusBadRequest},
	} {
		t.Run("refused "+tt.name, func(t *testing.T) {
			if code, body := post(t, tt.auth, tt.body); code != tt.want {
				t.Fatalf("status = %d (%s), want %d", code, body, tt.want)
			}
		})
	}

	t.Run("issued", func(t *testing.T) {
		code, body := post(t, good, req)
		if code != http.StatusOK {
			t.Fatalf("status = %d (%s)", code, body)
		}
		var resp cluster.NodeCredentialsResponse
		if err := json.Unmarshal(body, &resp); err != nil {
			t.Fatal(err)
		}
		if resp.CA != string(ts.cluster.CAPEM) {
			t.Fatal("the response's CA is not the cluster's")
		}
		roots := x509.NewCertPool()
		roots.AddCert(ts.cluster.CA)
		client := parseCertPEM(t, resp.ClientCert)
		if client.Subject.CommonName != "system:node:n1" || !slices.Equal(client.Subject.Organization, []string{"system:nodes"}) {
			t.Fatalf("client certificate subject = %v", client.Subject)
		}
		if _, err := client.Verify(x509.VerifyOptions{Roots: roots, KeyUsages: []x509.ExtKeyUsage{x509.ExtKeyUsageClientAuth}}); err != nil {
			t.Fatalf("client certificate: %v", err)
		}
		serving := parseCertPEM(t, resp.ServingCert)
		for _, host := range []string{"n1", "n1.example.com", "10.0.0.7"} {
			if _, err := serving.Verify(x509.VerifyOptions{Roots: roots, DNSName: host}); err != nil {
				t.Errorf("serving certificate for %s: %v", host, err)
			}
		}
		if _, err := serving.Verify(x509.VerifyOptions{Roots: roots, KeyUsages: []x509.ExtKeyUsage{x509.ExtKeyUsageClientAuth}}); err == nil {
			t.Error("the serving certificate authenticates a client")
		}
	})
}
