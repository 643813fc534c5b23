package server_test

import (
	"bufio"
	"context"
	"crypto/tls"
	"crypto/x509"
	"fmt"
	"io"
	"net"
	"net/http"
	"net/http/httptest"
	"net/url"
	"strconv"
	"strings"
	"testing"

	corev1 "k8s.io/api/core/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
)

// fakeAgent is a TLS server requiring a client certificate of the
// cluster's CA, recording what the API server asks of it.
type fakeAgent struct {
	srv  *httptest.Server
	reqs chan agentRequest
	// more releases the second chunk of a followed log.
	more chan struct{}
}

type agentRequest struct {
	url        string
	clientName string
	orgs       []string
	authz      string
}

func startFakeAgent(t *testing.T, ts *testServer) *fakeAgent {
	a := &fakeAgent{reqs: make(chan agentRequest, 16), more: make(chan struct{})}
	pool := x509.NewCertPool()
	pool.AddCert(ts.cluster.CA)
	a.srv = httptest.NewUnstartedServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		cert := r.TLS.PeerCertificates[0]
		a.reqs <- agentRequest{url: r.URL.String(), clientName: cert.Subject.CommonName, orgs: cert.Subject.Organization, authz: r.Header.Get("Authorization")}
		switch {
		case strings.HasPrefix(r.URL.Path, "/containerLogs/default/bound/b"):
			fmt.Fprint(w, "first chunk\n")
			w.(http.Flusher).Flush()
			<-a.more
			fmt.Fprint(w, "second chunk\n")
		case strings.HasPrefix(r.URL.Path, "/containerLogs/"):
			http.Error(w, `container "x" not found`, http.StatusNotFound)
		case r.Header.Get("Upgrade") == "test-proto":
			w.Header().Set("Connection", "Upgrade")
			w.Header().Set("Upgrade", "test-proto")
			w.WriteHeader(http.StatusSwitchingProtocols)
			conn, brw, err := http.NewResponseController(w).Hijack()
			if err != nil {
				return
			}
			defer conn.Close()
			line, _ := brw.ReadString('\n')
			fmt.Fprintf(brw, "agent got %s", line)
			brw.Flush()
		default:
			http.Error(w, "unexpected", http.StatusTeapot)
		}
	}))
	a.srv.TLS = &tls.Config{ClientCAs: pool, ClientAuth: tls.RequireAndVerifyClientCert}
	a.srv.StartTLS()
	t.Cleanup(func() {
		select {
		case <-a.more:
		default:
			close(a.more)
		}
		a.srv.Close()
	})
	return a
}

// createNode creates node name whose agent listens at addr.
func createNode(t *testing.T, ts *testServer, name, addr string) {
	t.Helper()
	host, port, _ := net.SplitHostPort(addr)
	p, _ := strconv.Atoi(port)
	ctx := context.Background()
	n, err := ts.client.CoreV1().Nodes().Create(ctx, &corev1.Node{ObjectMeta: metav1.ObjectMeta{Name: name}}, metav1.CreateOptions{})
	if err != nil {
		t.Fatal(err)
	}
	n.Status.Addresses = []corev1.NodeAddress{{Type: corev1.NodeHostName, Address: "no-such-host.invalid"}, {Type: corev1.NodeInternalIP, Address: host}}
	n.Status.DaemonEndpoints.KubeletEndpoint.Port = int32(p)
	if _, err := ts.client.CoreV1().Nodes().UpdateStatus(ctx, n, metav1.UpdateOptions{}); err != nil {
		t.Fatal(err)
	}
}

func createPod(t *testing.T, ts *testServer, name, node string, containers ...string) {
	t.Helper()
	p := &corev1.Pod{ObjectMeta: metav1.ObjectMeta{Name: name}, Spec: corev1.PodSpec{NodeName: node}}
	for _, c := range containers {
		p.Spec.Containers = append(p.Spec.Containers, corev1.Container{Name: c, Image: "busybox"})
	}
	if _, err := ts.client.CoreV1().Pods("default").Create(context.Background(), p, metav1.CreateOptions{}); err != nil {
		t.Fatal(err)
	}
}

