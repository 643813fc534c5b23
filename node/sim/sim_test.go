package sim_test

import (
	"context"
	"fmt"
	"net/netip"
	"testing"
	"time"

	coordinationv1 "k8s.io/api/coordination/v1"
	corev1 "k8s.io/api/core/v1"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/util/wait"
	"k8s.io/client-go/kubernetes"

	"github.com/sqlkube/sqlkube/internal/testserver"
	"github.com/sqlkube/sqlkube/node"
	"github.com/sqlkube/sqlkube/node/sim"
)

// runSim runs a simulator of count nodes named prefix-i until the returned
// stop is called (or the test ends); stop waits for Run to return.
func runSim(t *testing.T, client kubernetes.Interface, prefix string, count int) (stop func()) {
	t.Helper()
	s, err := sim.New(sim.Config{
		Client: client, Prefix: prefix, Count: count,
		JobDuration: 300 * time.Millisecond, LeaseDuration: 5 * time.Second, RenewInterval: 500 * time.Millisecond,
		Version: "test",
	})
	if err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan error, 1)
	go func() { done <- s.Run(ctx) }()
	var stopped bool
	stop = func() {
		if stopped {
			return
		}
		stopped = true
		cancel()
		if err := <-done; err != nil {
			t.Errorf("simulator: %v", err)
		}
	}
	t.Cleanup(stop)
	return stop
}

// poll runs cond every 50ms until it is true or timeout, failing the test
// with what then.
func poll(t *testing.T, timeout time.Duration, what string, cond func(ctx context.Context) (bool, error)) {
	t.Helper()
	if err := wait.PollUntilContextTimeout(context.Background(), 50*time.Millisecond, timeout, true, cond); err != nil {
		t.Fatalf("%s: %v", what, err)
	}
}

func getLease(ctx context.Context, client kubernetes.Interface, name string) (*coordinationv1.Lease, error) {
	return client.CoordinationV1().Leases(corev1.NamespaceNodeLease).Get(ctx, name, metav1.GetOptions{})
}

func newPod(name string, policy corev1.RestartPolicy) *corev1.Pod {
	return &corev1.Pod{
		ObjectMeta: metav1.ObjectMeta{Name: name, Namespace: "default", Labels: map[string]string{"app": name}},
		Spec: corev1.PodSpec{
			RestartPolicy: policy,
			Containers:    []corev1.Container{{Name: "c", Image: "registry.local/" + name + ":1"}},
		},
	}
}

// bind creates pod and binds it to nodeName through pods/binding, as the
// scheduler does.
func bind(t *testing.T, client kubernetes.Interface, pod *corev1.Pod, nodeName string) {
	t.Helper()
	ctx := context.Background()
	created, err := client.CoreV1().Pods(pod.Namespace).Create(ctx, pod, metav1.CreateOptions{})
	if err != nil {
		t.Fatal(err)
	}
	err = client.CoreV1().Pods(pod.Namespace).Bind(ctx, &corev1.Binding{
		ObjectMeta: metav1.ObjectMeta{Name: created.Name, Namespace: created.Namespace, UID: created.UID},
		Target:     corev1.ObjectReference{Kind: "Node", Name: nodeName},
	}, metav1.CreateOptions{})
	if err != nil {
		t.Fatalf("bind %s to %s: %v", pod.Name, nodeName, err)
	}
}

func waitPhase(t *testing.T, client kubernetes.Interface, name string, phase corev1.PodPhase) *corev1.Pod {
	t.Helper()
	var pod *corev1.Pod
	poll(t, 10*time.Second, fmt.Sprintf("pod %s %s", name, phase), func(ctx context.Context) (bool, error) {
		var err error
		pod, err = client.CoreV1().Pods("default").Get(ctx, name, metav1.GetOptions{})
		return err == nil && pod.Status.Phase == phase, nil
	})
	return pod
}

