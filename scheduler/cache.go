package scheduler

import (
	"fmt"
	"sync"

	v1 "k8s.io/api/core/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/types"
	resourcehelper "k8s.io/component-helpers/resource"
)

// Requests the scores assume for a pod that asks for no cpu or memory, as
// kube-scheduler does, so that such pods still spread by "allocation".
const (
	defaultMilliCPURequest = 100
	defaultMemoryRequest   = 200 << 20
)

// resources is the part of a ResourceList the scheduler compares, in plain
// integers: millicores, bytes, and extended resources by name.
type resources struct {
	milliCPU  int64
	memory    int64
	ephemeral int64
	scalar    map[v1.ResourceName]int64 // nil when there are none
}

func resourcesOf(list v1.ResourceList) resources {
	var r resources
	for name, q := range list {
		switch name {
		case v1.ResourceCPU:
			r.milliCPU = q.MilliValue()
		case v1.ResourceMemory:
			r.memory = q.Value()
		case v1.ResourceEphemeralStorage:
			r.ephemeral = q.Value()
		case v1.ResourcePods:
			// pods are counted, not requested
		default:
			if r.scalar == nil {
				r.scalar = map[v1.ResourceName]int64{}
			}
			r.scalar[name] = q.Value()
		}
	}
	return r
}

// add adds o (sign 1) or takes it away (sign -1).
func (r *resources) add(o *resources, sign int64) {
	r.milliCPU += sign * o.milliCPU
	r.memory += sign * o.memory
	r.ephemeral += sign * o.ephemeral
	for name, v := range o.scalar {
		if r.scalar == nil {
			r.scalar = map[v1.ResourceName]int64{}
		}
		r.scalar[name] += sign * v
	}
}

// hostPort is one host port a pod's container asks for; ip is "0.0.0.0"
// for all addresses.
type hostPort struct {
	protocol v1.Protocol
	ip       string
	port     int32
}

type protoPort struct {
	protocol v1.Protocol
	port     int32
}

func hostPortsOf(pod *v1.Pod) []hostPort {
	var out []hostPort
	add := func(cs []v1.Container, sidecarsOnly bool) {
		for i := range cs {
			c := &cs[i]
			if sidecarsOnly && (c.RestartPolicy == nil || *c.RestartPolicy != v1.ContainerRestartPolicyAlways) {
				continue
			}
			for _, p := range c.Ports {
				if p.HostPort <= 0 {
					continue
				}
				hp := hostPort{protocol: p.Protocol, ip: p.HostIP, port: p.HostPort}
				if hp.protocol == "" {
					hp.protocol = v1.ProtocolTCP
				}
				if hp.ip == "" {
					hp.ip = "0.0.0.0"
				}
				out = append(out, hp)
			}
		}
	}
	add(pod.Spec.InitContainers, true)
	add(pod.Spec.Containers, false)
	return out
}

// podInfo is what the cache keeps of a pod bound or assumed to a node.
type podInfo struct {
	pod     *v1.Pod // never mutated
	node    string
	assumed bool

	req                    resources
	nonzeroCPU, nonzeroMem int64
	owner                  types.UID // controller owner; "" when none or terminating
	ownerID                uint32    // owner's number in the cache, set when added
	ports                  []hostPort
	antiAffinity           bool // has required pod anti-affinity terms
}

func newPodInfo(pod *v1.Pod, node string) *podInfo {
	p := &podInfo{pod: pod, node: node, ports: hostPortsOf(pod)}
	p.req = resourcesOf(resourcehelper.PodRequests(pod, resourcehelper.PodResourcesOptions{}))
	p.nonzeroCPU, p.nonzeroMem = p.req.milliCPU, p.req.memory
	if p.nonzeroCPU == 0 {
		p.nonzeroCPU = defaultMilliCPURequest
	}
	if p.nonzeroMem == 0 {
		p.nonzeroMem = defaultMemoryRequest
	}
	if ref := metav1.GetControllerOf(pod); ref != nil && pod.DeletionTimestamp == nil {
		p.owner = ref.UID
	}
	if a := pod.Spec.Affinity; a != nil && a.PodAntiAffinity != nil && len(a.PodAntiAffinity.RequiredDuringSchedulingIgnoredDuringExecution) > 0 {
		p.antiAffinity = true
	}
	return p
}

// nodeInfo is a node with the aggregates of the pods on it, so that a
// filter or score looks at a few integers instead of walking pods.
type nodeInfo struct {
	name  string
	node  *v1.Node // nil for a deleted node that pods still name
	index int      // position in cache.list; -1 when not listed

	ready         v1.ConditionStatus // of the Ready condition; "" when missing
	unschedulable bool
	hardTaints    []v1.Taint // NoSchedule and NoExecute
	taintReasons  []string   // the FailedScheduling reason for each hard taint
	softTaints    []v1.Taint // PreferNoSchedule
	allocatable   resources
	allowedPods   int64

	requested              resources
	nonzeroCPU, nonzeroMem int64
	pods                   map[string]*podInfo
	owners                 map[uint32]int32 // pods per owner number
	ports                  map[protoPort]map[string]int32
	antiAffinityPods       int
}

