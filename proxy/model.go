package proxy

import (
	"fmt"
	"net/netip"
	"slices"
	"strings"
	"time"
)

// The names of everything the proxy owns in its table. Per-Service and
// per-endpoint chains and sets get names derived from the Service port (see
// names.go); these are the fixed ones.
const (
	// TableName is the nftables table the proxy owns, in family ip.
	TableName = "sqlkube"

	chainNatPrerouting  = "nat-prerouting"
	chainNatOutput      = "nat-output"
	chainNatPostrouting = "nat-postrouting"
	chainFilterInput    = "filter-input"
	chainFilterForward  = "filter-forward"
	chainFilterOutput   = "filter-output"
	chainServices       = "services"
	chainEndpointsCheck = "endpoints-check"
	chainReject         = "reject-chain"
	chainMarkMasq       = "mark-for-masquerade"
	chainMasquerading   = "masquerading"

	mapServiceIPs        = "service-ips"
	mapServiceNodePorts  = "service-nodeports"
	mapNoEndpointService = "no-endpoint-services"
	mapNoEndpointNodePrt = "no-endpoint-nodeports"

	// masqMark is the packet mark bit that asks nat-postrouting to
	// masquerade a connection's first packet (the bit kube-proxy uses).
	masqMark uint32 = 0x4000
)

// Table is the whole desired content of the proxy's nftables table: what one
// sync builds and applies in a single transaction. Render gives it as stable
// text; apply turns it into netlink messages.
type Table struct {
	Family string // "ip"
	Name   string
	Maps   []*VMap
	Sets   []*Set
	Chains []*Chain
}

// Chain is a chain of the table; Hook is set for base chains.
type Chain struct {
	Name  string
	Hook  *Hook
	Rules []Rule
}

// Hook attaches a base chain to a netfilter hook.
type Hook struct {
	Type     string // "nat" or "filter"
	Hook     string // "prerouting", "input", "forward", "output", "postrouting"
	Priority int
}

// Rule is a sequence of statements, matched left to right.
type Rule []stmt

// KeyKind says what a verdict map is keyed by.
type KeyKind int

const (
	// KeyAddrProtoPort is `ip daddr . meta l4proto . th dport`.
	KeyAddrProtoPort KeyKind = iota
	// KeyProtoPort is `meta l4proto . th dport`.
	KeyProtoPort
)

// VMap is a named verdict map whose elements goto chains.
type VMap struct {
	Name     string
	Key      KeyKind
	Elements []MapElement
}

// MapElement is one element of a VMap: a key and the chain it goes to.
type MapElement struct {
	Addr  netip.Addr // only for KeyAddrProtoPort
	Proto Protocol
	Port  uint16
	Goto  string
}

// Set is a dynamic set of IPv4 source addresses whose elements expire
// (session affinity).
type Set struct {
	Name    string
	Timeout time.Duration
}

// Protocol is an IP protocol number (6 tcp, 17 udp, 132 sctp).
type Protocol uint8

// The protocols a Service port can have.
const (
	ProtoTCP  Protocol = 6
	ProtoUDP  Protocol = 17
	ProtoSCTP Protocol = 132
)

func (p Protocol) String() string {
	switch p {
	case ProtoTCP:
		return "tcp"
	case ProtoUDP:
		return "udp"
	case ProtoSCTP:
		return "sctp"
	}
	return fmt.Sprint(uint8(p))
}

func (e MapElement) text(k KeyKind) string {
	if k == KeyAddrProtoPort {
		return fmt.Sprintf("%s . %s . %d : goto %s", e.Addr, e.Proto, e.Port, e.Goto)
	}
	return fmt.Sprintf("%s . %d : goto %s", e.Proto, e.Port, e.Goto)
}

func (k KeyKind) typeText() string {
	if k == KeyAddrProtoPort {
		return "ipv4_addr . inet_proto . inet_service"
	}
	return "inet_proto . inet_service"
}

func (k KeyKind) exprText() string {
	if k == KeyAddrProtoPort {
		return "ip daddr . meta l4proto . th dport"
	}
	return "meta l4proto . th dport"
}

// Sort puts maps, sets, chains and map elements in name order, so that the
// same desired state always renders and applies the same way.
func (t *Table) Sort() {
	slices.SortFunc(t.Maps, func(a, b *VMap) int { return strings.Compare(a.Name, b.Name) })
	slices.SortFunc(t.Sets, func(a, b *Set) int { return strings.Compare(a.Name, b.Name) })
	slices.SortFunc(t.Chains, func(a, b *Chain) int { return strings.Compare(a.Name, b.Name) })
	for _, m := range t.Maps {
		slices.SortFunc(m.Elements, func(a, b MapElement) int {
			if c := a.Addr.Compare(b.Addr); c != 0 {
				return c
			}
			if a.Proto != b.Proto {
				return int(a.Proto) - int(b.Proto)
			}
			return int(a.Port) - int(b.Port)
		})
	}
}

// RuleCount is the number of rules in all chains plus the number of map
// elements: the size of the rule set, as the rules metric reports it.
func (t *Table) RuleCount() int {
	n := 0
	for _, c := range t.Chains {
		n += len(c.Rules)
	}
	for _, m := range t.Maps {
		n += len(m.Elements)
	}
	return n
}

// Render returns the table as text in the style of `nft list table`, with
// maps, sets and chains in name order (call Sort first for elements in
// order too). It is what the golden tests compare.
func (t *Table) Render() string {
	var b strings.Builder
	fmt.Fprintf(&b, "table %s %s {\n", t.Family, t.Name)
	for _, m := range t.Maps {
		fmt.Fprintf(&b, "\tmap %s {\n\t\ttype %s : verdict\n", m.Name, m.Key.typeText())
		if len(m.Elements) > 0 {
			b.WriteString("\t\telements = {\n")
			for _, e := range m.Elements {
				fmt.Fprintf(&b, "\t\t\t%s,\n", e.text(m.Key))
			}
			b.WriteString("\t\t}\n")
		}
		b.WriteString("\t}\n")
	}
	for _, s := range t.Sets {
		fmt.Fprintf(&b, "\tset %s {\n\t\ttype ipv4_addr\n\t\tflags dynamic,timeout\n\t\ttimeout %s\n\t}\n", s.Name, s.Timeout)
	}
	for _, c := range t.Chains {
		fmt.Fprintf(&b, "\tchain %s {\n", c.Name)
		if h := c.Hook; h != nil {
			fmt.Fprintf(&b, "\t\ttype %s hook %s priority %d; policy accept;\n", h.Type, h.Hook, h.Priority)
		}
		for _, r := range c.Rules {
			parts := make([]string, len(r))
			for i, s := range r {
				parts[i] = s.text()
			}
			fmt.Fprintf(&b, "\t\t%s\n", strings.Join(parts, " "))
		}
		b.WriteString("\t}\n")
	}
	b.WriteString("}\n")
	return b.String()
}
