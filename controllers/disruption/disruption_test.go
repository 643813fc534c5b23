package disruption

import (
	"context"
	"errors"
	"strings"
	"testing"
	"time"

	appsv1 "k8s.io/api/apps/v1"
	corev1 "k8s.io/api/core/v1"
	policyv1 "k8s.io/api/policy/v1"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	apimeta "k8s.io/apimachinery/pkg/api/meta"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/runtime"
	"k8s.io/apimachinery/pkg/types"
	"k8s.io/apimachinery/pkg/util/intstr"
	"k8s.io/client-go/kubernetes/fake"
	k8stesting "k8s.io/client-go/testing"
	"k8s.io/client-go/tools/record"

	"github.com/sqlkube/sqlkube/controllers/internal/controllertest"
)

// now0 is the controllers' clock in the unit tests.
var now0 = time.Date(2026, 3, 10, 10, 0, 0, 0, time.UTC)

// newPDB returns the budget demo/web (generation 3, never synced) over
// the pods labelled app=web.
func newPDB(mods ...func(*policyv1.PodDisruptionBudget)) *policyv1.PodDisruptionBudget {
	pdb := &policyv1.PodDisruptionBudget{
		ObjectMeta: metav1.ObjectMeta{Name: "web", Namespace: "demo", UID: "pdb-uid", Generation: 3},
		Spec: policyv1.PodDisruptionBudgetSpec{
			Selector: &metav1.LabelSelector{MatchLabels: map[string]string{"app": "web"}},
		},
	}
	for _, m := range mods {
		m(pdb)
	}
	return pdb
}

func minAvailable(v intstr.IntOrString) func(*policyv1.PodDisruptionBudget) {
	return func(p *policyv1.PodDisruptionBudget) { p.Spec.MinAvailable = &v }
}

func maxUnavailable(v intstr.IntOrString) func(*policyv1.PodDisruptionBudget) {
	return func(p *policyv1.PodDisruptionBudget) { p.Spec.MaxUnavailable = &v }
}

// newPod returns a Ready pod app=web in demo.
func newPod(name string, mods ...func(*corev1.Pod)) *corev1.Pod {
	p := &corev1.Pod{
		ObjectMeta: metav1.ObjectMeta{Name: name, Namespace: "demo", UID: types.UID("uid-" + name), Labels: map[string]string{"app": "web"}},
		Status: corev1.PodStatus{
			Phase:      corev1.PodRunning,
			Conditions: []corev1.PodCondition{{Type: corev1.PodReady, Status: corev1.ConditionTrue}},
		},
	}
	for _, m := range mods {
		m(p)
	}
	return p
}

func notReady(p *corev1.Pod) { p.Status.Conditions[0].Status = corev1.ConditionFalse }

func terminating(p *corev1.Pod) { p.DeletionTimestamp = &metav1.Time{Time: now0.Add(-time.Second)} }

func labelled(app string) func(*corev1.Pod) {
	return func(p *corev1.Pod) { p.Labels = map[string]string{"app": app} }
}

// ownedBy makes owner, of kind, the pod's controller.
func ownedBy(owner metav1.Object, kind string) func(*corev1.Pod) {
	return func(p *corev1.Pod) {
		p.OwnerReferences = []metav1.OwnerReference{*metav1.NewControllerRef(owner, appsv1.SchemeGroupVersion.WithKind(kind))}
	}
}

func deployment(name string, n int32) *appsv1.Deployment {
	return &appsv1.Deployment{
		ObjectMeta: metav1.ObjectMeta{Name: name, Namespace: "demo", UID: types.UID("uid-" + name)},
		Spec:       appsv1.DeploymentSpec{Replicas: &n},
	}
}

