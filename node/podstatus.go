package node

import (
	"fmt"
	"strings"
	"time"

	corev1 "k8s.io/api/core/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
)

// SandboxStatus is what a runtime observes of one pod, the seam between a
// runtime and the status an agent reports: PodStatus turns it into the
// pod's API status.
type SandboxStatus struct {
	// HostIP is the node's IP.
	HostIP string
	// PodIP is the sandbox's IP; "" while it has none.
	PodIP string
	// StartTime is when the agent accepted the pod (status.startTime).
	StartTime time.Time
	// InitContainers and Containers are the runtime's view of each
	// container, in any order; a container missing from them is unknown.
	InitContainers []corev1.ContainerStatus
	Containers     []corev1.ContainerStatus
}

// Conditions the agent owns on a pod; others (readiness gates, disruption
// targets) belong to whoever set them and are kept as they are.
var ownedPodConditions = map[corev1.PodConditionType]bool{
	corev1.PodReadyToStartContainers: true,
	corev1.PodInitialized:            true,
	corev1.ContainersReady:           true,
	corev1.PodReady:                  true,
	corev1.PodScheduled:              true,
}

// IsOwnedPodCondition reports whether a pod condition of type t is one
// PodStatus computes (so an agent may drop it from what it caches).
func IsOwnedPodCondition(t corev1.PodConditionType) bool { return ownedPodConditions[t] }

// PodStatus returns pod's status given what its runtime observes, at now:
// the phase by the kubelet's rules (see Phase), the conditions
// PodReadyToStartContainers, Initialized, Ready, ContainersReady and
// PodScheduled, the host and pod IPs, startTime and the container
// statuses. Conditions that keep their status keep the lastTransitionTime
// found in pod.Status; others transition at now. Conditions PodStatus does
// not own are copied from pod.Status, and Ready also waits for the pod's
// readiness gates. pod is not modified.
func PodStatus(pod *corev1.Pod, s SandboxStatus, now time.Time) corev1.PodStatus {
	phase := Phase(&pod.Spec, s.InitContainers, s.Containers)
	terminal := phase == corev1.PodSucceeded || phase == corev1.PodFailed
	st := corev1.PodStatus{
		Phase:                 phase,
		HostIP:                s.HostIP,
		PodIP:                 s.PodIP,
		QOSClass:              pod.Status.QOSClass,
		InitContainerStatuses: ordered(pod.Spec.InitContainers, s.InitContainers),
		ContainerStatuses:     ordered(pod.Spec.Containers, s.Containers),
	}
	if s.HostIP != "" {
		st.HostIPs = []corev1.HostIP{{IP: s.HostIP}}
	}
	if s.PodIP != "" {
		st.PodIPs = []corev1.PodIP{{IP: s.PodIP}}
	}
	if !s.StartTime.IsZero() {
		t := metav1.NewTime(s.StartTime)
		st.StartTime = &t
	}

	old := map[corev1.PodConditionType]corev1.PodCondition{}
	for _, c := range pod.Status.Conditions {
		old[c.Type] = c
	}
	cond := func(t corev1.PodConditionType, ok bool, reason, msg string) corev1.PodCondition {
		c := corev1.PodCondition{Type: t, Status: corev1.ConditionFalse, Reason: reason, Message: msg, LastTransitionTime: metav1.NewTime(now)}
		if ok {
			c.Status, c.Reason, c.Message = corev1.ConditionTrue, "", ""
		}
		if o, found := old[t]; found && o.Status == c.Status && !o.LastTransitionTime.IsZero() {
			c.LastTransitionTime = o.LastTransitionTime
		}
		return c
	}

	sandbox := (s.PodIP != "" || pod.Spec.HostNetwork) && !terminal
	initialized, initMsg := allInitialized(&pod.Spec, s.InitContainers)
	notReady := unready(pod.Spec.Containers, s.Containers)
	containersReady := len(notReady) == 0 && !terminal
	readyReason, readyMsg := "ContainersNotReady", fmt.Sprintf("containers with unready status: [%s]", strings.Join(notReady, " "))
	if terminal {
		readyReason, readyMsg = "PodCompleted", ""
	}
	ready := containersReady
	gateReason, gateMsg := readyReason, readyMsg
	if ready {
		var missing []string
		for _, g := range pod.Spec.ReadinessGates {
			if c, ok := old[g.ConditionType]; !ok || c.Status != corev1.ConditionTrue {
				missing = append(missing, string(g.ConditionType))
			}
		}
		if len(missing) > 0 {
			ready = false
			gateReason = "ReadinessGatesNotReady"
			gateMsg = fmt.Sprintf("corresponding condition of pod readiness gate %q does not exist or is not True", strings.Join(missing, ","))
		}
	}

	st.Conditions = []corev1.PodCondition{
		cond(corev1.PodReadyToStartContainers, sandbox, "", ""),
		cond(corev1.PodInitialized, initialized, "ContainersNotInitialized", initMsg),
		cond(corev1.PodReady, ready, gateReason, gateMsg),
		cond(corev1.ContainersReady, containersReady, readyReason, readyMsg),
		cond(corev1.PodScheduled, true, "", ""),
	}
	for _, c := range pod.Status.Conditions {
		if !ownedPodConditions[c.Type] {
			st.Conditions = append(st.Conditions, *c.DeepCopy())
		}
	}
	return st
}

