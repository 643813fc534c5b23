package server_test

import (
	"context"
	"net/http"
	"strings"
	"testing"

	appsv1 "k8s.io/api/apps/v1"
	corev1 "k8s.io/api/core/v1"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/types"
	appsv1ac "k8s.io/client-go/applyconfigurations/apps/v1"
	corev1ac "k8s.io/client-go/applyconfigurations/core/v1"
	metav1ac "k8s.io/client-go/applyconfigurations/meta/v1"
)

// webApply is the configuration a manager applies: a Deployment with the
// given replicas and labels on its metadata.
func webApply(replicas int32, labels map[string]string) *appsv1ac.DeploymentApplyConfiguration {
	return appsv1ac.Deployment("web", "default").
		WithLabels(labels).
		WithSpec(appsv1ac.DeploymentSpec().
			WithReplicas(replicas).
			WithSelector(metav1ac.LabelSelector().WithMatchLabels(map[string]string{"app": "web"})).
			WithTemplate(corev1ac.PodTemplateSpec().
				WithLabels(map[string]string{"app": "web"}).
				WithSpec(corev1ac.PodSpec().WithContainers(corev1ac.Container().
					WithName("web").WithImage("registry.local/web:1").
					WithPorts(corev1ac.ContainerPort().WithContainerPort(8080))))))
}

// managers returns each manager of obj's fields with its operation.
func managers(entries []metav1.ManagedFieldsEntry) map[string]metav1.ManagedFieldsOperationType {
	out := map[string]metav1.ManagedFieldsOperationType{}
	for _, e := range entries {
		out[e.Manager] = e.Operation
	}
	return out
}

func TestServerSideApply(t *testing.T) {
	ts := start(t, "")
	ctx := context.Background()
	deploys := ts.client.AppsV1().Deployments("default")

	// An apply creates the object, defaulted, owned by its manager.
	d, err := deploys.Apply(ctx, webApply(3, map[string]string{"app": "web", "tier": "front"}), metav1.ApplyOptions{FieldManager: "alice"})
	if err != nil {
		t.Fatalf("first apply: %v", err)
	}
	if *d.Spec.Replicas != 3 || d.Spec.Strategy.Type != appsv1.RollingUpdateDeploymentStrategyType || d.Generation != 1 {
		t.Fatalf("created deployment: replicas %d, strategy %q, generation %d", *d.Spec.Replicas, d.Spec.Strategy.Type, d.Generation)
	}
	if m := managers(d.ManagedFields); len(m) != 1 || m["alice"] != metav1.ManagedFieldsOperationApply {
		t.Fatalf("managers after create: %v", m)
	}

	// The same configuration again changes nothing, not even the revision.
	again, err := deploys.Apply(ctx, webApply(3, map[string]string{"app": "web", "tier": "front"}), metav1.ApplyOptions{FieldManager: "alice"})
	if err != nil {
		t.Fatal(err)
	}
	if again.ResourceVersion != d.ResourceVersion {
		t.Errorf("a repeated apply wrote a revision: %s, then %s", d.ResourceVersion, again.ResourceVersion)
	}

	// Another manager setting alice's field is a conflict naming both,
	// and changes nothing.
	_, err = deploys.Apply(ctx, webApply(5, map[string]string{"app": "web"}), metav1.ApplyOptions{FieldManager: "bob"})
	if !apierrors.IsConflict(err) || !strings.Contains(err.Error(), `conflict with "alice"`) || !strings.Contains(err.Error(), ".spec.replicas") {
		t.Fatalf("apply over another manager's field: got %v, want a conflict on .spec.replicas with alice", err)
	}
	if cur, _ := deploys.Get(ctx, "web", metav1.GetOptions{}); *cur.Spec.Replicas != 3 || cur.ResourceVersion != d.ResourceVersion {
		t.Fatalf("a conflicting apply changed the object: replicas %d, resourceVersion %s", *cur.Spec.Replicas, cur.ResourceVersion)
	}

	// Forced, bob takes replicas over; the other fields stay alice's too.
	d, err = deploys.Apply(ctx, webApply(5, map[string]string{"app": "web"}), metav1.ApplyOptions{FieldManager: "bob", Force: true})
	if err != nil {
		t.Fatalf("forced apply: %v", err)
	}
	if *d.Spec.Replicas != 5 || d.Labels["tier"] != "front" {
		t.Fatalf("after bob's forced apply: replicas %d, labels %v", *d.Spec.Replicas, d.Labels)
	}

	// A field alice stops applying, and nobody else manages, is removed.
	d, err = deploys.Apply(ctx, webApply(5, map[string]string{"app": "web"}), metav1.ApplyOptions{FieldManager: "alice", Force: true})
	if err != nil {
		t.Fatal(err)
	}
	if _, ok := d.Labels["tier"]; ok {
		t.Fatalf("the label alice no longer applies is still there: %v", d.Labels)
	}

	// An update is tracked once the object is managed: carol's change of
	// replicas makes alice's next apply of it a conflict with carol.
	seven := int32(7)
	d.Spec.Replicas = &seven
	if _, err := deploys.Update(ctx, d, metav1.UpdateOptions{FieldManager: "carol"}); err != nil {
		t.Fatal(err)
	}
	_, err = deploys.Apply(ctx, webApply(5, map[string]string{"app": "web"}), metav1.ApplyOptions{FieldManager: "alice"})
	if !apierrors.IsConflict(err) || !strings.Contains(err.Error(), `conflict with "carol"`) {
		t.Fatalf("apply after carol's update: got %v, want a conflict with carol", err)
	}
	cur, err := deploys.Get(ctx, "web", metav1.GetOptions{})
	if err != nil {
		t.Fatal(err)
	}
	if m := managers(cur.ManagedFields); m["carol"] != metav1.ManagedFieldsOperationUpdate || m["alice"] != metav1.ManagedFieldsOperationApply {
		t.Fatalf("managers after carol's update: %v", m)
	}

	// A merge patch is tracked too, under the user agent's product when
	// no fieldManager is given.
	code, body := ts.raw(t, http.MethodPatch, "/apis/apps/v1/namespaces/default/deployments/web", string(types.MergePatchType), []byte(`{"metadata":{"annotations":{"note":"x"}}}`), "")
	if code != http.StatusOK {
		t.Fatalf("merge patch: %d %s", code, body)
	}
	cur, _ = deploys.Get(ctx, "web", metav1.GetOptions{})
	if m := managers(cur.ManagedFields); m["Go-http-client"] != metav1.ManagedFieldsOperationUpdate {
		t.Fatalf("managers after a patch from Go's HTTP client: %v", m)
	}
}

