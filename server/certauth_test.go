package server_test

import (
	"context"
	"crypto/ecdsa"
	"crypto/elliptic"
	"crypto/rand"
	"crypto/x509"
	"crypto/x509/pkix"
	"encoding/pem"
	"math/big"
	"slices"
	"testing"
	"time"

	authenticationv1 "k8s.io/api/authentication/v1"
	corev1 "k8s.io/api/core/v1"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/client-go/kubernetes"
	"k8s.io/client-go/rest"
)

// certSpec describes a client certificate a test makes.
type certSpec struct {
	cn, org    string
	selfSigned bool
	expired    bool
	serverOnly bool
}

// clientWithCert returns a client of ts that authenticates with a new
// certificate as spec says, signed by the cluster CA unless selfSigned.
func clientWithCert(t *testing.T, ts *testServer, spec certSpec) *kubernetes.Clientset {
	t.Helper()
	key, err := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	if err != nil {
		t.Fatal(err)
	}
	now := time.Now()
	tmpl := &x509.Certificate{
		SerialNumber: big.NewInt(now.UnixNano()),
		Subject:      pkix.Name{CommonName: spec.cn},
		NotBefore:    now.Add(-time.Hour),
		NotAfter:     now.Add(time.Hour),
		KeyUsage:     x509.KeyUsageDigitalSignature,
		ExtKeyUsage:  []x509.ExtKeyUsage{x509.ExtKeyUsageClientAuth},
	}
	if spec.org != "" {
		tmpl.Subject.Organization = []string{spec.org}
	}
	if spec.expired {
		tmpl.NotBefore, tmpl.NotAfter = now.Add(-48*time.Hour), now.Add(-24*time.Hour)
	}
	if spec.serverOnly {
		tmpl.ExtKeyUsage = []x509.ExtKeyUsage{x509.ExtKeyUsageServerAuth}
	}
	var der []byte
	if spec.selfSigned {
		tmpl.IsCA, tmpl.BasicConstraintsValid = true, true
		tmpl.KeyUsage |= x509.KeyUsageCertSign
		der, err = x509.CreateCertificate(rand.Reader, tmpl, tmpl, key.Public(), key)
	} else {
		der, err = ts.cluster.Sign(tmpl, key.Public())
	}
	if err != nil {
		t.Fatal(err)
	}
	keyDER, err := x509.MarshalECPrivateKey(key)
	if err != nil {
		t.Fatal(err)
	}
	cfg := &rest.Config{
		Host: ts.url,
		TLSClientConfig: rest.TLSClientConfig{
			CAData:   ts.cfg.CAData,
			CertData: pem.EncodeToMemory(&pem.Block{Type: "CERTIFICATE", Bytes: der}),
			KeyData:  pem.EncodeToMemory(&pem.Block{Type: "EC PRIVATE KEY", Bytes: keyDER}),
		},
		Timeout: 10 * time.Second,
	}
	return kubernetes.NewForConfigOrDie(cfg)
}

// TestClientCertificateAuthentication: a certificate the cluster CA
// signed for client authentication is the user of its CN, in the groups
// of its O values and system:authenticated; the Node authorizer and node
// admission apply to a node's. Certificates that do not verify are
// refused.
func TestClientCertificateAuthentication(t *testing.T) {
	ts := start(t, "")
	ctx := context.Background()

	t.Run("node certificate", func(t *testing.T) {
		c := clientWithCert(t, ts, certSpec{cn: "system:node:n1", org: "system:nodes"})
		r, err := c.AuthenticationV1().SelfSubjectReviews().Create(ctx, &authenticationv1.SelfSubjectReview{}, metav1.CreateOptions{})
		if err != nil {
			t.Fatal(err)
		}
		ui := r.Status.UserInfo
		if ui.Username != "system:node:n1" || !slices.Contains(ui.Groups, "system:nodes") || !slices.Contains(ui.Groups, "system:authenticated") {
			t.Fatalf("user = %+v, want system:node:n1 in system:nodes and system:authenticated", ui)
		}
		if _, err := c.CoreV1().Nodes().Create(ctx, &corev1.Node{ObjectMeta: metav1.ObjectMeta{Name: "n1"}}, metav1.CreateOptions{}); err != nil {
			t.Fatalf("node n1 creates its Node: %v", err)
		}
		if _, err := c.CoreV1().Nodes().Get(ctx, "n1", metav1.GetOptions{}); err != nil {
			t.Fatalf("node n1 gets its Node: %v", err)
		}
		if _, err := c.CoreV1().Secrets("").List(ctx, metav1.ListOptions{}); !apierrors.IsForbidden(err) {
			t.Fatalf("node lists every secret: error = %v, want Forbidden", err)
		}
		_, err = c.CoreV1().Nodes().Create(ctx, &corev1.Node{ObjectMeta: metav1.ObjectMeta{Name: "n2"}}, metav1.CreateOptions{})
		if !apierrors.IsForbidden(err) {
			t.Fatalf("node n1 creates Node n2: error = %v, want Forbidden (node admission)", err)
		}
	})

	t.Run("user certificate", func(t *testing.T) {
		c := clientWithCert(t, ts, certSpec{cn: "carol", org: "devs"})
		r, err := c.AuthenticationV1().SelfSubjectReviews().Create(ctx, &authenticationv1.SelfSubjectReview{}, metav1.CreateOptions{})
		if err != nil {
			t.Fatal(err)
		}
		if ui := r.Status.UserInfo; ui.Username != "carol" || !slices.Equal(ui.Groups, []string{"devs", "system:authenticated"}) {
			t.Fatalf("user = %+v, want carol in devs and system:authenticated", ui)
		}
	})

	for _, tt := range []struct {
		name string
		spec certSpec
	}{
		{"self-signed", certSpec{cn: "system:node:n1", org: "system:nodes", selfSigned: true}},
		{"expired", certSpec{cn: "system:node:n1", org: "system:nodes", expired: true}},
		{"serving certificate", certSpec{cn: "system:node:n1", org: "system:nodes", serverOnly: true}},
		{"admin by another CA", certSpec{cn: "mallory", org: "system:masters", selfSigned: true}},
	} {
		t.Run("refused "+tt.name, func(t *testing.T) {
			c := clientWithCert(t, ts, tt.spec)
			_, err := c.CoreV1().Namespaces().List(ctx, metav1.ListOptions{})
			if err == nil {
				t.Fatal("the request succeeded")
			}
			if apierrors.IsForbidden(err) {
				t.Fatalf("error = %v: authenticated, want a failed handshake or 401", err)
			}
		})
	}
}
