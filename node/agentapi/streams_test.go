package agentapi_test

import (
	"bytes"
	"context"
	"errors"
	"net/http"
	"strconv"
	"strings"
	"sync"
	"testing"
	"time"

	"k8s.io/apimachinery/pkg/util/httpstream"
	"k8s.io/client-go/rest"
	"k8s.io/client-go/tools/portforward"
	"k8s.io/client-go/tools/remotecommand"
	"k8s.io/client-go/transport/spdy"
	"k8s.io/client-go/util/exec"

	"github.com/sqlkube/sqlkube/node/agentapi"
)

func (a *agent) restConfig(t *testing.T) *rest.Config {
	c, k := a.ca.client(t, agentapi.DefaultAllowedClientName)
	return &rest.Config{Host: "https://" + a.srv.Addr(), TLSClientConfig: rest.TLSClientConfig{Insecure: true, CertData: c, KeyData: k}}
}

// executors are client-go's remotecommand clients, as kubectl 1.32 uses
// them: WebSocket (v5), SPDY (v4) and WebSocket falling back to SPDY.
func executors(t *testing.T, cfg *rest.Config, rawURL string) map[string]remotecommand.Executor {
	t.Helper()
	sp, err := remotecommand.NewSPDYExecutor(cfg, "POST", mustParse(t, rawURL))
	if err != nil {
		t.Fatal(err)
	}
	ws, err := remotecommand.NewWebSocketExecutor(cfg, "GET", rawURL)
	if err != nil {
		t.Fatal(err)
	}
	fb, err := remotecommand.NewFallbackExecutor(ws, sp, func(err error) bool {
		return httpstream.IsUpgradeFailure(err) || httpstream.IsHTTPSProxyError(err)
	})
	if err != nil {
		t.Fatal(err)
	}
	return map[string]remotecommand.Executor{"spdy": sp, "websocket": ws, "fallback": fb}
}

// sizeQueue hands out one terminal size, then ends.
type sizeQueue struct {
	once sync.Once
	size *remotecommand.TerminalSize
}

func (q *sizeQueue) Next() *remotecommand.TerminalSize {
	var s *remotecommand.TerminalSize
	q.once.Do(func() { s = q.size })
	if s == nil {
		// Resizes end with the session: nothing more to send.
		select {}
	}
	return s
}

// testSessions drives exec and attach through base (an agent's or an
// API server's pod URL prefix, up to the pod) with every executor.
func testSessions(t *testing.T, cfg *rest.Config, execURL, attachURL func(query string) string) {
	for _, tc := range []struct {
		name, query         string
		attach              bool
		stdin               string
		tty                 bool
		wantOut, wantErr    string
		wantCode            int
		wantFailureContains string
	}{
		{name: "stdout", query: "command=echo&command=hello&command=world&output=1&error=1", wantOut: "hello world"},
		{name: "stderr", query: "command=stderr&command=oops&output=1&error=1", wantErr: "oops"},
		{name: "exit code", query: "command=exit&command=3&output=1&error=1", wantOut: "bye", wantCode: 3},
		{name: "stdin", query: "command=cat&input=1&output=1", stdin: "fed through stdin", wantOut: "fed through stdin"},
		{name: "tty resize", query: "command=size&input=1&output=1&tty=1", tty: true, stdin: "", wantOut: "132x43 tty=true"},
		{name: "unknown command", query: "command=nope&output=1", wantFailureContains: `no such command "nope"`},
		{name: "attach", attach: true, query: "input=1&output=1", stdin: "attached", wantOut: "attached"},
	} {
		raw := execURL(tc.query)
		if tc.attach {
			raw = attachURL(tc.query)
		}
		for name, ex := range executors(t, cfg, raw) {
			t.Run(tc.name+" over "+name, func(t *testing.T) {
				ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
				defer cancel()
				var out, errb bytes.Buffer
				opts := remotecommand.StreamOptions{Stdout: &out, Tty: tc.tty}
				if !tc.tty {
					opts.Stderr = &errb
				}
				if strings.Contains(tc.query, "input=1") {
					opts.Stdin = strings.NewReader(tc.stdin)
				}
				if tc.tty {
					opts.TerminalSizeQueue = &sizeQueue{size: &remotecommand.TerminalSize{Width: 132, Height: 43}}
				}
				err := ex.StreamWithContext(ctx, opts)
				var code exec.CodeExitError
				switch {
				case tc.wantFailureContains != "":
					if err == nil || !strings.Contains(err.Error(), tc.wantFailureContains) {
						t.Fatalf("got %v, want an error with %q", err, tc.wantFailureContains)
					}
				case tc.wantCode != 0:
					if !errors.As(err, &code) || code.Code != tc.wantCode {
						t.Fatalf("got %#v, want exit code %d", err, tc.wantCode)
					}
				case err != nil:
					t.Fatal(err)
				}
				if out.String() != tc.wantOut || errb.String() != tc.wantErr {
					t.Fatalf("stdout %q stderr %q, want %q %q", out.String(), errb.String(), tc.wantOut, tc.wantErr)
				}
			})
		}
	}
}

