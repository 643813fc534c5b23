package namespace

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"slices"
	"sort"
	"strings"
	"sync"
	"time"

	corev1 "k8s.io/api/core/v1"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/runtime/schema"
	"k8s.io/client-go/discovery"
	"k8s.io/client-go/kubernetes"
	corelisters "k8s.io/client-go/listers/core/v1"
	"k8s.io/client-go/metadata"
	"k8s.io/client-go/tools/cache"

	"github.com/sqlkube/sqlkube/controllers/reconcile"
)

const (
	// discoveryTTL is how long a discovered resource list is reused.
	discoveryTTL = 30 * time.Second
	// Back-off while content remains: first retry, and the longest wait.
	minRetry = 200 * time.Millisecond
	maxRetry = 5 * time.Second
)

// Controller deletes the content of terminating namespaces and then
// finalizes them.
type Controller struct {
	client     kubernetes.Interface
	discovery  discovery.DiscoveryInterface
	metadata   metadata.Interface
	namespaces corelisters.NamespaceLister
	synced     []cache.InformerSynced
	queue      *reconcile.Queue
	log        *slog.Logger

	mu         sync.Mutex
	resources  []schema.GroupVersionResource
	discovered time.Time
	retries    map[string]int // namespace → consecutive syncs with content left
}

// New builds the controller and registers its Namespace informer with
// cfg.Informers. It needs cfg.RESTConfig for the metadata client that
// lists and deletes content of any kind.
func New(cfg *reconcile.Config) *Controller {
	var md metadata.Interface
	if cfg.RESTConfig != nil {
		md = metadata.NewForConfigOrDie(cfg.RESTConfig)
	}
	return newController(cfg, md)
}

func newController(cfg *reconcile.Config, md metadata.Interface) *Controller {
	inf := cfg.Informers.Core().V1().Namespaces()
	c := &Controller{
		client:     cfg.Client,
		discovery:  cfg.Client.Discovery(),
		metadata:   md,
		namespaces: inf.Lister(),
		synced:     []cache.InformerSynced{inf.Informer().HasSynced},
		log:        cfg.Log("namespace"),
		retries:    map[string]int{},
	}
	c.queue = reconcile.NewQueue("namespace", c.log, c.sync)
	enqueue := func(obj any) {
		if ns, ok := obj.(*corev1.Namespace); ok && ns.DeletionTimestamp != nil {
			c.queue.Enqueue(ns)
		}
	}
	_, _ = inf.Informer().AddEventHandler(cache.ResourceEventHandlerFuncs{
		AddFunc: enqueue,
		UpdateFunc: func(old, cur any) {
			if !reconcile.Unchanged(old, cur) {
				enqueue(cur)
			}
		},
	})
	return c
}

// Run syncs terminating namespaces with workers goroutines until ctx is
// done.
func (c *Controller) Run(ctx context.Context, workers int) {
	if c.metadata == nil {
		c.log.Error("no REST config: namespace deletion disabled")
		<-ctx.Done()
		return
	}
	c.log.Info("starting")
	defer c.log.Info("stopped")
	c.queue.Run(ctx, workers, c.synced...)
}

// sync deletes the content of namespace name if it is terminating and
// finalizes it once the content is gone.
func (c *Controller) sync(ctx context.Context, name string) error {
	ns, err := c.namespaces.Get(name)
	if apierrors.IsNotFound(err) {
		c.forget(name)
		return nil
	}
	if err != nil {
		return fmt.Errorf("get namespace %s: %w", name, err)
	}
	if ns.DeletionTimestamp == nil || !slices.Contains(ns.Spec.Finalizers, corev1.FinalizerKubernetes) {
		c.forget(name)
		return nil
	}
	res := c.deleteContent(ctx, name)
	if err := c.updateConditions(ctx, ns, res); err != nil {
		c.log.Debug("update namespace conditions", "namespace", name, "err", err)
	}
	if !res.done() {
		d := c.backoff(name)
		c.log.Debug("namespace content remains", "namespace", name, "remaining", res.remaining, "failures", len(res.failures), "retry", d)
		c.queue.AddAfter(name, d)
		return nil
	}
	if err := c.finalize(ctx, name); err != nil {
		return err
	}
	c.forget(name)
	c.log.Info("namespace content deleted; finalized", "namespace", name)
	return nil
}

func (c *Controller) backoff(name string) time.Duration {
	c.mu.Lock()
	defer c.mu.Unlock()
	n := c.retries[name]
	c.retries[name] = n + 1
	d := minRetry << min(n, 10)
	return min(d, maxRetry)
}

func (c *Controller) forget(name string) {
	c.mu.Lock()
	defer c.mu.Unlock()
	delete(c.retries, name)
}

// result is what one pass over a namespace's content found.
type result struct {
	discoveryErr error
	failures     []error
	remaining    map[string]int // "pods", "deployments.apps" → count
	finalizers   map[string]int // finalizer → objects that still carry it
}

