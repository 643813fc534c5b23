package dns

import (
	"cmp"
	"net/netip"
	"slices"
	"strings"
	"sync"
	"sync/atomic"

	corev1 "k8s.io/api/core/v1"
	discoveryv1 "k8s.io/api/discovery/v1"
)

// svcKey names a Service: namespace and name, as the API spells them (DNS
// labels, lower case).
type svcKey struct{ ns, name string }

// portInfo is one port a Service or an EndpointSlice offers, as SRV records
// need it: name, lower-case protocol ("tcp", "udp", "sctp") and number.
type portInfo struct {
	name  string
	proto string
	port  uint16
}

// endpointInfo is one ready address of a Service's endpoint, with the label
// it answers under (its hostname, or its address with dashes) and the ports
// of the EndpointSlice that holds it.
type endpointInfo struct {
	label string
	addr  netip.Addr
	ports []portInfo
}

// serviceInfo is what the index keeps of a Service.
type serviceInfo struct {
	clusterIPs   []netip.Addr
	headless     bool
	externalName string // fully qualified, lower case; "" unless type ExternalName
	ports        []portInfo
}

// records is everything one Service answers for, derived from the Service
// and its EndpointSlices. A records value is immutable once published in the
// index, so queries read it without holding the index's lock.
type records struct {
	fqdn      string // "svc.ns.svc.cluster.local."
	external  string
	headless  bool
	addrs     []netip.Addr   // what the Service's own name resolves to
	ports     []portInfo     // the Service's ports (SRV for a ClusterIP Service)
	endpoints []endpointInfo // ready endpoints, sorted by label then address
}

// endpointsNamed returns the ready endpoints that answer under label.
func (r *records) endpointsNamed(label string) []endpointInfo {
	var out []endpointInfo
	for _, ep := range r.endpoints {
		if ep.label == label {
			out = append(out, ep)
		}
	}
	return out
}

// index holds the cluster's DNS data in memory, updated from informer events
// and read by every query. Writers rebuild the records of the one Service an
// event concerns; readers take a read lock for a map lookup only.
type index struct {
	zone string // "cluster.local."

	mu         sync.RWMutex
	services   map[svcKey]*serviceInfo
	slices     map[svcKey]map[string][]endpointInfo // service -> slice name -> its ready endpoints
	sliceOwner map[svcKey]svcKey                    // (ns, slice name) -> the service it belonged to
	records    map[svcKey]*records
	namespaces map[string]int                     // number of Services per namespace
	ptr        map[netip.Addr]map[svcKey][]string // address -> names, by contributing service

	serial atomic.Uint32 // SOA serial: bumped on every change
}

func newIndex(zone string, serial uint32) *index {
	ix := &index{
		zone:       zone,
		services:   map[svcKey]*serviceInfo{},
		slices:     map[svcKey]map[string][]endpointInfo{},
		sliceOwner: map[svcKey]svcKey{},
		records:    map[svcKey]*records{},
		namespaces: map[string]int{},
		ptr:        map[netip.Addr]map[svcKey][]string{},
	}
	ix.serial.Store(serial)
	return ix
}

// lookup returns the records of Service ns/name, or nil.
func (ix *index) lookup(ns, name string) *records {
	ix.mu.RLock()
	r := ix.records[svcKey{ns, name}]
	ix.mu.RUnlock()
	return r
}

// namespaceKnown reports whether some Service lives in namespace ns.
func (ix *index) namespaceKnown(ns string) bool {
	ix.mu.RLock()
	n := ix.namespaces[ns]
	ix.mu.RUnlock()
	return n > 0
}

// reverse returns the names that address a points back to, sorted.
func (ix *index) reverse(a netip.Addr) []string {
	ix.mu.RLock()
	var names []string
	for _, ns := range ix.ptr[a] {
		names = append(names, ns...)
	}
	ix.mu.RUnlock()
	slices.Sort(names)
	return slices.Compact(names)
}

