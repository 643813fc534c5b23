package deployment

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"log/slog"
	"time"

	appsv1 "k8s.io/api/apps/v1"
	corev1 "k8s.io/api/core/v1"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/labels"
	"k8s.io/apimachinery/pkg/types"
	"k8s.io/client-go/kubernetes"
	appslisters "k8s.io/client-go/listers/apps/v1"
	corelisters "k8s.io/client-go/listers/core/v1"
	"k8s.io/client-go/tools/cache"
	"k8s.io/client-go/tools/record"
	deploymentutil "k8s.io/kubectl/pkg/util/deployment"

	"github.com/sqlkube/sqlkube/controllers"
)

// Name is the controller's name in logs, events and the work queue.
const Name = "deployment-controller"

var (
	controllerKind = appsv1.SchemeGroupVersion.WithKind("Deployment")
	rsKind         = appsv1.SchemeGroupVersion.WithKind("ReplicaSet")
)

// Controller is the Deployment controller. Build it with New, run it with
// Run.
type Controller struct {
	client    kubernetes.Interface
	dLister   appslisters.DeploymentLister
	rsLister  appslisters.ReplicaSetLister
	podLister corelisters.PodLister
	synced    []cache.InformerSynced
	queue     *controllers.Queue
	recorder  record.EventRecorder
	log       *slog.Logger
	now       func() time.Time
}

// New returns a Deployment controller reading Deployments, ReplicaSets and
// pods from cfg.Informers. It registers its informers and event handlers;
// the caller starts the factory afterwards.
func New(cfg *controllers.Config) *Controller {
	dInf := cfg.Informers.Apps().V1().Deployments()
	rsInf := cfg.Informers.Apps().V1().ReplicaSets()
	podInf := cfg.Informers.Core().V1().Pods()
	c := &Controller{
		client:    cfg.Client,
		dLister:   dInf.Lister(),
		rsLister:  rsInf.Lister(),
		podLister: podInf.Lister(),
		recorder:  cfg.Recorder(Name),
		log:       cfg.Log(Name),
		now:       time.Now,
	}
	c.queue = controllers.NewQueue(Name, c.log, c.sync)
	_, _ = dInf.Informer().AddEventHandler(c.queue.EventHandler())
	_, _ = rsInf.Informer().AddEventHandler(cache.ResourceEventHandlerFuncs{
		AddFunc:    c.addReplicaSet,
		UpdateFunc: c.updateReplicaSet,
		DeleteFunc: c.deleteReplicaSet,
	})
	_, _ = podInf.Informer().AddEventHandler(cache.ResourceEventHandlerFuncs{DeleteFunc: c.deletePod})
	c.synced = []cache.InformerSynced{dInf.Informer().HasSynced, rsInf.Informer().HasSynced, podInf.Informer().HasSynced}
	return c
}

// Run syncs Deployments with workers goroutines until ctx is done.
func (c *Controller) Run(ctx context.Context, workers int) {
	c.log.Info("starting", "workers", workers)
	defer c.log.Info("stopped")
	c.queue.Run(ctx, workers, c.synced...)
}

func key(obj metav1.Object) string { return obj.GetNamespace() + "/" + obj.GetName() }

// resolveControllerRef returns the Deployment ref points at, or nil.
func (c *Controller) resolveControllerRef(namespace string, ref *metav1.OwnerReference) *appsv1.Deployment {
	if ref.Kind != controllerKind.Kind || ref.APIVersion != controllerKind.GroupVersion().String() {
		return nil
	}
	d, err := c.dLister.Deployments(namespace).Get(ref.Name)
	if err != nil || d.UID != ref.UID {
		return nil
	}
	return d
}

// deploymentsFor returns the Deployments whose selector matches an orphan
// ReplicaSet's labels.
func (c *Controller) deploymentsFor(rs *appsv1.ReplicaSet) []*appsv1.Deployment {
	if len(rs.Labels) == 0 {
		return nil
	}
	all, err := c.dLister.Deployments(rs.Namespace).List(labels.Everything())
	if err != nil {
		return nil
	}
	var out []*appsv1.Deployment
	for _, d := range all {
		sel, err := metav1.LabelSelectorAsSelector(d.Spec.Selector)
		if err != nil || sel.Empty() || !sel.Matches(labels.Set(rs.Labels)) {
			continue
		}
		out = append(out, d)
	}
	return out
}

