package endpoints

import (
	"context"
	"fmt"
	"log/slog"
	"maps"
	"net"
	"slices"
	"strconv"
	"strings"

	corev1 "k8s.io/api/core/v1"
	discoveryv1 "k8s.io/api/discovery/v1"
	apiequality "k8s.io/apimachinery/pkg/api/equality"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/labels"
	"k8s.io/apimachinery/pkg/util/intstr"
	"k8s.io/client-go/kubernetes"
	corelisters "k8s.io/client-go/listers/core/v1"
	discoverylisters "k8s.io/client-go/listers/discovery/v1"
	"k8s.io/client-go/tools/cache"
	"k8s.io/kubectl/pkg/util/podutils"

	"github.com/sqlkube/sqlkube/controllers/reconcile"
)

const (
	// ControllerName is the managed-by value of the EndpointSlices this
	// controller writes, as in Kubernetes.
	ControllerName = "endpointslice-controller.k8s.io"
	// EndpointsManagedByLabel marks Endpoints objects this controller
	// writes, so that it deletes only its own when a Service goes.
	EndpointsManagedByLabel = "endpoints.kubernetes.io/managed-by"
	// EndpointsManagedByValue is the value of EndpointsManagedByLabel.
	EndpointsManagedByValue = "endpoint-controller"
	// MaxEndpointsPerSlice is how many endpoints one EndpointSlice holds.
	MaxEndpointsPerSlice = 100
	// MaxEndpointsAddresses caps the addresses of an Endpoints object, as
	// Kubernetes does; the rest are only in EndpointSlices.
	MaxEndpointsAddresses = 1000

	overCapacityAnnotation = "endpoints.kubernetes.io/over-capacity"
	headlessLabel          = "service.kubernetes.io/headless"
)

// Controller keeps Endpoints and EndpointSlices of Services with selectors.
type Controller struct {
	client    kubernetes.Interface
	services  corelisters.ServiceLister
	pods      corelisters.PodLister
	endpoints corelisters.EndpointsLister
	slices    discoverylisters.EndpointSliceLister
	synced    []cache.InformerSynced
	queue     *reconcile.Queue
	tracker   *sliceTracker
	log       *slog.Logger
}

// New builds the controller and registers its informers (Services, Pods,
// Endpoints, EndpointSlices) with cfg.Informers; the caller starts the
// factory.
func New(cfg *reconcile.Config) *Controller {
	svcInf := cfg.Informers.Core().V1().Services()
	podInf := cfg.Informers.Core().V1().Pods()
	epInf := cfg.Informers.Core().V1().Endpoints()
	sliceInf := cfg.Informers.Discovery().V1().EndpointSlices()
	c := &Controller{
		client:    cfg.Client,
		services:  svcInf.Lister(),
		pods:      podInf.Lister(),
		endpoints: epInf.Lister(),
		slices:    sliceInf.Lister(),
		tracker:   newSliceTracker(),
		log:       cfg.Log("endpoints"),
	}
	c.queue = reconcile.NewQueue("endpoints", c.log, c.sync)
	c.synced = []cache.InformerSynced{svcInf.Informer().HasSynced, podInf.Informer().HasSynced,
		epInf.Informer().HasSynced, sliceInf.Informer().HasSynced}

	_, _ = svcInf.Informer().AddEventHandler(c.queue.EventHandler())
	_, _ = podInf.Informer().AddEventHandler(cache.ResourceEventHandlerFuncs{
		AddFunc:    func(obj any) { c.enqueuePodServices(obj.(*corev1.Pod), nil) },
		UpdateFunc: c.updatePod,
		DeleteFunc: func(obj any) {
			if t, ok := obj.(cache.DeletedFinalStateUnknown); ok {
				obj = t.Obj
			}
			if pod, ok := obj.(*corev1.Pod); ok {
				c.enqueuePodServices(pod, nil)
			}
		},
	})
	// A changed or deleted Endpoints object is rewritten from its Service.
	_, _ = epInf.Informer().AddEventHandler(c.queue.EventHandler())
	_, _ = sliceInf.Informer().AddEventHandler(cache.ResourceEventHandlerFuncs{
		AddFunc: c.enqueueSliceService,
		UpdateFunc: func(old, cur any) {
			if !reconcile.Unchanged(old, cur) {
				c.enqueueSliceService(cur)
			}
		},
		DeleteFunc: c.enqueueSliceService,
	})
	return c
}

// Run syncs Services with workers goroutines until ctx is done.
func (c *Controller) Run(ctx context.Context, workers int) {
	c.log.Info("starting")
	defer c.log.Info("stopped")
	c.queue.Run(ctx, workers, c.synced...)
}

