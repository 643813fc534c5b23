package nodelifecycle

import (
	"context"
	"fmt"
	"io"
	"log/slog"
	"sort"
	"strings"
	"testing"
	"time"

	coordinationv1 "k8s.io/api/coordination/v1"
	corev1 "k8s.io/api/core/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/runtime"
	"k8s.io/apimachinery/pkg/types"
	"k8s.io/client-go/informers"
	"k8s.io/client-go/kubernetes/fake"
	k8stesting "k8s.io/client-go/testing"
	"k8s.io/client-go/tools/cache"
	"k8s.io/client-go/tools/record"

	"github.com/sqlkube/sqlkube/controllers/reconcile"
)

var t0 = time.Date(2026, 1, 1, 0, 0, 0, 0, time.UTC)

const grace = 40 * time.Second

func readyNode(name string, status corev1.ConditionStatus, taints ...corev1.Taint) *corev1.Node {
	return &corev1.Node{
		ObjectMeta: metav1.ObjectMeta{Name: name, UID: types.UID("uid-" + name), ResourceVersion: "1"},
		Spec:       corev1.NodeSpec{Taints: taints},
		Status: corev1.NodeStatus{Conditions: []corev1.NodeCondition{
			{Type: corev1.NodeReady, Status: status, LastHeartbeatTime: metav1.NewTime(t0.Add(-time.Hour))},
			{Type: corev1.NodeMemoryPressure, Status: corev1.ConditionFalse},
		}},
	}
}

func lease(name string, renew time.Time) *coordinationv1.Lease {
	return &coordinationv1.Lease{
		ObjectMeta: metav1.ObjectMeta{Name: name, Namespace: corev1.NamespaceNodeLease},
		Spec:       coordinationv1.LeaseSpec{RenewTime: &metav1.MicroTime{Time: renew}},
	}
}

func noExecute(key string, added time.Time) corev1.Taint {
	return corev1.Taint{Key: key, Effect: corev1.TaintEffectNoExecute, TimeAdded: &metav1.Time{Time: added}}
}

func tolerate(key string, seconds *int64) corev1.Toleration {
	return corev1.Toleration{Key: key, Operator: corev1.TolerationOpExists, Effect: corev1.TaintEffectNoExecute, TolerationSeconds: seconds}
}

func pod(name, node string, mods ...func(*corev1.Pod)) *corev1.Pod {
	p := &corev1.Pod{
		ObjectMeta: metav1.ObjectMeta{Name: name, Namespace: "demo", UID: types.UID("uid-" + name), ResourceVersion: "1"},
		Spec:       corev1.PodSpec{NodeName: node},
		Status: corev1.PodStatus{Phase: corev1.PodRunning, Conditions: []corev1.PodCondition{
			{Type: corev1.PodReady, Status: corev1.ConditionTrue},
		}},
	}
	for _, m := range mods {
		m(p)
	}
	return p
}

func tolerating(t ...corev1.Toleration) func(*corev1.Pod) {
	return func(p *corev1.Pod) { p.Spec.Tolerations = t }
}

