package daemonset

import (
	"context"
	"fmt"
	"sort"
	"strings"
	"testing"
	"time"

	appsv1 "k8s.io/api/apps/v1"
	corev1 "k8s.io/api/core/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/runtime"
	"k8s.io/apimachinery/pkg/types"
	"k8s.io/apimachinery/pkg/util/intstr"
	"k8s.io/client-go/kubernetes/fake"
	k8stesting "k8s.io/client-go/testing"
	"k8s.io/client-go/tools/record"

	"github.com/sqlkube/sqlkube/controllers/internal/controllertest"
)

var t0 = time.Date(2026, 1, 1, 0, 0, 0, 0, time.UTC)

func node(name string, mods ...func(*corev1.Node)) *corev1.Node {
	n := &corev1.Node{ObjectMeta: metav1.ObjectMeta{Name: name, UID: types.UID("uid-" + name), Labels: map[string]string{"kubernetes.io/hostname": name}}}
	for _, m := range mods {
		m(n)
	}
	return n
}

func taint(key string, effect corev1.TaintEffect) func(*corev1.Node) {
	return func(n *corev1.Node) {
		n.Spec.Taints = append(n.Spec.Taints, corev1.Taint{Key: key, Value: "x", Effect: effect})
	}
}

func label(k, v string) func(*corev1.Node) {
	return func(n *corev1.Node) { n.Labels[k] = v }
}

func daemonSet(mods ...func(*appsv1.DaemonSet)) *appsv1.DaemonSet {
	ds := &appsv1.DaemonSet{
		ObjectMeta: metav1.ObjectMeta{Name: "agent", Namespace: "demo", UID: "ds-uid", Generation: 1},
		Spec: appsv1.DaemonSetSpec{
			Selector: &metav1.LabelSelector{MatchLabels: map[string]string{"app": "agent"}},
			Template: corev1.PodTemplateSpec{
				ObjectMeta: metav1.ObjectMeta{Labels: map[string]string{"app": "agent"}},
				Spec:       corev1.PodSpec{Containers: []corev1.Container{{Name: "a", Image: "agent:1"}}},
			},
			UpdateStrategy: appsv1.DaemonSetUpdateStrategy{Type: appsv1.RollingUpdateDaemonSetStrategyType},
		},
	}
	for _, m := range mods {
		m(ds)
	}
	return ds
}

// daemonPod returns a running, ready pod of ds on nodeName made from ds's
// current template.
func daemonPod(ds *appsv1.DaemonSet, name, nodeName string, mods ...func(*corev1.Pod)) *corev1.Pod {
	p := newPod(ds, nodeName, templateHash(&ds.Spec.Template, nil))
	p.Name, p.GenerateName, p.UID = name, "", types.UID("uid-"+name)
	p.CreationTimestamp = metav1.NewTime(t0.Add(-time.Hour))
	p.Status.Phase = corev1.PodRunning
	p.Status.Conditions = []corev1.PodCondition{{Type: corev1.PodReady, Status: corev1.ConditionTrue, LastTransitionTime: metav1.NewTime(t0.Add(-time.Hour))}}
	for _, m := range mods {
		m(p)
	}
	return p
}

type fixture struct {
	t      *testing.T
	client *fake.Clientset
	c      *Controller
}

func newFixture(t *testing.T, objs ...runtime.Object) *fixture {
	t.Helper()
	client, cfg := controllertest.NewConfig(t, objs...)
	c := New(cfg)
	c.recorder = record.NewFakeRecorder(1000)
	c.now = func() time.Time { return t0 }
	controllertest.Cache(t, cfg.Informers, objs...)
	return &fixture{t: t, client: client, c: c}
}

func (f *fixture) sync(key string) {
	f.t.Helper()
	if err := f.c.sync(context.Background(), key); err != nil {
		f.t.Fatalf("sync %s: %v", key, err)
	}
}

