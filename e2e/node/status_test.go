package node

import (
	"regexp"
	"strings"
	"testing"
	"time"
)

func testProbes(t *testing.T, e *env) {
	ns := e.namespace(t, "probes")
	e.apply(t, ns, e.busyboxPod("readiness", "exec httpd -f -p 8080 -h /www",
		"readinessProbe: {httpGet: {path: /ready, port: 8080}, periodSeconds: 1, failureThreshold: 1}")+"---\n"+
		e.busyboxPod("liveness", "touch /tmp/ok; sleep 3600",
			"livenessProbe: {exec: {command: [test, -f, /tmp/ok]}, periodSeconds: 1, failureThreshold: 1}")+"---\n"+
		e.busyboxPod("startup", "sleep 3600",
			"startupProbe: {exec: {command: [test, -f, /tmp/started]}, periodSeconds: 1, failureThreshold: 600}, "+
				"readinessProbe: {exec: {command: [\"true\"]}, periodSeconds: 1}"))

	t.Run("readiness gates Ready", func(t *testing.T) {
		e.waitFor(t, 60*time.Second, ns, "pod/readiness", "{.status.containerStatuses[0].state.running.startedAt}", ".")
		if got := e.jsonpath(ns, "pod/readiness", `{.status.conditions[?(@.type=="Ready")].status}`); got != "False" {
			t.Errorf("Ready is %q while /ready is 404, want False", got)
		}
		e.must(t, "exec", "-n", ns, "readiness", "--", "touch", "/www/ready")
		e.waitReady(t, ns, "readiness")
		e.must(t, "exec", "-n", ns, "readiness", "--", "rm", "/www/ready")
		e.waitFor(t, 30*time.Second, ns, "pod/readiness", `{.status.conditions[?(@.type=="Ready")].status}`, "^False$")
		if rc := e.jsonpath(ns, "pod/readiness", "{.status.containerStatuses[0].restartCount}"); rc != "0" {
			t.Errorf("a failing readiness probe restarted the container: restartCount %s", rc)
		}
	})

	t.Run("failing liveness restarts", func(t *testing.T) {
		e.waitFor(t, 60*time.Second, ns, "pod/liveness", "{.status.containerStatuses[0].state.running.startedAt}", ".")
		id := e.jsonpath(ns, "pod/liveness", "{.status.containerStatuses[0].containerID}")
		e.must(t, "exec", "-n", ns, "liveness", "--", "rm", "/tmp/ok")
		e.waitFor(t, 60*time.Second, ns, "pod/liveness", "{.status.containerStatuses[0].restartCount}", "^[1-9]")
		e.waitFor(t, 60*time.Second, ns, "pod/liveness", "{.status.containerStatuses[0].state.running.startedAt}", ".")
		if id2 := e.jsonpath(ns, "pod/liveness", "{.status.containerStatuses[0].containerID}"); id2 == id {
			t.Errorf("restarted container kept its ID %s", id)
		}
		if got := e.jsonpath(ns, "pod/liveness", "{.status.containerStatuses[0].lastState.terminated.exitCode}"); got != "137" && got != "143" {
			t.Errorf("lastState.terminated.exitCode %q, want 137 or 143 (killed)", got)
		}
		out := e.must(t, "get", "events", "-n", ns, "--field-selector", "involvedObject.name=liveness")
		if !regexp.MustCompile(`Unhealthy.*Liveness probe failed`).MatchString(out) {
			t.Errorf("no Unhealthy event for the liveness probe:\n%s", out)
		}
	})

	t.Run("startup probe delays readiness", func(t *testing.T) {
		e.waitFor(t, 60*time.Second, ns, "pod/startup", "{.status.containerStatuses[0].state.running.startedAt}", ".")
		if got := e.jsonpath(ns, "pod/startup", "{.status.containerStatuses[0].started} {.status.containerStatuses[0].ready}"); got != "false false" {
			t.Errorf("before the startup probe succeeds: started ready = %q, want false false", got)
		}
		e.must(t, "exec", "-n", ns, "startup", "--", "touch", "/tmp/started")
		e.waitReady(t, ns, "startup")
		if got := e.jsonpath(ns, "pod/startup", "{.status.containerStatuses[0].started}"); got != "true" {
			t.Errorf("Ready but started = %q", got)
		}
	})
}

