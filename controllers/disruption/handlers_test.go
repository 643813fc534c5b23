package disruption

import (
	"context"
	"slices"
	"strings"
	"sync"
	"testing"
	"time"

	corev1 "k8s.io/api/core/v1"
	policyv1 "k8s.io/api/policy/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"

	"github.com/sqlkube/sqlkube/controllers/reconcile"
)

// TestEventHandlers: which changes queue which budgets.
func TestEventHandlers(t *testing.T) {
	other := newPDB(func(p *policyv1.PodDisruptionBudget) {
		p.Name = "db"
		p.Spec.Selector = &metav1.LabelSelector{MatchLabels: map[string]string{"app": "db"}}
	})
	none := newPDB(func(p *policyv1.PodDisruptionBudget) { p.Name = "none"; p.Spec.Selector = nil })
	all := newPDB(func(p *policyv1.PodDisruptionBudget) { p.Name = "all"; p.Spec.Selector = &metav1.LabelSelector{} })
	elsewhere := newPDB(func(p *policyv1.PodDisruptionBudget) { p.Namespace = "other" })
	rs := replicaSet("web-1", 2, nil)
	rs.ResourceVersion = "1"
	scaled := rs.DeepCopy()
	scaled.ResourceVersion, scaled.Spec.Replicas = "2", new(int32(3))
	relabelled := rs.DeepCopy()
	relabelled.ResourceVersion, relabelled.Labels = "2", map[string]string{"x": "y"}
	podV1 := newPod("a", func(p *corev1.Pod) { p.ResourceVersion = "1" })
	podV2 := newPod("a", labelled("db"), func(p *corev1.Pod) { p.ResourceVersion = "2" })

	tests := []struct {
		name string
		fire func(c *Controller)
		want []string
	}{
		{"pod added", func(c *Controller) { c.enqueuePod(podV1) }, []string{"demo/all", "demo/web"}},
		{"pod relabelled: old and new budgets", func(c *Controller) { c.updatePod(podV1, podV2) }, []string{"demo/all", "demo/db", "demo/web"}},
		{"pod resync ignored", func(c *Controller) { c.updatePod(podV1, podV1.DeepCopy()) }, nil},
		{"replicaset scaled", func(c *Controller) { c.workloadHandler().OnUpdate(rs, scaled) }, []string{"demo/all", "demo/db", "demo/none", "demo/web"}},
		{"replicaset relabelled only", func(c *Controller) { c.workloadHandler().OnUpdate(rs, relabelled) }, nil},
		{"statefulset added", func(c *Controller) { c.workloadHandler().OnAdd(statefulSet("db", 1), false) }, []string{"demo/all", "demo/db", "demo/none", "demo/web"}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			f := newFixture(t, newPDB(), other, none, all, elsewhere)
			var (
				mu  sync.Mutex
				got []string
			)
			f.c.queue = reconcile.NewQueue("test", nil, func(_ context.Context, key string) error {
				mu.Lock()
				defer mu.Unlock()
				got = append(got, key)
				return nil
			})
			tt.fire(f.c)
			queued := f.c.queue.Len()
			ctx, cancel := context.WithCancel(context.Background())
			done := make(chan struct{})
			go func() { defer close(done); f.c.queue.Run(ctx, 1) }()
			deadline := time.Now().Add(5 * time.Second)
			for {
				mu.Lock()
				n := len(got)
				mu.Unlock()
				if n >= queued || time.Now().After(deadline) {
					break
				}
				time.Sleep(5 * time.Millisecond)
			}
			cancel()
			<-done
			slices.Sort(got)
			if strings.Join(got, ",") != strings.Join(tt.want, ",") {
				t.Errorf("queued %q, want %q", got, tt.want)
			}
		})
	}
}
