package scheduler

import (
	"container/heap"
	"context"
	"math/bits"
	"sync"
	"time"

	v1 "k8s.io/api/core/v1"
	"k8s.io/apimachinery/pkg/api/equality"
	corev1helpers "k8s.io/component-helpers/scheduling/corev1"
)

// clusterEvent is a set of changes to nodes or placed pods. A filter says
// which of them can cure the failure it reports, and an unschedulable pod
// is retried when one of those happens.
type clusterEvent uint8

const (
	nodeAdded clusterEvent = 1 << iota
	nodeReadyChanged
	nodeTaintsChanged
	nodeLabelsChanged
	nodeAllocatableChanged
	podFreed    // a pod left a node (deleted, finished, terminating, moved)
	podAssigned // a pod arrived on a node, or its labels changed

	anyEvent = ^clusterEvent(0)
)

// Defaults of the queue's timing, as in kube-scheduler except for
// maxParked (5 minutes there).
const (
	initialBackoff = time.Second
	maxBackoff     = 10 * time.Second
	maxParked      = time.Minute
)

type queueState uint8

const (
	stateActive        queueState = iota // waiting in the heap
	stateBackoff                         // waiting for its back-off to expire
	stateUnschedulable                   // parked until a cluster event may help
	stateInFlight                        // being scheduled or bound
)

type queuedPod struct {
	key      string
	pod      *v1.Pod
	priority int32
	seq      uint64 // arrival order, for FIFO within a priority
	state    queueState
	index    int // in the heap, while active

	attempts     int
	backoffUntil time.Time
	parkedAt     time.Time
	cures        clusterEvent
	popMoveSeq   uint64 // moveSeq when popped
	updated      bool   // the pod changed while in flight
}

// queuedItem is what pop hands out: a snapshot, safe to read without the
// queue's lock.
type queuedItem struct {
	key      string
	pod      *v1.Pod
	attempts int
}

// schedulingQueue holds the pods waiting for a node: an active heap ordered
// by priority then arrival, pods backing off after a failed attempt, and
// unschedulable pods parked until a cluster event could let them fit (or
// maxParked passes). A pod is in at most one of them, or in flight. Safe for
// concurrent use.
type schedulingQueue struct {
	mu      sync.Mutex
	cond    *sync.Cond
	closed  bool
	now     func() time.Time
	seq     uint64
	moveSeq uint64 // counts move calls, to catch events during a cycle

	pods       map[string]*queuedPod
	active     podHeap
	backingOff map[string]*queuedPod
	parked     map[string]*queuedPod
	// parkedCures counts parked pods per clusterEvent bit, so that an
	// event no parked pod waits for costs nothing.
	parkedCures [8]int
}

func newSchedulingQueue(now func() time.Time) *schedulingQueue {
	if now == nil {
		now = time.Now
	}
	q := &schedulingQueue{
		now:        now,
		pods:       map[string]*queuedPod{},
		backingOff: map[string]*queuedPod{},
		parked:     map[string]*queuedPod{},
	}
	q.cond = sync.NewCond(&q.mu)
	return q
}

// add queues a pending pod, or refreshes the queued copy. A parked pod
// whose spec or labels changed is tried again.
func (q *schedulingQueue) add(key string, pod *v1.Pod) {
	q.mu.Lock()
	defer q.mu.Unlock()
	e := q.pods[key]
	if e == nil {
		q.seq++
		e = &queuedPod{key: key, pod: pod, priority: corev1helpers.PodPriority(pod), seq: q.seq, state: stateInFlight, index: -1}
		q.pods[key] = e
		q.activateLocked(e, false)
		return
	}
	old := e.pod
	e.pod = pod
	changed := !equality.Semantic.DeepEqual(old.Spec, pod.Spec) || !sameStrings(old.Labels, pod.Labels)
	if p := corev1helpers.PodPriority(pod); p != e.priority {
		e.priority = p
		if e.state == stateActive {
			heap.Fix(&q.active, e.index)
		}
	}
	switch {
	case !changed:
	case e.state == stateInFlight:
		e.updated = true
	case e.state == stateUnschedulable:
		q.activateLocked(e, true)
	}
}

// delete drops a pod that is gone, bound, or no longer ours.
func (q *schedulingQueue) delete(key string) {
	q.mu.Lock()
	defer q.mu.Unlock()
	if e := q.pods[key]; e != nil {
		q.leaveLocked(e)
		delete(q.pods, key)
	}
}

// leaveLocked takes e out of whatever it waits in.
func (q *schedulingQueue) leaveLocked(e *queuedPod) {
	switch e.state {
	case stateActive:
		heap.Remove(&q.active, e.index)
	case stateBackoff:
		delete(q.backingOff, e.key)
	case stateUnschedulable:
		delete(q.parked, e.key)
		q.countCures(e.cures, -1)
	}
}

func (q *schedulingQueue) countCures(c clusterEvent, d int) {
	for c != 0 {
		i := bits.TrailingZeros8(uint8(c))
		q.parkedCures[i] += d
		c &^= 1 << i
	}
}

