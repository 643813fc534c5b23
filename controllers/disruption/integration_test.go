package disruption_test

import (
	"context"
	"fmt"
	"testing"
	"time"

	corev1 "k8s.io/api/core/v1"
	policyv1 "k8s.io/api/policy/v1"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	apimeta "k8s.io/apimachinery/pkg/api/meta"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/util/intstr"
	"k8s.io/client-go/kubernetes"

	"github.com/sqlkube/sqlkube/controllers/disruption"
	"github.com/sqlkube/sqlkube/controllers/internal/controllertest"
)

// setReady sets the Ready condition of pod demo/name, as a kubelet would.
func setReady(ctx context.Context, t *testing.T, client kubernetes.Interface, name string, ready bool) {
	t.Helper()
	pod, err := client.CoreV1().Pods("demo").Get(ctx, name, metav1.GetOptions{})
	if err != nil {
		t.Fatal(err)
	}
	status := corev1.ConditionFalse
	if ready {
		status = corev1.ConditionTrue
	}
	pod.Status.Phase = corev1.PodRunning
	pod.Status.Conditions = []corev1.PodCondition{{Type: corev1.PodReady, Status: status, LastTransitionTime: metav1.Now()}}
	if _, err := client.CoreV1().Pods("demo").UpdateStatus(ctx, pod, metav1.UpdateOptions{}); err != nil {
		t.Fatalf("update status of pod %s: %v", name, err)
	}
}

// TestDisruptionOnRealServer: what `kubectl get pdb` shows of a budget
// over three bare pods as they become ready and one stops being ready.
func TestDisruptionOnRealServer(t *testing.T) {
	srv, ctx := controllertest.StartServer(t, 60*time.Second)
	client := srv.Client
	controllertest.CreateNamespace(ctx, t, client, "demo")

	for i := range 3 {
		pod := &corev1.Pod{
			ObjectMeta: metav1.ObjectMeta{Name: fmt.Sprintf("web-%d", i), Namespace: "demo", Labels: map[string]string{"app": "web"}},
			Spec:       corev1.PodSpec{Containers: []corev1.Container{{Name: "web", Image: "registry.local/web:1"}}},
		}
		if _, err := client.CoreV1().Pods("demo").Create(ctx, pod, metav1.CreateOptions{}); err != nil {
			t.Fatalf("create pod %s: %v", pod.Name, err)
		}
		setReady(ctx, t, client, pod.Name, true)
	}
	// A pod the budget does not select.
	if _, err := client.CoreV1().Pods("demo").Create(ctx, &corev1.Pod{
		ObjectMeta: metav1.ObjectMeta{Name: "db-0", Namespace: "demo", Labels: map[string]string{"app": "db"}},
		Spec:       corev1.PodSpec{Containers: []corev1.Container{{Name: "db", Image: "registry.local/db:1"}}},
	}, metav1.CreateOptions{}); err != nil {
		t.Fatal(err)
	}
	setReady(ctx, t, client, "db-0", true)

	two := intstr.FromInt32(2)
	if _, err := client.PolicyV1().PodDisruptionBudgets("demo").Create(ctx, &policyv1.PodDisruptionBudget{
		ObjectMeta: metav1.ObjectMeta{Name: "web", Namespace: "demo"},
		Spec: policyv1.PodDisruptionBudgetSpec{
			MinAvailable: &two,
			Selector:     &metav1.LabelSelector{MatchLabels: map[string]string{"app": "web"}},
		},
	}, metav1.CreateOptions{}); err != nil {
		t.Fatalf("create poddisruptionbudget: %v", err)
	}

	controllertest.Run(t, srv, disruption.New, 2, controllertest.Quiet)

	type view struct {
		expected, desired, healthy, allowed int32
		current                             bool // observedGeneration == generation
		condition                           string
	}
	var last view
	// waitFor waits until the budget's status reads want.
	waitFor := func(what string, want view) *policyv1.PodDisruptionBudget {
		t.Helper()
		var pdb *policyv1.PodDisruptionBudget
		controllertest.Poll(ctx, t, 15*time.Second, what, func() (bool, error) {
			p, err := client.PolicyV1().PodDisruptionBudgets("demo").Get(ctx, "web", metav1.GetOptions{})
			if err != nil {
				return false, err
			}
			pdb = p
			s := p.Status
			last = view{s.ExpectedPods, s.DesiredHealthy, s.CurrentHealthy, s.DisruptionsAllowed, s.ObservedGeneration == p.Generation, ""}
			if c := apimeta.FindStatusCondition(s.Conditions, policyv1.DisruptionAllowedCondition); c != nil {
				last.condition = string(c.Status) + "/" + c.Reason
			}
			return last == want, nil
		})
		return pdb
	}
	defer func() {
		if t.Failed() {
			t.Logf("last status seen: %+v", last)
		}
	}()

	pdb := waitFor("3 healthy pods, 1 disruption allowed", view{expected: 3, desired: 2, healthy: 3, allowed: 1, current: true, condition: "True/SufficientPods"})
	if pdb.Status.ObservedGeneration == 0 {
		t.Errorf("observedGeneration is 0 (generation %d)", pdb.Generation)
	}

	setReady(ctx, t, client, "web-1", false)
	waitFor("no disruption allowed with one pod not ready", view{expected: 3, desired: 2, healthy: 2, allowed: 0, current: true, condition: "False/InsufficientPods"})

	// Lowering minAvailable is a new generation, which the status
	// catches up with.
	one := intstr.FromInt32(1)
	pdb, err := client.PolicyV1().PodDisruptionBudgets("demo").Get(ctx, "web", metav1.GetOptions{})
	if err != nil {
		t.Fatal(err)
	}
	gen := pdb.Generation
	pdb.Spec.MinAvailable = &one
	if pdb, err = client.PolicyV1().PodDisruptionBudgets("demo").Update(ctx, pdb, metav1.UpdateOptions{}); err != nil {
		t.Fatalf("update poddisruptionbudget: %v", err)
	}
	if pdb.Generation <= gen {
		t.Fatalf("generation %d after a spec change, was %d", pdb.Generation, gen)
	}
	pdb = waitFor("minAvailable 1 observed", view{expected: 3, desired: 1, healthy: 2, allowed: 1, current: true, condition: "True/SufficientPods"})
	if pdb.Status.ObservedGeneration != pdb.Generation {
		t.Errorf("observedGeneration %d, generation %d", pdb.Status.ObservedGeneration, pdb.Generation)
	}
}