func (r *result) done() bool {
	return r.discoveryErr == nil && len(r.failures) == 0 && len(r.remaining) == 0
}

// deleteContent deletes every object in namespace ns of every discovered
// resource and reports what is left.
func (c *Controller) deleteContent(ctx context.Context, ns string) *result {
	res := &result{remaining: map[string]int{}, finalizers: map[string]int{}}
	gvrs, err := c.contentResources(ctx)
	res.discoveryErr = err
	for _, gvr := range gvrs {
		n, fins, err := c.deleteResource(ctx, gvr, ns)
		if err != nil {
			res.failures = append(res.failures, err)
			continue
		}
		if n > 0 {
			res.remaining[gvr.GroupResource().String()] = n
		}
		for f, k := range fins {
			res.finalizers[f] += k
		}
	}
	return res
}

// deleteResource deletes the objects of gvr in ns and returns how many are
// left and the finalizers they carry.
func (c *Controller) deleteResource(ctx context.Context, gvr schema.GroupVersionResource, ns string) (int, map[string]int, error) {
	client := c.metadata.Resource(gvr).Namespace(ns)
	list, err := client.List(ctx, metav1.ListOptions{})
	if apierrors.IsNotFound(err) || apierrors.IsMethodNotSupported(err) {
		return 0, nil, nil // the resource went away since discovery
	}
	if err != nil {
		return 0, nil, fmt.Errorf("list %s in %s: %w", gvr.GroupResource(), ns, err)
	}
	pending := 0 // objects not yet marked for deletion
	for _, o := range list.Items {
		if o.DeletionTimestamp == nil {
			pending++
		}
	}
	if pending > 0 {
		background := metav1.DeletePropagationBackground
		opts := metav1.DeleteOptions{PropagationPolicy: &background}
		err := client.DeleteCollection(ctx, opts, metav1.ListOptions{})
		if apierrors.IsMethodNotSupported(err) || apierrors.IsNotFound(err) {
			err = nil
			for _, o := range list.Items {
				if o.DeletionTimestamp != nil {
					continue
				}
				if derr := client.Delete(ctx, o.Name, opts); derr != nil && !apierrors.IsNotFound(derr) {
					err = errors.Join(err, derr)
				}
			}
		}
		if err != nil {
			return 0, nil, fmt.Errorf("delete %s in %s: %w", gvr.GroupResource(), ns, err)
		}
		if list, err = client.List(ctx, metav1.ListOptions{}); err != nil {
			return 0, nil, fmt.Errorf("list %s in %s: %w", gvr.GroupResource(), ns, err)
		}
	}
	fins := map[string]int{}
	for _, o := range list.Items {
		for _, f := range o.Finalizers {
			fins[f]++
		}
	}
	return len(list.Items), fins, nil
}

// contentResources returns the namespaced resources that support list and
// deletecollection, from a discovery cached for discoveryTTL. On a partial
// discovery failure it returns what it found and the error.
func (c *Controller) contentResources(ctx context.Context) ([]schema.GroupVersionResource, error) {
	c.mu.Lock()
	if c.resources != nil && time.Since(c.discovered) < discoveryTTL {
		defer c.mu.Unlock()
		return c.resources, nil
	}
	c.mu.Unlock()

	_, lists, err := c.discovery.ServerGroupsAndResources()
	var gvrs []schema.GroupVersionResource
	seen := map[schema.GroupResource]bool{}
	for _, l := range lists {
		gv, perr := schema.ParseGroupVersion(l.GroupVersion)
		if perr != nil {
			continue
		}
		for _, r := range l.APIResources {
			if !r.Namespaced || strings.Contains(r.Name, "/") ||
				!slices.Contains(r.Verbs, "list") || !slices.Contains(r.Verbs, "deletecollection") {
				continue
			}
			gvr := gv.WithResource(r.Name)
			if seen[gvr.GroupResource()] {
				continue
			}
			seen[gvr.GroupResource()] = true
			gvrs = append(gvrs, gvr)
		}
	}
	if err != nil {
		return gvrs, fmt.Errorf("discover namespaced resources: %w", err)
	}
	c.mu.Lock()
	c.resources, c.discovered = gvrs, time.Now()
	c.mu.Unlock()
	return gvrs, nil
}

// finalize removes the kubernetes finalizer from the namespace's
// spec.finalizers through the finalize subresource.
func (c *Controller) finalize(ctx context.Context, name string) error {
	ns, err := c.client.CoreV1().Namespaces().Get(ctx, name, metav1.GetOptions{})
	if apierrors.IsNotFound(err) {
		return nil
	}
	if err != nil {
		return fmt.Errorf("get namespace %s: %w", name, err)
	}
	if !slices.Contains(ns.Spec.Finalizers, corev1.FinalizerKubernetes) {
		return nil
	}
	ns.Spec.Finalizers = slices.DeleteFunc(slices.Clone(ns.Spec.Finalizers), func(f corev1.FinalizerName) bool {
		return f == corev1.FinalizerKubernetes
	})
	if _, err := c.client.CoreV1().Namespaces().Finalize(ctx, ns, metav1.UpdateOptions{}); err != nil && !apierrors.IsNotFound(err) {
		return fmt.Errorf("finalize namespace %s: %w", name, err)
	}
	return nil
}

