package scheduler

import (
	"slices"
	"testing"

	v1 "k8s.io/api/core/v1"
	"k8s.io/apimachinery/pkg/api/resource"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/labels"
)

// check runs pod's filters against the node named n1 of c and returns the
// reasons it fails (nil when it fits).
func check(t *testing.T, c *cache, p *v1.Pod) []string {
	t.Helper()
	c.mu.Lock()
	defer c.mu.Unlock()
	fs, err := newFilters(p, newPodInfo(p, ""), c, nil)
	if err != nil {
		t.Fatalf("newFilters: %v", err)
	}
	var why []string
	for _, f := range fs {
		if !f.fits(c.nodes["n1"], &why) {
			return why
		}
	}
	if len(why) > 0 {
		t.Fatalf("filters passed but gave reasons %v", why)
	}
	return nil
}

func TestFilters(t *testing.T) {
	big := node("n1", "4", "8Gi", 110)
	tests := []struct {
		name     string
		node     *v1.Node
		existing []*v1.Pod
		pod      *v1.Pod
		want     []string // nil: fits
	}{
		// ready and schedulable
		{name: "ready node fits", node: big, pod: pod("p", "1", "1Gi")},
		{name: "not ready", node: node("n1", "4", "8Gi", 110, notReady(v1.ConditionFalse)), pod: pod("p", "", ""), want: []string{reasonNotReady}},
		{name: "unreachable", node: node("n1", "4", "8Gi", 110, notReady(v1.ConditionUnknown)), pod: pod("p", "", ""), want: []string{reasonNotReady}},
		{name: "not ready tolerated", node: node("n1", "4", "8Gi", 110, notReady(v1.ConditionFalse)),
			pod: pod("p", "", "", tolerating(v1.TaintNodeNotReady, "", v1.TaintEffectNoSchedule))},
		{name: "cordoned", node: node("n1", "4", "8Gi", 110, cordoned), pod: pod("p", "", ""), want: []string{reasonUnschedulable}},
		{name: "cordoned tolerated", node: node("n1", "4", "8Gi", 110, cordoned),
			pod: pod("p", "", "", tolerating(v1.TaintNodeUnschedulable, "", ""))},

		// taints
		{name: "NoSchedule taint", node: node("n1", "4", "8Gi", 110, withTaint("dedicated", "db", v1.TaintEffectNoSchedule)),
			pod: pod("p", "", ""), want: []string{"node(s) had untolerated taint {dedicated: db}"}},
		{name: "NoExecute taint", node: node("n1", "4", "8Gi", 110, withTaint("k", "", v1.TaintEffectNoExecute)),
			pod: pod("p", "", ""), want: []string{"node(s) had untolerated taint {k: }"}},
		{name: "PreferNoSchedule taint does not filter", node: node("n1", "4", "8Gi", 110, withTaint("k", "v", v1.TaintEffectPreferNoSchedule)),
			pod: pod("p", "", "")},
		{name: "tolerated by value", node: node("n1", "4", "8Gi", 110, withTaint("dedicated", "db", v1.TaintEffectNoSchedule)),
			pod: pod("p", "", "", tolerating("dedicated", "db", v1.TaintEffectNoSchedule))},
		{name: "toleration with other value", node: node("n1", "4", "8Gi", 110, withTaint("dedicated", "db", v1.TaintEffectNoSchedule)),
			pod: pod("p", "", "", tolerating("dedicated", "web", v1.TaintEffectNoSchedule)), want: []string{"node(s) had untolerated taint {dedicated: db}"}},
		{name: "tolerated by Exists", node: node("n1", "4", "8Gi", 110, withTaint("dedicated", "db", v1.TaintEffectNoSchedule)),
			pod: pod("p", "", "", tolerating("dedicated", "", ""))},

		// node selector and affinity
		{name: "nodeSelector matches", node: node("n1", "4", "8Gi", 110, withLabel("disk", "ssd")),
			pod: pod("p", "", "", func(p *v1.Pod) { p.Spec.NodeSelector = map[string]string{"disk": "ssd"} })},
		{name: "nodeSelector does not match", node: big,
			pod: pod("p", "", "", func(p *v1.Pod) { p.Spec.NodeSelector = map[string]string{"disk": "ssd"} }), want: []string{reasonNodeAffinity}},
		{name: "required node affinity In", node: node("n1", "4", "8Gi", 110, withLabel("zone", "a")),
			pod: pod("p", "", "", nodeAffinityIn("zone", "a", "b"))},
		{name: "required node affinity not In", node: node("n1", "4", "8Gi", 110, withLabel("zone", "c")),
			pod: pod("p", "", "", nodeAffinityIn("zone", "a", "b")), want: []string{reasonNodeAffinity}},

		// host ports
		{name: "free host port", node: big, existing: []*v1.Pod{pod("e", "", "", onNode("n1"), hostPortOn(80, ""))},
			pod: pod("p", "", "", hostPortOn(8080, ""))},
		{name: "taken host port", node: big, existing: []*v1.Pod{pod("e", "", "", onNode("n1"), hostPortOn(80, ""))},
			pod: pod("p", "", "", hostPortOn(80, "")), want: []string{reasonPorts}},
		{name: "same port other IP", node: big, existing: []*v1.Pod{pod("e", "", "", onNode("n1"), hostPortOn(80, "10.0.0.1"))},
			pod: pod("p", "", "", hostPortOn(80, "10.0.0.2"))},
		{name: "wildcard against specific IP", node: big, existing: []*v1.Pod{pod("e", "", "", onNode("n1"), hostPortOn(80, "10.0.0.1"))},
			pod: pod("p", "", "", hostPortOn(80, "")), want: []string{reasonPorts}},

		// resources
		{name: "fits exactly", node: big, existing: []*v1.Pod{pod("e", "3", "4Gi", onNode("n1"))}, pod: pod("p", "1", "4Gi")},
		{name: "insufficient cpu", node: big, existing: []*v1.Pod{pod("e", "3500m", "", onNode("n1"))},
			pod: pod("p", "1", ""), want: []string{"Insufficient cpu"}},
		{name: "insufficient cpu and memory", node: big, existing: []*v1.Pod{pod("e", "4", "8Gi", onNode("n1"))},
			pod: pod("p", "1", "1Mi"), want: []string{"Insufficient cpu", "Insufficient memory"}},
		{name: "zero request fits a full node", node: big, existing: []*v1.Pod{pod("e", "4", "8Gi", onNode("n1"))}, pod: pod("p", "", "")},
		{name: "too many pods", node: node("n1", "4", "8Gi", 1), existing: []*v1.Pod{pod("e", "", "", onNode("n1"))},
			pod: pod("p", "", ""), want: []string{reasonTooManyPods}},
		{name: "finished pods free the node", node: big,
			existing: []*v1.Pod{pod("e", "4", "", onNode("n1"), func(p *v1.Pod) { p.Status.Phase = v1.PodSucceeded })},
			pod:      pod("p", "1", "")},
		{name: "ephemeral storage", node: big, pod: pod("p", "", "", func(p *v1.Pod) {
			p.Spec.Containers[0].Resources.Requests[v1.ResourceEphemeralStorage] = resourceQ("200Gi")
		}), want: []string{"Insufficient ephemeral-storage"}},
		{name: "extended resource the node lacks", node: big, pod: pod("p", "", "", func(p *v1.Pod) {
			p.Spec.Containers[0].Resources.Requests["example.com/gpu"] = resourceQ("1")
		}), want: []string{"Insufficient example.com/gpu"}},
		{name: "init containers count by their max", node: big, pod: pod("p", "1", "", func(p *v1.Pod) {
			p.Spec.InitContainers = []v1.Container{{Name: "i", Resources: v1.ResourceRequirements{Requests: v1.ResourceList{v1.ResourceCPU: resourceQ("5")}}}}
		}), want: []string{"Insufficient cpu"}},

		// pod affinity and anti-affinity on the hostname
		{name: "affinity satisfied", node: big, existing: []*v1.Pod{pod("db", "", "", onNode("n1"), labeled("app", "db"))},
			pod: pod("p", "", "", podAffinity(false, v1.LabelHostname, map[string]string{"app": "db"}))},
		{name: "affinity pod elsewhere", node: big, existing: []*v1.Pod{pod("db", "", "", onNode("n2"), labeled("app", "db"))},
			pod: pod("p", "", "", podAffinity(false, v1.LabelHostname, map[string]string{"app": "db"})), want: []string{reasonPodAffinity}},
		{name: "affinity to itself when nothing matches", node: big,
			pod: pod("p", "", "", labeled("app", "db"), podAffinity(false, v1.LabelHostname, map[string]string{"app": "db"}))},
		{name: "affinity to nothing", node: big,
			pod: pod("p", "", "", podAffinity(false, v1.LabelHostname, map[string]string{"app": "db"})), want: []string{reasonPodAffinity}},
		{name: "affinity ignores other namespaces", node: big,
			existing: []*v1.Pod{pod("db", "", "", onNode("n1"), labeled("app", "db"), func(p *v1.Pod) { p.Namespace = "other" })},
			pod:      pod("p", "", "", podAffinity(false, v1.LabelHostname, map[string]string{"app": "db"})), want: []string{reasonPodAffinity}},
		{name: "anti-affinity violated", node: big, existing: []*v1.Pod{pod("w", "", "", onNode("n1"), labeled("app", "web"))},
			pod: pod("p", "", "", podAntiAffinityTo("web")), want: []string{reasonPodAntiAffinity}},
		{name: "anti-affinity elsewhere", node: big, existing: []*v1.Pod{pod("w", "", "", onNode("n2"), labeled("app", "web"))},
			pod: pod("p", "", "", podAntiAffinityTo("web"))},
		{name: "existing pod's anti-affinity", node: big,
			existing: []*v1.Pod{pod("w", "", "", onNode("n1"), podAntiAffinityTo("web"))},
			pod:      pod("p", "", "", labeled("app", "web")), want: []string{reasonExistingAntiAffinity}},
		{name: "existing pod's anti-affinity does not match", node: big,
			existing: []*v1.Pod{pod("w", "", "", onNode("n1"), podAntiAffinityTo("web"))},
			pod:      pod("p", "", "", labeled("app", "api"))},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			c := cacheWith([]*v1.Node{tt.node, node("n2", "4", "8Gi", 110)}, tt.existing...)
			got := check(t, c, tt.pod)
			if !slices.Equal(got, tt.want) {
				t.Fatalf("reasons = %q, want %q", got, tt.want)
			}
		})
	}
}

