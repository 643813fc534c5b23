package scheduler

import (
	"fmt"

	"github.com/go-logr/logr"
	v1 "k8s.io/api/core/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/labels"
	"k8s.io/apimachinery/pkg/util/sets"
	corev1helpers "k8s.io/component-helpers/scheduling/corev1"
	"k8s.io/component-helpers/scheduling/corev1/nodeaffinity"
)

// Reasons a node is ruled out, in kube-scheduler's words: they are what a
// user reads in the FailedScheduling event and the PodScheduled condition.
const (
	reasonUnschedulable        = "node(s) were unschedulable"
	reasonNotReady             = "node(s) were not ready"
	reasonNodeAffinity         = "node(s) didn't match Pod's node affinity/selector"
	reasonPorts                = "node(s) didn't have free ports for the requested pod ports"
	reasonTooManyPods          = "Too many pods"
	reasonPodAffinity          = "node(s) didn't match pod affinity rules"
	reasonPodAntiAffinity      = "node(s) didn't match pod anti-affinity rules"
	reasonExistingAntiAffinity = "node(s) didn't satisfy existing pods anti-affinity rules"
)

// filter is one feasibility check. fits reports whether the pod it was
// built for may go to n; when it may not, it appends why to *why. A filter
// is built per scheduling attempt with the cache locked, and must neither
// allocate nor look beyond n when n passes.
type filter interface {
	fits(n *nodeInfo, why *[]string) bool
	// cures says which cluster events can make a node that failed this
	// check pass it, so that an unschedulable pod is retried only then.
	cures() clusterEvent
}

// namespaceMatcher returns the names of the namespaces whose labels match
// sel; it resolves the namespaceSelector of pod affinity terms. Nil matches
// none.
type namespaceMatcher func(sel labels.Selector) []string

// newFilters returns the checks pod (whose requests and ports p holds) needs, cheapest and most selective
// first, like kube-scheduler's order. c.mu must be held: the pod affinity
// check precomputes from the pods in c.
func newFilters(pod *v1.Pod, p *podInfo, c *cache, ns namespaceMatcher) ([]filter, error) {
	fs := []filter{newReadyFilter(pod), &taintFilter{tolerations: pod.Spec.Tolerations}}
	if f := newNodeAffinityFilter(pod); f != nil {
		fs = append(fs, f)
	}
	if len(p.ports) > 0 {
		fs = append(fs, &portsFilter{ports: p.ports})
	}
	fs = append(fs, &resourcesFilter{req: p.req})
	f, err := newPodAffinityFilter(pod, c, ns)
	if err != nil {
		return nil, err
	}
	if f != nil {
		fs = append(fs, f)
	}
	return fs, nil
}

// readyFilter passes nodes whose Ready condition is True and that are not
// cordoned, unless the pod tolerates the taint Kubernetes puts on such
// nodes (as DaemonSet pods do for node.kubernetes.io/unschedulable).
type readyFilter struct {
	notReadyOK, unreachableOK, unschedulableOK bool
}

func newReadyFilter(pod *v1.Pod) *readyFilter {
	tolerates := func(key string) bool {
		t := v1.Taint{Key: key, Effect: v1.TaintEffectNoSchedule}
		return corev1helpers.TolerationsTolerateTaint(logr.Discard(), pod.Spec.Tolerations, &t, false)
	}
	return &readyFilter{
		notReadyOK:      tolerates(v1.TaintNodeNotReady),
		unreachableOK:   tolerates(v1.TaintNodeUnreachable),
		unschedulableOK: tolerates(v1.TaintNodeUnschedulable),
	}
}

func (f *readyFilter) fits(n *nodeInfo, why *[]string) bool {
	if n.unschedulable && !f.unschedulableOK {
		*why = append(*why, reasonUnschedulable)
		return false
	}
	switch n.ready {
	case v1.ConditionTrue:
		return true
	case v1.ConditionUnknown:
		if f.unreachableOK {
			return true
		}
	default:
		if f.notReadyOK {
			return true
		}
	}
	*why = append(*why, reasonNotReady)
	return false
}

func (f *readyFilter) cures() clusterEvent { return nodeAdded | nodeReadyChanged }

// taintFilter passes nodes whose NoSchedule and NoExecute taints the pod
// tolerates.
type taintFilter struct {
	tolerations []v1.Toleration
}

func (f *taintFilter) fits(n *nodeInfo, why *[]string) bool {
	if len(n.hardTaints) == 0 {
		return true
	}
	for i := range n.hardTaints {
		if !corev1helpers.TolerationsTolerateTaint(logr.Discard(), f.tolerations, &n.hardTaints[i], false) {
			*why = append(*why, n.taintReasons[i])
			return false
		}
	}
	return true
}

func (f *taintFilter) cures() clusterEvent { return nodeAdded | nodeTaintsChanged }

