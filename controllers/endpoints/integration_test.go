package endpoints

import (
	"context"
	"fmt"
	"testing"
	"time"

	corev1 "k8s.io/api/core/v1"
	discoveryv1 "k8s.io/api/discovery/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/util/intstr"
	"k8s.io/client-go/kubernetes"

	"github.com/sqlkube/sqlkube/controllers/internal/controllertest"
)

// TestIntegration runs the controller against a real API server: a Service
// over pods with IPs gets Endpoints and EndpointSlices listing them, ready
// and not ready, and follows readiness changes and deletions.
func TestIntegration(t *testing.T) {
	srv, ctx := controllertest.StartServer(t, 50*time.Second)
	cs := srv.Client
	c := controllertest.Run(t, srv, New, 2)

	svc := &corev1.Service{
		ObjectMeta: metav1.ObjectMeta{Name: "web", Namespace: "default"},
		Spec: corev1.ServiceSpec{
			Selector: map[string]string{"app": "web"},
			Ports:    []corev1.ServicePort{{Name: "http", Port: 80, TargetPort: intstr.FromString("http")}},
		},
	}
	if _, err := cs.CoreV1().Services("default").Create(ctx, svc, metav1.CreateOptions{}); err != nil {
		t.Fatal(err)
	}
	for i := range 10 {
		ready := i < 8
		runPod(ctx, t, cs, fmt.Sprintf("web-%d", i), fmt.Sprintf("10.244.0.%d", i+10), ready)
	}
	// A pod of another app and one without an IP are not listed.
	runPod(ctx, t, cs, "db-0", "10.244.1.1", true, func(p *corev1.Pod) { p.Labels["app"] = "db" })
	runPod(ctx, t, cs, "web-noip", "", true)

	controllertest.Poll(ctx, t, 20*time.Second, "8 ready and 2 not-ready endpoints", func() (bool, error) {
		ready, notReady, err := sliceCounts(ctx, cs)
		if err != nil || ready != 8 || notReady != 2 {
			return false, err
		}
		ep, err := cs.CoreV1().Endpoints("default").Get(ctx, "web", metav1.GetOptions{})
		if err != nil {
			return false, nil
		}
		return len(ep.Subsets) == 1 && len(ep.Subsets[0].Addresses) == 8 && len(ep.Subsets[0].NotReadyAddresses) == 2 &&
			ep.Subsets[0].Ports[0].Port == 8080, nil
	})
	ep, _ := cs.CoreV1().Endpoints("default").Get(ctx, "web", metav1.GetOptions{})
	if a := ep.Subsets[0].Addresses[0]; a.TargetRef == nil || a.TargetRef.Kind != "Pod" || a.NodeName == nil || *a.NodeName != "node-a" {
		t.Errorf("address %+v: want a pod targetRef and nodeName node-a", a)
	}

	// Terminating: the pod is bound, so deletion marks it and it stays.
	if err := cs.CoreV1().Pods("default").Delete(ctx, "web-0", metav1.DeleteOptions{}); err != nil {
		t.Fatal(err)
	}
	controllertest.Poll(ctx, t, 20*time.Second, "the terminating pod out of Endpoints, terminating in its slice", func() (bool, error) {
		ep, err := cs.CoreV1().Endpoints("default").Get(ctx, "web", metav1.GetOptions{})
		if err != nil || len(ep.Subsets) != 1 || len(ep.Subsets[0].Addresses) != 7 {
			return false, err
		}
		list, err := cs.DiscoveryV1().EndpointSlices("default").List(ctx, metav1.ListOptions{LabelSelector: discoveryv1.LabelServiceName + "=web"})
		if err != nil {
			return false, err
		}
		for _, s := range list.Items {
			for _, e := range s.Endpoints {
				if e.TargetRef.Name == "web-0" {
					return !*e.Conditions.Ready && *e.Conditions.Terminating, nil
				}
			}
		}
		return false, nil
	})

	// Nothing changes: no slice is rewritten.
	list, err := cs.DiscoveryV1().EndpointSlices("default").List(ctx, metav1.ListOptions{LabelSelector: discoveryv1.LabelServiceName + "=web"})
	if err != nil || len(list.Items) != 1 {
		t.Fatalf("slices: %d, %v", len(list.Items), err)
	}
	s := list.Items[0]
	if s.Labels[discoveryv1.LabelManagedBy] != ControllerName || len(s.OwnerReferences) != 1 || s.OwnerReferences[0].Name != "web" || s.GenerateName != "web-" {
		t.Errorf("slice metadata %+v", s.ObjectMeta)
	}
	epBefore, err := cs.CoreV1().Endpoints("default").Get(ctx, "web", metav1.GetOptions{})
	if err != nil {
		t.Fatal(err)
	}
	c.queue.Add("default/web")
	time.Sleep(300 * time.Millisecond) // a negative check: give a wrong rewrite the time to happen
	if epAfter, err := cs.CoreV1().Endpoints("default").Get(ctx, "web", metav1.GetOptions{}); err != nil || epAfter.ResourceVersion != epBefore.ResourceVersion {
		t.Errorf("endpoints rewritten without a change: rv %s → %s (%v)", epBefore.ResourceVersion, epAfter.ResourceVersion, err)
	}
	again, err := cs.DiscoveryV1().EndpointSlices("default").Get(ctx, s.Name, metav1.GetOptions{})
	if err != nil || again.ResourceVersion != s.ResourceVersion {
		t.Errorf("slice rewritten without a change: rv %s → %s (%v)", s.ResourceVersion, again.ResourceVersion, err)
	}

	// The Service goes: so do its Endpoints and slices.
	if err := cs.CoreV1().Services("default").Delete(ctx, "web", metav1.DeleteOptions{}); err != nil {
		t.Fatal(err)
	}
	controllertest.Poll(ctx, t, 20*time.Second, "Endpoints and slices of a deleted Service gone", func() (bool, error) {
		_, err := cs.CoreV1().Endpoints("default").Get(ctx, "web", metav1.GetOptions{})
		list, lerr := cs.DiscoveryV1().EndpointSlices("default").List(ctx, metav1.ListOptions{LabelSelector: discoveryv1.LabelServiceName + "=web"})
		return err != nil && lerr == nil && len(list.Items) == 0, nil
	})
}

