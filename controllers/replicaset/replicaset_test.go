package replicaset

import (
	"context"
	"errors"
	"fmt"
	"strings"
	"sync/atomic"
	"testing"
	"time"

	appsv1 "k8s.io/api/apps/v1"
	corev1 "k8s.io/api/core/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/runtime"
	"k8s.io/apimachinery/pkg/types"
	"k8s.io/client-go/informers"
	"k8s.io/client-go/kubernetes/fake"
	clienttesting "k8s.io/client-go/testing"
	"k8s.io/client-go/tools/record"

	"github.com/sqlkube/sqlkube/controllers/internal/controllertest"
)

var t0 = time.Date(2026, 1, 1, 12, 0, 0, 0, time.UTC)

// fixture is a controller over a fake clientset whose informer stores are
// filled by hand, so a test runs exactly one sync and reads its actions.
type fixture struct {
	t      *testing.T
	client *fake.Clientset
	c      *Controller
	inf    informers.SharedInformerFactory
}

func newFixture(t *testing.T, objs ...runtime.Object) *fixture {
	t.Helper()
	client, cfg := controllertest.NewConfig(t, objs...)
	c := New(cfg)
	c.recorder = record.NewFakeRecorder(1000)
	c.now = func() time.Time { return t0 }
	c.exp.now = c.now
	controllertest.Cache(t, cfg.Informers, objs...)
	return &fixture{t: t, client: client, c: c, inf: cfg.Informers}
}

func (f *fixture) sync(key string) error {
	f.client.ClearActions()
	return f.c.sync(context.Background(), key)
}

// actions returns the fake client's writes as "verb resource[/sub] name".
func (f *fixture) actions() []string {
	var out []string
	for _, a := range f.client.Actions() {
		if a.GetVerb() == "get" || a.GetVerb() == "list" || a.GetVerb() == "watch" {
			continue
		}
		s := a.GetVerb() + " " + a.GetResource().Resource
		if a.GetSubresource() != "" {
			s += "/" + a.GetSubresource()
		}
		switch a := a.(type) {
		case clienttesting.DeleteAction:
			s += " " + a.GetName()
		case clienttesting.PatchAction:
			s += " " + a.GetName()
		}
		out = append(out, s)
	}
	return out
}

func (f *fixture) count(verb, resource string) int {
	n := 0
	for _, a := range f.actions() {
		if strings.HasPrefix(a, verb+" "+resource+" ") || a == verb+" "+resource {
			n++
		}
	}
	return n
}

func newRS(name string, replicas int32) *appsv1.ReplicaSet {
	return &appsv1.ReplicaSet{
		ObjectMeta: metav1.ObjectMeta{Name: name, Namespace: "default", UID: types.UID(name + "-uid"), Generation: 1},
		Spec: appsv1.ReplicaSetSpec{
			Replicas: &replicas,
			Selector: &metav1.LabelSelector{MatchLabels: map[string]string{"app": name}},
			Template: corev1.PodTemplateSpec{
				ObjectMeta: metav1.ObjectMeta{Labels: map[string]string{"app": name, "tier": "web"}},
				Spec:       corev1.PodSpec{Containers: []corev1.Container{{Name: "c", Image: "nginx"}}},
			},
		},
	}
}

type podOpt func(*corev1.Pod)

func node(n string) podOpt { return func(p *corev1.Pod) { p.Spec.NodeName = n } }

func running(readySince time.Time) podOpt {
	return func(p *corev1.Pod) {
		p.Status.Phase = corev1.PodRunning
		p.Status.Conditions = []corev1.PodCondition{{Type: corev1.PodReady, Status: corev1.ConditionTrue, LastTransitionTime: metav1.NewTime(readySince)}}
	}
}

func notReady() podOpt {
	return func(p *corev1.Pod) {
		p.Status.Phase = corev1.PodRunning
		p.Status.Conditions = []corev1.PodCondition{{Type: corev1.PodReady, Status: corev1.ConditionFalse}}
	}
}

func created(at time.Time) podOpt {
	return func(p *corev1.Pod) { p.CreationTimestamp = metav1.NewTime(at) }
}

func terminating() podOpt {
	return func(p *corev1.Pod) { now := metav1.NewTime(t0); p.DeletionTimestamp = &now }
}

func withLabels(l map[string]string) podOpt { return func(p *corev1.Pod) { p.Labels = l } }

func orphan() podOpt { return func(p *corev1.Pod) { p.OwnerReferences = nil } }

