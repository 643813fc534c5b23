package agent

import (
	"bytes"
	"strings"
	"time"

	corev1 "k8s.io/api/core/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"

	"github.com/sqlkube/sqlkube/node"
	"github.com/sqlkube/sqlkube/node/runtime"
)

// containerIDPrefix is how a containerd container's ID appears in status.
const containerIDPrefix = "containerd://"

// podStatus is the pod's status as the kubelet reports it, from what the
// runtime holds of its containers and what the worker knows of those
// that do not run.
func (a *Agent) podStatus(w *podWorker, pod *corev1.Pod, byName map[string][]runtime.ContainerStatus, now time.Time) corev1.PodStatus {
	s := node.SandboxStatus{HostIP: a.hostIP, StartTime: w.seen}
	if pod.Status.StartTime != nil {
		s.StartTime = pod.Status.StartTime.Time
	}
	switch {
	case w.sandbox != nil:
		s.PodIP = w.sandbox.IP
	case w.terminal:
		s.PodIP = pod.Status.PodIP
	}
	initDone := true
	for i := range pod.Spec.InitContainers {
		c := &pod.Spec.InitContainers[i]
		st := a.containerStatus(w, c, byName[c.Name], "PodInitializing")
		if st.State.Terminated == nil || st.State.Terminated.ExitCode != 0 {
			if !(c.RestartPolicy != nil && *c.RestartPolicy == corev1.ContainerRestartPolicyAlways && st.State.Running != nil) {
				initDone = false
			}
		}
		s.InitContainers = append(s.InitContainers, st)
	}
	waitReason := "ContainerCreating"
	if !initDone {
		waitReason = "PodInitializing"
	}
	for i := range pod.Spec.Containers {
		c := &pod.Spec.Containers[i]
		s.Containers = append(s.Containers, a.containerStatus(w, c, byName[c.Name], waitReason))
	}
	st := node.PodStatus(pod, s, now)
	if st.Phase == corev1.PodPending && pod.Status.Phase == corev1.PodPending && pod.Status.QOSClass != "" {
		st.QOSClass = pod.Status.QOSClass
	}
	return st
}

// containerStatus is the status of container c, whose attempts the
// runtime holds as cs (newest first).
func (a *Agent) containerStatus(w *podWorker, c *corev1.Container, cs []runtime.ContainerStatus, waitReason string) corev1.ContainerStatus {
	st := corev1.ContainerStatus{Name: c.Name, Image: c.Image}
	started := false
	st.Started = &started
	if len(cs) == 0 {
		why, ok := w.waiting[c.Name]
		if !ok || why.Reason == "" {
			why = corev1.ContainerStateWaiting{Reason: waitReason}
		}
		st.State.Waiting = &why
		return st
	}
	latest := cs[0]
	st.RestartCount = int32(attemptOf(latest))
	st.ContainerID = containerIDPrefix + latest.ID
	st.ImageID = latest.Image.ID
	if latest.Image.Ref != "" && st.ImageID == "" {
		st.ImageID = latest.Image.Ref
	}
	switch {
	case latest.State == runtime.StateRunning:
		st.State.Running = &corev1.ContainerStateRunning{StartedAt: metav1.NewTime(latest.StartedAt)}
		ps := w.probeState(latest.ID)
		started = ps == nil || ps.started.Load()
		st.Ready = started && (ps == nil && c.ReadinessProbe == nil || ps != nil && ps.ready.Load())
		if len(cs) > 1 {
			st.LastTerminationState.Terminated = terminated(w, cs[1])
		}
	default:
		if why, ok := w.waiting[c.Name]; ok && why.Reason != "" {
			st.State.Waiting = &why
			st.LastTerminationState.Terminated = terminated(w, latest)
		} else {
			st.State.Terminated = terminated(w, latest)
			if len(cs) > 1 {
				st.LastTerminationState.Terminated = terminated(w, cs[1])
			}
		}
	}
	return st
}

// terminated is the terminated state of a finished container; one whose
// start failed exited 128 with reason StartError, as under the kubelet.
func terminated(w *podWorker, c runtime.ContainerStatus) *corev1.ContainerStateTerminated {
	t := &corev1.ContainerStateTerminated{
		ExitCode:    c.ExitCode,
		Reason:      c.Reason,
		Message:     c.Message,
		StartedAt:   metav1.NewTime(c.StartedAt),
		FinishedAt:  metav1.NewTime(c.FinishedAt),
		ContainerID: containerIDPrefix + c.ID,
	}
	if msg, failed := w.startErr[c.ID]; failed || c.State == runtime.StateCreated {
		t.ExitCode, t.Reason, t.Message = 128, "StartError", msg
		if t.FinishedAt.IsZero() {
			t.FinishedAt = metav1.NewTime(c.CreatedAt)
		}
	}
	if t.Reason == "" {
		t.Reason = "Error"
		if t.ExitCode == 0 {
			t.Reason = "Completed"
		}
	}
	return t
}

// parseResolvConf returns the nameservers, search domains and options of
// a resolv.conf.
func parseResolvConf(b []byte) (servers, searches, options []string) {
	for _, line := range bytes.Split(b, []byte("\n")) {
		f := strings.Fields(string(line))
		if len(f) < 2 || strings.HasPrefix(f[0], "#") {
			continue
		}
		switch f[0] {
		case "nameserver":
			servers = append(servers, f[1])
		case "search":
			searches = f[1:]
		case "options":
			options = append(options, f[1:]...)
		}
	}
	return servers, searches, options
}

func formatResolvConf(servers, searches, options []string) []byte {
	var b bytes.Buffer
	if len(searches) > 0 {
		b.WriteString("search " + strings.Join(searches, " ") + "\n")
	}
	for _, s := range servers {
		b.WriteString("nameserver " + s + "\n")
	}
	if len(options) > 0 {
		b.WriteString("options " + strings.Join(options, " ") + "\n")
	}
	return b.Bytes()
}