func TestEvictionTime(t *testing.T) {
	unreachable := noExecute(corev1.TaintNodeUnreachable, t0.Add(-100*time.Second))
	notReady := noExecute(corev1.TaintNodeNotReady, t0.Add(-10*time.Second))
	tests := []struct {
		name        string
		taints      []corev1.Taint
		tolerations []corev1.Toleration
		evict       bool
		at          time.Time
	}{
		{"no taints", nil, nil, false, time.Time{}},
		{"untolerated: now", []corev1.Taint{unreachable}, nil, true, t0},
		{"other toleration: now", []corev1.Taint{unreachable}, []corev1.Toleration{tolerate(corev1.TaintNodeNotReady, nil)}, true, t0},
		{"NoSchedule toleration does not count", []corev1.Taint{unreachable}, []corev1.Toleration{{Key: corev1.TaintNodeUnreachable, Operator: corev1.TolerationOpExists, Effect: corev1.TaintEffectNoSchedule}}, true, t0},
		{"tolerated forever", []corev1.Taint{unreachable}, []corev1.Toleration{tolerate(corev1.TaintNodeUnreachable, nil)}, false, time.Time{}},
		{"tolerate everything", []corev1.Taint{unreachable, notReady}, []corev1.Toleration{{Operator: corev1.TolerationOpExists}}, false, time.Time{}},
		{"from timeAdded", []corev1.Taint{unreachable}, []corev1.Toleration{tolerate(corev1.TaintNodeUnreachable, new(int64(300)))}, true, t0.Add(200 * time.Second)},
		{"already expired", []corev1.Taint{unreachable}, []corev1.Toleration{tolerate(corev1.TaintNodeUnreachable, new(int64(5)))}, true, t0.Add(-95 * time.Second)},
		{"negative seconds mean zero", []corev1.Taint{unreachable}, []corev1.Toleration{tolerate(corev1.TaintNodeUnreachable, new(int64(-5)))}, true, t0.Add(-100 * time.Second)},
		{
			"earliest of two taints",
			[]corev1.Taint{unreachable, notReady},
			[]corev1.Toleration{tolerate(corev1.TaintNodeUnreachable, new(int64(300))), tolerate(corev1.TaintNodeNotReady, new(int64(60)))},
			true, t0.Add(50 * time.Second),
		},
		{
			"a forever taint does not hide a limited one",
			[]corev1.Taint{unreachable, notReady},
			[]corev1.Toleration{tolerate(corev1.TaintNodeUnreachable, nil), tolerate(corev1.TaintNodeNotReady, new(int64(60)))},
			true, t0.Add(50 * time.Second),
		},
		{
			"most lenient of two tolerations",
			[]corev1.Taint{unreachable},
			[]corev1.Toleration{tolerate(corev1.TaintNodeUnreachable, new(int64(10))), tolerate(corev1.TaintNodeUnreachable, new(int64(300)))},
			true, t0.Add(200 * time.Second),
		},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			started := map[string]time.Time{}
			for _, taint := range tt.taints {
				started[taintID(taint)] = taint.TimeAdded.Time
			}
			p := pod("p", "n1", tolerating(tt.tolerations...))
			at, evict := evictionTime(p, tt.taints, started, t0)
			if evict != tt.evict || !at.Equal(tt.at) {
				t.Errorf("evictionTime = (%v, %v), want (%v, %v)", at, evict, tt.at, tt.evict)
			}
		})
	}
}

func taintString(taints []corev1.Taint) string {
	var s []string
	for _, t := range taints {
		x := t.Key + ":" + string(t.Effect)
		if t.TimeAdded != nil {
			x += "@" + t.TimeAdded.UTC().Format("15:04:05")
		}
		s = append(s, x)
	}
	sort.Strings(s)
	return strings.Join(s, ",")
}

func TestReconcileTaints(t *testing.T) {
	dedicated := corev1.Taint{Key: "dedicated", Value: "db", Effect: corev1.TaintEffectNoSchedule}
	userNotReady := corev1.Taint{Key: corev1.TaintNodeNotReady, Effect: corev1.TaintEffectPreferNoSchedule}
	earlier := t0.Add(-time.Minute)
	at := func(h, m, s int) string { return fmt.Sprintf("@%02d:%02d:%02d", h, m, s) }
	tests := []struct {
		name    string
		node    *corev1.Node
		want    string
		changed bool
	}{
		{"healthy node", readyNode("n", corev1.ConditionTrue, dedicated), "dedicated:NoSchedule", false},
		{
			"unknown", readyNode("n", corev1.ConditionUnknown, dedicated),
			"dedicated:NoSchedule,node.kubernetes.io/unreachable:NoExecute" + at(0, 0, 0) + ",node.kubernetes.io/unreachable:NoSchedule", true,
		},
		{
			"not ready", readyNode("n", corev1.ConditionFalse),
			"node.kubernetes.io/not-ready:NoExecute" + at(0, 0, 0) + ",node.kubernetes.io/not-ready:NoSchedule", true,
		},
		{
			"not ready becomes unknown",
			readyNode("n", corev1.ConditionUnknown, noExecute(corev1.TaintNodeNotReady, earlier), corev1.Taint{Key: corev1.TaintNodeNotReady, Effect: corev1.TaintEffectNoSchedule}),
			"node.kubernetes.io/unreachable:NoExecute" + at(0, 0, 0) + ",node.kubernetes.io/unreachable:NoSchedule", true,
		},
		{
			"still unknown keeps timeAdded",
			readyNode("n", corev1.ConditionUnknown, noExecute(corev1.TaintNodeUnreachable, earlier), corev1.Taint{Key: corev1.TaintNodeUnreachable, Effect: corev1.TaintEffectNoSchedule}),
			"node.kubernetes.io/unreachable:NoExecute" + at(23, 59, 0) + ",node.kubernetes.io/unreachable:NoSchedule", false,
		},
		{
			"recovered: only managed taints go",
			readyNode("n", corev1.ConditionTrue, dedicated, userNotReady, noExecute(corev1.TaintNodeUnreachable, earlier), corev1.Taint{Key: corev1.TaintNodeUnreachable, Effect: corev1.TaintEffectNoSchedule}),
			"dedicated:NoSchedule,node.kubernetes.io/not-ready:PreferNoSchedule", true,
		},
		{
			"cordoned", func() *corev1.Node { n := readyNode("n", corev1.ConditionTrue); n.Spec.Unschedulable = true; return n }(),
			"node.kubernetes.io/unschedulable:NoSchedule", true,
		},
		{
			"uncordoned", readyNode("n", corev1.ConditionTrue, corev1.Taint{Key: corev1.TaintNodeUnschedulable, Effect: corev1.TaintEffectNoSchedule}),
			"", true,
		},
		{
			"memory pressure", func() *corev1.Node {
				n := readyNode("n", corev1.ConditionTrue)
				n.Status.Conditions[1].Status = corev1.ConditionTrue
				return n
			}(),
			"node.kubernetes.io/memory-pressure:NoSchedule", true,
		},
		{"registering: no status yet", &corev1.Node{ObjectMeta: metav1.ObjectMeta{Name: "n"}}, "", false},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			got, changed := reconcileTaints(tt.node, t0)
			if s := taintString(got); s != tt.want || changed != tt.changed {
				t.Errorf("reconcileTaints = %q, %v; want %q, %v", s, changed, tt.want, tt.changed)
			}
		})
	}
}

