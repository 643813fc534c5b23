package server_test

import (
	"context"
	"net/http"
	"testing"

	appsv1 "k8s.io/api/apps/v1"
	corev1 "k8s.io/api/core/v1"
	policyv1 "k8s.io/api/policy/v1"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/types"
	"k8s.io/apimachinery/pkg/util/intstr"
	"k8s.io/client-go/kubernetes"
	"k8s.io/client-go/rest"

	"github.com/sqlkube/sqlkube/internal/testserver"
)

// protoClient is a typed client that sends protobuf, as client-go's
// controllers (and kube-controller-manager, kube-scheduler) do.
func protoClient(t *testing.T, cfg *rest.Config) kubernetes.Interface {
	t.Helper()
	cfg = rest.CopyConfig(cfg)
	cfg.ContentType = "application/vnd.kubernetes.protobuf"
	cfg.AcceptContentTypes = "application/vnd.kubernetes.protobuf,application/json"
	return kubernetes.NewForConfigOrDie(cfg)
}

func TestProtobufPodDisruptionBudget(t *testing.T) {
	ts := testserver.Start(t)
	ctx := context.Background()
	pdbs := protoClient(t, ts.Config).PolicyV1().PodDisruptionBudgets("default")

	one := intstr.FromInt32(1)
	pdb, err := pdbs.Create(ctx, &policyv1.PodDisruptionBudget{
		ObjectMeta: metav1.ObjectMeta{Name: "web"},
		Spec:       policyv1.PodDisruptionBudgetSpec{MaxUnavailable: &one, Selector: &metav1.LabelSelector{MatchLabels: map[string]string{"app": "web"}}},
	}, metav1.CreateOptions{})
	if err != nil {
		t.Fatalf("create over protobuf: %v", err)
	}
	if pdb.Spec.MaxUnavailable.IntValue() != 1 {
		t.Fatalf("created budget: %+v", pdb.Spec)
	}
	pdb.Labels = map[string]string{"team": "a"}
	if _, err := pdbs.Update(ctx, pdb, metav1.UpdateOptions{}); err != nil {
		t.Fatalf("update over protobuf: %v", err)
	}
	// client-go sends DeleteOptions as policy/v1 DeleteOptions.
	if err := pdbs.Delete(ctx, "web", metav1.DeleteOptions{}); err != nil {
		t.Fatalf("delete over protobuf: %v", err)
	}
	if _, err := pdbs.Get(ctx, "web", metav1.GetOptions{}); !apierrors.IsNotFound(err) {
		t.Fatalf("after the delete: %v, want not found", err)
	}
	if err := pdbs.DeleteCollection(ctx, metav1.DeleteOptions{}, metav1.ListOptions{}); err != nil {
		t.Fatalf("delete collection over protobuf: %v", err)
	}
}

func TestProtobufEviction(t *testing.T) {
	ts := testserver.Start(t)
	ctx := context.Background()
	proto := protoClient(t, ts.Config)
	runningPod(ctx, t, ts.Client, "web-1", true, map[string]string{"app": "web"})
	runningPod(ctx, t, ts.Client, "web-2", true, map[string]string{"app": "web"})
	evict := func(name string, opts *metav1.DeleteOptions) error {
		return proto.CoreV1().Pods("default").EvictV1(ctx, &policyv1.Eviction{
			ObjectMeta: metav1.ObjectMeta{Name: name, Namespace: "default"}, DeleteOptions: opts,
		})
	}
	exists := func(name string) bool {
		p, err := ts.Client.CoreV1().Pods("default").Get(ctx, name, metav1.GetOptions{})
		if apierrors.IsNotFound(err) {
			return false
		}
		if err != nil {
			t.Fatal(err)
		}
		return p.DeletionTimestamp == nil
	}

	// The DeleteOptions inside the protobuf Eviction are read: a dry run
	// leaves the pod.
	if err := evict("web-1", &metav1.DeleteOptions{DryRun: []string{metav1.DryRunAll}}); err != nil {
		t.Fatalf("dry-run eviction over protobuf: %v", err)
	}
	if !exists("web-1") {
		t.Fatal("a dry-run eviction removed the pod")
	}
	if err := evict("web-1", nil); err != nil {
		t.Fatalf("eviction over protobuf: %v", err)
	}
	if exists("web-1") {
		t.Fatal("web-1 is still there after its eviction")
	}

	// A budget created and refusing over protobuf too.
	zero := intstr.FromInt32(0)
	if _, err := proto.PolicyV1().PodDisruptionBudgets("default").Create(ctx, &policyv1.PodDisruptionBudget{
		ObjectMeta: metav1.ObjectMeta{Name: "web"},
		Spec:       policyv1.PodDisruptionBudgetSpec{MaxUnavailable: &zero, Selector: &metav1.LabelSelector{MatchLabels: map[string]string{"app": "web"}}},
	}, metav1.CreateOptions{}); err != nil {
		t.Fatal(err)
	}
	if err := evict("web-2", nil); !apierrors.IsTooManyRequests(err) {
		t.Fatalf("eviction the budget forbids: %v, want 429", err)
	}
	if !exists("web-2") {
		t.Fatal("a refused eviction removed the pod")
	}
	// A body that is neither JSON nor an Eviction is a 400, not a 500.
	req := proto.CoreV1().RESTClient().Post().Namespace("default").Resource("pods").Name("web-2").SubResource("eviction").
		SetHeader("Content-Type", "application/vnd.kubernetes.protobuf").Body([]byte("k8s\x00garbage"))
	if err := req.Do(ctx).Error(); !apierrors.IsBadRequest(err) {
		t.Fatalf("a broken protobuf eviction: %v, want 400", err)
	}
}