// replicaSet returns a ReplicaSet of n replicas, controlled by d if not
// nil.
func replicaSet(name string, n int32, d *appsv1.Deployment) *appsv1.ReplicaSet {
	rs := &appsv1.ReplicaSet{
		ObjectMeta: metav1.ObjectMeta{Name: name, Namespace: "demo", UID: types.UID("uid-" + name)},
		Spec:       appsv1.ReplicaSetSpec{Replicas: &n},
	}
	if d != nil {
		rs.OwnerReferences = []metav1.OwnerReference{*metav1.NewControllerRef(d, appsv1.SchemeGroupVersion.WithKind("Deployment"))}
	}
	return rs
}

func statefulSet(name string, n int32) *appsv1.StatefulSet {
	return &appsv1.StatefulSet{
		ObjectMeta: metav1.ObjectMeta{Name: name, Namespace: "demo", UID: types.UID("uid-" + name)},
		Spec:       appsv1.StatefulSetSpec{Replicas: &n},
	}
}

type fixture struct {
	t        *testing.T
	client   *fake.Clientset
	c        *Controller
	recorder *record.FakeRecorder
	cache    func(...runtime.Object)
}

func newFixture(t *testing.T, objs ...runtime.Object) *fixture {
	t.Helper()
	client, cfg := controllertest.NewConfig(t, objs...)
	c := New(cfg)
	rec := record.NewFakeRecorder(100)
	c.recorder = rec
	c.now = func() time.Time { return now0 }
	controllertest.Cache(t, cfg.Informers, objs...)
	return &fixture{t: t, client: client, c: c, recorder: rec, cache: func(o ...runtime.Object) {
		t.Helper()
		controllertest.Cache(t, cfg.Informers, o...)
	}}
}

func (f *fixture) sync() error {
	f.t.Helper()
	return f.c.sync(context.Background(), "demo/web")
}

// pdb returns demo/web as the API has it.
func (f *fixture) pdb() *policyv1.PodDisruptionBudget {
	f.t.Helper()
	p, err := f.client.PolicyV1().PodDisruptionBudgets("demo").Get(context.Background(), "web", metav1.GetOptions{})
	if err != nil {
		f.t.Fatal(err)
	}
	return p
}

// statusWrites counts the status updates of budgets.
func (f *fixture) statusWrites() int {
	n := 0
	for _, a := range f.client.Actions() {
		if a.GetResource().Resource == "poddisruptionbudgets" && a.GetVerb() == "update" && a.GetSubresource() == "status" {
			n++
		}
	}
	return n
}

// events drains the recorded events ("Type Reason message").
func (f *fixture) events() []string { return controllertest.Events(f.recorder) }

// counts is what `kubectl get pdb -o yaml` shows of a budget's status.
type counts struct {
	expected, desired, healthy, allowed int32
}

func countsOf(p *policyv1.PodDisruptionBudget) counts {
	return counts{p.Status.ExpectedPods, p.Status.DesiredHealthy, p.Status.CurrentHealthy, p.Status.DisruptionsAllowed}
}

// condition returns the DisruptionAllowed condition as "Status/Reason".
func condition(p *policyv1.PodDisruptionBudget) string {
	c := apimeta.FindStatusCondition(p.Status.Conditions, policyv1.DisruptionAllowedCondition)
	if c == nil {
		return ""
	}
	return string(c.Status) + "/" + c.Reason
}

func hasEvent(events []string, prefix string) bool {
	for _, e := range events {
		if strings.HasPrefix(e, prefix) {
			return true
		}
	}
	return false
}

