package proxy

import (
	"context"
	"errors"
	"fmt"
	"io"
	"net"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"runtime"
	"strings"
	"syscall"
	"testing"
	"time"

	"golang.org/x/sys/unix"
	v1 "k8s.io/api/core/v1"
	discoveryv1 "k8s.io/api/discovery/v1"

	"github.com/sqlkube/sqlkube/internal/testenv"
)

// run runs a command and fails the test with its output when it fails.
func run(t testing.TB, name string, args ...string) string {
	t.Helper()
	out, err := exec.Command(name, args...).CombinedOutput()
	if err != nil {
		t.Fatalf("%s %s: %v\n%s", name, strings.Join(args, " "), err, out)
	}
	return string(out)
}

// trafficNet is a node in miniature, inside the test's own network
// namespace: a bridge "sqlkt0" with gateway 10.244.0.1/24 and pods in
// network namespaces of their own hanging on it, and an uplink "uplink0"
// (a bridge without ports: what leaves through it is dropped) holding the node's
// address and default route.
type trafficNet struct {
	t      *testing.T
	prefix string // of the pods' netns names, unique per test binary
}

func newTrafficNet(t *testing.T) *trafficNet {
	t.Helper()
	n := &trafficNet{t: t, prefix: fmt.Sprintf("sqlkt%d-", os.Getpid())}
	run(t, "ip", "link", "add", "sqlkt0", "type", "bridge")
	t.Cleanup(func() { _ = exec.Command("ip", "link", "del", "sqlkt0").Run() })
	run(t, "ip", "addr", "add", "10.244.0.1/24", "dev", "sqlkt0")
	run(t, "ip", "link", "set", "sqlkt0", "up")
	run(t, "ip", "link", "add", "uplink0", "type", "bridge")
	t.Cleanup(func() { _ = exec.Command("ip", "link", "del", "uplink0").Run() })
	run(t, "ip", "addr", "add", "192.168.77.1/24", "dev", "uplink0")
	run(t, "ip", "link", "set", "uplink0", "up")
	run(t, "ip", "route", "add", "default", "via", "192.168.77.254")
	if err := os.WriteFile("/proc/sys/net/ipv4/ip_forward", []byte("1"), 0o644); err != nil {
		t.Fatalf("enable forwarding in the test's netns: %v", err)
	}
	return n
}

// pod creates a network namespace with address ip on the bridge, serving
// HTTP on port 8080 with its name as the body. It returns the netns name.
func (n *trafficNet) pod(name, ip string) string {
	t := n.t
	t.Helper()
	ns := n.prefix + name
	run(t, "ip", "netns", "add", ns)
	t.Cleanup(func() { _ = exec.Command("ip", "netns", "del", ns).Run() })
	host := "veth-" + name
	run(t, "ip", "link", "add", host, "type", "veth", "peer", "name", "eth0", "netns", ns)
	run(t, "ip", "link", "set", host, "master", "sqlkt0", "up")
	// As the CNI bridge plugin configures it for sqlkube (hairpinMode).
	run(t, "ip", "link", "set", host, "type", "bridge_slave", "hairpin", "on")
	for _, args := range [][]string{
		{"link", "set", "lo", "up"},
		{"addr", "add", ip + "/24", "dev", "eth0"},
		{"link", "set", "eth0", "up"},
		{"route", "add", "default", "via", "10.244.0.1"},
	} {
		run(t, "ip", append([]string{"netns", "exec", ns, "ip"}, args...)...)
	}
	dir := t.TempDir()
	if err := os.WriteFile(filepath.Join(dir, "index.html"), []byte(name), 0o644); err != nil {
		t.Fatal(err)
	}
	cmd := exec.Command("ip", "netns", "exec", ns, "busybox", "httpd", "-f", "-p", "8080", "-h", dir)
	if err := cmd.Start(); err != nil {
		t.Fatalf("start httpd in %s: %v", ns, err)
	}
	t.Cleanup(func() { _ = cmd.Process.Kill(); _ = cmd.Wait() })
	// Ready when it answers on its own address.
	waitFor(t, 10*time.Second, "httpd in "+name, func() error {
		got, err := get("http://" + ip + ":8080/")
		if err == nil && got != name {
			err = fmt.Errorf("answered %q", got)
		}
		return err
	})
	return ns
}

// waitFor polls f until it returns nil or the deadline passes.
func waitFor(t testing.TB, d time.Duration, what string, f func() error) {
	t.Helper()
	deadline := time.Now().Add(d)
	for {
		err := f()
		if err == nil {
			return
		}
		if time.Now().After(deadline) {
			t.Fatalf("%s: still failing after %s: %v", what, d, err)
		}
		time.Sleep(50 * time.Millisecond)
	}
}

// get fetches url on a new connection from the test's network namespace.
func get(url string) (string, error) {
	c := &http.Client{Timeout: 2 * time.Second, Transport: &http.Transport{DisableKeepAlives: true}}
	resp, err := c.Get(url)
	if err != nil {
		return "", err
	}
	defer resp.Body.Close()
	b, err := io.ReadAll(resp.Body)
	return string(b), err
}

// getFrom fetches url on a new connection made from inside network
// namespace ns: the socket is created on a thread that joined ns.
func getFrom(ns, url string) (string, error) {
	c := &http.Client{Timeout: 2 * time.Second, Transport: &http.Transport{
		DisableKeepAlives: true,
		DialContext: func(ctx context.Context, network, addr string) (net.Conn, error) {
			return dialFrom(ctx, ns, network, addr)
		},
	}}
	resp, err := c.Get(url)
	if err != nil {
		return "", err
	}
	defer resp.Body.Close()
	b, err := io.ReadAll(resp.Body)
	return string(b), err
}

