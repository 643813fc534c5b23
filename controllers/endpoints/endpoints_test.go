package endpoints

import (
	"context"
	"fmt"
	"testing"
	"time"

	corev1 "k8s.io/api/core/v1"
	discoveryv1 "k8s.io/api/discovery/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/labels"
	"k8s.io/apimachinery/pkg/runtime"
	"k8s.io/apimachinery/pkg/types"
	"k8s.io/apimachinery/pkg/util/intstr"
	"k8s.io/client-go/informers"
	"k8s.io/client-go/kubernetes/fake"
	clienttesting "k8s.io/client-go/testing"

	"github.com/sqlkube/sqlkube/controllers/reconcile"
)

func service(name string, ports ...corev1.ServicePort) *corev1.Service {
	return &corev1.Service{
		ObjectMeta: metav1.ObjectMeta{Name: name, Namespace: "ns", UID: types.UID("svc-" + name), Labels: map[string]string{"team": "a"}},
		Spec:       corev1.ServiceSpec{Selector: map[string]string{"app": name}, Ports: ports},
	}
}

type podOpt func(*corev1.Pod)

func notReady(p *corev1.Pod) { p.Status.Conditions[0].Status = corev1.ConditionFalse }
func terminating(p *corev1.Pod) {
	p.DeletionTimestamp = &metav1.Time{Time: time.Now()}
}
func noIP(p *corev1.Pod)      { p.Status.PodIP = "" }
func succeeded(p *corev1.Pod) { p.Status.Phase = corev1.PodSucceeded }
func label(k, v string) podOpt {
	return func(p *corev1.Pod) { p.Labels[k] = v }
}

func pod(name, app, ip string, opts ...podOpt) *corev1.Pod {
	p := &corev1.Pod{
		ObjectMeta: metav1.ObjectMeta{Name: name, Namespace: "ns", UID: types.UID("uid-" + name), Labels: map[string]string{"app": app}, ResourceVersion: "1"},
		Spec: corev1.PodSpec{NodeName: "node-1", Containers: []corev1.Container{{
			Name:  "c",
			Ports: []corev1.ContainerPort{{Name: "http", ContainerPort: 8080}, {Name: "dns", ContainerPort: 53, Protocol: corev1.ProtocolUDP}},
		}}},
		Status: corev1.PodStatus{Phase: corev1.PodRunning, PodIP: ip, Conditions: []corev1.PodCondition{{Type: corev1.PodReady, Status: corev1.ConditionTrue}}},
	}
	for _, o := range opts {
		o(p)
	}
	return p
}

var httpPort = corev1.ServicePort{Name: "web", Port: 80, TargetPort: intstr.FromString("http")}

func TestResolvePorts(t *testing.T) {
	p := pod("a", "web", "10.0.0.1")
	p.Spec.InitContainers = []corev1.Container{{Name: "side", RestartPolicy: new(corev1.ContainerRestartPolicyAlways),
		Ports: []corev1.ContainerPort{{Name: "metrics", ContainerPort: 9090}}}}
	tests := []struct {
		name string
		port corev1.ServicePort
		want int32 // 0: not resolved
	}{
		{"by name", httpPort, 8080},
		{"by number", corev1.ServicePort{Port: 80, TargetPort: intstr.FromInt32(9000)}, 9000},
		{"zero target is the port", corev1.ServicePort{Port: 81}, 81},
		{"name with other protocol", corev1.ServicePort{Port: 80, TargetPort: intstr.FromString("http"), Protocol: corev1.ProtocolUDP}, 0},
		{"udp by name", corev1.ServicePort{Port: 53, TargetPort: intstr.FromString("dns"), Protocol: corev1.ProtocolUDP}, 53},
		{"unknown name", corev1.ServicePort{Port: 80, TargetPort: intstr.FromString("nope")}, 0},
		{"sidecar port", corev1.ServicePort{Port: 80, TargetPort: intstr.FromString("metrics")}, 9090},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			got := resolvePorts(service("web", tc.port), p)
			if tc.want == 0 {
				if len(got) != 0 {
					t.Fatalf("resolved to %d, want nothing", *got[0].Port)
				}
				return
			}
			if len(got) != 1 || *got[0].Port != tc.want {
				t.Fatalf("got %v, want port %d", got, tc.want)
			}
			if *got[0].Name != tc.port.Name {
				t.Errorf("name %q, want %q", *got[0].Name, tc.port.Name)
			}
		})
	}
}

