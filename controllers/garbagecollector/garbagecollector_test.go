package garbagecollector

import (
	"context"
	"fmt"
	"slices"
	"strings"
	"sync"
	"testing"
	"time"

	"k8s.io/apimachinery/pkg/api/meta"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/runtime"
	"k8s.io/apimachinery/pkg/runtime/schema"
	"k8s.io/apimachinery/pkg/types"
	fakediscovery "k8s.io/client-go/discovery/fake"
	metadatafake "k8s.io/client-go/metadata/fake"
	clienttesting "k8s.io/client-go/testing"

	"github.com/sqlkube/sqlkube/controllers/reconcile"
)

var (
	podsRes   = resourceInfo{gvr: schema.GroupVersionResource{Version: "v1", Resource: "pods"}, kind: "Pod"}
	rsRes     = resourceInfo{gvr: schema.GroupVersionResource{Group: "apps", Version: "v1", Resource: "replicasets"}, kind: "ReplicaSet"}
	deployRes = resourceInfo{gvr: schema.GroupVersionResource{Group: "apps", Version: "v1", Resource: "deployments"}, kind: "Deployment"}
	nodesRes  = resourceInfo{gvr: schema.GroupVersionResource{Version: "v1", Resource: "nodes"}, kind: "Node"}
	leaseRes  = resourceInfo{gvr: schema.GroupVersionResource{Group: "coordination.k8s.io", Version: "v1", Resource: "leases"}, kind: "Lease"}
)

func testMapper() meta.RESTMapper {
	m := meta.NewDefaultRESTMapper(nil)
	for _, r := range []resourceInfo{podsRes, rsRes, deployRes, leaseRes} {
		m.AddSpecific(r.gvr.GroupVersion().WithKind(r.kind), r.gvr, r.gvr.GroupVersion().WithResource(strings.ToLower(r.kind)), meta.RESTScopeNamespace)
	}
	m.AddSpecific(nodesRes.gvr.GroupVersion().WithKind("Node"), nodesRes.gvr, nodesRes.gvr.GroupVersion().WithResource("node"), meta.RESTScopeRoot)
	return m
}

type objOpt func(*metav1.PartialObjectMetadata)

func ownedBy(owner *metav1.PartialObjectMetadata, block bool) objOpt {
	return func(o *metav1.PartialObjectMetadata) {
		o.OwnerReferences = append(o.OwnerReferences, metav1.OwnerReference{
			APIVersion: owner.APIVersion, Kind: owner.Kind, Name: owner.Name, UID: owner.UID,
			Controller: new(true), BlockOwnerDeletion: new(block),
		})
	}
}

func deleting(finalizer string) objOpt {
	return func(o *metav1.PartialObjectMetadata) {
		o.DeletionTimestamp = &metav1.Time{Time: time.Now()}
		o.Finalizers = append(o.Finalizers, finalizer)
	}
}

func obj(res resourceInfo, ns, name string, opts ...objOpt) *metav1.PartialObjectMetadata {
	o := &metav1.PartialObjectMetadata{
		TypeMeta:   metav1.TypeMeta{APIVersion: res.gvr.GroupVersion().String(), Kind: res.kind},
		ObjectMeta: metav1.ObjectMeta{Namespace: ns, Name: name, UID: types.UID(name + "-uid"), ResourceVersion: "5"},
	}
	for _, opt := range opts {
		opt(o)
	}
	return o
}

func resOf(o *metav1.PartialObjectMetadata) resourceInfo {
	for _, r := range []resourceInfo{podsRes, rsRes, deployRes, nodesRes, leaseRes} {
		if r.kind == o.Kind {
			return r
		}
	}
	panic("no resource for " + o.Kind)
}

// fixture is a collector over a fake metadata client holding the objects
// of the cluster; the graph is fed what the test says the informers saw,
// and work is recorded instead of run.
type fixture struct {
	t    *testing.T
	md   *metadatafake.FakeMetadataClient
	c    *Controller
	mu   sync.Mutex
	work []string
}

