package garbagecollector

import (
	"context"
	"fmt"
	"slices"
	"testing"
	"time"

	appsv1 "k8s.io/api/apps/v1"
	corev1 "k8s.io/api/core/v1"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/client-go/kubernetes"

	"github.com/sqlkube/sqlkube/controllers/internal/controllertest"
)

// TestIntegration deletes owners with each propagation policy against a
// real API server and checks what happens to their dependents. The
// ReplicaSet and pods are made by hand, as their controllers would.
func TestIntegration(t *testing.T) {
	srv, ctx := controllertest.StartServer(t, 55*time.Second)
	cs := srv.Client
	controllertest.Run(t, srv, New, 4)

	t.Run("background", func(t *testing.T) {
		d, rs, pods := tree(ctx, t, cs, "bg", "")
		if err := cs.AppsV1().Deployments("default").Delete(ctx, d.Name, metav1.DeleteOptions{}); err != nil {
			t.Fatal(err)
		}
		poll(ctx, t, "ReplicaSet and pods gone", func() bool { return gone(ctx, cs, rs, pods) })
	})

	t.Run("foreground", func(t *testing.T) {
		d, rs, pods := tree(ctx, t, cs, "fg", "node-a")
		fg := metav1.DeletePropagationForeground
		if err := cs.AppsV1().Deployments("default").Delete(ctx, d.Name, metav1.DeleteOptions{PropagationPolicy: &fg}); err != nil {
			t.Fatal(err)
		}
		// The pods are bound: deleting marks them and their node finishes
		// them. Until then the ReplicaSet and the Deployment wait.
		poll(ctx, t, "pods terminating", func() bool {
			for _, p := range pods {
				got, err := cs.CoreV1().Pods("default").Get(ctx, p.Name, metav1.GetOptions{})
				if err != nil || got.DeletionTimestamp == nil {
					return false
				}
			}
			return true
		})
		for _, check := range []func() (metav1.Object, error){
			func() (metav1.Object, error) {
				return cs.AppsV1().Deployments("default").Get(ctx, d.Name, metav1.GetOptions{})
			},
			func() (metav1.Object, error) {
				return cs.AppsV1().ReplicaSets("default").Get(ctx, rs.Name, metav1.GetOptions{})
			},
		} {
			o, err := check()
			if err != nil {
				t.Fatalf("owner gone before its dependents: %v", err)
			}
			if o.GetDeletionTimestamp() == nil || !slices.Contains(o.GetFinalizers(), metav1.FinalizerDeleteDependents) {
				t.Errorf("%s: deletionTimestamp %v, finalizers %v; want waiting in the foreground", o.GetName(), o.GetDeletionTimestamp(), o.GetFinalizers())
			}
		}
		for _, p := range pods { // the node finishes them
			if err := cs.CoreV1().Pods("default").Delete(ctx, p.Name, metav1.DeleteOptions{GracePeriodSeconds: new(int64(0))}); err != nil {
				t.Fatal(err)
			}
		}
		poll(ctx, t, "Deployment, ReplicaSet and pods gone", func() bool {
			_, err := cs.AppsV1().Deployments("default").Get(ctx, d.Name, metav1.GetOptions{})
			return apierrors.IsNotFound(err) && gone(ctx, cs, rs, pods)
		})
	})

	t.Run("orphan", func(t *testing.T) {
		_, rs, pods := tree(ctx, t, cs, "or", "")
		orphan := metav1.DeletePropagationOrphan
		if err := cs.AppsV1().ReplicaSets("default").Delete(ctx, rs.Name, metav1.DeleteOptions{PropagationPolicy: &orphan}); err != nil {
			t.Fatal(err)
		}
		poll(ctx, t, "ReplicaSet gone, pods without owner", func() bool {
			if _, err := cs.AppsV1().ReplicaSets("default").Get(ctx, rs.Name, metav1.GetOptions{}); !apierrors.IsNotFound(err) {
				return false
			}
			for _, p := range pods {
				got, err := cs.CoreV1().Pods("default").Get(ctx, p.Name, metav1.GetOptions{})
				if err != nil || len(got.OwnerReferences) != 0 {
					return false
				}
			}
			return true
		})
	})

	t.Run("same name, other uid", func(t *testing.T) {
		// A pod that names a ConfigMap owner which was replaced (same
		// name, new UID) is collected; a pod whose owner exists is not.
		cm, err := cs.CoreV1().ConfigMaps("default").Create(ctx, &corev1.ConfigMap{ObjectMeta: metav1.ObjectMeta{Name: "owner"}}, metav1.CreateOptions{})
		if err != nil {
			t.Fatal(err)
		}
		kept := pod(ctx, t, cs, "kept", metav1.OwnerReference{APIVersion: "v1", Kind: "ConfigMap", Name: "owner", UID: cm.UID}, "")
		stale := pod(ctx, t, cs, "stale", metav1.OwnerReference{APIVersion: "v1", Kind: "ConfigMap", Name: "owner", UID: "not-this-one"}, "")
		poll(ctx, t, "the pod of the replaced owner gone", func() bool { return gone(ctx, cs, nil, []*corev1.Pod{stale}) })
		if _, err := cs.CoreV1().Pods("default").Get(ctx, kept.Name, metav1.GetOptions{}); err != nil {
			t.Errorf("pod with a live owner: %v", err)
		}
	})
}