// nodeAffinityFilter passes nodes matching the pod's nodeSelector and
// required node affinity.
type nodeAffinityFilter struct {
	required nodeaffinity.RequiredNodeAffinity
}

// newNodeAffinityFilter returns nil when the pod has neither.
func newNodeAffinityFilter(pod *v1.Pod) *nodeAffinityFilter {
	a := pod.Spec.Affinity
	if len(pod.Spec.NodeSelector) == 0 && (a == nil || a.NodeAffinity == nil || a.NodeAffinity.RequiredDuringSchedulingIgnoredDuringExecution == nil) {
		return nil
	}
	return &nodeAffinityFilter{required: nodeaffinity.GetRequiredNodeAffinity(pod)}
}

func (f *nodeAffinityFilter) fits(n *nodeInfo, why *[]string) bool {
	// A parse error means no node can match; the reason says so.
	if ok, _ := f.required.Match(n.node); ok {
		return true
	}
	*why = append(*why, reasonNodeAffinity)
	return false
}

func (f *nodeAffinityFilter) cures() clusterEvent { return nodeAdded | nodeLabelsChanged }

// portsFilter passes nodes where none of the pod's host ports is taken.
type portsFilter struct {
	ports []hostPort
}

func (f *portsFilter) fits(n *nodeInfo, why *[]string) bool {
	for _, hp := range f.ports {
		ips := n.ports[protoPort{hp.protocol, hp.port}]
		if len(ips) == 0 {
			continue
		}
		if hp.ip == "0.0.0.0" || ips["0.0.0.0"] > 0 || ips[hp.ip] > 0 {
			*why = append(*why, reasonPorts)
			return false
		}
	}
	return true
}

func (f *portsFilter) cures() clusterEvent { return nodeAdded | podFreed }

// resourcesFilter passes nodes with room for the pod's requests and one
// more pod: allocatable minus what pods bound or assumed there request.
type resourcesFilter struct {
	req resources
}

func (f *resourcesFilter) fits(n *nodeInfo, why *[]string) bool {
	ok := true
	if int64(len(n.pods))+1 > n.allowedPods {
		*why = append(*why, reasonTooManyPods)
		ok = false
	}
	r, used, alloc := &f.req, &n.requested, &n.allocatable
	if r.milliCPU > 0 && used.milliCPU+r.milliCPU > alloc.milliCPU {
		*why = append(*why, "Insufficient cpu")
		ok = false
	}
	if r.memory > 0 && used.memory+r.memory > alloc.memory {
		*why = append(*why, "Insufficient memory")
		ok = false
	}
	if r.ephemeral > 0 && used.ephemeral+r.ephemeral > alloc.ephemeral {
		*why = append(*why, "Insufficient ephemeral-storage")
		ok = false
	}
	if len(r.scalar) == 0 {
		return ok
	}
	for name, v := range r.scalar {
		if v > 0 && used.scalar[name]+v > alloc.scalar[name] {
			*why = append(*why, "Insufficient "+string(name))
			ok = false
		}
	}
	return ok
}

func (f *resourcesFilter) cures() clusterEvent { return nodeAdded | nodeAllocatableChanged | podFreed }

// affinityTerm is a parsed pod (anti-)affinity term: which pods it is
// about and the node label that defines "the same place".
type affinityTerm struct {
	topologyKey string
	selector    labels.Selector
	namespaces  sets.Set[string]
	all         bool // every namespace
}

// newAffinityTerm parses t as written in a pod of namespace ns. A nil
// label selector matches no pod.
func newAffinityTerm(t *v1.PodAffinityTerm, ns string, nsMatch namespaceMatcher) (affinityTerm, error) {
	sel, err := metav1.LabelSelectorAsSelector(t.LabelSelector)
	if err != nil {
		return affinityTerm{}, fmt.Errorf("pod affinity term label selector: %w", err)
	}
	at := affinityTerm{topologyKey: t.TopologyKey, selector: sel, namespaces: sets.New(t.Namespaces...)}
	switch {
	case t.NamespaceSelector == nil:
		if len(t.Namespaces) == 0 {
			at.namespaces.Insert(ns)
		}
	case len(t.NamespaceSelector.MatchLabels) == 0 && len(t.NamespaceSelector.MatchExpressions) == 0:
		at.all = true
	default:
		nsSel, err := metav1.LabelSelectorAsSelector(t.NamespaceSelector)
		if err != nil {
			return affinityTerm{}, fmt.Errorf("pod affinity term namespace selector: %w", err)
		}
		if nsMatch != nil {
			at.namespaces.Insert(nsMatch(nsSel)...)
		}
	}
	return at, nil
}

func (t *affinityTerm) matches(pod *v1.Pod) bool {
	if !t.all && !t.namespaces.Has(pod.Namespace) {
		return false
	}
	return t.selector.Matches(labels.Set(pod.Labels))
}

