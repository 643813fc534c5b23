package disruption

import (
	"context"
	"fmt"
	"log/slog"
	"time"

	appsv1 "k8s.io/api/apps/v1"
	corev1 "k8s.io/api/core/v1"
	policyv1 "k8s.io/api/policy/v1"
	apiequality "k8s.io/apimachinery/pkg/api/equality"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	apimeta "k8s.io/apimachinery/pkg/api/meta"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/labels"
	"k8s.io/client-go/kubernetes"
	appslisters "k8s.io/client-go/listers/apps/v1"
	corelisters "k8s.io/client-go/listers/core/v1"
	policylisters "k8s.io/client-go/listers/policy/v1"
	"k8s.io/client-go/tools/cache"
	"k8s.io/client-go/tools/record"

	"github.com/sqlkube/sqlkube/controllers/reconcile"
)

// Name is the controller's name in logs, events and the controller
// manager's --controllers flag.
const Name = "disruption"

// DeletionTimeout is how long a pod stays in a budget's
// status.disruptedPods after the eviction handler recorded it there. The
// eviction deletes the pod at once, so the controller normally sees it
// terminating within a second or two; an entry older than this is taken
// as an eviction whose deletion never happened, and dropped so that the
// pod counts as healthy again. It is Kubernetes' value.
const DeletionTimeout = 2 * time.Minute

// Controller keeps the status of PodDisruptionBudgets: how many of the
// pods they select are healthy, how many must be, and so how many may be
// evicted now.
type Controller struct {
	client    kubernetes.Interface
	log       *slog.Logger
	recorder  record.EventRecorder
	pdbLister policylisters.PodDisruptionBudgetLister
	podLister corelisters.PodLister
	rsLister  appslisters.ReplicaSetLister
	dLister   appslisters.DeploymentLister
	ssLister  appslisters.StatefulSetLister
	synced    []cache.InformerSynced
	queue     *reconcile.Queue
	// now is the controller's clock (time.Now); tests set it.
	now func() time.Time
}

// New returns a controller that watches PodDisruptionBudgets, pods,
// ReplicaSets, Deployments and StatefulSets through cfg.Informers. The
// caller starts the informer factory.
func New(cfg *reconcile.Config) *Controller {
	pdbInf := cfg.Informers.Policy().V1().PodDisruptionBudgets()
	podInf := cfg.Informers.Core().V1().Pods()
	rsInf := cfg.Informers.Apps().V1().ReplicaSets()
	dInf := cfg.Informers.Apps().V1().Deployments()
	ssInf := cfg.Informers.Apps().V1().StatefulSets()
	c := &Controller{
		client:    cfg.Client,
		log:       cfg.Log(Name),
		recorder:  cfg.Recorder(Name + "-controller"),
		pdbLister: pdbInf.Lister(),
		podLister: podInf.Lister(),
		rsLister:  rsInf.Lister(),
		dLister:   dInf.Lister(),
		ssLister:  ssInf.Lister(),
		synced: []cache.InformerSynced{
			pdbInf.Informer().HasSynced, podInf.Informer().HasSynced,
			rsInf.Informer().HasSynced, dInf.Informer().HasSynced, ssInf.Informer().HasSynced,
		},
		now: time.Now,
	}
	c.queue = reconcile.NewQueue(Name, c.log, c.sync)
	handlers := []struct {
		what string
		inf  cache.SharedIndexInformer
		h    cache.ResourceEventHandler
	}{
		{"poddisruptionbudget", pdbInf.Informer(), c.queue.EventHandler()},
		{"pod", podInf.Informer(), cache.ResourceEventHandlerFuncs{
			AddFunc:    c.enqueuePod,
			UpdateFunc: c.updatePod,
			DeleteFunc: c.enqueuePod,
		}},
		{"replicaset", rsInf.Informer(), c.workloadHandler()},
		{"deployment", dInf.Informer(), c.workloadHandler()},
		{"statefulset", ssInf.Informer(), c.workloadHandler()},
	}
	for _, x := range handlers {
		if _, err := x.inf.AddEventHandler(x.h); err != nil {
			c.log.Error("add event handler", "resource", x.what, "err", err)
		}
	}
	return c
}

// Run syncs PodDisruptionBudgets with workers goroutines until ctx is
// done.
func (c *Controller) Run(ctx context.Context, workers int) {
	c.log.Info("starting", "workers", workers)
	defer c.log.Info("stopped")
	c.queue.Run(ctx, workers, c.synced...)
}

