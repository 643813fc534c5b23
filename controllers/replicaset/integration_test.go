package replicaset

import (
	"context"
	"testing"
	"time"

	appsv1 "k8s.io/api/apps/v1"
	corev1 "k8s.io/api/core/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/types"
	"k8s.io/apimachinery/pkg/util/wait"
	"k8s.io/client-go/kubernetes"

	"github.com/sqlkube/sqlkube/controllers/internal/controllertest"
	"github.com/sqlkube/sqlkube/internal/testserver"
)

func createRS(t testing.TB, client kubernetes.Interface, name string, replicas int32) *appsv1.ReplicaSet {
	t.Helper()
	rs := &appsv1.ReplicaSet{
		ObjectMeta: metav1.ObjectMeta{Name: name, Namespace: "default"},
		Spec: appsv1.ReplicaSetSpec{
			Replicas: &replicas,
			Selector: &metav1.LabelSelector{MatchLabels: map[string]string{"app": name}},
			Template: corev1.PodTemplateSpec{
				ObjectMeta: metav1.ObjectMeta{Labels: map[string]string{"app": name}},
				Spec:       corev1.PodSpec{Containers: []corev1.Container{{Name: "c", Image: "nginx"}}},
			},
		},
	}
	out, err := client.AppsV1().ReplicaSets("default").Create(context.Background(), rs, metav1.CreateOptions{})
	if err != nil {
		t.Fatalf("create replicaset %s: %v", name, err)
	}
	return out
}

// waitStatus polls the ReplicaSet until ok accepts it.
func waitStatus(t testing.TB, client kubernetes.Interface, name string, timeout time.Duration, ok func(*appsv1.ReplicaSet) bool) *appsv1.ReplicaSet {
	t.Helper()
	var last *appsv1.ReplicaSet
	err := wait.PollUntilContextTimeout(context.Background(), 50*time.Millisecond, timeout, true, func(ctx context.Context) (bool, error) {
		rs, err := client.AppsV1().ReplicaSets("default").Get(ctx, name, metav1.GetOptions{})
		if err != nil {
			return false, nil
		}
		last = rs
		return ok(rs), nil
	})
	if err != nil {
		t.Fatalf("replicaset %s: condition not reached in %v; last status %+v", name, timeout, last.Status)
	}
	return last
}

func ownedPods(t *testing.T, client kubernetes.Interface, rs *appsv1.ReplicaSet) []corev1.Pod {
	t.Helper()
	list, err := client.CoreV1().Pods("default").List(context.Background(), metav1.ListOptions{})
	if err != nil {
		t.Fatalf("list pods: %v", err)
	}
	var out []corev1.Pod
	for _, p := range list.Items {
		if metav1.IsControlledBy(&p, rs) {
			out = append(out, p)
		}
	}
	return out
}

