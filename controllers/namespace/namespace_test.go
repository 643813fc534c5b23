package namespace

import (
	"context"
	"fmt"
	"testing"
	"time"

	corev1 "k8s.io/api/core/v1"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/runtime"
	"k8s.io/apimachinery/pkg/runtime/schema"
	fakediscovery "k8s.io/client-go/discovery/fake"
	"k8s.io/client-go/informers"
	"k8s.io/client-go/kubernetes/fake"
	metadatafake "k8s.io/client-go/metadata/fake"
	clienttesting "k8s.io/client-go/testing"

	"github.com/sqlkube/sqlkube/controllers/reconcile"
)

var (
	podsGVR       = schema.GroupVersionResource{Version: "v1", Resource: "pods"}
	configmapsGVR = schema.GroupVersionResource{Version: "v1", Resource: "configmaps"}
	deploysGVR    = schema.GroupVersionResource{Group: "apps", Version: "v1", Resource: "deployments"}
)

var allVerbs = metav1.Verbs{"create", "delete", "deletecollection", "get", "list", "patch", "update", "watch"}

// discovered is what the fake discovery serves: namespaced pods,
// configmaps and deployments, a pods/status subresource, cluster-scoped
// nodes, and a namespaced resource without deletecollection.
var discovered = []*metav1.APIResourceList{
	{GroupVersion: "v1", APIResources: []metav1.APIResource{
		{Name: "pods", Namespaced: true, Kind: "Pod", Verbs: allVerbs},
		{Name: "pods/status", Namespaced: true, Kind: "Pod", Verbs: metav1.Verbs{"get", "update"}},
		{Name: "configmaps", Namespaced: true, Kind: "ConfigMap", Verbs: allVerbs},
		{Name: "nodes", Namespaced: false, Kind: "Node", Verbs: allVerbs},
		{Name: "bindings", Namespaced: true, Kind: "Binding", Verbs: metav1.Verbs{"create"}},
	}},
	{GroupVersion: "apps/v1", APIResources: []metav1.APIResource{
		{Name: "deployments", Namespaced: true, Kind: "Deployment", Verbs: allVerbs},
	}},
}

func object(apiVersion, kind, ns, name string, mods ...func(*metav1.PartialObjectMetadata)) *metav1.PartialObjectMetadata {
	o := &metav1.PartialObjectMetadata{
		TypeMeta:   metav1.TypeMeta{APIVersion: apiVersion, Kind: kind},
		ObjectMeta: metav1.ObjectMeta{Namespace: ns, Name: name},
	}
	for _, m := range mods {
		m(o)
	}
	return o
}

func terminatingNS(name string) *corev1.Namespace {
	return &corev1.Namespace{
		ObjectMeta: metav1.ObjectMeta{Name: name, DeletionTimestamp: &metav1.Time{Time: time.Now()}},
		Spec:       corev1.NamespaceSpec{Finalizers: []corev1.FinalizerName{corev1.FinalizerKubernetes}},
		Status:     corev1.NamespaceStatus{Phase: corev1.NamespaceTerminating},
	}
}

// stays marks a pod as bound to a node: deletion only marks it.
func stays(o *metav1.PartialObjectMetadata) { o.Labels = map[string]string{"bound": "true"} }

type fixture struct {
	client *fake.Clientset
	md     *metadatafake.FakeMetadataClient
	c      *Controller
}