func TestDesiredEndpoints(t *testing.T) {
	tests := []struct {
		name    string
		pod     *corev1.Pod
		publish bool
		want    *endpoint // nil: left out
	}{
		{"ready", pod("a", "web", "10.0.0.1"), false, &endpoint{ready: true, serving: true}},
		{"not ready", pod("a", "web", "10.0.0.1", notReady), false, &endpoint{}},
		{"terminating", pod("a", "web", "10.0.0.1", terminating), false, &endpoint{serving: true, terminating: true}},
		{"no IP", pod("a", "web", "", noIP), false, nil},
		{"IPv6 only", pod("a", "web", "fd00::1"), false, nil},
		{"finished", pod("a", "web", "10.0.0.1", succeeded), false, nil},
		{"publish not ready", pod("a", "web", "10.0.0.1", notReady), true, &endpoint{ready: true, serving: true}},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			svc := service("web", httpPort)
			svc.Spec.PublishNotReadyAddresses = tc.publish
			got := desiredEndpoints(svc, []*corev1.Pod{tc.pod})
			if tc.want == nil {
				if len(got) != 0 {
					t.Fatalf("got %+v, want nothing", got[0])
				}
				return
			}
			if len(got) != 1 {
				t.Fatalf("got %d endpoints, want 1", len(got))
			}
			g := got[0]
			if g.ready != tc.want.ready || g.serving != tc.want.serving || g.terminating != tc.want.terminating {
				t.Errorf("ready/serving/terminating = %v/%v/%v, want %v/%v/%v", g.ready, g.serving, g.terminating, tc.want.ready, tc.want.serving, tc.want.terminating)
			}
		})
	}
	// A pod none of whose ports resolve is left out.
	svc := service("web", corev1.ServicePort{Port: 80, TargetPort: intstr.FromString("nope")})
	if got := desiredEndpoints(svc, []*corev1.Pod{pod("a", "web", "10.0.0.1")}); len(got) != 0 {
		t.Errorf("pod without the port: got %d endpoints", len(got))
	}
}

func TestBuildEndpoints(t *testing.T) {
	svc := service("web", httpPort)
	other := pod("d", "web", "10.0.0.4")
	other.Spec.Containers[0].Ports[0].ContainerPort = 9999 // same name, other number
	pods := []*corev1.Pod{
		pod("b", "web", "10.0.0.2", notReady),
		pod("a", "web", "10.0.0.1"),
		pod("c", "web", "10.0.0.3", terminating),
		other,
	}
	ep := buildEndpoints(svc, desiredEndpoints(svc, pods))
	if len(ep.Subsets) != 2 {
		t.Fatalf("got %d subsets, want 2 (one per port number): %+v", len(ep.Subsets), ep.Subsets)
	}
	s := ep.Subsets[0] // "web/TCP/8080/" sorts before "web/TCP/9999/"
	if s.Ports[0].Port != 8080 || len(s.Addresses) != 1 || s.Addresses[0].IP != "10.0.0.1" || len(s.NotReadyAddresses) != 1 || s.NotReadyAddresses[0].IP != "10.0.0.2" {
		t.Errorf("first subset %+v", s)
	}
	if a := s.Addresses[0]; a.TargetRef == nil || a.TargetRef.Name != "a" || a.TargetRef.UID != "uid-a" || a.NodeName == nil || *a.NodeName != "node-1" {
		t.Errorf("address %+v: want targetRef to pod a and nodeName node-1", a)
	}
	if s := ep.Subsets[1]; s.Ports[0].Port != 9999 || len(s.Addresses) != 1 || s.Addresses[0].IP != "10.0.0.4" {
		t.Errorf("second subset %+v", s)
	}
	if ep.Labels["team"] != "a" || ep.Labels[EndpointsManagedByLabel] != EndpointsManagedByValue {
		t.Errorf("labels %v", ep.Labels)
	}
}

func endpointsFor(n int, opts ...podOpt) []*corev1.Pod {
	var pods []*corev1.Pod
	for i := range n {
		pods = append(pods, pod(fmt.Sprintf("p%03d", i), "web", fmt.Sprintf("10.0.%d.%d", i/250, i%250+1), opts...))
	}
	return pods
}

