package ownership

import (
	"testing"
	"time"

	corev1 "k8s.io/api/core/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/types"
	corelisters "k8s.io/client-go/listers/core/v1"
	"k8s.io/client-go/tools/cache"
)

func TestPendingPodsSettled(t *testing.T) {
	t0 := time.Date(2026, 1, 1, 0, 0, 0, 0, time.UTC)
	pod := func(name, uid string, terminating bool) *corev1.Pod {
		p := &corev1.Pod{ObjectMeta: metav1.ObjectMeta{Name: name, Namespace: "ns", UID: types.UID(uid)}}
		if terminating {
			p.DeletionTimestamp = &metav1.Time{Time: t0}
		}
		return p
	}
	for _, tc := range []struct {
		name   string
		record func(p *PendingPods)
		cache  []*corev1.Pod
		at     time.Duration
		want   bool
	}{
		{"nothing recorded", func(*PendingPods) {}, nil, 0, true},
		{"created, not seen", func(p *PendingPods) { p.Created("ns/ds", "ns", "a", t0) }, nil, 0, false},
		{"created, seen", func(p *PendingPods) { p.Created("ns/ds", "ns", "a", t0) }, []*corev1.Pod{pod("a", "1", false)}, 0, true},
		{"deleted, still there", func(p *PendingPods) { p.Deleted("ns/ds", "ns", "a", "1", t0) }, []*corev1.Pod{pod("a", "1", false)}, 0, false},
		{"deleted, terminating", func(p *PendingPods) { p.Deleted("ns/ds", "ns", "a", "1", t0) }, []*corev1.Pod{pod("a", "1", true)}, 0, true},
		{"deleted, replaced", func(p *PendingPods) { p.Deleted("ns/ds", "ns", "a", "1", t0) }, []*corev1.Pod{pod("a", "2", false)}, 0, true},
		{"deleted, gone", func(p *PendingPods) { p.Deleted("ns/ds", "ns", "a", "1", t0) }, nil, 0, true},
		{"expired", func(p *PendingPods) { p.Created("ns/ds", "ns", "a", t0) }, nil, pendingTTL + time.Second, true},
		{"forgotten", func(p *PendingPods) { p.Created("ns/ds", "ns", "a", t0); p.Forget("ns/ds") }, nil, 0, true},
		{"other owner", func(p *PendingPods) { p.Created("ns/other", "ns", "a", t0) }, nil, 0, true},
	} {
		t.Run(tc.name, func(t *testing.T) {
			idx := cache.NewIndexer(cache.MetaNamespaceKeyFunc, cache.Indexers{})
			for _, p := range tc.cache {
				if err := idx.Add(p); err != nil {
					t.Fatal(err)
				}
			}
			p := NewPendingPods()
			tc.record(p)
			if got := p.Settled("ns/ds", corelisters.NewPodLister(idx), t0.Add(tc.at)); got != tc.want {
				t.Errorf("Settled = %v, want %v", got, tc.want)
			}
		})
	}
}