func TestServerSideApplyToUnmanagedObject(t *testing.T) {
	ts := start(t, "")
	ctx := context.Background()
	cms := ts.client.CoreV1().ConfigMaps("default")
	created, err := cms.Create(ctx, &corev1.ConfigMap{ObjectMeta: metav1.ObjectMeta{Name: "settings"}, Data: map[string]string{"a": "1"}}, metav1.CreateOptions{FieldManager: "creator"})
	if err != nil {
		t.Fatal(err)
	}
	if len(created.ManagedFields) != 0 {
		t.Fatalf("a create was tracked: %v", created.ManagedFields)
	}
	// The first apply gives the fields it finds to before-first-apply,
	// so it merges with them instead of removing them.
	cm, err := cms.Apply(ctx, corev1ac.ConfigMap("settings", "default").WithData(map[string]string{"b": "2"}), metav1.ApplyOptions{FieldManager: "tool"})
	if err != nil {
		t.Fatal(err)
	}
	if cm.Data["a"] != "1" || cm.Data["b"] != "2" {
		t.Fatalf("data after the first apply: %v", cm.Data)
	}
	if m := managers(cm.ManagedFields); m["before-first-apply"] != metav1.ManagedFieldsOperationUpdate || m["tool"] != metav1.ManagedFieldsOperationApply {
		t.Fatalf("managers after the first apply: %v", m)
	}
}

func TestServerSideApplyBadRequests(t *testing.T) {
	ts := start(t, "")
	const path = "/api/v1/namespaces/default/configmaps/c"
	apply := string(types.ApplyPatchType)
	for _, tc := range []struct {
		name, query, body string
		code              int
		want              string
	}{
		// kube-apiserver answers this one with 422 (PatchOptions validation).
		{"no field manager", "", `{"apiVersion":"v1","kind":"ConfigMap","metadata":{"name":"c"}}`, 422, "is required for apply patch"},
		{"wrong kind", "?fieldManager=m", `{"apiVersion":"v1","kind":"Secret","metadata":{"name":"c"}}`, 400, "Secret"},
		{"name mismatch", "?fieldManager=m", `{"apiVersion":"v1","kind":"ConfigMap","metadata":{"name":"d"}}`, 400, "does not match"},
		{"unknown field", "?fieldManager=m&fieldValidation=Strict", `{"apiVersion":"v1","kind":"ConfigMap","metadata":{"name":"c"},"dataz":{}}`, 400, `unknown field \"dataz\"`},
		{"not YAML", "?fieldManager=m", "a: [", 400, "not valid YAML"},
		{"managed fields in the configuration", "?fieldManager=m", `{"apiVersion":"v1","kind":"ConfigMap","metadata":{"name":"c","managedFields":[{"manager":"x"}]}}`, 400, "managed"},
		{"invalid object", "?fieldManager=m", "apiVersion: v1\nkind: ConfigMap\nmetadata: {name: c, labels: {'bad key!': x}}\n", 422, "metadata.labels"},
		{"namespace mismatch", "?fieldManager=m", `{"apiVersion":"v1","kind":"ConfigMap","metadata":{"name":"c","namespace":"nosuch"}}`, 400, "does not match"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			code, body := ts.raw(t, http.MethodPatch, path+tc.query, apply, []byte(tc.body), "")
			if code != tc.code || !strings.Contains(string(body), tc.want) {
				t.Fatalf("got %d %s, want %d with %q", code, body, tc.code, tc.want)
			}
		})
	}
	if _, err := ts.client.CoreV1().ConfigMaps("default").Get(context.Background(), "c", metav1.GetOptions{}); !apierrors.IsNotFound(err) {
		t.Fatalf("a refused apply left an object behind: %v", err)
	}
	// A namespace that does not exist is a 404, as for a create.
	code, body := ts.raw(t, http.MethodPatch, "/api/v1/namespaces/nosuch/configmaps/c?fieldManager=m", apply, []byte(`{"apiVersion":"v1","kind":"ConfigMap","metadata":{"name":"c"}}`), "")
	if code != http.StatusNotFound || !strings.Contains(string(body), `namespaces \"nosuch\" not found`) {
		t.Fatalf("apply into a missing namespace: %d %s", code, body)
	}
}
