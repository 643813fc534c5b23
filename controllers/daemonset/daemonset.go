package daemonset

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"log/slog"
	"sort"
	"time"

	appsv1 "k8s.io/api/apps/v1"
	corev1 "k8s.io/api/core/v1"
	apiequality "k8s.io/apimachinery/pkg/api/equality"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/labels"
	"k8s.io/apimachinery/pkg/types"
	"k8s.io/apimachinery/pkg/util/intstr"
	"k8s.io/client-go/kubernetes"
	appslisters "k8s.io/client-go/listers/apps/v1"
	corelisters "k8s.io/client-go/listers/core/v1"
	"k8s.io/client-go/tools/cache"
	"k8s.io/client-go/tools/record"
	"k8s.io/kubectl/pkg/util/podutils"

	"github.com/sqlkube/sqlkube/controllers/ownership"
	"github.com/sqlkube/sqlkube/controllers/reconcile"
)

// Name is the controller's name in logs, events and the controller
// manager's --controllers flag.
const Name = "daemonset"

// maxBatch caps how many pods one slow-start batch creates at once.
const maxBatch = 64

var controllerKind = appsv1.SchemeGroupVersion.WithKind("DaemonSet")

// Controller keeps one pod of every DaemonSet on each eligible node.
type Controller struct {
	client     kubernetes.Interface
	log        *slog.Logger
	recorder   record.EventRecorder
	dsLister   appslisters.DaemonSetLister
	podLister  corelisters.PodLister
	nodeLister corelisters.NodeLister
	synced     []cache.InformerSynced
	queue      *reconcile.Queue
	owners     *ownership.Owners[*appsv1.DaemonSet]
	pending    *ownership.PendingPods
	now        func() time.Time
}

// New returns a controller that watches DaemonSets, their pods and nodes
// through cfg.Informers. The caller starts the informer factory.
func New(cfg *reconcile.Config) *Controller {
	dsInf := cfg.Informers.Apps().V1().DaemonSets()
	podInf := cfg.Informers.Core().V1().Pods()
	nodeInf := cfg.Informers.Core().V1().Nodes()
	c := &Controller{
		client:     cfg.Client,
		log:        cfg.Log(Name),
		recorder:   cfg.Recorder(Name + "-controller"),
		dsLister:   dsInf.Lister(),
		podLister:  podInf.Lister(),
		nodeLister: nodeInf.Lister(),
		synced:     []cache.InformerSynced{dsInf.Informer().HasSynced, podInf.Informer().HasSynced, nodeInf.Informer().HasSynced},
		pending:    ownership.NewPendingPods(),
		now:        time.Now,
	}
	c.owners = ownership.NewOwners(controllerKind, c.dsLister.DaemonSets,
		func(ds *appsv1.DaemonSet) *metav1.LabelSelector { return ds.Spec.Selector })
	c.queue = reconcile.NewQueue(Name, c.log, c.sync)
	handlers := []struct {
		inf cache.SharedIndexInformer
		h   cache.ResourceEventHandler
	}{
		{dsInf.Informer(), c.queue.EventHandler()},
		{podInf.Informer(), cache.ResourceEventHandlerFuncs{AddFunc: c.addPod, UpdateFunc: c.updatePod, DeleteFunc: c.deletePod}},
		{nodeInf.Informer(), cache.ResourceEventHandlerFuncs{
			AddFunc:    func(any) { c.enqueueAll() },
			UpdateFunc: c.updateNode,
			DeleteFunc: func(any) { c.enqueueAll() },
		}},
	}
	for _, x := range handlers {
		if _, err := x.inf.AddEventHandler(x.h); err != nil {
			c.log.Error("add event handler", "err", err)
		}
	}
	return c
}

// Run syncs DaemonSets with workers goroutines until ctx is done.
func (c *Controller) Run(ctx context.Context, workers int) {
	c.log.Info("starting", "workers", workers)
	defer c.log.Info("stopped")
	c.queue.Run(ctx, workers, c.synced...)
}

// owner returns the key of the DaemonSet that controls pod, if any.
func (c *Controller) owner(pod *corev1.Pod) (string, bool) {
	ds, ok := c.owners.Resolve(pod.Namespace, metav1.GetControllerOf(pod))
	if !ok {
		return "", false
	}
	return reconcile.Key(ds), true
}