// TestServerSideApplyPodDisruptionBudget: kubectl apply --server-side of
// a PodDisruptionBudget, as YAML.
func TestServerSideApplyPodDisruptionBudget(t *testing.T) {
	ts := start(t, "")
	ctx := context.Background()
	const path = "/apis/policy/v1/namespaces/default/poddisruptionbudgets/web?fieldManager=kubectl"
	apply := func(minAvailable string) (int, []byte) {
		return ts.raw(t, http.MethodPatch, path, string(types.ApplyPatchType), []byte(`apiVersion: policy/v1
kind: PodDisruptionBudget
metadata:
  name: web
spec:
  minAvailable: `+minAvailable+`
  selector:
    matchLabels: {app: web}
`), "")
	}
	if code, body := apply("2"); code != http.StatusCreated && code != http.StatusOK {
		t.Fatalf("apply of a new PodDisruptionBudget: %d %s", code, body)
	}
	if code, body := apply(`"50%"`); code != http.StatusOK {
		t.Fatalf("re-apply of the PodDisruptionBudget: %d %s", code, body)
	}
	pdb, err := ts.client.PolicyV1().PodDisruptionBudgets("default").Get(ctx, "web", metav1.GetOptions{})
	if err != nil {
		t.Fatal(err)
	}
	if pdb.Spec.MinAvailable == nil || pdb.Spec.MinAvailable.String() != "50%" || pdb.Spec.Selector.MatchLabels["app"] != "web" {
		t.Fatalf("applied budget: %+v", pdb.Spec)
	}
	if m := managers(pdb.ManagedFields); len(m) != 1 || m["kubectl"] != metav1.ManagedFieldsOperationApply {
		t.Fatalf("managers of the budget: %v", m)
	}
	owned := ownedFields(t, pdb.ManagedFields, "kubectl", metav1.ManagedFieldsOperationApply)
	if spec, _ := owned["f:spec"].(map[string]any); spec["f:minAvailable"] == nil || spec["f:selector"] == nil {
		t.Fatalf("kubectl owns %v, want spec.minAvailable and spec.selector", owned)
	}
	// The status the disruption controller writes is not the applier's.
	pdb.Status = policyv1.PodDisruptionBudgetStatus{ObservedGeneration: pdb.Generation, DesiredHealthy: 1}
	if _, err := ts.client.PolicyV1().PodDisruptionBudgets("default").UpdateStatus(ctx, pdb, metav1.UpdateOptions{FieldManager: "disruption-controller"}); err != nil {
		t.Fatal(err)
	}
	if code, body := apply(`"50%"`); code != http.StatusOK {
		t.Fatalf("re-apply after a status update: %d %s", code, body)
	}
}

// TestProtobufScale: a protobuf client (an autoscaler) reading and
// writing the scale subresource.
func TestProtobufScale(t *testing.T) {
	ts := testserver.Start(t)
	ctx := context.Background()
	proto := protoClient(t, ts.Config)
	deploys := proto.AppsV1().Deployments("default")
	two := int32(2)
	if _, err := deploys.Create(ctx, &appsv1.Deployment{
		ObjectMeta: metav1.ObjectMeta{Name: "web"},
		Spec: appsv1.DeploymentSpec{
			Replicas: &two,
			Selector: &metav1.LabelSelector{MatchLabels: map[string]string{"app": "web"}},
			Template: corev1.PodTemplateSpec{
				ObjectMeta: metav1.ObjectMeta{Labels: map[string]string{"app": "web"}},
				Spec:       corev1.PodSpec{Containers: []corev1.Container{{Name: "web", Image: "registry.local/web:1"}}},
			},
		},
	}, metav1.CreateOptions{}); err != nil {
		t.Fatal(err)
	}
	sc, err := deploys.GetScale(ctx, "web", metav1.GetOptions{})
	if err != nil {
		t.Fatalf("get scale over protobuf: %v", err)
	}
	sc.Spec.Replicas = 5
	if sc, err = deploys.UpdateScale(ctx, "web", sc, metav1.UpdateOptions{}); err != nil {
		t.Fatalf("update scale over protobuf: %v", err)
	}
	if sc.Spec.Replicas != 5 {
		t.Fatalf("scale after the update: %d", sc.Spec.Replicas)
	}
	if d, err := deploys.Get(ctx, "web", metav1.GetOptions{}); err != nil || *d.Spec.Replicas != 5 {
		t.Fatalf("deployment after the scale update: %v %v", d, err)
	}
}