func TestSyncCounts(t *testing.T) {
	web := deployment("web", 4)
	rsNew, rsOld := replicaSet("web-new", 3, web), replicaSet("web-old", 1, web)
	db := statefulSet("db", 3)
	bare := replicaSet("bare", 2, nil)
	tests := []struct {
		name      string
		pdb       *policyv1.PodDisruptionBudget
		objs      []runtime.Object
		want      counts
		condition string
		event     string // prefix of an event the budget must get
	}{
		{
			name:      "minAvailable 2 of 3 ready pods allows one",
			pdb:       newPDB(minAvailable(intstr.FromInt32(2))),
			objs:      []runtime.Object{newPod("a"), newPod("b"), newPod("c")},
			want:      counts{expected: 3, desired: 2, healthy: 3, allowed: 1},
			condition: "True/SufficientPods",
		},
		{
			name: "unready and terminating pods are not healthy",
			pdb:  newPDB(minAvailable(intstr.FromInt32(2))),
			objs: []runtime.Object{newPod("a"), newPod("b", notReady), newPod("c", terminating)},
			// A terminating pod still counts as expected, as in
			// Kubernetes.
			want:      counts{expected: 3, desired: 2, healthy: 1, allowed: 0},
			condition: "False/InsufficientPods",
		},
		{
			name:      "pods of other labels are not counted",
			pdb:       newPDB(minAvailable(intstr.FromInt32(1))),
			objs:      []runtime.Object{newPod("a"), newPod("b"), newPod("other", labelled("db"))},
			want:      counts{expected: 2, desired: 1, healthy: 2, allowed: 1},
			condition: "True/SufficientPods",
		},
		{
			name: "minAvailable 50% of a Deployment counts its replicas once, through both ReplicaSets",
			pdb:  newPDB(minAvailable(intstr.FromString("50%"))),
			objs: []runtime.Object{web, rsNew, rsOld,
				newPod("n1", ownedBy(rsNew, "ReplicaSet")), newPod("n2", ownedBy(rsNew, "ReplicaSet")),
				newPod("o1", ownedBy(rsOld, "ReplicaSet"), notReady)},
			// Expected is the Deployment's 4, not the 3 pods there
			// are: the missing pod still counts.
			want:      counts{expected: 4, desired: 2, healthy: 2, allowed: 0},
			condition: "False/InsufficientPods",
		},
		{
			name:      "minAvailable 50% rounds up",
			pdb:       newPDB(minAvailable(intstr.FromString("50%"))),
			objs:      []runtime.Object{db, newPod("db-0", ownedBy(db, "StatefulSet")), newPod("db-1", ownedBy(db, "StatefulSet")), newPod("db-2", ownedBy(db, "StatefulSet"))},
			want:      counts{expected: 3, desired: 2, healthy: 3, allowed: 1},
			condition: "True/SufficientPods",
		},
		{
			name:      "minAvailable 100% of a ReplicaSet without Deployment allows none",
			pdb:       newPDB(minAvailable(intstr.FromString("100%"))),
			objs:      []runtime.Object{bare, newPod("a", ownedBy(bare, "ReplicaSet")), newPod("b", ownedBy(bare, "ReplicaSet"))},
			want:      counts{expected: 2, desired: 2, healthy: 2, allowed: 0},
			condition: "False/InsufficientPods",
		},
		{
			name:      "maxUnavailable 1 of a StatefulSet",
			pdb:       newPDB(maxUnavailable(intstr.FromInt32(1))),
			objs:      []runtime.Object{db, newPod("db-0", ownedBy(db, "StatefulSet")), newPod("db-1", ownedBy(db, "StatefulSet")), newPod("db-2", ownedBy(db, "StatefulSet"))},
			want:      counts{expected: 3, desired: 2, healthy: 3, allowed: 1},
			condition: "True/SufficientPods",
		},
		{
			name: "maxUnavailable 34% of 3 rounds up to 2",
			pdb:  newPDB(maxUnavailable(intstr.FromString("34%"))),
			objs: []runtime.Object{db, newPod("db-0", ownedBy(db, "StatefulSet")), newPod("db-1", ownedBy(db, "StatefulSet")),
				newPod("db-2", ownedBy(db, "StatefulSet"), notReady)},
			want:      counts{expected: 3, desired: 1, healthy: 2, allowed: 1},
			condition: "True/SufficientPods",
		},
		{
			name:      "maxUnavailable of a Deployment whose pods are missing",
			pdb:       newPDB(maxUnavailable(intstr.FromInt32(1))),
			objs:      []runtime.Object{web, rsNew, newPod("n1", ownedBy(rsNew, "ReplicaSet")), newPod("n2", ownedBy(rsNew, "ReplicaSet"))},
			want:      counts{expected: 4, desired: 3, healthy: 2, allowed: 0},
			condition: "False/InsufficientPods",
		},
		{
			name: "pods without a controller are left out of a maxUnavailable budget",
			pdb:  newPDB(maxUnavailable(intstr.FromInt32(1))),
			objs: []runtime.Object{db, newPod("db-0", ownedBy(db, "StatefulSet")), newPod("db-1", ownedBy(db, "StatefulSet")),
				newPod("db-2", ownedBy(db, "StatefulSet")), newPod("loose")},
			// The loose pod is healthy but not expected: the
			// "undefined behavior" Kubernetes warns of.
			want:      counts{expected: 3, desired: 2, healthy: 4, allowed: 2},
			condition: "True/SufficientPods",
			event:     "Warning UnmanagedPods",
		},
		{
			name:      "nothing expected allows nothing, however many pods are healthy",
			pdb:       newPDB(maxUnavailable(intstr.FromInt32(1))),
			objs:      []runtime.Object{newPod("a"), newPod("b")},
			want:      counts{expected: 0, desired: 0, healthy: 2, allowed: 0},
			condition: "False/InsufficientPods",
			event:     "Warning UnmanagedPods",
		},
		{
			name: "a nil selector selects no pod",
			pdb: newPDB(minAvailable(intstr.FromInt32(0)), func(p *policyv1.PodDisruptionBudget) {
				p.Spec.Selector = nil
			}),
			objs:      []runtime.Object{newPod("a"), newPod("b")},
			want:      counts{},
			condition: "False/InsufficientPods",
			event:     "Normal NoPods",
		},
		{
			name: "an empty selector selects every pod of the namespace",
			pdb: newPDB(minAvailable(intstr.FromInt32(1)), func(p *policyv1.PodDisruptionBudget) {
				p.Spec.Selector = &metav1.LabelSelector{}
			}),
			objs: []runtime.Object{newPod("a"), newPod("b", labelled("db")), newPod("c", labelled("cache")),
				newPod("elsewhere", func(p *corev1.Pod) { p.Namespace = "other" })},
			want:      counts{expected: 3, desired: 1, healthy: 3, allowed: 2},
			condition: "True/SufficientPods",
		},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			f := newFixture(t, append([]runtime.Object{tt.pdb}, tt.objs...)...)
			if err := f.sync(); err != nil {
				t.Fatalf("sync: %v", err)
			}
			got := f.pdb()
			if countsOf(got) != tt.want {
				t.Errorf("status counts = %+v, want %+v", countsOf(got), tt.want)
			}
			if c := condition(got); c != tt.condition {
				t.Errorf("condition DisruptionAllowed = %s, want %s", c, tt.condition)
			}
			if got.Status.ObservedGeneration != 3 {
				t.Errorf("observedGeneration = %d, want 3", got.Status.ObservedGeneration)
			}
			if c := apimeta.FindStatusCondition(got.Status.Conditions, policyv1.DisruptionAllowedCondition); c != nil &&
				(!c.LastTransitionTime.Equal(&metav1.Time{Time: now0}) || c.ObservedGeneration != 3) {
				t.Errorf("condition lastTransitionTime %v observedGeneration %d, want %v and 3", c.LastTransitionTime, c.ObservedGeneration, now0)
			}
			events := f.events()
			if tt.event != "" && !hasEvent(events, tt.event) {
				t.Errorf("events %q, want one starting %q", events, tt.event)
			}
			if tt.event == "" && len(events) > 0 {
				t.Errorf("unexpected events %q", events)
			}
		})
	}
}