// enqueueSelecting queues every DaemonSet whose selector matches an orphan
// pod, so that it can adopt it. Unlike the ReplicaSet controller it also
// offers pods without labels (a selector of DoesNotExist expressions
// matches them).
func (c *Controller) enqueueSelecting(pod *corev1.Pod) {
	for _, ds := range c.owners.Selecting(pod.Namespace, pod.Labels) {
		c.queue.Add(reconcile.Key(ds))
	}
}

func (c *Controller) addPod(obj any) {
	pod := obj.(*corev1.Pod)
	if key, ok := c.owner(pod); ok {
		c.queue.Add(key)
		return
	}
	if metav1.GetControllerOf(pod) == nil && pod.DeletionTimestamp == nil {
		c.enqueueSelecting(pod)
	}
}

func (c *Controller) updatePod(old, cur any) {
	if reconcile.Unchanged(old, cur) {
		return
	}
	o, p := old.(*corev1.Pod), cur.(*corev1.Pod)
	if key, ok := c.owner(o); ok {
		c.queue.Add(key)
	}
	c.addPod(p)
}

func (c *Controller) deletePod(obj any) {
	if pod, ok := reconcile.ObjectOf[*corev1.Pod](obj); ok {
		if key, ok := c.owner(pod); ok {
			c.queue.Add(key)
		}
	}
}

// updateNode queues every DaemonSet when something that decides
// placement changed: labels, taints, schedulability. Heartbeats do not.
func (c *Controller) updateNode(old, cur any) {
	o, n := old.(*corev1.Node), cur.(*corev1.Node)
	if apiequality.Semantic.DeepEqual(o.Labels, n.Labels) &&
		apiequality.Semantic.DeepEqual(o.Spec.Taints, n.Spec.Taints) &&
		o.Spec.Unschedulable == n.Spec.Unschedulable {
		return
	}
	c.enqueueAll()
}

func (c *Controller) enqueueAll() {
	all, err := c.dsLister.List(labels.Everything())
	if err != nil {
		return
	}
	for _, ds := range all {
		c.queue.Add(ds.Namespace + "/" + ds.Name)
	}
}

// sync reconciles the DaemonSet named by key: it adopts and releases pods,
// creates and deletes pods so that each eligible node runs one current
// pod, and writes the status.
func (c *Controller) sync(ctx context.Context, key string) error {
	cached, err := c.owners.ByKey(key)
	if apierrors.IsNotFound(err) {
		c.pending.Forget(key)
		return nil
	}
	if err != nil {
		return err
	}
	ds := cached.DeepCopy()
	if ds.DeletionTimestamp != nil {
		return nil
	}
	sel, err := metav1.LabelSelectorAsSelector(ds.Spec.Selector)
	if err == nil && sel.Empty() {
		err = errors.New("empty selector selects every pod")
	}
	if err != nil {
		c.recorder.Eventf(ds, corev1.EventTypeWarning, "InvalidSelector", "Invalid selector: %v", err)
		return reconcile.Permanent(fmt.Errorf("daemonset %s selector: %w", key, err))
	}
	nodes, err := c.nodeLister.List(labels.Everything())
	if err != nil {
		return fmt.Errorf("list nodes: %w", err)
	}
	sort.Slice(nodes, func(i, j int) bool { return nodes[i].Name < nodes[j].Name })
	pods, err := c.claimPods(ctx, ds, sel)
	if err != nil {
		return err
	}
	hash := templateHash(&ds.Spec.Template, ds.Status.CollisionCount)
	plan := c.plan(ds, nodes, pods, hash)
	var manageErr error
	if c.pending.Settled(key, c.podLister, c.now()) {
		manageErr = c.apply(ctx, key, ds, plan, hash)
	}
	return errors.Join(manageErr, c.updateStatus(ctx, ds, plan, hash))
}