// tree makes a Deployment owning a ReplicaSet owning two pods on node (""
// for unbound), as their controllers do (controller references that block
// deletion).
func tree(ctx context.Context, t *testing.T, cs kubernetes.Interface, name, node string) (*appsv1.Deployment, *appsv1.ReplicaSet, []*corev1.Pod) {
	t.Helper()
	labels := map[string]string{"app": name}
	tmpl := corev1.PodTemplateSpec{
		ObjectMeta: metav1.ObjectMeta{Labels: labels},
		Spec:       corev1.PodSpec{Containers: []corev1.Container{{Name: "c", Image: "nginx"}}},
	}
	d, err := cs.AppsV1().Deployments("default").Create(ctx, &appsv1.Deployment{
		ObjectMeta: metav1.ObjectMeta{Name: name},
		Spec:       appsv1.DeploymentSpec{Selector: &metav1.LabelSelector{MatchLabels: labels}, Template: tmpl},
	}, metav1.CreateOptions{})
	if err != nil {
		t.Fatal(err)
	}
	rs, err := cs.AppsV1().ReplicaSets("default").Create(ctx, &appsv1.ReplicaSet{
		ObjectMeta: metav1.ObjectMeta{Name: name + "-rs", OwnerReferences: []metav1.OwnerReference{*metav1.NewControllerRef(d, appsv1.SchemeGroupVersion.WithKind("Deployment"))}},
		Spec:       appsv1.ReplicaSetSpec{Selector: &metav1.LabelSelector{MatchLabels: labels}, Template: tmpl},
	}, metav1.CreateOptions{})
	if err != nil {
		t.Fatal(err)
	}
	var pods []*corev1.Pod
	for i := range 2 {
		pods = append(pods, pod(ctx, t, cs, fmt.Sprintf("%s-%d", name, i), *metav1.NewControllerRef(rs, appsv1.SchemeGroupVersion.WithKind("ReplicaSet")), node))
	}
	return d, rs, pods
}

func pod(ctx context.Context, t *testing.T, cs kubernetes.Interface, name string, owner metav1.OwnerReference, node string) *corev1.Pod {
	t.Helper()
	p, err := cs.CoreV1().Pods("default").Create(ctx, &corev1.Pod{
		ObjectMeta: metav1.ObjectMeta{Name: name, OwnerReferences: []metav1.OwnerReference{owner}},
		Spec:       corev1.PodSpec{NodeName: node, Containers: []corev1.Container{{Name: "c", Image: "nginx"}}},
	}, metav1.CreateOptions{})
	if err != nil {
		t.Fatal(err)
	}
	return p
}

// gone reports whether rs (if any) and pods no longer exist.
func gone(ctx context.Context, cs kubernetes.Interface, rs *appsv1.ReplicaSet, pods []*corev1.Pod) bool {
	if rs != nil {
		if _, err := cs.AppsV1().ReplicaSets("default").Get(ctx, rs.Name, metav1.GetOptions{}); !apierrors.IsNotFound(err) {
			return false
		}
	}
	for _, p := range pods {
		if _, err := cs.CoreV1().Pods("default").Get(ctx, p.Name, metav1.GetOptions{}); !apierrors.IsNotFound(err) {
			return false
		}
	}
	return true
}

// poll waits up to 15 s for cond, failing the test if it does not hold.
func poll(ctx context.Context, t *testing.T, what string, cond func() bool) {
	t.Helper()
	controllertest.Poll(ctx, t, 15*time.Second, what, func() (bool, error) { return cond(), nil })
}
