package dns

import (
	"context"
	"net"
	"net/netip"
	"strings"

	mdns "github.com/miekg/dns"
)

// ttl is the TTL of every record the server answers with, and the negative
// TTL of its SOA: 5 seconds, like CoreDNS's kubernetes plugin.
const ttl = 5

// schemaVersion is what dns-version.ZONE answers in TXT, per the Kubernetes
// DNS-based service discovery specification this server follows.
const schemaVersion = "1.1.0"

// maxChase bounds how many ExternalName CNAMEs inside the cluster domain one
// answer follows.
const maxChase = 8

// result is the answer to one question, before it becomes a message.
type result struct {
	rcode  int
	answer []mdns.RR
	extra  []mdns.RR
	// soa asks for the zone's SOA in the authority section (negative
	// answers: NXDOMAIN, and NODATA under the cluster domain).
	soa bool
	// forward says the name is not ours: ask the upstreams.
	forward bool
}

var (
	nxdomain = result{rcode: mdns.RcodeNameError, soa: true}
	nodata   = result{rcode: mdns.RcodeSuccess, soa: true}
)

// resolveCluster answers qtype for name, a lower-case FQDN under the cluster
// domain; owner is the same name as the client spelled it, used as the owner
// of the records that answer it.
func (s *Server) resolveCluster(ctx context.Context, owner, name string, qtype uint16, depth int) result {
	zone := s.index.zone
	if name == zone {
		switch qtype {
		case mdns.TypeSOA:
			return result{answer: []mdns.RR{s.soa()}}
		case mdns.TypeNS:
			return result{answer: []mdns.RR{&mdns.NS{Hdr: hdr(owner, mdns.TypeNS), Ns: "ns.dns." + zone}}}
		}
		return nodata
	}
	rel := strings.TrimSuffix(name[:len(name)-len(zone)], ".")
	labels := strings.Split(rel, ".")
	n := len(labels)
	switch {
	case n == 1 && labels[0] == "dns-version":
		if qtype == mdns.TypeTXT {
			return result{answer: []mdns.RR{&mdns.TXT{Hdr: hdr(owner, mdns.TypeTXT), Txt: []string{schemaVersion}}}}
		}
		return nodata
	case labels[n-1] == "svc":
		return s.resolveService(ctx, owner, labels[:n-1], qtype, depth)
	case labels[n-1] == "pod":
		return resolvePod(owner, labels[:n-1], qtype)
	}
	return nxdomain
}

// resolveService answers names under svc.ZONE; labels are the ones before
// "svc", left to right.
func (s *Server) resolveService(ctx context.Context, owner string, labels []string, qtype uint16, depth int) result {
	switch len(labels) {
	case 0: // svc.ZONE itself: an empty non-terminal
		return nodata
	case 1: // NS.svc.ZONE: exists while the namespace holds a Service
		if s.index.namespaceKnown(labels[0]) {
			return nodata
		}
		return nxdomain
	case 2: // SVC.NS.svc.ZONE
		r := s.index.lookup(labels[1], labels[0])
		if r == nil {
			return nxdomain
		}
		return s.serviceName(ctx, owner, r, qtype, depth)
	case 3: // ENDPOINT.SVC.NS.svc.ZONE, or _PROTO.SVC.NS.svc.ZONE on the way to SRV names
		r := s.index.lookup(labels[2], labels[1])
		if r == nil || r.external != "" {
			return nxdomain
		}
		if proto, ok := strings.CutPrefix(labels[0], "_"); ok {
			if len(srvRecords(owner, r, "", proto, true)) > 0 {
				return nodata
			}
			return nxdomain
		}
		eps := r.endpointsNamed(labels[0])
		if len(eps) == 0 {
			return nxdomain
		}
		return endpointName(owner, eps, qtype)
	case 4: // _PORT._PROTO.SVC.NS.svc.ZONE
		port, ok1 := strings.CutPrefix(labels[0], "_")
		proto, ok2 := strings.CutPrefix(labels[1], "_")
		r := s.index.lookup(labels[3], labels[2])
		if !ok1 || !ok2 || port == "" || r == nil || r.external != "" {
			return nxdomain
		}
		srvs := srvRecords(owner, r, port, proto, false)
		if len(srvs) == 0 {
			return nxdomain
		}
		if qtype != mdns.TypeSRV {
			return nodata
		}
		return result{answer: srvs, extra: srvExtra(r, srvs)}
	}
	return nxdomain
}