func TestIntegrationScaleAdoptRelease(t *testing.T) {
	ts := testserver.Start(t)
	controllertest.Run(t, ts, New, 4)
	client := ts.Client
	// The nodes: every pod becomes Running and Ready, and a terminating
	// pod is removed.
	controllertest.RunKubelet(t, client, nil)
	ctx := context.Background()

	// An orphan that matches is adopted and counts toward the replicas.
	orphan := &corev1.Pod{
		ObjectMeta: metav1.ObjectMeta{Name: "stray", Namespace: "default", Labels: map[string]string{"app": "web"}},
		Spec:       corev1.PodSpec{Containers: []corev1.Container{{Name: "c", Image: "nginx"}}},
	}
	if _, err := client.CoreV1().Pods("default").Create(ctx, orphan, metav1.CreateOptions{}); err != nil {
		t.Fatal(err)
	}
	rs := createRS(t, client, "web", 5)
	waitStatus(t, client, "web", 20*time.Second, func(rs *appsv1.ReplicaSet) bool {
		return rs.Status.ReadyReplicas == 5 && rs.Status.AvailableReplicas == 5 && rs.Status.Replicas == 5 && rs.Status.ObservedGeneration == rs.Generation
	})
	pods := ownedPods(t, client, rs)
	if len(pods) != 5 {
		t.Fatalf("%d pods owned, want 5", len(pods))
	}
	adopted := false
	for _, p := range pods {
		adopted = adopted || p.Name == "stray"
	}
	if !adopted {
		t.Error("the matching orphan pod was not adopted")
	}

	// Relabel one pod: it is released and replaced.
	p, err := client.CoreV1().Pods("default").Get(ctx, pods[0].Name, metav1.GetOptions{})
	if err != nil {
		t.Fatal(err)
	}
	p.Labels = map[string]string{"app": "debug"}
	if _, err := client.CoreV1().Pods("default").Update(ctx, p, metav1.UpdateOptions{}); err != nil {
		t.Fatal(err)
	}
	err = wait.PollUntilContextTimeout(ctx, 50*time.Millisecond, 20*time.Second, true, func(ctx context.Context) (bool, error) {
		got, err := client.CoreV1().Pods("default").Get(ctx, p.Name, metav1.GetOptions{})
		return err == nil && metav1.GetControllerOf(got) == nil && len(ownedPods(t, client, rs)) == 5, nil
	})
	if err != nil {
		t.Fatalf("relabelled pod not released and replaced: %v", err)
	}

	// Scale down to 2.
	if _, err := client.AppsV1().ReplicaSets("default").Patch(ctx, "web", types.MergePatchType, []byte(`{"spec":{"replicas":2}}`), metav1.PatchOptions{}); err != nil {
		t.Fatal(err)
	}
	waitStatus(t, client, "web", 20*time.Second, func(rs *appsv1.ReplicaSet) bool {
		return rs.Status.Replicas == 2 && rs.Status.ObservedGeneration == rs.Generation
	})
	err = wait.PollUntilContextTimeout(ctx, 50*time.Millisecond, 20*time.Second, true, func(ctx context.Context) (bool, error) {
		return len(ownedPods(t, client, rs)) == 2, nil
	})
	if err != nil {
		t.Fatalf("pods owned after scale-down: %d, want 2", len(ownedPods(t, client, rs)))
	}
}

// scaleUp creates an n-replica ReplicaSet with no nodes, waits until its
// status counts n pods, and fails unless exactly n pods exist: the
// expectations keep the controller from creating pods it has not yet
// seen a second time. It returns how long the pods took.
func scaleUp(tb testing.TB, n int32) time.Duration {
	ts := testserver.Start(tb)
	controllertest.Run(tb, ts, New, 4)
	client := ts.Client
	start := time.Now()
	createRS(tb, client, "big", n)
	rs := waitStatus(tb, client, "big", 120*time.Second, func(rs *appsv1.ReplicaSet) bool { return rs.Status.Replicas >= n })
	elapsed := time.Since(start)
	if rs.Status.Replicas != n {
		tb.Fatalf("status.replicas = %d, want %d", rs.Status.Replicas, n)
	}
	// Let any sync still running finish, then count what exists.
	waitStatus(tb, client, "big", 10*time.Second, func(rs *appsv1.ReplicaSet) bool { return rs.Status.ObservedGeneration == rs.Generation })
	list, err := client.CoreV1().Pods("default").List(context.Background(), metav1.ListOptions{})
	if err != nil {
		tb.Fatal(err)
	}
	if len(list.Items) != int(n) {
		tb.Fatalf("%d pods exist, want exactly %d", len(list.Items), n)
	}
	return elapsed
}

// TestIntegrationScaleUpExact scales a ReplicaSet to 2,000 (four bursts)
// and checks that exactly 2,000 pods exist. BenchmarkScaleUp10k does the
// same for 10,000.
func TestIntegrationScaleUpExact(t *testing.T) {
	const n = 2000
	d := scaleUp(t, n)
	t.Logf("%d pods created in %v (%.0f pods/s)", n, d.Round(time.Millisecond), n/d.Seconds())
}

// BenchmarkScaleUp10k measures a 10,000-replica scale-up against a real
// API server (SQLite), with no nodes: pods are only created. It reports
// pods/s and fails if the count is not exactly 10,000.
//
//	go test ./controllers/replicaset -run '^$' -bench ScaleUp10k -benchtime 1x
func BenchmarkScaleUp10k(b *testing.B) {
	const n = 10000
	var total time.Duration
	for range b.N {
		total += scaleUp(b, n)
	}
	b.ReportMetric(float64(n*b.N)/total.Seconds(), "pods/s")
}