// enqueuePod queues the budgets that select a pod that appeared, went away
// (obj may be a tombstone) or changed.
func (c *Controller) enqueuePod(obj any) {
	pod, ok := reconcile.ObjectOf[*corev1.Pod](obj)
	if !ok {
		return
	}
	c.enqueueSelecting(pod)
}

// updatePod queues the budgets that select the pod before or after the
// update: one whose labels changed leaves a budget and may join another.
func (c *Controller) updatePod(old, cur any) {
	if reconcile.Unchanged(old, cur) {
		return
	}
	oldPod, curPod := old.(*corev1.Pod), cur.(*corev1.Pod)
	c.enqueueSelecting(curPod)
	if !labels.Equals(oldPod.Labels, curPod.Labels) {
		c.enqueueSelecting(oldPod)
	}
}

// enqueueSelecting queues every budget in pod's namespace whose selector
// matches it. Kubernetes queues only one of them (a pod with several
// budgets cannot be evicted anyway), but each budget's counts change.
func (c *Controller) enqueueSelecting(pod *corev1.Pod) {
	pdbs, err := c.pdbLister.PodDisruptionBudgets(pod.Namespace).List(labels.Everything())
	if err != nil {
		return
	}
	for _, pdb := range pdbs {
		sel, err := metav1.LabelSelectorAsSelector(pdb.Spec.Selector)
		if err != nil || !sel.Matches(labels.Set(pod.Labels)) {
			continue
		}
		c.queue.Add(reconcile.Key(pdb))
	}
}

// workloadHandler returns the handlers for ReplicaSets, Deployments and
// StatefulSets: their spec.replicas is the expected pod count of budgets
// given as a percentage or as maxUnavailable, and one that appears may
// be the missing controller a budget failed on. Any of them queues every
// budget of its namespace; working out which budgets select its pods is
// not worth it for how rarely they scale.
func (c *Controller) workloadHandler() cache.ResourceEventHandler {
	return cache.ResourceEventHandlerFuncs{
		AddFunc: c.enqueueNamespace,
		UpdateFunc: func(old, cur any) {
			o, ok1 := old.(metav1.Object)
			n, ok2 := cur.(metav1.Object)
			if !ok1 || !ok2 || reconcile.Unchanged(old, cur) {
				return
			}
			if replicasOf(old) != replicasOf(cur) || controllerUID(o) != controllerUID(n) {
				c.enqueueNamespace(cur)
			}
		},
		DeleteFunc: c.enqueueNamespace,
	}
}

// enqueueNamespace queues every budget in the namespace of obj (which may
// be a tombstone).
func (c *Controller) enqueueNamespace(obj any) {
	o, ok := reconcile.ObjectOf[metav1.Object](obj)
	if !ok {
		return
	}
	pdbs, err := c.pdbLister.PodDisruptionBudgets(o.GetNamespace()).List(labels.Everything())
	if err != nil {
		return
	}
	for _, pdb := range pdbs {
		c.queue.Add(reconcile.Key(pdb))
	}
}

// replicasOf returns the spec.replicas of a ReplicaSet, Deployment or
// StatefulSet, -1 for anything else.
func replicasOf(obj any) int32 {
	var r *int32
	switch o := obj.(type) {
	case *appsv1.ReplicaSet:
		r = o.Spec.Replicas
	case *appsv1.Deployment:
		r = o.Spec.Replicas
	case *appsv1.StatefulSet:
		r = o.Spec.Replicas
	default:
		return -1
	}
	return replicas(r)
}

func controllerUID(o metav1.Object) string {
	if ref := metav1.GetControllerOf(o); ref != nil {
		return string(ref.UID)
	}
	return ""
}

// sync brings the status of the budget named by key up to date. When the
// counts cannot be worked out (a pod's controller is unknown, say), it
// writes disruptionsAllowed 0 with the condition reason SyncFailed, so
// that no eviction goes through on a stale figure, and, as Kubernetes
// does, does not retry: the event that fixes the cause queues the budget.
// A failed write is retried.
func (c *Controller) sync(ctx context.Context, key string) error {
	ns, name, err := cache.SplitMetaNamespaceKey(key)
	if err != nil {
		return reconcile.Permanent(fmt.Errorf("poddisruptionbudget key %q: %w", key, err))
	}
	pdb, err := c.pdbLister.PodDisruptionBudgets(ns).Get(name)
	if apierrors.IsNotFound(err) {
		return nil
	}
	if err != nil {
		return fmt.Errorf("get poddisruptionbudget %s: %w", key, err)
	}
	err = c.trySync(ctx, pdb)
	if err == nil || apierrors.IsConflict(err) || ctx.Err() != nil {
		// A conflict means the cache is behind: retry once it caught up.
		return err
	}
	c.log.Warn("sync failed; no disruptions allowed", "poddisruptionbudget", key, "err", err)
	return c.failSafe(ctx, pdb, err)
}