// serviceName answers the name of a Service itself.
func (s *Server) serviceName(ctx context.Context, owner string, r *records, qtype uint16, depth int) result {
	if r.external != "" {
		return s.externalName(ctx, owner, r.external, qtype, depth)
	}
	if r.headless && len(r.endpoints) == 0 {
		// A headless Service without a ready endpoint has no name, as in
		// CoreDNS: clients retry their search list instead of caching an
		// empty answer for the Service.
		return nxdomain
	}
	switch qtype {
	case mdns.TypeA, mdns.TypeAAAA, mdns.TypeANY:
		return result{answer: addrRecords(owner, r.addrs, qtype)}
	case mdns.TypeSRV:
		srvs := srvRecords(owner, r, "", "", false)
		return result{answer: srvs, extra: srvExtra(r, srvs)}
	}
	return nodata
}

// externalName answers an ExternalName Service's name: a CNAME to the
// external name and, for address questions, the target's addresses, looked
// up in the cluster when the target is a cluster name and upstream when not.
func (s *Server) externalName(ctx context.Context, owner, target string, qtype uint16, depth int) result {
	cname := &mdns.CNAME{Hdr: hdr(owner, mdns.TypeCNAME), Target: target}
	res := result{answer: []mdns.RR{cname}}
	if qtype != mdns.TypeA && qtype != mdns.TypeAAAA {
		return res
	}
	if mdns.IsSubDomain(s.index.zone, target) {
		if depth >= maxChase {
			return res
		}
		sub := s.resolveCluster(ctx, target, target, qtype, depth+1)
		if sub.rcode == mdns.RcodeSuccess {
			res.answer = append(res.answer, sub.answer...)
		}
		return res
	}
	q := new(mdns.Msg)
	q.SetQuestion(target, qtype)
	resp, err := s.fwd.exchange(ctx, q, false)
	if err != nil {
		s.log.Debug("resolve an ExternalName target upstream", "name", target, "err", err)
		return res
	}
	if resp.Rcode == mdns.RcodeSuccess {
		res.answer = append(res.answer, resp.Answer...)
	}
	return res
}

// endpointName answers ENDPOINT.SVC.NS.svc.ZONE.
func endpointName(owner string, eps []endpointInfo, qtype uint16) result {
	switch qtype {
	case mdns.TypeA, mdns.TypeAAAA, mdns.TypeANY:
		addrs := make([]netip.Addr, 0, len(eps))
		for _, ep := range eps {
			addrs = append(addrs, ep.addr)
		}
		return result{answer: addrRecords(owner, addrs, qtype)}
	}
	return nodata
}

// srvRecords returns the SRV records for the ports of r that match port and
// proto ("" matches any; onlyProto ignores port). A ClusterIP Service's
// records point at the Service's name with the Service's ports; a headless
// Service's at each endpoint's name with the endpoint's ports.
func srvRecords(owner string, r *records, port, proto string, onlyProto bool) []mdns.RR {
	match := func(p portInfo) bool {
		return (proto == "" || p.proto == proto) && (onlyProto || port == "" || p.name == port)
	}
	var out []mdns.RR
	add := func(target string, p portInfo) {
		out = append(out, &mdns.SRV{Hdr: hdr(owner, mdns.TypeSRV), Priority: 0, Weight: 0, Port: p.port, Target: target})
	}
	if !r.headless {
		for _, p := range r.ports {
			if match(p) {
				add(r.fqdn, p)
			}
		}
		return weigh(out)
	}
	for _, ep := range r.endpoints {
		for _, p := range ep.ports {
			if match(p) {
				add(ep.label+"."+r.fqdn, p)
			}
		}
	}
	return weigh(out)
}

// weigh spreads an SRV set's weight evenly, summing to about 100.
func weigh(srvs []mdns.RR) []mdns.RR {
	if len(srvs) == 0 {
		return srvs
	}
	w := uint16(max(1, 100/len(srvs)))
	for _, rr := range srvs {
		rr.(*mdns.SRV).Weight = w
	}
	return srvs
}

