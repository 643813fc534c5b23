package clusterdns_test

import (
	"fmt"
	"slices"
	"testing"
	"time"

	corev1 "k8s.io/api/core/v1"
	discoveryv1 "k8s.io/api/discovery/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"

	"github.com/sqlkube/sqlkube/controllers/clusterdns"
	"github.com/sqlkube/sqlkube/controllers/internal/controllertest"
	"github.com/sqlkube/sqlkube/node"
)

// TestNodesServeTheClusterDNS against a real API server, whose bootstrap
// creates kube-system/kube-dns: every Node with a pod range becomes an
// endpoint at the first address of its range, ready as the Node is, and a
// deleted Node's endpoint goes.
func TestNodesServeTheClusterDNS(t *testing.T) {
	ts, ctx := controllertest.StartServer(t, time.Minute)
	controllertest.Run(t, ts, clusterdns.New, 1, controllertest.Quiet)
	nodes := ts.Client.CoreV1().Nodes()
	for i, ready := range []bool{true, false} {
		n := &corev1.Node{ObjectMeta: metav1.ObjectMeta{Name: fmt.Sprintf("n%d", i)}}
		n.Spec.PodCIDR = fmt.Sprintf("10.244.%d.0/24", i)
		created, err := nodes.Create(ctx, n, metav1.CreateOptions{})
		if err != nil {
			t.Fatal(err)
		}
		created.Status.Conditions = node.Conditions(time.Now(), nil)
		if !ready {
			created.Status.Conditions = node.ConditionsWith(time.Now(), nil, node.Health{NotReady: fmt.Errorf("runtime down")})
		}
		if _, err := nodes.UpdateStatus(ctx, created, metav1.UpdateOptions{}); err != nil {
			t.Fatal(err)
		}
	}
	if _, err := nodes.Create(ctx, &corev1.Node{ObjectMeta: metav1.ObjectMeta{Name: "no-range"}}, metav1.CreateOptions{}); err != nil {
		t.Fatal(err)
	}
	epslices := ts.Client.DiscoveryV1().EndpointSlices(clusterdns.Namespace)
	endpoints := func() ([]string, error) {
		s, err := epslices.Get(ctx, clusterdns.SliceName, metav1.GetOptions{})
		if err != nil {
			return nil, err
		}
		if s.Labels[discoveryv1.LabelServiceName] != clusterdns.Service || len(s.Ports) != 2 {
			return nil, fmt.Errorf("slice labels %v ports %d", s.Labels, len(s.Ports))
		}
		var out []string
		for _, e := range s.Endpoints {
			out = append(out, fmt.Sprintf("%s %s ready=%v", *e.NodeName, e.Addresses[0], *e.Conditions.Ready))
		}
		return out, nil
	}
	want := []string{"n0 10.244.0.1 ready=true", "n1 10.244.1.1 ready=false"}
	var got []string
	controllertest.Poll(ctx, t, 30*time.Second, "the kube-dns slice lists the nodes", func() (bool, error) {
		var err error
		got, err = endpoints()
		return err == nil && slices.Equal(got, want), nil
	})
	if err := nodes.Delete(ctx, "n0", metav1.DeleteOptions{}); err != nil {
		t.Fatal(err)
	}
	controllertest.Poll(ctx, t, 30*time.Second, "the deleted node's endpoint goes", func() (bool, error) {
		got, err := endpoints()
		return err == nil && slices.Equal(got, want[1:]), nil
	})
}