func newFixture(t *testing.T, cluster ...*metav1.PartialObjectMetadata) *fixture {
	scheme := runtime.NewScheme()
	if err := metav1.AddMetaToScheme(scheme); err != nil {
		t.Fatal(err)
	}
	var objs []runtime.Object
	for _, o := range cluster {
		objs = append(objs, o.DeepCopy())
	}
	md := metadatafake.NewSimpleMetadataClient(scheme, objs...)
	c := newController(&reconcile.Config{}, md, &fakediscovery.FakeDiscovery{Fake: &clienttesting.Fake{}}, testMapper())
	f := &fixture{t: t, md: md, c: c}
	c.graph.enqueue = func(kind string, uid types.UID) {
		f.mu.Lock()
		defer f.mu.Unlock()
		f.work = append(f.work, kind+"/"+string(uid))
	}
	return f
}

// see feeds the graph as an informer would.
func (f *fixture) see(objs ...*metav1.PartialObjectMetadata) {
	for _, o := range objs {
		f.c.graph.observe(o, resOf(o))
	}
}

// takeWork returns and clears the recorded work.
func (f *fixture) takeWork() []string {
	f.mu.Lock()
	defer f.mu.Unlock()
	w := f.work
	f.work = nil
	slices.Sort(w)
	return w
}

// run runs one work item and returns the metadata client's actions.
func (f *fixture) run(key string) []string {
	f.t.Helper()
	f.md.ClearActions()
	if err := f.c.sync(context.Background(), key); err != nil {
		f.t.Fatalf("sync %s: %v", key, err)
	}
	var out []string
	for _, a := range f.md.Actions() {
		s := a.GetVerb() + " " + a.GetResource().Resource + " " + a.GetNamespace() + "/"
		switch a := a.(type) {
		case clienttesting.DeleteAction:
			s += a.GetName()
			if p := a.GetDeleteOptions().PropagationPolicy; p != nil {
				s += " " + string(*p)
			}
		case clienttesting.PatchAction:
			s += a.GetName() + " " + string(a.GetPatch())
		case clienttesting.GetAction:
			s += a.GetName()
		}
		out = append(out, s)
	}
	return out
}

func (f *fixture) expect(key string, want ...string) {
	f.t.Helper()
	if got := f.run(key); fmt.Sprint(got) != fmt.Sprint(want) {
		f.t.Errorf("%s:\n got %q\nwant %q", key, got, want)
	}
}

func TestBackgroundOwnerGone(t *testing.T) {
	rs := obj(rsRes, "ns", "web-rs")
	pod := obj(podsRes, "ns", "web-pod", ownedBy(rs, true))
	f := newFixture(t, pod) // the ReplicaSet is gone
	f.see(pod)
	if w := f.takeWork(); fmt.Sprint(w) != "[virtual/web-rs-uid]" {
		t.Fatalf("work %v, want the unseen owner checked", w)
	}
	f.expect("virtual/web-rs-uid", "get replicasets ns/web-rs")
	if w := f.takeWork(); len(w) != 0 {
		t.Fatalf("graph work %v", w)
	}
	if f.c.queue.Len() != 1 {
		t.Fatalf("dependents not queued: %d", f.c.queue.Len())
	}
	// The owner's absence is remembered: no second GET of it.
	f.expect("delete/web-pod-uid", "get pods ns/web-pod", "delete pods ns/web-pod Background")
}

func TestOwnerReplacedBySameName(t *testing.T) {
	rs := obj(rsRes, "ns", "web-rs")
	pod := obj(podsRes, "ns", "web-pod", ownedBy(rs, true))
	newRS := obj(rsRes, "ns", "web-rs")
	newRS.UID = "another-uid"
	f := newFixture(t, pod, newRS)
	f.see(pod)
	f.expect("delete/web-pod-uid", "get pods ns/web-pod", "get replicasets ns/web-rs", "delete pods ns/web-pod Background")
}

func TestOwnerPresent(t *testing.T) {
	rs := obj(rsRes, "ns", "web-rs")
	pod := obj(podsRes, "ns", "web-pod", ownedBy(rs, true))
	f := newFixture(t, rs, pod)
	f.see(pod, rs)
	f.expect("delete/web-pod-uid", "get pods ns/web-pod")
	// Not yet observed by an informer: a live GET finds it.
	f2 := newFixture(t, rs, pod)
	f2.see(pod)
	f2.expect("delete/web-pod-uid", "get pods ns/web-pod", "get replicasets ns/web-rs")
}