// updatePod queues the Services of a pod whose endpoint-relevant fields
// changed: labels, IP, readiness, node, hostname, deletion, ports.
func (c *Controller) updatePod(old, cur any) {
	o, n := old.(*corev1.Pod), cur.(*corev1.Pod)
	if o.ResourceVersion == n.ResourceVersion {
		return
	}
	if maps.Equal(o.Labels, n.Labels) && !endpointChanged(o, n) {
		return
	}
	c.enqueuePodServices(n, o)
}

// endpointChanged reports whether a pod's change matters to an endpoint
// (labels aside).
func endpointChanged(o, n *corev1.Pod) bool {
	return o.Status.PodIP != n.Status.PodIP ||
		o.Spec.NodeName != n.Spec.NodeName ||
		o.Spec.Hostname != n.Spec.Hostname || o.Spec.Subdomain != n.Spec.Subdomain ||
		(o.DeletionTimestamp == nil) != (n.DeletionTimestamp == nil) ||
		o.Status.Phase != n.Status.Phase ||
		podutils.IsPodReady(o) != podutils.IsPodReady(n) ||
		!apiequality.Semantic.DeepEqual(o.Spec.Containers, n.Spec.Containers)
}

// enqueuePodServices queues every Service in the pod's namespace whose
// selector matches pod (or old, the pod before an update).
func (c *Controller) enqueuePodServices(pod, old *corev1.Pod) {
	svcs, err := c.services.Services(pod.Namespace).List(labels.Everything())
	if err != nil {
		return
	}
	for _, svc := range svcs {
		if svc.Spec.Selector == nil {
			continue
		}
		sel := labels.SelectorFromValidatedSet(svc.Spec.Selector)
		if sel.Matches(labels.Set(pod.Labels)) || (old != nil && sel.Matches(labels.Set(old.Labels))) {
			c.queue.Add(pod.Namespace + "/" + svc.Name)
		}
	}
}

func (c *Controller) enqueueSliceService(obj any) {
	if t, ok := obj.(cache.DeletedFinalStateUnknown); ok {
		obj = t.Obj
	}
	s, ok := obj.(*discoveryv1.EndpointSlice)
	if !ok || s.Labels[discoveryv1.LabelManagedBy] != ControllerName || s.Labels[discoveryv1.LabelServiceName] == "" {
		return
	}
	c.queue.Add(s.Namespace + "/" + s.Labels[discoveryv1.LabelServiceName])
}

// sync reconciles the Endpoints and EndpointSlices of the Service key.
func (c *Controller) sync(ctx context.Context, key string) error {
	ns, name, err := cache.SplitMetaNamespaceKey(key)
	if err != nil {
		return reconcile.Permanent(fmt.Errorf("service key %q: %w", key, err))
	}
	svc, err := c.services.Services(ns).Get(name)
	if apierrors.IsNotFound(err) {
		return c.cleanup(ctx, key, ns, name)
	}
	if err != nil {
		return fmt.Errorf("get service %s: %w", key, err)
	}
	if svc.Spec.Selector == nil {
		return nil // not ours: someone else writes its endpoints
	}
	pods, err := c.pods.Pods(ns).List(labels.SelectorFromValidatedSet(svc.Spec.Selector))
	if err != nil {
		return fmt.Errorf("list pods of service %s: %w", key, err)
	}
	eps := desiredEndpoints(svc, pods)
	if err := c.syncEndpoints(ctx, svc, eps); err != nil {
		return err
	}
	return c.syncSlices(ctx, key, svc, eps)
}

// cleanup deletes what this controller wrote for a Service that is gone
// (its slices are also owned by it, so the garbage collector would get
// them too).
func (c *Controller) cleanup(ctx context.Context, key, ns, name string) error {
	c.tracker.forget(key)
	if ep, err := c.endpoints.Endpoints(ns).Get(name); err == nil && ep.Labels[EndpointsManagedByLabel] == EndpointsManagedByValue {
		err := c.client.CoreV1().Endpoints(ns).Delete(ctx, name, metav1.DeleteOptions{Preconditions: &metav1.Preconditions{UID: &ep.UID}})
		if err != nil && !apierrors.IsNotFound(err) && !apierrors.IsConflict(err) {
			return fmt.Errorf("delete endpoints %s: %w", key, err)
		}
	}
	slices, err := c.slices.EndpointSlices(ns).List(sliceSelector(name))
	if err != nil {
		return fmt.Errorf("list endpointslices of %s: %w", key, err)
	}
	for _, s := range slices {
		err := c.client.DiscoveryV1().EndpointSlices(ns).Delete(ctx, s.Name, metav1.DeleteOptions{})
		if err != nil && !apierrors.IsNotFound(err) {
			return fmt.Errorf("delete endpointslice %s/%s: %w", ns, s.Name, err)
		}
	}
	return nil
}