// claimPods returns the pods ds owns, adopting matching orphans and
// releasing owned pods that no longer match its selector. Owner references
// are written whole, with the pod's resourceVersion as a precondition, so
// a pod that changed since the cache saw it is left for the next sync.
func (c *Controller) claimPods(ctx context.Context, ds *appsv1.DaemonSet, sel labels.Selector) ([]*corev1.Pod, error) {
	all, err := c.podLister.Pods(ds.Namespace).List(labels.Everything())
	if err != nil {
		return nil, fmt.Errorf("list pods in %s: %w", ds.Namespace, err)
	}
	m := ownership.Claimer[*corev1.Pod]{
		Owner:    ds,
		Selector: sel,
		Adopt: func(ctx context.Context, pod *corev1.Pod) (*corev1.Pod, error) {
			refs := append(append([]metav1.OwnerReference{}, pod.OwnerReferences...), *metav1.NewControllerRef(ds, controllerKind))
			adopted, err := c.patchOwners(ctx, pod, refs)
			if err != nil {
				return nil, fmt.Errorf("adopt pod %s/%s: %w", pod.Namespace, pod.Name, err)
			}
			return adopted, nil
		},
		Release: func(ctx context.Context, pod *corev1.Pod) error {
			if pod.DeletionTimestamp != nil {
				return nil // going anyway
			}
			refs := make([]metav1.OwnerReference, 0, len(pod.OwnerReferences))
			for _, r := range pod.OwnerReferences {
				if r.UID != ds.UID {
					refs = append(refs, r)
				}
			}
			if _, err := c.patchOwners(ctx, pod, refs); err != nil {
				return fmt.Errorf("release pod %s/%s: %w", pod.Namespace, pod.Name, err)
			}
			return nil
		},
	}
	return m.Claim(ctx, all)
}

// patchOwners sets pod's owner references, failing if the pod changed
// since the cache saw it.
func (c *Controller) patchOwners(ctx context.Context, pod *corev1.Pod, refs []metav1.OwnerReference) (*corev1.Pod, error) {
	patch, err := json.Marshal(map[string]any{"metadata": map[string]any{
		"ownerReferences": refs, "resourceVersion": pod.ResourceVersion,
	}})
	if err != nil {
		return nil, err
	}
	return c.client.CoreV1().Pods(pod.Namespace).Patch(ctx, pod.Name, types.MergePatchType, patch, metav1.PatchOptions{})
}

// nodeState is what a DaemonSet wants on one node and what is there.
type nodeState struct {
	node           *corev1.Node
	shouldRun      bool
	shouldContinue bool
	live           []*corev1.Pod // not terminating, not finished; oldest first
	terminating    bool          // some pod on the node is being deleted
	misscheduled   bool          // a live pod runs where none should
}

// plan is the outcome of comparing a DaemonSet's pods with the nodes.
type plan struct {
	nodes  []nodeState
	create []string      // nodes that need a pod
	del    []*corev1.Pod // pods to delete gracefully
	force  []*corev1.Pod // pods on nodes that are gone: delete with grace 0
	failed []*corev1.Pod // failed pods among del, for events
}

// plan decides which pods to create and delete. It is pure: it reads only
// its arguments and the clock.
func (c *Controller) plan(ds *appsv1.DaemonSet, nodes []*corev1.Node, pods []*corev1.Pod, hash string) *plan {
	byNode := map[string][]*corev1.Pod{}
	for _, p := range pods {
		byNode[p.Spec.NodeName] = append(byNode[p.Spec.NodeName], p)
	}
	p := &plan{}
	for _, node := range nodes {
		st := nodeState{node: node}
		st.shouldRun, st.shouldContinue = placement(ds, node)
		onNode := byNode[node.Name]
		delete(byNode, node.Name)
		sort.Slice(onNode, func(i, j int) bool { return olderFirst(onNode[i], onNode[j]) })
		for _, pod := range onNode {
			switch {
			case pod.DeletionTimestamp != nil:
				st.terminating = true
			case pod.Status.Phase == corev1.PodFailed || pod.Status.Phase == corev1.PodSucceeded:
				p.del = append(p.del, pod)
				p.failed = append(p.failed, pod)
			default:
				st.live = append(st.live, pod)
			}
		}
		st.misscheduled = !st.shouldRun && len(st.live) > 0
		switch {
		case !st.shouldContinue:
			p.del = append(p.del, st.live...)
			st.live = nil
		case len(st.live) == 0:
			// Wait for a terminating pod to go before replacing it: the
			// two might otherwise run side by side (host ports).
			if st.shouldRun && !st.terminating {
				p.create = append(p.create, node.Name)
			}
		case len(st.live) > 1:
			p.del = append(p.del, st.live[1:]...)
			st.live = st.live[:1]
		}
		p.nodes = append(p.nodes, st)
	}
	for nodeName, left := range byNode {
		for _, pod := range left {
			if nodeName == "" {
				// Not made by this controller, which binds its pods.
				if pod.DeletionTimestamp == nil {
					p.del = append(p.del, pod)
				}
				continue
			}
			p.force = append(p.force, pod)
		}
	}
	if ds.Spec.UpdateStrategy.Type != appsv1.OnDeleteDaemonSetStrategyType {
		p.del = append(p.del, c.rollingUpdate(ds, p.nodes, hash)...)
	}
	return p
}