// writes returns the API writes as "verb resource[/sub] detail" lines,
// where detail is the created pod's node or the deleted pod's name.
func (f *fixture) writes() []string {
	var out []string
	for _, a := range f.client.Actions() {
		r := a.GetResource().Resource
		if a.GetSubresource() != "" {
			r += "/" + a.GetSubresource()
		}
		switch a.GetVerb() {
		case "create":
			detail := ""
			if p, ok := a.(k8stesting.CreateAction).GetObject().(*corev1.Pod); ok {
				detail = " on " + p.Spec.NodeName
			}
			out = append(out, "create "+r+detail)
		case "delete":
			out = append(out, "delete "+r+" "+a.(k8stesting.DeleteAction).GetName())
		case "update":
			out = append(out, "update "+r)
		case "patch":
			out = append(out, "patch "+r+" "+a.(k8stesting.PatchAction).GetName())
		}
	}
	sort.Strings(out)
	return out
}

func (f *fixture) status() appsv1.DaemonSetStatus {
	f.t.Helper()
	ds, err := f.client.AppsV1().DaemonSets("demo").Get(context.Background(), "agent", metav1.GetOptions{})
	if err != nil {
		f.t.Fatal(err)
	}
	return ds.Status
}

func TestPlacement(t *testing.T) {
	tolerating := func(ds *appsv1.DaemonSet) {
		ds.Spec.Template.Spec.Tolerations = []corev1.Toleration{{Key: "dedicated", Operator: corev1.TolerationOpExists}}
	}
	selecting := func(ds *appsv1.DaemonSet) { ds.Spec.Template.Spec.NodeSelector = map[string]string{"disk": "ssd"} }
	affinity := func(ds *appsv1.DaemonSet) {
		ds.Spec.Template.Spec.Affinity = &corev1.Affinity{NodeAffinity: &corev1.NodeAffinity{
			RequiredDuringSchedulingIgnoredDuringExecution: &corev1.NodeSelector{NodeSelectorTerms: []corev1.NodeSelectorTerm{{
				MatchExpressions: []corev1.NodeSelectorRequirement{{Key: "zone", Operator: corev1.NodeSelectorOpIn, Values: []string{"a", "b"}}},
			}}},
		}}
	}
	pinned := func(ds *appsv1.DaemonSet) { ds.Spec.Template.Spec.NodeName = "n1" }
	tests := []struct {
		name                  string
		ds                    *appsv1.DaemonSet
		node                  *corev1.Node
		shouldRun, shouldStay bool
	}{
		{"plain node", daemonSet(), node("n1"), true, true},
		{"untolerated NoSchedule keeps running pods", daemonSet(), node("n1", taint("dedicated", corev1.TaintEffectNoSchedule)), false, true},
		{"untolerated NoExecute", daemonSet(), node("n1", taint("dedicated", corev1.TaintEffectNoExecute)), false, false},
		{"PreferNoSchedule does not matter", daemonSet(), node("n1", taint("dedicated", corev1.TaintEffectPreferNoSchedule)), true, true},
		{"tolerated taint", daemonSet(tolerating), node("n1", taint("dedicated", corev1.TaintEffectNoExecute)), true, true},
		{"not-ready node", daemonSet(), node("n1", taint(corev1.TaintNodeNotReady, corev1.TaintEffectNoExecute), taint(corev1.TaintNodeNotReady, corev1.TaintEffectNoSchedule)), false, true},
		{"unreachable node", daemonSet(), node("n1", taint(corev1.TaintNodeUnreachable, corev1.TaintEffectNoExecute)), true, true},
		{"cordoned node", daemonSet(), node("n1", taint(corev1.TaintNodeUnschedulable, corev1.TaintEffectNoSchedule)), true, true},
		{"pressure", daemonSet(), node("n1", taint(corev1.TaintNodeMemoryPressure, corev1.TaintEffectNoSchedule), taint(corev1.TaintNodeDiskPressure, corev1.TaintEffectNoSchedule), taint(corev1.TaintNodePIDPressure, corev1.TaintEffectNoSchedule)), true, true},
		{"nodeSelector matches", daemonSet(selecting), node("n1", label("disk", "ssd")), true, true},
		{"nodeSelector does not match", daemonSet(selecting), node("n1", label("disk", "hdd")), false, false},
		{"affinity matches", daemonSet(affinity), node("n1", label("zone", "b")), true, true},
		{"affinity does not match", daemonSet(affinity), node("n1"), false, false},
		{"template names this node", daemonSet(pinned), node("n1"), true, true},
		{"template names another node", daemonSet(pinned), node("n2"), false, false},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			run, stay := placement(tt.ds, tt.node)
			if run != tt.shouldRun || stay != tt.shouldStay {
				t.Errorf("placement = (%v, %v), want (%v, %v)", run, stay, tt.shouldRun, tt.shouldStay)
			}
		})
	}
}

