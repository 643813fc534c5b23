package scheduler

import (
	"slices"
	"testing"

	v1 "k8s.io/api/core/v1"
)

// scores runs one scorer built by mk over nodes n1..nK of c, normalized.
func scores(c *cache, names []string, s scorer) []int64 {
	var raw []int64
	for _, name := range names {
		raw = append(raw, s.score(c.nodes[name]))
	}
	s.normalize(raw)
	return raw
}

func TestScores(t *testing.T) {
	three := []*v1.Node{node("n1", "4", "8Gi", 110), node("n2", "4", "8Gi", 110), node("n3", "4", "8Gi", 110)}
	names := []string{"n1", "n2", "n3"}
	tests := []struct {
		name     string
		nodes    []*v1.Node
		existing []*v1.Pod
		pod      *v1.Pod
		scorer   func(p *v1.Pod, pi *podInfo, c *cache) scorer
		want     []int64
	}{
		{
			name:     "least allocated prefers emptier nodes",
			nodes:    three,
			existing: []*v1.Pod{pod("a", "2", "4Gi", onNode("n1")), pod("b", "1", "2Gi", onNode("n2"))},
			pod:      pod("p", "1", "2Gi"),
			scorer: func(_ *v1.Pod, pi *podInfo, _ *cache) scorer {
				return &leastAllocated{cpu: pi.nonzeroCPU, mem: pi.nonzeroMem}
			},
			// n1: cpu 3/4 used -> 25, mem 6/8 -> 25; n2: 50, 50; n3: 75, 75
			want: []int64{25, 50, 75},
		},
		{
			name:     "least allocated counts empty requests as defaults",
			nodes:    three,
			existing: []*v1.Pod{pod("a", "", "", onNode("n1"))},
			pod:      pod("p", "", ""),
			scorer: func(_ *v1.Pod, pi *podInfo, _ *cache) scorer {
				return &leastAllocated{cpu: pi.nonzeroCPU, mem: pi.nonzeroMem}
			},
			// n1: 200m/4 cpu -> 95, 400Mi/8Gi -> 95; others 97, 97
			want: []int64{95, 97, 97},
		},
		{
			name:     "balanced allocation prefers even use",
			nodes:    three,
			existing: []*v1.Pod{pod("a", "3", "1Gi", onNode("n1")), pod("b", "1", "2Gi", onNode("n2"))},
			pod:      pod("p", "1", "2Gi"),
			scorer: func(_ *v1.Pod, pi *podInfo, _ *cache) scorer {
				return &balancedAllocation{cpu: pi.nonzeroCPU, mem: pi.nonzeroMem}
			},
			// n1: cpu 1.0, mem 0.375 -> 100*(1-0.3125); n2: 0.5, 0.5 -> 100; n3: 0.25, 0.25 -> 100
			want: []int64{68, 100, 100},
		},
		{
			name:  "owner spread prefers nodes with fewer replicas",
			nodes: three,
			existing: []*v1.Pod{
				pod("a", "", "", onNode("n1"), ownedBy("rs1")), pod("b", "", "", onNode("n1"), ownedBy("rs1")),
				pod("c", "", "", onNode("n2"), ownedBy("rs1")), pod("d", "", "", onNode("n3"), ownedBy("other")),
			},
			pod:    pod("p", "", "", ownedBy("rs1")),
			scorer: func(_ *v1.Pod, pi *podInfo, c *cache) scorer { return &ownerSpread{owner: c.ownerIDLocked(pi.owner)} },
			want:   []int64{0, 50, 100},
		},
		{
			name:  "owner spread ignores terminating replicas",
			nodes: three,
			existing: []*v1.Pod{
				pod("a", "", "", onNode("n1"), ownedBy("rs1"), terminating),
				pod("c", "", "", onNode("n2"), ownedBy("rs1")),
			},
			pod:    pod("p", "", "", ownedBy("rs1")),
			scorer: func(_ *v1.Pod, pi *podInfo, c *cache) scorer { return &ownerSpread{owner: c.ownerIDLocked(pi.owner)} },
			want:   []int64{100, 0, 100},
		},
		{
			name: "untolerated PreferNoSchedule taints",
			nodes: []*v1.Node{
				node("n1", "4", "8Gi", 110, withTaint("a", "", v1.TaintEffectPreferNoSchedule), withTaint("b", "", v1.TaintEffectPreferNoSchedule)),
				node("n2", "4", "8Gi", 110, withTaint("a", "", v1.TaintEffectPreferNoSchedule)),
				node("n3", "4", "8Gi", 110, withTaint("b", "", v1.TaintEffectPreferNoSchedule)),
			},
			pod:    pod("p", "", "", tolerating("b", "", v1.TaintEffectPreferNoSchedule)),
			scorer: func(p *v1.Pod, _ *podInfo, _ *cache) scorer { return &taintScore{tolerations: p.Spec.Tolerations} },
			want:   []int64{0, 0, 100},
		},
		{
			name: "preferred node affinity",
			nodes: []*v1.Node{
				node("n1", "4", "8Gi", 110, withLabel("zone", "a")),
				node("n2", "4", "8Gi", 110, withLabel("zone", "b"), withLabel("disk", "ssd")),
				node("n3", "4", "8Gi", 110, withLabel("zone", "b")),
			},
			pod: pod("p", "", "", func(p *v1.Pod) {
				p.Spec.Affinity = &v1.Affinity{NodeAffinity: &v1.NodeAffinity{PreferredDuringSchedulingIgnoredDuringExecution: []v1.PreferredSchedulingTerm{
					{Weight: 10, Preference: v1.NodeSelectorTerm{MatchExpressions: []v1.NodeSelectorRequirement{{Key: "zone", Operator: v1.NodeSelectorOpIn, Values: []string{"b"}}}}},
					{Weight: 30, Preference: v1.NodeSelectorTerm{MatchExpressions: []v1.NodeSelectorRequirement{{Key: "disk", Operator: v1.NodeSelectorOpExists}}}},
				}}}
			}),
			scorer: func(p *v1.Pod, _ *podInfo, _ *cache) scorer { return newNodeAffinityScore(p) },
			want:   []int64{0, 100, 25},
		},
		{
			name:     "preferred pod affinity and anti-affinity",
			nodes:    three,
			existing: []*v1.Pod{pod("db", "", "", onNode("n1"), labeled("app", "db")), pod("w", "", "", onNode("n2"), labeled("app", "web"))},
			pod: pod("p", "", "", func(p *v1.Pod) {
				term := func(app string, w int32) []v1.WeightedPodAffinityTerm {
					return []v1.WeightedPodAffinityTerm{{Weight: w, PodAffinityTerm: v1.PodAffinityTerm{
						TopologyKey: v1.LabelHostname, LabelSelector: metaSelector("app", app)}}}
				}
				p.Spec.Affinity = &v1.Affinity{
					PodAffinity:     &v1.PodAffinity{PreferredDuringSchedulingIgnoredDuringExecution: term("db", 50)},
					PodAntiAffinity: &v1.PodAntiAffinity{PreferredDuringSchedulingIgnoredDuringExecution: term("web", 50)},
				}
			}),
			scorer: func(p *v1.Pod, _ *podInfo, c *cache) scorer { return newPodAffinityScore(p, c, nil) },
			// raw 50, -50, 0
			want: []int64{100, 0, 50},
		},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			c := cacheWith(tt.nodes, tt.existing...)
			c.mu.Lock()
			defer c.mu.Unlock()
			got := scores(c, names, tt.scorer(tt.pod, newPodInfo(tt.pod, ""), c))
			if !slices.Equal(got, tt.want) {
				t.Fatalf("scores = %v, want %v", got, tt.want)
			}
		})
	}
}

// TestScorersHotPath: a pod without owner or affinity gets only the
// resource and taint scores.
func TestScorersHotPath(t *testing.T) {
	c := cacheWith([]*v1.Node{node("n1", "4", "8Gi", 110)})
	p := pod("p", "1", "")
	if ss := newScorers(p, newPodInfo(p, ""), c, nil); len(ss) != 3 {
		t.Fatalf("got %d scorers, want 3", len(ss))
	}
	p = pod("p", "1", "", ownedBy("rs"))
	if ss := newScorers(p, newPodInfo(p, ""), c, nil); len(ss) != 3 {
		t.Fatalf("got %d scorers for the first pod of an owner, want 3", len(ss))
	}
	c.setPod("ns/other", pod("other", "1", "", ownedBy("rs"), onNode("n1")))
	if ss := newScorers(p, newPodInfo(p, ""), c, nil); len(ss) != 4 {
		t.Fatalf("got %d scorers for an owned pod, want 4", len(ss))
	}
}
