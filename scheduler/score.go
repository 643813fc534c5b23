package scheduler

import (
	"slices"

	"github.com/go-logr/logr"
	v1 "k8s.io/api/core/v1"
	corev1helpers "k8s.io/component-helpers/scheduling/corev1"
	"k8s.io/component-helpers/scheduling/corev1/nodeaffinity"
)

// maxScore is what each scorer gives its best node after normalizing.
const maxScore = 100

// scorer ranks the feasible nodes for one pod. score returns a node's raw
// score; normalize maps the raw scores of all feasible nodes, in place, to
// 0..maxScore (higher is better). Like filters, scorers are built per
// scheduling attempt with the cache locked.
type scorer interface {
	score(n *nodeInfo) int64
	normalize(scores []int64)
}

// weightedScorer is a scorer and how much its points count; the node with
// the highest weighted sum wins. Weights follow kube-scheduler's defaults.
type weightedScorer struct {
	scorer
	weight int64
}

// newScorers returns the scores that tell nodes apart for pod: resource
// scores always, the others only when the pod or the nodes have something
// for them to look at. c.mu must be held.
func newScorers(pod *v1.Pod, p *podInfo, c *cache, ns namespaceMatcher) []weightedScorer {
	ss := []weightedScorer{
		{&leastAllocated{cpu: p.nonzeroCPU, mem: p.nonzeroMem}, 1},
		{&balancedAllocation{cpu: p.nonzeroCPU, mem: p.nonzeroMem}, 1},
		{&taintScore{tolerations: pod.Spec.Tolerations}, 3},
	}
	if id := c.ownerIDLocked(p.owner); id != 0 {
		// no other pod of the owner placed yet: every node would score the same
		ss = append(ss, weightedScorer{&ownerSpread{owner: id}, 2})
	}
	if s := newNodeAffinityScore(pod); s != nil {
		ss = append(ss, weightedScorer{s, 2})
	}
	if s := newPodAffinityScore(pod, c, ns); s != nil {
		ss = append(ss, weightedScorer{s, 2})
	}
	return ss
}

// leastAllocated prefers nodes with the most cpu and memory left after the
// pod, averaging the two shares.
type leastAllocated struct{ cpu, mem int64 }

func freeShare(requested, allocatable int64) int64 {
	if allocatable <= 0 || requested >= allocatable {
		return 0
	}
	return (allocatable - requested) * maxScore / allocatable
}

func (s *leastAllocated) score(n *nodeInfo) int64 {
	return (freeShare(n.nonzeroCPU+s.cpu, n.allocatable.milliCPU) + freeShare(n.nonzeroMem+s.mem, n.allocatable.memory)) / 2
}

func (s *leastAllocated) normalize([]int64) {}

// balancedAllocation prefers nodes whose cpu and memory would be used in
// the same proportion, so that neither runs out while the other idles.
type balancedAllocation struct{ cpu, mem int64 }

func usedFraction(requested, allocatable int64) float64 {
	if allocatable <= 0 {
		return 1
	}
	f := float64(requested) / float64(allocatable)
	if f > 1 {
		return 1
	}
	return f
}

func (s *balancedAllocation) score(n *nodeInfo) int64 {
	c := usedFraction(n.nonzeroCPU+s.cpu, n.allocatable.milliCPU)
	m := usedFraction(n.nonzeroMem+s.mem, n.allocatable.memory)
	d := c - m
	if d < 0 {
		d = -d
	}
	// the standard deviation of two values is half their distance
	return int64((1 - d/2) * maxScore)
}

func (s *balancedAllocation) normalize([]int64) {}

// ownerSpread prefers nodes with fewer pods of the pod's controller (the
// ReplicaSet, StatefulSet, Job...), so that replicas do not pile up on one
// node: with the counts of the feasible nodes, the emptiest gets maxScore
// and the fullest 0.
type ownerSpread struct{ owner uint32 }

func (s *ownerSpread) score(n *nodeInfo) int64 { return int64(n.owners[s.owner]) }

func (s *ownerSpread) normalize(scores []int64) {
	var most int64
	for _, v := range scores {
		most = max(most, v)
	}
	for i, v := range scores {
		if most == 0 {
			scores[i] = maxScore
		} else {
			scores[i] = (most - v) * maxScore / most
		}
	}
}

// taintScore prefers nodes with fewer PreferNoSchedule taints that the pod
// does not tolerate.
type taintScore struct{ tolerations []v1.Toleration }