// TestDaemonTolerations checks the tolerations daemon pods get and that a
// template's own toleration for the same taint wins. Note the not-ready
// case of TestPlacement: as in Kubernetes, daemon pods tolerate not-ready
// NoExecute but not the not-ready NoSchedule taint the node lifecycle
// controller adds with it, so a NotReady node keeps its daemon pod but
// gets no new one.
func TestDaemonTolerations(t *testing.T) {
	got := withDaemonTolerations([]corev1.Toleration{{Key: corev1.TaintNodeUnreachable, Operator: corev1.TolerationOpExists, Effect: corev1.TaintEffectNoExecute, TolerationSeconds: new(int64(5))}})
	if len(got) != 6 {
		t.Fatalf("got %d tolerations, want 6: %v", len(got), got)
	}
	if got[0].TolerationSeconds == nil || *got[0].TolerationSeconds != 5 {
		t.Errorf("the pod's own unreachable toleration was replaced: %v", got[0])
	}
	keys := map[string]corev1.TaintEffect{}
	for _, tol := range got {
		keys[tol.Key] = tol.Effect
	}
	for k, e := range map[string]corev1.TaintEffect{
		corev1.TaintNodeNotReady: corev1.TaintEffectNoExecute, corev1.TaintNodeUnschedulable: corev1.TaintEffectNoSchedule,
		corev1.TaintNodeDiskPressure: corev1.TaintEffectNoSchedule, corev1.TaintNodeMemoryPressure: corev1.TaintEffectNoSchedule,
		corev1.TaintNodePIDPressure: corev1.TaintEffectNoSchedule,
	} {
		if keys[k] != e {
			t.Errorf("toleration %s = %q, want %q", k, keys[k], e)
		}
	}
}

func TestSyncCreatesOnePodPerEligibleNode(t *testing.T) {
	ds := daemonSet()
	f := newFixture(t, ds, node("n1"), node("n2"), node("tainted", taint("dedicated", corev1.TaintEffectNoSchedule)))
	f.sync("demo/agent")
	want := []string{"create pods on n1", "create pods on n2", "update daemonsets/status"}
	sort.Strings(want)
	if got := f.writes(); strings.Join(got, ",") != strings.Join(want, ",") {
		t.Fatalf("writes = %q, want %q", got, want)
	}
	pods, _ := f.client.CoreV1().Pods("demo").List(context.Background(), metav1.ListOptions{})
	for _, p := range pods.Items {
		ref := metav1.GetControllerOf(&p)
		if ref == nil || ref.UID != ds.UID || ref.Kind != "DaemonSet" {
			t.Errorf("pod %s controller = %v", p.Name, ref)
		}
		if !strings.HasPrefix(p.Name, "agent-") || p.Labels["app"] != "agent" || p.Labels[appsv1.ControllerRevisionHashLabelKey] != templateHash(&ds.Spec.Template, nil) {
			t.Errorf("pod %s name/labels = %v", p.Name, p.Labels)
		}
		if len(p.Spec.Tolerations) != 6 {
			t.Errorf("pod %s tolerations = %v", p.Name, p.Spec.Tolerations)
		}
	}
	st := f.status()
	if st.DesiredNumberScheduled != 2 || st.CurrentNumberScheduled != 0 || st.NumberUnavailable != 2 || st.ObservedGeneration != 1 {
		t.Errorf("status = %+v", st)
	}

	// The informer has not shown the new pods yet: a second sync must not
	// create them again.
	f.client.ClearActions()
	f.sync("demo/agent")
	for _, w := range f.writes() {
		if strings.HasPrefix(w, "create") {
			t.Errorf("second sync before the cache caught up wrote %q", w)
		}
	}
}

