package ownership

import (
	"context"
	"errors"
	"slices"
	"testing"

	appsv1 "k8s.io/api/apps/v1"
	corev1 "k8s.io/api/core/v1"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/labels"
	"k8s.io/apimachinery/pkg/runtime/schema"
	"k8s.io/apimachinery/pkg/types"
	appslisters "k8s.io/client-go/listers/apps/v1"
	"k8s.io/client-go/tools/cache"

	"github.com/sqlkube/sqlkube/controllers/reconcile"
)

var rsKind = appsv1.SchemeGroupVersion.WithKind("ReplicaSet")

func testRS(name string) *appsv1.ReplicaSet {
	return &appsv1.ReplicaSet{
		ObjectMeta: metav1.ObjectMeta{Name: name, Namespace: "default", UID: types.UID("uid-" + name)},
		Spec:       appsv1.ReplicaSetSpec{Selector: &metav1.LabelSelector{MatchLabels: map[string]string{"app": name}}},
	}
}

func testPod(name string, lbls map[string]string, owner *appsv1.ReplicaSet) *corev1.Pod {
	p := &corev1.Pod{ObjectMeta: metav1.ObjectMeta{Name: name, Namespace: "default", UID: types.UID("uid-" + name), Labels: lbls}}
	if owner != nil {
		p.OwnerReferences = []metav1.OwnerReference{*metav1.NewControllerRef(owner, rsKind)}
	}
	return p
}

func testOwners(all ...*appsv1.ReplicaSet) *Owners[*appsv1.ReplicaSet] {
	return &Owners[*appsv1.ReplicaSet]{
		Kind: rsKind,
		Get: func(ns, name string) (*appsv1.ReplicaSet, error) {
			for _, rs := range all {
				if rs.Namespace == ns && rs.Name == name {
					return rs, nil
				}
			}
			return nil, apierrors.NewNotFound(schema.GroupResource{Resource: "replicasets"}, name)
		},
		List:     func(string) ([]*appsv1.ReplicaSet, error) { return all, nil },
		Selector: func(rs *appsv1.ReplicaSet) *metav1.LabelSelector { return rs.Spec.Selector },
	}
}

func TestOwnersResolve(t *testing.T) {
	web := testRS("web")
	o := testOwners(web)
	ref := metav1.NewControllerRef(web, rsKind)
	for _, tc := range []struct {
		name string
		ref  *metav1.OwnerReference
		want bool
	}{
		{"controller", ref, true},
		{"nil", nil, false},
		{"other kind", &metav1.OwnerReference{APIVersion: "apps/v1", Kind: "Deployment", Name: "web", UID: web.UID}, false},
		{"other version", &metav1.OwnerReference{APIVersion: "extensions/v1beta1", Kind: "ReplicaSet", Name: "web", UID: web.UID}, false},
		{"replaced", &metav1.OwnerReference{APIVersion: "apps/v1", Kind: "ReplicaSet", Name: "web", UID: "old"}, false},
		{"gone", &metav1.OwnerReference{APIVersion: "apps/v1", Kind: "ReplicaSet", Name: "db", UID: "uid-db"}, false},
	} {
		t.Run(tc.name, func(t *testing.T) {
			got, ok := o.Resolve("default", tc.ref)
			if ok != tc.want || (ok && got != web) {
				t.Errorf("Resolve = %v, %v; want %v", got, ok, tc.want)
			}
		})
	}
}