func newFixture(t *testing.T, ns *corev1.Namespace, content ...runtime.Object) *fixture {
	client := fake.NewClientset(ns)
	client.Discovery().(*fakediscovery.FakeDiscovery).Resources = discovered
	scheme := runtime.NewScheme()
	if err := metav1.AddMetaToScheme(scheme); err != nil {
		t.Fatal(err)
	}
	md := metadatafake.NewSimpleMetadataClient(scheme, content...)
	// The fake tracker does not implement deletecollection: delete
	// everything in the namespace, except that bound pods are only marked.
	md.PrependReactor("delete-collection", "*", func(a clienttesting.Action) (bool, runtime.Object, error) {
		gvr, ns := a.GetResource(), a.GetNamespace()
		// Not md.Resource(...).List: the fake holds its lock while a
		// reactor runs.
		obj, err := md.Tracker().List(gvr, schema.GroupVersionKind{Group: "fake-metadata-client-group", Version: "v1"}, ns)
		if err != nil {
			return true, nil, err
		}
		for _, item := range obj.(*metav1.List).Items {
			o := *item.Object.(*metav1.PartialObjectMetadata)
			if o.Labels["bound"] == "true" {
				o.DeletionTimestamp = &metav1.Time{Time: time.Now()}
				o.TypeMeta = metav1.TypeMeta{APIVersion: "v1", Kind: "Pod"}
				if err := md.Tracker().Update(gvr, &o, ns); err != nil {
					return true, nil, err
				}
				continue
			}
			if err := md.Tracker().Delete(gvr, ns, o.Name); err != nil {
				return true, nil, err
			}
		}
		return true, nil, nil
	})
	factory := informers.NewSharedInformerFactory(client, 0)
	c := newController(&reconcile.Config{Client: client, Informers: factory}, md)
	ctx, cancel := context.WithCancel(context.Background())
	t.Cleanup(cancel)
	factory.Start(ctx.Done())
	factory.WaitForCacheSync(ctx.Done())
	client.ClearActions()
	return &fixture{client: client, md: md, c: c}
}

func actions(as []clienttesting.Action) []string {
	var out []string
	for _, a := range as {
		if a.GetVerb() == "watch" || (a.GetVerb() == "list" && a.GetResource().Resource == "namespaces") ||
			(a.GetVerb() == "get" && (a.GetResource().Resource == "group" || a.GetResource().Resource == "resource")) { // discovery
			continue
		}
		s := a.GetVerb() + " " + a.GetResource().GroupResource().String()
		if sub := a.GetSubresource(); sub != "" {
			s += "/" + sub
		}
		out = append(out, s)
	}
	return out
}

func TestSync(t *testing.T) {
	tests := []struct {
		name     string
		ns       *corev1.Namespace
		content  []runtime.Object
		metadata []string // metadata client actions
		client   []string // typed client actions
		left     int      // objects left in the namespace
	}{
		{
			name:    "active namespace is left alone",
			ns:      &corev1.Namespace{ObjectMeta: metav1.ObjectMeta{Name: "a"}},
			content: []runtime.Object{object("v1", "ConfigMap", "a", "cm")},
			left:    1,
		},
		{
			name: "empty namespace is finalized",
			ns:   terminatingNS("a"),
			metadata: []string{
				"list pods", "list configmaps", "list deployments.apps",
			},
			client: []string{"update namespaces/status", "get namespaces", "create namespaces/finalize"},
		},
		{
			name: "content is deleted, then the namespace finalized",
			ns:   terminatingNS("a"),
			content: []runtime.Object{
				object("v1", "ConfigMap", "a", "cm1"), object("v1", "ConfigMap", "a", "cm2"),
				object("v1", "Pod", "a", "unbound"), object("v1", "ConfigMap", "other", "keep"),
			},
			metadata: []string{
				"list pods", "delete-collection pods", "list pods",
				"list configmaps", "delete-collection configmaps", "list configmaps",
				"list deployments.apps",
			},
			client: []string{"update namespaces/status", "get namespaces", "create namespaces/finalize"},
			left:   1, // the configmap of the other namespace
		},
		{
			name: "a pod its node has to finish keeps the namespace",
			ns:   terminatingNS("a"),
			content: []runtime.Object{
				object("v1", "Pod", "a", "running", stays),
			},
			metadata: []string{
				"list pods", "delete-collection pods", "list pods",
				"list configmaps", "list deployments.apps",
			},
			client: []string{"update namespaces/status"},
			left:   1,
		},
		{
			name: "finalizer already gone",
			ns: func() *corev1.Namespace {
				ns := terminatingNS("a")
				ns.Spec.Finalizers = nil
				return ns
			}(),
		},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			f := newFixture(t, tc.ns, tc.content...)
			if err := f.c.sync(context.Background(), "a"); err != nil {
				t.Fatal(err)
			}
			if got := actions(f.md.Actions()); fmt.Sprint(got) != fmt.Sprint(tc.metadata) {
				t.Errorf("metadata actions\n got %v\nwant %v", got, tc.metadata)
			}
			if got := actions(f.client.Actions()); fmt.Sprint(got) != fmt.Sprint(tc.client) {
				t.Errorf("client actions\n got %v\nwant %v", got, tc.client)
			}
			left := 0
			for _, gvr := range []schema.GroupVersionResource{podsGVR, configmapsGVR, deploysGVR} {
				l, err := f.md.Resource(gvr).List(context.Background(), metav1.ListOptions{})
				if err != nil {
					t.Fatal(err)
				}
				left += len(l.Items)
			}
			if left != tc.left {
				t.Errorf("%d objects left, want %d", left, tc.left)
			}
		})
	}
}

