package scheduler

import (
	"context"
	"fmt"
	"strings"
	"sync"
	"testing"
	"time"

	v1 "k8s.io/api/core/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/runtime"
	"k8s.io/apimachinery/pkg/util/wait"
	"k8s.io/client-go/informers"
	"k8s.io/client-go/kubernetes"
	"k8s.io/client-go/kubernetes/fake"
	k8stesting "k8s.io/client-go/testing"

	"github.com/sqlkube/sqlkube/controllers/reconcile"
)

// startScheduler runs a Scheduler on client until the test ends.
func startScheduler(t testing.TB, client kubernetes.Interface, mods ...func(*Scheduler)) *Scheduler {
	t.Helper()
	ctx, cancel := context.WithCancel(context.Background())
	cfg := &reconcile.Config{Client: client, Informers: informers.NewSharedInformerFactory(client, 0)}
	s := New(cfg)
	for _, m := range mods {
		m(s)
	}
	cfg.Informers.Start(ctx.Done())
	done := make(chan struct{})
	go func() { s.Run(ctx); close(done) }()
	t.Cleanup(func() {
		cancel()
		<-done
		cfg.Informers.Shutdown()
		cfg.Shutdown()
	})
	return s
}

// fakeWithBinding is a fake clientset whose pods/binding sets the pod's
// nodeName, as the API server does, and records the bindings.
func fakeWithBinding(objs ...runtime.Object) (*fake.Clientset, *sync.Map) {
	client := fake.NewClientset(objs...)
	bound := &sync.Map{}
	client.PrependReactor("create", "pods", func(a k8stesting.Action) (bool, runtime.Object, error) {
		if a.GetSubresource() != "binding" {
			return false, nil, nil
		}
		b := a.(k8stesting.CreateAction).GetObject().(*v1.Binding)
		obj, err := client.Tracker().Get(v1.SchemeGroupVersion.WithResource("pods"), b.Namespace, b.Name)
		if err != nil {
			return true, nil, err
		}
		p := obj.(*v1.Pod).DeepCopy()
		p.Spec.NodeName = b.Target.Name
		bound.Store(b.Namespace+"/"+b.Name, b.Target.Name)
		return true, nil, client.Tracker().Update(v1.SchemeGroupVersion.WithResource("pods"), p, b.Namespace)
	})
	return client, bound
}

func TestSchedulerWithFakeClient(t *testing.T) {
	objs := []runtime.Object{
		node("sim-0", "4", "8Gi", 110, withTaint("dedicated", "db", v1.TaintEffectNoSchedule)),
		node("sim-1", "4", "8Gi", 110), node("sim-2", "4", "8Gi", 110), node("sim-3", "4", "8Gi", 110),
		pod("big", "64", ""),
		pod("other-scheduler", "", "", func(p *v1.Pod) { p.Spec.SchedulerName = "custom" }),
	}
	for i := range 8 {
		objs = append(objs, pod(fmt.Sprintf("web-%d", i), "500m", "64Mi", ownedBy("rs-web")))
	}
	client, bound := fakeWithBinding(objs...)
	startScheduler(t, client)

	ctx := context.Background()
	count := map[string]int{}
	err := wait.PollUntilContextTimeout(ctx, 20*time.Millisecond, 10*time.Second, true, func(context.Context) (bool, error) {
		clear(count)
		n := 0
		bound.Range(func(k, v any) bool {
			if strings.HasPrefix(k.(string), "ns/web-") {
				count[v.(string)]++
				n++
			}
			return true
		})
		return n == 8, nil
	})
	if err != nil {
		t.Fatalf("web pods bound: %v (%v)", err, count)
	}
	if count["sim-0"] != 0 || count["sim-1"] > 3 || count["sim-2"] > 3 || count["sim-3"] > 3 {
		t.Fatalf("replicas per node %v", count)
	}
	if _, ok := bound.Load("ns/other-scheduler"); ok {
		t.Fatal("bound a pod of another scheduler")
	}
	if _, ok := bound.Load("ns/big"); ok {
		t.Fatal("bound the oversized pod")
	}

	want := "0/4 nodes are available: 1 node(s) had untolerated taint {dedicated: db}, 3 Insufficient cpu."
	err = wait.PollUntilContextTimeout(ctx, 20*time.Millisecond, 10*time.Second, true, func(ctx context.Context) (bool, error) {
		p, err := client.CoreV1().Pods("ns").Get(ctx, "big", metav1.GetOptions{})
		if err != nil {
			return false, err
		}
		for _, c := range p.Status.Conditions {
			if c.Type == v1.PodScheduled && c.Status == v1.ConditionFalse && c.Reason == v1.PodReasonUnschedulable && c.Message == want {
				return true, nil
			}
		}
		return false, nil
	})
	if err != nil {
		t.Fatalf("PodScheduled condition of the oversized pod: %v", err)
	}
	waitEvent(t, client, "big", "FailedScheduling", want)

	// A new node with room lets it fit.
	if _, err := client.CoreV1().Nodes().Create(ctx, node("huge", "128", "64Gi", 110), metav1.CreateOptions{}); err != nil {
		t.Fatal(err)
	}
	err = wait.PollUntilContextTimeout(ctx, 20*time.Millisecond, 10*time.Second, true, func(context.Context) (bool, error) {
		n, ok := bound.Load("ns/big")
		return ok && n == "huge", nil
	})
	if err != nil {
		t.Fatalf("oversized pod bound to the new node: %v", err)
	}

	// The condition is written once, not on every retry.
	updates := 0
	for _, a := range client.Actions() {
		if a.GetVerb() == "update" && a.GetSubresource() == "status" {
			updates++
		}
	}
	if updates != 1 {
		t.Fatalf("%d status updates, want 1", updates)
	}
}

func waitEvent(t *testing.T, client kubernetes.Interface, podName, reason, message string) {
	t.Helper()
	var seen []string
	err := wait.PollUntilContextTimeout(context.Background(), 50*time.Millisecond, 20*time.Second, true, func(ctx context.Context) (bool, error) {
		evs, err := client.CoreV1().Events("").List(ctx, metav1.ListOptions{})
		if err != nil {
			return false, err
		}
		seen = seen[:0]
		for _, e := range evs.Items {
			seen = append(seen, e.InvolvedObject.Name+" "+e.Reason+": "+e.Message)
			if e.InvolvedObject.Name == podName && e.Reason == reason && e.Message == message && e.Type == v1.EventTypeWarning && e.Source.Component == Name {
				return true, nil
			}
		}
		return false, nil
	})
	if err != nil {
		t.Fatalf("event %s %q on %s: %v; events: %q", reason, message, podName, err, seen)
	}
}