func ownedBy(rs *appsv1.ReplicaSet) podOpt {
	return func(p *corev1.Pod) {
		p.OwnerReferences = []metav1.OwnerReference{*metav1.NewControllerRef(rs, controllerKind)}
	}
}

func newPodOf(rs *appsv1.ReplicaSet, name string, opts ...podOpt) *corev1.Pod {
	p := &corev1.Pod{
		ObjectMeta: metav1.ObjectMeta{
			Name: name, Namespace: rs.Namespace, UID: types.UID(name + "-uid"),
			Labels:            map[string]string{"app": rs.Name, "tier": "web"},
			CreationTimestamp: metav1.NewTime(t0.Add(-time.Hour)),
			OwnerReferences:   []metav1.OwnerReference{*metav1.NewControllerRef(rs, controllerKind)},
		},
		Status: corev1.PodStatus{Phase: corev1.PodPending},
	}
	for _, o := range opts {
		o(p)
	}
	return p
}

func TestSyncCreatesAndDeletes(t *testing.T) {
	rs := newRS("web", 3)
	other := newRS("other", 1)
	cases := []struct {
		name    string
		rs      *appsv1.ReplicaSet
		pods    []*corev1.Pod
		creates int
		deletes []string // pod names, in any order
		patches []string
	}{
		{name: "creates missing pods", rs: rs, creates: 3},
		{name: "nothing to do", rs: rs, pods: []*corev1.Pod{newPodOf(rs, "a"), newPodOf(rs, "b"), newPodOf(rs, "c")}},
		{
			name: "terminating and finished pods do not count", rs: rs, creates: 2,
			pods: []*corev1.Pod{newPodOf(rs, "a"), newPodOf(rs, "b", terminating()), newPodOf(rs, "c", func(p *corev1.Pod) { p.Status.Phase = corev1.PodSucceeded })},
		},
		{
			name: "pods of another controller are not counted", rs: rs, creates: 3,
			pods: []*corev1.Pod{newPodOf(rs, "x", ownedBy(other))},
		},
		{
			name: "adopts a matching orphan", rs: rs, creates: 2, patches: []string{"patch pods o"},
			pods: []*corev1.Pod{newPodOf(rs, "o", orphan())},
		},
		{
			name: "ignores an orphan that does not match", rs: rs, creates: 3,
			pods: []*corev1.Pod{newPodOf(rs, "o", orphan(), withLabels(map[string]string{"app": "else"}))},
		},
		{
			name: "releases a pod that stopped matching", rs: rs, creates: 1, patches: []string{"patch pods gone"},
			pods: []*corev1.Pod{newPodOf(rs, "a"), newPodOf(rs, "b"), newPodOf(rs, "gone", withLabels(map[string]string{"app": "else"}))},
		},
		{
			name: "scale down prefers unscheduled, then not ready, then newest", rs: newRS("web", 2),
			pods: []*corev1.Pod{
				newPodOf(rs, "old-ready", node("n1"), running(t0.Add(-time.Hour)), created(t0.Add(-3*time.Hour))),
				newPodOf(rs, "new-ready", node("n1"), running(t0.Add(-time.Hour)), created(t0.Add(-time.Minute))),
				newPodOf(rs, "mid-ready", node("n2"), running(t0.Add(-time.Hour)), created(t0.Add(-2*time.Hour))),
				newPodOf(rs, "unscheduled"),
				newPodOf(rs, "not-ready", node("n2"), notReady()),
			},
			deletes: []string{"delete pods new-ready", "delete pods not-ready", "delete pods unscheduled"},
		},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			objs := []runtime.Object{tc.rs, other}
			for _, p := range tc.pods {
				objs = append(objs, p)
			}
			f := newFixture(t, objs...)
			if err := f.sync("default/" + tc.rs.Name); err != nil {
				t.Fatalf("sync: %v", err)
			}
			if got := f.count("create", "pods"); got != tc.creates {
				t.Errorf("created %d pods, want %d (actions %v)", got, tc.creates, f.actions())
			}
			var deletes, patches []string
			for _, a := range f.actions() {
				switch {
				case strings.HasPrefix(a, "delete pods"):
					deletes = append(deletes, a)
				case strings.HasPrefix(a, "patch pods"):
					patches = append(patches, a)
				}
			}
			if !sameSet(deletes, tc.deletes) {
				t.Errorf("deletes = %v, want %v", deletes, tc.deletes)
			}
			if !sameSet(patches, tc.patches) {
				t.Errorf("patches = %v, want %v", patches, tc.patches)
			}
		})
	}
}