func TestPlanSlices(t *testing.T) {
	svc := service("web", httpPort)
	existingFor := func(pods []*corev1.Pod) []*discoveryv1.EndpointSlice {
		plan := planSlices(svc, desiredEndpoints(svc, pods), nil)
		for i, s := range plan.create {
			s.Name = fmt.Sprintf("web-%d", i)
			s.UID = types.UID(s.Name)
		}
		return plan.create
	}
	tests := []struct {
		name                    string
		existing                []*discoveryv1.EndpointSlice
		pods                    []*corev1.Pod
		create, update, deleted int
	}{
		{"nothing", nil, nil, 0, 0, 0},
		{"new service, 250 pods", nil, endpointsFor(250), 3, 0, 0},
		{"unchanged", existingFor(endpointsFor(250)), endpointsFor(250), 0, 0, 0},
		{"one pod gone", existingFor(endpointsFor(250)), endpointsFor(249), 0, 1, 0},
		{"one pod not ready", existingFor(endpointsFor(3)), append(endpointsFor(2), pod("p002", "web", "10.0.0.3", notReady)), 0, 1, 0},
		{"grows into the slice with room", existingFor(endpointsFor(150)), endpointsFor(200), 0, 1, 0},
		{"grows past capacity", existingFor(endpointsFor(100)), endpointsFor(101), 1, 0, 0},
		{"all pods gone", existingFor(endpointsFor(150)), nil, 0, 0, 2},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			plan := planSlices(svc, desiredEndpoints(svc, tc.pods), tc.existing)
			if len(plan.create) != tc.create || len(plan.update) != tc.update || len(plan.delete) != tc.deleted {
				t.Fatalf("create/update/delete = %d/%d/%d, want %d/%d/%d", len(plan.create), len(plan.update), len(plan.delete), tc.create, tc.update, tc.deleted)
			}
			for _, s := range append(plan.create, plan.update...) {
				if len(s.Endpoints) > MaxEndpointsPerSlice {
					t.Errorf("slice with %d endpoints", len(s.Endpoints))
				}
				if s.Labels[discoveryv1.LabelServiceName] != "web" || s.Labels[discoveryv1.LabelManagedBy] != ControllerName || s.AddressType != discoveryv1.AddressTypeIPv4 {
					t.Errorf("slice meta %v %s", s.Labels, s.AddressType)
				}
				if len(s.OwnerReferences) != 1 || s.OwnerReferences[0].UID != svc.UID || s.OwnerReferences[0].Kind != "Service" {
					t.Errorf("owner %+v", s.OwnerReferences)
				}
			}
		})
	}
}

func TestSliceConditions(t *testing.T) {
	svc := service("web", httpPort)
	plan := planSlices(svc, desiredEndpoints(svc, []*corev1.Pod{
		pod("a", "web", "10.0.0.1"), pod("b", "web", "10.0.0.2", notReady), pod("c", "web", "10.0.0.3", terminating),
	}), nil)
	if len(plan.create) != 1 {
		t.Fatalf("got %d slices", len(plan.create))
	}
	want := map[string][3]bool{"a": {true, true, false}, "b": {false, false, false}, "c": {false, true, true}}
	for _, e := range plan.create[0].Endpoints {
		c := e.Conditions
		got := [3]bool{*c.Ready, *c.Serving, *c.Terminating}
		if got != want[e.TargetRef.Name] {
			t.Errorf("pod %s: ready/serving/terminating %v, want %v", e.TargetRef.Name, got, want[e.TargetRef.Name])
		}
		if e.NodeName == nil || *e.NodeName != "node-1" {
			t.Errorf("pod %s: nodeName %v", e.TargetRef.Name, e.NodeName)
		}
	}
	if p := plan.create[0].Ports; len(p) != 1 || *p[0].Port != 8080 || *p[0].Name != "web" {
		t.Errorf("ports %+v", p)
	}
}

// fixture runs syncs against a fake clientset whose informers are fed the
// objects the test gives and, after each sync, what the sync wrote.
type fixture struct {
	t       *testing.T
	client  *fake.Clientset
	factory informers.SharedInformerFactory
	c       *Controller
}

func newFixture(t *testing.T, objs ...runtime.Object) *fixture {
	client := fake.NewClientset(objs...)
	n := 0
	client.PrependReactor("create", "*", func(a clienttesting.Action) (bool, runtime.Object, error) {
		if o, ok := a.(clienttesting.CreateAction).GetObject().(metav1.Object); ok && o.GetName() == "" && o.GetGenerateName() != "" {
			n++
			o.SetName(fmt.Sprintf("%s%05d", o.GetGenerateName(), n))
		}
		return false, nil, nil
	})
	factory := informers.NewSharedInformerFactory(client, 0)
	c := New(&reconcile.Config{Client: client, Informers: factory})
	ctx, cancel := context.WithCancel(context.Background())
	t.Cleanup(cancel)
	factory.Start(ctx.Done())
	factory.WaitForCacheSync(ctx.Done())
	return &fixture{t: t, client: client, factory: factory, c: c}
}

