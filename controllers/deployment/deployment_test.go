package deployment

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
	clienttesting "k8s.io/client-go/testing"
	"k8s.io/client-go/tools/record"

	"github.com/sqlkube/sqlkube/controllers/internal/controllertest"
)

var t0 = time.Date(2026, 1, 1, 12, 0, 0, 0, time.UTC)

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

func (f *fixture) sync(name string) {
	f.t.Helper()
	f.client.ClearActions()
	if err := f.c.sync(context.Background(), "default/"+name); err != nil {
		f.t.Fatalf("sync %s: %v", name, err)
	}
}

// rsWrites returns "name=replicas" for every ReplicaSet created or
// updated by the last sync, in order.
func (f *fixture) rsWrites() []string {
	var out []string
	for _, a := range f.client.Actions() {
		if a.GetResource().Resource != "replicasets" || a.GetSubresource() != "" {
			continue
		}
		switch a.GetVerb() {
		case "create":
			rs := a.(clienttesting.CreateAction).GetObject().(*appsv1.ReplicaSet)
			out = append(out, fmt.Sprintf("create %s=%d", rs.Name, *rs.Spec.Replicas))
		case "update":
			rs := a.(clienttesting.UpdateAction).GetObject().(*appsv1.ReplicaSet)
			out = append(out, fmt.Sprintf("%s=%d", rs.Name, *rs.Spec.Replicas))
		case "delete":
			out = append(out, "delete "+a.(clienttesting.DeleteAction).GetName())
		}
	}
	return out
}

func (f *fixture) deployment(name string) *appsv1.Deployment {
	d, err := f.client.AppsV1().Deployments("default").Get(context.Background(), name, metav1.GetOptions{})
	if err != nil {
		f.t.Fatal(err)
	}
	return d
}

func (f *fixture) rs(name string) *appsv1.ReplicaSet {
	rs, err := f.client.AppsV1().ReplicaSets("default").Get(context.Background(), name, metav1.GetOptions{})
	if err != nil {
		f.t.Fatal(err)
	}
	return rs
}

func newDeployment(name string, replicas int32, image string) *appsv1.Deployment {
	surge, unavail := intstr.FromInt32(2), intstr.FromInt32(1)
	return &appsv1.Deployment{
		ObjectMeta: metav1.ObjectMeta{Name: name, Namespace: "default", UID: types.UID(name + "-uid"), Generation: 1},
		Spec: appsv1.DeploymentSpec{
			Replicas: &replicas,
			Selector: &metav1.LabelSelector{MatchLabels: map[string]string{"app": name}},
			Template: corev1.PodTemplateSpec{
				ObjectMeta: metav1.ObjectMeta{Labels: map[string]string{"app": name}},
				Spec:       corev1.PodSpec{Containers: []corev1.Container{{Name: "c", Image: image}}},
			},
			Strategy: appsv1.DeploymentStrategy{
				Type:          appsv1.RollingUpdateDeploymentStrategyType,
				RollingUpdate: &appsv1.RollingUpdateDeployment{MaxSurge: &surge, MaxUnavailable: &unavail},
			},
			RevisionHistoryLimit:    new(int32(10)),
			ProgressDeadlineSeconds: new(int32(600)),
		},
	}
}

// rsFor returns the ReplicaSet d would create for image, with replicas
// and available pods, created at t0+age.
func rsFor(d *appsv1.Deployment, image string, replicas, available int32, rev int, age time.Duration) *appsv1.ReplicaSet {
	dd := d.DeepCopy()
	dd.Spec.Template.Spec.Containers[0].Image = image
	hash := templateHash(&dd.Spec.Template, nil)
	tmpl := dd.Spec.Template.DeepCopy()
	tmpl.Labels[hashLabel] = hash
	sel := dd.Spec.Selector.DeepCopy()
	sel.MatchLabels[hashLabel] = hash
	return &appsv1.ReplicaSet{
		ObjectMeta: metav1.ObjectMeta{
			Name: d.Name + "-" + hash, Namespace: "default", UID: types.UID(d.Name + "-" + hash),
			Labels:            tmpl.Labels,
			CreationTimestamp: metav1.NewTime(t0.Add(age)),
			Generation:        1,
			Annotations: map[string]string{
				revisionAnn:        fmt.Sprint(rev),
				desiredReplicasAnn: fmt.Sprint(*d.Spec.Replicas),
				maxReplicasAnn:     fmt.Sprint(*d.Spec.Replicas + maxSurge(d)),
			},
			OwnerReferences: []metav1.OwnerReference{*metav1.NewControllerRef(d, controllerKind)},
		},
		Spec: appsv1.ReplicaSetSpec{Replicas: &replicas, Selector: sel, Template: *tmpl},
		Status: appsv1.ReplicaSetStatus{
			Replicas: replicas, ReadyReplicas: available, AvailableReplicas: available, ObservedGeneration: 1,
		},
	}
}