// TestConnectProxiesToTheAgent: the server finds the pod's node and its
// agent, builds the kubelet's URL and proxies with its kubelet-client
// certificate; logs stream and upgrades pass bytes both ways.
func TestConnectProxiesToTheAgent(t *testing.T) {
	ts, _ := startWithUsers(t)
	agent := startFakeAgent(t, ts)
	createNode(t, ts, "n1", agent.srv.Listener.Addr().String())
	createPod(t, ts, "bound", "n1", "a", "b")
	createPod(t, ts, "single", "n1", "only")
	const base = "/api/v1/namespaces/default/pods/"

	t.Run("the URL and the client certificate", func(t *testing.T) {
		code, body := ts.raw(t, "GET", base+"bound/log?container=a&tailLines=3&previous=true&timestamps=1&limitBytes=9&sinceSeconds=5", "", nil, "")
		if code != http.StatusNotFound { // the fake agent has no log for container a
			t.Fatalf("got %d %s", code, body)
		}
		got := <-agent.reqs
		want := "/containerLogs/default/bound/a?limitBytes=9&previous=true&sinceSeconds=5&tailLines=3&timestamps=true"
		if got.url != want || got.clientName != "kube-apiserver-kubelet-client" || len(got.orgs) != 1 || got.orgs[0] != "system:masters" || got.authz != "" {
			t.Fatalf("the agent got %+v, want %s from kube-apiserver-kubelet-client without the user's token", got, want)
		}
	})
	t.Run("one container is the default", func(t *testing.T) {
		ts.raw(t, "GET", base+"single/log", "", nil, "")
		if got := <-agent.reqs; got.url != "/containerLogs/default/single/only" {
			t.Fatalf("the agent got %s", got.url)
		}
	})
	t.Run("exec flags and commands, as kube-apiserver passes them", func(t *testing.T) {
		ts.raw(t, "POST", base+"bound/exec?container=b&command=sh&command=-c&command=echo+hi&stdin=true&stdout=true&stderr=false&tty=true", "", nil, "")
		if got := <-agent.reqs; got.url != "/exec/default/bound/b?command=sh&command=-c&command=echo+hi&input=1&output=1&tty=1" {
			t.Fatalf("the agent got %s", got.url)
		}
		ts.raw(t, "POST", base+"bound/portforward?ports=80&ports=8080", "", nil, "")
		if got := <-agent.reqs; got.url != "/portForward/default/bound?port=80&port=8080" {
			t.Fatalf("the agent got %s", got.url)
		}
	})
	t.Run("an agent's error passes through", func(t *testing.T) {
		createPod(t, ts, "x-pod", "n1", "x")
		code, body := ts.raw(t, "GET", base+"x-pod/log", "", nil, "")
		<-agent.reqs
		if code != 404 || !strings.Contains(string(body), `container "x" not found`) {
			t.Fatalf("got %d %s", code, body)
		}
	})
	t.Run("a followed log streams", func(t *testing.T) {
		req, _ := http.NewRequest("GET", ts.url+base+"bound/log?container=b&follow=true", nil)
		req.Header.Set("Authorization", "Bearer "+ts.cfg.BearerToken)
		resp, err := httpsClient(t, ts).Do(req)
		if err != nil {
			t.Fatal(err)
		}
		defer resp.Body.Close()
		<-agent.reqs
		r := bufio.NewReader(resp.Body)
		// The first chunk arrives while the agent holds the second.
		if line, err := r.ReadString('\n'); err != nil || line != "first chunk\n" {
			t.Fatalf("first: %q %v", line, err)
		}
		close(agent.more)
		if rest, _ := io.ReadAll(r); string(rest) != "second chunk\n" {
			t.Fatalf("then %q", rest)
		}
	})
	t.Run("an upgrade passes bytes both ways", func(t *testing.T) {
		u, _ := url.Parse(ts.url)
		conn, err := tls.Dial("tcp", u.Host, &tls.Config{RootCAs: rootCAs(ts), NextProtos: []string{"http/1.1"}})
		if err != nil {
			t.Fatal(err)
		}
		defer conn.Close()
		fmt.Fprintf(conn, "POST %sbound/exec?container=a&command=cat&stdin=true HTTP/1.1\r\nHost: %s\r\nAuthorization: Bearer %s\r\nConnection: Upgrade\r\nUpgrade: test-proto\r\nContent-Length: 0\r\n\r\n", base, u.Host, ts.cfg.BearerToken)
		br := bufio.NewReader(conn)
		resp, err := http.ReadResponse(br, nil)
		if err != nil || resp.StatusCode != http.StatusSwitchingProtocols {
			t.Fatalf("got %v %v", resp, err)
		}
		<-agent.reqs
		fmt.Fprint(conn, "ping\n")
		if line, err := br.ReadString('\n'); err != nil || line != "agent got ping\n" {
			t.Fatalf("got %q %v", line, err)
		}
	})
	t.Run("a node publishing no agent port", func(t *testing.T) {
		if _, err := ts.client.CoreV1().Nodes().Create(context.Background(), &corev1.Node{ObjectMeta: metav1.ObjectMeta{Name: "n0"}}, metav1.CreateOptions{}); err != nil {
			t.Fatal(err)
		}
		createPod(t, ts, "on-n0", "n0", "c")
		code, body := ts.raw(t, "GET", base+"on-n0/log", "", nil, "")
		if code != 503 || !strings.Contains(string(body), "no InternalIP") {
			t.Fatalf("got %d %s", code, body)
		}
	})
}

func rootCAs(ts *testServer) *x509.CertPool {
	pool := x509.NewCertPool()
	pool.AddCert(ts.cluster.CA)
	return pool
}

func httpsClient(t *testing.T, ts *testServer) *http.Client {
	hc := &http.Client{Transport: &http.Transport{TLSClientConfig: &tls.Config{RootCAs: rootCAs(ts)}}}
	t.Cleanup(hc.CloseIdleConnections)
	return hc
}
