package scheduler

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"strings"
	"sync"
	"sync/atomic"
	"time"

	v1 "k8s.io/api/core/v1"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/labels"
	"k8s.io/client-go/kubernetes"
	corelisters "k8s.io/client-go/listers/core/v1"
	toolscache "k8s.io/client-go/tools/cache"
	"k8s.io/client-go/tools/record"

	"github.com/sqlkube/sqlkube/controllers/reconcile"
)

// Name is the scheduler's name: pods whose spec.schedulerName is Name (or
// empty) are the ones it places, and its Events come from this component.
const Name = "default-scheduler"

// defaultParallelism bounds the bindings and status writes in flight.
const defaultParallelism = 32

// Scheduler binds pending pods to nodes. Build it with New, start the
// informer factory, then call Run.
type Scheduler struct {
	client   kubernetes.Interface
	log      *slog.Logger
	recorder record.EventRecorder

	cache   *cache
	queue   *schedulingQueue
	algo    *algorithm
	synced  []toolscache.InformerSynced
	nsList  corelisters.NamespaceLister
	writes  chan struct{} // semaphore of API writes in flight
	wg      sync.WaitGroup
	flushIn time.Duration
	bound   atomic.Int64 // bindings written, for benchmarks and logs
	// scheduledEvents posts a Normal "Scheduled" Event per bound pod, as
	// kube-scheduler does.
	scheduledEvents bool
}

// New returns a scheduler reading pods, nodes and namespaces from
// cfg.Informers (it registers its handlers there; the caller starts the
// factory), binding through cfg.Client and posting Events as
// "default-scheduler".
func New(cfg *reconcile.Config) *Scheduler {
	s := &Scheduler{
		client:          cfg.Client,
		log:             cfg.Log("scheduler"),
		recorder:        cfg.Recorder(Name),
		cache:           newCache(),
		queue:           newSchedulingQueue(nil),
		writes:          make(chan struct{}, defaultParallelism),
		flushIn:         100 * time.Millisecond,
		scheduledEvents: true,
	}
	s.algo = newAlgorithm(uint64(time.Now().UnixNano()), s.matchNamespaces)

	pods := cfg.Informers.Core().V1().Pods().Informer()
	nodes := cfg.Informers.Core().V1().Nodes().Informer()
	ns := cfg.Informers.Core().V1().Namespaces()
	s.nsList = ns.Lister()
	s.synced = []toolscache.InformerSynced{pods.HasSynced, nodes.HasSynced, ns.Informer().HasSynced}

	_, _ = pods.AddEventHandler(toolscache.ResourceEventHandlerFuncs{
		AddFunc: func(obj any) { s.onPod(obj.(*v1.Pod)) },
		UpdateFunc: func(old, cur any) {
			if !reconcile.Unchanged(old, cur) {
				s.onPod(cur.(*v1.Pod))
			}
		},
		DeleteFunc: s.onPodDelete,
	})
	_, _ = nodes.AddEventHandler(toolscache.ResourceEventHandlerFuncs{
		AddFunc: func(obj any) { s.onNode(obj.(*v1.Node)) },
		UpdateFunc: func(old, cur any) {
			if !reconcile.Unchanged(old, cur) {
				s.onNode(cur.(*v1.Node))
			}
		},
		DeleteFunc: s.onNodeDelete,
	})
	return s
}

// Run schedules pods until ctx is done, after the informer caches synced,
// then waits for the bindings in flight.
func (s *Scheduler) Run(ctx context.Context) {
	if !toolscache.WaitForNamedCacheSync("scheduler", ctx.Done(), s.synced...) {
		return
	}
	s.log.Info("scheduler started")
	go s.queue.run(ctx, s.flushIn)
	for s.scheduleOne(ctx) {
	}
	s.wg.Wait()
}

func podKey(pod *v1.Pod) string { return pod.Namespace + "/" + pod.Name }