func sameSet(a, b []string) bool {
	if len(a) != len(b) {
		return false
	}
	seen := map[string]int{}
	for _, s := range a {
		seen[s]++
	}
	for _, s := range b {
		seen[s]--
	}
	for _, n := range seen {
		if n != 0 {
			return false
		}
	}
	return true
}

func TestCreatedPodsCarryTemplateAndOwner(t *testing.T) {
	rs := newRS("web", 1)
	f := newFixture(t, rs)
	if err := f.sync("default/web"); err != nil {
		t.Fatal(err)
	}
	pods, _ := f.client.CoreV1().Pods("default").List(context.Background(), metav1.ListOptions{})
	if len(pods.Items) != 1 {
		t.Fatalf("%d pods, want 1", len(pods.Items))
	}
	p := pods.Items[0]
	if p.GenerateName != "web-" || p.Labels["tier"] != "web" || p.Spec.Containers[0].Image != "nginx" {
		t.Errorf("pod = %+v, want generateName web- and the template's labels and spec", p.ObjectMeta)
	}
	ref := metav1.GetControllerOf(&p)
	if ref == nil || ref.UID != rs.UID || ref.Kind != "ReplicaSet" || ref.APIVersion != "apps/v1" || ref.BlockOwnerDeletion == nil || !*ref.BlockOwnerDeletion {
		t.Errorf("controller ref = %+v, want the ReplicaSet with blockOwnerDeletion", ref)
	}
}

func TestExpectationsBlockDuplicateCreates(t *testing.T) {
	rs := newRS("web", 3)
	f := newFixture(t, rs)
	if err := f.sync("default/web"); err != nil {
		t.Fatal(err)
	}
	if got := f.count("create", "pods"); got != 3 {
		t.Fatalf("first sync created %d pods, want 3", got)
	}
	// The informer has not seen the pods yet: a second sync must not
	// create them again.
	if err := f.sync("default/web"); err != nil {
		t.Fatal(err)
	}
	if got := f.count("create", "pods"); got != 0 {
		t.Fatalf("second sync before the creations were observed created %d pods, want 0", got)
	}
	// Two of three observed: still blocked.
	pods, _ := f.client.CoreV1().Pods("default").List(context.Background(), metav1.ListOptions{})
	idx := f.inf.Core().V1().Pods().Informer().GetIndexer()
	for i := range pods.Items[:2] {
		_ = idx.Add(&pods.Items[i])
		f.c.pods.Add(&pods.Items[i])
	}
	if f.c.exp.satisfied("default/web") {
		t.Fatal("expectations satisfied with one creation unobserved")
	}
	_ = idx.Add(&pods.Items[2])
	f.c.pods.Add(&pods.Items[2])
	if !f.c.exp.satisfied("default/web") {
		t.Fatal("expectations unsatisfied after every creation was observed")
	}
	if err := f.sync("default/web"); err != nil {
		t.Fatal(err)
	}
	if got := f.count("create", "pods"); got != 0 {
		t.Fatalf("sync with all pods observed created %d pods, want 0", got)
	}
}

func TestBurstBoundsOneSync(t *testing.T) {
	f := newFixture(t, newRS("big", 1200))
	if err := f.sync("default/big"); err != nil {
		t.Fatal(err)
	}
	if got := f.count("create", "pods"); got != burstReplicas {
		t.Fatalf("created %d pods in one sync, want %d", got, burstReplicas)
	}
	if adds, _ := f.c.exp.pending("default/big"); adds != burstReplicas {
		t.Fatalf("pending creations = %d, want %d", adds, burstReplicas)
	}
}

func TestFailedCreatesLowerExpectations(t *testing.T) {
	rs := newRS("web", 10)
	f := newFixture(t, rs)
	var calls atomic.Int32
	f.client.PrependReactor("create", "pods", func(a clienttesting.Action) (bool, runtime.Object, error) {
		if calls.Add(1) > 2 {
			return true, nil, errors.New("quota exceeded")
		}
		return false, nil, nil
	})
	if err := f.sync("default/web"); err == nil {
		t.Fatal("sync with failing creates returned no error")
	}
	// batches 1, 2: the second fails halfway; 7 never tried.
	if got := calls.Load(); got != 3 {
		t.Errorf("%d create calls, want 3 (slow start stops at the failing batch)", got)
	}
	if adds, _ := f.c.exp.pending("default/web"); adds != 2 {
		t.Errorf("pending creations = %d, want 2 (the successful ones)", adds)
	}
	st, _ := f.client.AppsV1().ReplicaSets("default").Get(context.Background(), "web", metav1.GetOptions{})
	if len(st.Status.Conditions) != 1 || st.Status.Conditions[0].Reason != "FailedCreate" {
		t.Errorf("conditions = %+v, want ReplicaFailure FailedCreate", st.Status.Conditions)
	}
}