func TestTemplateHash(t *testing.T) {
	d := newDeployment("web", 1, "nginx:1")
	h := templateHash(&d.Spec.Template, nil)
	if h != templateHash(d.DeepCopy().Spec.Template.DeepCopy(), nil) {
		t.Fatal("hash differs for equal templates")
	}
	withLabel := d.Spec.Template.DeepCopy()
	withLabel.Labels[hashLabel] = "anything"
	if templateHash(withLabel, nil) != h {
		t.Error("the pod-template-hash label changed the hash")
	}
	other := d.Spec.Template.DeepCopy()
	other.Spec.Containers[0].Image = "nginx:2"
	if templateHash(other, nil) == h {
		t.Error("a different image gave the same hash")
	}
	if templateHash(&d.Spec.Template, new(int32(1))) == h {
		t.Error("collisionCount did not change the hash")
	}
	// Pinned: ReplicaSet names must not change between releases, or every
	// Deployment would roll out again after an upgrade.
	if want := "7hhjsdg"; h != want {
		t.Errorf("templateHash = %q, want %q", h, want)
	}
	for _, r := range h {
		if !strings.ContainsRune(hashAlphabet, r) {
			t.Errorf("hash %q has %q outside the alphabet", h, r)
		}
	}
}

func TestRollingUpdateSteps(t *testing.T) {
	d := newDeployment("web", 8, "nginx:2") // maxSurge 2, maxUnavailable 1
	cases := []struct {
		name string
		rss  []*appsv1.ReplicaSet
		want []string
	}{
		{
			name: "first rollout creates the new replica set at full size",
			want: []string{"create " + rsFor(d, "nginx:2", 0, 0, 1, 0).Name + "=8"},
		},
		{
			name: "surge: new replica set created with maxSurge pods",
			rss:  []*appsv1.ReplicaSet{rsFor(d, "nginx:1", 8, 8, 1, -time.Hour)},
			// and in the same sync old scaled down: 10 - 7 available - 2 new unavailable
			want: []string{"create " + rsFor(d, "nginx:2", 0, 0, 1, 0).Name + "=2", rsFor(d, "nginx:1", 0, 0, 1, 0).Name + "=7"},
		},
		{
			name: "at the surge limit, old scaled down by maxUnavailable",
			rss:  []*appsv1.ReplicaSet{rsFor(d, "nginx:1", 8, 8, 1, -time.Hour), rsFor(d, "nginx:2", 2, 0, 2, 0)},
			want: []string{rsFor(d, "nginx:1", 0, 0, 1, 0).Name + "=7"},
		},
		{
			name: "room under the surge limit: new scaled up",
			rss:  []*appsv1.ReplicaSet{rsFor(d, "nginx:1", 7, 7, 1, -time.Hour), rsFor(d, "nginx:2", 2, 2, 2, 0)},
			want: []string{rsFor(d, "nginx:2", 0, 0, 1, 0).Name + "=3"},
		},
		{
			name: "new pods available: old scaled down to keep 7 available",
			rss:  []*appsv1.ReplicaSet{rsFor(d, "nginx:1", 7, 7, 1, -time.Hour), rsFor(d, "nginx:2", 3, 3, 2, 0)},
			want: []string{rsFor(d, "nginx:1", 0, 0, 1, 0).Name + "=4"},
		},
		{
			name: "unavailable old pods go first",
			rss:  []*appsv1.ReplicaSet{rsFor(d, "nginx:1", 8, 5, 1, -time.Hour), rsFor(d, "nginx:2", 2, 2, 2, 0)},
			want: []string{rsFor(d, "nginx:1", 0, 0, 1, 0).Name + "=5"}, // then 7 available: no more
		},
		{
			name: "an unavailable old pod goes though no new pod is available",
			rss:  []*appsv1.ReplicaSet{rsFor(d, "nginx:1", 8, 7, 1, -time.Hour), rsFor(d, "nginx:2", 2, 0, 2, 0)},
			want: []string{rsFor(d, "nginx:1", 0, 0, 1, 0).Name + "=7"},
		},
		{
			// The old set was just scaled to 7 and still reports the 8
			// pods it is deleting: 7 + 2 are available, not 8 + 2.
			name: "a stale status counts no more pods than the set is sized for",
			rss:  []*appsv1.ReplicaSet{rsFor(d, "nginx:1", 7, 8, 1, -time.Hour), rsFor(d, "nginx:2", 3, 2, 2, 0)},
			want: []string{rsFor(d, "nginx:1", 0, 0, 1, 0).Name + "=5"},
		},
		{
			name: "at minimum availability: wait",
			rss:  []*appsv1.ReplicaSet{rsFor(d, "nginx:1", 7, 7, 1, -time.Hour), rsFor(d, "nginx:2", 3, 0, 2, 0)},
			want: nil,
		},
		{
			name: "done",
			rss:  []*appsv1.ReplicaSet{rsFor(d, "nginx:1", 0, 0, 1, -time.Hour), rsFor(d, "nginx:2", 8, 8, 2, 0)},
			want: nil,
		},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			objs := []runtime.Object{d.DeepCopy()}
			for _, rs := range tc.rss {
				objs = append(objs, rs)
			}
			f := newFixture(t, objs...)
			f.sync("web")
			if got := f.rsWrites(); strings.Join(got, ",") != strings.Join(tc.want, ",") {
				t.Errorf("replica set writes = %v, want %v", got, tc.want)
			}
		})
	}
}

