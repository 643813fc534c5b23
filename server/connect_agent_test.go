package server_test

import (
	"bytes"
	"context"
	"crypto/x509"
	"errors"
	"fmt"
	"io"
	"net"
	"net/http"
	"net/url"
	"os"
	osexec "os/exec"
	"path/filepath"
	"strconv"
	"strings"
	"testing"
	"time"

	corev1 "k8s.io/api/core/v1"
	"k8s.io/apimachinery/pkg/util/httpstream"
	"k8s.io/client-go/tools/portforward"
	"k8s.io/client-go/tools/remotecommand"
	"k8s.io/client-go/transport/spdy"
	"k8s.io/client-go/util/exec"

	"github.com/sqlkube/sqlkube/internal/testenv"
	"github.com/sqlkube/sqlkube/node/agentapi"
)

// echoBackend runs "echo ARGS", "exit N" and "cat" (stdin to stdout),
// attaches as cat does, logs one line, and echoes port 80.
type echoBackend struct{}

func (echoBackend) Pods() []corev1.Pod {
	p := corev1.Pod{Spec: corev1.PodSpec{Containers: []corev1.Container{{Name: "c"}}}}
	p.Namespace, p.Name = "default", "p"
	return []corev1.Pod{p}
}
func (echoBackend) Healthy() error { return nil }
func (echoBackend) Summary(context.Context) (agentapi.Summary, error) {
	return agentapi.Summary{}, nil
}
func (echoBackend) Logs(ctx context.Context, ns, pod string, o agentapi.LogOptions, w io.Writer) error {
	_, err := fmt.Fprintf(w, "log of %s/%s/%s follow=%v\n", ns, pod, o.Container, o.Follow)
	return err
}
func (echoBackend) Exec(ctx context.Context, ns, pod, c string, cmd []string, s agentapi.Streams) (int, error) {
	switch cmd[0] {
	case "exit":
		n, _ := strconv.Atoi(cmd[1])
		return n, nil
	case "cat":
		_, err := io.Copy(s.Stdout, s.Stdin)
		return 0, err
	}
	fmt.Fprint(s.Stdout, strings.Join(cmd[1:], " "))
	return 0, nil
}
func (echoBackend) Attach(ctx context.Context, ns, pod, c string, s agentapi.Streams) error {
	if s.Stdin == nil {
		return errors.New("attach without stdin")
	}
	_, err := io.Copy(s.Stdout, s.Stdin)
	return err
}
func (echoBackend) PortForward(ctx context.Context, ns, pod string, port int32, conn io.ReadWriteCloser) error {
	defer conn.Close()
	_, err := io.Copy(conn, conn)
	return err
}

// TestConnectThroughTheAgentAPI drives a real agentapi.Server behind
// the API server with client-go's executors and port-forward dialers,
// as kubectl does.
func TestConnectThroughTheAgentAPI(t *testing.T) {
	ts, _ := startWithUsers(t)
	pool := x509.NewCertPool()
	pool.AddCert(ts.cluster.CA)
	srv, err := agentapi.New(agentapi.Config{Backend: echoBackend{}, Addr: "127.0.0.1:0", ClientCAs: pool})
	if err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan error, 1)
	go func() { done <- srv.Run(ctx) }()
	t.Cleanup(func() { cancel(); <-done })
	createNode(t, ts, "n1", srv.Addr())
	createPod(t, ts, "p", "n1", "c")

	t.Run("logs", func(t *testing.T) {
		b, err := ts.client.CoreV1().Pods("default").GetLogs("p", &corev1.PodLogOptions{Follow: true}).DoRaw(context.Background())
		if err != nil || string(b) != "log of default/p/c follow=true\n" {
			t.Fatalf("got %q %v", b, err)
		}
	})
	execURL := ts.url + "/api/v1/namespaces/default/pods/p/exec?"
	for _, tc := range []struct {
		query, out string
		code       int
	}{
		{"command=echo&command=hi&command=there&stdout=true", "hi there", 0},
		{"command=exit&command=7&stdout=true", "", 7},
	} {
		u, _ := url.Parse(execURL + tc.query)
		sp, err := remotecommand.NewSPDYExecutor(ts.cfg, "POST", u)
		if err != nil {
			t.Fatal(err)
		}
		ws, err := remotecommand.NewWebSocketExecutor(ts.cfg, "GET", u.String())
		if err != nil {
			t.Fatal(err)
		}
		for name, ex := range map[string]remotecommand.Executor{"spdy": sp, "websocket": ws} {
			t.Run("exec "+tc.query+" over "+name, func(t *testing.T) {
				ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
				defer cancel()
				var out bytes.Buffer
				err := ex.StreamWithContext(ctx, remotecommand.StreamOptions{Stdout: &out})
				var ce exec.CodeExitError
				if tc.code != 0 {
					if !errors.As(err, &ce) || ce.Code != tc.code {
						t.Fatalf("got %v, want exit code %d", err, tc.code)
					}
				} else if err != nil {
					t.Fatal(err)
				}
				if out.String() != tc.out {
					t.Fatalf("stdout %q, want %q", out.String(), tc.out)
				}
			})
		}
	}
	pfURL, _ := url.Parse(ts.url + "/api/v1/namespaces/default/pods/p/portforward")
	tr, up, err := spdy.RoundTripperFor(ts.cfg)
	if err != nil {
		t.Fatal(err)
	}
	tunnel, err := portforward.NewSPDYOverWebsocketDialer(pfURL, ts.cfg)
	if err != nil {
		t.Fatal(err)
	}
	for name, d := range map[string]httpstream.Dialer{"spdy": spdy.NewDialer(up, &http.Client{Transport: tr}, "POST", pfURL), "websocket": tunnel} {
		t.Run("port-forward over "+name, func(t *testing.T) {
			stop, ready := make(chan struct{}), make(chan struct{})
			fw, err := portforward.NewOnAddresses(d, []string{"127.0.0.1"}, []string{"0:80"}, stop, ready, io.Discard, io.Discard)
			if err != nil {
				t.Fatal(err)
			}
			errc := make(chan error, 1)
			go func() { errc <- fw.ForwardPorts() }()
			defer func() { close(stop); <-errc }()
			select {
			case <-ready:
			case err := <-errc:
				t.Fatal(err)
			}
			ports, _ := fw.GetPorts()
			c, err := net.Dial("tcp", "127.0.0.1:"+strconv.Itoa(int(ports[0].Local)))
			if err != nil {
				t.Fatal(err)
			}
			defer c.Close()
			fmt.Fprint(c, "through the API server")
			got := make([]byte, len("through the API server"))
			if _, err := io.ReadFull(c, got); err != nil || string(got) != "through the API server" {
				t.Fatalf("got %q %v", got, err)
			}
		})
	}
}

