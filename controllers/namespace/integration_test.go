package namespace

import (
	"fmt"
	"testing"
	"time"

	corev1 "k8s.io/api/core/v1"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"

	"github.com/sqlkube/sqlkube/controllers/internal/controllertest"
)

// TestIntegration deletes a namespace holding configmaps, a secret, an
// unbound pod and a pod bound to a node against a real API server: the
// content goes (the bound pod once its "node" finishes it), then the
// namespace.
func TestIntegration(t *testing.T) {
	srv, ctx := controllertest.StartServer(t, 50*time.Second)
	cs := srv.Client
	controllertest.Run(t, srv, New, 2)

	const ns = "doomed"
	if _, err := cs.CoreV1().Namespaces().Create(ctx, &corev1.Namespace{ObjectMeta: metav1.ObjectMeta{Name: ns}}, metav1.CreateOptions{}); err != nil {
		t.Fatal(err)
	}
	for i := range 3 {
		cm := &corev1.ConfigMap{ObjectMeta: metav1.ObjectMeta{Name: fmt.Sprintf("cm-%d", i)}, Data: map[string]string{"k": "v"}}
		if _, err := cs.CoreV1().ConfigMaps(ns).Create(ctx, cm, metav1.CreateOptions{}); err != nil {
			t.Fatal(err)
		}
	}
	if _, err := cs.CoreV1().Secrets(ns).Create(ctx, &corev1.Secret{ObjectMeta: metav1.ObjectMeta{Name: "s"}}, metav1.CreateOptions{}); err != nil {
		t.Fatal(err)
	}
	for _, node := range []string{"", "node-a"} {
		p := &corev1.Pod{
			ObjectMeta: metav1.ObjectMeta{Name: "pod" + node},
			Spec:       corev1.PodSpec{NodeName: node, Containers: []corev1.Container{{Name: "c", Image: "busybox"}}},
		}
		if _, err := cs.CoreV1().Pods(ns).Create(ctx, p, metav1.CreateOptions{}); err != nil {
			t.Fatal(err)
		}
	}
	// Another namespace's content is not touched.
	if _, err := cs.CoreV1().ConfigMaps("default").Create(ctx, &corev1.ConfigMap{ObjectMeta: metav1.ObjectMeta{Name: "keep"}}, metav1.CreateOptions{}); err != nil {
		t.Fatal(err)
	}

	if err := cs.CoreV1().Namespaces().Delete(ctx, ns, metav1.DeleteOptions{}); err != nil {
		t.Fatal(err)
	}
	// The bound pod is marked; the namespace waits for it and says so.
	controllertest.Poll(ctx, t, 20*time.Second, "the bound pod marked and the namespace reporting it", func() (bool, error) {
		p, err := cs.CoreV1().Pods(ns).Get(ctx, "podnode-a", metav1.GetOptions{})
		if err != nil || p.DeletionTimestamp == nil {
			return false, nil
		}
		n, err := cs.CoreV1().Namespaces().Get(ctx, ns, metav1.GetOptions{})
		if err != nil {
			return false, err
		}
		for _, c := range n.Status.Conditions {
			if c.Type == corev1.NamespaceContentRemaining && c.Status == corev1.ConditionTrue {
				return true, nil
			}
		}
		return false, nil
	})
	cms, err := cs.CoreV1().ConfigMaps(ns).List(ctx, metav1.ListOptions{})
	if err != nil || len(cms.Items) != 0 {
		t.Fatalf("configmaps left while the pod terminates: %d, %v", len(cms.Items), err)
	}
	if _, err := cs.CoreV1().Pods(ns).Get(ctx, "pod", metav1.GetOptions{}); !apierrors.IsNotFound(err) {
		t.Fatalf("unbound pod: %v, want it gone at once", err)
	}
	// The node finishes the pod.
	if err := cs.CoreV1().Pods(ns).Delete(ctx, "podnode-a", metav1.DeleteOptions{GracePeriodSeconds: new(int64(0))}); err != nil {
		t.Fatal(err)
	}
	controllertest.Poll(ctx, t, 20*time.Second, "the namespace gone", func() (bool, error) {
		_, err := cs.CoreV1().Namespaces().Get(ctx, ns, metav1.GetOptions{})
		return apierrors.IsNotFound(err), nil
	})
	if _, err := cs.CoreV1().ConfigMaps("default").Get(ctx, "keep", metav1.GetOptions{}); err != nil {
		t.Errorf("other namespace's configmap: %v", err)
	}
}