func TestRecreate(t *testing.T) {
	d := newDeployment("web", 3, "nginx:2")
	d.Spec.Strategy = appsv1.DeploymentStrategy{Type: appsv1.RecreateDeploymentStrategyType}
	oldRS := rsFor(d, "nginx:1", 3, 3, 1, -time.Hour)
	f := newFixture(t, d, oldRS)
	f.sync("web")
	if got := f.rsWrites(); len(got) != 1 || got[0] != oldRS.Name+"=0" {
		t.Fatalf("first sync writes %v, want old scaled to 0 and no new replica set", got)
	}

	// Old replica set empty but a pod is still terminating: wait.
	gone := rsFor(d, "nginx:1", 0, 0, 1, -time.Hour)
	pod := &corev1.Pod{ObjectMeta: metav1.ObjectMeta{
		Name: "old-pod", Namespace: "default", Labels: gone.Spec.Template.Labels,
		DeletionTimestamp: &metav1.Time{Time: t0},
		OwnerReferences:   []metav1.OwnerReference{*metav1.NewControllerRef(gone, rsKind)},
	}, Status: corev1.PodStatus{Phase: corev1.PodRunning}}
	f = newFixture(t, d, gone, pod)
	f.sync("web")
	if got := f.rsWrites(); len(got) != 0 {
		t.Fatalf("with an old pod terminating, writes %v, want none", got)
	}

	f = newFixture(t, d, gone)
	f.sync("web")
	if got := f.rsWrites(); len(got) != 1 || !strings.HasPrefix(got[0], "create ") || !strings.HasSuffix(got[0], "=3") {
		t.Fatalf("with old pods gone, writes %v, want the new replica set created with 3", got)
	}
}

