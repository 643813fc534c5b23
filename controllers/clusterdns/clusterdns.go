package clusterdns

import (
	"context"
	"fmt"
	"log/slog"
	"slices"
	"strings"

	corev1 "k8s.io/api/core/v1"
	discoveryv1 "k8s.io/api/discovery/v1"
	"k8s.io/apimachinery/pkg/api/equality"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/labels"
	"k8s.io/client-go/kubernetes"
	corelisters "k8s.io/client-go/listers/core/v1"
	discoverylisters "k8s.io/client-go/listers/discovery/v1"
	"k8s.io/client-go/tools/cache"
	"k8s.io/utils/ptr"

	"github.com/sqlkube/sqlkube/controllers/reconcile"
	"github.com/sqlkube/sqlkube/node"
)

// The Service, and the EndpointSlice this controller owns.
const (
	Namespace = metav1.NamespaceSystem
	Service   = "kube-dns"
	SliceName = "kube-dns-nodes"
	ManagedBy = "clusterdns.sqlkube.io"
)

// key is the queue's only key: every change leads to one reconcile.
const key = Namespace + "/" + Service

// Controller keeps the cluster DNS Service's EndpointSlice.
type Controller struct {
	client   kubernetes.Interface
	nodes    corelisters.NodeLister
	services corelisters.ServiceLister
	slices   discoverylisters.EndpointSliceLister
	synced   []cache.InformerSynced
	queue    *reconcile.Queue
	log      *slog.Logger
}

// New builds the controller over cfg's informers.
func New(cfg *reconcile.Config) *Controller {
	nodes := cfg.Informers.Core().V1().Nodes()
	services := cfg.Informers.Core().V1().Services()
	slices := cfg.Informers.Discovery().V1().EndpointSlices()
	c := &Controller{
		client:   cfg.Client,
		nodes:    nodes.Lister(),
		services: services.Lister(),
		slices:   slices.Lister(),
		synced:   []cache.InformerSynced{nodes.Informer().HasSynced, services.Informer().HasSynced, slices.Informer().HasSynced},
		log:      cfg.Log("clusterdns"),
	}
	c.queue = reconcile.NewQueue("clusterdns", c.log, c.sync)
	enqueue := func(any) { c.queue.Add(key) }
	onNode := cache.ResourceEventHandlerFuncs{
		AddFunc:    enqueue,
		UpdateFunc: func(old, cur any) { c.nodeChanged(old, cur) },
		DeleteFunc: enqueue,
	}
	mine := cache.FilteringResourceEventHandler{
		FilterFunc: func(obj any) bool {
			o, ok := reconcile.ObjectOf[metav1.Object](obj)
			return ok && o.GetNamespace() == Namespace && (o.GetName() == Service || o.GetName() == SliceName)
		},
		Handler: cache.ResourceEventHandlerFuncs{AddFunc: enqueue, UpdateFunc: func(_, cur any) { enqueue(cur) }, DeleteFunc: enqueue},
	}
	_, _ = nodes.Informer().AddEventHandler(onNode)
	_, _ = services.Informer().AddEventHandler(mine)
	_, _ = slices.Informer().AddEventHandler(mine)
	return c
}

// nodeChanged queues a reconcile when what the slice says of a Node
// changed: its pod range or its readiness (not every heartbeat).
func (c *Controller) nodeChanged(old, cur any) {
	o, ok1 := old.(*corev1.Node)
	n, ok2 := cur.(*corev1.Node)
	if !ok1 || !ok2 || o.Spec.PodCIDR != n.Spec.PodCIDR || node.IsReady(o) != node.IsReady(n) {
		c.queue.Add(key)
	}
}

// Run keeps the slice until ctx is done.
func (c *Controller) Run(ctx context.Context, workers int) {
	c.log.Info("starting")
	defer c.log.Info("stopped")
	c.queue.Run(ctx, workers, c.synced...)
}