func newNodeInfo(name string) *nodeInfo {
	return &nodeInfo{name: name, index: -1, pods: map[string]*podInfo{}, owners: map[uint32]int32{}}
}

// setNode refreshes the node's own fields and reports which of them
// changed, as cluster events that may let an unschedulable pod fit.
func (n *nodeInfo) setNode(node *v1.Node) clusterEvent {
	var ready v1.ConditionStatus
	for _, c := range node.Status.Conditions {
		if c.Type == v1.NodeReady {
			ready = c.Status
		}
	}
	var hard, soft []v1.Taint
	for _, t := range node.Spec.Taints {
		switch t.Effect {
		case v1.TaintEffectNoSchedule, v1.TaintEffectNoExecute:
			hard = append(hard, t)
		case v1.TaintEffectPreferNoSchedule:
			soft = append(soft, t)
		}
	}
	alloc := node.Status.Allocatable
	if len(alloc) == 0 {
		alloc = node.Status.Capacity
	}
	allocatable := resourcesOf(alloc)
	allowed := alloc.Pods().Value()

	var ev clusterEvent
	old := n.node
	switch {
	case old == nil:
		ev = nodeAdded
	default:
		if n.ready != ready || n.unschedulable != node.Spec.Unschedulable {
			ev |= nodeReadyChanged
		}
		if !sameTaints(n.hardTaints, hard) || !sameTaints(n.softTaints, soft) {
			ev |= nodeTaintsChanged
		}
		if !sameStrings(old.Labels, node.Labels) {
			ev |= nodeLabelsChanged
		}
		if n.allocatable.milliCPU < allocatable.milliCPU || n.allocatable.memory < allocatable.memory ||
			n.allocatable.ephemeral < allocatable.ephemeral || n.allowedPods < allowed || !sameScalars(n.allocatable.scalar, allocatable.scalar) {
			ev |= nodeAllocatableChanged
		}
	}
	n.node, n.ready, n.unschedulable = node, ready, node.Spec.Unschedulable
	n.hardTaints, n.softTaints = hard, soft
	n.taintReasons = n.taintReasons[:0]
	for _, t := range hard {
		n.taintReasons = append(n.taintReasons, fmt.Sprintf("node(s) had untolerated taint {%s: %s}", t.Key, t.Value))
	}
	n.allocatable, n.allowedPods = allocatable, allowed
	return ev
}

func sameTaints(a, b []v1.Taint) bool {
	if len(a) != len(b) {
		return false
	}
	for i := range a {
		if a[i].Key != b[i].Key || a[i].Value != b[i].Value || a[i].Effect != b[i].Effect {
			return false
		}
	}
	return true
}

func sameStrings(a, b map[string]string) bool {
	if len(a) != len(b) {
		return false
	}
	for k, v := range a {
		if w, ok := b[k]; !ok || w != v {
			return false
		}
	}
	return true
}

func sameScalars(a, b map[v1.ResourceName]int64) bool {
	if len(a) != len(b) {
		return false
	}
	for k, v := range a {
		if w, ok := b[k]; !ok || w != v {
			return false
		}
	}
	return true
}

func (n *nodeInfo) addPod(key string, p *podInfo, sign int64) {
	if sign > 0 {
		n.pods[key] = p
	} else {
		delete(n.pods, key)
	}
	n.requested.add(&p.req, sign)
	n.nonzeroCPU += sign * p.nonzeroCPU
	n.nonzeroMem += sign * p.nonzeroMem
	if p.ownerID != 0 {
		n.owners[p.ownerID] += int32(sign)
		if n.owners[p.ownerID] <= 0 {
			delete(n.owners, p.ownerID)
		}
	}
	if p.antiAffinity {
		n.antiAffinityPods += int(sign)
	}
	for _, hp := range p.ports {
		pp := protoPort{hp.protocol, hp.port}
		if n.ports == nil {
			n.ports = map[protoPort]map[string]int32{}
		}
		ips := n.ports[pp]
		if ips == nil {
			ips = map[string]int32{}
			n.ports[pp] = ips
		}
		ips[hp.ip] += int32(sign)
		if ips[hp.ip] <= 0 {
			delete(ips, hp.ip)
			if len(ips) == 0 {
				delete(n.ports, pp)
			}
		}
	}
}

// cache holds the node state the scheduler decides on. Every method locks
// mu; the scheduling cycle holds it for the duration of one decision.
type cache struct {
	mu    sync.Mutex
	nodes map[string]*nodeInfo // listed nodes and the ghosts of deleted ones
	list  []*nodeInfo          // nodes that exist, in a stable order
	pods  map[string]*podInfo  // bound and assumed pods by namespace/name
	// antiAffinityPods counts pods with required anti-affinity, so that
	// the existing-pods check is skipped while there are none.
	antiAffinityPods int
	// owners numbers the controllers of placed pods, so that per-node
	// counts are keyed by a small integer rather than a UID string.
	owners    map[types.UID]*ownerRef
	nextOwner uint32
}

