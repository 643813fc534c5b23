package daemonset_test

import (
	"context"
	"fmt"
	"testing"
	"time"

	appsv1 "k8s.io/api/apps/v1"
	corev1 "k8s.io/api/core/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/util/wait"

	"github.com/sqlkube/sqlkube/controllers/daemonset"
	"github.com/sqlkube/sqlkube/controllers/internal/controllertest"
)

func TestDaemonSetOnRealServer(t *testing.T) {
	srv, ctx := controllertest.StartServer(t, 50*time.Second)
	client := srv.Client

	controllertest.CreateNamespace(ctx, t, client, "demo")
	for i := range 4 {
		n := &corev1.Node{ObjectMeta: metav1.ObjectMeta{Name: fmt.Sprintf("sim-%d", i)}}
		if i == 0 {
			n.Spec.Taints = []corev1.Taint{{Key: "dedicated", Value: "db", Effect: corev1.TaintEffectNoSchedule}}
		}
		if _, err := client.CoreV1().Nodes().Create(ctx, n, metav1.CreateOptions{}); err != nil {
			t.Fatal(err)
		}
	}
	ds := &appsv1.DaemonSet{
		ObjectMeta: metav1.ObjectMeta{Name: "agent", Namespace: "demo"},
		Spec: appsv1.DaemonSetSpec{
			Selector: &metav1.LabelSelector{MatchLabels: map[string]string{"app": "agent"}},
			Template: corev1.PodTemplateSpec{
				ObjectMeta: metav1.ObjectMeta{Labels: map[string]string{"app": "agent"}},
				Spec:       corev1.PodSpec{Containers: []corev1.Container{{Name: "a", Image: "registry.local/agent:1"}}},
			},
		},
	}
	if _, err := client.AppsV1().DaemonSets("demo").Create(ctx, ds, metav1.CreateOptions{}); err != nil {
		t.Fatal(err)
	}

	controllertest.Run(t, srv, daemonset.New, 2, controllertest.Quiet)
	// The nodes' kubelets: pods bound to a node become Running and Ready,
	// and pods being deleted are deleted for good.
	controllertest.RunKubelet(t, client, func(p *corev1.Pod) bool { return p.Spec.NodeName == "" })

	// waitFor waits until the DaemonSet runs exactly one ready pod on
	// each node in want, each with image, and its status says so.
	waitFor := func(what string, want []string, image string) {
		t.Helper()
		var last string
		err := wait.PollUntilContextTimeout(ctx, 50*time.Millisecond, 20*time.Second, true, func(ctx context.Context) (bool, error) {
			pods, err := client.CoreV1().Pods("demo").List(ctx, metav1.ListOptions{LabelSelector: "app=agent"})
			if err != nil {
				return false, err
			}
			on := map[string]int{}
			for _, p := range pods.Items {
				if p.Status.Phase == corev1.PodRunning && p.Spec.Containers[0].Image == image && p.DeletionTimestamp == nil {
					on[p.Spec.NodeName]++
				}
			}
			got, err := client.AppsV1().DaemonSets("demo").Get(ctx, "agent", metav1.GetOptions{})
			if err != nil {
				return false, err
			}
			st := got.Status
			last = fmt.Sprintf("pods %d by node %v; status %+v", len(pods.Items), on, st)
			if len(pods.Items) != len(want) || len(on) != len(want) {
				return false, nil
			}
			for _, n := range want {
				if on[n] != 1 {
					return false, nil
				}
			}
			d := int32(len(want))
			return st.ObservedGeneration == got.Generation && st.DesiredNumberScheduled == d && st.CurrentNumberScheduled == d &&
				st.NumberReady == d && st.NumberAvailable == d && st.UpdatedNumberScheduled == d && st.NumberUnavailable == 0, nil
		})
		if err != nil {
			t.Fatalf("%s: %v; last: %s", what, err, last)
		}
	}
	waitFor("one pod on each untainted node", []string{"sim-1", "sim-2", "sim-3"}, "registry.local/agent:1")

	// kubectl set image: a rolling update, one node at a time.
	cur, err := client.AppsV1().DaemonSets("demo").Get(ctx, "agent", metav1.GetOptions{})
	if err != nil {
		t.Fatal(err)
	}
	cur.Spec.Template.Spec.Containers[0].Image = "registry.local/agent:2"
	if _, err := client.AppsV1().DaemonSets("demo").Update(ctx, cur, metav1.UpdateOptions{}); err != nil {
		t.Fatal(err)
	}
	waitFor("rolled out", []string{"sim-1", "sim-2", "sim-3"}, "registry.local/agent:2")

	// kubectl taint node sim-0 dedicated-: the node becomes eligible.
	n0, err := client.CoreV1().Nodes().Get(ctx, "sim-0", metav1.GetOptions{})
	if err != nil {
		t.Fatal(err)
	}
	n0.Spec.Taints = nil
	if _, err := client.CoreV1().Nodes().Update(ctx, n0, metav1.UpdateOptions{}); err != nil {
		t.Fatal(err)
	}
	waitFor("a pod on the untainted node", []string{"sim-0", "sim-1", "sim-2", "sim-3"}, "registry.local/agent:2")

	// kubectl delete node sim-3: its pod goes, even though no node will
	// ever confirm the deletion.
	if err := client.CoreV1().Nodes().Delete(ctx, "sim-3", metav1.DeleteOptions{}); err != nil {
		t.Fatal(err)
	}
	waitFor("the deleted node's pod is gone", []string{"sim-0", "sim-1", "sim-2"}, "registry.local/agent:2")

	// A NoExecute taint the pod does not tolerate evicts it.
	n1, err := client.CoreV1().Nodes().Get(ctx, "sim-1", metav1.GetOptions{})
	if err != nil {
		t.Fatal(err)
	}
	n1.Spec.Taints = []corev1.Taint{{Key: "maintenance", Effect: corev1.TaintEffectNoExecute}}
	if _, err := client.CoreV1().Nodes().Update(ctx, n1, metav1.UpdateOptions{}); err != nil {
		t.Fatal(err)
	}
	waitFor("the NoExecute node's pod is gone", []string{"sim-0", "sim-2"}, "registry.local/agent:2")

}