// responsible reports whether pod is pending and this scheduler's to place.
func responsible(pod *v1.Pod) bool {
	return pod.Spec.NodeName == "" &&
		(pod.Spec.SchedulerName == "" || pod.Spec.SchedulerName == Name) &&
		pod.DeletionTimestamp == nil &&
		len(pod.Spec.SchedulingGates) == 0 &&
		pod.Status.Phase != v1.PodSucceeded && pod.Status.Phase != v1.PodFailed
}

func (s *Scheduler) onPod(pod *v1.Pod) {
	key := podKey(pod)
	if pod.Spec.NodeName != "" {
		s.queue.delete(key)
		if ev := s.cache.setPod(key, pod); ev != 0 {
			s.queue.move(ev)
		}
		return
	}
	if responsible(pod) {
		s.queue.add(key, pod)
	} else {
		s.queue.delete(key)
	}
}

func (s *Scheduler) onPodDelete(obj any) {
	if t, ok := obj.(toolscache.DeletedFinalStateUnknown); ok {
		obj = t.Obj
	}
	pod, ok := obj.(*v1.Pod)
	if !ok {
		return
	}
	key := podKey(pod)
	s.queue.delete(key)
	if ev := s.cache.removePod(key); ev != 0 {
		s.queue.move(ev)
	}
}

func (s *Scheduler) onNode(node *v1.Node) {
	if ev := s.cache.setNode(node); ev != 0 {
		s.queue.move(ev)
	}
}

func (s *Scheduler) onNodeDelete(obj any) {
	if t, ok := obj.(toolscache.DeletedFinalStateUnknown); ok {
		obj = t.Obj
	}
	if node, ok := obj.(*v1.Node); ok {
		s.cache.removeNode(node.Name)
	}
}

// matchNamespaces resolves a pod affinity term's namespaceSelector.
func (s *Scheduler) matchNamespaces(sel labels.Selector) []string {
	list, err := s.nsList.List(sel)
	if err != nil {
		return nil
	}
	names := make([]string, len(list))
	for i, ns := range list {
		names[i] = ns.Name
	}
	return names
}

// scheduleOne runs one scheduling cycle: pop a pod, pick a node, assume
// the pod there, and hand the binding to a writer. False when the queue is
// closed.
func (s *Scheduler) scheduleOne(ctx context.Context) bool {
	item, ok := s.queue.pop()
	if !ok {
		return false
	}
	node, err := s.place(item.key, item.pod)
	switch {
	case errors.Is(err, errAlreadyPlaced):
		s.queue.done(item.key)
	case err != nil:
		s.failed(ctx, item, err)
	default:
		s.write(ctx, func() { s.bind(ctx, item.key, item.pod, node) })
	}
	return true
}

var errAlreadyPlaced = errors.New("pod is already bound or assumed")

// place picks a node for pod and assumes it there, in one hold of the
// cache lock so that no other decision sees the node without it.
func (s *Scheduler) place(key string, pod *v1.Pod) (string, error) {
	p := newPodInfo(pod, "")
	c := s.cache
	c.mu.Lock()
	defer c.mu.Unlock()
	if c.pods[key] != nil {
		return "", errAlreadyPlaced
	}
	node, err := s.algo.schedule(c, pod, p)
	if err != nil {
		return "", err
	}
	return node, c.assumeLocked(key, p, node)
}

// write runs fn in a writer goroutine, waiting while defaultParallelism
// writes are in flight.
func (s *Scheduler) write(ctx context.Context, fn func()) {
	select {
	case s.writes <- struct{}{}:
	case <-ctx.Done():
		fn() // still settles the pod (its API call fails at once)
		return
	}
	s.wg.Add(1)
	go func() {
		defer func() { <-s.writes; s.wg.Done() }()
		fn()
	}()
}