// TestSyncFailed: when a pod's controller cannot be found, the budget
// allows no disruption and says why, keeping its other counts.
func TestSyncFailed(t *testing.T) {
	db := statefulSet("db", 3)
	daemons := &appsv1.DaemonSet{ObjectMeta: metav1.ObjectMeta{Name: "agent", Namespace: "demo", UID: "uid-agent"}}
	synced := func(p *policyv1.PodDisruptionBudget) {
		p.Status = policyv1.PodDisruptionBudgetStatus{
			ObservedGeneration: 3, ExpectedPods: 3, DesiredHealthy: 2, CurrentHealthy: 3, DisruptionsAllowed: 1,
			Conditions: []metav1.Condition{{
				Type: policyv1.DisruptionAllowedCondition, Status: metav1.ConditionTrue, Reason: policyv1.SufficientPodsReason,
				ObservedGeneration: 3, LastTransitionTime: metav1.NewTime(now0.Add(-time.Hour)),
			}},
		}
	}
	tests := []struct {
		name    string
		pdb     *policyv1.PodDisruptionBudget
		objs    []runtime.Object
		message string
	}{
		{
			name:    "pod of a kind that is not a ReplicaSet or StatefulSet",
			pdb:     newPDB(maxUnavailable(intstr.FromInt32(1)), synced),
			objs:    []runtime.Object{db, newPod("db-0", ownedBy(db, "StatefulSet")), newPod("agent-x", ownedBy(daemons, "DaemonSet"))},
			message: `found no controllers for pod "agent-x"`,
		},
		{
			name:    "pod whose controller is not in the cache",
			pdb:     newPDB(minAvailable(intstr.FromString("60%")), synced),
			objs:    []runtime.Object{newPod("db-0", ownedBy(db, "StatefulSet"))},
			message: `found no controllers for pod "db-0"`,
		},
		{
			name: "pod whose controller was replaced by one of the same name",
			pdb:  newPDB(minAvailable(intstr.FromString("60%")), synced),
			objs: []runtime.Object{
				func() *appsv1.StatefulSet { s := statefulSet("db", 3); s.UID = "uid-new-db"; return s }(),
				newPod("db-0", ownedBy(db, "StatefulSet")),
			},
			message: `found no controllers for pod "db-0"`,
		},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			f := newFixture(t, append([]runtime.Object{tt.pdb}, tt.objs...)...)
			if err := f.sync(); err != nil {
				t.Fatalf("sync: %v (a failed budget is not retried)", err)
			}
			got := f.pdb()
			want := counts{expected: 3, desired: 2, healthy: 3, allowed: 0}
			if countsOf(got) != want {
				t.Errorf("status counts = %+v, want %+v", countsOf(got), want)
			}
			c := apimeta.FindStatusCondition(got.Status.Conditions, policyv1.DisruptionAllowedCondition)
			if c == nil || c.Status != metav1.ConditionFalse || c.Reason != policyv1.SyncFailedReason || c.Message != tt.message {
				t.Errorf("condition = %+v, want False/SyncFailed %q", c, tt.message)
			} else if !c.LastTransitionTime.Equal(&metav1.Time{Time: now0}) {
				t.Errorf("condition lastTransitionTime = %v, want %v", c.LastTransitionTime, now0)
			}
			events := f.events()
			if !hasEvent(events, "Warning CalculateExpectedPodCountFailed Failed to calculate the number of expected pods: "+tt.message) {
				t.Errorf("events %q, want CalculateExpectedPodCountFailed", events)
			}

			// Synced again with nothing changed: no second write.
			f.cache(got)
			f.client.ClearActions()
			if err := f.sync(); err != nil {
				t.Fatalf("second sync: %v", err)
			}
			if n := f.statusWrites(); n != 0 {
				t.Errorf("second sync wrote the status %d times, want 0", n)
			}
		})
	}
}

