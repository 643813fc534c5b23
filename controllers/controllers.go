package controllers

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"sync"
	"time"

	corev1 "k8s.io/api/core/v1"
	utilruntime "k8s.io/apimachinery/pkg/util/runtime"
	"k8s.io/apimachinery/pkg/util/wait"
	"k8s.io/client-go/informers"
	"k8s.io/client-go/kubernetes"
	"k8s.io/client-go/kubernetes/scheme"
	typedcorev1 "k8s.io/client-go/kubernetes/typed/core/v1"
	"k8s.io/client-go/rest"
	"k8s.io/client-go/tools/cache"
	"k8s.io/client-go/tools/record"
	"k8s.io/client-go/util/workqueue"
)

// Config is what a controller is built from. Client and Informers are
// required; the informer factory is shared by all controllers of a process
// and started by the caller after every controller registered its informers.
type Config struct {
	Client    kubernetes.Interface
	Informers informers.SharedInformerFactory
	// RESTConfig is the client configuration, for controllers that need a
	// dynamic or metadata client (namespace deletion, garbage collection).
	// Nil in unit tests that use fake clients.
	RESTConfig *rest.Config
	Logger     *slog.Logger
	// RootCA is the PEM CA bundle published in every namespace's
	// kube-root-ca.crt ConfigMap (kube-controller-manager's
	// --root-ca-file); default: RESTConfig's CA.
	RootCA []byte

	// NodeMonitorGracePeriod is how long a node may go without renewing its
	// Lease before it is marked NotReady/Unknown (default 40s).
	NodeMonitorGracePeriod time.Duration
	// OrphanQuarantine is how long a node must be missing before the pods
	// bound to it are deleted (default 40s).
	OrphanQuarantine time.Duration

	recorders recorders
}

// Log returns the controller's logger (slog.Default when none was set),
// with the controller's name attached.
func (c *Config) Log(controller string) *slog.Logger {
	l := c.Logger
	if l == nil {
		l = slog.Default()
	}
	return l.With("controller", controller)
}

// Recorder returns an event recorder that posts Events as component. All
// recorders of a Config share one broadcaster.
func (c *Config) Recorder(component string) record.EventRecorder {
	return c.recorders.get(c.Client, component)
}

// Shutdown stops the event broadcaster, flushing queued events.
func (c *Config) Shutdown() { c.recorders.shutdown() }

type recorders struct {
	mu          sync.Mutex
	broadcaster record.EventBroadcaster
}

func (r *recorders) get(client kubernetes.Interface, component string) record.EventRecorder {
	r.mu.Lock()
	defer r.mu.Unlock()
	if r.broadcaster == nil {
		r.broadcaster = record.NewBroadcaster()
		r.broadcaster.StartRecordingToSink(&typedcorev1.EventSinkImpl{Interface: client.CoreV1().Events("")})
	}
	return r.broadcaster.NewRecorder(scheme.Scheme, corev1.EventSource{Component: component})
}

func (r *recorders) shutdown() {
	r.mu.Lock()
	defer r.mu.Unlock()
	if r.broadcaster != nil {
		r.broadcaster.Shutdown()
		r.broadcaster = nil
	}
}

// ErrPermanent marks an error that retrying the same key cannot fix (an
// invalid object, say). Queue logs it and drops the key instead of
// requeueing it with back-off. Wrap with fmt.Errorf("...: %w", ErrPermanent)
// or Permanent(err).
var ErrPermanent = errors.New("not retried")

// Permanent wraps err so that Queue does not retry it.
func Permanent(err error) error {
	if err == nil {
		return nil
	}
	return fmt.Errorf("%w (%w)", err, ErrPermanent)
}

// SyncFunc reconciles the object named by key. It must be idempotent.
type SyncFunc func(ctx context.Context, key string) error

// Queue is a rate-limited work queue of keys with a sync function. Event
// handlers call Enqueue (or Add); Run starts the workers. A key is never
// processed by two workers at once.
type Queue struct {
	name  string
	sync  SyncFunc
	log   *slog.Logger
	queue workqueue.TypedRateLimitingInterface[string]
}

