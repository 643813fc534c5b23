package node

import (
	"testing"
	"time"

	corev1 "k8s.io/api/core/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
)

func running(name string, ready bool) corev1.ContainerStatus {
	started := true
	return corev1.ContainerStatus{Name: name, Ready: ready, Started: &started,
		State: corev1.ContainerState{Running: &corev1.ContainerStateRunning{}}}
}

func exited(name string, code int32) corev1.ContainerStatus {
	return corev1.ContainerStatus{Name: name, State: corev1.ContainerState{Terminated: &corev1.ContainerStateTerminated{ExitCode: code}}}
}

func waiting(name string, crashed bool) corev1.ContainerStatus {
	s := corev1.ContainerStatus{Name: name, State: corev1.ContainerState{Waiting: &corev1.ContainerStateWaiting{Reason: "ContainerCreating"}}}
	if crashed {
		s.LastTerminationState.Terminated = &corev1.ContainerStateTerminated{ExitCode: 1}
	}
	return s
}

func spec(policy corev1.RestartPolicy, init []string, containers ...string) *corev1.PodSpec {
	s := &corev1.PodSpec{RestartPolicy: policy}
	for _, n := range init {
		s.InitContainers = append(s.InitContainers, corev1.Container{Name: n})
	}
	for _, n := range containers {
		s.Containers = append(s.Containers, corev1.Container{Name: n})
	}
	return s
}

func TestPhase(t *testing.T) {
	always := corev1.ContainerRestartPolicyAlways
	sidecar := spec(corev1.RestartPolicyNever, nil, "a")
	sidecar.InitContainers = []corev1.Container{{Name: "side", RestartPolicy: &always}}
	tests := []struct {
		name       string
		spec       *corev1.PodSpec
		init, cont []corev1.ContainerStatus
		want       corev1.PodPhase
	}{
		{"nothing reported", spec(corev1.RestartPolicyAlways, nil, "a"), nil, nil, corev1.PodPending},
		{"all running", spec(corev1.RestartPolicyAlways, nil, "a", "b"), nil, []corev1.ContainerStatus{running("a", true), running("b", false)}, corev1.PodRunning},
		{"one still creating", spec(corev1.RestartPolicyAlways, nil, "a", "b"), nil, []corev1.ContainerStatus{running("a", true), waiting("b", false)}, corev1.PodPending},
		{"one container unknown", spec(corev1.RestartPolicyAlways, nil, "a", "b"), nil, []corev1.ContainerStatus{running("a", true)}, corev1.PodPending},
		{"init container running", spec(corev1.RestartPolicyAlways, []string{"i"}, "a"), []corev1.ContainerStatus{running("i", false)}, nil, corev1.PodPending},
		{"init done, running", spec(corev1.RestartPolicyAlways, []string{"i"}, "a"), []corev1.ContainerStatus{exited("i", 0)}, []corev1.ContainerStatus{running("a", true)}, corev1.PodRunning},
		{"init failed, Never", spec(corev1.RestartPolicyNever, []string{"i"}, "a"), []corev1.ContainerStatus{exited("i", 2)}, nil, corev1.PodFailed},
		{"init failed, OnFailure retries", spec(corev1.RestartPolicyOnFailure, []string{"i"}, "a"), []corev1.ContainerStatus{exited("i", 2)}, nil, corev1.PodPending},
		{"sidecar started, main running", sidecar, []corev1.ContainerStatus{running("side", true)}, []corev1.ContainerStatus{running("a", true)}, corev1.PodRunning},
		{"sidecar not started", sidecar, []corev1.ContainerStatus{waiting("side", false)}, nil, corev1.PodPending},
		{"Never, all exit 0", spec(corev1.RestartPolicyNever, nil, "a", "b"), nil, []corev1.ContainerStatus{exited("a", 0), exited("b", 0)}, corev1.PodSucceeded},
		{"Never, one failed", spec(corev1.RestartPolicyNever, nil, "a", "b"), nil, []corev1.ContainerStatus{exited("a", 0), exited("b", 1)}, corev1.PodFailed},
		{"Never, one still running", spec(corev1.RestartPolicyNever, nil, "a", "b"), nil, []corev1.ContainerStatus{exited("a", 0), running("b", true)}, corev1.PodRunning},
		{"OnFailure, all exit 0", spec(corev1.RestartPolicyOnFailure, nil, "a"), nil, []corev1.ContainerStatus{exited("a", 0)}, corev1.PodSucceeded},
		{"OnFailure, failed restarts", spec(corev1.RestartPolicyOnFailure, nil, "a"), nil, []corev1.ContainerStatus{exited("a", 1)}, corev1.PodRunning},
		{"Always, exited restarts", spec(corev1.RestartPolicyAlways, nil, "a"), nil, []corev1.ContainerStatus{exited("a", 0)}, corev1.PodRunning},
		{"Always, crash loop back-off", spec(corev1.RestartPolicyAlways, nil, "a"), nil, []corev1.ContainerStatus{waiting("a", true)}, corev1.PodRunning},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			if got := Phase(tt.spec, tt.init, tt.cont); got != tt.want {
				t.Errorf("Phase = %s, want %s", got, tt.want)
			}
		})
	}
}

func podCondition(st corev1.PodStatus, t corev1.PodConditionType) corev1.PodCondition {
	for _, c := range st.Conditions {
		if c.Type == t {
			return c
		}
	}
	return corev1.PodCondition{}
}