// TestDisruptedPods: an eviction recorded in status.disruptedPods keeps
// the pod unhealthy until it is seen terminating or gone, for at most
// DeletionTimeout.
func TestDisruptedPods(t *testing.T) {
	ago := func(d time.Duration) metav1.Time { return metav1.NewTime(now0.Add(-d)) }
	pdb := newPDB(minAvailable(intstr.FromInt32(1)), func(p *policyv1.PodDisruptionBudget) {
		p.Status.DisruptedPods = map[string]metav1.Time{
			"recent":   ago(30 * time.Second),
			"deleting": ago(5 * time.Second),
			"stale":    ago(DeletionTimeout + time.Second),
			"gone":     ago(10 * time.Second),
		}
	})
	f := newFixture(t, pdb, newPod("recent"), newPod("deleting", terminating), newPod("stale"), newPod("ok"))
	if err := f.sync(); err != nil {
		t.Fatal(err)
	}
	got := f.pdb()
	if d := got.Status.DisruptedPods; len(d) != 1 || !d["recent"].Time.Equal(now0.Add(-30*time.Second)) {
		t.Errorf("disruptedPods = %v, want only recent", d)
	}
	// recent is Ready but evicted, deleting is terminating: stale and
	// ok remain.
	if want := (counts{expected: 4, desired: 1, healthy: 2, allowed: 1}); countsOf(got) != want {
		t.Errorf("status counts = %+v, want %+v", countsOf(got), want)
	}
	if events := f.events(); !hasEvent(events, "Warning NotDeleted Pod was expected by PDB demo/web to be deleted") {
		t.Errorf("events %q, want NotDeleted for the stale entry", events)
	}
}