func TestRevisionsAndUndo(t *testing.T) {
	d := newDeployment("web", 2, "nginx:1")
	d.Annotations = map[string]string{changeCauseAnn: "kubectl create deployment web"}
	f := newFixture(t, d)
	f.sync("web")
	rs1 := f.rs(rsFor(d, "nginx:1", 0, 0, 0, 0).Name)
	if rs1.Annotations[revisionAnn] != "1" || f.deployment("web").Annotations[revisionAnn] != "1" {
		t.Fatalf("first rollout: rs revision %q, deployment revision %q; want 1, 1", rs1.Annotations[revisionAnn], f.deployment("web").Annotations[revisionAnn])
	}
	if rs1.Annotations[changeCauseAnn] != "kubectl create deployment web" {
		t.Errorf("change-cause not copied: %v", rs1.Annotations)
	}
	if rs1.Annotations[desiredReplicasAnn] != "2" || rs1.Annotations[maxReplicasAnn] != "4" {
		t.Errorf("replicas annotations = %v, want desired 2, max 4", rs1.Annotations)
	}
	if rs1.Spec.Selector.MatchLabels[hashLabel] == "" || rs1.Spec.Template.Labels[hashLabel] != rs1.Spec.Selector.MatchLabels[hashLabel] {
		t.Errorf("pod-template-hash missing from selector or template: %+v", rs1.Spec)
	}

	// A new image: revision 2.
	d2 := f.deployment("web")
	d2.Spec.Template.Spec.Containers[0].Image = "nginx:2"
	d2.Generation = 2
	rs1.Status = appsv1.ReplicaSetStatus{Replicas: 2, AvailableReplicas: 2, ReadyReplicas: 2, ObservedGeneration: 1}
	f = newFixture(t, d2, rs1)
	f.sync("web")
	rs2 := f.rs(rsFor(d, "nginx:2", 0, 0, 0, 0).Name)
	if rs2.Annotations[revisionAnn] != "2" || f.deployment("web").Annotations[revisionAnn] != "2" {
		t.Fatalf("second rollout: rs revision %q, deployment %q; want 2, 2", rs2.Annotations[revisionAnn], f.deployment("web").Annotations[revisionAnn])
	}

	// Undo: the template is nginx:1 again. The first replica set is
	// re-used and becomes revision 3.
	d3 := f.deployment("web")
	d3.Spec.Template = *rs1.Spec.Template.DeepCopy()
	delete(d3.Spec.Template.Labels, hashLabel)
	d3.Generation = 3
	rs1 = f.rs(rs1.Name)
	rs1.CreationTimestamp = metav1.NewTime(t0.Add(-time.Hour))
	f = newFixture(t, d3, rs1, rs2)
	f.sync("web")
	for _, w := range f.rsWrites() {
		if strings.HasPrefix(w, "create") {
			t.Errorf("undo created a replica set: %v", f.rsWrites())
		}
	}
	got := f.rs(rs1.Name)
	if got.Annotations[revisionAnn] != "3" || got.Annotations[revisionHistoryAnn] != "1" {
		t.Errorf("undone replica set annotations = %v, want revision 3, history 1", got.Annotations)
	}
	if f.deployment("web").Annotations[revisionAnn] != "3" {
		t.Errorf("deployment revision = %q, want 3", f.deployment("web").Annotations[revisionAnn])
	}
}

func TestHistoryCleanup(t *testing.T) {
	d := newDeployment("web", 2, "nginx:9")
	d.Spec.RevisionHistoryLimit = new(int32(2))
	objs := []runtime.Object{d}
	for i := 1; i <= 5; i++ {
		var n int32
		if i == 1 {
			n = 1 // still has a pod wanted: kept however old
		}
		objs = append(objs, rsFor(d, fmt.Sprintf("nginx:%d", i), n, n, i, time.Duration(i)*time.Minute-time.Hour))
	}
	objs = append(objs, rsFor(d, "nginx:9", 2, 2, 6, 0))
	d.Spec.Replicas = new(int32(2))
	f := newFixture(t, objs...)
	f.sync("web")
	var deleted []string
	for _, w := range f.rsWrites() {
		if strings.HasPrefix(w, "delete ") {
			deleted = append(deleted, strings.TrimPrefix(w, "delete "))
		}
	}
	// The rollout is not complete while revision 1 has a pod, so nothing
	// is deleted yet; scale it away first.
	sort.Strings(deleted)
	if len(deleted) != 0 {
		t.Fatalf("deleted %v while the rollout is incomplete", deleted)
	}
	objs[1] = rsFor(d, "nginx:1", 0, 0, 1, -time.Hour)
	f = newFixture(t, objs...)
	f.sync("web")
	deleted = nil
	for _, w := range f.rsWrites() {
		if strings.HasPrefix(w, "delete ") {
			deleted = append(deleted, strings.TrimPrefix(w, "delete "))
		}
	}
	want := []string{rsFor(d, "nginx:1", 0, 0, 0, 0).Name, rsFor(d, "nginx:2", 0, 0, 0, 0).Name, rsFor(d, "nginx:3", 0, 0, 0, 0).Name}
	sort.Strings(deleted)
	sort.Strings(want)
	if strings.Join(deleted, ",") != strings.Join(want, ",") {
		t.Errorf("deleted %v, want the three oldest revisions %v", deleted, want)
	}
}

