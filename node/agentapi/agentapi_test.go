package agentapi_test

import (
	"bytes"
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
	"io"
	"math/big"
	"net"
	"net/http"
	"net/url"
	"strconv"
	"strings"
	"testing"
	"time"

	corev1 "k8s.io/api/core/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"

	"github.com/sqlkube/sqlkube/node/agentapi"
)

// fakeBackend serves pod default/p (containers c and d) with scripted
// commands: "echo ARGS" and "stderr ARGS" write their arguments, "exit N"
// exits N, "cat" copies stdin to stdout, "size" prints the first
// terminal size. Port 80 echoes, any other port is refused.
type fakeBackend struct {
	// logMore, when not nil, releases the second line of a followed log.
	logMore chan struct{}
}

func (b *fakeBackend) Pods() []corev1.Pod {
	return []corev1.Pod{{
		TypeMeta:   metav1.TypeMeta{Kind: "Pod", APIVersion: "v1"},
		ObjectMeta: metav1.ObjectMeta{Namespace: "default", Name: "p", UID: "u1"},
		Spec:       corev1.PodSpec{Containers: []corev1.Container{{Name: "c"}, {Name: "d"}}},
	}}
}

func (b *fakeBackend) Healthy() error { return nil }

func (b *fakeBackend) Summary(context.Context) (agentapi.Summary, error) {
	n := uint64(42)
	return agentapi.Summary{Node: agentapi.NodeStats{NodeName: "n1", Memory: &agentapi.MemoryStats{UsageBytes: &n}},
		Pods: []agentapi.PodStats{{PodRef: agentapi.PodReference{Name: "p", Namespace: "default", UID: "u1"}, Containers: []agentapi.ContainerStats{{Name: "c"}}}}}, nil
}

func (b *fakeBackend) Logs(ctx context.Context, namespace, pod string, opts agentapi.LogOptions, w io.Writer) error {
	if opts.Container == "d" {
		return fmt.Errorf("container d has no log: %w", agentapi.ErrNotFound)
	}
	fmt.Fprintf(w, "line 1 tail=%v\n", opts.TailLines != nil && *opts.TailLines == 3)
	if !opts.Follow {
		return nil
	}
	select {
	case <-b.logMore:
	case <-ctx.Done():
		return ctx.Err()
	}
	fmt.Fprintln(w, "line 2")
	return nil
}

func (b *fakeBackend) Exec(ctx context.Context, namespace, pod, container string, cmd []string, s agentapi.Streams) (int, error) {
	args := strings.Join(cmd[1:], " ")
	switch cmd[0] {
	case "echo":
		fmt.Fprint(s.Stdout, args)
	case "stderr":
		fmt.Fprint(s.Stderr, args)
	case "exit":
		n, _ := strconv.Atoi(args)
		fmt.Fprint(s.Stdout, "bye")
		return n, nil
	case "cat":
		if _, err := io.Copy(s.Stdout, s.Stdin); err != nil {
			return 1, err
		}
	case "size":
		select {
		case sz, ok := <-s.Resize:
			if !ok {
				return 1, errors.New("no size")
			}
			fmt.Fprintf(s.Stdout, "%dx%d tty=%v", sz.Width, sz.Height, s.TTY)
		case <-ctx.Done():
			return 1, ctx.Err()
		}
	default:
		return 0, fmt.Errorf("no such command %q", cmd[0])
	}
	return 0, nil
}

func (b *fakeBackend) Attach(ctx context.Context, namespace, pod, container string, s agentapi.Streams) error {
	_, err := io.Copy(s.Stdout, s.Stdin)
	return err
}

func (b *fakeBackend) PortForward(ctx context.Context, namespace, pod string, port int32, conn io.ReadWriteCloser) error {
	if port != 80 {
		return fmt.Errorf("dial tcp 127.0.0.1:%d: connection refused", port)
	}
	defer conn.Close()
	_, err := io.Copy(conn, conn)
	return err
}

// testCA signs the test's client certificates.
type testCA struct {
	cert *x509.Certificate
	key  *ecdsa.PrivateKey
	pool *x509.CertPool
}

