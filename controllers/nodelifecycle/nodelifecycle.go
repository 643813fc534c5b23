package nodelifecycle

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"sync"
	"time"

	coordinationv1 "k8s.io/api/coordination/v1"
	corev1 "k8s.io/api/core/v1"
	apiequality "k8s.io/apimachinery/pkg/api/equality"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/client-go/kubernetes"
	coordinationlisters "k8s.io/client-go/listers/coordination/v1"
	corelisters "k8s.io/client-go/listers/core/v1"
	"k8s.io/client-go/tools/cache"
	"k8s.io/client-go/tools/record"

	"github.com/sqlkube/sqlkube/controllers/reconcile"
)

// Name is the controller's name in logs, events and the controller
// manager's --controllers flag.
const Name = "nodelifecycle"

// DefaultGracePeriod is the node monitor grace period when the Config
// does not set one (kube-controller-manager's --node-monitor-grace-period).
const DefaultGracePeriod = 40 * time.Second

// OrphanQuarantine is how long a node must be missing before the pods
// bound to it are deleted, like the quarantine of kube-controller-manager's
// pod garbage collector.
const OrphanQuarantine = 40 * time.Second

// nodeIndex is the pod informer index by spec.nodeName this controller adds.
const nodeIndex = "nodelifecycle/spec.nodeName"

const (
	reasonUnknown      = "NodeStatusUnknown"
	messageUnknown     = "Kubelet stopped posting node status."
	reasonNeverUpdated = "NodeStatusNeverUpdated"
	messageNeverUpdate = "Kubelet never posted node status."
)

// Controller marks nodes that stopped heartbeating, taints nodes by their
// conditions and evicts pods from tainted and missing nodes.
type Controller struct {
	client      kubernetes.Interface
	log         *slog.Logger
	recorder    record.EventRecorder
	nodeLister  corelisters.NodeLister
	podLister   corelisters.PodLister
	podIndexer  cache.Indexer // with nodeIndex, or nil if it could not be added
	leaseLister coordinationlisters.LeaseLister
	synced      []cache.InformerSynced
	grace       time.Duration
	quarantine  time.Duration
	now         func() time.Time

	// nodes syncs a node's conditions and taints; evictions syncs the pods
	// on a node. Both are keyed by node name.
	nodes, evictions *reconcile.Queue

	mu     sync.Mutex
	health map[string]*health
	// taintSeen is when the controller first saw a NoExecute taint that
	// has no timeAdded, by node and taint; tolerationSeconds count from it.
	taintSeen map[string]map[string]time.Time
	// missing is when the controller first found that a node with pods
	// bound to it does not exist, by node name.
	missing map[string]time.Time
}

// health is what the controller saw of one node's heartbeats.
type health struct {
	renewTime *metav1.MicroTime // the Lease's spec.renewTime
	heartbeat metav1.Time       // the Ready condition's lastHeartbeatTime
	observed  time.Time         // local time either last changed
	unhealthy bool              // last sync found it not Ready or tainted
}

