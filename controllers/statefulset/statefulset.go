package statefulset

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"sort"
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

	"github.com/sqlkube/sqlkube/controllers/ownership"
	"github.com/sqlkube/sqlkube/controllers/reconcile"
)

// Name is the controller's name in logs, the work queue and the
// controller manager's --controllers flag.
const Name = "statefulset"

// maxBatch caps how many pods one slow-start batch of a Parallel
// StatefulSet creates or deletes at once (Kubernetes' MaxBatchSize).
const maxBatch = 500

var (
	controllerKind = appsv1.SchemeGroupVersion.WithKind("StatefulSet")
	podKind        = corev1.SchemeGroupVersion.WithKind("Pod")
)

// Controller keeps each StatefulSet's pods, one per ordinal, and their
// claims. Build it with New, run it with Run.
type Controller struct {
	client    kubernetes.Interface
	log       *slog.Logger
	recorder  record.EventRecorder
	setLister appslisters.StatefulSetLister
	podLister corelisters.PodLister
	synced    []cache.InformerSynced
	queue     *reconcile.Queue
	owners    *ownership.Owners[*appsv1.StatefulSet]
	pods      *ownership.Dependents[*appsv1.StatefulSet, *corev1.Pod]
	pending   *ownership.PendingPods
	now       func() time.Time
}

// New returns a controller that watches StatefulSets and pods through
// cfg.Informers. Claims are read and written through the API, not an
// informer, so the controller starts even where the API server does not
// serve persistentvolumeclaims. The caller starts the informer factory.
func New(cfg *reconcile.Config) *Controller {
	setInf := cfg.Informers.Apps().V1().StatefulSets()
	podInf := cfg.Informers.Core().V1().Pods()
	c := &Controller{
		client:    cfg.Client,
		log:       cfg.Log(Name),
		recorder:  cfg.Recorder(Name + "-controller"),
		setLister: setInf.Lister(),
		podLister: podInf.Lister(),
		synced:    []cache.InformerSynced{setInf.Informer().HasSynced, podInf.Informer().HasSynced},
		pending:   ownership.NewPendingPods(),
		now:       time.Now,
	}
	c.queue = reconcile.NewQueue(Name, c.log, c.sync)
	c.owners = ownership.NewOwners(controllerKind, c.setLister.StatefulSets,
		func(set *appsv1.StatefulSet) *metav1.LabelSelector { return set.Spec.Selector })
	c.pods = &ownership.Dependents[*appsv1.StatefulSet, *corev1.Pod]{
		Owners:  c.owners,
		Enqueue: func(set *appsv1.StatefulSet) { c.queue.Add(reconcile.Key(set)) },
	}
	if _, err := setInf.Informer().AddEventHandler(c.queue.EventHandler()); err != nil {
		c.log.Error("add statefulset event handler", "err", err)
	}
	if _, err := podInf.Informer().AddEventHandler(cache.ResourceEventHandlerFuncs{
		AddFunc:    c.pods.Add,
		UpdateFunc: c.pods.Update,
		DeleteFunc: c.pods.Delete,
	}); err != nil {
		c.log.Error("add pod event handler", "err", err)
	}
	return c
}

// Run syncs StatefulSets with workers goroutines until ctx is done.
func (c *Controller) Run(ctx context.Context, workers int) {
	c.log.Info("starting", "workers", workers)
	defer c.log.Info("stopped")
	c.queue.Run(ctx, workers, c.synced...)
}

// sync reconciles the StatefulSet named by key: it claims the set's pods,
// creates, deletes and replaces pods (unless earlier writes are not in
// the cache yet), and writes the status.
func (c *Controller) sync(ctx context.Context, key string) error {
	cached, err := c.owners.ByKey(key)
	if apierrors.IsNotFound(err) {
		c.pending.Forget(key)
		return nil
	}
	if err != nil {
		return err
	}
	set := cached.DeepCopy()
	sel, err := metav1.LabelSelectorAsSelector(set.Spec.Selector)
	if err == nil && sel.Empty() {
		err = errors.New("empty selector selects every pod")
	}
	if err != nil {
		c.recorder.Eventf(set, corev1.EventTypeWarning, "InvalidSelector", "Invalid selector: %v", err)
		return reconcile.Permanent(fmt.Errorf("statefulset %s selector: %w", key, err))
	}
	pods, err := c.claimPods(ctx, set, sel)
	if err != nil {
		return err
	}
	now := c.now()
	s := newState(key, set, pods, now)
	var manageErr error
	// A set being deleted only reports; the garbage collector removes
	// its pods.
	if set.DeletionTimestamp == nil && c.pending.Settled(key, c.podLister, now) {
		manageErr = c.manage(ctx, s)
	}
	return errors.Join(manageErr, c.writeStatus(ctx, s))
}