func nodeAffinityIn(key string, values ...string) func(*v1.Pod) {
	return func(p *v1.Pod) {
		p.Spec.Affinity = &v1.Affinity{NodeAffinity: &v1.NodeAffinity{
			RequiredDuringSchedulingIgnoredDuringExecution: &v1.NodeSelector{NodeSelectorTerms: []v1.NodeSelectorTerm{{
				MatchExpressions: []v1.NodeSelectorRequirement{{Key: key, Operator: v1.NodeSelectorOpIn, Values: values}},
			}}},
		}}
	}
}

func podAntiAffinityTo(app string) func(*v1.Pod) {
	return podAffinity(true, v1.LabelHostname, map[string]string{"app": app})
}

// TestFilterHotPath: a pod without constraints builds only the checks every
// pod needs, so that the cycle stays cheap.
func TestFilterHotPath(t *testing.T) {
	c := cacheWith([]*v1.Node{node("n1", "4", "8Gi", 110)})
	p := pod("p", "1", "")
	fs, err := newFilters(p, newPodInfo(p, ""), c, nil)
	if err != nil {
		t.Fatal(err)
	}
	if len(fs) != 3 {
		t.Fatalf("got %d filters (%T...), want ready, taints and resources only", len(fs), fs)
	}
	why := new([]string)
	if n := testing.AllocsPerRun(100, func() {
		for _, f := range fs {
			f.fits(c.nodes["n1"], why)
		}
	}); n != 0 {
		t.Fatalf("filters of a fitting node allocate %v times", n)
	}
}