func TestOtherOwnerRemains(t *testing.T) {
	rs := obj(rsRes, "ns", "web-rs")
	gone := obj(deployRes, "ns", "gone")
	pod := obj(podsRes, "ns", "web-pod", ownedBy(rs, true), ownedBy(gone, false))
	f := newFixture(t, rs, pod)
	f.see(pod, rs)
	got := f.run("delete/web-pod-uid")
	if len(got) != 3 || !strings.HasPrefix(got[2], "patch pods ns/web-pod") ||
		!strings.Contains(got[2], `"ownerReferences":[{"apiVersion":"apps/v1","kind":"ReplicaSet","name":"web-rs","uid":"web-rs-uid"`) ||
		!strings.Contains(got[2], `"resourceVersion":"5"`) || strings.Contains(got[2], "gone") {
		t.Fatalf("actions %q: want a patch keeping only the ReplicaSet, pinned to the resourceVersion", got)
	}
}

func TestClusterScopedOwner(t *testing.T) {
	node := obj(nodesRes, "", "node-1")
	lease := obj(leaseRes, "kube-node-lease", "node-1", ownedBy(node, false))
	lease.UID = "lease-uid"
	f := newFixture(t, lease) // node gone
	f.see(lease)
	f.expect("delete/lease-uid", "get leases kube-node-lease/node-1", "get nodes /node-1", "delete leases kube-node-lease/node-1 Background")
	// A cluster-scoped object with a namespaced owner: dangling.
	rs := obj(rsRes, "ns", "x")
	n2 := obj(nodesRes, "", "node-2", ownedBy(rs, false))
	f2 := newFixture(t, n2, rs)
	f2.see(n2)
	f2.expect("delete/node-2-uid", "get nodes /node-2", "delete nodes /node-2 Background")
}

func TestForeground(t *testing.T) {
	d := obj(deployRes, "ns", "web", deleting(metav1.FinalizerDeleteDependents))
	rs := obj(rsRes, "ns", "web-rs", ownedBy(d, true))
	pod := obj(podsRes, "ns", "web-pod", ownedBy(rs, true))
	f := newFixture(t, d, rs, pod)
	f.see(pod, rs)
	f.takeWork()
	f.see(d)
	if w := f.takeWork(); fmt.Sprint(w) != "[delete/web-rs-uid foreground/web-uid]" {
		t.Fatalf("work %v: want the owner and its dependents processed", w)
	}
	// The ReplicaSet has a dependent: it goes in the foreground too.
	f.expect("delete/web-rs-uid", "get replicasets ns/web-rs", "delete replicasets ns/web-rs Foreground")
	// The Deployment waits: its ReplicaSet blocks it.
	f.expect("foreground/web-uid")
	// The ReplicaSet is gone: the Deployment loses its finalizer.
	f.c.graph.forget(rs)
	if w := f.takeWork(); !slices.Contains(w, "foreground/web-uid") {
		t.Fatalf("work %v: owner not rechecked", w)
	}
	f.expect("foreground/web-uid", "get deployments ns/web",
		`patch deployments ns/web {"metadata":{"finalizers":null,"resourceVersion":"5","uid":"web-uid"}}`)
}

func TestForegroundNonBlockingDependent(t *testing.T) {
	d := obj(deployRes, "ns", "web", deleting(metav1.FinalizerDeleteDependents))
	rs := obj(rsRes, "ns", "web-rs", ownedBy(d, false))
	f := newFixture(t, d, rs)
	f.see(rs, d)
	// Nothing blocks: the finalizer goes at once; the dependent is still deleted.
	f.expect("foreground/web-uid", "get deployments ns/web",
		`patch deployments ns/web {"metadata":{"finalizers":null,"resourceVersion":"5","uid":"web-uid"}}`)
	f.expect("delete/web-rs-uid", "get replicasets ns/web-rs", "delete replicasets ns/web-rs Background")
}