func (s *taintScore) score(n *nodeInfo) int64 {
	var bad int64
	for i := range n.softTaints {
		if !corev1helpers.TolerationsTolerateTaint(logr.Discard(), s.tolerations, &n.softTaints[i], false) {
			bad++
		}
	}
	return bad
}

func (s *taintScore) normalize(scores []int64) { (&ownerSpread{}).normalize(scores) }

// nodeAffinityScore adds up the weights of the pod's preferred node
// affinity terms that a node matches, scaled to the best node.
type nodeAffinityScore struct {
	terms *nodeaffinity.PreferredSchedulingTerms
}

// newNodeAffinityScore returns nil when the pod has no valid preferred
// node affinity terms.
func newNodeAffinityScore(pod *v1.Pod) *nodeAffinityScore {
	a := pod.Spec.Affinity
	if a == nil || a.NodeAffinity == nil || len(a.NodeAffinity.PreferredDuringSchedulingIgnoredDuringExecution) == 0 {
		return nil
	}
	terms, err := nodeaffinity.NewPreferredSchedulingTerms(a.NodeAffinity.PreferredDuringSchedulingIgnoredDuringExecution)
	if err != nil {
		return nil
	}
	return &nodeAffinityScore{terms: terms}
}

func (s *nodeAffinityScore) score(n *nodeInfo) int64 { return s.terms.Score(n.node) }

func (s *nodeAffinityScore) normalize(scores []int64) { scaleToBest(scores) }

// scaleToBest maps raw scores in 0..best to 0..maxScore.
func scaleToBest(scores []int64) {
	var best int64
	for _, v := range scores {
		best = max(best, v)
	}
	if best <= 0 {
		return
	}
	for i, v := range scores {
		scores[i] = v * maxScore / best
	}
}

// podAffinityScore adds the weights of the pod's preferred affinity terms
// whose matching pods share a node's place, and takes away those of its
// preferred anti-affinity terms; then scales from worst to best.
type podAffinityScore struct {
	keys    []string // distinct topology keys of the terms
	weights map[topologyPair]int64
}

// newPodAffinityScore returns nil when the pod has no preferred pod
// (anti-)affinity or nothing it refers to is placed. c.mu must be held.
func newPodAffinityScore(pod *v1.Pod, c *cache, ns namespaceMatcher) *podAffinityScore {
	a := pod.Spec.Affinity
	if a == nil {
		return nil
	}
	type weighted struct {
		term   affinityTerm
		weight int64
	}
	var terms []weighted
	add := func(ts []v1.WeightedPodAffinityTerm, sign int64) {
		for i := range ts {
			t, err := newAffinityTerm(&ts[i].PodAffinityTerm, pod.Namespace, ns)
			if err == nil && ts[i].Weight != 0 {
				terms = append(terms, weighted{t, sign * int64(ts[i].Weight)})
			}
		}
	}
	if a.PodAffinity != nil {
		add(a.PodAffinity.PreferredDuringSchedulingIgnoredDuringExecution, 1)
	}
	if a.PodAntiAffinity != nil {
		add(a.PodAntiAffinity.PreferredDuringSchedulingIgnoredDuringExecution, -1)
	}
	if len(terms) == 0 {
		return nil
	}
	s := &podAffinityScore{weights: map[topologyPair]int64{}}
	for _, t := range terms {
		if !slices.Contains(s.keys, t.term.topologyKey) {
			s.keys = append(s.keys, t.term.topologyKey)
		}
	}
	for _, n := range c.nodes {
		if n.node == nil {
			continue
		}
		for _, p := range n.pods {
			for i := range terms {
				t := &terms[i]
				if v, ok := n.node.Labels[t.term.topologyKey]; ok && t.term.matches(p.pod) {
					s.weights[topologyPair{t.term.topologyKey, v}] += t.weight
				}
			}
		}
	}
	if len(s.weights) == 0 {
		return nil
	}
	return s
}

func (s *podAffinityScore) score(n *nodeInfo) int64 {
	var sum int64
	for _, key := range s.keys {
		if v, ok := n.node.Labels[key]; ok {
			sum += s.weights[topologyPair{key, v}]
		}
	}
	return sum
}

func (s *podAffinityScore) normalize(scores []int64) {
	if len(scores) == 0 {
		return
	}
	lo, hi := scores[0], scores[0]
	for _, v := range scores {
		lo, hi = min(lo, v), max(hi, v)
	}
	for i, v := range scores {
		if hi == lo {
			scores[i] = 0
		} else {
			scores[i] = (v - lo) * maxScore / (hi - lo)
		}
	}
}