// trySync computes pdb's status from its pods and writes it if it
// changed, then queues pdb again for when its oldest disruptedPods entry
// expires.
func (c *Controller) trySync(ctx context.Context, pdb *policyv1.PodDisruptionBudget) error {
	key := reconcile.Key(pdb)
	pods, err := c.podsOf(pdb)
	if err != nil {
		c.recorder.Eventf(pdb, corev1.EventTypeWarning, "NoPods", "Failed to get pods: %v", err)
		return fmt.Errorf("pods of poddisruptionbudget %s: %w", key, err)
	}
	if len(pods) == 0 {
		c.recorder.Event(pdb, corev1.EventTypeNormal, "NoPods", "No matching pods found")
	}
	exp, err := c.expectedPods(pdb, pods)
	if err != nil {
		c.recorder.Eventf(pdb, corev1.EventTypeWarning, "CalculateExpectedPodCountFailed", "Failed to calculate the number of expected pods: %v", err)
		return err
	}
	if len(exp.unmanaged) > 0 {
		c.log.Debug("budget selects pods without a controller", "poddisruptionbudget", key, "pods", exp.unmanaged)
		c.recorder.Eventf(pdb, corev1.EventTypeWarning, "UnmanagedPods", "Pods selected by this PodDisruptionBudget (selector: %v) were found "+
			"to be unmanaged. As a result, the status of the PDB cannot be calculated correctly, which may result in undefined behavior. "+
			"To account for these pods please set \".spec.minAvailable\" field of the PDB to an integer value.", pdb.Spec.Selector)
	}

	now := c.now()
	disrupted, recheck := c.disruptedPods(pdb, pods, now)
	status := newStatus(pdb, exp, countHealthy(pods, disrupted, now), disrupted, now)
	if err := c.writeStatus(ctx, pdb, status); err != nil {
		return err
	}
	if !recheck.IsZero() {
		c.queue.AddAfter(key, recheck.Sub(now))
	}
	return nil
}

// podsOf returns the pods in pdb's namespace that its selector matches:
// none for a missing selector, all for an empty one (policy/v1).
func (c *Controller) podsOf(pdb *policyv1.PodDisruptionBudget) ([]*corev1.Pod, error) {
	sel, err := metav1.LabelSelectorAsSelector(pdb.Spec.Selector)
	if err != nil {
		return nil, fmt.Errorf("selector: %w", err)
	}
	return c.podLister.Pods(pdb.Namespace).List(sel)
}

// failSafe sets disruptionsAllowed to 0 with the condition
// DisruptionAllowed False, reason SyncFailed and cause as its message, so
// that the eviction handler refuses evictions while the budget cannot be
// computed. The other counts and observedGeneration are left as they
// were.
func (c *Controller) failSafe(ctx context.Context, pdb *policyv1.PodDisruptionBudget, cause error) error {
	status := pdb.Status.DeepCopy()
	status.DisruptionsAllowed = 0
	apimeta.SetStatusCondition(&status.Conditions, metav1.Condition{
		Type:               policyv1.DisruptionAllowedCondition,
		Status:             metav1.ConditionFalse,
		Reason:             policyv1.SyncFailedReason,
		Message:            cause.Error(),
		ObservedGeneration: status.ObservedGeneration,
		LastTransitionTime: metav1.NewTime(c.now()),
	})
	return c.writeStatus(ctx, pdb, status)
}

// writeStatus writes status as pdb's through the status subresource,
// unless it is what pdb has. A budget deleted meanwhile is not an error.
func (c *Controller) writeStatus(ctx context.Context, pdb *policyv1.PodDisruptionBudget, status *policyv1.PodDisruptionBudgetStatus) error {
	if apiequality.Semantic.DeepEqual(&pdb.Status, status) {
		return nil
	}
	next := pdb.DeepCopy()
	next.Status = *status
	_, err := c.client.PolicyV1().PodDisruptionBudgets(pdb.Namespace).UpdateStatus(ctx, next, metav1.UpdateOptions{})
	if apierrors.IsNotFound(err) {
		return nil
	}
	if err != nil {
		return fmt.Errorf("update status of poddisruptionbudget %s: %w", reconcile.Key(pdb), err)
	}
	return nil
}