// fixture runs the controller's sync functions against a fake clientset
// and informer caches the test fills, with a clock the test moves.
type fixture struct {
	t      *testing.T
	client *fake.Clientset
	inf    informers.SharedInformerFactory
	c      *Controller
	now    time.Time
}

func newFixture(t *testing.T, objs ...runtime.Object) *fixture {
	t.Helper()
	client := fake.NewClientset(objs...)
	inf := informers.NewSharedInformerFactory(client, 0)
	cfg := &reconcile.Config{Client: client, Informers: inf, NodeMonitorGracePeriod: grace, Logger: slog.New(slog.NewTextHandler(io.Discard, nil))}
	t.Cleanup(cfg.Shutdown)
	f := &fixture{t: t, client: client, inf: inf, now: t0}
	f.c = New(cfg)
	f.c.recorder = record.NewFakeRecorder(1000)
	f.c.now = func() time.Time { return f.now }
	for _, o := range objs {
		f.cache(o)
	}
	return f
}

// cache puts o into its informer's cache as the informer would.
func (f *fixture) cache(o runtime.Object) {
	f.t.Helper()
	var idx cache.Indexer
	switch o.(type) {
	case *corev1.Node:
		idx = f.inf.Core().V1().Nodes().Informer().GetIndexer()
	case *corev1.Pod:
		idx = f.inf.Core().V1().Pods().Informer().GetIndexer()
	case *coordinationv1.Lease:
		idx = f.inf.Coordination().V1().Leases().Informer().GetIndexer()
		f.c.leaseChanged(o.(*coordinationv1.Lease))
	}
	if err := idx.Update(o); err != nil {
		f.t.Fatal(err)
	}
}

// catchUp copies the node as the API now has it into the cache.
func (f *fixture) catchUp(name string) *corev1.Node {
	f.t.Helper()
	n, err := f.client.CoreV1().Nodes().Get(context.Background(), name, metav1.GetOptions{})
	if err != nil {
		f.t.Fatal(err)
	}
	f.cache(n)
	return n
}

// writes returns the API writes since the last call, as "verb
// resource[/subresource] name[ grace=N]", and forgets them.
func (f *fixture) writes() []string {
	var out []string
	for _, a := range f.client.Actions() {
		r := a.GetResource().Resource
		if a.GetSubresource() != "" {
			r += "/" + a.GetSubresource()
		}
		switch a := a.(type) {
		case k8stesting.DeleteAction:
			s := "delete " + r + " " + a.GetName()
			if g := a.GetDeleteOptions().GracePeriodSeconds; g != nil {
				s += fmt.Sprintf(" grace=%d", *g)
			}
			out = append(out, s)
		case k8stesting.UpdateAction:
			name := ""
			if m, ok := a.GetObject().(metav1.Object); ok {
				name = m.GetName()
			}
			out = append(out, "update "+r+" "+name)
		}
	}
	f.client.ClearActions()
	sort.Strings(out)
	return out
}

func (f *fixture) syncNode(name string) {
	f.t.Helper()
	if err := f.c.syncNode(context.Background(), name); err != nil {
		f.t.Fatalf("syncNode %s: %v", name, err)
	}
}