// TestEvictionOnRealServer: the round trip with the API server's
// pods/eviction subresource that `kubectl drain` relies on. An eviction
// uses up the disruption the controller allowed, a second one is refused
// with 429, and once the evicted pod is gone the controller drops it from
// status.disruptedPods and counts again.
func TestEvictionOnRealServer(t *testing.T) {
	srv, ctx := controllertest.StartServer(t, 60*time.Second)
	client := srv.Client
	controllertest.CreateNamespace(ctx, t, client, "demo")
	for i := range 3 {
		pod := &corev1.Pod{
			ObjectMeta: metav1.ObjectMeta{Name: fmt.Sprintf("web-%d", i), Namespace: "demo", Labels: map[string]string{"app": "web"}},
			Spec:       corev1.PodSpec{Containers: []corev1.Container{{Name: "web", Image: "registry.local/web:1"}}},
		}
		if _, err := client.CoreV1().Pods("demo").Create(ctx, pod, metav1.CreateOptions{}); err != nil {
			t.Fatalf("create pod %s: %v", pod.Name, err)
		}
		setReady(ctx, t, client, pod.Name, true)
	}
	two := intstr.FromInt32(2)
	if _, err := client.PolicyV1().PodDisruptionBudgets("demo").Create(ctx, &policyv1.PodDisruptionBudget{
		ObjectMeta: metav1.ObjectMeta{Name: "web", Namespace: "demo"},
		Spec: policyv1.PodDisruptionBudgetSpec{
			MinAvailable: &two,
			Selector:     &metav1.LabelSelector{MatchLabels: map[string]string{"app": "web"}},
		},
	}, metav1.CreateOptions{}); err != nil {
		t.Fatalf("create poddisruptionbudget: %v", err)
	}
	controllertest.Run(t, srv, disruption.New, 2, controllertest.Quiet)

	get := func() *policyv1.PodDisruptionBudget {
		t.Helper()
		p, err := client.PolicyV1().PodDisruptionBudgets("demo").Get(ctx, "web", metav1.GetOptions{})
		if err != nil {
			t.Fatal(err)
		}
		return p
	}
	controllertest.Poll(ctx, t, 15*time.Second, "one disruption allowed", func() (bool, error) {
		p := get()
		return p.Status.DisruptionsAllowed == 1 && p.Status.ObservedGeneration == p.Generation, nil
	})

	evict := func(name string) error {
		return client.PolicyV1().Evictions("demo").Evict(ctx, &policyv1.Eviction{ObjectMeta: metav1.ObjectMeta{Name: name, Namespace: "demo"}})
	}
	if err := evict("web-0"); err != nil {
		t.Fatalf("evict web-0 with one disruption allowed: %v", err)
	}
	if err := evict("web-1"); !apierrors.IsTooManyRequests(err) {
		t.Fatalf("evict web-1 with no disruption left: %v, want 429 Too Many Requests", err)
	}

	// web-0 (no node, so deleted at once) is gone: 2 healthy of 2
	// expected, nothing in flight.
	controllertest.Poll(ctx, t, 15*time.Second, "evicted pod forgotten", func() (bool, error) {
		s := get().Status
		return len(s.DisruptedPods) == 0 && s.ExpectedPods == 2 && s.CurrentHealthy == 2 && s.DisruptionsAllowed == 0, nil
	})
	if _, err := client.CoreV1().Pods("demo").Get(ctx, "web-0", metav1.GetOptions{}); !apierrors.IsNotFound(err) {
		t.Errorf("evicted pod web-0: %v, want NotFound", err)
	}
}