func TestContentRemainingConditions(t *testing.T) {
	f := newFixture(t, terminatingNS("a"), object("v1", "Pod", "a", "p1", stays), object("v1", "Pod", "a", "p2", stays,
		func(o *metav1.PartialObjectMetadata) { o.Finalizers = []string{"example.com/hold"} }))
	if err := f.c.sync(context.Background(), "a"); err != nil {
		t.Fatal(err)
	}
	ns, err := f.client.CoreV1().Namespaces().Get(context.Background(), "a", metav1.GetOptions{})
	if err != nil {
		t.Fatal(err)
	}
	want := map[corev1.NamespaceConditionType]string{
		corev1.NamespaceDeletionDiscoveryFailure: "False",
		corev1.NamespaceDeletionContentFailure:   "False",
		corev1.NamespaceContentRemaining:         "True: Some resources are remaining: pods has 2 resource instances",
		corev1.NamespaceFinalizersRemaining:      "True: Some content in the namespace has finalizers remaining: example.com/hold in 1 resource instances",
	}
	for _, c := range ns.Status.Conditions {
		got := string(c.Status)
		if c.Status == corev1.ConditionTrue {
			got += ": " + c.Message
		}
		if got != want[c.Type] {
			t.Errorf("%s = %q, want %q", c.Type, got, want[c.Type])
		}
		delete(want, c.Type)
	}
	if len(want) > 0 {
		t.Errorf("conditions missing: %v", want)
	}
	if f.c.retries["a"] != 1 {
		t.Errorf("retries = %d, want 1 (requeued with back-off)", f.c.retries["a"])
	}
}

func TestDeleteCollectionRefused(t *testing.T) {
	f := newFixture(t, terminatingNS("a"), object("v1", "ConfigMap", "a", "cm1"), object("v1", "ConfigMap", "a", "cm2"))
	f.md.PrependReactor("delete-collection", "configmaps", func(clienttesting.Action) (bool, runtime.Object, error) {
		return true, nil, apierrors.NewMethodNotSupported(configmapsGVR.GroupResource(), "deletecollection")
	})
	if err := f.c.sync(context.Background(), "a"); err != nil {
		t.Fatal(err)
	}
	deletes := 0
	for _, a := range f.md.Actions() {
		if a.GetVerb() == "delete" {
			deletes++
		}
	}
	if deletes != 2 {
		t.Errorf("%d single deletes, want 2", deletes)
	}
	if got := actions(f.client.Actions()); fmt.Sprint(got) != "[update namespaces/status get namespaces create namespaces/finalize]" {
		t.Errorf("client actions %v: want the namespace finalized", got)
	}
}

func TestBackoff(t *testing.T) {
	c := &Controller{retries: map[string]int{}}
	var got []time.Duration
	for range 8 {
		got = append(got, c.backoff("a"))
	}
	if got[0] != minRetry || got[1] != 2*minRetry || got[7] != maxRetry {
		t.Errorf("back-off %v", got)
	}
	c.forget("a")
	if d := c.backoff("a"); d != minRetry {
		t.Errorf("after forget: %v", d)
	}
}