// member is one ordinal of a StatefulSet and its pod, nil when there is
// none.
type member struct {
	ordinal int
	pod     *corev1.Pod
}

// state is what one sync knows about a StatefulSet.
type state struct {
	key string
	set *appsv1.StatefulSet
	// updateRev is the revision of the current template; currentRev the
	// one the pods had before the rollout in progress (updateRev when
	// none is).
	updateRev, currentRev string
	// replicas has one member per ordinal in [start, start+replicas),
	// in ascending order.
	replicas []member
	// condemned are the pods with ordinals outside that range, highest
	// ordinal first.
	condemned []member
	pods      []*corev1.Pod // every pod the set controls
	now       metav1.Time
}

// newState sorts pods, the members set controls, by ordinal into the
// ones set keeps and the ones it must remove.
func newState(key string, set *appsv1.StatefulSet, pods []*corev1.Pod, now time.Time) *state {
	s := &state{key: key, set: set, updateRev: revisionName(set), currentRev: set.Status.CurrentRevision, pods: pods, now: metav1.NewTime(now)}
	if s.currentRev == "" {
		s.currentRev = s.updateRev
	}
	start := startOrdinal(set)
	s.replicas = make([]member, replicas(set))
	for i := range s.replicas {
		s.replicas[i].ordinal = start + i
	}
	for _, pod := range pods {
		n, ok := ordinalOf(set, pod)
		if !ok {
			continue
		}
		if inRange(set, n) {
			s.replicas[n-start].pod = pod
		} else {
			s.condemned = append(s.condemned, member{ordinal: n, pod: pod})
		}
	}
	sort.Slice(s.condemned, func(i, j int) bool { return s.condemned[i].ordinal > s.condemned[j].ordinal })
	return s
}

// claimPods returns the pods set controls, adopting orphans that its
// selector matches and that are named as its members ("<set>-<ordinal>"),
// and releasing owned pods that no longer match the selector or are not
// so named. A pod controlled by something else is never touched.
func (c *Controller) claimPods(ctx context.Context, set *appsv1.StatefulSet, sel labels.Selector) ([]*corev1.Pod, error) {
	all, err := c.podLister.Pods(set.Namespace).List(labels.Everything())
	if err != nil {
		return nil, fmt.Errorf("list pods in %s: %w", set.Namespace, err)
	}
	var (
		members []*corev1.Pod
		errs    []error
	)
	for _, pod := range all {
		if _, ok := ordinalOf(set, pod); ok {
			members = append(members, pod)
			continue
		}
		if metav1.IsControlledBy(pod, set) && set.DeletionTimestamp == nil {
			errs = append(errs, c.releasePod(ctx, set, pod))
		}
	}
	m := ownership.Claimer[*corev1.Pod]{
		Owner:    set,
		Selector: sel,
		Recheck: func(ctx context.Context) error {
			return ownership.RecheckOwner(ctx, set, controllerKind.Kind, c.client.AppsV1().StatefulSets(set.Namespace).Get)
		},
		Adopt:   func(ctx context.Context, pod *corev1.Pod) (*corev1.Pod, error) { return c.adoptPod(ctx, set, pod) },
		Release: func(ctx context.Context, pod *corev1.Pod) error { return c.releasePod(ctx, set, pod) },
	}
	claimed, err := m.Claim(ctx, members)
	if err := errors.Join(append(errs, err)...); err != nil {
		return nil, err
	}
	return claimed, nil
}

// adoptPod makes set the controller of the orphan pod and returns the pod
// as stored.
func (c *Controller) adoptPod(ctx context.Context, set *appsv1.StatefulSet, pod *corev1.Pod) (*corev1.Pod, error) {
	patch, err := ownership.OwnerRefPatch(set, controllerKind, pod.UID, false)
	if err != nil {
		return nil, err
	}
	out, err := c.client.CoreV1().Pods(pod.Namespace).Patch(ctx, pod.Name, types.StrategicMergePatchType, patch, metav1.PatchOptions{})
	if err != nil {
		return nil, fmt.Errorf("adopt pod %s by statefulset %s: %w", reconcile.Key(pod), reconcile.Key(set), err)
	}
	return out, nil
}

// releasePod removes set's owner reference from pod. A pod already gone
// is not an error.
func (c *Controller) releasePod(ctx context.Context, set *appsv1.StatefulSet, pod *corev1.Pod) error {
	patch, err := ownership.OwnerRefPatch(set, controllerKind, pod.UID, true)
	if err != nil {
		return err
	}
	_, err = c.client.CoreV1().Pods(pod.Namespace).Patch(ctx, pod.Name, types.StrategicMergePatchType, patch, metav1.PatchOptions{})
	if err != nil && !apierrors.IsNotFound(err) {
		return fmt.Errorf("release pod %s from statefulset %s: %w", reconcile.Key(pod), reconcile.Key(set), err)
	}
	return nil
}