func TestSimulatedNodes(t *testing.T) {
	srv := testserver.Start(t)
	client := srv.Client
	stop := runSim(t, client, "sim", 3)

	var nodes []corev1.Node
	poll(t, 10*time.Second, "3 Ready nodes", func(ctx context.Context) (bool, error) {
		l, err := client.CoreV1().Nodes().List(ctx, metav1.ListOptions{})
		if err != nil {
			return false, err
		}
		nodes = l.Items
		ready := 0
		for i := range l.Items {
			if node.IsReady(&l.Items[i]) {
				ready++
			}
		}
		return ready == 3, nil
	})
	cidrs := map[string]netip.Prefix{}
	for _, n := range nodes {
		if n.Labels[corev1.LabelHostname] != n.Name || n.Labels[corev1.LabelOSStable] != "linux" || n.Labels[corev1.LabelArchStable] == "" {
			t.Errorf("node %s labels = %v", n.Name, n.Labels)
		}
		if c := n.Status.Allocatable[corev1.ResourceCPU]; c.String() != "4" {
			t.Errorf("node %s allocatable cpu = %s", n.Name, c.String())
		}
		if p := n.Status.Allocatable[corev1.ResourcePods]; p.String() != "110" {
			t.Errorf("node %s allocatable pods = %s", n.Name, p.String())
		}
		if n.Status.NodeInfo.KubeletVersion != "test" || len(n.Status.Addresses) == 0 || n.Status.Addresses[0].Address != "127.0.0.1" {
			t.Errorf("node %s info %+v addresses %v", n.Name, n.Status.NodeInfo, n.Status.Addresses)
		}
		p, err := netip.ParsePrefix(n.Spec.PodCIDR)
		if err != nil {
			t.Fatalf("node %s podCIDR %q: %v", n.Name, n.Spec.PodCIDR, err)
		}
		for other, q := range cidrs {
			if q.Overlaps(p) {
				t.Errorf("nodes %s and %s share pod range %s", n.Name, other, p)
			}
		}
		cidrs[n.Name] = p
	}

	t.Run("leases are held and renewed", func(t *testing.T) {
		first := map[string]time.Time{}
		poll(t, 5*time.Second, "3 leases", func(ctx context.Context) (bool, error) {
			for i := range 3 {
				name := fmt.Sprintf("sim-%d", i)
				l, err := getLease(ctx, client, name)
				if err != nil {
					return false, nil
				}
				if *l.Spec.HolderIdentity != name || *l.Spec.LeaseDurationSeconds != 5 {
					return false, fmt.Errorf("lease %s: %+v", name, l.Spec)
				}
				if len(l.OwnerReferences) != 1 || l.OwnerReferences[0].Name != name {
					return false, fmt.Errorf("lease %s owners %+v", name, l.OwnerReferences)
				}
				first[name] = l.Spec.RenewTime.Time
			}
			return true, nil
		})
		poll(t, 5*time.Second, "leases renewed", func(ctx context.Context) (bool, error) {
			for name, at := range first {
				l, err := getLease(ctx, client, name)
				if err != nil || !l.Spec.RenewTime.Time.After(at) {
					return false, err
				}
			}
			return true, nil
		})
	})

	t.Run("bound pod runs with an IP of its node", func(t *testing.T) {
		bind(t, client, newPod("web", corev1.RestartPolicyAlways), "sim-1")
		pod := waitPhase(t, client, "web", corev1.PodRunning)
		ip, err := netip.ParseAddr(pod.Status.PodIP)
		if err != nil || !cidrs["sim-1"].Contains(ip) {
			t.Errorf("pod IP %q not in sim-1's range %s", pod.Status.PodIP, cidrs["sim-1"])
		}
		ready := false
		for _, c := range pod.Status.Conditions {
			ready = ready || c.Type == corev1.PodReady && c.Status == corev1.ConditionTrue
		}
		if !ready || len(pod.Status.ContainerStatuses) != 1 || !pod.Status.ContainerStatuses[0].Ready || pod.Status.HostIP != "127.0.0.1" {
			t.Errorf("pod status = %+v", pod.Status)
		}
		if pod.Labels["app"] != "web" {
			t.Errorf("labels lost: %v", pod.Labels)
		}
	})

	t.Run("pod created with nodeName runs", func(t *testing.T) {
		pod := newPod("direct", corev1.RestartPolicyAlways)
		pod.Spec.NodeName = "sim-2"
		if _, err := client.CoreV1().Pods("default").Create(context.Background(), pod, metav1.CreateOptions{}); err != nil {
			t.Fatal(err)
		}
		got := waitPhase(t, client, "direct", corev1.PodRunning)
		if ip, _ := netip.ParseAddr(got.Status.PodIP); !cidrs["sim-2"].Contains(ip) {
			t.Errorf("pod IP %q not in %s", got.Status.PodIP, cidrs["sim-2"])
		}
	})

	t.Run("Never pod succeeds", func(t *testing.T) {
		bind(t, client, newPod("once", corev1.RestartPolicyNever), "sim-0")
		pod := waitPhase(t, client, "once", corev1.PodSucceeded)
		term := pod.Status.ContainerStatuses[0].State.Terminated
		if term == nil || term.ExitCode != 0 || term.Reason != "Completed" {
			t.Errorf("container state = %+v", pod.Status.ContainerStatuses[0].State)
		}
	})

	t.Run("deleted pod is gone", func(t *testing.T) {
		bind(t, client, newPod("doomed", corev1.RestartPolicyAlways), "sim-0")
		waitPhase(t, client, "doomed", corev1.PodRunning)
		if err := client.CoreV1().Pods("default").Delete(context.Background(), "doomed", metav1.DeleteOptions{}); err != nil {
			t.Fatal(err)
		}
		poll(t, 10*time.Second, "pod deleted", func(ctx context.Context) (bool, error) {
			_, err := client.CoreV1().Pods("default").Get(ctx, "doomed", metav1.GetOptions{})
			return apierrors.IsNotFound(err), nil
		})
	})

	t.Run("stopped simulator stops renewing", func(t *testing.T) {
		stop()
		ctx := context.Background()
		before, err := getLease(ctx, client, "sim-0")
		if err != nil {
			t.Fatal(err)
		}
		// Three renew intervals.
		time.Sleep(1500 * time.Millisecond)
		after, err := getLease(ctx, client, "sim-0")
		if err != nil {
			t.Fatal(err)
		}
		if !after.Spec.RenewTime.Equal(before.Spec.RenewTime) {
			t.Errorf("lease renewed after the simulator stopped: %v -> %v", before.Spec.RenewTime, after.Spec.RenewTime)
		}
	})

	t.Run("restart reposts Ready and keeps pods and ranges", func(t *testing.T) {
		ctx := context.Background()
		// What the node lifecycle controller does to a node whose lease
		// expired.
		n, err := client.CoreV1().Nodes().Get(ctx, "sim-1", metav1.GetOptions{})
		if err != nil {
			t.Fatal(err)
		}
		for i, c := range n.Status.Conditions {
			if c.Type == corev1.NodeReady {
				n.Status.Conditions[i].Status, n.Status.Conditions[i].Reason = corev1.ConditionUnknown, "NodeStatusUnknown"
			}
		}
		if _, err := client.CoreV1().Nodes().UpdateStatus(ctx, n, metav1.UpdateOptions{}); err != nil {
			t.Fatal(err)
		}
		web, err := client.CoreV1().Pods("default").Get(ctx, "web", metav1.GetOptions{})
		if err != nil {
			t.Fatal(err)
		}

		runSim(t, client, "sim", 3)
		poll(t, 10*time.Second, "sim-1 Ready again", func(ctx context.Context) (bool, error) {
			n, err := client.CoreV1().Nodes().Get(ctx, "sim-1", metav1.GetOptions{})
			return err == nil && node.IsReady(n), nil
		})
		again, _ := client.CoreV1().Nodes().Get(ctx, "sim-1", metav1.GetOptions{})
		if again.Spec.PodCIDR != cidrs["sim-1"].String() || again.UID != n.UID {
			t.Errorf("node after restart: podCIDR %s uid %s, want %s %s", again.Spec.PodCIDR, again.UID, cidrs["sim-1"], n.UID)
		}
		bind(t, client, newPod("web2", corev1.RestartPolicyAlways), "sim-1")
		web2 := waitPhase(t, client, "web2", corev1.PodRunning)
		if web2.Status.PodIP == web.Status.PodIP {
			t.Errorf("new pod got %s, the IP of a pod still running", web2.Status.PodIP)
		}
		cur, _ := client.CoreV1().Pods("default").Get(ctx, "web", metav1.GetOptions{})
		if cur.ResourceVersion != web.ResourceVersion {
			t.Errorf("running pod was written again after the restart: %+v", cur.Status)
		}
	})
}

func TestTwoProcessesGetDistinctRanges(t *testing.T) {
	srv := testserver.Start(t)
	client := srv.Client
	runSim(t, client, "a", 2)
	poll(t, 10*time.Second, "pool a registered", func(ctx context.Context) (bool, error) {
		l, err := client.CoreV1().Nodes().List(ctx, metav1.ListOptions{})
		return err == nil && len(l.Items) == 2, nil
	})
	runSim(t, client, "b", 2)
	poll(t, 10*time.Second, "4 nodes with distinct ranges", func(ctx context.Context) (bool, error) {
		l, err := client.CoreV1().Nodes().List(ctx, metav1.ListOptions{})
		if err != nil || len(l.Items) != 4 {
			return false, err
		}
		seen := map[string]string{}
		for _, n := range l.Items {
			if other, dup := seen[n.Spec.PodCIDR]; dup {
				return false, fmt.Errorf("%s and %s share %s", n.Name, other, n.Spec.PodCIDR)
			}
			seen[n.Spec.PodCIDR] = n.Name
		}
		return true, nil
	})
}
