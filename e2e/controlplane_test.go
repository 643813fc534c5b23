package e2e

import (
	"fmt"
	"os"
	"path/filepath"
	"regexp"
	"sort"
	"strings"
	"testing"
	"time"
)

const controlPlaneApp = `apiVersion: apps/v1
kind: Deployment
metadata: {name: web, namespace: demo}
spec:
  replicas: 6
  strategy: {rollingUpdate: {maxSurge: 2, maxUnavailable: 1}}
  selector: {matchLabels: {app: web}}
  template:
    metadata: {labels: {app: web}}
    spec:
      containers:
      - name: web
        image: registry.local/web:1
        ports: [{name: http, containerPort: 8080}]
        resources: {requests: {cpu: 500m, memory: 64Mi}}
---
apiVersion: v1
kind: Service
metadata: {name: web, namespace: demo}
spec:
  selector: {app: web}
  ports: [{port: 80, targetPort: http}]
---
apiVersion: v1
kind: Pod
metadata: {name: big, namespace: demo}
spec:
  containers: [{name: c, image: registry.local/web:1, resources: {requests: {cpu: "64"}}}]
---
apiVersion: apps/v1
kind: DaemonSet
metadata: {name: agent, namespace: demo}
spec:
  selector: {matchLabels: {app: agent}}
  template:
    metadata: {labels: {app: agent}}
    spec: {containers: [{name: a, image: registry.local/agent:1}]}
---
apiVersion: batch/v1
kind: Job
metadata: {name: once, namespace: demo}
spec:
  completions: 2
  template:
    spec:
      restartPolicy: Never
      containers: [{name: j, image: registry.local/job:1}]
`

// TestControlPlane drives the scheduler, the controllers and simulated
// nodes the way a kubectl user sees them: a rollout, spreading, taints,
// endpoints, a DaemonSet, a Job, rolling update and undo, a node pool that
// dies and is replaced, garbage collection and namespace deletion.
func TestControlPlane(t *testing.T) {
	t.Parallel()
	c := startServer(t, "--node-monitor-grace-period=4s", "--default-not-ready-toleration-seconds=2", "--default-unreachable-toleration-seconds=2")
	sim := c.startNodes(t, "sim", 3)
	c.eventually(t, 30*time.Second, "3 Ready nodes", func() (bool, string) {
		out, _ := c.kubectl("get", "nodes", "--no-headers")
		return strings.Count(out, " Ready ") == 3, out
	})
	c.must(t, "taint", "taint", "node", "sim-0", "dedicated=db:NoSchedule")
	c.must(t, "namespace", "create", "namespace", "demo")
	manifest := filepath.Join(c.dir, "app.yaml")
	if err := os.WriteFile(manifest, []byte(controlPlaneApp), 0o600); err != nil {
		t.Fatal(err)
	}
	c.must(t, "apply", "apply", "-f", manifest)
	c.must(t, "rollout", "rollout", "status", "deploy/web", "-n", "demo", "--timeout=25s")

	nodes := c.webNodes(t)
	if len(nodes) != 6 {
		t.Fatalf("running web pods on %v, want 6", nodes)
	}
	perNode := map[string]int{}
	for _, n := range nodes {
		perNode[n]++
	}
	if perNode["sim-0"] != 0 || perNode["sim-1"] != 3 || perNode["sim-2"] != 3 {
		t.Errorf("web pods per node %v: want none on the tainted sim-0 and 3 on each of the others", perNode)
	}
	c.eventually(t, 20*time.Second, "6 ready endpoints", func() (bool, string) {
		out, _ := c.kubectl("get", "endpointslices", "-n", "demo", "-l", "kubernetes.io/service-name=web",
			"-o", `jsonpath={range .items[*].endpoints[?(@.conditions.ready==true)]}{.addresses[0]}{"\n"}{end}`)
		return len(strings.Fields(out)) == 6, out
	})
	c.eventually(t, 20*time.Second, "FailedScheduling event for the oversized pod", func() (bool, string) {
		out, _ := c.kubectl("get", "events", "-n", "demo", "--field-selector", "involvedObject.name=big")
		return strings.Contains(out, "FailedScheduling") && strings.Contains(out, "Insufficient cpu"), out
	})
	if out := c.must(t, "big pod", "get", "pod", "big", "-n", "demo", "-o", "jsonpath={.status.phase}"); out != "Pending" {
		t.Errorf("oversized pod is %q, want Pending", out)
	}
	c.eventually(t, 20*time.Second, "daemonset on the 2 untainted nodes", func() (bool, string) {
		out, _ := c.kubectl("get", "pods", "-n", "demo", "-l", "app=agent", "--no-headers")
		return strings.Count(out, "Running") == 2, out
	})
	c.eventually(t, 30*time.Second, "job complete", func() (bool, string) {
		out, err := c.kubectl("wait", "--for=condition=complete", "job/once", "-n", "demo", "--timeout=2s")
		return err == nil, out
	})

	c.must(t, "set image", "set", "image", "deploy/web", "web=registry.local/web:2", "-n", "demo")
	c.must(t, "rolling update", "rollout", "status", "deploy/web", "-n", "demo", "--timeout=25s")
	c.eventually(t, 20*time.Second, "every running pod on web:2", func() (bool, string) {
		out, _ := c.kubectl("get", "pods", "-n", "demo", "-l", "app=web", "--field-selector=status.phase=Running",
			"-o", `jsonpath={range .items[*]}{.spec.containers[0].image}{"\n"}{end}`)
		return strings.Count(out, "web:2") == 6 && !strings.Contains(out, "web:1"), out
	})
	hist := c.must(t, "history", "rollout", "history", "deploy/web", "-n", "demo")
	if n := len(regexp.MustCompile(`(?m)^[0-9]+ `).FindAllString(hist, -1)); n != 2 {
		t.Errorf("rollout history lists %d revisions, want 2:\n%s", n, hist)
	}
	c.must(t, "undo", "rollout", "undo", "deploy/web", "-n", "demo")
	c.must(t, "undo completes", "rollout", "status", "deploy/web", "-n", "demo", "--timeout=25s")
	if img := c.must(t, "template", "get", "deploy", "web", "-n", "demo", "-o", "jsonpath={.spec.template.spec.containers[0].image}"); img != "registry.local/web:1" {
		t.Errorf("after undo the template runs %q, want registry.local/web:1", img)
	}

	// The whole node pool dies; another joins and takes the pods.
	sim.Kill()
	c.startNodes(t, "pool", 3)
	c.eventually(t, 30*time.Second, "old nodes NotReady", func() (bool, string) {
		out, _ := c.kubectl("get", "nodes", "--no-headers")
		return strings.Count(out, "NotReady") == 3, out
	})
	c.eventually(t, 40*time.Second, "pods moved to the new pool", func() (bool, string) {
		nodes := c.webNodes(t)
		moved := 0
		for _, n := range nodes {
			if strings.HasPrefix(n, "pool-") {
				moved++
			}
		}
		return moved == 6, fmt.Sprint(nodes)
	})

	c.must(t, "scale to 0", "scale", "deploy/web", "-n", "demo", "--replicas=0")
	c.eventually(t, 20*time.Second, "no web pods", func() (bool, string) {
		out, _ := c.kubectl("get", "pods", "-n", "demo", "-l", "app=web", "--no-headers")
		return out == "" || strings.Contains(out, "No resources"), out
	})
	c.must(t, "delete deployment", "delete", "deploy", "web", "-n", "demo")
	c.eventually(t, 20*time.Second, "replicasets collected", func() (bool, string) {
		out, _ := c.kubectl("get", "rs", "-n", "demo", "--no-headers")
		return !strings.Contains(out, "web-"), out
	})
	c.must(t, "delete namespace", "delete", "namespace", "demo", "--wait=false")
	c.eventually(t, 40*time.Second, "namespace and contents gone", func() (bool, string) {
		out, err := c.kubectl("get", "namespace", "demo")
		return err != nil && strings.Contains(out, "not found"), out
	})
}

