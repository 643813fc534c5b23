package nodelifecycle_test

import (
	"context"
	"fmt"
	"sync/atomic"
	"testing"
	"time"

	coordinationv1 "k8s.io/api/coordination/v1"
	corev1 "k8s.io/api/core/v1"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/util/wait"
	"k8s.io/client-go/kubernetes"

	"github.com/sqlkube/sqlkube/controllers/internal/controllertest"
	"github.com/sqlkube/sqlkube/controllers/nodelifecycle"
	"github.com/sqlkube/sqlkube/controllers/reconcile"
	"github.com/sqlkube/sqlkube/server"
)

const (
	grace      = 2 * time.Second
	toleration = 1 // seconds; the server's default toleration in this test
)

// kubelet plays one node: it registers the Node as Ready and renews its
// Lease every 200 ms while alive is true.
type kubelet struct {
	name   string
	client kubernetes.Interface
	alive  atomic.Bool
}

func startKubelet(ctx context.Context, t *testing.T, client kubernetes.Interface, name string) *kubelet {
	t.Helper()
	k := &kubelet{name: name, client: client}
	k.alive.Store(true)
	n, err := client.CoreV1().Nodes().Create(ctx, &corev1.Node{ObjectMeta: metav1.ObjectMeta{Name: name}}, metav1.CreateOptions{})
	if err != nil {
		t.Fatal(err)
	}
	k.postReady(ctx, t, n)
	l := &coordinationv1.Lease{
		ObjectMeta: metav1.ObjectMeta{Name: name, Namespace: corev1.NamespaceNodeLease},
		Spec:       coordinationv1.LeaseSpec{HolderIdentity: &name, LeaseDurationSeconds: new(int32(40)), RenewTime: &metav1.MicroTime{Time: time.Now()}},
	}
	if _, err := client.CoordinationV1().Leases(corev1.NamespaceNodeLease).Create(ctx, l, metav1.CreateOptions{}); err != nil {
		t.Fatal(err)
	}
	controllertest.Every(ctx, 200*time.Millisecond, func() {
		if !k.alive.Load() {
			return
		}
		l, err := client.CoordinationV1().Leases(corev1.NamespaceNodeLease).Get(ctx, name, metav1.GetOptions{})
		if err != nil {
			return
		}
		l.Spec.RenewTime = &metav1.MicroTime{Time: time.Now()}
		_, _ = client.CoordinationV1().Leases(corev1.NamespaceNodeLease).Update(ctx, l, metav1.UpdateOptions{})
	})
	return k
}

// postReady reports the node Ready, as a kubelet does when it starts.
func (k *kubelet) postReady(ctx context.Context, t *testing.T, n *corev1.Node) {
	t.Helper()
	now := metav1.Now()
	n.Status.Conditions = []corev1.NodeCondition{{Type: corev1.NodeReady, Status: corev1.ConditionTrue, Reason: "KubeletReady", LastHeartbeatTime: now, LastTransitionTime: now}}
	if _, err := k.client.CoreV1().Nodes().UpdateStatus(ctx, n, metav1.UpdateOptions{}); err != nil {
		t.Fatal(err)
	}
}

// runPod creates a pod bound to node and reports it Running and Ready.
func runPod(ctx context.Context, t *testing.T, client kubernetes.Interface, name, node string, tolerations ...corev1.Toleration) {
	t.Helper()
	p := &corev1.Pod{
		ObjectMeta: metav1.ObjectMeta{Name: name, Namespace: "demo"},
		Spec: corev1.PodSpec{
			NodeName: node, Tolerations: tolerations,
			Containers: []corev1.Container{{Name: "c", Image: "registry.local/web:1"}},
		},
	}
	p, err := client.CoreV1().Pods("demo").Create(ctx, p, metav1.CreateOptions{})
	if err != nil {
		t.Fatal(err)
	}
	p.Status.Phase = corev1.PodRunning
	p.Status.Conditions = []corev1.PodCondition{{Type: corev1.PodReady, Status: corev1.ConditionTrue}}
	if _, err := client.CoreV1().Pods("demo").UpdateStatus(ctx, p, metav1.UpdateOptions{}); err != nil {
		t.Fatal(err)
	}
}