// sync writes the slice the Service and the Nodes call for.
func (c *Controller) sync(ctx context.Context, _ string) error {
	svc, err := c.services.Services(Namespace).Get(Service)
	if apierrors.IsNotFound(err) {
		return nil // no cluster DNS Service: nothing to serve
	}
	if err != nil {
		return fmt.Errorf("get service %s: %w", key, err)
	}
	nodes, err := c.nodes.List(labels.Everything())
	if err != nil {
		return fmt.Errorf("list nodes: %w", err)
	}
	want := desired(svc, nodes, c.log)
	cur, err := c.slices.EndpointSlices(Namespace).Get(SliceName)
	switch {
	case apierrors.IsNotFound(err):
		if _, err := c.client.DiscoveryV1().EndpointSlices(Namespace).Create(ctx, want, metav1.CreateOptions{}); err != nil && !apierrors.IsAlreadyExists(err) {
			return fmt.Errorf("create endpointslice %s/%s: %w", Namespace, SliceName, err)
		}
		return nil
	case err != nil:
		return fmt.Errorf("get endpointslice %s/%s: %w", Namespace, SliceName, err)
	}
	if equality.Semantic.DeepEqual(cur.Endpoints, want.Endpoints) && equality.Semantic.DeepEqual(cur.Ports, want.Ports) &&
		equality.Semantic.DeepEqual(cur.Labels, want.Labels) && equality.Semantic.DeepEqual(cur.OwnerReferences, want.OwnerReferences) {
		return nil
	}
	u := cur.DeepCopy()
	u.Labels, u.OwnerReferences, u.Endpoints, u.Ports = want.Labels, want.OwnerReferences, want.Endpoints, want.Ports
	if _, err := c.client.DiscoveryV1().EndpointSlices(Namespace).Update(ctx, u, metav1.UpdateOptions{}); err != nil {
		return fmt.Errorf("update endpointslice %s/%s: %w", Namespace, SliceName, err)
	}
	return nil
}

// desired is the slice for svc: an endpoint per Node with a pod range, at
// its DNS address, sorted by node name; the Service's ports.
func desired(svc *corev1.Service, nodes []*corev1.Node, log *slog.Logger) *discoveryv1.EndpointSlice {
	s := &discoveryv1.EndpointSlice{
		ObjectMeta: metav1.ObjectMeta{
			Name: SliceName, Namespace: Namespace,
			Labels: map[string]string{discoveryv1.LabelServiceName: Service, discoveryv1.LabelManagedBy: ManagedBy},
			OwnerReferences: []metav1.OwnerReference{{
				APIVersion: "v1", Kind: "Service", Name: svc.Name, UID: svc.UID,
				Controller: ptr.To(true), BlockOwnerDeletion: ptr.To(true),
			}},
		},
		AddressType: discoveryv1.AddressTypeIPv4,
		Endpoints:   []discoveryv1.Endpoint{},
	}
	for _, p := range svc.Spec.Ports {
		port := p.TargetPort.IntVal
		if port == 0 {
			port = p.Port
		}
		s.Ports = append(s.Ports, discoveryv1.EndpointPort{Name: ptr.To(p.Name), Protocol: ptr.To(p.Protocol), Port: ptr.To(port)})
	}
	for _, n := range nodes {
		if n.Spec.PodCIDR == "" || n.DeletionTimestamp != nil {
			continue
		}
		addr, err := node.DNSAddress(n.Spec.PodCIDR)
		if err != nil || !addr.Is4() {
			log.Warn("node's pod range gives no IPv4 DNS address", "node", n.Name, "podCIDR", n.Spec.PodCIDR, "err", err)
			continue
		}
		ready := node.IsReady(n)
		s.Endpoints = append(s.Endpoints, discoveryv1.Endpoint{
			Addresses:  []string{addr.String()},
			Conditions: discoveryv1.EndpointConditions{Ready: ptr.To(ready), Serving: ptr.To(ready), Terminating: ptr.To(false)},
			NodeName:   ptr.To(n.Name),
		})
	}
	slices.SortFunc(s.Endpoints, func(a, b discoveryv1.Endpoint) int { return strings.Compare(*a.NodeName, *b.NodeName) })
	return s
}