func newTestCA(t *testing.T) *testCA {
	t.Helper()
	key, _ := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	tmpl := &x509.Certificate{SerialNumber: big.NewInt(1), Subject: pkix.Name{CommonName: "test-ca"}, NotBefore: time.Now().Add(-time.Hour),
		NotAfter: time.Now().Add(time.Hour), IsCA: true, BasicConstraintsValid: true, KeyUsage: x509.KeyUsageCertSign}
	der, err := x509.CreateCertificate(rand.Reader, tmpl, tmpl, key.Public(), key)
	if err != nil {
		t.Fatal(err)
	}
	cert, _ := x509.ParseCertificate(der)
	pool := x509.NewCertPool()
	pool.AddCert(cert)
	return &testCA{cert: cert, key: key, pool: pool}
}

// client issues a client certificate for cn, as PEM.
func (ca *testCA) client(t *testing.T, cn string) (certPEM, keyPEM []byte) {
	t.Helper()
	key, _ := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	tmpl := &x509.Certificate{SerialNumber: big.NewInt(time.Now().UnixNano()), Subject: pkix.Name{CommonName: cn, Organization: []string{"system:masters"}},
		NotBefore: time.Now().Add(-time.Hour), NotAfter: time.Now().Add(time.Hour), KeyUsage: x509.KeyUsageDigitalSignature,
		ExtKeyUsage: []x509.ExtKeyUsage{x509.ExtKeyUsageClientAuth}}
	der, err := x509.CreateCertificate(rand.Reader, tmpl, ca.cert, key.Public(), ca.key)
	if err != nil {
		t.Fatal(err)
	}
	keyDER, _ := x509.MarshalECPrivateKey(key)
	return pem.EncodeToMemory(&pem.Block{Type: "CERTIFICATE", Bytes: der}), pem.EncodeToMemory(&pem.Block{Type: "EC PRIVATE KEY", Bytes: keyDER})
}

// agent is a running Server over a fakeBackend.
type agent struct {
	srv     *agentapi.Server
	backend *fakeBackend
	ca      *testCA
}

func startAgent(t *testing.T) *agent {
	t.Helper()
	ca := newTestCA(t)
	b := &fakeBackend{logMore: make(chan struct{})}
	srv, err := agentapi.New(agentapi.Config{Backend: b, Addr: "127.0.0.1:0", ReadOnlyAddr: "127.0.0.1:0", ClientCAs: ca.pool})
	if err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan error, 1)
	go func() { done <- srv.Run(ctx) }()
	t.Cleanup(func() {
		cancel()
		if err := <-done; err != nil {
			t.Errorf("Run: %v", err)
		}
	})
	return &agent{srv: srv, backend: b, ca: ca}
}

// httpClient is an HTTPS client of the secure port presenting a
// certificate for cn ("" = none).
func (a *agent) httpClient(t *testing.T, cn string) *http.Client {
	cfg := &tls.Config{InsecureSkipVerify: true}
	if cn != "" {
		c, k := a.ca.client(t, cn)
		pair, err := tls.X509KeyPair(c, k)
		if err != nil {
			t.Fatal(err)
		}
		cfg.Certificates = []tls.Certificate{pair}
	}
	hc := &http.Client{Transport: &http.Transport{TLSClientConfig: cfg}}
	t.Cleanup(hc.CloseIdleConnections)
	return hc
}

func (a *agent) url(path string) string { return "https://" + a.srv.Addr() + path }

func TestClientCertificates(t *testing.T) {
	a := startAgent(t)
	for _, tc := range []struct {
		name, cn string
		code     int
	}{
		{"the API server's kubelet client", agentapi.DefaultAllowedClientName, 200},
		{"a node's certificate from the same CA", "system:node:n1", 403},
		{"no certificate", "", 401},
	} {
		t.Run(tc.name, func(t *testing.T) {
			resp, err := a.httpClient(t, tc.cn).Get(a.url("/pods"))
			if err != nil {
				t.Fatal(err)
			}
			resp.Body.Close()
			if resp.StatusCode != tc.code {
				t.Fatalf("got %d, want %d", resp.StatusCode, tc.code)
			}
		})
	}
	t.Run("a certificate from another CA", func(t *testing.T) {
		other := &agent{srv: a.srv, ca: newTestCA(t)}
		_, err := other.httpClient(t, agentapi.DefaultAllowedClientName).Get(a.url("/pods"))
		if err == nil {
			t.Fatal("the handshake succeeded")
		}
	})
}