// sync runs one sync of key and returns the write actions it made.
func (f *fixture) sync(key string) []clienttesting.Action {
	f.t.Helper()
	f.client.ClearActions()
	if err := f.c.sync(context.Background(), key); err != nil {
		f.t.Fatalf("sync %s: %v", key, err)
	}
	var writes []clienttesting.Action
	for _, a := range f.client.Actions() {
		if a.GetVerb() != "list" && a.GetVerb() != "watch" && a.GetVerb() != "get" {
			writes = append(writes, a)
		}
	}
	return writes
}

// settle waits until the informers hold what the client holds.
func (f *fixture) settle(nEndpoints, nSlices int) {
	f.t.Helper()
	deadline := time.Now().Add(5 * time.Second)
	for time.Now().Before(deadline) {
		eps, _ := f.c.endpoints.List(everything())
		sl, _ := f.c.slices.List(everything())
		if len(eps) == nEndpoints && len(sl) == nSlices {
			return
		}
		time.Sleep(10 * time.Millisecond)
	}
	f.t.Fatalf("informers did not catch up to %d endpoints, %d slices", nEndpoints, nSlices)
}

func everything() labels.Selector { return labels.Everything() }

func verbs(actions []clienttesting.Action) []string {
	var out []string
	for _, a := range actions {
		out = append(out, a.GetVerb()+" "+a.GetResource().Resource)
	}
	return out
}

func TestSyncWritesOnceThenNothing(t *testing.T) {
	objs := []runtime.Object{service("web", httpPort)}
	for _, p := range endpointsFor(3) {
		objs = append(objs, p)
	}
	objs = append(objs, pod("other", "db", "10.1.0.1"))
	f := newFixture(t, objs...)

	got := verbs(f.sync("ns/web"))
	want := []string{"create endpoints", "create endpointslices"}
	if fmt.Sprint(got) != fmt.Sprint(want) {
		t.Fatalf("first sync: %v, want %v", got, want)
	}
	ep, err := f.client.CoreV1().Endpoints("ns").Get(context.Background(), "web", metav1.GetOptions{})
	if err != nil || len(ep.Subsets) != 1 || len(ep.Subsets[0].Addresses) != 3 {
		t.Fatalf("endpoints %+v, %v", ep, err)
	}
	f.settle(1, 1)
	if got := f.sync("ns/web"); len(got) != 0 {
		t.Fatalf("second sync wrote %v, want nothing", verbs(got))
	}
}

func TestSyncServiceWithoutSelector(t *testing.T) {
	svc := service("kubernetes")
	svc.Spec.Selector = nil
	f := newFixture(t, svc, pod("a", "kubernetes", "10.0.0.1"))
	if got := f.sync("ns/kubernetes"); len(got) != 0 {
		t.Fatalf("wrote %v for a Service without selector", verbs(got))
	}
}

func TestSyncServiceGone(t *testing.T) {
	mine := &corev1.Endpoints{ObjectMeta: metav1.ObjectMeta{Name: "web", Namespace: "ns", UID: "e1", Labels: map[string]string{EndpointsManagedByLabel: EndpointsManagedByValue}}}
	theirs := &corev1.Endpoints{ObjectMeta: metav1.ObjectMeta{Name: "ext", Namespace: "ns", UID: "e2"}}
	slice := &discoveryv1.EndpointSlice{ObjectMeta: metav1.ObjectMeta{Name: "web-abc", Namespace: "ns",
		Labels: map[string]string{discoveryv1.LabelServiceName: "web", discoveryv1.LabelManagedBy: ControllerName}}}
	f := newFixture(t, mine, theirs, slice)
	if got := verbs(f.sync("ns/web")); fmt.Sprint(got) != "[delete endpoints delete endpointslices]" {
		t.Fatalf("service gone: %v", got)
	}
	if got := f.sync("ns/ext"); len(got) != 0 {
		t.Fatalf("deleted endpoints the controller does not manage: %v", verbs(got))
	}
}

func TestStaleSliceCacheWaits(t *testing.T) {
	tr := newSliceTracker()
	tr.wrote("ns/web", "web-1", "10")
	s := &discoveryv1.EndpointSlice{ObjectMeta: metav1.ObjectMeta{Name: "web-1", ResourceVersion: "9"}}
	if tr.caughtUp("ns/web", nil) || tr.caughtUp("ns/web", []*discoveryv1.EndpointSlice{s}) {
		t.Fatal("caught up on a cache without the write")
	}
	s.ResourceVersion = "10"
	if !tr.caughtUp("ns/web", []*discoveryv1.EndpointSlice{s}) {
		t.Fatal("not caught up on a cache with the write")
	}
	tr.wrote("ns/web", "web-1", deletedRV)
	if tr.caughtUp("ns/web", []*discoveryv1.EndpointSlice{s}) || !tr.caughtUp("ns/web", nil) {
		t.Fatal("deletion not tracked")
	}
}
