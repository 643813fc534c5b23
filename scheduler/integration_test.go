package scheduler

import (
	"context"
	"fmt"
	"strings"
	"testing"
	"time"

	v1 "k8s.io/api/core/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/util/wait"
	"k8s.io/client-go/kubernetes"

	"github.com/sqlkube/sqlkube/internal/testserver"
)

// createPod creates p in namespace ns of a real server, without the
// fixtures' test-only fields.
func createPod(ctx context.Context, t testing.TB, client kubernetes.Interface, ns string, p *v1.Pod) {
	t.Helper()
	p = p.DeepCopy()
	p.Namespace, p.UID = ns, ""
	if _, err := client.CoreV1().Pods(ns).Create(ctx, p, metav1.CreateOptions{}); err != nil {
		t.Fatalf("create pod %s: %v", p.Name, err)
	}
}

// TestIntegration runs the scheduler against a real API server: pods get
// bound through pods/binding, away from a tainted node, within each node's
// cpu, spread per ReplicaSet; an oversized pod stays Pending with a
// FailedScheduling event and the PodScheduled condition saying why.
func TestIntegration(t *testing.T) {
	ts := testserver.Start(t)
	ctx := context.Background()
	client := ts.Client
	if _, err := client.CoreV1().Namespaces().Create(ctx, &v1.Namespace{ObjectMeta: metav1.ObjectMeta{Name: "demo"}}, metav1.CreateOptions{}); err != nil {
		t.Fatal(err)
	}
	nodes := []*v1.Node{
		node("sim-0", "4", "8Gi", 110, withTaint("dedicated", "db", v1.TaintEffectNoSchedule)),
		node("sim-1", "4", "8Gi", 110), node("sim-2", "4", "8Gi", 110), node("sim-3", "4", "8Gi", 110),
		node("sim-4", "64", "64Gi", 110, notReady(v1.ConditionFalse)),
	}
	for _, n := range nodes {
		if _, err := client.CoreV1().Nodes().Create(ctx, n, metav1.CreateOptions{}); err != nil {
			t.Fatalf("create node %s: %v", n.Name, err)
		}
	}
	startScheduler(t, client)

	// Twelve 1-cpu replicas fill the three untainted nodes exactly; the
	// owner is a ReplicaSet that need not exist for spreading.
	rs := func(p *v1.Pod) {
		yes := true
		p.OwnerReferences = []metav1.OwnerReference{{APIVersion: "apps/v1", Kind: "ReplicaSet", Name: "web", UID: "0e0e0e0e-0000-4000-8000-000000000001", Controller: &yes}}
	}
	for i := range 12 {
		createPod(ctx, t, client, "demo", pod(fmt.Sprintf("web-%d", i), "1", "64Mi", rs, labeled("app", "web")))
	}
	createPod(ctx, t, client, "demo", pod("db", "", "", tolerating("dedicated", "db", v1.TaintEffectNoSchedule),
		func(p *v1.Pod) { p.Spec.NodeSelector = map[string]string{v1.LabelHostname: "sim-0"} }))

	perNode := map[string]int{}
	err := wait.PollUntilContextTimeout(ctx, 50*time.Millisecond, 20*time.Second, true, func(ctx context.Context) (bool, error) {
		list, err := client.CoreV1().Pods("demo").List(ctx, metav1.ListOptions{})
		if err != nil {
			return false, err
		}
		clear(perNode)
		for _, p := range list.Items {
			if p.Spec.NodeName == "" {
				return false, nil
			}
			if strings.HasPrefix(p.Name, "web-") {
				perNode[p.Spec.NodeName]++
			}
		}
		return true, nil
	})
	if err != nil {
		t.Fatalf("pods bound: %v", err)
	}
	if perNode["sim-1"] != 4 || perNode["sim-2"] != 4 || perNode["sim-3"] != 4 {
		t.Fatalf("web replicas per node %v, want 4 on each untainted ready node", perNode)
	}
	db, err := client.CoreV1().Pods("demo").Get(ctx, "db", metav1.GetOptions{})
	if err != nil || db.Spec.NodeName != "sim-0" {
		t.Fatalf("db pod on %q (%v), want sim-0", db.Spec.NodeName, err)
	}

	// The cluster is full: one more cpu fits nowhere that is ready.
	createPod(ctx, t, client, "demo", pod("big", "1", ""))
	want := "0/5 nodes are available: 1 node(s) had untolerated taint {dedicated: db}, 1 node(s) were not ready, 3 Insufficient cpu."
	waitEvent(t, client, "big", "FailedScheduling", want)
	err = wait.PollUntilContextTimeout(ctx, 50*time.Millisecond, 10*time.Second, true, func(ctx context.Context) (bool, error) {
		p, err := client.CoreV1().Pods("demo").Get(ctx, "big", metav1.GetOptions{})
		if err != nil {
			return false, err
		}
		for _, c := range p.Status.Conditions {
			if c.Type == v1.PodScheduled {
				return c.Status == v1.ConditionFalse && c.Reason == v1.PodReasonUnschedulable && c.Message == want, nil
			}
		}
		return false, nil
	})
	if err != nil {
		t.Fatalf("PodScheduled condition of big: %v", err)
	}

	// Deleting a replica makes room, and the pending pod takes it.
	if err := client.CoreV1().Pods("demo").Delete(ctx, "web-0", metav1.DeleteOptions{GracePeriodSeconds: new(int64)}); err != nil {
		t.Fatal(err)
	}
	err = wait.PollUntilContextTimeout(ctx, 50*time.Millisecond, 20*time.Second, true, func(ctx context.Context) (bool, error) {
		p, err := client.CoreV1().Pods("demo").Get(ctx, "big", metav1.GetOptions{})
		return err == nil && p.Spec.NodeName != "", err
	})
	if err != nil {
		t.Fatalf("pending pod bound after a replica went: %v", err)
	}
}
