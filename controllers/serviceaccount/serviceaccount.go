package serviceaccount

import (
	"context"
	"fmt"
	"log/slog"

	corev1 "k8s.io/api/core/v1"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/client-go/kubernetes"
	corelisters "k8s.io/client-go/listers/core/v1"
	"k8s.io/client-go/tools/cache"

	"github.com/sqlkube/sqlkube/controllers/reconcile"
)

// DefaultName is the ServiceAccount every namespace gets.
const DefaultName = "default"

// Controller creates the default ServiceAccount of every namespace.
type Controller struct {
	client     kubernetes.Interface
	namespaces corelisters.NamespaceLister
	accounts   corelisters.ServiceAccountLister
	synced     []cache.InformerSynced
	queue      *reconcile.Queue
	log        *slog.Logger
}

// New builds the controller and registers its Namespace and
// ServiceAccount informers with cfg.Informers.
func New(cfg *reconcile.Config) *Controller {
	nsInf := cfg.Informers.Core().V1().Namespaces()
	saInf := cfg.Informers.Core().V1().ServiceAccounts()
	c := &Controller{
		client:     cfg.Client,
		namespaces: nsInf.Lister(),
		accounts:   saInf.Lister(),
		synced:     []cache.InformerSynced{nsInf.Informer().HasSynced, saInf.Informer().HasSynced},
		log:        cfg.Log("serviceaccount"),
	}
	c.queue = reconcile.NewQueue("serviceaccount", c.log, c.sync)
	_, _ = nsInf.Informer().AddEventHandler(cache.ResourceEventHandlerFuncs{
		AddFunc: c.queue.Enqueue,
		UpdateFunc: func(old, cur any) {
			if !reconcile.Unchanged(old, cur) {
				c.queue.Enqueue(cur)
			}
		},
	})
	_, _ = saInf.Informer().AddEventHandler(cache.ResourceEventHandlerFuncs{
		DeleteFunc: func(obj any) {
			if t, ok := obj.(cache.DeletedFinalStateUnknown); ok {
				obj = t.Obj
			}
			if sa, ok := obj.(*corev1.ServiceAccount); ok && sa.Name == DefaultName {
				c.queue.Add(sa.Namespace)
			}
		},
	})
	return c
}

// Run syncs namespaces with workers goroutines until ctx is done.
func (c *Controller) Run(ctx context.Context, workers int) {
	c.log.Info("starting")
	defer c.log.Info("stopped")
	c.queue.Run(ctx, workers, c.synced...)
}

// sync creates the default ServiceAccount of namespace ns when the
// namespace is active and the account is missing.
func (c *Controller) sync(ctx context.Context, ns string) error {
	n, err := c.namespaces.Get(ns)
	if apierrors.IsNotFound(err) {
		return nil
	}
	if err != nil {
		return fmt.Errorf("get namespace %s: %w", ns, err)
	}
	if n.DeletionTimestamp != nil || n.Status.Phase == corev1.NamespaceTerminating {
		return nil
	}
	if _, err := c.accounts.ServiceAccounts(ns).Get(DefaultName); err == nil {
		return nil
	} else if !apierrors.IsNotFound(err) {
		return fmt.Errorf("get serviceaccount %s/%s: %w", ns, DefaultName, err)
	}
	sa := &corev1.ServiceAccount{ObjectMeta: metav1.ObjectMeta{Name: DefaultName, Namespace: ns}}
	_, err = c.client.CoreV1().ServiceAccounts(ns).Create(ctx, sa, metav1.CreateOptions{})
	switch {
	case err == nil:
		c.log.Debug("created default serviceaccount", "namespace", ns)
		return nil
	case apierrors.IsAlreadyExists(err):
		return nil
	case apierrors.IsForbidden(err) && apierrors.HasStatusCause(err, corev1.NamespaceTerminatingCause):
		return nil // the namespace started terminating since the cache saw it
	default:
		return fmt.Errorf("create serviceaccount %s/%s: %w", ns, DefaultName, err)
	}
}
