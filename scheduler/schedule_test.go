package scheduler

import (
	"errors"
	"fmt"
	"testing"

	v1 "k8s.io/api/core/v1"
)

// testScheduler is a Scheduler without API: just cache and algorithm.
func testScheduler(seed uint64, nodes []*v1.Node, pods ...*v1.Pod) *Scheduler {
	return &Scheduler{cache: cacheWith(nodes, pods...), algo: newAlgorithm(seed, nil)}
}

func TestFitErrorMessage(t *testing.T) {
	tests := []struct {
		name  string
		nodes []*v1.Node
		pod   *v1.Pod
		want  string
	}{
		{
			name: "taint and cpu",
			nodes: []*v1.Node{
				node("sim-0", "4", "8Gi", 110, withTaint("dedicated", "db", v1.TaintEffectNoSchedule)),
				node("sim-1", "4", "8Gi", 110), node("sim-2", "4", "8Gi", 110), node("sim-3", "4", "8Gi", 110),
			},
			pod:  pod("big", "64", ""),
			want: "0/4 nodes are available: 1 node(s) had untolerated taint {dedicated: db}, 3 Insufficient cpu.",
		},
		{
			name: "several resources, selector, not ready",
			nodes: []*v1.Node{
				node("a", "1", "1Gi", 110, withLabel("disk", "ssd")), node("b", "1", "1Gi", 110, withLabel("disk", "ssd"), notReady(v1.ConditionUnknown)),
				node("c", "8", "8Gi", 110),
			},
			pod: pod("p", "2", "2Gi", func(p *v1.Pod) { p.Spec.NodeSelector = map[string]string{"disk": "ssd"} }),
			want: "0/3 nodes are available: 1 Insufficient cpu, 1 Insufficient memory, " +
				"1 node(s) didn't match Pod's node affinity/selector, 1 node(s) were not ready.",
		},
		{name: "no nodes", pod: pod("p", "", ""), want: "0/0 nodes are available: no nodes available to schedule pods."},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			s := testScheduler(1, tt.nodes)
			_, err := s.place(podKey(tt.pod), tt.pod)
			var fe *fitError
			if !errors.As(err, &fe) {
				t.Fatalf("place: %v, want a fit error", err)
			}
			if err.Error() != tt.want {
				t.Fatalf("message:\n got %q\nwant %q", err.Error(), tt.want)
			}
		})
	}
}

// TestBurstDoesNotOvercommit: pods decided one after the other, before any
// binding is observed, never exceed a node's allocatable, and a forgotten
// (failed) binding frees its room.
func TestBurstDoesNotOvercommit(t *testing.T) {
	nodes := []*v1.Node{node("n1", "4", "8Gi", 110), node("n2", "4", "8Gi", 110), node("n3", "2", "8Gi", 3)}
	s := testScheduler(7, nodes)
	placed := map[string]int{}
	var lastKey string
	failures := 0
	for i := range 50 {
		p := pod(fmt.Sprintf("p%d", i), "1", "1Gi")
		n, err := s.place(podKey(p), p)
		if err != nil {
			failures++
			if want := "0/3 nodes are available: 3 Insufficient cpu."; err.Error() != want {
				t.Fatalf("pod %d: %q, want %q", i, err, want)
			}
			continue
		}
		placed[n]++
		lastKey = podKey(p)
	}
	if placed["n1"] != 4 || placed["n2"] != 4 || placed["n3"] != 2 || failures != 40 {
		t.Fatalf("placed %v with %d failures, want 4, 4, 2 and 40", placed, failures)
	}
	for _, n := range s.cache.list {
		if n.requested.milliCPU > n.allocatable.milliCPU {
			t.Fatalf("node %s overcommitted: %dm of %dm", n.name, n.requested.milliCPU, n.allocatable.milliCPU)
		}
	}
	s.cache.forget(lastKey)
	p := pod("again", "1", "1Gi")
	if _, err := s.place(podKey(p), p); err != nil {
		t.Fatalf("after forgetting a pod: %v", err)
	}
	// A confirmed pod is not forgotten.
	bound := pod("again", "1", "1Gi", onNode(s.cache.pods["ns/again"].node))
	s.cache.setPod("ns/again", bound)
	s.cache.forget("ns/again")
	if s.cache.pods["ns/again"] == nil {
		t.Fatal("forget dropped a pod the informer showed bound")
	}
	if _, err := s.place("ns/again", bound); !errors.Is(err, errAlreadyPlaced) {
		t.Fatalf("placing a bound pod again: %v", err)
	}
}