// Condition reasons, as in Kubernetes.
const (
	reasonDiscoveryFailed      = "DiscoveryFailed"
	reasonResourcesDiscovered  = "ResourcesDiscovered"
	reasonContentDeleteFailed  = "ContentDeletionFailed"
	reasonContentDeleted       = "ContentDeleted"
	reasonSomeResourcesRemain  = "SomeResourcesRemain"
	reasonContentRemoved       = "ContentRemoved"
	reasonSomeFinalizersRemain = "SomeFinalizersRemain"
	reasonNoFinalizers         = "ContentHasNoFinalizers"
)

// conditions renders res as the namespace deletion conditions.
func conditions(res *result) []corev1.NamespaceCondition {
	cond := func(t corev1.NamespaceConditionType, bad bool, badReason, goodReason, msg string) corev1.NamespaceCondition {
		if bad {
			return corev1.NamespaceCondition{Type: t, Status: corev1.ConditionTrue, Reason: badReason, Message: msg}
		}
		return corev1.NamespaceCondition{Type: t, Status: corev1.ConditionFalse, Reason: goodReason, Message: "All " + goodMessage[t]}
	}
	var failures []string
	for _, err := range res.failures {
		failures = append(failures, err.Error())
	}
	var remaining []string
	for r, n := range res.remaining {
		remaining = append(remaining, fmt.Sprintf("%s has %d resource instances", r, n))
	}
	sort.Strings(remaining)
	var fins []string
	for f, n := range res.finalizers {
		fins = append(fins, fmt.Sprintf("%s in %d resource instances", f, n))
	}
	sort.Strings(fins)
	discoveryMsg := ""
	if res.discoveryErr != nil {
		discoveryMsg = "Discovery failed for some groups: " + res.discoveryErr.Error()
	}
	return []corev1.NamespaceCondition{
		cond(corev1.NamespaceDeletionDiscoveryFailure, res.discoveryErr != nil, reasonDiscoveryFailed, reasonResourcesDiscovered, discoveryMsg),
		cond(corev1.NamespaceDeletionContentFailure, len(failures) > 0, reasonContentDeleteFailed, reasonContentDeleted,
			"Failed to delete all resource types, "+fmt.Sprint(len(failures))+" remaining: "+strings.Join(failures, ", ")),
		cond(corev1.NamespaceContentRemaining, len(remaining) > 0, reasonSomeResourcesRemain, reasonContentRemoved,
			"Some resources are remaining: "+strings.Join(remaining, ", ")),
		cond(corev1.NamespaceFinalizersRemaining, len(fins) > 0, reasonSomeFinalizersRemain, reasonNoFinalizers,
			"Some content in the namespace has finalizers remaining: "+strings.Join(fins, ", ")),
	}
}

var goodMessage = map[corev1.NamespaceConditionType]string{
	corev1.NamespaceDeletionDiscoveryFailure: "resources successfully discovered",
	corev1.NamespaceDeletionContentFailure:   "content successfully deleted, may be waiting on finalization",
	corev1.NamespaceContentRemaining:         "content successfully removed",
	corev1.NamespaceFinalizersRemaining:      "content-preserving finalizers finished",
}

// updateConditions writes the deletion conditions of ns when they changed.
func (c *Controller) updateConditions(ctx context.Context, ns *corev1.Namespace, res *result) error {
	want := conditions(res)
	upd := ns.DeepCopy()
	changed := false
	now := metav1.Now()
	for _, w := range want {
		i := slices.IndexFunc(upd.Status.Conditions, func(c corev1.NamespaceCondition) bool { return c.Type == w.Type })
		if i < 0 {
			w.LastTransitionTime = now
			upd.Status.Conditions = append(upd.Status.Conditions, w)
			changed = true
			continue
		}
		cur := &upd.Status.Conditions[i]
		if cur.Status == w.Status && cur.Reason == w.Reason && cur.Message == w.Message {
			continue
		}
		if cur.Status != w.Status {
			cur.LastTransitionTime = now
		}
		cur.Status, cur.Reason, cur.Message = w.Status, w.Reason, w.Message
		changed = true
	}
	if !changed {
		return nil
	}
	if _, err := c.client.CoreV1().Namespaces().UpdateStatus(ctx, upd, metav1.UpdateOptions{}); err != nil {
		return fmt.Errorf("update status of namespace %s: %w", ns.Name, err)
	}
	return nil
}
