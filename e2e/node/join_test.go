package node

import (
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/sqlkube/sqlkube/internal/testenv"
)

// testJoin joins a second machine the way an operator does: `sqlkube node
// --server URL --token "$(cat node-token)"`, with a containerd of its own.
// The agent must then act as system:node:n2, with only what a node may do,
// and serve logs and exec of its pods to the API server with the
// credentials it was issued. It runs last: the scheduler would otherwise
// place the other tests' pods on n2 too.
func testJoin(t *testing.T, e *env) {
	token, err := os.ReadFile(filepath.Join(e.dir, "node-token"))
	if err != nil {
		t.Fatalf("the server wrote no node token: %v", err)
	}
	server := e.must(t, "config", "view", "-o", "jsonpath={.clusters[0].cluster.server}")
	ctrd := testenv.StartContainerd(t)
	dir := filepath.Join(t.TempDir(), "n2")
	t.Cleanup(func() {
		e.kubectl("delete", "node", "n2", "--wait=false")
		m := mountsUnder(dir)
		for i := len(m) - 1; i >= 0; i-- {
			_ = syscall.Unmount(m[i], syscall.MNT_DETACH)
		}
	})
	agent := e.start(t, "agent-n2.log", "node", "--server", server, "--token", strings.TrimSpace(string(token)),
		"--name", "n2", "--containerd-socket", ctrd.Socket, "--data-dir", dir, "--cni-bridge", "sqlkube1",
		"--port", fmt.Sprint(freePort(t)), "--read-only-port", "0")
	t.Cleanup(func() { agent.Stop(syscall.SIGTERM, 20*time.Second) })
	e.eventually(t, 60*time.Second, "joined node n2 is Ready", func() bool {
		out, _ := e.kubectl("get", "node", "n2", "-o", `jsonpath={.status.conditions[?(@.type=="Ready")].status}`)
		return out == "True"
	}, func() string { b, _ := os.ReadFile(agent.log); return tailString(string(b), 3000) })

	nodeKubeconfig := filepath.Join(dir, "node.kubeconfig")
	asNode := func(args ...string) (string, error) {
		return e.kubectl(append([]string{"--kubeconfig", nodeKubeconfig}, args...)...)
	}
	if out, err := asNode("auth", "whoami", "-o", "jsonpath={.status.userInfo.username}"); err != nil || out != "system:node:n2" {
		t.Fatalf("the joined agent's credentials are %q (%v), want user system:node:n2", out, err)
	}
	if out, err := asNode("get", "secrets", "-A"); err == nil || !strings.Contains(out, "Forbidden") {
		t.Errorf("a node listed every secret: %v\n%s", err, out)
	}
	if out, err := asNode("label", "node", "n1", "joined=yes"); err == nil {
		t.Errorf("node n2 changed node n1: %s", out)
	}

	ns := e.namespace(t, "join")
	e.apply(t, ns, strings.Replace(e.busyboxPod("on-n2", "echo joined-node-says-hi; exec sleep 3600", ""),
		"spec:\n", "spec:\n  nodeName: n2\n", 1))
	e.eventually(t, 60*time.Second, "pod on-n2 is Ready", func() bool {
		return e.jsonpath(ns, "pod/on-n2", `{.status.conditions[?(@.type=="Ready")].status}`) == "True"
	}, func() string {
		out, _ := e.kubectl("describe", "pod", "-n", ns, "on-n2")
		b, _ := os.ReadFile(agent.log)
		return out + "\nagent n2:\n" + tailString(string(b), 4000)
	})
	e.waitFor(t, 30*time.Second, ns, "pod/on-n2", "{.status.podIP}", `^10\.244\.`)
	if out := e.must(t, "logs", "-n", ns, "on-n2"); !strings.Contains(out, "joined-node-says-hi") {
		t.Errorf("kubectl logs of a pod on the joined node: %q", out)
	}
	if out := e.must(t, "exec", "-n", ns, "on-n2", "--", "cat", "/etc/hostname"); out != "on-n2" {
		t.Errorf("kubectl exec on the joined node: %q, want the pod's hostname", out)
	}
	e.must(t, "delete", "pod", "-n", ns, "on-n2", "--grace-period=1")
	e.eventually(t, 30*time.Second, "the joined node released the pod", func() bool {
		entries, err := os.ReadDir(filepath.Join(dir, "netns"))
		return err == nil && len(entries) == 0
	})
}
