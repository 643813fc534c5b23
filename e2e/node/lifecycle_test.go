package node

import (
	"context"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"
	"time"
)

// ctr runs containerd's ctr in the agent's containerd namespace and returns
// its output lines.
func (e *env) ctr(t *testing.T, args ...string) []string {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	out, err := exec.CommandContext(ctx, "ctr", append([]string{"--address", e.containerd.Socket, "-n", "sqlkube"}, args...)...).CombinedOutput()
	if err != nil {
		t.Fatalf("ctr %v: %v\n%s", args, err, out)
	}
	var lines []string
	for _, l := range strings.Split(strings.TrimSpace(string(out)), "\n") {
		if l != "" {
			lines = append(lines, l)
		}
	}
	return lines
}

// containersOf lists the containerd containers of the pod with uid.
func (e *env) containersOf(t *testing.T, uid string) []string {
	t.Helper()
	return e.ctr(t, "containers", "ls", "-q", `labels."io.sqlkube.runtime/uid"==`+uid)
}

// podState is what must not change about a running pod when the agent or
// containerd restarts.
func (e *env) podState(ns, pod string) string {
	return e.jsonpath(ns, "pod/"+pod, `{.status.containerStatuses[0].containerID} {.status.containerStatuses[0].restartCount} `+
		`{.status.podIP} {.status.containerStatuses[0].state.running.startedAt} {.status.conditions[?(@.type=="Ready")].status}`)
}

func testAgentRestart(t *testing.T, e *env) {
	ns := e.namespace(t, "restart")
	e.apply(t, ns, e.busyboxPod("steady", "sleep 3600", "readinessProbe: {exec: {command: [\"true\"]}, periodSeconds: 1}")+"---\n"+
		e.busyboxPod("deleted", "sleep 3600", "")+"---\n"+e.busyboxPod("forced", "sleep 3600", "")+"---\n"+
		e.busyboxPod("done", "echo done", "")+"  restartPolicy: Never\n")
	for _, p := range []string{"steady", "deleted", "forced"} {
		e.waitReady(t, ns, p)
	}
	e.waitFor(t, 60*time.Second, ns, "pod/done", "{.status.phase}", "^Succeeded$")
	before := e.podState(ns, "steady")
	doneStatus := func() string { return e.jsonpath(ns, "pod/done", "{.status.podIP} {.status.containerStatuses}") }
	doneBefore := doneStatus()
	doneUID := e.jsonpath(ns, "pod/done", "{.metadata.uid}")
	doneContainers := e.containersOf(t, doneUID)
	deletedUID := e.jsonpath(ns, "pod/deleted", "{.metadata.uid}")
	forcedUID := e.jsonpath(ns, "pod/forced", "{.metadata.uid}")
	if len(e.containersOf(t, deletedUID)) == 0 || len(e.containersOf(t, forcedUID)) == 0 {
		t.Fatal("the pods' containers are not labelled with their pod's UID")
	}

	e.stopAgent(t)
	e.must(t, "delete", "pod", "-n", ns, "deleted", "--wait=false")
	e.must(t, "delete", "pod", "-n", ns, "forced", "--grace-period=0", "--force")
	e.startAgent(t)

	e.eventually(t, 60*time.Second, "the pod deleted while the agent was down is gone", func() bool {
		_, err := e.kubectl("get", "pod", "-n", ns, "deleted")
		return err != nil
	})
	e.eventually(t, 60*time.Second, "the containers of both deleted pods are removed", func() bool {
		return len(e.containersOf(t, deletedUID)) == 0 && len(e.containersOf(t, forcedUID)) == 0
	})
	// The new agent has synced: the steady pod is as it was.
	if after := e.podState(ns, "steady"); after != before {
		t.Errorf("after the agent restarted, pod steady changed:\nbefore %s\nafter  %s", before, after)
	}
	if out := e.must(t, "exec", "-n", ns, "steady", "--", "echo", "alive"); out != "alive" {
		t.Errorf("exec after the agent restarted: %q", out)
	}
	// A finished pod stays as it finished: no new sandbox, IP or run.
	if after := doneStatus(); after != doneBefore {
		t.Errorf("after the agent restarted, the status of the succeeded pod changed:\nbefore %s\nafter  %s", doneBefore, after)
	}
	if after := e.containersOf(t, doneUID); strings.Join(after, " ") != strings.Join(doneContainers, " ") {
		t.Errorf("after the agent restarted, the containers of the succeeded pod are %v, were %v", after, doneContainers)
	}
}