// endpoint is one pod's address with what both object kinds need.
type endpoint struct {
	pod         *corev1.Pod
	ip          string
	ready       bool // ready and not terminating (or publishNotReadyAddresses)
	serving     bool // ready, terminating or not
	terminating bool
	ports       []discoveryv1.EndpointPort // resolved, in Service order
	portsKey    string
}

// desiredEndpoints returns the endpoints of svc among pods (which match
// its selector): pods with an IPv4 address that have not finished, with
// every Service port resolved; sorted by IP and pod name.
func desiredEndpoints(svc *corev1.Service, pods []*corev1.Pod) []*endpoint {
	var out []*endpoint
	publish := svc.Spec.PublishNotReadyAddresses
	for _, pod := range pods {
		ip := podIPv4(pod)
		if ip == "" || pod.Status.Phase == corev1.PodSucceeded || pod.Status.Phase == corev1.PodFailed {
			continue
		}
		ports := resolvePorts(svc, pod)
		if len(svc.Spec.Ports) > 0 && len(ports) == 0 {
			continue // no port of the Service exists on this pod
		}
		ready := podutils.IsPodReady(pod)
		terminating := pod.DeletionTimestamp != nil
		out = append(out, &endpoint{
			pod:         pod,
			ip:          ip,
			ready:       publish || (ready && !terminating),
			serving:     publish || ready,
			terminating: terminating,
			ports:       ports,
			portsKey:    portsKey(ports),
		})
	}
	slices.SortFunc(out, func(a, b *endpoint) int {
		if a.ip != b.ip {
			return strings.Compare(a.ip, b.ip)
		}
		return strings.Compare(a.pod.Name, b.pod.Name)
	})
	return out
}

// podIPv4 is the pod's first IPv4 address, "" when it has none.
func podIPv4(pod *corev1.Pod) string {
	ips := []string{pod.Status.PodIP}
	for _, ip := range pod.Status.PodIPs {
		ips = append(ips, ip.IP)
	}
	for _, s := range ips {
		if ip := net.ParseIP(s); ip != nil && ip.To4() != nil {
			return s
		}
	}
	return ""
}

// resolvePorts maps the Service's ports to the pod's: a named targetPort
// is the container port of that name and protocol; a number is itself
// (0 means the Service port). Ports a pod lacks are left out.
func resolvePorts(svc *corev1.Service, pod *corev1.Pod) []discoveryv1.EndpointPort {
	var out []discoveryv1.EndpointPort
	for _, sp := range svc.Spec.Ports {
		proto := sp.Protocol
		if proto == "" {
			proto = corev1.ProtocolTCP
		}
		port, ok := targetPort(sp, proto, pod)
		if !ok {
			continue
		}
		out = append(out, discoveryv1.EndpointPort{
			Name:        new(sp.Name),
			Port:        new(port),
			Protocol:    new(proto),
			AppProtocol: sp.AppProtocol,
		})
	}
	return out
}

func targetPort(sp corev1.ServicePort, proto corev1.Protocol, pod *corev1.Pod) (int32, bool) {
	tp := sp.TargetPort
	if tp.Type == intstr.String {
		containers := pod.Spec.Containers
		for _, ic := range pod.Spec.InitContainers {
			if ic.RestartPolicy != nil && *ic.RestartPolicy == corev1.ContainerRestartPolicyAlways {
				containers = append(slices.Clip(containers), ic) // sidecars serve too
			}
		}
		for _, ctr := range containers {
			for _, cp := range ctr.Ports {
				p := cp.Protocol
				if p == "" {
					p = corev1.ProtocolTCP
				}
				if cp.Name == tp.StrVal && p == proto {
					return cp.ContainerPort, true
				}
			}
		}
		// A numeric string is a port number, as in Kubernetes.
		if n, err := strconv.Atoi(tp.StrVal); err == nil && n > 0 && n < 65536 {
			return int32(n), true
		}
		return 0, false
	}
	if tp.IntVal == 0 {
		return sp.Port, true
	}
	return tp.IntVal, true
}

// portsKey identifies a set of resolved ports, independent of order.
func portsKey(ports []discoveryv1.EndpointPort) string {
	parts := make([]string, 0, len(ports))
	for _, p := range ports {
		app := ""
		if p.AppProtocol != nil {
			app = *p.AppProtocol
		}
		parts = append(parts, fmt.Sprintf("%s/%s/%d/%s", deref(p.Name), deref(p.Protocol), deref(p.Port), app))
	}
	slices.Sort(parts)
	return strings.Join(parts, ",")
}

func deref[T any](p *T) T {
	var zero T
	if p == nil {
		return zero
	}
	return *p
}

