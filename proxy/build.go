package proxy

import (
	"cmp"
	"crypto/sha256"
	"encoding/base32"
	"log/slog"
	"net/netip"
	"slices"
	"strconv"
	"strings"
	"time"

	"github.com/google/nftables/expr"
	v1 "k8s.io/api/core/v1"
	discoveryv1 "k8s.io/api/discovery/v1"
)

// BuildConfig is what the desired table depends on besides Services and
// EndpointSlices.
type BuildConfig struct {
	// NodeName is this node: endpoints with this nodeName are local
	// (internal/externalTrafficPolicy Local, trafficDistribution PreferClose).
	NodeName string
	// ClusterCIDR is the pod network. Service traffic from outside it (the
	// node itself, other machines) is masqueraded, and so is pod traffic
	// leaving it. Zero: neither.
	ClusterCIDR netip.Prefix
	// PodCIDR is this node's share of the pod network. Service traffic
	// from a local pod to a local endpoint is masqueraded, so that the
	// reply comes back through the node (which undoes the DNAT) and not
	// straight over the bridge. Zero: only hairpin traffic is.
	PodCIDR netip.Prefix
	// Logger gets a line for each Service port that cannot be programmed.
	Logger *slog.Logger
}

// defaultAffinityTimeout is sessionAffinityConfig.clientIP.timeoutSeconds'
// default (3 hours).
const defaultAffinityTimeout = 10800 * time.Second

// maxNameLen keeps chain and set names below the kernel's limit (256).
const maxNameLen = 200

// endpoint is a ready endpoint of one Service port.
type endpoint struct {
	addr  netip.Addr
	port  uint16
	local bool
}

// Build returns the desired table for the given Services and EndpointSlices
// (of all namespaces; slices are matched to Services through their
// kubernetes.io/service-name label). Ports that cannot be programmed are
// logged and left out; they never stop the others. Build does not modify
// its arguments.
func Build(cfg BuildConfig, services []*v1.Service, endpointSlices []*discoveryv1.EndpointSlice) *Table {
	log := cfg.Logger
	if log == nil {
		log = slog.New(slog.DiscardHandler)
	}
	b := &builder{cfg: cfg, log: log, t: baseTable(cfg)}
	bySvc := map[string][]*discoveryv1.EndpointSlice{}
	for _, s := range endpointSlices {
		name := s.Labels[discoveryv1.LabelServiceName]
		if name == "" {
			continue
		}
		if s.AddressType != discoveryv1.AddressTypeIPv4 {
			log.Debug("proxy: EndpointSlice is not IPv4; ignored on an IPv4 table", "endpointslice", s.Namespace+"/"+s.Name, "addressType", s.AddressType)
			continue
		}
		key := s.Namespace + "/" + name
		bySvc[key] = append(bySvc[key], s)
	}
	svcs := slices.Clone(services)
	slices.SortFunc(svcs, func(a, b *v1.Service) int {
		return cmp.Or(strings.Compare(a.Namespace, b.Namespace), strings.Compare(a.Name, b.Name))
	})
	for _, svc := range svcs {
		b.addService(svc, bySvc[svc.Namespace+"/"+svc.Name])
	}
	b.t.Sort()
	return b.t
}

type builder struct {
	cfg BuildConfig
	log *slog.Logger
	t   *Table
	m   map[string]*VMap
}

func (b *builder) vmap(name string) *VMap {
	if b.m == nil {
		b.m = map[string]*VMap{}
		for _, m := range b.t.Maps {
			b.m[m.Name] = m
		}
	}
	return b.m[name]
}