func TestScaling(t *testing.T) {
	t.Run("one active replica set takes the new size", func(t *testing.T) {
		d := newDeployment("web", 5, "nginx:1")
		rs := rsFor(d, "nginx:1", 3, 3, 1, 0)
		rs.Annotations[desiredReplicasAnn] = "3"
		f := newFixture(t, d, rs)
		f.sync("web")
		if got := f.rsWrites(); len(got) != 1 || got[0] != rs.Name+"=5" {
			t.Fatalf("writes %v, want %s=5", got, rs.Name)
		}
		if a := f.rs(rs.Name).Annotations; a[desiredReplicasAnn] != "5" || a[maxReplicasAnn] != "7" {
			t.Errorf("annotations %v, want desired 5, max 7", a)
		}
	})
	t.Run("proportional during a rollout", func(t *testing.T) {
		d := newDeployment("web", 20, "nginx:2")
		d.Spec.Strategy.RollingUpdate.MaxSurge = new(intstr.FromInt32(5))
		old := rsFor(d, "nginx:1", 6, 6, 1, -time.Hour)
		cur := rsFor(d, "nginx:2", 6, 0, 2, 0)
		for _, rs := range []*appsv1.ReplicaSet{old, cur} {
			rs.Annotations[desiredReplicasAnn], rs.Annotations[maxReplicasAnn] = "10", "12"
		}
		f := newFixture(t, d, old, cur)
		f.sync("web")
		// 25 allowed, 12 running: each gets 6*25/12-6 = 6.5 -> 7, capped
		// by what is left: new +7, old +6.
		got := map[string]int32{}
		for _, w := range f.rsWrites() {
			var n int32
			name, v, _ := strings.Cut(w, "=")
			fmt.Sscan(v, &n)
			got[name] = n
		}
		if got[cur.Name] != 13 || got[old.Name] != 12 {
			t.Errorf("sizes %v, want new 13, old 12", got)
		}
	})
}

func TestPausedDoesNotRollOut(t *testing.T) {
	d := newDeployment("web", 3, "nginx:2")
	d.Spec.Paused = true
	old := rsFor(d, "nginx:1", 3, 3, 1, -time.Hour)
	f := newFixture(t, d, old)
	f.sync("web")
	if got := f.rsWrites(); len(got) != 0 {
		t.Fatalf("paused deployment wrote %v", got)
	}
	cond := condition(f.deployment("web").Status, appsv1.DeploymentProgressing)
	if cond == nil || cond.Reason != reasonPaused || cond.Status != corev1.ConditionUnknown {
		t.Fatalf("Progressing = %+v, want Unknown DeploymentPaused", cond)
	}
	// Still scales.
	d2 := f.deployment("web")
	d2.Spec.Replicas = new(int32(4))
	f = newFixture(t, d2, old)
	f.sync("web")
	if got := f.rsWrites(); len(got) != 1 || got[0] != old.Name+"=4" {
		t.Fatalf("paused deployment scaled with writes %v, want %s=4", got, old.Name)
	}
}