func testOOM(t *testing.T, e *env) {
	ns := e.namespace(t, "oom")
	const hog = `x=$(head -c 64m /dev/zero | tr "\0" a); echo survived`
	limits := "resources: {limits: {memory: 16Mi}}"
	e.apply(t, ns, e.busyboxPod("always", hog, limits)+"---\n"+e.busyboxPod("never", hog, limits)+"  restartPolicy: Never\n")
	e.waitFor(t, 90*time.Second, ns, "pod/always",
		"{.status.containerStatuses[0].lastState.terminated.reason} {.status.containerStatuses[0].restartCount}", `^OOMKilled [1-9]`)
	e.waitFor(t, 60*time.Second, ns, "pod/never", "{.status.containerStatuses[0].state.terminated.reason}", `^OOMKilled$`)
	if got := e.jsonpath(ns, "pod/never", "{.status.phase}"); got != "Failed" {
		t.Errorf("phase of the OOM-killed pod with restartPolicy Never: %q, want Failed", got)
	}
	out := e.must(t, "get", "pod", "-n", ns, "never")
	if !strings.Contains(out, "OOMKilled") {
		t.Errorf("kubectl get pod does not show OOMKilled:\n%s", out)
	}
}

func testBadInput(t *testing.T, e *env) {
	ns := e.namespace(t, "bad")
	e.must(t, "create", "configmap", "cfg", "-n", ns, "--from-literal=present=1")
	e.apply(t, ns, e.busyboxPod("missing-key", "sleep 3600",
		"env: [{name: X, valueFrom: {configMapKeyRef: {name: cfg, key: absent}}}]")+"---\n"+
		`apiVersion: v1
kind: Pod
metadata: {name: missing-command}
spec:
  containers: [{name: c, image: `+e.image+`, command: [/no/such/binary]}]
---
apiVersion: v1
kind: Pod
metadata: {name: missing-image}
spec:
  containers: [{name: c, image: `+strings.Replace(e.image, "busybox:1", "does-not-exist:1", 1)+`}]
---
`+e.busyboxPod("missing-volume", "sleep 3600", "volumeMounts: [{name: v, mountPath: /v}]")+
		"  volumes: [{name: v, configMap: {name: no-such-configmap}}]\n")

	status := func(pod string) string {
		out, _ := e.kubectl("get", "pod", "-n", ns, pod, "--no-headers")
		return out
	}
	for _, tc := range []struct{ pod, want string }{
		{"missing-key", `CreateContainerConfigError`},
		{"missing-command", `StartError|CrashLoopBackOff`},
		{"missing-image", `ErrImagePull|ImagePullBackOff`},
		{"missing-volume", `ContainerCreating`},
	} {
		t.Run(tc.pod, func(t *testing.T) {
			re := regexp.MustCompile(`^` + tc.pod + ` +0/1 +(` + tc.want + `) `)
			var last string
			e.eventually(t, 90*time.Second, "kubectl get pod "+tc.pod+" shows "+tc.want, func() bool {
				last = status(tc.pod)
				return re.MatchString(last)
			}, func() string { return last })
		})
	}
	t.Run("FailedMount event", func(t *testing.T) {
		var out string
		e.eventually(t, 60*time.Second, "a FailedMount event for missing-volume", func() bool {
			out, _ = e.kubectl("get", "events", "-n", ns, "--field-selector", "involvedObject.name=missing-volume")
			return regexp.MustCompile(`Warning +FailedMount .*no-such-configmap`).MatchString(out)
		}, func() string { return out })
		if s := status("missing-volume"); !strings.Contains(s, "ContainerCreating") {
			t.Errorf("missing-volume: %s", s)
		}
	})
	t.Run("missing-command reason", func(t *testing.T) {
		e.waitFor(t, 60*time.Second, ns, "pod/missing-command",
			"{.status.containerStatuses[0].lastState.terminated.reason}", "^StartError$")
	})
	t.Run("other pods still run", func(t *testing.T) {
		e.apply(t, ns, e.busyboxPod("good", "sleep 3600", ""))
		e.waitReady(t, ns, "good")
		if out := e.must(t, "exec", "-n", ns, "good", "--", "echo", "fine"); out != "fine" {
			t.Errorf("exec in a good pod beside the bad ones: %q", out)
		}
	})
}