func TestExecAndAttach(t *testing.T) {
	a := startAgent(t)
	base := "https://" + a.srv.Addr()
	testSessions(t, a.restConfig(t),
		func(q string) string { return base + "/exec/default/p/c?" + q },
		func(q string) string { return base + "/attach/default/p/c?" + q })
	t.Run("a missing container", func(t *testing.T) {
		resp, err := a.httpClient(t, agentapi.DefaultAllowedClientName).Post(base+"/exec/default/p/x?command=ls&stdout=true", "", nil)
		if err != nil {
			t.Fatal(err)
		}
		resp.Body.Close()
		if resp.StatusCode != http.StatusNotFound {
			t.Fatalf("got %d", resp.StatusCode)
		}
	})
}

// forwarders are client-go's port-forward dialers: SPDY, and SPDY
// tunneled through WebSocket as kubectl 1.32 tries first.
func forwarders(t *testing.T, cfg *rest.Config, rawURL string) map[string]httpstream.Dialer {
	t.Helper()
	tr, up, err := spdy.RoundTripperFor(cfg)
	if err != nil {
		t.Fatal(err)
	}
	ws, err := portforward.NewSPDYOverWebsocketDialer(mustParse(t, rawURL), cfg)
	if err != nil {
		t.Fatal(err)
	}
	return map[string]httpstream.Dialer{
		"spdy":      spdy.NewDialer(up, &http.Client{Transport: tr}, "POST", mustParse(t, rawURL)),
		"websocket": ws,
	}
}

// testPortForward forwards a local port to the pod's port 80 (which
// echoes) and to port 81 (refused) through each dialer.
func testPortForward(t *testing.T, cfg *rest.Config, rawURL string) {
	for name, d := range forwarders(t, cfg, rawURL) {
		t.Run(name, func(t *testing.T) {
			stop, ready := make(chan struct{}), make(chan struct{})
			var out, errOut bytes.Buffer
			fw, err := portforward.NewOnAddresses(d, []string{"127.0.0.1"}, []string{"0:80", "0:81"}, stop, ready, &out, &errOut)
			if err != nil {
				t.Fatal(err)
			}
			done := make(chan error, 1)
			go func() { done <- fw.ForwardPorts() }()
			defer func() {
				close(stop)
				if err := <-done; err != nil {
					t.Errorf("ForwardPorts: %v", err)
				}
			}()
			select {
			case <-ready:
			case err := <-done:
				t.Fatalf("ForwardPorts: %v", err)
			}
			ports, err := fw.GetPorts()
			if err != nil {
				t.Fatal(err)
			}
			echoThrough(t, "127.0.0.1:"+itoa(ports[0].Local))
			echoThrough(t, "127.0.0.1:"+itoa(ports[0].Local)) // a second connection
		})
	}
}

func TestPortForward(t *testing.T) {
	a := startAgent(t)
	testPortForward(t, a.restConfig(t), "https://"+a.srv.Addr()+"/portForward/default/p")
}

func itoa(n uint16) string { return strconv.Itoa(int(n)) }
