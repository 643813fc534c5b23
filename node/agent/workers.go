package agent

import (
	"cmp"
	"context"
	"slices"
	"strconv"
	"sync"
	"time"

	corev1 "k8s.io/api/core/v1"
	"k8s.io/apimachinery/pkg/types"
	"k8s.io/client-go/tools/cache"

	"github.com/sqlkube/sqlkube/node/runtime"
)

// podWorker owns one pod on this node: its goroutine syncs the pod each
// time it is kicked or its timer fires. Fields below mu are shared with
// the informer, the exit watcher and the probes; the rest belong to the
// worker's goroutine.
type podWorker struct {
	uid  types.UID
	kick chan struct{}
	stop context.CancelFunc
	done chan struct{}

	mu      sync.Mutex
	pod     *corev1.Pod // latest seen; nil once deleted from the API
	deleted bool
	probes  map[string]*probeState // container ID → probe results

	seen      time.Time // when the agent first saw the pod
	reported  bool      // pod start latency observed
	backoff   map[string]*backoff
	pullBack  map[string]*backoff
	waiting   map[string]corev1.ContainerStateWaiting // container name → why it is not running
	startErr  map[string]string                       // container ID → why its start failed
	lastPost  *corev1.PodStatus
	sandbox   *runtime.Sandbox
	terminal  bool
	cleanedUp bool
	killed    bool              // containers stopped for deletion
	starting  bool              // holds a start slot of the agent
	lastEvent map[string]string // reason → last message, for events recorded once
}

// backoff is the kubelet's restart (and image pull) back-off: 10 s after
// the first failure, doubling to 5 min; a container that ran 10 minutes
// starts over.
type backoff struct {
	delay   time.Duration
	until   time.Time // image pulls: no retry before
	updated time.Time // restarts: when the delay last grew
}

const (
	backoffInitial = 10 * time.Second
	backoffMax     = 5 * time.Minute
	backoffReset   = 10 * time.Minute
)

// next records a failure at t and returns when a retry is allowed.
func (b *backoff) next(t time.Time) time.Time {
	switch {
	case b.delay == 0:
		b.delay = backoffInitial
	default:
		b.delay = min(2*b.delay, backoffMax)
	}
	b.until = t.Add(b.delay)
	return b.until
}

func (w *podWorker) poke() {
	select {
	case w.kick <- struct{}{}:
	default:
	}
}

func (w *podWorker) current() (*corev1.Pod, bool) {
	w.mu.Lock()
	defer w.mu.Unlock()
	return w.pod, w.deleted
}

// podChanged hands the informer's pod to its worker, starting one for a
// pod new to the agent.
func (a *Agent) podChanged(obj any) {
	pod, ok := obj.(*corev1.Pod)
	if !ok {
		return
	}
	a.mu.Lock()
	w := a.workers[pod.UID]
	if w == nil {
		w = a.startWorker(pod)
	}
	a.mu.Unlock()
	w.mu.Lock()
	w.pod = pod
	w.mu.Unlock()
	w.poke()
}

// podDeleted tells the pod's worker that the API has no pod any more: it
// stops what still runs and releases everything.
func (a *Agent) podDeleted(obj any) {
	if d, ok := obj.(cache.DeletedFinalStateUnknown); ok {
		obj = d.Obj
	}
	pod, ok := obj.(*corev1.Pod)
	if !ok {
		return
	}
	a.mu.Lock()
	w := a.workers[pod.UID]
	a.mu.Unlock()
	if w == nil {
		return
	}
	w.mu.Lock()
	w.deleted = true
	w.mu.Unlock()
	w.poke()
}

