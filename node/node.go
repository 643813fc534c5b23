package node

import (
	"context"
	"encoding/json"
	"fmt"
	"maps"
	"net/netip"
	"runtime"
	"time"

	corev1 "k8s.io/api/core/v1"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/types"
	"k8s.io/client-go/kubernetes"
	"k8s.io/client-go/util/retry"
)

// Config describes a node as its agent registers it.
type Config struct {
	// Name is the Node's name, also its kubernetes.io/hostname label and
	// the holder of its Lease.
	Name string
	// Labels are added to the well-known ones (hostname, os, arch).
	Labels map[string]string
	// Capacity is what the node offers; allocatable is the same (the
	// agent reserves nothing).
	Capacity corev1.ResourceList
	// PodCIDR is the range the node's pod IPs come from ("" for none). It
	// is set on the Node when it has none yet and never changed after.
	PodCIDR string
	// Addresses are the node's addresses (InternalIP, Hostname).
	Addresses []corev1.NodeAddress
	// NodeInfo is what `kubectl get nodes -o wide` shows: OS image,
	// kernel, runtime and agent version.
	NodeInfo corev1.NodeSystemInfo
	// NotReady, when not nil, is why the node cannot run pods yet: it
	// registers with Ready False and this as the reason's message.
	NotReady error
	// KubeletPort is the agent's own port, where the API server reaches
	// it for logs, exec, attach and port forwarding (0: none).
	KubeletPort int32
}

// Well-known condition reasons, the kubelet's.
const (
	reasonReady      = "KubeletReady"
	reasonNoPressure = "KubeletHasSufficient"
)

// labels returns the node's labels: the well-known kubernetes.io/hostname,
// kubernetes.io/os and kubernetes.io/arch (and their beta aliases, which
// older selectors still use), then c.Labels.
func (c *Config) labels() map[string]string {
	osName, arch := c.NodeInfo.OperatingSystem, c.NodeInfo.Architecture
	if osName == "" {
		osName = "linux"
	}
	if arch == "" {
		arch = runtime.GOARCH
	}
	l := map[string]string{
		corev1.LabelHostname:      c.Name,
		corev1.LabelOSStable:      osName,
		corev1.LabelArchStable:    arch,
		"beta.kubernetes.io/os":   osName,
		"beta.kubernetes.io/arch": arch,
	}
	maps.Copy(l, c.Labels)
	return l
}

// Status returns the node's full status at now: capacity and allocatable,
// healthy conditions (see Conditions), addresses and node info.
func (c *Config) Status(now time.Time, existing []corev1.NodeCondition) corev1.NodeStatus {
	info := c.NodeInfo
	if info.OperatingSystem == "" {
		info.OperatingSystem = "linux"
	}
	if info.Architecture == "" {
		info.Architecture = runtime.GOARCH
	}
	return corev1.NodeStatus{
		Capacity:    c.Capacity.DeepCopy(),
		Allocatable: c.Capacity.DeepCopy(),
		Phase:       corev1.NodeRunning,
		Conditions:  ConditionsWith(now, existing, Health{NotReady: c.NotReady}),
		Addresses:   append([]corev1.NodeAddress(nil), c.Addresses...),
		NodeInfo:    info,
		DaemonEndpoints: corev1.NodeDaemonEndpoints{
			KubeletEndpoint: corev1.DaemonEndpoint{Port: c.KubeletPort},
		},
	}
}

// Node returns the Node to create at now: labels, pod CIDR and the full
// status of a Ready node.
func (c *Config) Node(now time.Time) *corev1.Node {
	n := &corev1.Node{
		ObjectMeta: metav1.ObjectMeta{Name: c.Name, Labels: c.labels()},
		Status:     c.Status(now, nil),
	}
	if c.PodCIDR != "" {
		n.Spec.PodCIDR = c.PodCIDR
		n.Spec.PodCIDRs = []string{c.PodCIDR}
	}
	return n
}

// Conditions returns the conditions of a healthy node at now: Ready True,
// MemoryPressure, DiskPressure and PIDPressure False, each with heartbeat
// now. A condition that already has the same status in existing keeps its
// lastTransitionTime; the others transition at now.
func Conditions(now time.Time, existing []corev1.NodeCondition) []corev1.NodeCondition {
	return ConditionsWith(now, existing, Health{})
}

// Health is what an agent observes of its node beyond being alive: why
// it cannot run pods (nil: it can) and which resources run short.
type Health struct {
	NotReady                                  error
	MemoryPressure, DiskPressure, PIDPressure bool
}