func (c *Controller) addReplicaSet(obj any) {
	rs := obj.(*appsv1.ReplicaSet)
	if rs.DeletionTimestamp != nil {
		c.deleteReplicaSet(rs)
		return
	}
	if ref := metav1.GetControllerOf(rs); ref != nil {
		if d := c.resolveControllerRef(rs.Namespace, ref); d != nil {
			c.queue.Add(key(d))
		}
		return
	}
	for _, d := range c.deploymentsFor(rs) {
		c.queue.Add(key(d))
	}
}

func (c *Controller) updateReplicaSet(old, cur any) {
	if controllers.Unchanged(old, cur) {
		return
	}
	oldRS, curRS := old.(*appsv1.ReplicaSet), cur.(*appsv1.ReplicaSet)
	curRef, oldRef := metav1.GetControllerOf(curRS), metav1.GetControllerOf(oldRS)
	refChanged := (curRef == nil) != (oldRef == nil) || (curRef != nil && curRef.UID != oldRef.UID)
	if refChanged && oldRef != nil {
		if d := c.resolveControllerRef(oldRS.Namespace, oldRef); d != nil {
			c.queue.Add(key(d))
		}
	}
	if curRef != nil {
		if d := c.resolveControllerRef(curRS.Namespace, curRef); d != nil {
			c.queue.Add(key(d))
		}
		return
	}
	if refChanged || !labels.Equals(oldRS.Labels, curRS.Labels) {
		for _, d := range c.deploymentsFor(curRS) {
			c.queue.Add(key(d))
		}
	}
}

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
	if ref := metav1.GetControllerOf(rs); ref != nil {
		if d := c.resolveControllerRef(rs.Namespace, ref); d != nil {
			c.queue.Add(key(d))
		}
	}
}

// deletePod wakes a Recreate Deployment when a pod of one of its
// ReplicaSets is gone: it waits for all old pods before scaling up.
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
	if ref == nil || ref.Kind != rsKind.Kind {
		return
	}
	rs, err := c.rsLister.ReplicaSets(pod.Namespace).Get(ref.Name)
	if err != nil || rs.UID != ref.UID {
		return
	}
	rsRef := metav1.GetControllerOf(rs)
	if rsRef == nil {
		return
	}
	if d := c.resolveControllerRef(rs.Namespace, rsRef); d != nil && d.Spec.Strategy.Type == appsv1.RecreateDeploymentStrategyType {
		c.queue.Add(key(d))
	}
}

// claimReplicaSets returns the ReplicaSets d controls after adopting
// matching orphans and releasing owned ones that stopped matching.
func (c *Controller) claimReplicaSets(ctx context.Context, d *appsv1.Deployment, selector labels.Selector) ([]*appsv1.ReplicaSet, error) {
	all, err := c.rsLister.ReplicaSets(d.Namespace).List(labels.Everything())
	if err != nil {
		return nil, fmt.Errorf("list replicasets of deployment %s: %w", key(d), err)
	}
	var (
		claimed  []*appsv1.ReplicaSet
		errs     []error
		adoptErr error
		checked  bool
	)
	for _, rs := range all {
		ref := metav1.GetControllerOf(rs)
		matches := selector.Matches(labels.Set(rs.Labels))
		switch {
		case ref != nil && ref.UID == d.UID:
			if matches {
				claimed = append(claimed, rs)
			} else if d.DeletionTimestamp == nil {
				if err := c.patchOwner(ctx, d, rs, true); err != nil && !apierrors.IsNotFound(err) {
					errs = append(errs, err)
				}
			}
		case ref == nil && matches && d.DeletionTimestamp == nil && rs.DeletionTimestamp == nil:
			if !checked {
				adoptErr, checked = c.canAdopt(ctx, d), true
			}
			if adoptErr != nil {
				errs = append(errs, adoptErr)
				continue
			}
			adopted, err := c.adopt(ctx, d, rs)
			if apierrors.IsNotFound(err) {
				continue
			}
			if err != nil {
				errs = append(errs, err)
				continue
			}
			claimed = append(claimed, adopted)
		}
	}
	return claimed, errors.Join(errs...)
}