func TestDependentsEnqueue(t *testing.T) {
	web, db := testRS("web"), testRS("db")
	empty := testRS("empty")
	empty.Spec.Selector = &metav1.LabelSelector{}
	for _, tc := range []struct {
		name string
		run  func(d *Dependents[*appsv1.ReplicaSet, *corev1.Pod])
		want []string
	}{
		{"add owned", func(d *Dependents[*appsv1.ReplicaSet, *corev1.Pod]) {
			d.Add(testPod("p", map[string]string{"app": "db"}, web))
		}, []string{"added web", "web"}},
		{"add orphan", func(d *Dependents[*appsv1.ReplicaSet, *corev1.Pod]) {
			d.Add(testPod("p", map[string]string{"app": "db"}, nil))
		}, []string{"db"}},
		{"add unlabelled orphan", func(d *Dependents[*appsv1.ReplicaSet, *corev1.Pod]) {
			d.Add(testPod("p", nil, nil))
		}, nil},
		{"add terminating", func(d *Dependents[*appsv1.ReplicaSet, *corev1.Pod]) {
			p := testPod("p", nil, web)
			p.DeletionTimestamp = &metav1.Time{}
			d.Add(p)
		}, []string{"deleted web", "web"}},
		{"resync", func(d *Dependents[*appsv1.ReplicaSet, *corev1.Pod]) {
			p := testPod("p", nil, web)
			d.Update(p, p)
		}, nil},
		{"update owner changed", func(d *Dependents[*appsv1.ReplicaSet, *corev1.Pod]) {
			old, cur := testPod("p", nil, web), testPod("p", nil, db)
			cur.ResourceVersion = "2"
			d.Update(old, cur)
		}, []string{"web", "db", "updated db"}},
		{"update released", func(d *Dependents[*appsv1.ReplicaSet, *corev1.Pod]) {
			old, cur := testPod("p", map[string]string{"app": "web"}, web), testPod("p", map[string]string{"app": "db"}, nil)
			cur.ResourceVersion = "2"
			d.Update(old, cur)
		}, []string{"web", "db"}},
		{"update orphan same labels", func(d *Dependents[*appsv1.ReplicaSet, *corev1.Pod]) {
			old, cur := testPod("p", map[string]string{"app": "db"}, nil), testPod("p", map[string]string{"app": "db"}, nil)
			cur.ResourceVersion = "2"
			d.Update(old, cur)
		}, nil},
		{"delete tombstone", func(d *Dependents[*appsv1.ReplicaSet, *corev1.Pod]) {
			d.Delete(cache.DeletedFinalStateUnknown{Key: "default/p", Obj: testPod("p", nil, db)})
		}, []string{"deleted db", "db"}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			var got []string
			d := &Dependents[*appsv1.ReplicaSet, *corev1.Pod]{
				Owners:  testOwners(web, db, empty),
				Enqueue: func(rs *appsv1.ReplicaSet) { got = append(got, rs.Name) },
				Added:   func(rs *appsv1.ReplicaSet, _ *corev1.Pod) { got = append(got, "added "+rs.Name) },
				Updated: func(rs *appsv1.ReplicaSet, _, _ *corev1.Pod) { got = append(got, "updated "+rs.Name) },
				Deleted: func(rs *appsv1.ReplicaSet, _ *corev1.Pod) { got = append(got, "deleted "+rs.Name) },
			}
			tc.run(d)
			if !slices.Equal(got, tc.want) {
				t.Errorf("calls = %q, want %q", got, tc.want)
			}
		})
	}
}

func TestClaim(t *testing.T) {
	web := testRS("web")
	match := map[string]string{"app": "web"}
	other := map[string]string{"app": "db"}
	terminating := testPod("terminating", match, nil)
	terminating.DeletionTimestamp = &metav1.Time{}
	deleting := web.DeepCopy()
	deleting.DeletionTimestamp = &metav1.Time{}
	for _, tc := range []struct {
		name       string
		owner      *appsv1.ReplicaSet
		pods       []*corev1.Pod
		recheckErr error
		adoptErr   error
		want       []string // claimed, then the writes
		wantErr    bool
	}{
		{name: "owned and matching", owner: web, pods: []*corev1.Pod{testPod("a", match, web)}, want: []string{"a"}},
		{name: "owned, not matching", owner: web, pods: []*corev1.Pod{testPod("a", other, web)}, want: []string{"release a"}},
		{name: "orphan", owner: web, pods: []*corev1.Pod{testPod("a", match, nil), testPod("b", match, nil)}, want: []string{"a", "b", "recheck", "adopt a", "adopt b"}},
		{name: "orphan, other labels", owner: web, pods: []*corev1.Pod{testPod("a", other, nil)}},
		{name: "orphan terminating", owner: web, pods: []*corev1.Pod{terminating}},
		{name: "owner deleting", owner: deleting, pods: []*corev1.Pod{testPod("a", match, web), testPod("b", other, web), testPod("c", match, nil)}, want: []string{"a"}},
		{name: "recheck fails", owner: web, pods: []*corev1.Pod{testPod("a", match, nil), testPod("b", match, web)}, recheckErr: errors.New("gone"), want: []string{"b", "recheck"}, wantErr: true},
		{name: "adopted pod gone", owner: web, pods: []*corev1.Pod{testPod("a", match, nil)}, adoptErr: apierrors.NewNotFound(schema.GroupResource{Resource: "pods"}, "a"), want: []string{"recheck", "adopt a"}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			var writes []string
			m := Claimer[*corev1.Pod]{
				Owner:    tc.owner,
				Selector: labels.SelectorFromSet(match),
				Recheck: func(context.Context) error {
					writes = append(writes, "recheck")
					return tc.recheckErr
				},
				Adopt: func(_ context.Context, p *corev1.Pod) (*corev1.Pod, error) {
					writes = append(writes, "adopt "+p.Name)
					return p, tc.adoptErr
				},
				Release: func(_ context.Context, p *corev1.Pod) error {
					writes = append(writes, "release "+p.Name)
					return nil
				},
			}
			claimed, err := m.Claim(context.Background(), tc.pods)
			var got []string
			for _, p := range claimed {
				got = append(got, p.Name)
			}
			got = append(got, writes...)
			if !slices.Equal(got, tc.want) || (err != nil) != tc.wantErr {
				t.Errorf("Claim = %q, %v; want %q, error %v", got, err, tc.want, tc.wantErr)
			}
		})
	}
}