func TestSyncReplacesAndRemoves(t *testing.T) {
	ds := daemonSet()
	failed := func(p *corev1.Pod) { p.Status.Phase = corev1.PodFailed }
	younger := func(p *corev1.Pod) { p.CreationTimestamp = metav1.NewTime(t0) }
	deleting := func(p *corev1.Pod) { p.DeletionTimestamp = &metav1.Time{Time: t0} }
	tests := []struct {
		name  string
		objs  []runtime.Object
		want  []string
		ready int32
	}{
		{
			name: "steady state writes nothing",
			objs: []runtime.Object{node("n1"), daemonPod(ds, "a", "n1")},
		},
		{
			name: "failed pod is deleted and replaced",
			objs: []runtime.Object{node("n1"), daemonPod(ds, "a", "n1", failed)},
			want: []string{"create pods on n1", "delete pods a"},
		},
		{
			name: "extra pod on a node: the younger goes",
			objs: []runtime.Object{node("n1"), daemonPod(ds, "a", "n1"), daemonPod(ds, "b", "n1", younger)},
			want: []string{"delete pods b"},
		},
		{
			name: "pod on a node with an untolerated NoExecute taint",
			objs: []runtime.Object{node("n1", taint("k", corev1.TaintEffectNoExecute)), daemonPod(ds, "a", "n1")},
			want: []string{"delete pods a"},
		},
		{
			name: "pod on a node that got an untolerated NoSchedule taint stays",
			objs: []runtime.Object{node("n1", taint("k", corev1.TaintEffectNoSchedule)), daemonPod(ds, "a", "n1")},
		},
		{
			name: "pod on a node that is gone",
			objs: []runtime.Object{node("n1"), daemonPod(ds, "a", "n1"), daemonPod(ds, "b", "gone")},
			want: []string{"delete pods b", "get nodes"},
		},
		{
			name: "a terminating pod is waited for",
			objs: []runtime.Object{node("n1"), daemonPod(ds, "a", "n1", deleting)},
		},
		{
			name: "orphan pod is adopted",
			objs: []runtime.Object{node("n1"), daemonPod(ds, "a", "n1", func(p *corev1.Pod) { p.OwnerReferences = nil })},
			want: []string{"patch pods a"},
		},
		{
			name: "owned pod that stops matching is released and replaced",
			objs: []runtime.Object{node("n1"), daemonPod(ds, "a", "n1", func(p *corev1.Pod) { p.Labels["app"] = "other" })},
			want: []string{"create pods on n1", "patch pods a"},
		},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			objs := append([]runtime.Object{ds.DeepCopy()}, tt.objs...)
			f := newFixture(t, objs...)
			f.sync("demo/agent")
			var got []string
			for _, w := range f.writes() {
				if w != "update daemonsets/status" {
					got = append(got, w)
				}
			}
			// Gets show up as neither; list the node lookup separately.
			for _, a := range f.client.Actions() {
				if a.GetVerb() == "get" && a.GetResource().Resource == "nodes" {
					got = append(got, "get nodes")
				}
			}
			sort.Strings(got)
			if strings.Join(got, ",") != strings.Join(tt.want, ",") {
				t.Errorf("writes = %q, want %q", got, tt.want)
			}
		})
	}
}

