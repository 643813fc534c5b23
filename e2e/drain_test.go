package e2e

import (
	"strings"
	"testing"
	"time"
)

// TestKubectlDrainHonoursDisruptionBudget drains a node whose three pods
// a PodDisruptionBudget guards (minAvailable 2): kubectl must evict them
// one at a time, told to retry while the budget has no disruption left,
// and finish once the replacements run on the other node.
func TestKubectlDrainHonoursDisruptionBudget(t *testing.T) {
	t.Parallel()
	c := startServer(t)
	c.startNodes(t, "sim", 2)
	c.eventually(t, 30*time.Second, "2 Ready nodes", func() (bool, string) {
		out, _ := c.kubectl("get", "nodes", "--no-headers")
		return strings.Count(out, " Ready") == 2, out
	})
	// All three pods on sim-0.
	c.must(t, "cordon", "cordon", "sim-1")
	c.must(t, "namespace", "create", "namespace", "demo")
	c.must(t, "deployment", "create", "deployment", "web", "-n", "demo", "--image=registry.local/web:1", "--replicas=3")
	c.must(t, "rollout", "rollout", "status", "deploy/web", "-n", "demo", "--timeout=25s")
	c.must(t, "budget", "create", "pdb", "web", "-n", "demo", "--selector=app=web", "--min-available=2")
	c.must(t, "uncordon", "uncordon", "sim-1")
	c.eventually(t, 20*time.Second, "the budget allows one disruption", func() (bool, string) {
		out, _ := c.kubectl("get", "pdb", "web", "-n", "demo", "-o", "jsonpath={.status.disruptionsAllowed}/{.status.currentHealthy}/{.status.desiredHealthy}")
		return out == "1/3/2", out
	})

	out, err := c.kubectl("drain", "sim-0", "--ignore-daemonsets", "--timeout=25s")
	if err != nil {
		t.Fatalf("kubectl drain sim-0: %v\n%s", err, out)
	}
	if n := strings.Count(out, "evicted"); n != 3 {
		t.Errorf("drain evicted %d pods, want 3:\n%s", n, out)
	}
	if !strings.Contains(out, "violate the pod's disruption budget") {
		t.Errorf("drain never waited for the budget: three pods evicted at once?\n%s", out)
	}
	nodes := c.must(t, "pods", "get", "pods", "-n", "demo", "-l", "app=web", "--field-selector=status.phase=Running",
		"-o", `jsonpath={range .items[*]}{.spec.nodeName}{" "}{end}`)
	if strings.Count(nodes, "sim-1") != 3 || strings.Contains(nodes, "sim-0") {
		t.Errorf("running web pods on %q after the drain, want 3 on sim-1", nodes)
	}
	if out := c.must(t, "node", "get", "node", "sim-0", "--no-headers"); !strings.Contains(out, "SchedulingDisabled") {
		t.Errorf("drained node: %s, want SchedulingDisabled", out)
	}
}