// activateLocked moves e (new, in flight or waiting) to the heap, or to
// back-off while its back-off lasts (when respectBackoff).
func (q *schedulingQueue) activateLocked(e *queuedPod, respectBackoff bool) {
	if e.state != stateInFlight {
		q.leaveLocked(e)
	}
	if respectBackoff && q.now().Before(e.backoffUntil) {
		e.state = stateBackoff
		q.backingOff[e.key] = e
		return
	}
	e.state = stateActive
	heap.Push(&q.active, e)
	q.cond.Signal()
}

// pop waits for the next pod to schedule; false when the queue is closed.
func (q *schedulingQueue) pop() (queuedItem, bool) {
	q.mu.Lock()
	defer q.mu.Unlock()
	for len(q.active) == 0 && !q.closed {
		q.cond.Wait()
	}
	if q.closed {
		return queuedItem{}, false
	}
	e := heap.Pop(&q.active).(*queuedPod)
	e.state, e.index, e.updated, e.popMoveSeq = stateInFlight, -1, false, q.moveSeq
	return queuedItem{key: e.key, pod: e.pod, attempts: e.attempts}, true
}

func (q *schedulingQueue) backoffFor(attempts int) time.Duration {
	d := initialBackoff
	for i := 1; i < attempts && d < maxBackoff; i++ {
		d *= 2
	}
	return min(d, maxBackoff)
}

// unschedulable parks an in-flight pod that fit nowhere until one of cures
// happens. If a cluster event or an update of the pod came while it was
// being scheduled, it backs off instead, since that event may have helped.
func (q *schedulingQueue) unschedulable(key string, cures clusterEvent) {
	q.mu.Lock()
	defer q.mu.Unlock()
	e := q.pods[key]
	if e == nil || e.state != stateInFlight {
		return
	}
	e.attempts++
	e.backoffUntil = q.now().Add(q.backoffFor(e.attempts))
	if e.updated || q.moveSeq != e.popMoveSeq {
		q.activateLocked(e, true)
		return
	}
	e.state, e.parkedAt, e.cures = stateUnschedulable, q.now(), cures
	q.parked[key] = e
	q.countCures(cures, 1)
}

// retry puts an in-flight pod back after an error (a failed binding) to be
// tried again after its back-off.
func (q *schedulingQueue) retry(key string) {
	q.mu.Lock()
	defer q.mu.Unlock()
	e := q.pods[key]
	if e == nil || e.state != stateInFlight {
		return
	}
	e.attempts++
	e.backoffUntil = q.now().Add(q.backoffFor(e.attempts))
	q.activateLocked(e, true)
}

// done forgets an in-flight pod that was bound.
func (q *schedulingQueue) done(key string) {
	q.mu.Lock()
	defer q.mu.Unlock()
	if e := q.pods[key]; e != nil && e.state == stateInFlight {
		delete(q.pods, key)
	}
}

// move retries the parked pods that ev may let fit (after their back-off).
func (q *schedulingQueue) move(ev clusterEvent) {
	q.mu.Lock()
	defer q.mu.Unlock()
	q.moveSeq++
	waiting := 0
	for c := ev; c != 0; {
		i := bits.TrailingZeros8(uint8(c))
		waiting += q.parkedCures[i]
		c &^= 1 << i
	}
	if waiting == 0 {
		return
	}
	for _, e := range q.parked {
		if e.cures&ev != 0 {
			q.activateLocked(e, true)
		}
	}
}

// flush activates pods whose back-off expired and pods parked longer than
// maxParked.
func (q *schedulingQueue) flush() {
	q.mu.Lock()
	defer q.mu.Unlock()
	now := q.now()
	for _, e := range q.backingOff {
		if !now.Before(e.backoffUntil) {
			q.activateLocked(e, false)
		}
	}
	for _, e := range q.parked {
		if now.Sub(e.parkedAt) >= maxParked {
			q.activateLocked(e, true)
		}
	}
}

// run flushes every interval until ctx is done, then closes the queue so
// that pop returns false.
func (q *schedulingQueue) run(ctx context.Context, interval time.Duration) {
	t := time.NewTicker(interval)
	defer t.Stop()
	for {
		select {
		case <-ctx.Done():
			q.close()
			return
		case <-t.C:
			q.flush()
		}
	}
}

func (q *schedulingQueue) close() {
	q.mu.Lock()
	defer q.mu.Unlock()
	q.closed = true
	q.cond.Broadcast()
}

// len reports how many pods are active, backing off and parked.
func (q *schedulingQueue) len() (active, backoff, parked int) {
	q.mu.Lock()
	defer q.mu.Unlock()
	return len(q.active), len(q.backingOff), len(q.parked)
}

// podHeap orders active pods: higher priority first, then first come.
type podHeap []*queuedPod

func (h podHeap) Len() int { return len(h) }
func (h podHeap) Less(i, j int) bool {
	if h[i].priority != h[j].priority {
		return h[i].priority > h[j].priority
	}
	return h[i].seq < h[j].seq
}
func (h podHeap) Swap(i, j int) {
	h[i], h[j] = h[j], h[i]
	h[i].index, h[j].index = i, j
}
func (h *podHeap) Push(x any) {
	e := x.(*queuedPod)
	e.index = len(*h)
	*h = append(*h, e)
}
func (h *podHeap) Pop() any {
	old := *h
	e := old[len(old)-1]
	old[len(old)-1] = nil
	*h = old[:len(old)-1]
	e.index = -1
	return e
}