// dialFrom dials addr from network namespace ns (an `ip netns` name).
func dialFrom(ctx context.Context, ns, network, addr string) (net.Conn, error) {
	runtime.LockOSThread()
	self, err := os.Open(fmt.Sprintf("/proc/self/task/%d/ns/net", unix.Gettid()))
	if err != nil {
		runtime.UnlockOSThread()
		return nil, err
	}
	defer self.Close()
	target, err := os.Open("/run/netns/" + ns)
	if err != nil {
		runtime.UnlockOSThread()
		return nil, err
	}
	defer target.Close()
	if err := unix.Setns(int(target.Fd()), unix.CLONE_NEWNET); err != nil {
		runtime.UnlockOSThread()
		return nil, fmt.Errorf("setns %s: %w", ns, err)
	}
	conn, dialErr := (&net.Dialer{Timeout: 3 * time.Second}).DialContext(ctx, network, addr)
	if err := unix.Setns(int(self.Fd()), unix.CLONE_NEWNET); err != nil {
		// Leave the thread locked: it dies with this goroutine.
		if conn != nil {
			conn.Close()
		}
		return nil, fmt.Errorf("setns back from %s: %w", ns, err)
	}
	runtime.UnlockOSThread()
	return conn, dialErr
}

// answers fetches n times and counts the distinct bodies.
func answers(t *testing.T, n int, fetch func() (string, error)) map[string]int {
	t.Helper()
	seen := map[string]int{}
	for range n {
		got, err := fetch()
		if err != nil {
			t.Fatalf("fetch: %v", err)
		}
		seen[got]++
	}
	return seen
}

func TestTrafficKernel(t *testing.T) {
	requireNft(t)
	if _, err := exec.LookPath("busybox"); err != nil {
		testenv.Missing(t, "busybox (busybox-static)")
	}
	n := newTrafficNet(t)
	podA := n.pod("a", "10.244.0.5")
	n.pod("b", "10.244.0.6")

	http := map[string]int32{"http": 8080}
	both := ipv4(http, ep{ip: "10.244.0.5", node: "node-a"}, ep{ip: "10.244.0.6", node: "node-a"})
	svcs := []*v1.Service{
		service("demo", "web", "10.96.0.20", []v1.ServicePort{nodePort("http", 80, 30080)}, withType(v1.ServiceTypeNodePort)),
		service("demo", "sticky", "10.96.0.21", []v1.ServicePort{tcpPort("http", 80)}, withAffinity(60)),
		service("demo", "empty", "10.96.0.22", []v1.ServicePort{tcpPort("http", 80)}),
		service("demo", "self", "10.96.0.23", []v1.ServicePort{tcpPort("http", 80)}),
	}
	sl := []*discoveryv1.EndpointSlice{
		both("demo", "web", "web-1"),
		both("demo", "sticky", "sticky-1"),
		ipv4(http, ep{ip: "10.244.0.5", node: "node-a"})("demo", "self", "self-1"),
	}
	if err := apply(newConn(t), Build(testBuildConfig(nil), svcs, sl)); err != nil {
		t.Fatal(err)
	}

	t.Run("node to ClusterIP reaches both endpoints", func(t *testing.T) {
		seen := answers(t, 40, func() (string, error) { return get("http://10.96.0.20/") })
		if seen["a"] == 0 || seen["b"] == 0 || len(seen) != 2 {
			t.Errorf("answers = %v, want both a and b", seen)
		}
	})
	t.Run("pod to ClusterIP reaches both endpoints, itself included (hairpin)", func(t *testing.T) {
		seen := answers(t, 30, func() (string, error) { return getFrom(podA, "http://10.96.0.20/") })
		if seen["a"] == 0 || seen["b"] == 0 || len(seen) != 2 {
			t.Errorf("answers = %v, want both a and b", seen)
		}
	})
	t.Run("pod reaches itself through a one-endpoint Service", func(t *testing.T) {
		if got, err := getFrom(podA, "http://10.96.0.23/"); err != nil || got != "a" {
			t.Errorf("got %q, %v; want a", got, err)
		}
	})
	t.Run("NodePort on a node address reaches both endpoints", func(t *testing.T) {
		for _, addr := range []string{"10.244.0.1", "192.168.77.1"} {
			seen := answers(t, 40, func() (string, error) { return get("http://" + addr + ":30080/") })
			if seen["a"] == 0 || seen["b"] == 0 || len(seen) != 2 {
				t.Errorf("%s: answers = %v, want both a and b", addr, seen)
			}
		}
	})
	t.Run("session affinity keeps one endpoint", func(t *testing.T) {
		if seen := answers(t, 20, func() (string, error) { return get("http://10.96.0.21/") }); len(seen) != 1 {
			t.Errorf("answers = %v, want one endpoint only", seen)
		}
	})
	t.Run("no endpoints: refused at once", func(t *testing.T) {
		for _, from := range []string{"node", "pod"} {
			var err error
			if from == "node" {
				var c net.Conn
				c, err = (&net.Dialer{Timeout: 3 * time.Second}).DialContext(context.Background(), "tcp", "10.96.0.22:80")
				if err == nil {
					c.Close()
				}
				if !errors.Is(err, syscall.ECONNREFUSED) {
					t.Errorf("from the node: dial = %v, want ECONNREFUSED", err)
				}
				continue
			}
			c, err := dialFrom(context.Background(), podA, "tcp", "10.96.0.22:80")
			if err == nil {
				c.Close()
			}
			if !errors.Is(err, syscall.ECONNREFUSED) {
				t.Errorf("from a pod: dial = %v, want ECONNREFUSED", err)
			}
		}
	})
}