// startNodes runs `sqlkube node --simulate n --name prefix` against the
// cluster until the test ends (or the test stops it).
func (c *cluster) startNodes(t *testing.T, prefix string, n int) *process {
	t.Helper()
	// Renewals well inside the test's short grace period, as a kubelet's
	// 10 s are inside the default 40 s.
	return startProcess(t, filepath.Join(c.dir, "node-"+prefix+".log"), "node", "--kubeconfig", c.kubeconfig,
		"--simulate", fmt.Sprint(n), "--name", prefix, "--lease-renew-interval=1s")
}

// must runs kubectl and fails the test if it fails.
func (c *cluster) must(t *testing.T, what string, args ...string) string {
	t.Helper()
	out, err := c.kubectl(args...)
	if err != nil {
		t.Fatalf("%s: kubectl %s: %v\n%s", what, strings.Join(args, " "), err, out)
	}
	return out
}

// eventually polls cond until it holds or timeout passes; cond returns
// what it saw, for the failure message.
func (c *cluster) eventually(t *testing.T, timeout time.Duration, what string, cond func() (bool, string)) {
	t.Helper()
	deadline := time.Now().Add(timeout)
	for {
		ok, seen := cond()
		if ok {
			return
		}
		if time.Now().After(deadline) {
			t.Fatalf("%s: not within %s; last seen:\n%s", what, timeout, seen)
		}
		time.Sleep(250 * time.Millisecond)
	}
}

// webNodes returns the node of every Running app=web pod in demo, sorted.
func (c *cluster) webNodes(t *testing.T) []string {
	out, _ := c.kubectl("get", "pods", "-n", "demo", "-l", "app=web", "--field-selector=status.phase=Running",
		"-o", `jsonpath={range .items[*]}{.spec.nodeName}{"\n"}{end}`)
	nodes := strings.Fields(out)
	sort.Strings(nodes)
	return nodes
}
