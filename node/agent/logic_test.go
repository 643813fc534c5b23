package agent

import (
	"testing"
	"time"

	corev1 "k8s.io/api/core/v1"
	"k8s.io/apimachinery/pkg/util/intstr"

	"github.com/sqlkube/sqlkube/node/runtime"
)

func TestBackoff(t *testing.T) {
	t0 := time.Date(2026, 12, 4, 12, 0, 0, 0, time.UTC)
	b := &backoff{}
	// The first failure restarts at once.
	if _, blocked := b.blockedUntil(t0, t0); blocked {
		t.Fatal("first failure must not wait")
	}
	b.step(t0, t0)
	// The second waits 10 s after it finished, the third 20 s, up to 5 min.
	finished := t0.Add(time.Second)
	until, blocked := b.blockedUntil(finished, finished)
	if !blocked || until != finished.Add(10*time.Second) {
		t.Fatalf("second failure: until %v blocked %v, want 10 s after it finished", until, blocked)
	}
	if _, blocked := b.blockedUntil(finished, until); blocked {
		t.Fatal("still blocked once the delay passed")
	}
	b.step(finished, until)
	if b.delay != 20*time.Second {
		t.Fatalf("delay %v after the second restart, want 20s", b.delay)
	}
	for range 10 {
		b.step(until, until)
	}
	if b.delay != backoffMax {
		t.Fatalf("delay %v, want capped at %v", b.delay, backoffMax)
	}
	// A container that ran well for twice the longest delay starts over.
	late := b.updated.Add(2*backoffMax + time.Second)
	if _, blocked := b.blockedUntil(late, late); blocked {
		t.Fatal("a container that ran long must restart at once")
	}
	b.step(late, late)
	if b.delay != backoffInitial {
		t.Fatalf("delay %v after a long run, want %v", b.delay, backoffInitial)
	}
}

func TestRestartable(t *testing.T) {
	w := &podWorker{startErr: map[string]string{"failed-start": "exec: not found"}}
	ok := runtime.ContainerStatus{ID: "a", State: runtime.StateExited, ExitCode: 0}
	bad := runtime.ContainerStatus{ID: "b", State: runtime.StateExited, ExitCode: 3}
	noStart := runtime.ContainerStatus{ID: "failed-start", State: runtime.StateCreated}
	for _, tc := range []struct {
		policy corev1.RestartPolicy
		c      runtime.ContainerStatus
		want   bool
	}{
		{corev1.RestartPolicyAlways, ok, true},
		{corev1.RestartPolicyAlways, bad, true},
		{corev1.RestartPolicyOnFailure, ok, false},
		{corev1.RestartPolicyOnFailure, bad, true},
		{corev1.RestartPolicyOnFailure, noStart, true},
		{corev1.RestartPolicyNever, bad, false},
	} {
		if got := restartable(tc.policy, w, tc.c); got != tc.want {
			t.Errorf("restartable(%s, exit %d, state %s) = %v, want %v", tc.policy, tc.c.ExitCode, tc.c.State, got, tc.want)
		}
	}
}

func TestContainerStatus(t *testing.T) {
	started := time.Date(2026, 12, 4, 12, 0, 0, 0, time.UTC)
	c := &corev1.Container{Name: "web", Image: "busybox:1"}
	running := runtime.ContainerStatus{ID: "u-web-2", State: runtime.StateRunning, StartedAt: started,
		Labels: map[string]string{labelAttempt: "2"}, Image: runtime.ImageInfo{ID: "r/busybox@sha256:1"}}
	exited := runtime.ContainerStatus{ID: "u-web-1", State: runtime.StateExited, ExitCode: 137, Reason: "OOMKilled",
		StartedAt: started.Add(-time.Minute), FinishedAt: started.Add(-time.Second), Labels: map[string]string{labelAttempt: "1"}}
	a := &Agent{}
	tests := []struct {
		name    string
		waiting map[string]corev1.ContainerStateWaiting
		cs      []runtime.ContainerStatus
		check   func(t *testing.T, st corev1.ContainerStatus)
	}{{
		name: "not created yet",
		cs:   nil,
		check: func(t *testing.T, st corev1.ContainerStatus) {
			if st.State.Waiting == nil || st.State.Waiting.Reason != "ContainerCreating" {
				t.Errorf("state %+v, want waiting ContainerCreating", st.State)
			}
		},
	}, {
		name:    "image pull failed",
		waiting: map[string]corev1.ContainerStateWaiting{"web": {Reason: "ErrImagePull", Message: "not found"}},
		check: func(t *testing.T, st corev1.ContainerStatus) {
			if st.State.Waiting == nil || st.State.Waiting.Reason != "ErrImagePull" {
				t.Errorf("state %+v, want waiting ErrImagePull", st.State)
			}
		},
	}, {
		name: "running after an OOM kill",
		cs:   []runtime.ContainerStatus{running, exited},
		check: func(t *testing.T, st corev1.ContainerStatus) {
			if st.State.Running == nil || !st.State.Running.StartedAt.Time.Equal(started) {
				t.Errorf("state %+v, want running since %v", st.State, started)
			}
			if st.RestartCount != 2 || !st.Ready || st.ContainerID != "containerd://u-web-2" || st.ImageID != "r/busybox@sha256:1" {
				t.Errorf("status %+v", st)
			}
			if lt := st.LastTerminationState.Terminated; lt == nil || lt.Reason != "OOMKilled" || lt.ExitCode != 137 {
				t.Errorf("lastState %+v, want terminated OOMKilled 137", st.LastTerminationState)
			}
		},
	}, {
		name:    "in back-off",
		waiting: map[string]corev1.ContainerStateWaiting{"web": {Reason: "CrashLoopBackOff"}},
		cs:      []runtime.ContainerStatus{exited},
		check: func(t *testing.T, st corev1.ContainerStatus) {
			if st.State.Waiting == nil || st.State.Waiting.Reason != "CrashLoopBackOff" {
				t.Errorf("state %+v, want waiting CrashLoopBackOff", st.State)
			}
			if st.LastTerminationState.Terminated == nil || st.RestartCount != 1 {
				t.Errorf("status %+v, want the last attempt as lastState and restartCount 1", st)
			}
		},
	}, {
		name: "exited for good",
		cs:   []runtime.ContainerStatus{{ID: "u-web-0", State: runtime.StateExited, ExitCode: 0, Labels: map[string]string{labelAttempt: "0"}}},
		check: func(t *testing.T, st corev1.ContainerStatus) {
			if tt := st.State.Terminated; tt == nil || tt.Reason != "Completed" || tt.ExitCode != 0 {
				t.Errorf("state %+v, want terminated Completed", st.State)
			}
		},
	}}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			w := &podWorker{waiting: tc.waiting, startErr: map[string]string{}, probes: map[string]*probeState{}}
			if w.waiting == nil {
				w.waiting = map[string]corev1.ContainerStateWaiting{}
			}
			tc.check(t, a.containerStatus(w, c, tc.cs, "ContainerCreating"))
		})
	}
}

