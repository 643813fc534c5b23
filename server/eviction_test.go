package server_test

import (
	"context"
	"strings"
	"testing"

	corev1 "k8s.io/api/core/v1"
	policyv1 "k8s.io/api/policy/v1"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/util/intstr"
	"k8s.io/client-go/kubernetes"
)

// runningPod creates a pod bound to node n1, Running, with the given
// readiness.
func runningPod(ctx context.Context, t *testing.T, client kubernetes.Interface, name string, ready bool, lbls map[string]string) {
	t.Helper()
	pod, err := client.CoreV1().Pods("default").Create(ctx, &corev1.Pod{
		ObjectMeta: metav1.ObjectMeta{Name: name, Labels: lbls},
		Spec:       corev1.PodSpec{NodeName: "n1", Containers: []corev1.Container{{Name: "c", Image: "busybox"}}},
	}, metav1.CreateOptions{})
	if err != nil {
		t.Fatal(err)
	}
	status := corev1.ConditionFalse
	if ready {
		status = corev1.ConditionTrue
	}
	pod.Status.Phase = corev1.PodRunning
	pod.Status.Conditions = []corev1.PodCondition{{Type: corev1.PodReady, Status: status}}
	if _, err := client.CoreV1().Pods("default").UpdateStatus(ctx, pod, metav1.UpdateOptions{}); err != nil {
		t.Fatal(err)
	}
}