// TestNamespaceSelector: an affinity term with a namespaceSelector looks at
// the pods of the namespaces it selects.
func TestNamespaceSelector(t *testing.T) {
	c := cacheWith([]*v1.Node{node("n1", "4", "8Gi", 110)},
		pod("db", "", "", onNode("n1"), labeled("app", "db"), func(p *v1.Pod) { p.Namespace = "team-a" }))
	p := pod("p", "", "", podAffinity(false, v1.LabelHostname, map[string]string{"app": "db"}), func(p *v1.Pod) {
		p.Spec.Affinity.PodAffinity.RequiredDuringSchedulingIgnoredDuringExecution[0].NamespaceSelector = &metav1.LabelSelector{MatchLabels: map[string]string{"team": "a"}}
	})
	c.mu.Lock()
	defer c.mu.Unlock()
	fs, err := newFilters(p, newPodInfo(p, ""), c, func(sel labels.Selector) []string {
		if sel.Matches(labels.Set{"team": "a"}) {
			return []string{"team-a"}
		}
		return nil
	})
	if err != nil {
		t.Fatal(err)
	}
	var why []string
	for _, f := range fs {
		if !f.fits(c.nodes["n1"], &why) {
			t.Fatalf("pod with namespaceSelector does not fit: %v", why)
		}
	}
}

func resourceQ(s string) resource.Quantity { return resource.MustParse(s) }