// TestKubectlThroughTheAgentAPI runs the installed kubectl's exec and
// attach against the API server and a real agentapi.Server, over SPDY
// (KUBECTL_REMOTE_COMMAND_WEBSOCKETS=false) and over WebSocket.
func TestKubectlThroughTheAgentAPI(t *testing.T) {
	kubectl, err := osexec.LookPath("kubectl")
	if err != nil {
		testenv.Missing(t, "kubectl")
	}
	ts, _ := startWithUsers(t)
	pool := x509.NewCertPool()
	pool.AddCert(ts.cluster.CA)
	srv, err := agentapi.New(agentapi.Config{Backend: echoBackend{}, Addr: "127.0.0.1:0", ClientCAs: pool})
	if err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan error, 1)
	go func() { done <- srv.Run(ctx) }()
	t.Cleanup(func() { cancel(); <-done })
	createNode(t, ts, "n1", srv.Addr())
	createPod(t, ts, "p", "n1", "c")

	for _, tc := range []struct {
		name     string
		args     []string
		stdin    string
		openIn   bool // stdin stays open: a terminal the user has not closed
		wantOut  string
		wantCode int
	}{
		{name: "exec", args: []string{"exec", "p", "--", "echo", "hi"}, wantOut: "hi"},
		{name: "exec -i", args: []string{"exec", "-i", "p", "--", "cat"}, stdin: "fed through stdin\n", wantOut: "fed through stdin\n"},
		{name: "exec -i, stdin not read", args: []string{"exec", "-i", "p", "--", "echo", "done"}, stdin: "ignored\n", wantOut: "done"},
		{name: "exec -i, stdin left open", args: []string{"exec", "-i", "p", "--", "echo", "done"}, openIn: true, wantOut: "done"},
		{name: "exit code", args: []string{"exec", "p", "--", "exit", "7"}, wantCode: 7},
		{name: "attach -i", args: []string{"attach", "-i", "p"}, stdin: "attached\n", wantOut: "attached\n"},
	} {
		for _, ws := range []string{"false", "true"} {
			t.Run(tc.name+" websockets="+ws, func(t *testing.T) {
				ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
				defer cancel()
				cmd := osexec.CommandContext(ctx, kubectl, append([]string{"--kubeconfig", ts.kubeconfig, "--cache-dir", filepath.Join(t.TempDir(), "cache")}, tc.args...)...)
				cmd.Env = append(os.Environ(), "KUBECTL_REMOTE_COMMAND_WEBSOCKETS="+ws)
				cmd.Stdin = strings.NewReader(tc.stdin)
				if tc.openIn {
					r, w, err := os.Pipe()
					if err != nil {
						t.Fatal(err)
					}
					defer w.Close()
					defer r.Close()
					cmd.Stdin = r
				}
				var out, errb bytes.Buffer
				cmd.Stdout, cmd.Stderr = &out, &errb
				err := cmd.Run()
				var ee *osexec.ExitError
				switch {
				case tc.wantCode != 0:
					if !errors.As(err, &ee) || ee.ExitCode() != tc.wantCode {
						t.Fatalf("got %v, want exit code %d; stderr %s", err, tc.wantCode, errb.String())
					}
				case err != nil:
					t.Fatalf("%v; stderr %s", err, errb.String())
				}
				if out.String() != tc.wantOut {
					t.Fatalf("stdout %q, want %q; stderr %s", out.String(), tc.wantOut, errb.String())
				}
			})
		}
	}
}