// startWorker starts the worker of pod; a.mu is held.
func (a *Agent) startWorker(pod *corev1.Pod) *podWorker {
	ctx, cancel := context.WithCancel(context.Background())
	w := &podWorker{
		uid:      pod.UID,
		kick:     make(chan struct{}, 1),
		stop:     cancel,
		done:     make(chan struct{}),
		pod:      pod,
		probes:   map[string]*probeState{},
		seen:     time.Now(),
		backoff:  map[string]*backoff{},
		pullBack: map[string]*backoff{},
		waiting:  map[string]corev1.ContainerStateWaiting{},
		startErr: map[string]string{},
	}
	a.workers[pod.UID] = w
	go a.runWorker(ctx, w)
	return w
}

func (a *Agent) runWorker(ctx context.Context, w *podWorker) {
	defer close(w.done)
	timer := time.NewTimer(0)
	defer timer.Stop()
	for {
		select {
		case <-ctx.Done():
			w.stopProbes()
			return
		case <-w.kick:
		case <-timer.C:
		}
		start := time.Now()
		next, finished := a.syncPod(ctx, w)
		a.metrics.syncDuration.Observe(time.Since(start).Seconds())
		if finished {
			w.stopProbes()
			a.mu.Lock()
			if a.workers[w.uid] == w {
				delete(a.workers, w.uid)
			}
			a.mu.Unlock()
			return
		}
		if next <= 0 || next > a.cfg.Resync {
			next = a.cfg.Resync
		}
		if !timer.Stop() {
			select {
			case <-timer.C:
			default:
			}
		}
		timer.Reset(next)
	}
}

// stopWorkers stops every worker and waits for them; the pods' containers
// keep running.
func (a *Agent) stopWorkers() {
	a.mu.Lock()
	ws := make([]*podWorker, 0, len(a.workers))
	for _, w := range a.workers {
		ws = append(ws, w)
	}
	a.mu.Unlock()
	for _, w := range ws {
		w.stop()
	}
	for _, w := range ws {
		<-w.done
	}
}

// worker returns the worker of the pod namespace/name, or nil.
func (a *Agent) worker(namespace, name string) *podWorker {
	a.mu.Lock()
	defer a.mu.Unlock()
	for _, w := range a.workers {
		w.mu.Lock()
		p := w.pod
		w.mu.Unlock()
		if p != nil && p.Namespace == namespace && p.Name == name {
			return w
		}
	}
	return nil
}

// watchExits kicks a pod's worker as soon as one of its containers exits,
// resubscribing when the runtime's event stream breaks.
func (a *Agent) watchExits(ctx context.Context) {
	for ctx.Err() == nil {
		exits, err := a.rt.Exits(ctx)
		if err != nil {
			select {
			case <-ctx.Done():
				return
			case <-time.After(time.Second):
			}
			continue
		}
		for id := range exits {
			st, err := a.rt.ContainerStatus(ctx, id)
			if err != nil {
				continue
			}
			a.mu.Lock()
			w := a.workers[types.UID(st.Labels[labelPodUID])]
			a.mu.Unlock()
			if w != nil {
				w.poke()
			}
		}
		if ctx.Err() == nil {
			select {
			case <-ctx.Done():
			case <-time.After(time.Second):
			}
		}
	}
}

// podContainers returns the runtime's containers of pod uid by container
// name, newest attempt first.
func podContainers(all []runtime.ContainerStatus, uid types.UID) map[string][]runtime.ContainerStatus {
	out := map[string][]runtime.ContainerStatus{}
	for _, c := range all {
		if c.Labels[labelPodUID] != string(uid) {
			continue
		}
		name := c.Labels[labelContainer]
		out[name] = append(out[name], c)
	}
	for _, cs := range out {
		sortNewestFirst(cs)
	}
	return out
}

func attemptOf(c runtime.ContainerStatus) int {
	n, err := strconv.Atoi(c.Labels[labelAttempt])
	if err != nil {
		return c.Attempt
	}
	return n
}

func sortNewestFirst(cs []runtime.ContainerStatus) {
	slices.SortFunc(cs, func(x, y runtime.ContainerStatus) int { return cmp.Compare(attemptOf(y), attemptOf(x)) })
}