// New returns a controller that watches nodes, node Leases and pods
// through cfg.Informers. The caller starts the informer factory.
func New(cfg *reconcile.Config) *Controller {
	nodeInf := cfg.Informers.Core().V1().Nodes()
	podInf := cfg.Informers.Core().V1().Pods()
	leaseInf := cfg.Informers.Coordination().V1().Leases()
	c := &Controller{
		client:      cfg.Client,
		log:         cfg.Log(Name),
		recorder:    cfg.Recorder(Name + "-controller"),
		nodeLister:  nodeInf.Lister(),
		podLister:   podInf.Lister(),
		leaseLister: leaseInf.Lister(),
		synced:      []cache.InformerSynced{nodeInf.Informer().HasSynced, podInf.Informer().HasSynced, leaseInf.Informer().HasSynced},
		grace:       cfg.NodeMonitorGracePeriod,
		quarantine:  cfg.OrphanQuarantine,
		now:         time.Now,
		health:      map[string]*health{},
		taintSeen:   map[string]map[string]time.Time{},
		missing:     map[string]time.Time{},
	}
	if c.grace <= 0 {
		c.grace = DefaultGracePeriod
	}
	if c.quarantine <= 0 {
		c.quarantine = OrphanQuarantine
	}
	c.nodes = reconcile.NewQueue(Name, c.log, c.syncNode)
	c.evictions = reconcile.NewQueue(Name+"-eviction", c.log, c.syncPods)

	podIndexer := podInf.Informer().GetIndexer()
	if _, ok := podIndexer.GetIndexers()[nodeIndex]; ok {
		c.podIndexer = podIndexer
	} else if err := podInf.Informer().AddIndexers(cache.Indexers{nodeIndex: podNodeName}); err != nil {
		c.log.Warn("pods by node index unavailable; listing all pods instead", "err", err)
	} else {
		c.podIndexer = podIndexer
	}

	add := func(inf cache.SharedIndexInformer, h cache.ResourceEventHandler) {
		if _, err := inf.AddEventHandler(h); err != nil {
			c.log.Error("add event handler", "err", err)
		}
	}
	add(nodeInf.Informer(), cache.ResourceEventHandlerFuncs{
		AddFunc: func(obj any) { c.nodeChanged(obj.(*corev1.Node)) },
		UpdateFunc: func(old, cur any) {
			if !reconcile.Unchanged(old, cur) {
				c.nodeChanged(cur.(*corev1.Node))
			}
		},
		DeleteFunc: func(obj any) {
			if key, err := cache.DeletionHandlingMetaNamespaceKeyFunc(obj); err == nil {
				c.nodes.Add(key)
				c.evictions.Add(key)
			}
		},
	})
	add(leaseInf.Informer(), cache.ResourceEventHandlerFuncs{
		AddFunc: func(obj any) { c.leaseChanged(obj.(*coordinationv1.Lease)) },
		UpdateFunc: func(old, cur any) {
			if !reconcile.Unchanged(old, cur) {
				c.leaseChanged(cur.(*coordinationv1.Lease))
			}
		},
	})
	add(podInf.Informer(), cache.ResourceEventHandlerFuncs{
		AddFunc: func(obj any) { c.podChanged(obj.(*corev1.Pod)) },
		UpdateFunc: func(old, cur any) {
			if !reconcile.Unchanged(old, cur) {
				c.podChanged(cur.(*corev1.Pod))
			}
		},
	})
	return c
}

func podNodeName(obj any) ([]string, error) {
	pod, ok := obj.(*corev1.Pod)
	if !ok || pod.Spec.NodeName == "" {
		return nil, nil
	}
	return []string{pod.Spec.NodeName}, nil
}

// Run monitors nodes and evicts pods until ctx is done, with workers
// goroutines for each of its two queues.
func (c *Controller) Run(ctx context.Context, workers int) {
	c.log.Info("starting", "workers", workers, "gracePeriod", c.grace)
	defer c.log.Info("stopped")
	var wg sync.WaitGroup
	wg.Go(func() { c.evictions.Run(ctx, workers, c.synced...) })
	c.nodes.Run(ctx, workers, c.synced...)
	wg.Wait()
}

func (c *Controller) nodeChanged(node *corev1.Node) {
	c.nodes.Add(node.Name)
	if needsEvictionPass(node) {
		c.evictions.Add(node.Name)
	}
}

// leaseChanged notes a node's Lease renewal. A node that the last sync
// found unhealthy is synced again so that it can recover; a healthy one
// already has a timer running.
func (c *Controller) leaseChanged(lease *coordinationv1.Lease) {
	if lease.Namespace != corev1.NamespaceNodeLease {
		return
	}
	c.mu.Lock()
	h := c.observeLocked(lease.Name, lease, nil, c.now())
	unhealthy := h.unhealthy
	c.mu.Unlock()
	if unhealthy {
		c.nodes.Add(lease.Name)
	}
}

// podChanged queues the pod's node for an eviction pass when the node is
// gone, tainted NoExecute or not Ready.
func (c *Controller) podChanged(pod *corev1.Pod) {
	if pod.Spec.NodeName == "" {
		return
	}
	node, err := c.nodeLister.Get(pod.Spec.NodeName)
	if apierrors.IsNotFound(err) || err == nil && needsEvictionPass(node) {
		c.evictions.Add(pod.Spec.NodeName)
	}
}

// needsEvictionPass reports whether pods on node may have to go.
func needsEvictionPass(node *corev1.Node) bool {
	if s := readyStatus(node); s == corev1.ConditionFalse || s == corev1.ConditionUnknown {
		return true
	}
	for _, t := range node.Spec.Taints {
		if t.Effect == corev1.TaintEffectNoExecute {
			return true
		}
	}
	return false
}

