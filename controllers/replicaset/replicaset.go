package replicaset

import (
	"context"
	"fmt"
	"log/slog"
	"time"

	appsv1 "k8s.io/api/apps/v1"
	corev1 "k8s.io/api/core/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/labels"
	utilruntime "k8s.io/apimachinery/pkg/util/runtime"
	"k8s.io/client-go/kubernetes"
	appslisters "k8s.io/client-go/listers/apps/v1"
	corelisters "k8s.io/client-go/listers/core/v1"
	"k8s.io/client-go/tools/cache"
	"k8s.io/client-go/tools/record"
	"k8s.io/kubectl/pkg/util/podutils"

	"github.com/sqlkube/sqlkube/controllers"
)

// Name is the controller's name in logs, events and the work queue.
const Name = "replicaset-controller"

// burstReplicas bounds the pods one sync creates or deletes; the next
// batch waits until these are observed.
const burstReplicas = 500

// maxParallel bounds the pod creations in flight at once.
const maxParallel = 128

// podOwnerIndex indexes pods by the UID of their controller, and orphan
// pods by orphanIndexKey(namespace), so a sync looks only at the pods it
// may own instead of the whole namespace.
const podOwnerIndex = "replicaset.sqlkube.io/controller-uid"

func orphanIndexKey(namespace string) string { return "orphan/" + namespace }

var controllerKind = appsv1.SchemeGroupVersion.WithKind("ReplicaSet")

// Controller is the ReplicaSet controller. Build it with New, run it with
// Run.
type Controller struct {
	client     kubernetes.Interface
	rsLister   appslisters.ReplicaSetLister
	podLister  corelisters.PodLister
	podIndexer cache.Indexer
	synced     []cache.InformerSynced
	queue      *controllers.Queue
	exp        *expectations
	recorder   record.EventRecorder
	log        *slog.Logger
	now        func() time.Time
	burst      int
	parallel   int
}

// New returns a ReplicaSet controller reading ReplicaSets and pods from
// cfg.Informers. It registers its informers, an index and the event
// handlers; the caller starts the factory afterwards.
func New(cfg *controllers.Config) *Controller {
	rsInf := cfg.Informers.Apps().V1().ReplicaSets()
	podInf := cfg.Informers.Core().V1().Pods()
	c := &Controller{
		client:    cfg.Client,
		rsLister:  rsInf.Lister(),
		podLister: podInf.Lister(),
		exp:       newExpectations(nil),
		recorder:  cfg.Recorder(Name),
		log:       cfg.Log(Name),
		now:       time.Now,
		burst:     burstReplicas,
		parallel:  maxParallel,
	}
	c.queue = controllers.NewQueue(Name, c.log, c.sync)
	if _, ok := podInf.Informer().GetIndexer().GetIndexers()[podOwnerIndex]; !ok {
		if err := podInf.Informer().AddIndexers(cache.Indexers{podOwnerIndex: indexPodByOwner}); err != nil {
			utilruntime.HandleError(fmt.Errorf("%s: add pod index: %w", Name, err))
		}
	}
	c.podIndexer = podInf.Informer().GetIndexer()
	_, _ = rsInf.Informer().AddEventHandler(cache.ResourceEventHandlerFuncs{
		AddFunc: c.queue.Enqueue,
		UpdateFunc: func(old, cur any) {
			if !controllers.Unchanged(old, cur) {
				c.queue.Enqueue(cur)
			}
		},
		DeleteFunc: c.deleteReplicaSet,
	})
	_, _ = podInf.Informer().AddEventHandler(cache.ResourceEventHandlerFuncs{
		AddFunc:    c.addPod,
		UpdateFunc: c.updatePod,
		DeleteFunc: c.deletePod,
	})
	c.synced = []cache.InformerSynced{rsInf.Informer().HasSynced, podInf.Informer().HasSynced}
	return c
}

// Run syncs ReplicaSets with workers goroutines until ctx is done.
func (c *Controller) Run(ctx context.Context, workers int) {
	c.log.Info("starting", "workers", workers)
	defer c.log.Info("stopped")
	c.queue.Run(ctx, workers, c.synced...)
}

func indexPodByOwner(obj any) ([]string, error) {
	pod, ok := obj.(*corev1.Pod)
	if !ok {
		return nil, nil
	}
	if ref := metav1.GetControllerOf(pod); ref != nil {
		return []string{string(ref.UID)}, nil
	}
	return []string{orphanIndexKey(pod.Namespace)}, nil
}

func rsKey(rs *appsv1.ReplicaSet) string { return rs.Namespace + "/" + rs.Name }

func podKey(pod *corev1.Pod) string { return pod.Namespace + "/" + pod.Name }