// ConditionsWith is Conditions for a node in health h: Ready is False with
// reason KubeletNotReady and h.NotReady as its message (the kubelet's
// words when its container runtime is down), and a pressure condition is
// True when h says so, with the kubelet's reasons.
func ConditionsWith(now time.Time, existing []corev1.NodeCondition, h Health) []corev1.NodeCondition {
	t := metav1.NewTime(now)
	cond := func(typ corev1.NodeConditionType, status corev1.ConditionStatus, reason, msg string) corev1.NodeCondition {
		c := corev1.NodeCondition{Type: typ, Status: status, Reason: reason, Message: msg, LastHeartbeatTime: t, LastTransitionTime: t}
		for _, e := range existing {
			if e.Type == typ && e.Status == status && !e.LastTransitionTime.IsZero() {
				c.LastTransitionTime = e.LastTransitionTime
			}
		}
		return c
	}
	pressure := func(typ corev1.NodeConditionType, on bool, okReason, okMsg, onReason, onMsg string) corev1.NodeCondition {
		if on {
			return cond(typ, corev1.ConditionTrue, onReason, onMsg)
		}
		return cond(typ, corev1.ConditionFalse, okReason, okMsg)
	}
	ready := cond(corev1.NodeReady, corev1.ConditionTrue, reasonReady, "kubelet is posting ready status")
	if h.NotReady != nil {
		ready = cond(corev1.NodeReady, corev1.ConditionFalse, "KubeletNotReady", h.NotReady.Error())
	}
	return []corev1.NodeCondition{
		pressure(corev1.NodeMemoryPressure, h.MemoryPressure, reasonNoPressure+"Memory", "kubelet has sufficient memory available", "KubeletHasInsufficientMemory", "kubelet has insufficient memory available"),
		pressure(corev1.NodeDiskPressure, h.DiskPressure, "KubeletHasNoDiskPressure", "kubelet has no disk pressure", "KubeletHasDiskPressure", "kubelet has disk pressure"),
		pressure(corev1.NodePIDPressure, h.PIDPressure, reasonNoPressure+"PID", "kubelet has sufficient PID available", "KubeletHasInsufficientPID", "kubelet has insufficient PID available"),
		ready,
	}
}

// SameHealth reports whether conds (a Node's conditions) already say what
// h says: Ready, MemoryPressure, DiskPressure and PIDPressure.
func SameHealth(conds []corev1.NodeCondition, h Health) bool {
	want := map[corev1.NodeConditionType]bool{
		corev1.NodeReady:          h.NotReady == nil,
		corev1.NodeMemoryPressure: h.MemoryPressure,
		corev1.NodeDiskPressure:   h.DiskPressure,
		corev1.NodePIDPressure:    h.PIDPressure,
	}
	seen := 0
	for _, c := range conds {
		if w, ok := want[c.Type]; ok {
			seen++
			if (c.Status == corev1.ConditionTrue) != w {
				return false
			}
		}
	}
	return seen == len(want)
}

// IsReady reports whether node's Ready condition is True.
func IsReady(node *corev1.Node) bool {
	for _, c := range node.Status.Conditions {
		if c.Type == corev1.NodeReady {
			return c.Status == corev1.ConditionTrue
		}
	}
	return false
}

// Register creates the Node described by c, or, when it already exists (an
// agent restart), makes the existing one match c: it adds c's labels, sets
// the pod CIDR if the Node has none, and posts the full status with Ready
// True, which the node lifecycle controller may have turned Unknown while
// the agent was away (its taints go once it sees Ready again). It returns
// the Node as stored.
func Register(ctx context.Context, client kubernetes.Interface, c *Config, now time.Time) (*corev1.Node, error) {
	nodes := client.CoreV1().Nodes()
	created, err := nodes.Create(ctx, c.Node(now), metav1.CreateOptions{})
	if err == nil {
		return created, nil
	}
	if !apierrors.IsAlreadyExists(err) {
		return nil, fmt.Errorf("register node %s: %w", c.Name, err)
	}
	var out *corev1.Node
	err = retry.RetryOnConflict(retry.DefaultRetry, func() error {
		cur, err := nodes.Get(ctx, c.Name, metav1.GetOptions{})
		if err != nil {
			return err
		}
		n := cur.DeepCopy()
		if n.Labels == nil {
			n.Labels = map[string]string{}
		}
		maps.Copy(n.Labels, c.labels())
		if n.Spec.PodCIDR == "" && c.PodCIDR != "" {
			n.Spec.PodCIDR = c.PodCIDR
			n.Spec.PodCIDRs = []string{c.PodCIDR}
		}
		if !maps.Equal(n.Labels, cur.Labels) || n.Spec.PodCIDR != cur.Spec.PodCIDR {
			if n, err = nodes.Update(ctx, n, metav1.UpdateOptions{}); err != nil {
				return err
			}
		}
		n.Status = c.Status(now, cur.Status.Conditions)
		out, err = nodes.UpdateStatus(ctx, n, metav1.UpdateOptions{})
		return err
	})
	if err != nil {
		return nil, fmt.Errorf("re-register existing node %s: %w", c.Name, err)
	}
	return out, nil
}

// PatchConditions posts a healthy node's conditions (see Conditions) for
// node name at now, keeping the transition times of existing, the
// conditions last seen on the Node. It patches only the conditions, merged
// by type, so that conditions others own and the rest of the Node are left
// alone.
func PatchConditions(ctx context.Context, client kubernetes.Interface, name string, existing []corev1.NodeCondition, now time.Time) error {
	return PostConditions(ctx, client, name, Conditions(now, existing))
}

// PostConditions patches conds into node name's status, merged by type.
func PostConditions(ctx context.Context, client kubernetes.Interface, name string, conds []corev1.NodeCondition) error {
	patch, err := json.Marshal(map[string]any{"status": map[string]any{"conditions": conds}})
	if err != nil {
		return fmt.Errorf("encode conditions of node %s: %w", name, err)
	}
	if _, err := client.CoreV1().Nodes().Patch(ctx, name, types.StrategicMergePatchType, patch, metav1.PatchOptions{}, "status"); err != nil {
		return fmt.Errorf("post conditions of node %s: %w", name, err)
	}
	return nil
}

// DNSAddress is where a node's cluster DNS server listens: the first
// address of the node's pod range, the pods' gateway on the node's bridge,
// which every pod of the node reaches directly.
func DNSAddress(podCIDR string) (netip.Addr, error) {
	p, err := netip.ParsePrefix(podCIDR)
	if err != nil {
		return netip.Addr{}, fmt.Errorf("pod CIDR %q: %w", podCIDR, err)
	}
	return p.Masked().Addr().Next(), nil
}