// TestSpreadReplicas is the acceptance scenario: 8 replicas of 500m on 4
// nodes of 4 cpu, one of them tainted, land at most 3 per node and none on
// the tainted one, whatever the tie-breaks.
func TestSpreadReplicas(t *testing.T) {
	for seed := range uint64(20) {
		nodes := []*v1.Node{
			node("sim-0", "4", "8Gi", 110, withTaint("dedicated", "db", v1.TaintEffectNoSchedule)),
			node("sim-1", "4", "8Gi", 110), node("sim-2", "4", "8Gi", 110), node("sim-3", "4", "8Gi", 110),
		}
		// A DaemonSet pod and a Job pod already run on some nodes.
		s := testScheduler(seed, nodes, pod("agent", "", "", onNode("sim-1"), ownedBy("ds")), pod("job", "", "", onNode("sim-2"), ownedBy("job")))
		count := map[string]int{}
		for i := range 8 {
			p := pod(fmt.Sprintf("web-%d", i), "500m", "64Mi", ownedBy("rs-web"))
			n, err := s.place(podKey(p), p)
			if err != nil {
				t.Fatal(err)
			}
			count[n]++
		}
		if count["sim-0"] != 0 || count["sim-1"] > 3 || count["sim-2"] > 3 || count["sim-3"] > 3 {
			t.Fatalf("seed %d: replicas per node %v", seed, count)
		}
	}
}

func TestNumFeasibleNodesToFind(t *testing.T) {
	tests := []struct {
		pct, nodes, want int
	}{
		{0, 10, 10}, {0, 99, 99}, {0, 100, 100}, {0, 1000, 100}, {0, 5000, 250}, {0, 30000, 1500}, {0, 200, 100},
		{100, 1000, 1000}, {10, 1000, 100}, {50, 1000, 500},
	}
	for _, tt := range tests {
		a := &algorithm{percentageOfNodesToScore: tt.pct}
		if got := a.numFeasibleNodesToFind(tt.nodes); got != tt.want {
			t.Errorf("pct %d, %d nodes: %d, want %d", tt.pct, tt.nodes, got, tt.want)
		}
	}
}

// TestSamplingRotates: with many nodes a cycle looks at a share of them,
// starting where the last one stopped, so replicas still spread over the
// whole cluster.
func TestSamplingRotates(t *testing.T) {
	var nodes []*v1.Node
	for i := range 1000 {
		nodes = append(nodes, node(fmt.Sprintf("n%d", i), "4", "8Gi", 110))
	}
	s := testScheduler(3, nodes)
	count := map[string]int{}
	for i := range 3000 {
		p := pod(fmt.Sprintf("p%d", i), "100m", "100Mi", ownedBy("rs"))
		n, err := s.place(podKey(p), p)
		if err != nil {
			t.Fatal(err)
		}
		count[n]++
		if i == 0 && s.algo.next != 100 {
			t.Fatalf("first cycle stopped at node %d, want 100", s.algo.next)
		}
	}
	if len(count) != 1000 {
		t.Fatalf("3000 replicas used %d of 1000 nodes", len(count))
	}
	for n, c := range count {
		if c > 4 {
			t.Fatalf("node %s got %d of 3000 replicas on 1000 nodes", n, c)
		}
	}
}

// TestSpreadBeatsBiggerNode: replicas spread even when one node is much
// larger, where "least allocated" alone would stack them all there.
func TestSpreadBeatsBiggerNode(t *testing.T) {
	for seed := range uint64(10) {
		s := testScheduler(seed, []*v1.Node{node("big", "64", "256Gi", 110), node("small-1", "4", "8Gi", 110), node("small-2", "4", "8Gi", 110)})
		count := map[string]int{}
		for i := range 6 {
			p := pod(fmt.Sprintf("web-%d", i), "500m", "64Mi", ownedBy("rs-web"))
			n, err := s.place(podKey(p), p)
			if err != nil {
				t.Fatal(err)
			}
			count[n]++
		}
		if count["big"] != 2 || count["small-1"] != 2 || count["small-2"] != 2 {
			t.Fatalf("seed %d: replicas per node %v, want 2 each", seed, count)
		}
	}
}