// TestEviction: what kubectl drain relies on. An eviction the budget
// allows deletes the pod and uses the disruption up; the next one is
// refused with 429 and the budget's reason; pods no budget guards, and
// pods that are not running, are deleted at once.
func TestEviction(t *testing.T) {
	ts := start(t, "")
	ctx := context.Background()
	c := ts.client
	evict := func(name string, opts *metav1.DeleteOptions) error {
		return c.CoreV1().Pods("default").EvictV1(ctx, &policyv1.Eviction{
			ObjectMeta: metav1.ObjectMeta{Name: name, Namespace: "default"}, DeleteOptions: opts,
		})
	}
	gone := func(name string) bool {
		p, err := c.CoreV1().Pods("default").Get(ctx, name, metav1.GetOptions{})
		if apierrors.IsNotFound(err) {
			return true
		}
		if err != nil {
			t.Fatal(err)
		}
		return p.DeletionTimestamp != nil
	}
	web := map[string]string{"app": "web"}
	for _, name := range []string{"web-1", "web-2", "web-3"} {
		runningPod(ctx, t, c, name, true, web)
	}
	runningPod(ctx, t, c, "web-unready", false, web)
	runningPod(ctx, t, c, "other", true, map[string]string{"app": "other"})

	minTwo := intstr.FromInt32(2)
	pdb, err := c.PolicyV1().PodDisruptionBudgets("default").Create(ctx, &policyv1.PodDisruptionBudget{
		ObjectMeta: metav1.ObjectMeta{Name: "web"},
		Spec:       policyv1.PodDisruptionBudgetSpec{MinAvailable: &minTwo, Selector: &metav1.LabelSelector{MatchLabels: web}},
	}, metav1.CreateOptions{})
	if err != nil {
		t.Fatal(err)
	}

	// Until the disruption controller has seen the budget, nothing it
	// guards is evicted.
	if err := evict("web-1", nil); !apierrors.IsTooManyRequests(err) || !strings.Contains(err.Error(), "disruption budget") {
		t.Fatalf("evicting under a budget not yet processed: %v, want 429", err)
	}
	// As the disruption controller would record it: 3 healthy of 2.
	pdb.Status = policyv1.PodDisruptionBudgetStatus{ObservedGeneration: pdb.Generation, DisruptionsAllowed: 1, CurrentHealthy: 3, DesiredHealthy: 2, ExpectedPods: 4}
	if _, err := c.PolicyV1().PodDisruptionBudgets("default").UpdateStatus(ctx, pdb, metav1.UpdateOptions{}); err != nil {
		t.Fatal(err)
	}

	if err := evict("web-1", &metav1.DeleteOptions{DryRun: []string{metav1.DryRunAll}}); err != nil || gone("web-1") {
		t.Fatalf("dry-run eviction: %v, pod gone: %v", err, gone("web-1"))
	}
	if err := evict("web-1", nil); err != nil {
		t.Fatalf("evicting web-1 with one disruption allowed: %v", err)
	}
	if !gone("web-1") {
		t.Error("web-1 is still there after its eviction")
	}
	got, err := c.PolicyV1().PodDisruptionBudgets("default").Get(ctx, "web", metav1.GetOptions{})
	if err != nil {
		t.Fatal(err)
	}
	if _, ok := got.Status.DisruptedPods["web-1"]; got.Status.DisruptionsAllowed != 0 || !ok {
		t.Errorf("budget after the eviction: allowed %d, disrupted %v; want 0 and web-1", got.Status.DisruptionsAllowed, got.Status.DisruptedPods)
	}

	err = evict("web-2", nil)
	if !apierrors.IsTooManyRequests(err) {
		t.Fatalf("evicting web-2 with no disruption left: %v, want 429", err)
	}
	if st, ok := err.(apierrors.APIStatus); !ok || len(st.Status().Details.Causes) != 1 ||
		st.Status().Details.Causes[0].Type != policyv1.DisruptionBudgetCause ||
		!strings.Contains(st.Status().Details.Causes[0].Message, "needs 2 healthy pods and has 3 currently") {
		t.Errorf("429 without the budget's reason: %+v", err)
	}
	if gone("web-2") {
		t.Error("a refused eviction deleted web-2")
	}

	// An unready pod disrupts nothing while the budget is met.
	if err := evict("web-unready", nil); err != nil || !gone("web-unready") {
		t.Fatalf("evicting an unready pod of a met budget: %v", err)
	}
	// A pod no budget guards goes at once.
	if err := evict("other", nil); err != nil || !gone("other") {
		t.Fatalf("evicting an unguarded pod: %v", err)
	}
	// Two budgets over one pod: Kubernetes refuses to choose.
	if _, err := c.PolicyV1().PodDisruptionBudgets("default").Create(ctx, &policyv1.PodDisruptionBudget{
		ObjectMeta: metav1.ObjectMeta{Name: "all"},
		Spec:       policyv1.PodDisruptionBudgetSpec{MaxUnavailable: &minTwo, Selector: &metav1.LabelSelector{}},
	}, metav1.CreateOptions{}); err != nil {
		t.Fatal(err)
	}
	if err := evict("web-3", nil); !apierrors.IsInternalError(err) || !strings.Contains(err.Error(), "more than one PodDisruptionBudget") {
		t.Fatalf("evicting a pod under two budgets: %v, want 500", err)
	}

	// Bad requests.
	if code, body := ts.raw(t, "POST", "/api/v1/namespaces/default/pods/web-3/eviction", "application/json",
		[]byte(`{"apiVersion":"policy/v1","kind":"Eviction","metadata":{"name":"web-2"}}`), ""); code != 400 || !strings.Contains(string(body), "does not match") {
		t.Errorf("eviction naming another pod: %d %s", code, body)
	}
	if err := evict("missing", nil); !apierrors.IsNotFound(err) {
		t.Errorf("evicting a missing pod: %v, want 404", err)
	}
	if _, err := c.PolicyV1().PodDisruptionBudgets("default").Create(ctx, &policyv1.PodDisruptionBudget{
		ObjectMeta: metav1.ObjectMeta{Name: "both"},
		Spec:       policyv1.PodDisruptionBudgetSpec{MinAvailable: &minTwo, MaxUnavailable: &minTwo},
	}, metav1.CreateOptions{}); !apierrors.IsInvalid(err) || !strings.Contains(err.Error(), "cannot be both set") {
		t.Errorf("a budget with minAvailable and maxUnavailable: %v, want 422", err)
	}
}
