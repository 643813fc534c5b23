package endpoints

import (
	"context"
	"fmt"
	"maps"
	"slices"
	"strconv"
	"strings"
	"sync"
	"time"

	corev1 "k8s.io/api/core/v1"
	discoveryv1 "k8s.io/api/discovery/v1"
	apiequality "k8s.io/apimachinery/pkg/api/equality"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/labels"
)

// sliceSelector selects the slices this controller manages for a Service.
func sliceSelector(service string) labels.Selector {
	return labels.SelectorFromValidatedSet(labels.Set{
		discoveryv1.LabelServiceName: service,
		discoveryv1.LabelManagedBy:   ControllerName,
	})
}

// slicePlan is what syncSlices writes.
type slicePlan struct {
	create []*discoveryv1.EndpointSlice
	update []*discoveryv1.EndpointSlice
	delete []*discoveryv1.EndpointSlice
}

// planSlices computes the writes that turn existing into slices listing
// eps. Endpoints stay in the slice that holds them; new ones fill slices
// of the same ports before new slices are made; slices left empty or with
// ports no endpoint has are deleted. A slice whose content would not
// change is not written.
func planSlices(svc *corev1.Service, eps []*endpoint, existing []*discoveryv1.EndpointSlice) slicePlan {
	var plan slicePlan
	// Desired endpoints by ports, then by pod name.
	desired := map[string]map[string]discoveryv1.Endpoint{}
	ports := map[string][]discoveryv1.EndpointPort{}
	for _, ep := range eps {
		if desired[ep.portsKey] == nil {
			desired[ep.portsKey] = map[string]discoveryv1.Endpoint{}
			ports[ep.portsKey] = ep.ports
		}
		desired[ep.portsKey][ep.pod.Name] = sliceEndpoint(svc, ep)
	}

	type kept struct {
		cur       *discoveryv1.EndpointSlice
		key       string
		endpoints []discoveryv1.Endpoint
	}
	var keep []*kept
	existing = slices.Clone(existing)
	slices.SortFunc(existing, func(a, b *discoveryv1.EndpointSlice) int { return strings.Compare(a.Name, b.Name) })
	for _, s := range existing {
		key := portsKey(s.Ports)
		group := desired[key]
		if s.AddressType != discoveryv1.AddressTypeIPv4 || group == nil {
			plan.delete = append(plan.delete, s)
			continue
		}
		k := &kept{cur: s, key: key}
		for _, e := range s.Endpoints {
			if e.TargetRef == nil {
				continue
			}
			if d, ok := group[e.TargetRef.Name]; ok && len(k.endpoints) < MaxEndpointsPerSlice {
				k.endpoints = append(k.endpoints, d)
				delete(group, e.TargetRef.Name)
			}
		}
		keep = append(keep, k)
	}
	// New endpoints go into slices with room, then into new slices.
	for _, k := range keep {
		group := desired[k.key]
		for _, name := range slices.Sorted(maps.Keys(group)) {
			if len(k.endpoints) >= MaxEndpointsPerSlice {
				break
			}
			k.endpoints = append(k.endpoints, group[name])
			delete(group, name)
		}
	}
	for _, key := range slices.Sorted(maps.Keys(desired)) {
		group := desired[key]
		names := slices.Sorted(maps.Keys(group))
		for len(names) > 0 {
			n := min(len(names), MaxEndpointsPerSlice)
			var list []discoveryv1.Endpoint
			for _, name := range names[:n] {
				list = append(list, group[name])
			}
			names = names[n:]
			plan.create = append(plan.create, buildSlice(svc, nil, ports[key], list))
		}
	}
	for _, k := range keep {
		if len(k.endpoints) == 0 {
			plan.delete = append(plan.delete, k.cur)
			continue
		}
		want := buildSlice(svc, k.cur, ports[k.key], k.endpoints)
		if !sliceEqual(k.cur, want) {
			plan.update = append(plan.update, want)
		}
	}
	return plan
}

// sliceEndpoint is ep as an EndpointSlice endpoint.
func sliceEndpoint(svc *corev1.Service, ep *endpoint) discoveryv1.Endpoint {
	e := discoveryv1.Endpoint{
		Addresses: []string{ep.ip},
		Conditions: discoveryv1.EndpointConditions{
			Ready:       new(ep.ready),
			Serving:     new(ep.serving),
			Terminating: new(ep.terminating),
		},
		TargetRef: &corev1.ObjectReference{Kind: "Pod", Namespace: ep.pod.Namespace, Name: ep.pod.Name, UID: ep.pod.UID},
	}
	if ep.pod.Spec.NodeName != "" {
		e.NodeName = new(ep.pod.Spec.NodeName)
	}
	if h := hostname(svc, ep.pod); h != "" {
		e.Hostname = new(h)
	}
	return e
}

// buildSlice returns the slice of svc with ports and endpoints (sorted by
// address), based on cur when it updates one.
func buildSlice(svc *corev1.Service, cur *discoveryv1.EndpointSlice, ports []discoveryv1.EndpointPort, eps []discoveryv1.Endpoint) *discoveryv1.EndpointSlice {
	var s *discoveryv1.EndpointSlice
	if cur != nil {
		s = cur.DeepCopy()
	} else {
		s = &discoveryv1.EndpointSlice{ObjectMeta: metav1.ObjectMeta{GenerateName: svc.Name + "-", Namespace: svc.Namespace}}
	}
	s.Labels = serviceLabels(svc)
	s.Labels[discoveryv1.LabelServiceName] = svc.Name
	s.Labels[discoveryv1.LabelManagedBy] = ControllerName
	s.OwnerReferences = []metav1.OwnerReference{*metav1.NewControllerRef(svc, corev1.SchemeGroupVersion.WithKind("Service"))}
	s.AddressType = discoveryv1.AddressTypeIPv4
	s.Ports = slices.Clone(ports)
	if s.Ports == nil {
		s.Ports = []discoveryv1.EndpointPort{}
	}
	s.Endpoints = slices.Clone(eps)
	slices.SortFunc(s.Endpoints, func(a, b discoveryv1.Endpoint) int {
		if c := strings.Compare(a.Addresses[0], b.Addresses[0]); c != 0 {
			return c
		}
		return strings.Compare(a.TargetRef.Name, b.TargetRef.Name)
	})
	return s
}