// observeLocked records what lease and node say about heartbeats (either
// may be nil) and returns the node's record. c.mu must be held.
func (c *Controller) observeLocked(name string, lease *coordinationv1.Lease, node *corev1.Node, now time.Time) *health {
	h, ok := c.health[name]
	if !ok {
		// First sight: the grace period starts now, as in Kubernetes.
		h = &health{observed: now}
		c.health[name] = h
	}
	if lease != nil && lease.Spec.RenewTime != nil && (h.renewTime == nil || !h.renewTime.Equal(lease.Spec.RenewTime)) {
		h.renewTime = lease.Spec.RenewTime.DeepCopy()
		h.observed = now
	}
	if node != nil {
		if cond := condition(node, corev1.NodeReady); cond != nil && !cond.LastHeartbeatTime.Equal(&h.heartbeat) {
			// The first heartbeat seen is no renewal: it may be old, or
			// the one markUnknown made up.
			if !h.heartbeat.IsZero() {
				h.observed = now
			}
			h.heartbeat = cond.LastHeartbeatTime
		}
	}
	return h
}

// syncNode brings the node's conditions and taints in line with its
// heartbeats and conditions, and arms a timer for when its grace period
// runs out.
func (c *Controller) syncNode(ctx context.Context, name string) error {
	cached, err := c.nodeLister.Get(name)
	if apierrors.IsNotFound(err) {
		c.mu.Lock()
		delete(c.health, name)
		delete(c.taintSeen, name)
		c.mu.Unlock()
		return nil
	}
	if err != nil {
		return fmt.Errorf("get node %s: %w", name, err)
	}
	now := c.now()
	lease, err := c.leaseLister.Leases(corev1.NamespaceNodeLease).Get(name)
	if err != nil && !apierrors.IsNotFound(err) {
		return fmt.Errorf("get lease of node %s: %w", name, err)
	}
	c.mu.Lock()
	observed := c.observeLocked(name, lease, cached, now).observed
	c.mu.Unlock()

	node := cached.DeepCopy()
	stale := now.Sub(observed) >= c.grace
	var errs []error
	if stale && markUnknown(node, now) {
		c.log.Info("node stopped heartbeating", "node", name, "lastSeen", observed)
		c.recorder.Eventf(node, corev1.EventTypeNormal, "NodeNotReady", "Node %s status is now: NodeNotReady", name)
		updated, err := c.client.CoreV1().Nodes().UpdateStatus(ctx, node, metav1.UpdateOptions{})
		if err != nil {
			return fmt.Errorf("mark node %s unknown: %w", name, err)
		}
		node = updated
	}
	if taints, changed := reconcileTaints(node, now); changed {
		node.Spec.Taints = taints
		updated, err := c.client.CoreV1().Nodes().Update(ctx, node, metav1.UpdateOptions{})
		if err != nil {
			errs = append(errs, fmt.Errorf("update taints of node %s: %w", name, err))
		} else {
			node = updated
		}
	}

	// An unhealthy node is synced on every renewal, so that it recovers
	// at once; a healthy one waits for its timer.
	unhealthy := readyStatus(node) != corev1.ConditionTrue
	for _, t := range node.Spec.Taints {
		if managed(t) && (t.Key == corev1.TaintNodeNotReady || t.Key == corev1.TaintNodeUnreachable) {
			unhealthy = true
		}
	}
	c.mu.Lock()
	if h, ok := c.health[name]; ok {
		h.unhealthy = unhealthy
	}
	c.mu.Unlock()
	if !stale {
		c.nodes.AddAfter(name, observed.Add(c.grace).Sub(now)+time.Millisecond)
	}
	if needsEvictionPass(node) {
		c.evictions.Add(name)
	}
	return errors.Join(errs...)
}

// condition returns node's condition of type t, or nil.
func condition(node *corev1.Node, t corev1.NodeConditionType) *corev1.NodeCondition {
	for i := range node.Status.Conditions {
		if node.Status.Conditions[i].Type == t {
			return &node.Status.Conditions[i]
		}
	}
	return nil
}

// readyStatus is the status of node's Ready condition; "" if it has none
// (it is registering).
func readyStatus(node *corev1.Node) corev1.ConditionStatus {
	if c := condition(node, corev1.NodeReady); c != nil {
		return c.Status
	}
	return ""
}

// markUnknown sets the conditions a node reports about itself to Unknown,
// as Kubernetes does for a node that stopped posting status, and reports
// whether it changed anything. A node that never posted a Ready condition
// gets one.
func markUnknown(node *corev1.Node, now time.Time) bool {
	changed := false
	if condition(node, corev1.NodeReady) == nil {
		node.Status.Conditions = append(node.Status.Conditions, corev1.NodeCondition{
			Type: corev1.NodeReady, Status: corev1.ConditionUnknown,
			Reason: reasonNeverUpdated, Message: messageNeverUpdate,
			LastHeartbeatTime: node.CreationTimestamp, LastTransitionTime: metav1.NewTime(now),
		})
		changed = true
	}
	for _, t := range []corev1.NodeConditionType{corev1.NodeReady, corev1.NodeMemoryPressure, corev1.NodeDiskPressure, corev1.NodePIDPressure} {
		cond := condition(node, t)
		if cond == nil || cond.Status == corev1.ConditionUnknown {
			continue
		}
		cond.Status = corev1.ConditionUnknown
		cond.Reason = reasonUnknown
		cond.Message = messageUnknown
		cond.LastTransitionTime = metav1.NewTime(now)
		changed = true
	}
	return changed
}

