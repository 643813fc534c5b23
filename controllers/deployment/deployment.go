package deployment

import (
	"context"
	"fmt"
	"log/slog"
	"time"

	appsv1 "k8s.io/api/apps/v1"
	corev1 "k8s.io/api/core/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/labels"
	"k8s.io/apimachinery/pkg/types"
	"k8s.io/client-go/kubernetes"
	appslisters "k8s.io/client-go/listers/apps/v1"
	corelisters "k8s.io/client-go/listers/core/v1"
	"k8s.io/client-go/tools/cache"
	"k8s.io/client-go/tools/record"
	deploymentutil "k8s.io/kubectl/pkg/util/deployment"

	"github.com/sqlkube/sqlkube/controllers/ownership"
	"github.com/sqlkube/sqlkube/controllers/reconcile"
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
	queue     *reconcile.Queue
	owners    *ownership.Owners[*appsv1.Deployment]
	recorder  record.EventRecorder
	log       *slog.Logger
	now       func() time.Time
}

// New returns a Deployment controller reading Deployments, ReplicaSets and
// pods from cfg.Informers. It registers its informers and event handlers;
// the caller starts the factory afterwards.
func New(cfg *reconcile.Config) *Controller {
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
	c.queue = reconcile.NewQueue(Name, c.log, c.sync)
	_, _ = dInf.Informer().AddEventHandler(c.queue.EventHandler())
	c.owners = ownership.NewOwners(controllerKind, c.dLister.Deployments,
		func(d *appsv1.Deployment) *metav1.LabelSelector { return d.Spec.Selector })
	replicaSets := &ownership.Dependents[*appsv1.Deployment, *appsv1.ReplicaSet]{
		Owners:  c.owners,
		Enqueue: func(d *appsv1.Deployment) { c.queue.Add(key(d)) },
	}
	_, _ = rsInf.Informer().AddEventHandler(cache.ResourceEventHandlerFuncs{
		AddFunc:    replicaSets.Add,
		UpdateFunc: replicaSets.Update,
		DeleteFunc: replicaSets.Delete,
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

// deletePod wakes a Recreate Deployment when a pod of one of its
// ReplicaSets is gone: it waits for all old pods before scaling up.
func (c *Controller) deletePod(obj any) {
	pod, ok := reconcile.ObjectOf[*corev1.Pod](obj)
	if !ok {
		return
	}
	ref := metav1.GetControllerOf(pod)
	if ref == nil || ref.Kind != rsKind.Kind {
		return
	}
	rs, err := c.rsLister.ReplicaSets(pod.Namespace).Get(ref.Name)
	if err != nil || rs.UID != ref.UID {
		return
	}
	if d, ok := c.owners.Resolve(rs.Namespace, metav1.GetControllerOf(rs)); ok && d.Spec.Strategy.Type == appsv1.RecreateDeploymentStrategyType {
		c.queue.Add(key(d))
	}
}

// claimReplicaSets returns the ReplicaSets d controls after adopting
// matching orphans and releasing owned ones that stopped matching. It
// returns what it claimed even when some adoption or release failed.
func (c *Controller) claimReplicaSets(ctx context.Context, d *appsv1.Deployment, selector labels.Selector) ([]*appsv1.ReplicaSet, error) {
	all, err := c.rsLister.ReplicaSets(d.Namespace).List(labels.Everything())
	if err != nil {
		return nil, fmt.Errorf("list replicasets of deployment %s: %w", key(d), err)
	}
	m := ownership.Claimer[*appsv1.ReplicaSet]{
		Owner:    d,
		Selector: selector,
		Recheck: func(ctx context.Context) error {
			return ownership.RecheckOwner(ctx, d, controllerKind.Kind, c.client.AppsV1().Deployments(d.Namespace).Get)
		},
		Adopt: func(ctx context.Context, rs *appsv1.ReplicaSet) (*appsv1.ReplicaSet, error) {
			if err := c.patchOwner(ctx, d, rs, false); err != nil {
				return nil, err
			}
			out := rs.DeepCopy()
			out.OwnerReferences = append(out.OwnerReferences, *metav1.NewControllerRef(d, controllerKind))
			return out, nil
		},
		Release: func(ctx context.Context, rs *appsv1.ReplicaSet) error { return c.patchOwner(ctx, d, rs, true) },
	}
	return m.Claim(ctx, all)
}

// patchOwner adds d as the controller of rs, or removes it, with a
// strategic merge patch of the owner references (merged by uid).
func (c *Controller) patchOwner(ctx context.Context, d *appsv1.Deployment, rs *appsv1.ReplicaSet, remove bool) error {
	verb := "adopt"
	if remove {
		verb = "release"
	}
	patch, err := ownership.OwnerRefPatch(d, controllerKind, rs.UID, remove)
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