// sliceEqual reports whether writing want over cur would change nothing.
func sliceEqual(cur, want *discoveryv1.EndpointSlice) bool {
	return cur.AddressType == want.AddressType &&
		maps.Equal(cur.Labels, want.Labels) &&
		apiequality.Semantic.DeepEqual(cur.OwnerReferences, want.OwnerReferences) &&
		apiequality.Semantic.DeepEqual(cur.Ports, want.Ports) &&
		apiequality.Semantic.DeepEqual(cur.Endpoints, want.Endpoints)
}

// syncSlices writes the EndpointSlices of svc.
func (c *Controller) syncSlices(ctx context.Context, key string, svc *corev1.Service, eps []*endpoint) error {
	existing, err := c.slices.EndpointSlices(svc.Namespace).List(sliceSelector(svc.Name))
	if err != nil {
		return fmt.Errorf("list endpointslices of %s: %w", key, err)
	}
	if !c.tracker.caughtUp(key, existing) {
		// The cache has not seen our last writes: planning now would
		// duplicate slices. Their events requeue the Service; this is a
		// safety net.
		c.queue.AddAfter(key, time.Second)
		return nil
	}
	plan := planSlices(svc, eps, existing)
	client := c.client.DiscoveryV1().EndpointSlices(svc.Namespace)
	for _, s := range plan.create {
		got, err := client.Create(ctx, s, metav1.CreateOptions{})
		if err != nil {
			return fmt.Errorf("create endpointslice for %s: %w", key, err)
		}
		c.tracker.wrote(key, got.Name, got.ResourceVersion)
	}
	for _, s := range plan.update {
		got, err := client.Update(ctx, s, metav1.UpdateOptions{})
		if err != nil {
			return fmt.Errorf("update endpointslice %s/%s: %w", s.Namespace, s.Name, err)
		}
		c.tracker.wrote(key, got.Name, got.ResourceVersion)
	}
	for _, s := range plan.delete {
		err := client.Delete(ctx, s.Name, metav1.DeleteOptions{Preconditions: &metav1.Preconditions{UID: &s.UID}})
		if err != nil && !apierrors.IsNotFound(err) {
			return fmt.Errorf("delete endpointslice %s/%s: %w", s.Namespace, s.Name, err)
		}
		c.tracker.wrote(key, s.Name, deletedRV)
	}
	if n := len(plan.create) + len(plan.update) + len(plan.delete); n > 0 {
		c.log.Debug("synced endpointslices", "service", key, "created", len(plan.create), "updated", len(plan.update), "deleted", len(plan.delete))
	}
	return nil
}

const deletedRV = "deleted"

// sliceTracker remembers the slices a sync wrote until the informer cache
// shows them, so that the next sync of the Service does not plan on a
// stale cache (and create a second slice for the same pods). An entry
// older than trackerTTL is dropped: someone else may have deleted the
// slice before the cache saw it.
//
// Unlike controllers.PendingPods it tracks updates as well as creations
// and deletions, so it compares resourceVersions, not mere presence, and
// it is checked against the slices already listed for the Service.
type sliceTracker struct {
	mu      sync.Mutex
	written map[string]map[string]tracked // service key → slice name
}

type tracked struct {
	rv string
	at time.Time
}

const trackerTTL = 10 * time.Second

func newSliceTracker() *sliceTracker {
	return &sliceTracker{written: map[string]map[string]tracked{}}
}

// forget drops what is tracked for key (its Service is gone).
func (t *sliceTracker) forget(key string) {
	t.mu.Lock()
	defer t.mu.Unlock()
	delete(t.written, key)
}

func (t *sliceTracker) wrote(key, name, rv string) {
	t.mu.Lock()
	defer t.mu.Unlock()
	if t.written[key] == nil {
		t.written[key] = map[string]tracked{}
	}
	t.written[key][name] = tracked{rv: rv, at: time.Now()}
}

// caughtUp reports whether existing (from the cache) includes every write
// tracked for key, and forgets the writes it includes.
func (t *sliceTracker) caughtUp(key string, existing []*discoveryv1.EndpointSlice) bool {
	t.mu.Lock()
	defer t.mu.Unlock()
	w := t.written[key]
	if len(w) == 0 {
		return true
	}
	byName := make(map[string]*discoveryv1.EndpointSlice, len(existing))
	for _, s := range existing {
		byName[s.Name] = s
	}
	ok := true
	for name, tr := range w {
		s := byName[name]
		var seen bool
		if tr.rv == deletedRV {
			seen = s == nil
		} else {
			seen = s != nil && rvAtLeast(s.ResourceVersion, tr.rv)
		}
		if seen || time.Since(tr.at) > trackerTTL {
			delete(w, name)
			continue
		}
		ok = false
	}
	if len(w) == 0 {
		delete(t.written, key)
	}
	return ok
}

// rvAtLeast compares resourceVersions as the revisions sqlkube makes them
// (integers); an unparsable one counts as equal only when identical.
func rvAtLeast(have, want string) bool {
	h, err1 := strconv.ParseInt(have, 10, 64)
	w, err2 := strconv.ParseInt(want, 10, 64)
	if err1 != nil || err2 != nil {
		return have == want
	}
	return h >= w
}