// rollingUpdate picks the out-of-date pods to delete now: those not
// available anyway, and available ones while fewer than maxUnavailable
// eligible nodes lack an available pod.
func (c *Controller) rollingUpdate(ds *appsv1.DaemonSet, nodes []nodeState, hash string) []*corev1.Pod {
	desired := 0
	for _, st := range nodes {
		if st.shouldRun {
			desired++
		}
	}
	maxUnavailable := intstr.FromInt32(1)
	if ru := ds.Spec.UpdateStrategy.RollingUpdate; ru != nil && ru.MaxUnavailable != nil {
		maxUnavailable = *ru.MaxUnavailable
	}
	limit, err := intstr.GetScaledValueFromIntOrPercent(&maxUnavailable, desired, true)
	if err != nil || limit < 1 {
		limit = 1
	}
	now := metav1.NewTime(c.now())
	unavailable := 0
	var del, candidates []*corev1.Pod
	for _, st := range nodes {
		if !st.shouldRun {
			continue
		}
		if len(st.live) == 0 {
			unavailable++
			continue
		}
		pod := st.live[0]
		available := podutils.IsPodAvailable(pod, ds.Spec.MinReadySeconds, now)
		switch {
		case pod.Labels[appsv1.ControllerRevisionHashLabelKey] == hash:
			if !available {
				unavailable++
			}
		case !available:
			unavailable++
			del = append(del, pod)
		default:
			candidates = append(candidates, pod)
		}
	}
	for _, pod := range candidates {
		if unavailable >= limit {
			break
		}
		del = append(del, pod)
		unavailable++
	}
	return del
}

// olderFirst orders pods by creation time, then name.
func olderFirst(a, b *corev1.Pod) bool {
	if !a.CreationTimestamp.Equal(&b.CreationTimestamp) {
		return a.CreationTimestamp.Before(&b.CreationTimestamp)
	}
	return a.Name < b.Name
}

// apply carries out p: deletions first, then creations in slow-start
// batches (ownership.SlowStart).
func (c *Controller) apply(ctx context.Context, key string, ds *appsv1.DaemonSet, p *plan, hash string) error {
	var errs []error
	failed := map[types.UID]bool{}
	for _, pod := range p.failed {
		failed[pod.UID] = true
	}
	for _, pod := range p.del {
		if failed[pod.UID] {
			c.recorder.Eventf(ds, corev1.EventTypeWarning, "FailedDaemonPod", "Found failed daemon pod %s/%s on node %s, will try to kill it", pod.Namespace, pod.Name, pod.Spec.NodeName)
		}
		errs = append(errs, c.deletePodAPI(ctx, key, ds, pod, nil))
	}
	zero := int64(0)
	gone := map[string]bool{}
	for _, pod := range p.force {
		// The cache may lag behind a node that was just added; ask.
		isGone, ok := gone[pod.Spec.NodeName]
		if !ok {
			_, err := c.client.CoreV1().Nodes().Get(ctx, pod.Spec.NodeName, metav1.GetOptions{})
			if err != nil && !apierrors.IsNotFound(err) {
				errs = append(errs, fmt.Errorf("get node %s: %w", pod.Spec.NodeName, err))
				continue
			}
			isGone = apierrors.IsNotFound(err)
			gone[pod.Spec.NodeName] = isGone
		}
		if isGone {
			errs = append(errs, c.deletePodAPI(ctx, key, ds, pod, &zero))
		}
	}
	_, err := ownership.SlowStart(len(p.create), maxBatch, func(i int) error {
		return c.createPod(ctx, key, ds, p.create[i], hash)
	})
	return errors.Join(append(errs, err)...)
}

func (c *Controller) createPod(ctx context.Context, key string, ds *appsv1.DaemonSet, nodeName, hash string) error {
	pod := newPod(ds, nodeName, hash)
	created, err := c.client.CoreV1().Pods(ds.Namespace).Create(ctx, pod, metav1.CreateOptions{})
	if err != nil {
		if ctx.Err() == nil {
			c.recorder.Eventf(ds, corev1.EventTypeWarning, "FailedCreate", "Error creating: %v", err)
		}
		return fmt.Errorf("create pod of daemonset %s on node %s: %w", key, nodeName, err)
	}
	c.pending.Created(key, created.Namespace, created.Name, c.now())
	c.recorder.Eventf(ds, corev1.EventTypeNormal, "SuccessfulCreate", "Created pod: %s", created.Name)
	return nil
}

