package serviceaccount

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"os"

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

// RootCAName is the ConfigMap every namespace gets, holding the cluster
// CA under RootCAKey, as Kubernetes' root-ca-cert-publisher keeps it:
// pods mount it (projected service-account volumes) to verify the API
// server at kubernetes.default.svc.
const (
	RootCAName = "kube-root-ca.crt"
	RootCAKey  = "ca.crt"
)

// rootCADescription is the annotation Kubernetes sets on the ConfigMap.
const rootCADescription = "Contains a CA bundle that can be used to verify the kube-apiserver when using internal endpoints such as the internal service IP or kubernetes.default.svc. No other usage is guaranteed across distributions of Kubernetes clusters."

// Controller creates the default ServiceAccount and the kube-root-ca.crt
// ConfigMap of every namespace.
type Controller struct {
	client     kubernetes.Interface
	namespaces corelisters.NamespaceLister
	accounts   corelisters.ServiceAccountLister
	configMaps corelisters.ConfigMapLister
	// rootCA is the PEM CA published in kube-root-ca.crt; none is
	// published when it is empty.
	rootCA []byte
	synced []cache.InformerSynced
	queue  *reconcile.Queue
	log    *slog.Logger
}

// New builds the controller and registers its Namespace, ServiceAccount
// and ConfigMap informers with cfg.Informers. The CA it publishes is
// cfg.RootCA, else the CA of cfg.RESTConfig (the API server's own, for
// the in-process controllers), as kube-controller-manager takes
// --root-ca-file or its client's CA.
func New(cfg *reconcile.Config) *Controller {
	nsInf := cfg.Informers.Core().V1().Namespaces()
	saInf := cfg.Informers.Core().V1().ServiceAccounts()
	cmInf := cfg.Informers.Core().V1().ConfigMaps()
	c := &Controller{
		client:     cfg.Client,
		namespaces: nsInf.Lister(),
		accounts:   saInf.Lister(),
		configMaps: cmInf.Lister(),
		rootCA:     rootCA(cfg),
		synced:     []cache.InformerSynced{nsInf.Informer().HasSynced, saInf.Informer().HasSynced, cmInf.Informer().HasSynced},
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
	// A changed or deleted kube-root-ca.crt is put back.
	onConfigMap := func(obj any) {
		if t, ok := obj.(cache.DeletedFinalStateUnknown); ok {
			obj = t.Obj
		}
		if cm, ok := obj.(*corev1.ConfigMap); ok && cm.Name == RootCAName {
			c.queue.Add(cm.Namespace)
		}
	}
	_, _ = cmInf.Informer().AddEventHandler(cache.ResourceEventHandlerFuncs{
		UpdateFunc: func(old, cur any) {
			if !reconcile.Unchanged(old, cur) {
				onConfigMap(cur)
			}
		},
		DeleteFunc: onConfigMap,
	})
	return c
}

func rootCA(cfg *reconcile.Config) []byte {
	if len(cfg.RootCA) > 0 || cfg.RESTConfig == nil {
		return cfg.RootCA
	}
	if len(cfg.RESTConfig.CAData) > 0 {
		return cfg.RESTConfig.CAData
	}
	if cfg.RESTConfig.CAFile != "" {
		if b, err := os.ReadFile(cfg.RESTConfig.CAFile); err == nil {
			return b
		}
	}
	return nil
}

// Run syncs namespaces with workers goroutines until ctx is done.
func (c *Controller) Run(ctx context.Context, workers int) {
	c.log.Info("starting")
	defer c.log.Info("stopped")
	c.queue.Run(ctx, workers, c.synced...)
}

// sync creates the default ServiceAccount and the kube-root-ca.crt
// ConfigMap of namespace ns when the namespace is active and they are
// missing, and puts the CA back in a ConfigMap that lost it.
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
	return errors.Join(c.syncServiceAccount(ctx, ns), c.syncRootCA(ctx, ns))
}

func (c *Controller) syncServiceAccount(ctx context.Context, ns string) error {
	if _, err := c.accounts.ServiceAccounts(ns).Get(DefaultName); err == nil {
		return nil
	} else if !apierrors.IsNotFound(err) {
		return fmt.Errorf("get serviceaccount %s/%s: %w", ns, DefaultName, err)
	}
	sa := &corev1.ServiceAccount{ObjectMeta: metav1.ObjectMeta{Name: DefaultName, Namespace: ns}}
	_, err := c.client.CoreV1().ServiceAccounts(ns).Create(ctx, sa, metav1.CreateOptions{})
	switch {
	case err == nil:
		c.log.Debug("created default serviceaccount", "namespace", ns)
		return nil
	case apierrors.IsAlreadyExists(err), terminating(err):
		return nil
	default:
		return fmt.Errorf("create serviceaccount %s/%s: %w", ns, DefaultName, err)
	}
}

// terminating reports a create refused because the namespace started
// terminating since the cache saw it.
func terminating(err error) bool {
	return apierrors.IsForbidden(err) && apierrors.HasStatusCause(err, corev1.NamespaceTerminatingCause)
}

func (c *Controller) syncRootCA(ctx context.Context, ns string) error {
	if len(c.rootCA) == 0 {
		return nil
	}
	data := map[string]string{RootCAKey: string(c.rootCA)}
	cm, err := c.configMaps.ConfigMaps(ns).Get(RootCAName)
	if apierrors.IsNotFound(err) {
		_, err = c.client.CoreV1().ConfigMaps(ns).Create(ctx, &corev1.ConfigMap{
			ObjectMeta: metav1.ObjectMeta{Name: RootCAName, Namespace: ns, Annotations: map[string]string{"kubernetes.io/description": rootCADescription}},
			Data:       data,
		}, metav1.CreateOptions{})
		switch {
		case err == nil:
			c.log.Debug("created kube-root-ca.crt", "namespace", ns)
			return nil
		case apierrors.IsAlreadyExists(err), terminating(err):
			return nil
		}
		return fmt.Errorf("create configmap %s/%s: %w", ns, RootCAName, err)
	}
	if err != nil {
		return fmt.Errorf("get configmap %s/%s: %w", ns, RootCAName, err)
	}
	if len(cm.Data) == 1 && cm.Data[RootCAKey] == data[RootCAKey] && len(cm.BinaryData) == 0 {
		return nil
	}
	cm = cm.DeepCopy()
	cm.Data, cm.BinaryData = data, nil
	if _, err := c.client.CoreV1().ConfigMaps(ns).Update(ctx, cm, metav1.UpdateOptions{}); err != nil && !apierrors.IsNotFound(err) {
		return fmt.Errorf("update configmap %s/%s: %w", ns, RootCAName, err)
	}
	return nil
}
