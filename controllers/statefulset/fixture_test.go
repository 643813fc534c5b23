package statefulset

import (
	"context"
	"fmt"
	"slices"
	"strings"
	"testing"
	"time"

	appsv1 "k8s.io/api/apps/v1"
	corev1 "k8s.io/api/core/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/runtime"
	"k8s.io/apimachinery/pkg/types"
	"k8s.io/client-go/informers"
	"k8s.io/client-go/kubernetes/fake"
	k8stesting "k8s.io/client-go/testing"
	"k8s.io/client-go/tools/record"

	"github.com/sqlkube/sqlkube/controllers/internal/controllertest"
)

var t0 = time.Date(2026, 1, 1, 12, 0, 0, 0, time.UTC)

// newSet returns a StatefulSet "web" in demo as the API server stores it
// (defaulted), changed by mods.
func newSet(replicas int32, mods ...func(*appsv1.StatefulSet)) *appsv1.StatefulSet {
	set := &appsv1.StatefulSet{
		ObjectMeta: metav1.ObjectMeta{Name: "web", Namespace: "demo", UID: "set-uid", Generation: 1},
		Spec: appsv1.StatefulSetSpec{
			Replicas:    &replicas,
			ServiceName: "web-svc",
			Selector:    &metav1.LabelSelector{MatchLabels: map[string]string{"app": "web"}},
			Template: corev1.PodTemplateSpec{
				ObjectMeta: metav1.ObjectMeta{Labels: map[string]string{"app": "web", "tier": "db"}},
				Spec:       corev1.PodSpec{Containers: []corev1.Container{{Name: "c", Image: "web:1"}}},
			},
			PodManagementPolicy: appsv1.OrderedReadyPodManagement,
			UpdateStrategy: appsv1.StatefulSetUpdateStrategy{
				Type:          appsv1.RollingUpdateStatefulSetStrategyType,
				RollingUpdate: &appsv1.RollingUpdateStatefulSetStrategy{Partition: new(int32(0))},
			},
			PersistentVolumeClaimRetentionPolicy: &appsv1.StatefulSetPersistentVolumeClaimRetentionPolicy{WhenDeleted: retain, WhenScaled: retain},
		},
	}
	for _, m := range mods {
		m(set)
	}
	return set
}

func parallel(set *appsv1.StatefulSet) { set.Spec.PodManagementPolicy = appsv1.ParallelPodManagement }

func onDelete(set *appsv1.StatefulSet) {
	set.Spec.UpdateStrategy = appsv1.StatefulSetUpdateStrategy{Type: appsv1.OnDeleteStatefulSetStrategyType}
}

func partition(p int32) func(*appsv1.StatefulSet) {
	return func(set *appsv1.StatefulSet) { set.Spec.UpdateStrategy.RollingUpdate.Partition = &p }
}

// image changes the template's image: a new revision.
func image(img string) func(*appsv1.StatefulSet) {
	return func(set *appsv1.StatefulSet) {
		set.Spec.Template.Spec.Containers[0].Image = img
		set.Generation++
	}
}

// pod returns set's pod with ordinal n as the controller makes it, with
// a UID, Running and Ready for an hour, changed by mods.
func pod(set *appsv1.StatefulSet, n int, mods ...func(*corev1.Pod)) *corev1.Pod {
	p := newPod(set, n, revisionName(set))
	p.UID = types.UID("uid-" + p.Name)
	p.CreationTimestamp = metav1.NewTime(t0.Add(-2 * time.Hour))
	p.Status.Phase = corev1.PodRunning
	p.Status.Conditions = []corev1.PodCondition{{Type: corev1.PodReady, Status: corev1.ConditionTrue, LastTransitionTime: metav1.NewTime(t0.Add(-time.Hour))}}
	for _, m := range mods {
		m(p)
	}
	return p
}

func notReady(p *corev1.Pod) {
	p.Status.Phase = corev1.PodRunning
	p.Status.Conditions = []corev1.PodCondition{{Type: corev1.PodReady, Status: corev1.ConditionFalse}}
}

func pending(p *corev1.Pod) { p.Status = corev1.PodStatus{Phase: corev1.PodPending} }

func readySince(at time.Time) func(*corev1.Pod) {
	return func(p *corev1.Pod) { p.Status.Conditions[0].LastTransitionTime = metav1.NewTime(at) }
}

func phase(ph corev1.PodPhase) func(*corev1.Pod) {
	return func(p *corev1.Pod) { p.Status.Phase = ph }
}

func deleting(p *corev1.Pod) {
	p.DeletionTimestamp = &metav1.Time{Time: t0}
	p.Finalizers = []string{"example.com/hold"}
}

type fixture struct {
	t        *testing.T
	client   *fake.Clientset
	c        *Controller
	inf      informers.SharedInformerFactory
	recorder *record.FakeRecorder
	uids     int // UIDs the kubelet gave to created pods
}

// newFixture returns a controller over a fake clientset holding objs,
// whose informer stores hold objs too; a test runs one sync at a time
// and moves the stores on with refresh.
func newFixture(t *testing.T, objs ...runtime.Object) *fixture {
	t.Helper()
	client, cfg := controllertest.NewConfig(t, objs...)
	c := New(cfg)
	rec := record.NewFakeRecorder(1000)
	c.recorder = rec
	c.now = func() time.Time { return t0 }
	controllertest.Cache(t, cfg.Informers, objs...)
	return &fixture{t: t, client: client, c: c, inf: cfg.Informers, recorder: rec}
}

// sync runs one sync of demo/web with the actions cleared first.
func (f *fixture) sync() error {
	f.client.ClearActions()
	return f.c.sync(context.Background(), "demo/web")
}