func sliceCounts(ctx context.Context, cs kubernetes.Interface) (ready, notReady int, err error) {
	list, err := cs.DiscoveryV1().EndpointSlices("default").List(ctx, metav1.ListOptions{LabelSelector: discoveryv1.LabelServiceName + "=web"})
	if err != nil {
		return 0, 0, err
	}
	for _, s := range list.Items {
		for _, e := range s.Endpoints {
			if e.Conditions.Ready != nil && *e.Conditions.Ready {
				ready++
			} else {
				notReady++
			}
		}
	}
	return ready, notReady, nil
}

func runPod(ctx context.Context, t *testing.T, cs kubernetes.Interface, name, ip string, ready bool, mods ...func(*corev1.Pod)) {
	t.Helper()
	p := &corev1.Pod{
		ObjectMeta: metav1.ObjectMeta{Name: name, Namespace: "default", Labels: map[string]string{"app": "web"}},
		Spec: corev1.PodSpec{NodeName: "node-a", Containers: []corev1.Container{{
			Name: "c", Image: "nginx", Ports: []corev1.ContainerPort{{Name: "http", ContainerPort: 8080}},
		}}},
	}
	for _, m := range mods {
		m(p)
	}
	p, err := cs.CoreV1().Pods("default").Create(ctx, p, metav1.CreateOptions{})
	if err != nil {
		t.Fatalf("create pod %s: %v", name, err)
	}
	status := corev1.ConditionFalse
	if ready {
		status = corev1.ConditionTrue
	}
	p.Status = corev1.PodStatus{Phase: corev1.PodRunning, PodIP: ip, Conditions: []corev1.PodCondition{{Type: corev1.PodReady, Status: status}}}
	if ip != "" {
		p.Status.PodIPs = []corev1.PodIP{{IP: ip}}
	}
	if _, err := cs.CoreV1().Pods("default").UpdateStatus(ctx, p, metav1.UpdateOptions{}); err != nil {
		t.Fatalf("update status of pod %s: %v", name, err)
	}
}