// baseTable is the table with its fixed chains and empty maps.
func baseTable(cfg BuildConfig) *Table {
	ch := func(name, typ, hook string, prio int, rules ...Rule) *Chain {
		return &Chain{Name: name, Hook: &Hook{Type: typ, Hook: hook, Priority: prio}, Rules: rules}
	}
	loopback := netip.MustParsePrefix("127.0.0.0/8")
	post := []Rule{{jump(chainMasquerading)}}
	if cfg.ClusterCIDR.IsValid() {
		// Pod egress: leave the pod network with the node's address.
		post = append(post, Rule{ipMatch{prefix: cfg.ClusterCIDR}, ipMatch{dst: true, neg: true, prefix: cfg.ClusterCIDR}, masquerade{}})
	}
	return &Table{
		Family: "ip",
		Name:   TableName,
		Maps: []*VMap{
			{Name: mapServiceIPs, Key: KeyAddrProtoPort},
			{Name: mapServiceNodePorts, Key: KeyProtoPort},
			{Name: mapNoEndpointService, Key: KeyAddrProtoPort},
			{Name: mapNoEndpointNodePrt, Key: KeyProtoPort},
		},
		Chains: []*Chain{
			ch(chainNatPrerouting, "nat", "prerouting", -100, Rule{jump(chainServices)}),
			ch(chainNatOutput, "nat", "output", -100, Rule{jump(chainServices)}),
			ch(chainNatPostrouting, "nat", "postrouting", 100, post...),
			// Before DNAT (-100), so a Service without endpoints is
			// refused at once instead of being routed nowhere.
			ch(chainFilterInput, "filter", "input", -110, Rule{ctNew{}, jump(chainEndpointsCheck)}),
			ch(chainFilterForward, "filter", "forward", -110, Rule{ctNew{}, jump(chainEndpointsCheck)}),
			ch(chainFilterOutput, "filter", "output", -110, Rule{ctNew{}, jump(chainEndpointsCheck)}),
			{Name: chainServices, Rules: []Rule{
				{vmapLookup{key: KeyAddrProtoPort, vm: mapServiceIPs}},
				{fibLocal{}, ipMatch{dst: true, neg: true, prefix: loopback}, vmapLookup{key: KeyProtoPort, vm: mapServiceNodePorts}},
			}},
			{Name: chainEndpointsCheck, Rules: []Rule{
				{vmapLookup{key: KeyAddrProtoPort, vm: mapNoEndpointService}},
				{fibLocal{}, ipMatch{dst: true, neg: true, prefix: loopback}, vmapLookup{key: KeyProtoPort, vm: mapNoEndpointNodePrt}},
			}},
			{Name: chainReject, Rules: []Rule{{l4Match{ProtoTCP}, reject{tcpReset: true}}, {reject{}}}},
			{Name: chainMarkMasq, Rules: []Rule{{markSet{}}}},
			{Name: chainMasquerading, Rules: []Rule{
				{markUnset{}, verdict{kind: expr.VerdictReturn}},
				{markSet{xor: true}},
				{masquerade{}},
			}},
		},
	}
}

func protocol(p v1.Protocol) (Protocol, bool) {
	switch p {
	case v1.ProtocolTCP, "":
		return ProtoTCP, true
	case v1.ProtocolUDP:
		return ProtoUDP, true
	case v1.ProtocolSCTP:
		return ProtoSCTP, true
	}
	return 0, false
}

func (b *builder) addService(svc *v1.Service, endpointSlices []*discoveryv1.EndpointSlice) {
	key := svc.Namespace + "/" + svc.Name
	if svc.Spec.Type == v1.ServiceTypeExternalName {
		return // a CNAME in DNS, no rules
	}
	if svc.Spec.ClusterIP == "" || svc.Spec.ClusterIP == v1.ClusterIPNone {
		return // headless: DNS only
	}
	cip, err := netip.ParseAddr(svc.Spec.ClusterIP)
	if err != nil {
		b.log.Warn("proxy: Service has an invalid clusterIP; skipped", "service", key, "clusterIP", svc.Spec.ClusterIP)
		return
	}
	if !cip.Is4() {
		return // an IPv6 Service: not for this IPv4 table
	}
	nodePorts := svc.Spec.Type == v1.ServiceTypeNodePort || svc.Spec.Type == v1.ServiceTypeLoadBalancer
	for i := range svc.Spec.Ports {
		sp := &svc.Spec.Ports[i]
		proto, ok := protocol(sp.Protocol)
		if !ok {
			b.log.Warn("proxy: Service port has an unsupported protocol; skipped", "service", key, "port", sp.Name, "protocol", sp.Protocol)
			continue
		}
		eps, found := b.endpoints(sp, endpointSlices)
		if !found {
			b.log.Warn("proxy: no EndpointSlice of the Service has a port with this name; port skipped", "service", key, "port", sp.Name)
			continue
		}
		b.addPort(svc, sp, proto, cip, nodePorts && sp.NodePort > 0, eps)
	}
}