func (c *Controller) deletePodAPI(ctx context.Context, key string, ds *appsv1.DaemonSet, pod *corev1.Pod, grace *int64) error {
	uid := pod.UID
	err := c.client.CoreV1().Pods(pod.Namespace).Delete(ctx, pod.Name, metav1.DeleteOptions{
		GracePeriodSeconds: grace, Preconditions: &metav1.Preconditions{UID: &uid},
	})
	if apierrors.IsNotFound(err) || apierrors.IsConflict(err) {
		return nil // gone already, or another pod took its name
	}
	if err != nil {
		c.recorder.Eventf(ds, corev1.EventTypeWarning, "FailedDelete", "Error deleting: %v", err)
		return fmt.Errorf("delete pod %s/%s of daemonset %s: %w", pod.Namespace, pod.Name, key, err)
	}
	c.pending.Deleted(key, pod.Namespace, pod.Name, pod.UID, c.now())
	c.recorder.Eventf(ds, corev1.EventTypeNormal, "SuccessfulDelete", "Deleted pod: %s", pod.Name)
	return nil
}

// newPod returns ds's pod for nodeName, bound to it.
func newPod(ds *appsv1.DaemonSet, nodeName, hash string) *corev1.Pod {
	pod := ownership.PodFromTemplate(&ds.Spec.Template, ds, controllerKind)
	pod.Labels[appsv1.ControllerRevisionHashLabelKey] = hash
	pod.Spec.NodeName = nodeName
	pod.Spec.Tolerations = withDaemonTolerations(pod.Spec.Tolerations)
	return pod
}

// updateStatus writes ds's status from the plan's view of the nodes when
// it changed, and requeues ds for when a ready pod becomes available
// (minReadySeconds).
func (c *Controller) updateStatus(ctx context.Context, ds *appsv1.DaemonSet, p *plan, hash string) error {
	now := c.now()
	st := appsv1.DaemonSetStatus{
		ObservedGeneration: ds.Generation,
		CollisionCount:     ds.Status.CollisionCount,
		Conditions:         ds.Status.Conditions,
	}
	var recheck time.Duration
	for _, n := range p.nodes {
		if !n.shouldRun {
			if n.misscheduled {
				st.NumberMisscheduled++
			}
			continue
		}
		st.DesiredNumberScheduled++
		if len(n.live) == 0 {
			continue
		}
		st.CurrentNumberScheduled++
		pod := n.live[0]
		if pod.Labels[appsv1.ControllerRevisionHashLabelKey] == hash {
			st.UpdatedNumberScheduled++
		}
		if !podutils.IsPodReady(pod) {
			continue
		}
		st.NumberReady++
		if podutils.IsPodAvailable(pod, ds.Spec.MinReadySeconds, metav1.NewTime(now)) {
			st.NumberAvailable++
		} else if wait := readyFor(pod, ds.Spec.MinReadySeconds, now); wait > 0 && (recheck == 0 || wait < recheck) {
			recheck = wait
		}
	}
	st.NumberUnavailable = st.DesiredNumberScheduled - st.NumberAvailable
	if recheck > 0 {
		c.queue.AddAfter(ds.Namespace+"/"+ds.Name, recheck+10*time.Millisecond)
	}
	if apiequality.Semantic.DeepEqual(ds.Status, st) {
		return nil
	}
	ds.Status = st
	if _, err := c.client.AppsV1().DaemonSets(ds.Namespace).UpdateStatus(ctx, ds, metav1.UpdateOptions{}); err != nil {
		return fmt.Errorf("update status of daemonset %s/%s: %w", ds.Namespace, ds.Name, err)
	}
	return nil
}

// readyFor returns how long until a ready pod has been ready for
// minReadySeconds.
func readyFor(pod *corev1.Pod, minReadySeconds int32, now time.Time) time.Duration {
	for _, cond := range pod.Status.Conditions {
		if cond.Type == corev1.PodReady && cond.Status == corev1.ConditionTrue {
			return cond.LastTransitionTime.Add(time.Duration(minReadySeconds) * time.Second).Sub(now)
		}
	}
	return 0
}