// srvExtra returns the address records of the SRV targets, for the
// additional section.
func srvExtra(r *records, srvs []mdns.RR) []mdns.RR {
	seen := map[string]bool{}
	var out []mdns.RR
	for _, rr := range srvs {
		target := rr.(*mdns.SRV).Target
		if seen[target] {
			continue
		}
		seen[target] = true
		if target == r.fqdn {
			out = append(out, addrRecords(target, r.addrs, mdns.TypeANY)...)
			continue
		}
		label := strings.TrimSuffix(target, "."+r.fqdn)
		for _, ep := range r.endpointsNamed(label) {
			out = append(out, addrRecords(target, []netip.Addr{ep.addr}, mdns.TypeANY)...)
		}
	}
	return out
}

// resolvePod answers names under pod.ZONE the way CoreDNS does with "pods
// insecure" (kubeadm's default): IP-DASHED.NS.pod.ZONE is that address,
// without checking that a pod has it.
func resolvePod(owner string, labels []string, qtype uint16) result {
	switch len(labels) {
	case 0, 1:
		return nodata
	case 2:
		a, ok := undash(labels[0])
		if !ok {
			return nxdomain
		}
		switch qtype {
		case mdns.TypeA, mdns.TypeAAAA, mdns.TypeANY:
			return result{answer: addrRecords(owner, []netip.Addr{a}, qtype)}
		}
		return nodata
	}
	return nxdomain
}

// resolveReverse answers a PTR question for an address of a Service or a
// ready endpoint; other reverse names are forwarded.
func (s *Server) resolveReverse(owner, name string, qtype uint16) result {
	a, ok := reverseAddr(name)
	if !ok {
		return result{forward: true}
	}
	names := s.index.reverse(a)
	if len(names) == 0 {
		return result{forward: true}
	}
	if qtype != mdns.TypePTR {
		return result{}
	}
	out := make([]mdns.RR, 0, len(names))
	for _, n := range names {
		out = append(out, &mdns.PTR{Hdr: hdr(owner, mdns.TypePTR), Ptr: n})
	}
	return result{answer: out}
}

// reverseAddr parses a full in-addr.arpa or ip6.arpa name (lower case,
// fully qualified) into its address.
func reverseAddr(name string) (netip.Addr, bool) {
	if rest, ok := strings.CutSuffix(name, ".in-addr.arpa."); ok {
		l := strings.Split(rest, ".")
		if len(l) != 4 {
			return netip.Addr{}, false
		}
		a, err := netip.ParseAddr(l[3] + "." + l[2] + "." + l[1] + "." + l[0])
		return a, err == nil
	}
	if rest, ok := strings.CutSuffix(name, ".ip6.arpa."); ok {
		l := strings.Split(rest, ".")
		if len(l) != 32 {
			return netip.Addr{}, false
		}
		var b strings.Builder
		for i := 31; i >= 0; i-- {
			if len(l[i]) != 1 {
				return netip.Addr{}, false
			}
			b.WriteString(l[i])
			if i%4 == 0 && i > 0 {
				b.WriteByte(':')
			}
		}
		a, err := netip.ParseAddr(b.String())
		return a, err == nil && a.Is6()
	}
	return netip.Addr{}, false
}

// addrRecords returns A records for the IPv4 addresses (qtype A), AAAA for
// the IPv6 ones (AAAA), or both (ANY).
func addrRecords(owner string, addrs []netip.Addr, qtype uint16) []mdns.RR {
	var out []mdns.RR
	for _, a := range addrs {
		switch {
		case a.Is4() && (qtype == mdns.TypeA || qtype == mdns.TypeANY):
			b := a.As4()
			out = append(out, &mdns.A{Hdr: hdr(owner, mdns.TypeA), A: net.IP(b[:])})
		case a.Is6() && (qtype == mdns.TypeAAAA || qtype == mdns.TypeANY):
			b := a.As16()
			out = append(out, &mdns.AAAA{Hdr: hdr(owner, mdns.TypeAAAA), AAAA: net.IP(b[:])})
		}
	}
	return out
}

// soa returns the cluster domain's SOA record.
func (s *Server) soa() *mdns.SOA {
	zone := s.index.zone
	return &mdns.SOA{
		Hdr:     hdr(zone, mdns.TypeSOA),
		Ns:      "ns.dns." + zone,
		Mbox:    "hostmaster." + zone,
		Serial:  s.index.serial.Load(),
		Refresh: 7200,
		Retry:   1800,
		Expire:  86400,
		Minttl:  ttl,
	}
}

func hdr(name string, t uint16) mdns.RR_Header {
	return mdns.RR_Header{Name: name, Rrtype: t, Class: mdns.ClassINET, Ttl: ttl}
}