func TestProgressConditions(t *testing.T) {
	d := newDeployment("web", 2, "nginx:1")
	d.Spec.ProgressDeadlineSeconds = new(int32(60))
	rs := rsFor(d, "nginx:1", 2, 0, 1, 0)
	d.Status = appsv1.DeploymentStatus{
		ObservedGeneration: 1, Replicas: 2, UpdatedReplicas: 2,
		Conditions: []appsv1.DeploymentCondition{newCondition(appsv1.DeploymentProgressing, corev1.ConditionTrue, reasonRSUpdated, "", metav1.NewTime(t0.Add(-2*time.Minute)))},
	}
	d.Annotations = map[string]string{revisionAnn: "1"}
	f := newFixture(t, d, rs)
	f.sync("web")
	st := f.deployment("web").Status
	if c := condition(st, appsv1.DeploymentProgressing); c == nil || c.Reason != reasonTimedOut || c.Status != corev1.ConditionFalse {
		t.Errorf("Progressing = %+v, want False ProgressDeadlineExceeded", c)
	}
	if c := condition(st, appsv1.DeploymentAvailable); c == nil || c.Status != corev1.ConditionFalse {
		t.Errorf("Available = %+v, want False", c)
	}

	// Pods became available: complete.
	rs = rsFor(d, "nginx:1", 2, 2, 1, 0)
	d.Status.Conditions[0].LastUpdateTime = metav1.NewTime(t0)
	f = newFixture(t, d, rs)
	f.sync("web")
	st = f.deployment("web").Status
	if c := condition(st, appsv1.DeploymentProgressing); c == nil || c.Reason != reasonNewRSAvailable {
		t.Errorf("Progressing = %+v, want NewReplicaSetAvailable", c)
	}
	if c := condition(st, appsv1.DeploymentAvailable); c == nil || c.Status != corev1.ConditionTrue || c.Reason != reasonMinAvailable {
		t.Errorf("Available = %+v, want True MinimumReplicasAvailable", c)
	}
	if st.AvailableReplicas != 2 || st.UpdatedReplicas != 2 || st.UnavailableReplicas != 0 || st.ObservedGeneration != 1 {
		t.Errorf("status = %+v", st)
	}
}

func TestAdoptsOrphanReplicaSet(t *testing.T) {
	d := newDeployment("web", 2, "nginx:1")
	rs := rsFor(d, "nginx:1", 2, 2, 1, 0)
	rs.OwnerReferences = nil
	f := newFixture(t, d, rs)
	f.sync("web")
	var patched bool
	for _, a := range f.client.Actions() {
		if p, ok := a.(clienttesting.PatchAction); ok && p.GetResource().Resource == "replicasets" && p.GetName() == rs.Name {
			patched = strings.Contains(string(p.GetPatch()), `"controller":true`)
		}
	}
	if !patched {
		t.Fatal("orphan replica set was not adopted")
	}
	for _, w := range f.rsWrites() {
		if strings.HasPrefix(w, "create") {
			t.Errorf("created a replica set although a matching orphan existed: %v", f.rsWrites())
		}
	}
}

func TestFenceposts(t *testing.T) {
	for _, tc := range []struct {
		replicas            int32
		surge, unavail      intstr.IntOrString
		wantSurge, wantUnav int32
	}{
		{8, intstr.FromInt32(2), intstr.FromInt32(1), 2, 1},
		{10, intstr.FromString("25%"), intstr.FromString("25%"), 3, 2},
		{1, intstr.FromInt32(0), intstr.FromInt32(0), 0, 1},
		{3, intstr.FromInt32(0), intstr.FromInt32(5), 0, 3},
	} {
		d := newDeployment("web", tc.replicas, "x")
		d.Spec.Strategy.RollingUpdate = &appsv1.RollingUpdateDeployment{MaxSurge: &tc.surge, MaxUnavailable: &tc.unavail}
		if s, u := maxSurge(d), maxUnavailable(d); s != tc.wantSurge || u != tc.wantUnav {
			t.Errorf("replicas %d surge %s unavailable %s: got %d, %d; want %d, %d", tc.replicas, tc.surge.String(), tc.unavail.String(), s, u, tc.wantSurge, tc.wantUnav)
		}
	}
}