// setService records svc (added or updated).
func (ix *index) setService(svc *corev1.Service) {
	k := svcKey{svc.Namespace, svc.Name}
	info := parseService(svc)
	ix.mu.Lock()
	defer ix.mu.Unlock()
	if _, ok := ix.services[k]; !ok {
		ix.namespaces[k.ns]++
	}
	ix.services[k] = info
	ix.rebuild(k)
}

// deleteService forgets Service ns/name.
func (ix *index) deleteService(ns, name string) {
	k := svcKey{ns, name}
	ix.mu.Lock()
	defer ix.mu.Unlock()
	if _, ok := ix.services[k]; !ok {
		return
	}
	delete(ix.services, k)
	if ix.namespaces[ns]--; ix.namespaces[ns] <= 0 {
		delete(ix.namespaces, ns)
	}
	ix.rebuild(k)
}

// setSlice records an EndpointSlice (added or updated). A slice that moved
// to another Service (its service-name label changed) leaves the old one.
func (ix *index) setSlice(es *discoveryv1.EndpointSlice) {
	sk := svcKey{es.Namespace, es.Name}
	owner, owned := sliceService(es)
	eps := parseSlice(es)
	ix.mu.Lock()
	defer ix.mu.Unlock()
	if old, ok := ix.sliceOwner[sk]; ok && (!owned || old != owner) {
		ix.dropSlice(sk, old)
	}
	if !owned {
		return
	}
	ix.sliceOwner[sk] = owner
	m := ix.slices[owner]
	if m == nil {
		m = map[string][]endpointInfo{}
		ix.slices[owner] = m
	}
	m[es.Name] = eps
	ix.rebuild(owner)
}

// deleteSlice forgets EndpointSlice ns/name.
func (ix *index) deleteSlice(ns, name string) {
	sk := svcKey{ns, name}
	ix.mu.Lock()
	defer ix.mu.Unlock()
	if old, ok := ix.sliceOwner[sk]; ok {
		ix.dropSlice(sk, old)
	}
}

// dropSlice removes slice sk from service owner and rebuilds owner. The
// caller holds the write lock.
func (ix *index) dropSlice(sk, owner svcKey) {
	delete(ix.sliceOwner, sk)
	if m := ix.slices[owner]; m != nil {
		delete(m, sk.name)
		if len(m) == 0 {
			delete(ix.slices, owner)
		}
	}
	ix.rebuild(owner)
}

// rebuild derives the records of service k from its Service and slices and
// replaces what k contributed to the reverse index. The caller holds the
// write lock.
func (ix *index) rebuild(k svcKey) {
	ix.serial.Add(1)
	if old := ix.records[k]; old != nil {
		drop := func(a netip.Addr) {
			if m := ix.ptr[a]; m != nil {
				delete(m, k)
				if len(m) == 0 {
					delete(ix.ptr, a)
				}
			}
		}
		for _, a := range old.addrs {
			drop(a)
		}
		for _, ep := range old.endpoints {
			drop(ep.addr)
		}
		delete(ix.records, k)
	}
	info := ix.services[k]
	if info == nil {
		return
	}
	r := &records{
		fqdn:     k.name + "." + k.ns + ".svc." + ix.zone,
		external: info.externalName,
		headless: info.headless,
		ports:    info.ports,
	}
	if r.external == "" {
		r.endpoints = mergeEndpoints(ix.slices[k])
		if r.headless {
			for _, ep := range r.endpoints {
				r.addrs = append(r.addrs, ep.addr)
			}
			slices.SortFunc(r.addrs, netip.Addr.Compare)
			r.addrs = slices.Compact(r.addrs)
		} else {
			r.addrs = info.clusterIPs
		}
	}
	ix.records[k] = r

	add := func(a netip.Addr, name string) {
		m := ix.ptr[a]
		if m == nil {
			m = map[svcKey][]string{}
			ix.ptr[a] = m
		}
		m[k] = append(m[k], name)
	}
	if !r.headless {
		for _, a := range r.addrs {
			add(a, r.fqdn)
		}
	}
	for _, ep := range r.endpoints {
		add(ep.addr, ep.label+"."+r.fqdn)
	}
}