// topologyPair is one value of a topology key: one place.
type topologyPair struct{ key, value string }

// podAffinityFilter passes nodes that satisfy the pod's required pod
// affinity (a matching pod is in the same place) and anti-affinity (none
// is), and the required anti-affinity of the pods already placed.
type podAffinityFilter struct {
	affinity     []affinityTerm
	places       []sets.Set[string] // per affinity term: values of its key with a match
	selfMatch    bool               // no pod matches, but the pod matches all its own terms
	antiAffinity []affinityTerm
	forbidden    map[topologyPair]bool       // from the pod's terms
	existing     map[string]sets.Set[string] // topology key -> values, from placed pods' terms
}

// newPodAffinityFilter returns nil when neither the pod nor a placed pod
// has required pod (anti-)affinity.
func newPodAffinityFilter(pod *v1.Pod, c *cache, ns namespaceMatcher) (*podAffinityFilter, error) {
	var aff, anti []v1.PodAffinityTerm
	if a := pod.Spec.Affinity; a != nil {
		if a.PodAffinity != nil {
			aff = a.PodAffinity.RequiredDuringSchedulingIgnoredDuringExecution
		}
		if a.PodAntiAffinity != nil {
			anti = a.PodAntiAffinity.RequiredDuringSchedulingIgnoredDuringExecution
		}
	}
	if len(aff) == 0 && len(anti) == 0 && c.antiAffinityPods == 0 {
		return nil, nil
	}
	f := &podAffinityFilter{}
	for i := range aff {
		t, err := newAffinityTerm(&aff[i], pod.Namespace, ns)
		if err != nil {
			return nil, err
		}
		f.affinity = append(f.affinity, t)
		f.places = append(f.places, sets.New[string]())
	}
	for i := range anti {
		t, err := newAffinityTerm(&anti[i], pod.Namespace, ns)
		if err != nil {
			return nil, err
		}
		f.antiAffinity = append(f.antiAffinity, t)
	}
	if len(f.affinity) > 0 || len(f.antiAffinity) > 0 {
		f.forbidden = map[topologyPair]bool{}
		matched := false
		for _, n := range c.nodes {
			if n.node == nil {
				continue
			}
			for _, p := range n.pods {
				for i := range f.affinity {
					t := &f.affinity[i]
					if v, ok := n.node.Labels[t.topologyKey]; ok && t.matches(p.pod) {
						f.places[i].Insert(v)
						matched = true
					}
				}
				for i := range f.antiAffinity {
					t := &f.antiAffinity[i]
					if v, ok := n.node.Labels[t.topologyKey]; ok && t.matches(p.pod) {
						f.forbidden[topologyPair{t.topologyKey, v}] = true
					}
				}
			}
		}
		if !matched && len(f.affinity) > 0 {
			f.selfMatch = true
			for i := range f.affinity {
				f.selfMatch = f.selfMatch && f.affinity[i].matches(pod)
			}
		}
	}
	if c.antiAffinityPods > 0 {
		f.existing = map[string]sets.Set[string]{}
		for _, n := range c.nodes {
			if n.antiAffinityPods == 0 || n.node == nil {
				continue
			}
			for _, p := range n.pods {
				if !p.antiAffinity {
					continue
				}
				terms := p.pod.Spec.Affinity.PodAntiAffinity.RequiredDuringSchedulingIgnoredDuringExecution
				for i := range terms {
					t, err := newAffinityTerm(&terms[i], p.pod.Namespace, ns)
					if err != nil {
						continue // the placed pod's own problem
					}
					if v, ok := n.node.Labels[t.topologyKey]; ok && t.matches(pod) {
						if f.existing[t.topologyKey] == nil {
							f.existing[t.topologyKey] = sets.New[string]()
						}
						f.existing[t.topologyKey].Insert(v)
					}
				}
			}
		}
	}
	return f, nil
}

func (f *podAffinityFilter) fits(n *nodeInfo, why *[]string) bool {
	l := n.node.Labels
	for key, values := range f.existing {
		if v, ok := l[key]; ok && values.Has(v) {
			*why = append(*why, reasonExistingAntiAffinity)
			return false
		}
	}
	if !f.selfMatch {
		for i := range f.affinity {
			v, ok := l[f.affinity[i].topologyKey]
			if !ok || !f.places[i].Has(v) {
				*why = append(*why, reasonPodAffinity)
				return false
			}
		}
	}
	for i := range f.antiAffinity {
		key := f.antiAffinity[i].topologyKey
		if v, ok := l[key]; ok && f.forbidden[topologyPair{key, v}] {
			*why = append(*why, reasonPodAntiAffinity)
			return false
		}
	}
	return true
}

func (f *podAffinityFilter) cures() clusterEvent {
	return nodeAdded | nodeLabelsChanged | podFreed | podAssigned
}