func testContainerdRestart(t *testing.T, e *env) {
	ns := e.namespace(t, "ctrd")
	e.apply(t, ns, e.busyboxPod("survivor", "sleep 3600", "readinessProbe: {exec: {command: [\"true\"]}, periodSeconds: 1}"))
	e.waitReady(t, ns, "survivor")
	before := e.podState(ns, "survivor")

	e.containerd.Stop()
	stopped := time.Now()
	e.waitFor(t, 30*time.Second, "", "node/n1", `{.status.conditions[?(@.type=="Ready")].status}`, "^(False|Unknown)$")
	t.Logf("node NotReady %s after containerd stopped", time.Since(stopped).Round(100*time.Millisecond))
	if err := e.containerd.Start(); err != nil {
		t.Fatal(err)
	}
	started := time.Now()
	e.waitFor(t, 60*time.Second, "", "node/n1", `{.status.conditions[?(@.type=="Ready")].status}`, "^True$")
	t.Logf("node Ready %s after containerd started again", time.Since(started).Round(100*time.Millisecond))
	e.waitReady(t, ns, "survivor")
	if after := e.podState(ns, "survivor"); after != before {
		t.Errorf("after containerd restarted, pod survivor changed:\nbefore %s\nafter  %s", before, after)
	}
	if out := e.must(t, "exec", "-n", ns, "survivor", "--", "echo", "alive"); out != "alive" {
		t.Errorf("exec after containerd restarted: %q", out)
	}
	// A new pod runs too.
	e.apply(t, ns, e.busyboxPod("newcomer", "sleep 3600", ""))
	e.waitReady(t, ns, "newcomer")
}

func testNoLeaks(t *testing.T, e *env) {
	e.must(t, "delete", "pods", "--all", "--all-namespaces", "--timeout=120s")
	var out string
	e.eventually(t, 60*time.Second, "no pods are left", func() bool {
		var err error
		out, err = e.kubectl("get", "pods", "-A", "--no-headers")
		return err == nil && out == "No resources found"
	}, func() string { return out })
	d := e.nodeDir
	checks := []struct {
		what string
		left func() []string
	}{
		{"containers", func() []string { return e.ctr(t, "containers", "ls", "-q") }},
		{"tasks", func() []string { return e.ctr(t, "tasks", "ls", "-q") }},
		{"active snapshots", func() []string {
			var active []string
			for _, l := range e.ctr(t, "snapshots", "ls") {
				if f := strings.Fields(l); len(f) == 3 && f[2] == "Active" {
					active = append(active, l)
				}
			}
			return active
		}},
		{"network namespaces", func() []string { return dirEntries(filepath.Join(d, "netns")) }},
		{"IP leases", func() []string {
			var leases []string
			for _, n := range dirEntries(filepath.Join(d, "cni", "ipam", "sqlkube")) {
				if !strings.HasPrefix(n, "last_reserved_ip") && n != "lock" {
					leases = append(leases, n)
				}
			}
			return leases
		}},
		{"log dirs", func() []string { return dirEntries(filepath.Join(d, "logs")) }},
		{"pod dirs", func() []string { return dirEntries(filepath.Join(d, "pods")) }},
		{"sandbox dirs", func() []string { return dirEntries(filepath.Join(d, "sandboxes")) }},
		{"mounts", func() []string { return mountsUnder(d) }},
	}
	for _, c := range checks {
		t.Run(c.what, func(t *testing.T) {
			var left []string
			e.eventually(t, 30*time.Second, "no "+c.what+" are left", func() bool {
				left = c.left()
				return len(left) == 0
			}, func() string { return strings.Join(left, "\n") })
		})
	}
}

// dirEntries lists the names in dir (none if it does not exist).
func dirEntries(dir string) []string {
	ents, _ := os.ReadDir(dir)
	var names []string
	for _, e := range ents {
		names = append(names, e.Name())
	}
	return names
}

// mountsUnder lists the mount points below dir, in the order mounted.
func mountsUnder(dir string) []string {
	var mounts []string
	data, _ := os.ReadFile("/proc/self/mountinfo")
	for _, l := range strings.Split(string(data), "\n") {
		if f := strings.Fields(l); len(f) > 4 && strings.HasPrefix(f[4], dir+"/") {
			mounts = append(mounts, f[4])
		}
	}
	return mounts
}
