package scheduler

import (
	"testing"
	"time"

	v1 "k8s.io/api/core/v1"
)

type fakeClock struct{ t time.Time }

func (c *fakeClock) now() time.Time { return c.t }

func popKeys(t *testing.T, q *schedulingQueue, n int) []string {
	t.Helper()
	var keys []string
	for range n {
		active, _, _ := q.len()
		if active == 0 {
			t.Fatalf("queue empty after %v, want %d pods", keys, n)
		}
		item, ok := q.pop()
		if !ok {
			t.Fatal("queue closed")
		}
		keys = append(keys, item.key)
	}
	return keys
}

func TestQueueOrder(t *testing.T) {
	q := newSchedulingQueue(nil)
	q.add("ns/low1", pod("low1", "", ""))
	q.add("ns/high", pod("high", "", "", withPriority(1000)))
	q.add("ns/low2", pod("low2", "", ""))
	q.add("ns/mid", pod("mid", "", "", withPriority(10)))
	q.add("ns/low1", pod("low1", "", "")) // an update keeps its place
	got := popKeys(t, q, 4)
	want := []string{"ns/high", "ns/mid", "ns/low1", "ns/low2"}
	for i := range want {
		if got[i] != want[i] {
			t.Fatalf("order %v, want %v", got, want)
		}
	}
}

func TestQueueBackoffAndMoves(t *testing.T) {
	clock := &fakeClock{t: time.Unix(1000, 0)}
	tests := []struct {
		name       string
		cures      clusterEvent
		then       func(q *schedulingQueue)
		wantActive bool // after the back-off
		wantParked bool
	}{
		{name: "parked pod waits for an event", cures: podFreed, then: func(*schedulingQueue) {}, wantParked: true},
		{name: "an unrelated event leaves it parked", cures: podFreed, then: func(q *schedulingQueue) { q.move(nodeTaintsChanged) }, wantParked: true},
		{name: "a curing event retries it after back-off", cures: podFreed | nodeAdded, then: func(q *schedulingQueue) { q.move(nodeAdded) }, wantActive: true},
		{name: "a spec change retries it", cures: podFreed, then: func(q *schedulingQueue) {
			q.add("ns/p", pod("p", "", "", tolerating("k", "", "")))
		}, wantActive: true},
		{name: "a status-only change does not", cures: podFreed, then: func(q *schedulingQueue) {
			q.add("ns/p", pod("p", "", "", func(p *v1.Pod) { p.Status.Conditions = []v1.PodCondition{{Type: v1.PodScheduled}} }))
		}, wantParked: true},
		{name: "deleted", cures: podFreed, then: func(q *schedulingQueue) { q.delete("ns/p"); q.move(anyEvent) }},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			q := newSchedulingQueue(clock.now)
			q.add("ns/p", pod("p", "", ""))
			popKeys(t, q, 1)
			q.unschedulable("ns/p", tt.cures)
			tt.then(q)
			// Back-off holds it for a second whatever happened.
			q.flush()
			if active, _, _ := q.len(); active != 0 {
				t.Fatal("pod active before its back-off expired")
			}
			clock.t = clock.t.Add(time.Second)
			q.flush()
			active, _, parked := q.len()
			if (active == 1) != tt.wantActive || (parked == 1) != tt.wantParked {
				t.Fatalf("active %d, parked %d; want active %v, parked %v", active, parked, tt.wantActive, tt.wantParked)
			}
		})
	}
}

// TestQueueEventDuringCycle: an event that comes while a pod is being
// scheduled may have made room, so the pod backs off instead of parking.
func TestQueueEventDuringCycle(t *testing.T) {
	clock := &fakeClock{t: time.Unix(1000, 0)}
	q := newSchedulingQueue(clock.now)
	q.add("ns/p", pod("p", "", ""))
	popKeys(t, q, 1)
	q.move(podFreed)
	q.unschedulable("ns/p", podFreed)
	if _, backoff, parked := q.len(); backoff != 1 || parked != 0 {
		t.Fatalf("backoff %d parked %d, want the pod backing off", backoff, parked)
	}
}

func TestQueueBackoffGrows(t *testing.T) {
	q := newSchedulingQueue(nil)
	want := []time.Duration{time.Second, 2 * time.Second, 4 * time.Second, 8 * time.Second, 10 * time.Second, 10 * time.Second}
	for i, w := range want {
		if got := q.backoffFor(i + 1); got != w {
			t.Errorf("attempt %d: %v, want %v", i+1, got, w)
		}
	}
}

// TestQueueParkedTimeout: a parked pod is retried after maxParked even
// without an event.
func TestQueueParkedTimeout(t *testing.T) {
	clock := &fakeClock{t: time.Unix(1000, 0)}
	q := newSchedulingQueue(clock.now)
	q.add("ns/p", pod("p", "", ""))
	popKeys(t, q, 1)
	q.unschedulable("ns/p", podFreed)
	clock.t = clock.t.Add(maxParked)
	q.flush()
	if active, _, _ := q.len(); active != 1 {
		t.Fatal("parked pod not retried after maxParked")
	}
}

func TestQueueDoneAndRetry(t *testing.T) {
	clock := &fakeClock{t: time.Unix(1000, 0)}
	q := newSchedulingQueue(clock.now)
	q.add("ns/a", pod("a", "", ""))
	q.add("ns/b", pod("b", "", ""))
	popKeys(t, q, 2)
	q.done("ns/a")
	q.retry("ns/b")
	if len(q.pods) != 1 {
		t.Fatalf("queue holds %d pods, want only the retried one", len(q.pods))
	}
	clock.t = clock.t.Add(time.Second)
	q.flush()
	if got := popKeys(t, q, 1); got[0] != "ns/b" {
		t.Fatalf("popped %v", got)
	}
}

func TestQueueCloseUnblocksPop(t *testing.T) {
	q := newSchedulingQueue(nil)
	done := make(chan bool)
	go func() { _, ok := q.pop(); done <- ok }()
	q.close()
	select {
	case ok := <-done:
		if ok {
			t.Fatal("pop returned an item from an empty closed queue")
		}
	case <-time.After(5 * time.Second):
		t.Fatal("pop still blocked after close")
	}
}