func (f *fixture) syncPods(name string) {
	f.t.Helper()
	if err := f.c.syncPods(context.Background(), name); err != nil {
		f.t.Fatalf("syncPods %s: %v", name, err)
	}
}

func expect(t *testing.T, what string, got []string, want ...string) {
	t.Helper()
	if strings.Join(got, "\n") != strings.Join(want, "\n") {
		t.Errorf("%s: writes\n%s\nwant\n%s", what, strings.Join(got, "\n"), strings.Join(want, "\n"))
	}
}

func TestNodeStopsHeartbeating(t *testing.T) {
	// The node's clock is an hour behind: only renewals count, not times.
	f := newFixture(t, readyNode("n1", corev1.ConditionTrue), lease("n1", t0.Add(-time.Hour)))
	f.syncNode("n1")
	expect(t, "healthy node", f.writes())

	// Renewals keep it healthy past the grace period.
	for i := 1; i <= 4; i++ {
		f.now = t0.Add(time.Duration(i) * grace / 2)
		f.cache(lease("n1", t0.Add(-time.Hour+time.Duration(i)*10*time.Second)))
		f.syncNode("n1")
	}
	expect(t, "renewing node", f.writes())
	lastRenewal := f.now

	f.now = lastRenewal.Add(grace - time.Second)
	f.syncNode("n1")
	expect(t, "within the grace period", f.writes())

	f.now = lastRenewal.Add(grace)
	f.syncNode("n1")
	expect(t, "grace period over", f.writes(), "update nodes n1", "update nodes/status n1")
	n := f.catchUp("n1")
	ready := condition(n, corev1.NodeReady)
	if ready.Status != corev1.ConditionUnknown || ready.Reason != "NodeStatusUnknown" || ready.Message != "Kubelet stopped posting node status." || !ready.LastTransitionTime.Time.Equal(f.now) {
		t.Errorf("Ready = %+v", ready)
	}
	if mp := condition(n, corev1.NodeMemoryPressure); mp.Status != corev1.ConditionUnknown {
		t.Errorf("MemoryPressure = %+v", mp)
	}
	wantTaints := "node.kubernetes.io/unreachable:NoExecute@" + f.now.Format("15:04:05") + ",node.kubernetes.io/unreachable:NoSchedule"
	if s := taintString(n.Spec.Taints); s != wantTaints {
		t.Errorf("taints = %s, want %s", s, wantTaints)
	}
	if !f.c.health["n1"].unhealthy {
		t.Error("node not remembered as unhealthy")
	}

	f.now = f.now.Add(time.Minute)
	f.syncNode("n1")
	expect(t, "still dead", f.writes())

	// The node comes back: a renewal alone does not clear the taints...
	f.cache(lease("n1", t0))
	f.syncNode("n1")
	expect(t, "renewed, status still Unknown", f.writes())
	// ...its Ready status does.
	n = n.DeepCopy()
	ready = condition(n, corev1.NodeReady)
	ready.Status, ready.LastHeartbeatTime = corev1.ConditionTrue, metav1.NewTime(f.now)
	if _, err := f.client.CoreV1().Nodes().UpdateStatus(context.Background(), n, metav1.UpdateOptions{}); err != nil {
		t.Fatal(err)
	}
	f.client.ClearActions()
	f.catchUp("n1")
	f.syncNode("n1")
	expect(t, "recovered", f.writes(), "update nodes n1")
	if n := f.catchUp("n1"); len(n.Spec.Taints) != 0 {
		t.Errorf("taints after recovery: %v", n.Spec.Taints)
	}
}

func TestNodeWithoutLease(t *testing.T) {
	f := newFixture(t, readyNode("n1", corev1.ConditionTrue))
	f.syncNode("n1") // first sight starts the grace period
	f.now = t0.Add(grace - time.Millisecond)
	f.syncNode("n1")
	expect(t, "within the grace period of first sight", f.writes())
	f.now = t0.Add(grace)
	f.syncNode("n1")
	expect(t, "grace over", f.writes(), "update nodes n1", "update nodes/status n1")
}

func TestNodeNeverPostsStatus(t *testing.T) {
	f := newFixture(t, &corev1.Node{ObjectMeta: metav1.ObjectMeta{Name: "n1", CreationTimestamp: metav1.NewTime(t0)}})
	f.syncNode("n1")
	expect(t, "registering", f.writes())
	f.now = t0.Add(grace)
	f.syncNode("n1")
	expect(t, "silent for the grace period", f.writes(), "update nodes n1", "update nodes/status n1")
	n := f.catchUp("n1")
	if r := condition(n, corev1.NodeReady); r == nil || r.Status != corev1.ConditionUnknown || r.Reason != "NodeStatusNeverUpdated" {
		t.Errorf("Ready = %+v", r)
	}
	if s := taintString(n.Spec.Taints); !strings.Contains(s, "unreachable:NoExecute") {
		t.Errorf("taints = %s", s)
	}
}