// mustSync is sync failing the test on an error.
func (f *fixture) mustSync() {
	f.t.Helper()
	if err := f.sync(); err != nil {
		f.t.Fatalf("sync: %v", err)
	}
}

// writes returns the last sync's API writes as "verb resource[/sub] name".
func (f *fixture) writes() []string {
	var out []string
	for _, a := range f.client.Actions() {
		r := a.GetResource().Resource
		if a.GetSubresource() != "" {
			r += "/" + a.GetSubresource()
		}
		var name string
		switch a := a.(type) {
		case k8stesting.CreateAction:
			name = a.GetObject().(metav1.Object).GetName()
		case k8stesting.UpdateAction:
			name = a.GetObject().(metav1.Object).GetName()
		case k8stesting.PatchAction:
			name = a.GetName()
		case k8stesting.DeleteAction:
			name = a.GetName()
		default:
			continue
		}
		out = append(out, a.GetVerb()+" "+r+" "+name)
	}
	return out
}

// podWrites is writes without the status update.
func (f *fixture) podWrites() []string {
	var out []string
	for _, w := range f.writes() {
		if !strings.HasPrefix(w, "update statefulsets/status") {
			out = append(out, w)
		}
	}
	return out
}

// refresh makes the informer stores show what the fake API holds, as the
// informers would after the events of the last writes.
func (f *fixture) refresh() {
	f.t.Helper()
	ctx := context.Background()
	pods, err := f.client.CoreV1().Pods("demo").List(ctx, metav1.ListOptions{})
	if err != nil {
		f.t.Fatal(err)
	}
	var objs []any
	for i := range pods.Items {
		objs = append(objs, &pods.Items[i])
	}
	if err := f.inf.Core().V1().Pods().Informer().GetIndexer().Replace(objs, ""); err != nil {
		f.t.Fatal(err)
	}
	sets, err := f.client.AppsV1().StatefulSets("demo").List(ctx, metav1.ListOptions{})
	if err != nil {
		f.t.Fatal(err)
	}
	objs = nil
	for i := range sets.Items {
		objs = append(objs, &sets.Items[i])
	}
	if err := f.inf.Apps().V1().StatefulSets().Informer().GetIndexer().Replace(objs, ""); err != nil {
		f.t.Fatal(err)
	}
}

// kubelet makes every pod that is not Running yet Running and Ready, as a
// node would, and refreshes the stores.
func (f *fixture) kubelet() {
	f.t.Helper()
	ctx := context.Background()
	pods, err := f.client.CoreV1().Pods("demo").List(ctx, metav1.ListOptions{})
	if err != nil {
		f.t.Fatal(err)
	}
	for _, p := range pods.Items {
		if p.Status.Phase == corev1.PodRunning {
			continue
		}
		if p.UID == "" {
			f.uids++
			p.UID = types.UID(fmt.Sprintf("uid-%s-%d", p.Name, f.uids))
		}
		p.Status.Phase = corev1.PodRunning
		p.Status.Conditions = []corev1.PodCondition{{Type: corev1.PodReady, Status: corev1.ConditionTrue, LastTransitionTime: metav1.NewTime(t0.Add(-time.Minute))}}
		if _, err := f.client.CoreV1().Pods("demo").Update(ctx, &p, metav1.UpdateOptions{}); err != nil {
			f.t.Fatal(err)
		}
	}
	f.refresh()
}

// update replaces the StatefulSet in the API and the store, as kubectl
// apply would.
func (f *fixture) update(set *appsv1.StatefulSet) {
	f.t.Helper()
	cur, err := f.client.AppsV1().StatefulSets("demo").Get(context.Background(), "web", metav1.GetOptions{})
	if err != nil {
		f.t.Fatal(err)
	}
	set = set.DeepCopy()
	set.Status = cur.Status
	if _, err := f.client.AppsV1().StatefulSets("demo").Update(context.Background(), set, metav1.UpdateOptions{}); err != nil {
		f.t.Fatal(err)
	}
	f.refresh()
}

func (f *fixture) getPod(name string) *corev1.Pod {
	f.t.Helper()
	p, err := f.client.CoreV1().Pods("demo").Get(context.Background(), name, metav1.GetOptions{})
	if err != nil {
		f.t.Fatal(err)
	}
	return p
}

func (f *fixture) set() *appsv1.StatefulSet {
	f.t.Helper()
	set, err := f.client.AppsV1().StatefulSets("demo").Get(context.Background(), "web", metav1.GetOptions{})
	if err != nil {
		f.t.Fatal(err)
	}
	return set
}

// events returns the events recorded so far as "Type Reason message".
func (f *fixture) events() []string { return controllertest.Events(f.recorder) }

func objects(set *appsv1.StatefulSet, pods ...*corev1.Pod) []runtime.Object {
	out := []runtime.Object{set}
	for _, p := range pods {
		out = append(out, p)
	}
	return out
}

// sortedIfParallel sorts the writes of a Parallel set, which happen in
// no fixed order.
func sortedIfParallel(set *appsv1.StatefulSet, w []string) []string {
	if set.Spec.PodManagementPolicy != appsv1.ParallelPodManagement {
		return w
	}
	w = slices.Clone(w)
	slices.Sort(w)
	return w
}

// orphan renames p and drops its owner reference.
func orphan(p *corev1.Pod, name string) *corev1.Pod {
	p = p.DeepCopy()
	p.Name, p.UID, p.OwnerReferences = name, types.UID("uid-"+name), nil
	return p
}

func equalMaps(a, b map[string]string) bool {
	if len(a) != len(b) {
		return false
	}
	for k, v := range a {
		if w, ok := b[k]; !ok || w != v {
			return false
		}
	}
	return true
}