func TestReadOnlyPort(t *testing.T) {
	a := startAgent(t)
	for _, tc := range []struct {
		path, want string
	}{
		{"/healthz", "ok"},
		{"/pods", `"kind":"PodList","apiVersion":"v1"`},
		{"/stats/summary", `"node":{"nodeName":"n1","memory":{"time":null,"usageBytes":42}},"pods":[{"podRef":{"name":"p","namespace":"default","uid":"u1"}`},
	} {
		t.Run(tc.path, func(t *testing.T) {
			resp, err := http.Get("http://" + a.srv.ReadOnlyAddr() + tc.path)
			if err != nil {
				t.Fatal(err)
			}
			defer resp.Body.Close()
			body, _ := io.ReadAll(resp.Body)
			if resp.StatusCode != 200 || !strings.Contains(string(body), tc.want) {
				t.Fatalf("got %d %s, want %q", resp.StatusCode, body, tc.want)
			}
		})
	}
}

func TestContainerLogs(t *testing.T) {
	a := startAgent(t)
	hc := a.httpClient(t, agentapi.DefaultAllowedClientName)
	for _, tc := range []struct {
		name, path string
		code       int
		want       string
	}{
		{"a log", "/containerLogs/default/p/c?tailLines=3", 200, "line 1 tail=true\n"},
		{"a missing pod", "/containerLogs/default/nope/c", 404, `pod "default/nope" not found`},
		{"a missing container", "/containerLogs/default/p/x", 404, `container "x" not found in pod "default/p"`},
		{"a backend's not found", "/containerLogs/default/p/d", 404, "container d has no log"},
		{"a bad tailLines", "/containerLogs/default/p/c?tailLines=-1", 400, "tailLines"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			resp, err := hc.Get(a.url(tc.path))
			if err != nil {
				t.Fatal(err)
			}
			defer resp.Body.Close()
			body, _ := io.ReadAll(resp.Body)
			if resp.StatusCode != tc.code || !strings.Contains(string(body), tc.want) {
				t.Fatalf("got %d %q, want %d %q", resp.StatusCode, body, tc.code, tc.want)
			}
		})
	}
	t.Run("following streams each line as written", func(t *testing.T) {
		resp, err := hc.Get(a.url("/containerLogs/default/p/c?follow=true"))
		if err != nil {
			t.Fatal(err)
		}
		defer resp.Body.Close()
		buf := make([]byte, 64)
		// The first line arrives while the backend still holds the second.
		n, err := resp.Body.Read(buf)
		if err != nil || string(buf[:n]) != "line 1 tail=false\n" {
			t.Fatalf("first read: %q, %v", buf[:n], err)
		}
		close(a.backend.logMore)
		rest, _ := io.ReadAll(resp.Body)
		if string(rest) != "line 2\n" {
			t.Fatalf("then %q", rest)
		}
	})
}

func mustParse(t *testing.T, raw string) *url.URL {
	u, err := url.Parse(raw)
	if err != nil {
		t.Fatal(err)
	}
	return u
}

// pipeConn dials the local end of a port-forward and checks an echo.
func echoThrough(t *testing.T, addr string) {
	t.Helper()
	c, err := net.Dial("tcp", addr)
	if err != nil {
		t.Fatal(err)
	}
	defer c.Close()
	msg := []byte("ping through the forward")
	if _, err := c.Write(msg); err != nil {
		t.Fatal(err)
	}
	got := make([]byte, len(msg))
	if _, err := io.ReadFull(c, got); err != nil || !bytes.Equal(got, msg) {
		t.Fatalf("echo: %q, %v", got, err)
	}
}
