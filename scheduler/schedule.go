package scheduler

import (
	"fmt"
	"math/rand/v2"
	"sort"
	"strings"

	v1 "k8s.io/api/core/v1"
)

// Sampling, after kube-scheduler's percentageOfNodesToScore: in clusters of
// more than minFeasibleNodesToFind nodes, a cycle stops filtering once it
// has found that many feasible nodes or defaultPercentageOfNodesToScore of
// the cluster, whichever is more. Each cycle starts where the previous one
// stopped, so every node gets its turn and replicas still spread over the
// whole cluster. (kube-scheduler's adaptive share is larger, 42% at 1,000
// nodes, because its plugins are not all this cheap to skip.)
const (
	minFeasibleNodesToFind          = 100
	defaultPercentageOfNodesToScore = 5
)

// fitError says why no node fits a pod: how many nodes gave each reason.
type fitError struct {
	numNodes int
	reasons  map[string]int
	cures    clusterEvent // events that may let the pod fit
}

// Error reads like kube-scheduler's message:
// "0/4 nodes are available: 1 node(s) had untolerated taint {dedicated: db}, 3 Insufficient cpu."
func (e *fitError) Error() string {
	if e.numNodes == 0 {
		return "0/0 nodes are available: no nodes available to schedule pods."
	}
	parts := make([]string, 0, len(e.reasons))
	for reason, n := range e.reasons {
		parts = append(parts, fmt.Sprintf("%d %s", n, reason))
	}
	sort.Strings(parts)
	return fmt.Sprintf("0/%d nodes are available: %s.", e.numNodes, strings.Join(parts, ", "))
}

// algorithm picks nodes. It is used by one scheduling cycle at a time, with
// the cache locked, and reuses its buffers from cycle to cycle.
type algorithm struct {
	// percentageOfNodesToScore is the share of nodes a cycle looks for
	// among the feasible ones (at least minFeasibleNodesToFind); 0 means
	// defaultPercentageOfNodesToScore, 100 every node.
	percentageOfNodesToScore int
	namespaces               namespaceMatcher
	rand                     *rand.Rand
	next                     int // node index where the next cycle starts

	feasible []*nodeInfo
	why      []string
	raw      []int64
	total    []int64
}

func newAlgorithm(seed uint64, ns namespaceMatcher) *algorithm {
	return &algorithm{rand: rand.New(rand.NewPCG(seed, seed^0x9e3779b97f4a7c15)), namespaces: ns}
}

// numFeasibleNodesToFind is how many feasible nodes a cycle looks for
// among all nodes before it stops filtering.
func (a *algorithm) numFeasibleNodesToFind(all int) int {
	if all < minFeasibleNodesToFind || a.percentageOfNodesToScore >= 100 {
		return all
	}
	pct := a.percentageOfNodesToScore
	if pct <= 0 {
		pct = defaultPercentageOfNodesToScore
	}
	return max(all*pct/100, minFeasibleNodesToFind)
}

// schedule returns the node for pod (whose requests and owner p holds)
// among c's nodes, or a *fitError saying why there is none, or another
// error when the pod cannot be evaluated. c.mu must be held.
func (a *algorithm) schedule(c *cache, pod *v1.Pod, p *podInfo) (string, error) {
	nodes := c.list
	if len(nodes) == 0 {
		return "", &fitError{cures: nodeAdded}
	}
	filters, err := newFilters(pod, p, c, a.namespaces)
	if err != nil {
		return "", fmt.Errorf("pod %s/%s: %w", pod.Namespace, pod.Name, err)
	}
	want := a.numFeasibleNodesToFind(len(nodes))
	start := a.next % len(nodes)
	feasible := a.feasible[:0]
	var fe *fitError
	processed := 0
	for ; processed < len(nodes) && len(feasible) < want; processed++ {
		n := nodes[(start+processed)%len(nodes)]
		a.why = a.why[:0]
		ok := true
		for _, f := range filters {
			if !f.fits(n, &a.why) {
				ok = false
				if fe == nil {
					fe = &fitError{numNodes: len(nodes), reasons: map[string]int{}}
				}
				fe.cures |= f.cures()
				break
			}
		}
		if ok {
			feasible = append(feasible, n)
			continue
		}
		for _, r := range a.why {
			fe.reasons[r]++
		}
	}
	a.next = (start + processed) % len(nodes)
	a.feasible = feasible
	defer clear(a.feasible) // drop references for the collector
	switch len(feasible) {
	case 0:
		return "", fe
	case 1:
		return feasible[0].name, nil
	}
	return a.best(pod, p, c, feasible), nil
}

// best scores the feasible nodes and returns the highest, breaking ties at
// random.
func (a *algorithm) best(pod *v1.Pod, p *podInfo, c *cache, feasible []*nodeInfo) string {
	total := a.total[:0]
	for range feasible {
		total = append(total, 0)
	}
	for _, s := range newScorers(pod, p, c, a.namespaces) {
		raw := a.raw[:0]
		for _, n := range feasible {
			raw = append(raw, s.score(n))
		}
		s.normalize(raw)
		for i, v := range raw {
			total[i] += v * s.weight
		}
		a.raw = raw
	}
	a.total = total
	best, ties := 0, 0
	for i, v := range total {
		switch {
		case v > total[best]:
			best, ties = i, 1
		case v == total[best]:
			ties++
			if a.rand.IntN(ties) == 0 {
				best = i
			}
		}
	}
	return feasible[best].name
}