// endpoints are the ready endpoints of sp, deduplicated by address, in
// address order. found is false when slices exist but none has the port
// (by name and protocol).
func (b *builder) endpoints(sp *v1.ServicePort, endpointSlices []*discoveryv1.EndpointSlice) (eps []endpoint, found bool) {
	seen := map[netip.Addr]bool{}
	for _, s := range endpointSlices {
		var port int32 = -1
		for _, p := range s.Ports {
			name := ""
			if p.Name != nil {
				name = *p.Name
			}
			pp := v1.ProtocolTCP
			if p.Protocol != nil {
				pp = *p.Protocol
			}
			if name == sp.Name && pp == cmp.Or(sp.Protocol, v1.ProtocolTCP) && p.Port != nil {
				port = *p.Port
			}
		}
		if port <= 0 || port > 65535 {
			continue
		}
		found = true
		for _, e := range s.Endpoints {
			if e.Conditions.Ready != nil && !*e.Conditions.Ready {
				continue
			}
			if len(e.Addresses) == 0 {
				continue
			}
			a, err := netip.ParseAddr(e.Addresses[0])
			if err != nil || !a.Is4() || seen[a] {
				continue
			}
			seen[a] = true
			local := e.NodeName != nil && *e.NodeName == b.cfg.NodeName && b.cfg.NodeName != ""
			eps = append(eps, endpoint{addr: a, port: uint16(port), local: local})
		}
	}
	slices.SortFunc(eps, func(x, y endpoint) int { return x.addr.Compare(y.addr) })
	return eps, found || len(endpointSlices) == 0
}

func local(eps []endpoint) []endpoint {
	var out []endpoint
	for _, e := range eps {
		if e.local {
			out = append(out, e)
		}
	}
	return out
}

// chainName is PREFIX-HASH-KEY, cut to maxNameLen.
func chainName(prefix, key string) string {
	sum := sha256.Sum256([]byte(key))
	h := strings.ToLower(base32.StdEncoding.EncodeToString(sum[:]))[:8]
	n := prefix + "-" + h + "-" + key
	if len(n) > maxNameLen {
		n = n[:maxNameLen]
	}
	return n
}