func TestNodeLifecycleOnRealServer(t *testing.T) {
	srv, ctx := controllertest.StartServer(t, 50*time.Second, func(c *server.Config) {
		c.NotReadyTolerationSeconds, c.UnreachableTolerationSeconds = toleration, toleration
	})
	client := srv.Client
	controllertest.CreateNamespace(ctx, t, client, "demo")
	doomed := startKubelet(ctx, t, client, "sim-0")
	startKubelet(ctx, t, client, "sim-1")
	// "web" gets the server's default tolerations (1 s); "agent"
	// tolerates an unreachable node forever, like a daemon pod.
	runPod(ctx, t, client, "web", "sim-0")
	runPod(ctx, t, client, "agent", "sim-0", corev1.Toleration{Key: corev1.TaintNodeUnreachable, Operator: corev1.TolerationOpExists, Effect: corev1.TaintEffectNoExecute})
	runPod(ctx, t, client, "other", "sim-1")

	healthy, err := client.CoreV1().Nodes().Get(ctx, "sim-1", metav1.GetOptions{})
	if err != nil {
		t.Fatal(err)
	}

	controllertest.Run(t, srv, nodelifecycle.New, 2, controllertest.Quiet, func(cfg *reconcile.Config) {
		cfg.NodeMonitorGracePeriod, cfg.OrphanQuarantine = grace, time.Second
	})

	poll := func(what string, timeout time.Duration, cond func(context.Context) (bool, error)) {
		t.Helper()
		if err := wait.PollUntilContextTimeout(ctx, 20*time.Millisecond, timeout, true, cond); err != nil {
			t.Fatalf("%s: %v", what, err)
		}
	}
	readyOf := func(ctx context.Context, name string) (*corev1.Node, corev1.ConditionStatus, error) {
		n, err := client.CoreV1().Nodes().Get(ctx, name, metav1.GetOptions{})
		if err != nil {
			return nil, "", err
		}
		for _, c := range n.Status.Conditions {
			if c.Type == corev1.NodeReady {
				return n, c.Status, nil
			}
		}
		return n, corev1.ConditionUnknown, nil
	}

	// The node dies.
	doomed.alive.Store(false)
	died := time.Now()
	poll("dead node marked Unknown", 2*grace+5*time.Second, func(ctx context.Context) (bool, error) {
		_, st, err := readyOf(ctx, "sim-0")
		return st == corev1.ConditionUnknown, err
	})
	if d := time.Since(died); d < grace-500*time.Millisecond {
		t.Errorf("node marked Unknown %v after its last renewal, before the %v grace period", d, grace)
	}
	poll("dead node tainted", 5*time.Second, func(ctx context.Context) (bool, error) {
		n, _, err := readyOf(ctx, "sim-0")
		if err != nil {
			return false, err
		}
		tainted := map[corev1.TaintEffect]bool{}
		for _, taint := range n.Spec.Taints {
			if taint.Key == corev1.TaintNodeUnreachable {
				tainted[taint.Effect] = true
				if taint.Effect == corev1.TaintEffectNoExecute && taint.TimeAdded == nil {
					return false, fmt.Errorf("unreachable NoExecute taint without timeAdded")
				}
			}
		}
		return tainted[corev1.TaintEffectNoExecute] && tainted[corev1.TaintEffectNoSchedule], nil
	})

	// Its pod without a lasting toleration is gone for good (not left
	// terminating) once the toleration expires: within grace + toleration
	// + a little of the node's death.
	poll("evicted pod deleted", toleration*time.Second+3*time.Second, func(ctx context.Context) (bool, error) {
		_, err := client.CoreV1().Pods("demo").Get(ctx, "web", metav1.GetOptions{})
		return apierrors.IsNotFound(err), nil
	})
	if d, limit := time.Since(died), grace+toleration*time.Second+2*time.Second; d > limit {
		t.Errorf("pod evicted %v after the node died, more than %v", d, limit)
	}
	agent, err := client.CoreV1().Pods("demo").Get(ctx, "agent", metav1.GetOptions{})
	if err != nil {
		t.Fatalf("the pod that tolerates the node forever: %v", err)
	}
	if agent.DeletionTimestamp != nil {
		t.Error("the pod that tolerates the node forever is being deleted")
	}
	poll("pods of the dead node marked not ready", 5*time.Second, func(ctx context.Context) (bool, error) {
		p, err := client.CoreV1().Pods("demo").Get(ctx, "agent", metav1.GetOptions{})
		if err != nil {
			return false, err
		}
		for _, c := range p.Status.Conditions {
			if c.Type == corev1.PodReady {
				return c.Status == corev1.ConditionFalse, nil
			}
		}
		return false, nil
	})

	// The healthy node was left alone the whole time: not one write.
	n1, st, err := readyOf(ctx, "sim-1")
	if err != nil || st != corev1.ConditionTrue || len(n1.Spec.Taints) != 0 || n1.ResourceVersion != healthy.ResourceVersion {
		t.Errorf("healthy node: Ready %s, taints %v, resourceVersion %s (was %s), err %v", st, n1.Spec.Taints, n1.ResourceVersion, healthy.ResourceVersion, err)
	}
	if p, err := client.CoreV1().Pods("demo").Get(ctx, "other", metav1.GetOptions{}); err != nil || p.DeletionTimestamp != nil {
		t.Errorf("pod of the healthy node: %v, %v", p, err)
	}

	// Deleting a pod of the dead node finishes at once: no node is there
	// to confirm it.
	if err := client.CoreV1().Pods("demo").Delete(ctx, "agent", metav1.DeleteOptions{}); err != nil {
		t.Fatal(err)
	}
	poll("terminating pod of a dead node removed", 5*time.Second, func(ctx context.Context) (bool, error) {
		_, err := client.CoreV1().Pods("demo").Get(ctx, "agent", metav1.GetOptions{})
		return apierrors.IsNotFound(err), nil
	})

	// The node comes back: it renews its Lease and reports Ready.
	doomed.alive.Store(true)
	n, _, err := readyOf(ctx, "sim-0")
	if err != nil {
		t.Fatal(err)
	}
	doomed.postReady(ctx, t, n)
	poll("recovered node untainted", 5*time.Second, func(ctx context.Context) (bool, error) {
		n, st, err := readyOf(ctx, "sim-0")
		return err == nil && st == corev1.ConditionTrue && len(n.Spec.Taints) == 0, err
	})

	// A pod bound to a node that does not exist is removed after the
	// quarantine (1 s here).
	ghost := &corev1.Pod{
		ObjectMeta: metav1.ObjectMeta{Name: "ghost", Namespace: "demo"},
		Spec:       corev1.PodSpec{NodeName: "no-such-node", Containers: []corev1.Container{{Name: "c", Image: "registry.local/web:1"}}},
	}
	if _, err := client.CoreV1().Pods("demo").Create(ctx, ghost, metav1.CreateOptions{}); err != nil {
		t.Fatal(err)
	}
	poll("pod of a missing node removed", 5*time.Second, func(ctx context.Context) (bool, error) {
		_, err := client.CoreV1().Pods("demo").Get(ctx, "ghost", metav1.GetOptions{})
		return apierrors.IsNotFound(err), nil
	})

	// kubectl taint node sim-1 maintenance:NoExecute: the node is alive,
	// so its pod is deleted gracefully and the node finishes the deletion.
	n1, err = client.CoreV1().Nodes().Get(ctx, "sim-1", metav1.GetOptions{})
	if err != nil {
		t.Fatal(err)
	}
	n1.Spec.Taints = append(n1.Spec.Taints, corev1.Taint{Key: "maintenance", Effect: corev1.TaintEffectNoExecute})
	if _, err := client.CoreV1().Nodes().Update(ctx, n1, metav1.UpdateOptions{}); err != nil {
		t.Fatal(err)
	}
	poll("pod on a NoExecute node being deleted gracefully", 5*time.Second, func(ctx context.Context) (bool, error) {
		p, err := client.CoreV1().Pods("demo").Get(ctx, "other", metav1.GetOptions{})
		if err != nil {
			return false, fmt.Errorf("the pod should wait for its node: %w", err)
		}
		return p.DeletionTimestamp != nil, nil
	})
}