func TestPodStatus(t *testing.T) {
	start := t0.Add(-time.Minute)
	earlier := metav1.NewTime(t0.Add(-time.Hour))
	base := func() *corev1.Pod {
		return &corev1.Pod{
			Spec:   *spec(corev1.RestartPolicyAlways, []string{"init"}, "b", "a"),
			Status: corev1.PodStatus{Phase: corev1.PodPending, QOSClass: corev1.PodQOSBestEffort},
		}
	}
	sandbox := SandboxStatus{HostIP: "127.0.0.1", PodIP: "10.128.0.2", StartTime: start,
		InitContainers: []corev1.ContainerStatus{exited("init", 0)},
		Containers:     []corev1.ContainerStatus{running("a", true), running("b", true)}}

	t.Run("running and ready", func(t *testing.T) {
		pod := base()
		pod.Status.Conditions = []corev1.PodCondition{
			{Type: corev1.PodScheduled, Status: corev1.ConditionTrue, LastTransitionTime: earlier},
			{Type: "example.com/gate", Status: corev1.ConditionFalse},
		}
		st := PodStatus(pod, sandbox, t0)
		if st.Phase != corev1.PodRunning || st.PodIP != "10.128.0.2" || len(st.PodIPs) != 1 || st.PodIPs[0].IP != "10.128.0.2" {
			t.Errorf("phase/IPs = %s %s %v", st.Phase, st.PodIP, st.PodIPs)
		}
		if st.HostIP != "127.0.0.1" || len(st.HostIPs) != 1 || !st.StartTime.Time.Equal(start) || st.QOSClass != corev1.PodQOSBestEffort {
			t.Errorf("hostIP/startTime/qos = %s %v %v %s", st.HostIP, st.HostIPs, st.StartTime, st.QOSClass)
		}
		for _, c := range []corev1.PodConditionType{corev1.PodReadyToStartContainers, corev1.PodInitialized, corev1.PodReady, corev1.ContainersReady, corev1.PodScheduled} {
			if got := podCondition(st, c); got.Status != corev1.ConditionTrue {
				t.Errorf("%s = %+v, want True", c, got)
			}
		}
		if got := podCondition(st, corev1.PodScheduled).LastTransitionTime; !got.Equal(&earlier) {
			t.Errorf("PodScheduled transition = %v, want the old %v", got, earlier)
		}
		if got := podCondition(st, corev1.PodReady).LastTransitionTime.Time; !got.Equal(t0) {
			t.Errorf("Ready transition = %v, want %v", got, t0)
		}
		if got := podCondition(st, "example.com/gate"); got.Status != corev1.ConditionFalse {
			t.Errorf("foreign condition not kept: %+v", st.Conditions)
		}
		if len(st.ContainerStatuses) != 2 || st.ContainerStatuses[0].Name != "b" || st.ContainerStatuses[1].Name != "a" {
			t.Errorf("container statuses not in spec order: %+v", st.ContainerStatuses)
		}
		if len(st.InitContainerStatuses) != 1 {
			t.Errorf("init statuses = %+v", st.InitContainerStatuses)
		}
	})

	t.Run("readiness gate holds Ready back", func(t *testing.T) {
		pod := base()
		pod.Spec.ReadinessGates = []corev1.PodReadinessGate{{ConditionType: "example.com/gate"}}
		st := PodStatus(pod, sandbox, t0)
		if podCondition(st, corev1.ContainersReady).Status != corev1.ConditionTrue {
			t.Error("ContainersReady not True")
		}
		if c := podCondition(st, corev1.PodReady); c.Status != corev1.ConditionFalse || c.Reason != "ReadinessGatesNotReady" {
			t.Errorf("Ready = %+v, want False ReadinessGatesNotReady", c)
		}
		pod.Status.Conditions = []corev1.PodCondition{{Type: "example.com/gate", Status: corev1.ConditionTrue}}
		if c := podCondition(PodStatus(pod, sandbox, t0), corev1.PodReady); c.Status != corev1.ConditionTrue {
			t.Errorf("Ready with the gate True = %+v", c)
		}
	})

	t.Run("unready container", func(t *testing.T) {
		sb := sandbox
		sb.Containers = []corev1.ContainerStatus{running("a", false), running("b", true)}
		c := podCondition(PodStatus(base(), sb, t0), corev1.PodReady)
		if c.Status != corev1.ConditionFalse || c.Reason != "ContainersNotReady" || c.Message != "containers with unready status: [a]" {
			t.Errorf("Ready = %+v", c)
		}
	})

	t.Run("completed", func(t *testing.T) {
		pod := base()
		pod.Spec.RestartPolicy = corev1.RestartPolicyNever
		sb := sandbox
		sb.Containers = []corev1.ContainerStatus{exited("a", 0), exited("b", 0)}
		st := PodStatus(pod, sb, t0)
		if st.Phase != corev1.PodSucceeded {
			t.Fatalf("phase = %s", st.Phase)
		}
		for _, typ := range []corev1.PodConditionType{corev1.PodReady, corev1.ContainersReady} {
			if c := podCondition(st, typ); c.Status != corev1.ConditionFalse || c.Reason != "PodCompleted" {
				t.Errorf("%s = %+v, want False PodCompleted", typ, c)
			}
		}
		if c := podCondition(st, corev1.PodReadyToStartContainers); c.Status != corev1.ConditionFalse {
			t.Errorf("sandbox condition of a finished pod = %+v", c)
		}
		if c := podCondition(st, corev1.PodInitialized); c.Status != corev1.ConditionTrue {
			t.Errorf("Initialized = %+v", c)
		}
	})

	t.Run("init pending", func(t *testing.T) {
		sb := sandbox
		sb.InitContainers = []corev1.ContainerStatus{running("init", false)}
		sb.Containers = nil
		st := PodStatus(base(), sb, t0)
		c := podCondition(st, corev1.PodInitialized)
		if st.Phase != corev1.PodPending || c.Status != corev1.ConditionFalse || c.Message != "containers with incomplete status: [init]" {
			t.Errorf("phase %s, Initialized %+v", st.Phase, c)
		}
	})
}