func TestNodeReportsNotReady(t *testing.T) {
	f := newFixture(t, readyNode("n1", corev1.ConditionFalse), lease("n1", t0))
	f.syncNode("n1")
	expect(t, "kubelet says NotReady", f.writes(), "update nodes n1")
	if s := taintString(f.catchUp("n1").Spec.Taints); s != "node.kubernetes.io/not-ready:NoExecute@00:00:00,node.kubernetes.io/not-ready:NoSchedule" {
		t.Errorf("taints = %s", s)
	}
}

func TestEvictionPass(t *testing.T) {
	deleting := func(p *corev1.Pod) { p.DeletionTimestamp = &metav1.Time{Time: t0.Add(-time.Hour)} }
	succeeded := func(p *corev1.Pod) { p.Status.Phase = corev1.PodSucceeded }
	dead := readyNode("dead", corev1.ConditionUnknown, noExecute(corev1.TaintNodeUnreachable, t0.Add(-3*time.Second)))
	f := newFixture(t, dead,
		pod("plain", "dead"),
		pod("five", "dead", tolerating(tolerate(corev1.TaintNodeUnreachable, new(int64(5))))),
		pod("daemon", "dead", tolerating(tolerate(corev1.TaintNodeUnreachable, nil))),
		pod("terminating", "dead", deleting, tolerating(tolerate(corev1.TaintNodeUnreachable, nil))),
		pod("done", "dead", succeeded),
		pod("elsewhere", "alive"),
		readyNode("alive", corev1.ConditionTrue),
	)
	f.syncPods("dead")
	expect(t, "first pass", f.writes(),
		"delete pods plain grace=0",
		"delete pods terminating grace=0",
		"update pods/status daemon",
		"update pods/status five",
	)
	f.syncPods("alive")
	expect(t, "healthy node", f.writes())

	f.now = t0.Add(2 * time.Second)
	f.syncPods("dead")
	expect(t, "toleration expired", f.writes(),
		"delete pods five grace=0",
		"delete pods plain grace=0",
		"delete pods terminating grace=0",
		"update pods/status daemon",
	)
}

func TestEvictionFromReadyNode(t *testing.T) {
	// kubectl taint node n1 maintenance:NoExecute: the node is alive, so
	// it gets to stop the pods gracefully.
	n := readyNode("n1", corev1.ConditionTrue, corev1.Taint{Key: "maintenance", Effect: corev1.TaintEffectNoExecute})
	f := newFixture(t, n,
		pod("plain", "n1"),
		pod("ten", "n1", tolerating(tolerate("maintenance", new(int64(10))))),
		pod("terminating", "n1", func(p *corev1.Pod) { p.DeletionTimestamp = &metav1.Time{Time: t0} }),
	)
	f.syncPods("n1")
	expect(t, "first pass", f.writes(), "delete pods plain")
	// The taint has no timeAdded: the ten seconds count from first sight.
	f.now = t0.Add(9 * time.Second)
	f.syncPods("n1")
	expect(t, "9 s later", f.writes(), "delete pods plain")
	f.now = t0.Add(10 * time.Second)
	f.syncPods("n1")
	expect(t, "10 s later", f.writes(), "delete pods plain", "delete pods ten")
}

func TestPodsOfMissingNode(t *testing.T) {
	f := newFixture(t, pod("orphan", "gone"), pod("bound", "new"))
	f.syncPods("gone")
	expect(t, "node gone, first sight", f.writes())
	f.now = t0.Add(OrphanQuarantine - time.Second)
	f.syncPods("gone")
	expect(t, "node gone, quarantine not over", f.writes())
	f.now = t0.Add(OrphanQuarantine)
	f.syncPods("gone")
	expect(t, "node gone for the quarantine", f.writes(), "delete pods orphan grace=0")

	// The cache has not seen node "new" yet, but the API has it.
	if _, err := f.client.CoreV1().Nodes().Create(context.Background(), readyNode("new", corev1.ConditionTrue), metav1.CreateOptions{}); err != nil {
		t.Fatal(err)
	}
	f.client.ClearActions()
	f.syncPods("new")
	expect(t, "node not yet in cache", f.writes())
}