func TestStartErrorIsTerminated128(t *testing.T) {
	w := &podWorker{startErr: map[string]string{"x": `exec: "nope": executable file not found in $PATH`}}
	got := terminated(w, runtime.ContainerStatus{ID: "x", State: runtime.StateCreated, CreatedAt: time.Now()})
	if got.ExitCode != 128 || got.Reason != "StartError" || got.Message == "" || got.FinishedAt.IsZero() {
		t.Fatalf("terminated %+v, want 128 StartError with the message", got)
	}
}

func TestResolvConf(t *testing.T) {
	two := "2"
	pod := &corev1.Pod{Spec: corev1.PodSpec{
		DNSPolicy: corev1.DNSNone,
		DNSConfig: &corev1.PodDNSConfig{
			Nameservers: []string{"10.0.0.10"},
			Searches:    []string{"ns.svc.cluster.local"},
			Options:     []corev1.PodDNSConfigOption{{Name: "ndots", Value: &two}, {Name: "edns0"}},
		},
	}}
	want := "search ns.svc.cluster.local\nnameserver 10.0.0.10\noptions ndots:2 edns0\n"
	if got := string(resolvConf(pod)); got != want {
		t.Fatalf("resolv.conf:\n%s\nwant:\n%s", got, want)
	}
}

func TestProbeURL(t *testing.T) {
	c := &corev1.Container{Name: "web", Ports: []corev1.ContainerPort{{Name: "http", ContainerPort: 8080}}}
	for _, tc := range []struct {
		name string
		h    corev1.HTTPGetAction
		want string
		err  bool
	}{
		{"named port", corev1.HTTPGetAction{Path: "/healthz", Port: intstr.FromString("http")}, "http://10.244.0.5:8080/healthz", false},
		{"number, https, no slash", corev1.HTTPGetAction{Path: "ready", Port: intstr.FromInt32(8443), Scheme: corev1.URISchemeHTTPS}, "https://10.244.0.5:8443/ready", false},
		{"host given", corev1.HTTPGetAction{Host: "127.0.0.1", Port: intstr.FromInt32(80)}, "http://127.0.0.1:80/", false},
		{"unknown port name", corev1.HTTPGetAction{Port: intstr.FromString("metrics")}, "", true},
		{"port out of range", corev1.HTTPGetAction{Port: intstr.FromInt32(70000)}, "", true},
	} {
		t.Run(tc.name, func(t *testing.T) {
			got, err := probeURL(&tc.h, c, "10.244.0.5")
			if (err != nil) != tc.err || got != tc.want {
				t.Fatalf("probeURL = %q, %v; want %q, error %v", got, err, tc.want, tc.err)
			}
		})
	}
}

func TestRegistryHost(t *testing.T) {
	for in, want := range map[string]string{
		"https://index.docker.io/v1/": "docker.io",
		"registry.example.com:5000":   "registry.example.com:5000",
		"http://127.0.0.1:5000/v2/":   "127.0.0.1:5000",
	} {
		if got := registryHost(in); got != want {
			t.Errorf("registryHost(%q) = %q, want %q", in, got, want)
		}
	}
}