// TestDisruptedPodsRecheck: the budget is synced again when its oldest
// disruptedPods entry expires, so that a pod the eviction failed to
// delete counts as healthy again without any other event.
func TestDisruptedPodsRecheck(t *testing.T) {
	pdb := newPDB(minAvailable(intstr.FromInt32(1)), func(p *policyv1.PodDisruptionBudget) {
		p.Status.DisruptedPods = map[string]metav1.Time{
			"a": metav1.NewTime(now0.Add(-DeletionTimeout + 200*time.Millisecond)),
			"b": metav1.NewTime(now0.Add(-time.Second)),
		}
	})
	f := newFixture(t, pdb, newPod("a"), newPod("b"), newPod("c"))
	if err := f.sync(); err != nil {
		t.Fatal(err)
	}
	if got := f.pdb(); len(got.Status.DisruptedPods) != 2 || got.Status.CurrentHealthy != 1 {
		t.Fatalf("disruptedPods %v, currentHealthy %d: want both entries kept, 1 healthy", got.Status.DisruptedPods, got.Status.CurrentHealthy)
	}
	if n := f.c.queue.Len(); n != 0 {
		t.Fatalf("queue holds %d keys at once, want the recheck to wait", n)
	}
	deadline := time.Now().Add(5 * time.Second)
	for f.c.queue.Len() == 0 {
		if time.Now().After(deadline) {
			t.Fatal("budget not queued again when its oldest disruptedPods entry expired")
		}
		time.Sleep(10 * time.Millisecond)
	}
}