// mergeEndpoints joins the ready endpoints of a Service's slices, sorted and
// without duplicates (the same address may sit in two slices for a moment).
func mergeEndpoints(bySlice map[string][]endpointInfo) []endpointInfo {
	var out []endpointInfo
	for _, eps := range bySlice {
		out = append(out, eps...)
	}
	slices.SortFunc(out, func(a, b endpointInfo) int {
		return cmp.Or(strings.Compare(a.label, b.label), a.addr.Compare(b.addr))
	})
	return slices.CompactFunc(out, func(a, b endpointInfo) bool {
		return a.label == b.label && a.addr == b.addr
	})
}

// parseService keeps what DNS needs of svc.
func parseService(svc *corev1.Service) *serviceInfo {
	info := &serviceInfo{}
	if svc.Spec.Type == corev1.ServiceTypeExternalName {
		if n := strings.ToLower(strings.TrimSuffix(svc.Spec.ExternalName, ".")); n != "" {
			info.externalName = n + "."
		}
		return info
	}
	ips := svc.Spec.ClusterIPs
	if len(ips) == 0 && svc.Spec.ClusterIP != "" {
		ips = []string{svc.Spec.ClusterIP}
	}
	for _, s := range ips {
		if s == corev1.ClusterIPNone {
			info.headless = true
			continue
		}
		if a, err := netip.ParseAddr(s); err == nil {
			info.clusterIPs = append(info.clusterIPs, a.Unmap())
		}
	}
	for _, p := range svc.Spec.Ports {
		info.ports = append(info.ports, portInfo{
			name:  p.Name,
			proto: protoName(p.Protocol),
			port:  uint16(p.Port),
		})
	}
	return info
}

// sliceService returns the Service an EndpointSlice belongs to, from its
// kubernetes.io/service-name label.
func sliceService(es *discoveryv1.EndpointSlice) (svcKey, bool) {
	name := es.Labels[discoveryv1.LabelServiceName]
	if name == "" {
		return svcKey{}, false
	}
	return svcKey{es.Namespace, name}, true
}

// parseSlice returns the ready endpoints of es. An endpoint whose ready
// condition is unset counts as ready, as the API documents.
func parseSlice(es *discoveryv1.EndpointSlice) []endpointInfo {
	if es.AddressType != discoveryv1.AddressTypeIPv4 && es.AddressType != discoveryv1.AddressTypeIPv6 {
		return nil
	}
	var ports []portInfo
	for _, p := range es.Ports {
		if p.Port == nil {
			continue
		}
		pi := portInfo{port: uint16(*p.Port), proto: "tcp"}
		if p.Name != nil {
			pi.name = *p.Name
		}
		if p.Protocol != nil {
			pi.proto = protoName(*p.Protocol)
		}
		ports = append(ports, pi)
	}
	var out []endpointInfo
	for _, ep := range es.Endpoints {
		if ep.Conditions.Ready != nil && !*ep.Conditions.Ready {
			continue
		}
		for _, s := range ep.Addresses {
			a, err := netip.ParseAddr(s)
			if err != nil {
				continue
			}
			a = a.Unmap()
			label := dashed(a)
			if ep.Hostname != nil && *ep.Hostname != "" {
				label = strings.ToLower(*ep.Hostname)
			}
			out = append(out, endpointInfo{label: label, addr: a, ports: ports})
		}
	}
	return out
}

// dashed spells an address as one DNS label: 10.244.1.5 as 10-244-1-5,
// fd00::1 as fd00--1.
func dashed(a netip.Addr) string {
	s := a.String()
	if a.Is4() {
		return strings.ReplaceAll(s, ".", "-")
	}
	return strings.ReplaceAll(s, ":", "-")
}

// undash parses a label written by dashed.
func undash(label string) (netip.Addr, bool) {
	for _, sep := range []string{".", ":"} {
		a, err := netip.ParseAddr(strings.ReplaceAll(label, "-", sep))
		if err == nil && a.Zone() == "" {
			return a.Unmap(), true
		}
	}
	return netip.Addr{}, false
}

func protoName(p corev1.Protocol) string {
	if p == "" {
		return "tcp"
	}
	return strings.ToLower(string(p))
}