type ownerRef struct {
	id   uint32
	pods int
}

func newCache() *cache {
	return &cache{nodes: map[string]*nodeInfo{}, pods: map[string]*podInfo{}, owners: map[types.UID]*ownerRef{}}
}

// ownerIDLocked returns the number of owner uid, 0 when no placed pod has
// that owner.
func (c *cache) ownerIDLocked(uid types.UID) uint32 {
	if o := c.owners[uid]; o != nil {
		return o.id
	}
	return 0
}

// setNode adds or updates a node and reports what changed.
func (c *cache) setNode(node *v1.Node) clusterEvent {
	c.mu.Lock()
	defer c.mu.Unlock()
	n := c.nodes[node.Name]
	if n == nil {
		n = newNodeInfo(node.Name)
		c.nodes[node.Name] = n
	}
	ev := n.setNode(node)
	if n.index < 0 {
		n.index = len(c.list)
		c.list = append(c.list, n)
	}
	return ev
}

// removeNode drops a node from the list; its pods stay accounted until
// they go, in case the node comes back.
func (c *cache) removeNode(name string) {
	c.mu.Lock()
	defer c.mu.Unlock()
	n := c.nodes[name]
	if n == nil || n.index < 0 {
		return
	}
	last := c.list[len(c.list)-1]
	c.list[n.index], last.index = last, n.index
	c.list = c.list[:len(c.list)-1]
	n.index, n.node = -1, nil
	if len(n.pods) == 0 {
		delete(c.nodes, name)
	}
}

func (c *cache) nodeFor(name string) *nodeInfo {
	n := c.nodes[name]
	if n == nil {
		n = newNodeInfo(name)
		c.nodes[name] = n
	}
	return n
}

func (c *cache) addLocked(key string, p *podInfo) {
	if p.owner != "" {
		o := c.owners[p.owner]
		if o == nil {
			c.nextOwner++
			o = &ownerRef{id: c.nextOwner}
			c.owners[p.owner] = o
		}
		o.pods++
		p.ownerID = o.id
	}
	c.pods[key] = p
	c.nodeFor(p.node).addPod(key, p, 1)
	if p.antiAffinity {
		c.antiAffinityPods++
	}
}

func (c *cache) removeLocked(key string) *podInfo {
	p := c.pods[key]
	if p == nil {
		return nil
	}
	delete(c.pods, key)
	if p.antiAffinity {
		c.antiAffinityPods--
	}
	if o := c.owners[p.owner]; o != nil {
		if o.pods--; o.pods == 0 {
			delete(c.owners, p.owner)
		}
	}
	if n := c.nodes[p.node]; n != nil {
		n.addPod(key, p, -1)
		if n.node == nil && len(n.pods) == 0 {
			delete(c.nodes, p.node)
		}
	}
	return p
}

// setPod records a pod the informer shows bound to a node, confirming it
// when it was assumed. A pod in a terminal phase frees its node. It
// reports whether the pod was new or moved (podAssigned) or left a node
// (podFreed).
func (c *cache) setPod(key string, pod *v1.Pod) clusterEvent {
	c.mu.Lock()
	defer c.mu.Unlock()
	if pod.Status.Phase == v1.PodSucceeded || pod.Status.Phase == v1.PodFailed {
		if c.removeLocked(key) != nil {
			return podFreed
		}
		return 0
	}
	old := c.removeLocked(key)
	c.addLocked(key, newPodInfo(pod, pod.Spec.NodeName))
	switch {
	case old == nil:
		return podAssigned
	case old.node != pod.Spec.NodeName:
		return podAssigned | podFreed
	case old.assumed:
		// confirmed where it was assumed: nothing changed for others
		return 0
	case !sameStrings(old.pod.Labels, pod.Labels):
		return podAssigned | podFreed
	case (old.pod.DeletionTimestamp == nil) != (pod.DeletionTimestamp == nil):
		return podFreed
	}
	return 0
}

// removePod forgets a pod that was deleted; it reports podFreed when the
// pod was on a node.
func (c *cache) removePod(key string) clusterEvent {
	c.mu.Lock()
	defer c.mu.Unlock()
	if c.removeLocked(key) != nil {
		return podFreed
	}
	return 0
}

// assumeLocked counts a pod (p, from newPodInfo) against node before its
// binding is written.
func (c *cache) assumeLocked(key string, p *podInfo, node string) error {
	if old := c.pods[key]; old != nil {
		return fmt.Errorf("assume pod %s on %s: already on node %s", key, node, old.node)
	}
	p.node, p.assumed = node, true
	c.addLocked(key, p)
	return nil
}

// forget undoes assume for a pod whose binding failed. A pod the informer
// has meanwhile shown bound stays.
func (c *cache) forget(key string) {
	c.mu.Lock()
	defer c.mu.Unlock()
	if p := c.pods[key]; p != nil && p.assumed {
		c.removeLocked(key)
	}
}

// has reports whether pod key is bound or assumed.
func (c *cache) has(key string) bool {
	c.mu.Lock()
	defer c.mu.Unlock()
	return c.pods[key] != nil
}
