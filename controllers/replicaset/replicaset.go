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

	"github.com/sqlkube/sqlkube/controllers/ownership"
	"github.com/sqlkube/sqlkube/controllers/reconcile"
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
	queue      *reconcile.Queue
	owners     *ownership.Owners[*appsv1.ReplicaSet]
	pods       *ownership.Dependents[*appsv1.ReplicaSet, *corev1.Pod]
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
func New(cfg *reconcile.Config) *Controller {
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
	c.queue = reconcile.NewQueue(Name, c.log, c.sync)
	c.owners = ownership.NewOwners(controllerKind, c.rsLister.ReplicaSets,
		func(rs *appsv1.ReplicaSet) *metav1.LabelSelector { return rs.Spec.Selector })
	c.pods = &ownership.Dependents[*appsv1.ReplicaSet, *corev1.Pod]{
		Owners:  c.owners,
		Enqueue: func(rs *appsv1.ReplicaSet) { c.queue.Add(rsKey(rs)) },
		Added:   func(rs *appsv1.ReplicaSet, _ *corev1.Pod) { c.exp.creationObserved(rsKey(rs)) },
		Updated: c.podUpdated,
		Deleted: func(rs *appsv1.ReplicaSet, pod *corev1.Pod) { c.exp.deletionObserved(rsKey(rs), podKey(pod)) },
	}
	if _, ok := podInf.Informer().GetIndexer().GetIndexers()[podOwnerIndex]; !ok {
		if err := podInf.Informer().AddIndexers(cache.Indexers{podOwnerIndex: indexPodByOwner}); err != nil {
			utilruntime.HandleError(fmt.Errorf("%s: add pod index: %w", Name, err))
		}
	}
	c.podIndexer = podInf.Informer().GetIndexer()
	_, _ = rsInf.Informer().AddEventHandler(cache.ResourceEventHandlerFuncs{
		AddFunc: c.queue.Enqueue,
		UpdateFunc: func(old, cur any) {
			if !reconcile.Unchanged(old, cur) {
				c.queue.Enqueue(cur)
			}
		},
		DeleteFunc: c.deleteReplicaSet,
	})
	_, _ = podInf.Informer().AddEventHandler(cache.ResourceEventHandlerFuncs{
		AddFunc:    c.pods.Add,
		UpdateFunc: c.updatePod,
		DeleteFunc: c.pods.Delete,
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
	rs, ok := reconcile.ObjectOf[*appsv1.ReplicaSet](obj)
	if !ok {
		return
	}
	c.exp.forget(rsKey(rs))
	c.queue.Add(rsKey(rs))
}

func (c *Controller) updatePod(old, cur any) {
	if reconcile.Unchanged(old, cur) {
		return
	}
	oldPod, curPod := old.(*corev1.Pod), cur.(*corev1.Pod)
	if curPod.DeletionTimestamp != nil {
		// A graceful deletion started: the pod no longer counts, so its
		// ReplicaSet may replace it now rather than when it is gone.
		c.pods.Delete(curPod)
		if !labels.Equals(oldPod.Labels, curPod.Labels) {
			c.pods.Delete(oldPod)
		}
		return
	}
	c.pods.Update(old, cur)
}

// podUpdated looks at rs again when one of its pods just became ready: it
// turns available minReadySeconds later.
func (c *Controller) podUpdated(rs *appsv1.ReplicaSet, old, cur *corev1.Pod) {
	if rs.Spec.MinReadySeconds > 0 && !podutils.IsPodReady(old) && podutils.IsPodReady(cur) {
		c.queue.AddAfter(rsKey(rs), time.Duration(rs.Spec.MinReadySeconds)*time.Second+time.Second)
	}
}