// bind writes the binding of an assumed pod. On failure the pod is
// forgotten, freeing the node, and goes back to the queue with back-off
// unless it is gone.
func (s *Scheduler) bind(ctx context.Context, key string, pod *v1.Pod, node string) {
	b := &v1.Binding{
		ObjectMeta: metav1.ObjectMeta{Namespace: pod.Namespace, Name: pod.Name, UID: pod.UID},
		Target:     v1.ObjectReference{Kind: "Node", Name: node},
	}
	var err error
	for range 3 {
		err = s.client.CoreV1().Pods(pod.Namespace).Bind(ctx, b, metav1.CreateOptions{})
		// A conflict on the pod's revision (a concurrent status write) is
		// worth another go at once; anything else waits for back-off.
		if !apierrors.IsConflict(err) || strings.Contains(err.Error(), "already assigned") || strings.Contains(err.Error(), "being deleted") {
			break
		}
	}
	if err == nil {
		s.queue.done(key)
		s.bound.Add(1)
		if s.scheduledEvents {
			s.recorder.Eventf(pod, v1.EventTypeNormal, "Scheduled", "Successfully assigned %s to %s", key, node)
		}
		return
	}
	s.cache.forget(key)
	s.queue.move(podFreed)
	switch {
	case apierrors.IsNotFound(err):
		s.queue.delete(key)
	case ctx.Err() != nil:
	default:
		// A pod bound by someone else or being deleted is dropped from the
		// queue by its informer event; until then it backs off.
		s.log.Info("binding failed; retrying", "pod", key, "node", node, "err", err)
		s.queue.retry(key)
	}
}

// failed handles a cycle that found no node: the pod backs off or is
// parked until the cluster changes, and the user learns why through a
// FailedScheduling Event and the PodScheduled condition.
func (s *Scheduler) failed(ctx context.Context, item queuedItem, err error) {
	var fe *fitError
	if errors.As(err, &fe) {
		s.queue.unschedulable(item.key, fe.cures)
	} else {
		s.log.Warn("scheduling failed", "pod", item.key, "err", err)
		s.queue.retry(item.key)
	}
	msg := err.Error()
	s.recorder.Event(item.pod, v1.EventTypeWarning, "FailedScheduling", msg)
	if !needsCondition(item.pod, msg) {
		return
	}
	s.write(ctx, func() {
		if err := s.setUnschedulable(ctx, item.pod, msg); err != nil {
			s.log.Debug("set PodScheduled condition", "pod", item.key, "err", err)
		}
	})
}

// needsCondition reports whether pod's PodScheduled condition must be
// written to say msg: it is written only when it changes, so that retries
// do not turn into a storm of writes.
func needsCondition(pod *v1.Pod, msg string) bool {
	for _, c := range pod.Status.Conditions {
		if c.Type == v1.PodScheduled {
			return c.Status != v1.ConditionFalse || c.Reason != v1.PodReasonUnschedulable || c.Message != msg
		}
	}
	return true
}

// setUnschedulable sets pod's PodScheduled condition to False, reason
// Unschedulable, with msg.
func (s *Scheduler) setUnschedulable(ctx context.Context, pod *v1.Pod, msg string) error {
	pod = pod.DeepCopy()
	cond := v1.PodCondition{
		Type: v1.PodScheduled, Status: v1.ConditionFalse, Reason: v1.PodReasonUnschedulable,
		Message: msg, LastTransitionTime: metav1.Now(),
	}
	found := false
	for i := range pod.Status.Conditions {
		if pod.Status.Conditions[i].Type == v1.PodScheduled {
			if pod.Status.Conditions[i].Status == v1.ConditionFalse {
				cond.LastTransitionTime = pod.Status.Conditions[i].LastTransitionTime
			}
			pod.Status.Conditions[i], found = cond, true
		}
	}
	if !found {
		pod.Status.Conditions = append(pod.Status.Conditions, cond)
	}
	if _, err := s.client.CoreV1().Pods(pod.Namespace).UpdateStatus(ctx, pod, metav1.UpdateOptions{}); err != nil {
		return fmt.Errorf("update status of pod %s/%s: %w", pod.Namespace, pod.Name, err)
	}
	return nil
}