func TestOwnerRefPatch(t *testing.T) {
	rs := &appsv1.ReplicaSet{ObjectMeta: metav1.ObjectMeta{Name: "web", Namespace: "default", UID: "web-uid"}}
	for _, tc := range []struct {
		name   string
		remove bool
		want   string
	}{
		{"adopt", false, `{"metadata":{"ownerReferences":[{"apiVersion":"apps/v1","blockOwnerDeletion":true,"controller":true,"kind":"ReplicaSet","name":"web","uid":"web-uid"}],"uid":"p-uid"}}`},
		{"release", true, `{"metadata":{"ownerReferences":[{"$patch":"delete","uid":"web-uid"}],"uid":"p-uid"}}`},
	} {
		t.Run(tc.name, func(t *testing.T) {
			b, err := OwnerRefPatch(rs, rsKind, "p-uid", tc.remove)
			if err != nil || string(b) != tc.want {
				t.Errorf("OwnerRefPatch = %s, %v; want %s", b, err, tc.want)
			}
		})
	}
}

func TestRecheckOwner(t *testing.T) {
	cached := testRS("web")
	replaced := cached.DeepCopy()
	replaced.UID = "new"
	deleting := cached.DeepCopy()
	deleting.DeletionTimestamp = &metav1.Time{}
	for _, tc := range []struct {
		name    string
		fresh   *appsv1.ReplicaSet
		err     error
		wantErr bool
	}{
		{"same", cached, nil, false},
		{"read fails", nil, errors.New("down"), true},
		{"replaced", replaced, nil, true},
		{"deleting", deleting, nil, true},
	} {
		t.Run(tc.name, func(t *testing.T) {
			get := func(context.Context, string, metav1.GetOptions) (*appsv1.ReplicaSet, error) { return tc.fresh, tc.err }
			if err := RecheckOwner(context.Background(), cached, "ReplicaSet", get); (err != nil) != tc.wantErr {
				t.Errorf("RecheckOwner = %v, want error %v", err, tc.wantErr)
			}
		})
	}
}

func TestOwnersByKey(t *testing.T) {
	idx := cache.NewIndexer(cache.MetaNamespaceKeyFunc, cache.Indexers{cache.NamespaceIndex: cache.MetaNamespaceIndexFunc})
	web := testRS("web")
	if err := idx.Add(web); err != nil {
		t.Fatal(err)
	}
	o := NewOwners(rsKind, appslisters.NewReplicaSetLister(idx).ReplicaSets, nil)
	for _, tc := range []struct {
		key       string
		notFound  bool
		permanent bool
	}{
		{key: "default/web"},
		{key: "default/db", notFound: true},
		{key: "a/b/c", permanent: true},
	} {
		t.Run(tc.key, func(t *testing.T) {
			got, err := o.ByKey(tc.key)
			if apierrors.IsNotFound(err) != tc.notFound || errors.Is(err, reconcile.ErrPermanent) != tc.permanent {
				t.Fatalf("ByKey(%q) error = %v", tc.key, err)
			}
			if err == nil && got != web {
				t.Errorf("ByKey(%q) = %v, want web", tc.key, got)
			}
		})
	}
}