// TestStatusWrites: the status is written only when it changed, keeps
// the condition's lastTransitionTime while its status holds, and follows
// the budget's generation.
func TestStatusWrites(t *testing.T) {
	hourAgo := metav1.NewTime(now0.Add(-time.Hour))
	pods := []runtime.Object{newPod("a"), newPod("b"), newPod("c")}
	status := func(gen int64, healthy, allowed int32, cond metav1.ConditionStatus, reason string) func(*policyv1.PodDisruptionBudget) {
		return func(p *policyv1.PodDisruptionBudget) {
			p.Status = policyv1.PodDisruptionBudgetStatus{
				ObservedGeneration: gen, ExpectedPods: 3, DesiredHealthy: 2, CurrentHealthy: healthy, DisruptionsAllowed: allowed,
				Conditions: []metav1.Condition{{
					Type: policyv1.DisruptionAllowedCondition, Status: cond, Reason: reason,
					ObservedGeneration: gen, LastTransitionTime: hourAgo,
				}},
			}
		}
	}
	tests := []struct {
		name     string
		pdb      *policyv1.PodDisruptionBudget
		writes   int
		wantLTT  metav1.Time
		wantCond string
	}{
		{
			name:     "up to date: no write",
			pdb:      newPDB(minAvailable(intstr.FromInt32(2)), status(3, 3, 1, metav1.ConditionTrue, policyv1.SufficientPodsReason)),
			writes:   0,
			wantLTT:  hourAgo,
			wantCond: "True/SufficientPods",
		},
		{
			name: "up to date with an empty disruptedPods map: no write",
			pdb: newPDB(minAvailable(intstr.FromInt32(2)), status(3, 3, 1, metav1.ConditionTrue, policyv1.SufficientPodsReason),
				func(p *policyv1.PodDisruptionBudget) { p.Status.DisruptedPods = map[string]metav1.Time{} }),
			writes:   0,
			wantLTT:  hourAgo,
			wantCond: "True/SufficientPods",
		},
		{
			name:     "new generation observed, condition kept with its time",
			pdb:      newPDB(minAvailable(intstr.FromInt32(2)), status(2, 3, 1, metav1.ConditionTrue, policyv1.SufficientPodsReason)),
			writes:   1,
			wantLTT:  hourAgo,
			wantCond: "True/SufficientPods",
		},
		{
			name: "an eviction used the last disruption: recounted, condition flips back",
			// The eviction handler set allowed 0 and the condition
			// False; the pod it evicted is gone, a new one is ready.
			pdb:      newPDB(minAvailable(intstr.FromInt32(2)), status(3, 2, 0, metav1.ConditionFalse, policyv1.InsufficientPodsReason)),
			writes:   1,
			wantLTT:  metav1.NewTime(now0),
			wantCond: "True/SufficientPods",
		},
		{
			name:     "minAvailable raised: no disruption left",
			pdb:      newPDB(minAvailable(intstr.FromInt32(3)), status(2, 3, 1, metav1.ConditionTrue, policyv1.SufficientPodsReason)),
			writes:   1,
			wantLTT:  metav1.NewTime(now0),
			wantCond: "False/InsufficientPods",
		},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			f := newFixture(t, append([]runtime.Object{tt.pdb}, pods...)...)
			if err := f.sync(); err != nil {
				t.Fatal(err)
			}
			if n := f.statusWrites(); n != tt.writes {
				t.Errorf("status written %d times, want %d", n, tt.writes)
			}
			got := f.pdb()
			if got.Status.ObservedGeneration != 3 {
				t.Errorf("observedGeneration = %d, want 3", got.Status.ObservedGeneration)
			}
			if c := condition(got); c != tt.wantCond {
				t.Errorf("condition = %s, want %s", c, tt.wantCond)
			}
			c := apimeta.FindStatusCondition(got.Status.Conditions, policyv1.DisruptionAllowedCondition)
			if c != nil && !c.LastTransitionTime.Equal(&tt.wantLTT) {
				t.Errorf("lastTransitionTime = %v, want %v", c.LastTransitionTime, tt.wantLTT)
			}
		})
	}
}

// TestConflictRetried: a status write that conflicts is returned for the
// queue to retry, not turned into a SyncFailed status.
func TestConflictRetried(t *testing.T) {
	f := newFixture(t, newPDB(minAvailable(intstr.FromInt32(2))), newPod("a"), newPod("b"), newPod("c"))
	f.client.PrependReactor("update", "poddisruptionbudgets", func(k8stesting.Action) (bool, runtime.Object, error) {
		return true, nil, apierrors.NewConflict(policyv1.Resource("poddisruptionbudgets"), "web", errors.New("changed"))
	})
	err := f.sync()
	if !apierrors.IsConflict(err) {
		t.Fatalf("sync: %v, want a conflict", err)
	}
	if n := f.statusWrites(); n != 1 {
		t.Errorf("status write attempts = %d, want 1 (no fail-safe write)", n)
	}
}

func TestDeletedBudget(t *testing.T) {
	f := newFixture(t, newPod("a"))
	if err := f.sync(); err != nil {
		t.Fatalf("sync of a deleted budget: %v", err)
	}
	if n := len(f.client.Actions()); n != 0 {
		t.Errorf("%d API calls for a deleted budget, want none", n)
	}
}