// conditionTaints maps a node condition in a status to the NoSchedule
// taint it brings.
var conditionTaints = []struct {
	cond   corev1.NodeConditionType
	status corev1.ConditionStatus
	key    string
}{
	{corev1.NodeReady, corev1.ConditionFalse, corev1.TaintNodeNotReady},
	{corev1.NodeReady, corev1.ConditionUnknown, corev1.TaintNodeUnreachable},
	{corev1.NodeMemoryPressure, corev1.ConditionTrue, corev1.TaintNodeMemoryPressure},
	{corev1.NodeDiskPressure, corev1.ConditionTrue, corev1.TaintNodeDiskPressure},
	{corev1.NodePIDPressure, corev1.ConditionTrue, corev1.TaintNodePIDPressure},
	{corev1.NodeNetworkUnavailable, corev1.ConditionTrue, corev1.TaintNodeNetworkUnavailable},
}

// managed reports whether the controller owns taint t: it adds and
// removes it, and leaves every other taint alone.
func managed(t corev1.Taint) bool {
	switch t.Effect {
	case corev1.TaintEffectNoExecute:
		return t.Key == corev1.TaintNodeNotReady || t.Key == corev1.TaintNodeUnreachable
	case corev1.TaintEffectNoSchedule:
		if t.Key == corev1.TaintNodeUnschedulable {
			return true
		}
		for _, ct := range conditionTaints {
			if ct.key == t.Key {
				return true
			}
		}
	}
	return false
}

// wantedTaints returns the taints node should have by its conditions and
// schedulability (without timeAdded). A node that has not posted a Ready
// condition yet gets no Ready taint: it is registering, and markUnknown
// gives it a Ready condition if it stays silent.
func wantedTaints(node *corev1.Node) []corev1.Taint {
	var want []corev1.Taint
	if cond := condition(node, corev1.NodeReady); cond != nil {
		switch cond.Status {
		case corev1.ConditionFalse:
			want = append(want, corev1.Taint{Key: corev1.TaintNodeNotReady, Effect: corev1.TaintEffectNoExecute})
		case corev1.ConditionUnknown:
			want = append(want, corev1.Taint{Key: corev1.TaintNodeUnreachable, Effect: corev1.TaintEffectNoExecute})
		}
	}
	for _, ct := range conditionTaints {
		if cond := condition(node, ct.cond); cond != nil && cond.Status == ct.status {
			want = append(want, corev1.Taint{Key: ct.key, Effect: corev1.TaintEffectNoSchedule})
		}
	}
	if node.Spec.Unschedulable {
		want = append(want, corev1.Taint{Key: corev1.TaintNodeUnschedulable, Effect: corev1.TaintEffectNoSchedule})
	}
	return want
}

// reconcileTaints returns node's taints with the managed ones replaced by
// the wanted ones, and whether that changed anything. Taints that stay
// keep their value and timeAdded; new NoExecute taints get timeAdded now.
func reconcileTaints(node *corev1.Node, now time.Time) ([]corev1.Taint, bool) {
	want := wantedTaints(node)
	wanted := func(t corev1.Taint) bool {
		for _, w := range want {
			if w.Key == t.Key && w.Effect == t.Effect {
				return true
			}
		}
		return false
	}
	var out []corev1.Taint
	changed := false
	have := map[string]bool{}
	for _, t := range node.Spec.Taints {
		if managed(t) && !wanted(t) {
			changed = true
			continue
		}
		out = append(out, t)
		have[t.Key+":"+string(t.Effect)] = true
	}
	for _, w := range want {
		if have[w.Key+":"+string(w.Effect)] {
			continue
		}
		if w.Effect == corev1.TaintEffectNoExecute {
			w.TimeAdded = &metav1.Time{Time: now}
		}
		out = append(out, w)
		changed = true
	}
	if !changed || apiequality.Semantic.DeepEqual(out, node.Spec.Taints) {
		return node.Spec.Taints, false
	}
	return out, true
}
