package nodeipam_test

import (
	"testing"
	"time"

	corev1 "k8s.io/api/core/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"

	"github.com/sqlkube/sqlkube/controllers/internal/controllertest"
	"github.com/sqlkube/sqlkube/controllers/nodeipam"
	"github.com/sqlkube/sqlkube/controllers/reconcile"
)

// TestAssignsRanges against a real API server: Nodes created get
// distinct ranges, a Node created with one keeps it, and a deleted
// Node's range is handed out again.
func TestAssignsRanges(t *testing.T) {
	ts, ctx := controllertest.StartServer(t, time.Minute)
	controllertest.Run(t, ts, func(cfg *reconcile.Config) *nodeipam.Controller {
		c, err := nodeipam.New(cfg)
		if err != nil {
			t.Fatal(err)
		}
		return c
	}, 2, controllertest.Quiet, func(cfg *reconcile.Config) { cfg.ClusterCIDR = "10.244.0.0/22" })
	nodes := ts.Client.CoreV1().Nodes()
	create := func(name, cidr string) {
		t.Helper()
		n := &corev1.Node{ObjectMeta: metav1.ObjectMeta{Name: name}}
		n.Spec.PodCIDR = cidr
		if _, err := nodes.Create(ctx, n, metav1.CreateOptions{}); err != nil {
			t.Fatal(err)
		}
	}
	rangeOf := func(name string) string {
		t.Helper()
		var cidr string
		controllertest.Poll(ctx, t, 30*time.Second, "a pod range for "+name, func() (bool, error) {
			n, err := nodes.Get(ctx, name, metav1.GetOptions{})
			if err != nil {
				return false, err
			}
			cidr = n.Spec.PodCIDR
			return cidr != "", nil
		})
		return cidr
	}
	create("sim", "10.244.0.0/24")
	create("a", "")
	create("b", "")
	create("c", "")
	got := map[string]string{"sim": rangeOf("sim"), "a": rangeOf("a"), "b": rangeOf("b"), "c": rangeOf("c")}
	if got["sim"] != "10.244.0.0/24" {
		t.Fatalf("the preset range changed: %v", got)
	}
	seen := map[string]string{}
	for name, cidr := range got {
		if other, dup := seen[cidr]; dup {
			t.Fatalf("nodes %s and %s share %s: %v", name, other, cidr, got)
		}
		seen[cidr] = name
	}
	if n, err := nodes.Get(ctx, "a", metav1.GetOptions{}); err != nil || len(n.Spec.PodCIDRs) != 1 || n.Spec.PodCIDRs[0] != got["a"] {
		t.Fatalf("node a: podCIDRs %v (%v), want [%s]", n.Spec.PodCIDRs, err, got["a"])
	}

	// The range is full: d waits, with an Event saying why.
	create("d", "")
	controllertest.Poll(ctx, t, 30*time.Second, "a CIDRNotAvailable event for d", func() (bool, error) {
		evs, err := ts.Client.CoreV1().Events("").List(ctx, metav1.ListOptions{})
		if err != nil {
			return false, err
		}
		for _, e := range evs.Items {
			if e.InvolvedObject.Name == "d" && e.Reason == "CIDRNotAvailable" {
				return true, nil
			}
		}
		return false, nil
	})
	// Deleting a frees its range for d.
	if err := nodes.Delete(ctx, "a", metav1.DeleteOptions{}); err != nil {
		t.Fatal(err)
	}
	if d := rangeOf("d"); d != got["a"] {
		t.Fatalf("d got %s, want a's freed %s", d, got["a"])
	}
}