func TestStatus(t *testing.T) {
	ds := daemonSet(func(ds *appsv1.DaemonSet) { ds.Spec.MinReadySeconds = 30; ds.Generation = 3 })
	old := daemonSet(func(ds *appsv1.DaemonSet) { ds.Spec.Template.Spec.Containers[0].Image = "agent:0" })
	notReady := func(p *corev1.Pod) { p.Status.Conditions = nil }
	justReady := func(p *corev1.Pod) {
		p.Status.Conditions[0].LastTransitionTime = metav1.NewTime(t0.Add(-10 * time.Second))
	}
	f := newFixture(t, ds,
		node("n1"), node("n2"), node("n3"), node("n4"), node("n5"), node("off", label("x", "y"), taint("k", corev1.TaintEffectNoSchedule)),
		daemonPod(ds, "a", "n1"),
		daemonPod(ds, "b", "n2", notReady),
		daemonPod(ds, "c", "n3", justReady),
		daemonPod(old, "d", "n4"),
		daemonPod(ds, "e", "off"),
	)
	f.c.pending.Created("demo/agent", "demo", "in-flight", t0) // hold back pod writes
	f.sync("demo/agent")
	want := appsv1.DaemonSetStatus{
		ObservedGeneration: 3, DesiredNumberScheduled: 5, CurrentNumberScheduled: 4, NumberMisscheduled: 1,
		NumberReady: 3, NumberAvailable: 2, UpdatedNumberScheduled: 3, NumberUnavailable: 3,
	}
	if got := f.status(); fmt.Sprint(got) != fmt.Sprint(want) {
		t.Errorf("status =\n%+v\nwant\n%+v", got, want)
	}
}

func TestRollingUpdate(t *testing.T) {
	old := daemonSet(func(ds *appsv1.DaemonSet) { ds.Spec.Template.Spec.Containers[0].Image = "agent:0" })
	notReady := func(p *corev1.Pod) { p.Status.Conditions = nil }
	tests := []struct {
		name           string
		maxUnavailable *intstr.IntOrString
		pods           []runtime.Object
		want           []string
	}{
		{
			name: "one at a time by default",
			pods: []runtime.Object{daemonPod(old, "a", "n1"), daemonPod(old, "b", "n2"), daemonPod(old, "c", "n3"), daemonPod(old, "d", "n4")},
			want: []string{"delete pods a"},
		},
		{
			name:           "maxUnavailable 50%",
			maxUnavailable: new(intstr.FromString("50%")),
			pods:           []runtime.Object{daemonPod(old, "a", "n1"), daemonPod(old, "b", "n2"), daemonPod(old, "c", "n3"), daemonPod(old, "d", "n4")},
			want:           []string{"delete pods a", "delete pods b"},
		},
		{
			name: "a new pod not yet available holds the rollout",
			pods: []runtime.Object{daemonPod(daemonSet(), "a", "n1", notReady), daemonPod(old, "b", "n2"), daemonPod(old, "c", "n3"), daemonPod(old, "d", "n4")},
		},
		{
			name: "unavailable old pods go regardless",
			pods: []runtime.Object{daemonPod(old, "a", "n1", notReady), daemonPod(old, "b", "n2", notReady), daemonPod(old, "c", "n3"), daemonPod(old, "d", "n4")},
			want: []string{"delete pods a", "delete pods b"},
		},
		{
			name: "a node without a pod counts as unavailable",
			pods: []runtime.Object{daemonPod(old, "b", "n2"), daemonPod(old, "c", "n3"), daemonPod(old, "d", "n4")},
			want: []string{"create pods on n1"},
		},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			ds := daemonSet()
			if tt.maxUnavailable != nil {
				ds.Spec.UpdateStrategy.RollingUpdate = &appsv1.RollingUpdateDaemonSet{MaxUnavailable: tt.maxUnavailable}
			}
			objs := append([]runtime.Object{ds, node("n1"), node("n2"), node("n3"), node("n4")}, tt.pods...)
			f := newFixture(t, objs...)
			f.sync("demo/agent")
			var got []string
			for _, w := range f.writes() {
				if w != "update daemonsets/status" {
					got = append(got, w)
				}
			}
			if strings.Join(got, ",") != strings.Join(tt.want, ",") {
				t.Errorf("writes = %q, want %q", got, tt.want)
			}
		})
	}

	t.Run("OnDelete leaves old pods", func(t *testing.T) {
		ds := daemonSet(func(ds *appsv1.DaemonSet) { ds.Spec.UpdateStrategy.Type = appsv1.OnDeleteDaemonSetStrategyType })
		f := newFixture(t, ds, node("n1"), daemonPod(old, "a", "n1"))
		f.sync("demo/agent")
		for _, w := range f.writes() {
			if strings.HasPrefix(w, "delete") {
				t.Errorf("OnDelete wrote %q", w)
			}
		}
	})
}