func (c *Controller) deleteReplicaSet(obj any) {
	rs, ok := obj.(*appsv1.ReplicaSet)
	if !ok {
		tomb, ok := obj.(cache.DeletedFinalStateUnknown)
		if !ok {
			return
		}
		if rs, ok = tomb.Obj.(*appsv1.ReplicaSet); !ok {
			return
		}
	}
	c.exp.forget(rsKey(rs))
	c.queue.Add(rsKey(rs))
}

// resolveControllerRef returns the ReplicaSet ref points at, or nil when
// ref is not a ReplicaSet or names one that no longer exists (UID).
func (c *Controller) resolveControllerRef(namespace string, ref *metav1.OwnerReference) *appsv1.ReplicaSet {
	if ref.Kind != controllerKind.Kind || ref.APIVersion != controllerKind.GroupVersion().String() {
		return nil
	}
	rs, err := c.rsLister.ReplicaSets(namespace).Get(ref.Name)
	if err != nil || rs.UID != ref.UID {
		return nil
	}
	return rs
}

// replicaSetsFor returns the ReplicaSets whose selector matches an orphan
// pod, so that one of them can adopt it.
func (c *Controller) replicaSetsFor(pod *corev1.Pod) []*appsv1.ReplicaSet {
	if len(pod.Labels) == 0 {
		return nil
	}
	all, err := c.rsLister.ReplicaSets(pod.Namespace).List(labels.Everything())
	if err != nil {
		return nil
	}
	var out []*appsv1.ReplicaSet
	for _, rs := range all {
		sel, err := metav1.LabelSelectorAsSelector(rs.Spec.Selector)
		if err != nil || sel.Empty() || !sel.Matches(labels.Set(pod.Labels)) {
			continue
		}
		out = append(out, rs)
	}
	return out
}

func (c *Controller) addPod(obj any) {
	pod := obj.(*corev1.Pod)
	if pod.DeletionTimestamp != nil {
		// Seen for the first time already terminating (a restart of the
		// controller): count it as a deletion.
		c.deletePod(pod)
		return
	}
	if ref := metav1.GetControllerOf(pod); ref != nil {
		if rs := c.resolveControllerRef(pod.Namespace, ref); rs != nil {
			c.exp.creationObserved(rsKey(rs))
			c.queue.Add(rsKey(rs))
		}
		return
	}
	for _, rs := range c.replicaSetsFor(pod) {
		c.queue.Add(rsKey(rs))
	}
}

func (c *Controller) updatePod(old, cur any) {
	if controllers.Unchanged(old, cur) {
		return
	}
	oldPod, curPod := old.(*corev1.Pod), cur.(*corev1.Pod)
	labelsChanged := !labels.Equals(oldPod.Labels, curPod.Labels)
	if curPod.DeletionTimestamp != nil {
		// A graceful deletion started: the pod no longer counts, so its
		// ReplicaSet may replace it now rather than when it is gone.
		c.deletePod(curPod)
		if labelsChanged {
			c.deletePod(oldPod)
		}
		return
	}
	curRef, oldRef := metav1.GetControllerOf(curPod), metav1.GetControllerOf(oldPod)
	refChanged := (curRef == nil) != (oldRef == nil) || (curRef != nil && curRef.UID != oldRef.UID)
	if refChanged && oldRef != nil {
		if rs := c.resolveControllerRef(oldPod.Namespace, oldRef); rs != nil {
			c.queue.Add(rsKey(rs))
		}
	}
	if curRef != nil {
		rs := c.resolveControllerRef(curPod.Namespace, curRef)
		if rs == nil {
			return
		}
		c.queue.Add(rsKey(rs))
		// A pod that just became ready turns available minReadySeconds
		// later; look again then.
		if rs.Spec.MinReadySeconds > 0 && !podutils.IsPodReady(oldPod) && podutils.IsPodReady(curPod) {
			c.queue.AddAfter(rsKey(rs), time.Duration(rs.Spec.MinReadySeconds)*time.Second+time.Second)
		}
		return
	}
	if labelsChanged || refChanged {
		for _, rs := range c.replicaSetsFor(curPod) {
			c.queue.Add(rsKey(rs))
		}
	}
}

func (c *Controller) deletePod(obj any) {
	pod, ok := obj.(*corev1.Pod)
	if !ok {
		tomb, ok := obj.(cache.DeletedFinalStateUnknown)
		if !ok {
			return
		}
		if pod, ok = tomb.Obj.(*corev1.Pod); !ok {
			return
		}
	}
	ref := metav1.GetControllerOf(pod)
	if ref == nil {
		return
	}
	rs := c.resolveControllerRef(pod.Namespace, ref)
	if rs == nil {
		return
	}
	c.exp.deletionObserved(rsKey(rs), podKey(pod))
	c.queue.Add(rsKey(rs))
}