// Phase returns a pod's phase from its spec and its containers' statuses,
// by the kubelet's rules: Pending until the init containers succeeded and
// while a container waits for its first start; Running while a container
// runs or will be restarted; Succeeded when all containers exited 0 and
// none will restart; Failed when one failed and the restart policy is
// Never (an init container failing under Never fails the pod too).
func Phase(spec *corev1.PodSpec, initStatuses, statuses []corev1.ContainerStatus) corev1.PodPhase {
	pendingInit, failedInit := 0, 0
	for _, c := range spec.InitContainers {
		s, ok := find(initStatuses, c.Name)
		sidecar := c.RestartPolicy != nil && *c.RestartPolicy == corev1.ContainerRestartPolicyAlways
		switch {
		case !ok:
			pendingInit++
		case sidecar:
			if s.State.Running == nil || s.Started == nil || !*s.Started {
				pendingInit++
			}
		case s.State.Terminated != nil:
			if s.State.Terminated.ExitCode != 0 {
				failedInit++
			}
		case s.State.Waiting != nil && s.LastTerminationState.Terminated != nil:
			failedInit++
		default:
			pendingInit++
		}
	}
	unknown, running, waiting, stopped, succeeded := 0, 0, 0, 0, 0
	for _, c := range spec.Containers {
		s, ok := find(statuses, c.Name)
		switch {
		case !ok:
			unknown++
		case s.State.Running != nil:
			running++
		case s.State.Terminated != nil:
			stopped++
			if s.State.Terminated.ExitCode == 0 {
				succeeded++
			}
		case s.State.Waiting != nil && s.LastTerminationState.Terminated != nil:
			stopped++
		case s.State.Waiting != nil:
			waiting++
		default:
			unknown++
		}
	}
	if failedInit > 0 && spec.RestartPolicy == corev1.RestartPolicyNever {
		return corev1.PodFailed
	}
	switch {
	case pendingInit > 0 || failedInit > 0 || waiting > 0:
		return corev1.PodPending
	case running > 0 && unknown == 0:
		return corev1.PodRunning
	case running == 0 && stopped > 0 && unknown == 0:
		switch {
		case spec.RestartPolicy == corev1.RestartPolicyAlways:
			return corev1.PodRunning
		case stopped == succeeded:
			return corev1.PodSucceeded
		case spec.RestartPolicy == corev1.RestartPolicyNever:
			return corev1.PodFailed
		default:
			return corev1.PodRunning
		}
	}
	return corev1.PodPending
}

// allInitialized reports whether every init container succeeded (or, for
// a sidecar, started), and if not a message naming those that did not.
func allInitialized(spec *corev1.PodSpec, statuses []corev1.ContainerStatus) (bool, string) {
	var pending []string
	for _, c := range spec.InitContainers {
		s, ok := find(statuses, c.Name)
		sidecar := c.RestartPolicy != nil && *c.RestartPolicy == corev1.ContainerRestartPolicyAlways
		switch {
		case ok && sidecar && s.Started != nil && *s.Started:
		case ok && !sidecar && s.State.Terminated != nil && s.State.Terminated.ExitCode == 0:
		default:
			pending = append(pending, c.Name)
		}
	}
	if len(pending) == 0 {
		return true, ""
	}
	return false, fmt.Sprintf("containers with incomplete status: [%s]", strings.Join(pending, " "))
}

// unready names the containers of spec that are not ready.
func unready(spec []corev1.Container, statuses []corev1.ContainerStatus) []string {
	var names []string
	for _, c := range spec {
		if s, ok := find(statuses, c.Name); !ok || !s.Ready {
			names = append(names, c.Name)
		}
	}
	return names
}

// ordered returns copies of the statuses in the order of the containers
// of spec (nil when there are none).
func ordered(spec []corev1.Container, statuses []corev1.ContainerStatus) []corev1.ContainerStatus {
	var out []corev1.ContainerStatus
	for _, c := range spec {
		if s, ok := find(statuses, c.Name); ok {
			out = append(out, *s.DeepCopy())
		}
	}
	return out
}

func find(statuses []corev1.ContainerStatus, name string) (*corev1.ContainerStatus, bool) {
	for i := range statuses {
		if statuses[i].Name == name {
			return &statuses[i], true
		}
	}
	return nil, false
}