// serviceLabels are the labels written on a Service's Endpoints and
// slices: the Service's own, plus the headless marker.
func serviceLabels(svc *corev1.Service) map[string]string {
	l := make(map[string]string, len(svc.Labels)+3)
	for k, v := range svc.Labels {
		l[k] = v
	}
	delete(l, discoveryv1.LabelServiceName)
	delete(l, discoveryv1.LabelManagedBy)
	if svc.Spec.ClusterIP == corev1.ClusterIPNone {
		l[headlessLabel] = ""
	} else {
		delete(l, headlessLabel)
	}
	return l
}

// hostname is the pod's DNS hostname under svc: set when the pod names
// the Service as its subdomain.
func hostname(svc *corev1.Service, pod *corev1.Pod) string {
	if pod.Spec.Hostname != "" && pod.Spec.Subdomain == svc.Name {
		return pod.Spec.Hostname
	}
	return ""
}

// buildEndpoints returns the Endpoints object for svc: one subset per set
// of resolved ports, terminating pods left out (unless the Service
// publishes not-ready addresses), at most MaxEndpointsAddresses addresses.
func buildEndpoints(svc *corev1.Service, eps []*endpoint) *corev1.Endpoints {
	type group struct {
		ports           []corev1.EndpointPort
		ready, notReady []corev1.EndpointAddress
	}
	groups := map[string]*group{}
	total := 0
	truncated := false
	for _, ep := range eps {
		if ep.terminating && !svc.Spec.PublishNotReadyAddresses {
			continue
		}
		if total >= MaxEndpointsAddresses {
			truncated = true
			break
		}
		total++
		g := groups[ep.portsKey]
		if g == nil {
			g = &group{}
			for _, p := range ep.ports {
				g.ports = append(g.ports, corev1.EndpointPort{Name: *p.Name, Port: *p.Port, Protocol: *p.Protocol, AppProtocol: p.AppProtocol})
			}
			groups[ep.portsKey] = g
		}
		addr := corev1.EndpointAddress{
			IP:        ep.ip,
			Hostname:  hostname(svc, ep.pod),
			TargetRef: &corev1.ObjectReference{Kind: "Pod", Namespace: ep.pod.Namespace, Name: ep.pod.Name, UID: ep.pod.UID},
		}
		if ep.pod.Spec.NodeName != "" {
			addr.NodeName = new(ep.pod.Spec.NodeName)
		}
		if ep.serving {
			g.ready = append(g.ready, addr)
		} else {
			g.notReady = append(g.notReady, addr)
		}
	}
	out := &corev1.Endpoints{
		ObjectMeta: metav1.ObjectMeta{Name: svc.Name, Namespace: svc.Namespace, Labels: serviceLabels(svc)},
	}
	out.Labels[EndpointsManagedByLabel] = EndpointsManagedByValue
	if truncated {
		out.Annotations = map[string]string{overCapacityAnnotation: "truncated"}
	}
	for _, k := range slices.Sorted(maps.Keys(groups)) {
		g := groups[k]
		out.Subsets = append(out.Subsets, corev1.EndpointSubset{Addresses: g.ready, NotReadyAddresses: g.notReady, Ports: g.ports})
	}
	return out
}

// syncEndpoints creates or updates the Endpoints object of svc when it
// differs from what eps say.
func (c *Controller) syncEndpoints(ctx context.Context, svc *corev1.Service, eps []*endpoint) error {
	want := buildEndpoints(svc, eps)
	cur, err := c.endpoints.Endpoints(svc.Namespace).Get(svc.Name)
	if apierrors.IsNotFound(err) {
		if _, err := c.client.CoreV1().Endpoints(svc.Namespace).Create(ctx, want, metav1.CreateOptions{}); err != nil {
			return fmt.Errorf("create endpoints %s/%s: %w", svc.Namespace, svc.Name, err)
		}
		return nil
	}
	if err != nil {
		return fmt.Errorf("get endpoints %s/%s: %w", svc.Namespace, svc.Name, err)
	}
	if apiequality.Semantic.DeepEqual(cur.Subsets, want.Subsets) &&
		maps.Equal(cur.Labels, want.Labels) &&
		(cur.Annotations[overCapacityAnnotation] == want.Annotations[overCapacityAnnotation]) {
		return nil
	}
	upd := cur.DeepCopy()
	upd.Labels = want.Labels
	upd.Subsets = want.Subsets
	if want.Annotations != nil {
		if upd.Annotations == nil {
			upd.Annotations = map[string]string{}
		}
		upd.Annotations[overCapacityAnnotation] = want.Annotations[overCapacityAnnotation]
	} else {
		delete(upd.Annotations, overCapacityAnnotation)
	}
	if _, err := c.client.CoreV1().Endpoints(svc.Namespace).Update(ctx, upd, metav1.UpdateOptions{}); err != nil {
		return fmt.Errorf("update endpoints %s/%s: %w", svc.Namespace, svc.Name, err)
	}
	return nil
}
