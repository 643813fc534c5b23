package join_test

import (
	"context"
	"testing"
	"time"

	coordinationv1 "k8s.io/api/coordination/v1"
	corev1 "k8s.io/api/core/v1"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/client-go/kubernetes"
	"k8s.io/client-go/tools/clientcmd"

	"github.com/sqlkube/sqlkube/node/join"
)

// TestJoinedNodeDoesItsJob: with the credentials Join gets, a node agent
// can do what it must (its Node and Lease, its pods and their status,
// events, the secrets its pods use, services and endpoints) and no more
// (other nodes' pods, secrets its pods do not use).
func TestJoinedNodeDoesItsJob(t *testing.T) {
	f := newFixture(t)
	ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
	defer cancel()
	kubeconfig, _, err := join.Join(ctx, f.config(t, t.TempDir()))
	if err != nil {
		t.Fatal(err)
	}
	rc, err := clientcmd.BuildConfigFromFlags("", kubeconfig)
	if err != nil {
		t.Fatal(err)
	}
	node := kubernetes.NewForConfigOrDie(rc)
	admin := f.ts.Client

	for _, s := range []string{"used", "unused"} {
		if _, err := admin.CoreV1().Secrets("default").Create(ctx, &corev1.Secret{ObjectMeta: metav1.ObjectMeta{Name: s}}, metav1.CreateOptions{}); err != nil {
			t.Fatal(err)
		}
	}
	mkPod := func(name, nodeName string) {
		p := &corev1.Pod{ObjectMeta: metav1.ObjectMeta{Name: name, Namespace: "default"}, Spec: corev1.PodSpec{
			NodeName:   nodeName,
			Containers: []corev1.Container{{Name: "c", Image: "busybox"}},
			Volumes:    []corev1.Volume{{Name: "s", VolumeSource: corev1.VolumeSource{Secret: &corev1.SecretVolumeSource{SecretName: "used"}}}},
		}}
		if nodeName == "n2" {
			p.Spec.Volumes[0].Secret.SecretName = "unused"
		}
		if _, err := admin.CoreV1().Pods("default").Create(ctx, p, metav1.CreateOptions{}); err != nil {
			t.Fatal(err)
		}
	}
	mkPod("mine", "n1")
	mkPod("theirs", "n2")

	allowed := func(name string, err error) {
		t.Helper()
		if err != nil {
			t.Errorf("%s: %v", name, err)
		}
	}
	forbidden := func(name string, err error) {
		t.Helper()
		if !apierrors.IsForbidden(err) {
			t.Errorf("%s: error = %v, want Forbidden", name, err)
		}
	}
	_, err = node.CoreV1().Nodes().Create(ctx, &corev1.Node{ObjectMeta: metav1.ObjectMeta{Name: "n1"}}, metav1.CreateOptions{})
	allowed("register its Node", err)
	n, err := node.CoreV1().Nodes().Get(ctx, "n1", metav1.GetOptions{})
	allowed("get its Node", err)
	if err == nil {
		n.Status.Conditions = []corev1.NodeCondition{{Type: corev1.NodeReady, Status: corev1.ConditionTrue, LastHeartbeatTime: metav1.Now()}}
		_, err = node.CoreV1().Nodes().UpdateStatus(ctx, n, metav1.UpdateOptions{})
		allowed("update its Node's status", err)
	}
	_, err = node.CoreV1().Nodes().Create(ctx, &corev1.Node{ObjectMeta: metav1.ObjectMeta{Name: "n2"}}, metav1.CreateOptions{})
	forbidden("register another Node", err)
	_, err = node.CoordinationV1().Leases("kube-node-lease").Create(ctx, &coordinationv1.Lease{ObjectMeta: metav1.ObjectMeta{Name: "n1"}}, metav1.CreateOptions{})
	allowed("create its Lease", err)
	_, err = node.CoordinationV1().Leases("kube-node-lease").Get(ctx, "n1", metav1.GetOptions{})
	allowed("get its Lease", err)
	_, err = node.CoordinationV1().Leases("kube-node-lease").Create(ctx, &coordinationv1.Lease{ObjectMeta: metav1.ObjectMeta{Name: "n2"}}, metav1.CreateOptions{})
	forbidden("create another node's Lease", err)

	pods, err := node.CoreV1().Pods("").List(ctx, metav1.ListOptions{FieldSelector: "spec.nodeName=n1"})
	allowed("list its pods", err)
	if err == nil && (len(pods.Items) != 1 || pods.Items[0].Name != "mine") {
		t.Errorf("its pods = %d items, want mine", len(pods.Items))
	}
	w, err := node.CoreV1().Pods("").Watch(ctx, metav1.ListOptions{FieldSelector: "spec.nodeName=n1"})
	allowed("watch its pods", err)
	if err == nil {
		w.Stop()
	}
	for name, want := range map[string]func(string, error){"mine": allowed, "theirs": forbidden} {
		p, err := admin.CoreV1().Pods("default").Get(ctx, name, metav1.GetOptions{})
		if err != nil {
			t.Fatal(err)
		}
		p.Status.Phase = corev1.PodRunning
		_, err = node.CoreV1().Pods("default").UpdateStatus(ctx, p, metav1.UpdateOptions{})
		want("update the status of pod "+name, err)
	}
	_, err = node.CoreV1().Events("default").Create(ctx, &corev1.Event{
		ObjectMeta:     metav1.ObjectMeta{Name: "mine.1", Namespace: "default"},
		InvolvedObject: corev1.ObjectReference{Kind: "Pod", Namespace: "default", Name: "mine"},
		Reason:         "Started", Type: corev1.EventTypeNormal, Source: corev1.EventSource{Component: "kubelet", Host: "n1"},
	}, metav1.CreateOptions{})
	allowed("create an event", err)
	_, err = node.CoreV1().Secrets("default").Get(ctx, "used", metav1.GetOptions{})
	allowed("get a secret its pod uses", err)
	_, err = node.CoreV1().Secrets("default").Get(ctx, "unused", metav1.GetOptions{})
	forbidden("get a secret only another node's pod uses", err)
	_, err = node.CoreV1().Services("").List(ctx, metav1.ListOptions{})
	allowed("list services", err)
	_, err = node.DiscoveryV1().EndpointSlices("").List(ctx, metav1.ListOptions{})
	allowed("list endpointslices", err)
	_, err = node.CoreV1().Endpoints("default").Get(ctx, "kubernetes", metav1.GetOptions{})
	if apierrors.IsNotFound(err) {
		err = nil
	}
	allowed("get endpoints", err)
}