// canAdopt re-reads d from the API so that a Deployment being deleted, or
// replaced by one of the same name, adopts nothing.
func (c *Controller) canAdopt(ctx context.Context, d *appsv1.Deployment) error {
	fresh, err := c.client.AppsV1().Deployments(d.Namespace).Get(ctx, d.Name, metav1.GetOptions{})
	if err != nil {
		return fmt.Errorf("recheck deployment %s before adoption: %w", key(d), err)
	}
	if fresh.UID != d.UID {
		return fmt.Errorf("deployment %s was recreated: not adopting", key(d))
	}
	if fresh.DeletionTimestamp != nil {
		return fmt.Errorf("deployment %s is being deleted: not adopting", key(d))
	}
	return nil
}

func (c *Controller) adopt(ctx context.Context, d *appsv1.Deployment, rs *appsv1.ReplicaSet) (*appsv1.ReplicaSet, error) {
	if err := c.patchOwner(ctx, d, rs, false); err != nil {
		return nil, err
	}
	out := rs.DeepCopy()
	out.OwnerReferences = append(out.OwnerReferences, *metav1.NewControllerRef(d, controllerKind))
	return out, nil
}

// patchOwner adds d as the controller of rs, or removes it, with a
// strategic merge patch of the owner references (merged by uid).
func (c *Controller) patchOwner(ctx context.Context, d *appsv1.Deployment, rs *appsv1.ReplicaSet, remove bool) error {
	ref := map[string]any{"uid": d.UID}
	verb := "adopt"
	if remove {
		ref["$patch"] = "delete"
		verb = "release"
	} else {
		ref = map[string]any{
			"apiVersion": controllerKind.GroupVersion().String(), "kind": controllerKind.Kind,
			"name": d.Name, "uid": d.UID, "controller": true, "blockOwnerDeletion": true,
		}
	}
	patch, err := json.Marshal(map[string]any{"metadata": map[string]any{"uid": rs.UID, "ownerReferences": []any{ref}}})
	if err != nil {
		return err
	}
	if _, err := c.client.AppsV1().ReplicaSets(rs.Namespace).Patch(ctx, rs.Name, types.StrategicMergePatchType, patch, metav1.PatchOptions{}); err != nil {
		return fmt.Errorf("%s replicaset %s for deployment %s: %w", verb, key(rs), key(d), err)
	}
	return nil
}

// replicas returns d's desired replicas.
func replicas(d *appsv1.Deployment) int32 {
	if d.Spec.Replicas == nil {
		return 1
	}
	return *d.Spec.Replicas
}

func rsReplicas(rs *appsv1.ReplicaSet) int32 {
	if rs == nil || rs.Spec.Replicas == nil {
		return 0
	}
	return *rs.Spec.Replicas
}

func isRollingUpdate(d *appsv1.Deployment) bool {
	return d.Spec.Strategy.Type == appsv1.RollingUpdateDeploymentStrategyType || d.Spec.Strategy.Type == ""
}

// fenceposts returns d's maxSurge and maxUnavailable as pod counts
// (0, 0 for Recreate).
func fenceposts(d *appsv1.Deployment) (surge, unavailable int32) {
	if !isRollingUpdate(d) {
		return 0, 0
	}
	var ms, mu = intstrOrDefault(nil), intstrOrDefault(nil)
	if ru := d.Spec.Strategy.RollingUpdate; ru != nil {
		ms, mu = intstrOrDefault(ru.MaxSurge), intstrOrDefault(ru.MaxUnavailable)
	}
	surge, unavailable, err := deploymentutil.ResolveFenceposts(ms, mu, replicas(d))
	if err != nil {
		return 0, 1
	}
	return surge, unavailable
}

// maxSurge returns how many pods above spec.replicas a rollout may run.
func maxSurge(d *appsv1.Deployment) int32 {
	s, _ := fenceposts(d)
	return s
}

// maxUnavailable returns how many of spec.replicas may be unavailable,
// never more than spec.replicas.
func maxUnavailable(d *appsv1.Deployment) int32 {
	if !isRollingUpdate(d) || replicas(d) == 0 {
		return 0
	}
	_, u := fenceposts(d)
	return min(u, replicas(d))
}