func TestSlowStartBatch(t *testing.T) {
	for _, tc := range []struct {
		count, failFrom   int // calls numbered from 1; 0 = never fail
		wantCalls, wantOK int
		wantErr           bool
	}{
		{count: 0, wantCalls: 0, wantOK: 0},
		{count: 1, wantCalls: 1, wantOK: 1},
		{count: 10, wantCalls: 10, wantOK: 10},
		{count: 100, wantCalls: 100, wantOK: 100},
		{count: 10, failFrom: 1, wantCalls: 1, wantOK: 0, wantErr: true},
		{count: 10, failFrom: 6, wantCalls: 7, wantOK: 5, wantErr: true}, // 7th call may not start
	} {
		t.Run(fmt.Sprintf("%d fail from %d", tc.count, tc.failFrom), func(t *testing.T) {
			var calls atomic.Int32
			ok, err := slowStartBatch(tc.count, 1, 8, func() error {
				if n := calls.Add(1); tc.failFrom > 0 && int(n) >= tc.failFrom {
					return errors.New("boom")
				}
				return nil
			})
			if got := int(calls.Load()); got > tc.wantCalls || (tc.failFrom == 0 && got != tc.wantCalls) || ok != tc.wantOK || (err != nil) != tc.wantErr {
				t.Errorf("calls %d, ok %d, err %v; want %d, %d, err %v", calls.Load(), ok, err, tc.wantCalls, tc.wantOK, tc.wantErr)
			}
		})
	}
}

func TestStatus(t *testing.T) {
	rs := newRS("web", 4)
	rs.Spec.MinReadySeconds = 30
	pods := []*corev1.Pod{
		newPodOf(rs, "long-ready", running(t0.Add(-time.Minute))),
		newPodOf(rs, "just-ready", running(t0.Add(-10*time.Second))),
		newPodOf(rs, "pending"),
		newPodOf(rs, "partial", running(t0.Add(-time.Hour)), withLabels(map[string]string{"app": "web"})),
	}
	st := calculateStatus(rs, pods, nil, t0)
	want := appsv1.ReplicaSetStatus{Replicas: 4, FullyLabeledReplicas: 3, ReadyReplicas: 3, AvailableReplicas: 2}
	if st.Replicas != want.Replicas || st.FullyLabeledReplicas != want.FullyLabeledReplicas || st.ReadyReplicas != want.ReadyReplicas || st.AvailableReplicas != want.AvailableReplicas {
		t.Errorf("status = %+v, want %+v", st, want)
	}
	d, ok := nextAvailable(rs, pods, t0)
	if !ok || d < 20*time.Second || d > 21*time.Second {
		t.Errorf("next availability check in %v (%v), want about 20s", d, ok)
	}

	f := newFixture(t, rs, pods[0], pods[1], pods[2], pods[3])
	if err := f.sync("default/web"); err != nil {
		t.Fatal(err)
	}
	got, _ := f.client.AppsV1().ReplicaSets("default").Get(context.Background(), "web", metav1.GetOptions{})
	if got.Status.AvailableReplicas != 2 || got.Status.ObservedGeneration != 1 {
		t.Errorf("stored status = %+v, want available 2, observedGeneration 1", got.Status)
	}
	if err := f.sync("default/web"); err != nil {
		t.Fatal(err)
	}
}

func TestExpectations(t *testing.T) {
	now := t0
	e := newExpectations(func() time.Time { return now })
	if !e.satisfied("k") {
		t.Fatal("no record: want satisfied")
	}
	e.expectDeletions("k", []string{"ns/a", "ns/b"})
	e.deletionObserved("k", "ns/a")
	e.deletionObserved("k", "ns/a") // the same pod reported twice
	if e.satisfied("k") {
		t.Fatal("one deletion unobserved: want unsatisfied")
	}
	now = now.Add(expectationsTTL + time.Second)
	if !e.satisfied("k") {
		t.Fatal("expired record: want satisfied")
	}
	e.expectCreations("k", 1)
	e.creationObserved("k")
	e.creationObserved("k")
	if adds, _ := e.pending("k"); adds != 0 || !e.satisfied("k") {
		t.Fatalf("adds = %d, want 0 and satisfied", adds)
	}
	e.forget("k")
	if adds, dels := e.pending("k"); adds != 0 || dels != 0 {
		t.Fatal("forget kept the record")
	}
}