func (b *builder) addPort(svc *v1.Service, sp *v1.ServicePort, proto Protocol, cip netip.Addr, nodePort bool, eps []endpoint) {
	portKey := svc.Namespace + "/" + svc.Name + "/" + proto.String() + "/" + sp.Name
	svcChain := chainName("service", portKey)
	extChain := chainName("external", portKey)
	port := uint16(sp.Port)

	var affinity time.Duration
	if svc.Spec.SessionAffinity == v1.ServiceAffinityClientIP {
		affinity = defaultAffinityTimeout
		if c := svc.Spec.SessionAffinityConfig; c != nil && c.ClientIP != nil && c.ClientIP.TimeoutSeconds != nil {
			affinity = time.Duration(*c.ClientIP.TimeoutSeconds) * time.Second
		}
	}

	clusterEps := eps
	localEps := local(eps)
	if svc.Spec.InternalTrafficPolicy != nil && *svc.Spec.InternalTrafficPolicy == v1.ServiceInternalTrafficPolicyLocal {
		clusterEps = localEps
	} else if svc.Spec.TrafficDistribution != nil && *svc.Spec.TrafficDistribution == v1.ServiceTrafficDistributionPreferClose && len(localEps) > 0 {
		clusterEps = localEps
	}
	extLocal := svc.Spec.ExternalTrafficPolicy == v1.ServiceExternalTrafficPolicyLocal
	externalEps := clusterEps
	if extLocal {
		externalEps = localEps
	}

	// One chain per endpoint in use, shared by the cluster and external paths.
	epChains := map[netip.Addr]string{}
	epSets := map[netip.Addr]string{}
	for _, e := range eps {
		used := slices.Contains(clusterEps, e) || (nodePort && slices.Contains(externalEps, e))
		if !used {
			continue
		}
		epKey := portKey + "__" + e.addr.String() + "/" + strconv.Itoa(int(e.port))
		name := chainName("endpoint", epKey)
		epChains[e.addr] = name
		rules := []Rule{{ipMatch{prefix: netip.PrefixFrom(e.addr, 32)}, jump(chainMarkMasq)}} // hairpin
		if b.cfg.PodCIDR.IsValid() && b.cfg.PodCIDR.Contains(e.addr) {
			rules = append(rules, Rule{ipMatch{prefix: b.cfg.PodCIDR}, jump(chainMarkMasq)})
		}
		if affinity > 0 {
			set := chainName("affinity", epKey)[:len("affinity-")+8]
			epSets[e.addr] = set
			b.t.Sets = append(b.t.Sets, &Set{Name: set, Timeout: affinity})
			rules = append(rules, Rule{updateSet{set: set}})
		}
		rules = append(rules, Rule{l4Match{proto}, dnat{addr: e.addr, port: e.port}})
		b.t.Chains = append(b.t.Chains, &Chain{Name: name, Rules: rules})
	}
	// pick is the affinity rules and the random choice over eps.
	pick := func(eps []endpoint) []Rule {
		var rules []Rule
		names := make([]string, len(eps))
		for i, e := range eps {
			names[i] = epChains[e.addr]
			if affinity > 0 {
				rules = append(rules, Rule{inSet{set: epSets[e.addr]}, gotoC(names[i])})
			}
		}
		return append(rules, Rule{numgenVmap{chains: names}})
	}

	if len(clusterEps) > 0 {
		var rules []Rule
		if b.cfg.ClusterCIDR.IsValid() {
			rules = append(rules, Rule{ipMatch{dst: true, prefix: netip.PrefixFrom(cip, 32)}, ipMatch{neg: true, prefix: b.cfg.ClusterCIDR}, jump(chainMarkMasq)})
		}
		b.t.Chains = append(b.t.Chains, &Chain{Name: svcChain, Rules: append(rules, pick(clusterEps)...)})
		b.add(mapServiceIPs, MapElement{Addr: cip, Proto: proto, Port: port, Goto: svcChain})
	} else {
		b.add(mapNoEndpointService, MapElement{Addr: cip, Proto: proto, Port: port, Goto: chainReject})
	}
	for _, ip := range svc.Spec.ExternalIPs {
		a, err := netip.ParseAddr(ip)
		if err != nil || !a.Is4() {
			continue
		}
		if len(externalEps) > 0 {
			b.add(mapServiceIPs, MapElement{Addr: a, Proto: proto, Port: port, Goto: extChain})
		} else {
			b.add(mapNoEndpointService, MapElement{Addr: a, Proto: proto, Port: port, Goto: chainReject})
		}
	}
	if !nodePort && len(svc.Spec.ExternalIPs) == 0 {
		return
	}
	if nodePort {
		np := uint16(sp.NodePort)
		if len(externalEps) > 0 {
			b.add(mapServiceNodePorts, MapElement{Proto: proto, Port: np, Goto: extChain})
		} else {
			b.add(mapNoEndpointNodePrt, MapElement{Proto: proto, Port: np, Goto: chainReject})
		}
	}
	if len(externalEps) == 0 {
		return
	}
	var rules []Rule
	if extLocal {
		// Keep the client's address; but traffic from the node itself
		// takes the cluster path, masqueraded.
		if len(clusterEps) > 0 {
			rules = append(rules, Rule{fibLocal{saddr: true}, jump(chainMarkMasq)}, Rule{fibLocal{saddr: true}, gotoC(svcChain)})
		}
		rules = append(rules, pick(externalEps)...)
	} else {
		rules = append(rules, Rule{jump(chainMarkMasq)}, Rule{gotoC(svcChain)})
	}
	b.t.Chains = append(b.t.Chains, &Chain{Name: extChain, Rules: rules})
}

func (b *builder) add(vm string, e MapElement) {
	m := b.vmap(vm)
	m.Elements = append(m.Elements, e)
}