func TestOrphan(t *testing.T) {
	rs := obj(rsRes, "ns", "web-rs", deleting(metav1.FinalizerOrphanDependents))
	p1 := obj(podsRes, "ns", "p1", ownedBy(rs, true))
	other := obj(deployRes, "ns", "keeper")
	p2 := obj(podsRes, "ns", "p2", ownedBy(rs, true), ownedBy(other, false))
	f := newFixture(t, rs, p1, p2, other)
	f.see(p1, p2, other, rs)
	if w := f.takeWork(); !slices.Contains(w, "orphan/web-rs-uid") {
		t.Fatalf("work %v: orphaning not started", w)
	}
	got := f.run("orphan/web-rs-uid")
	want := []string{
		"get pods ns/p1", `patch pods ns/p1 {"metadata":{"ownerReferences":null,"resourceVersion":"5","uid":"p1-uid"}}`,
		"get pods ns/p2", "", // the patch keeps the other owner
		"get replicasets ns/web-rs", `patch replicasets ns/web-rs {"metadata":{"finalizers":null,"resourceVersion":"5","uid":"web-rs-uid"}}`,
	}
	if len(got) != len(want) {
		t.Fatalf("got %q", got)
	}
	for i := range want {
		if want[i] == "" {
			if !strings.Contains(got[i], `"name":"keeper"`) || strings.Contains(got[i], "web-rs") {
				t.Errorf("action %d: %s", i, got[i])
			}
			continue
		}
		if got[i] != want[i] {
			t.Errorf("action %d:\n got %s\nwant %s", i, got[i], want[i])
		}
	}
}

func TestGraph(t *testing.T) {
	f := newFixture(t)
	rs := obj(rsRes, "ns", "rs")
	p1 := obj(podsRes, "ns", "p1", ownedBy(rs, true))
	p2 := obj(podsRes, "ns", "p2", ownedBy(rs, true))
	f.see(rs, p1, p2)
	if w := f.takeWork(); len(w) != 0 {
		t.Fatalf("work for a healthy owner: %v", w)
	}
	// The owner goes: its dependents are checked; it stays as a virtual
	// node while they reference it.
	f.c.graph.forget(rs)
	if w := f.takeWork(); fmt.Sprint(w) != "[delete/p1-uid delete/p2-uid]" {
		t.Fatalf("work %v", w)
	}
	if n, ok := f.c.graph.get(rs.UID); !ok || n.observed || len(n.dependents) != 2 {
		t.Fatalf("virtual owner %+v %v", n, ok)
	}
	// A dependent released by its owner (references changed).
	p1b := p1.DeepCopy()
	p1b.OwnerReferences = nil
	f.see(p1b)
	f.c.graph.forget(p2)
	if _, ok := f.c.graph.get(rs.UID); ok {
		t.Fatal("virtual node kept without dependents")
	}
	f.c.graph.forget(p1b)
	if n := f.c.graph.len(); n != 0 {
		t.Fatalf("%d nodes left", n)
	}
}

func TestDeletableResources(t *testing.T) {
	disc := &fakediscovery.FakeDiscovery{Fake: &clienttesting.Fake{}}
	all := metav1.Verbs{"create", "delete", "deletecollection", "get", "list", "patch", "update", "watch"}
	disc.Resources = []*metav1.APIResourceList{
		{GroupVersion: "v1", APIResources: []metav1.APIResource{
			{Name: "pods", Kind: "Pod", Namespaced: true, Verbs: all},
			{Name: "pods/status", Kind: "Pod", Namespaced: true, Verbs: metav1.Verbs{"get", "update"}},
			{Name: "events", Kind: "Event", Namespaced: true, Verbs: all},
			{Name: "nodes", Kind: "Node", Verbs: all},
			{Name: "bindings", Kind: "Binding", Namespaced: true, Verbs: metav1.Verbs{"create"}},
		}},
		{GroupVersion: "batch/v1", APIResources: []metav1.APIResource{{Name: "jobs", Kind: "Job", Namespaced: true, Verbs: all}}},
	}
	got, err := deletableResources(disc)
	if err != nil {
		t.Fatal(err)
	}
	var names []string
	for gvr, r := range got {
		names = append(names, gvr.String()+" "+r.kind)
	}
	slices.Sort(names)
	want := "[/v1, Resource=nodes Node /v1, Resource=pods Pod batch/v1, Resource=jobs Job]"
	if fmt.Sprint(names) != want {
		t.Errorf("got %v\nwant %s", names, want)
	}
}