// NewQueue returns a queue named name (used in logs and metrics) that runs
// sync for every key added to it.
func NewQueue(name string, log *slog.Logger, sync SyncFunc) *Queue {
	if log == nil {
		log = slog.Default()
	}
	return &Queue{
		name: name,
		sync: sync,
		log:  log,
		queue: workqueue.NewTypedRateLimitingQueueWithConfig(
			workqueue.DefaultTypedControllerRateLimiter[string](),
			workqueue.TypedRateLimitingQueueConfig[string]{Name: name},
		),
	}
}

// Add queues key.
func (q *Queue) Add(key string) { q.queue.Add(key) }

// AddAfter queues key after d (for time-based work: minReadySeconds,
// toleration expiry, progress deadlines).
func (q *Queue) AddAfter(key string, d time.Duration) { q.queue.AddAfter(key, d) }

// Enqueue queues the key of obj, which may be a
// cache.DeletedFinalStateUnknown tombstone.
func (q *Queue) Enqueue(obj any) {
	key, err := cache.DeletionHandlingMetaNamespaceKeyFunc(obj)
	if err != nil {
		utilruntime.HandleError(fmt.Errorf("%s: key of %T: %w", q.name, obj, err))
		return
	}
	q.queue.Add(key)
}

// Len is the number of keys waiting.
func (q *Queue) Len() int { return q.queue.Len() }

// Run waits for the caches in synced, then runs workers goroutines until
// ctx is done, and shuts the queue down.
func (q *Queue) Run(ctx context.Context, workers int, synced ...cache.InformerSynced) {
	defer q.queue.ShutDown()
	if !cache.WaitForNamedCacheSync(q.name, ctx.Done(), synced...) {
		return
	}
	if workers < 1 {
		workers = 1
	}
	var wg sync.WaitGroup
	for range workers {
		wg.Add(1)
		go func() {
			defer wg.Done()
			wait.UntilWithContext(ctx, func(ctx context.Context) {
				for q.next(ctx) {
				}
			}, time.Second)
		}()
	}
	<-ctx.Done()
	q.queue.ShutDown()
	wg.Wait()
}

// next processes one key; false when the queue is shut down.
func (q *Queue) next(ctx context.Context) bool {
	key, quit := q.queue.Get()
	if quit {
		return false
	}
	defer q.queue.Done(key)
	err := q.sync(ctx, key)
	switch {
	case err == nil:
		q.queue.Forget(key)
	case errors.Is(err, ErrPermanent):
		q.log.Warn("sync failed; not retrying", "queue", q.name, "key", key, "err", err)
		q.queue.Forget(key)
	case ctx.Err() != nil:
	default:
		q.log.Debug("sync failed; retrying", "queue", q.name, "key", key, "err", err, "requeues", q.queue.NumRequeues(key))
		q.queue.AddRateLimited(key)
	}
	return true
}

// EventHandler returns informer handlers that enqueue the object itself on
// add, update (unless the resourceVersion is unchanged: a resync) and
// delete.
func (q *Queue) EventHandler() cache.ResourceEventHandler {
	return cache.ResourceEventHandlerFuncs{
		AddFunc: q.Enqueue,
		UpdateFunc: func(old, cur any) {
			if Unchanged(old, cur) {
				return
			}
			q.Enqueue(cur)
		},
		DeleteFunc: q.Enqueue,
	}
}

// OwnerEventHandler calls enqueue for every object added, deleted or
// changed (resyncs skipped), with both versions of a changed object: its
// owner may have changed with it. enqueue resolves an object (or a
// deletion tombstone) to the owner to queue, such as the Job of a pod.
func OwnerEventHandler(enqueue func(obj any)) cache.ResourceEventHandlerFuncs {
	return cache.ResourceEventHandlerFuncs{
		AddFunc: enqueue,
		UpdateFunc: func(old, cur any) {
			if Unchanged(old, cur) {
				return
			}
			enqueue(old)
			enqueue(cur)
		},
		DeleteFunc: enqueue,
	}
}

// Unchanged reports whether an update event is a resync of an object whose
// resourceVersion did not change.
func Unchanged(old, cur any) bool {
	o, ok1 := old.(interface{ GetResourceVersion() string })
	c, ok2 := cur.(interface{ GetResourceVersion() string })
	return ok1 && ok2 && o.GetResourceVersion() == c.GetResourceVersion()
}
