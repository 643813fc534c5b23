package proxy

import (
	"cmp"
	"fmt"

	"github.com/google/nftables"
	"github.com/google/nftables/binaryutil"
	"github.com/google/nftables/expr"
	"github.com/mdlayher/netlink"
	"golang.org/x/sys/unix"
)

// nftConn is what apply needs of a *nftables.Conn: queue messages, then
// send them in one batch with Flush.
type nftConn interface {
	AddTable(t *nftables.Table) *nftables.Table
	DelTable(t *nftables.Table)
	AddChain(c *nftables.Chain) *nftables.Chain
	AddSet(s *nftables.Set, vals []nftables.SetElement) error
	SetAddElements(s *nftables.Set, vals []nftables.SetElement) error
	AddRule(r *nftables.Rule) *nftables.Rule
	Flush() error
}

// maxElementsPerMessage bounds the elements sent in one netlink message: a
// message's attributes carry a 16-bit length.
const maxElementsPerMessage = 500

// compiler holds what statements need while they compile: the table, the
// sets and maps by name, and the connection for anonymous maps.
type compiler struct {
	conn  nftConn
	table *nftables.Table
	sets  map[string]*nftables.Set
}

func (c *compiler) set(name string) (*nftables.Set, error) {
	s, ok := c.sets[name]
	if !ok {
		return nil, fmt.Errorf("set or map %q is not in the table", name)
	}
	return s, nil
}

var (
	keyAddrProtoPort = nftables.MustConcatSetType(nftables.TypeIPAddr, nftables.TypeInetProto, nftables.TypeInetService)
	keyProtoPort     = nftables.MustConcatSetType(nftables.TypeInetProto, nftables.TypeInetService)
)

var hooks = map[string]*nftables.ChainHook{
	"prerouting":  nftables.ChainHookPrerouting,
	"input":       nftables.ChainHookInput,
	"forward":     nftables.ChainHookForward,
	"output":      nftables.ChainHookOutput,
	"postrouting": nftables.ChainHookPostrouting,
}

// apply queues t on conn as one transaction that replaces the whole table
// (add, delete and add again, so that it works whether or not the table
// exists) and flushes it. Either all of t is in the kernel afterwards or,
// when Flush fails, nothing changed.
func apply(conn nftConn, t *Table) error {
	nt := &nftables.Table{Name: t.Name, Family: nftables.TableFamilyIPv4}
	conn.AddTable(nt)
	conn.DelTable(nt)
	conn.AddTable(nt)
	c := &compiler{conn: conn, table: nt, sets: make(map[string]*nftables.Set, len(t.Maps)+len(t.Sets))}

	for _, s := range t.Sets {
		ns := &nftables.Set{Table: nt, Name: s.Name, KeyType: nftables.TypeIPAddr, HasTimeout: true, Dynamic: true, Timeout: s.Timeout}
		if err := conn.AddSet(ns, nil); err != nil {
			return fmt.Errorf("add set %s: %w", s.Name, err)
		}
		c.sets[s.Name] = ns
	}
	// Chains first: map elements refer to them.
	nchains := make([]*nftables.Chain, len(t.Chains))
	for i, ch := range t.Chains {
		nc := &nftables.Chain{Name: ch.Name, Table: nt}
		if h := ch.Hook; h != nil {
			hk, ok := hooks[h.Hook]
			if !ok {
				return fmt.Errorf("chain %s: unknown hook %q", ch.Name, h.Hook)
			}
			prio := nftables.ChainPriority(h.Priority)
			accept := nftables.ChainPolicyAccept
			nc.Hooknum, nc.Priority, nc.Type, nc.Policy = hk, &prio, nftables.ChainType(h.Type), &accept
		}
		nchains[i] = conn.AddChain(nc)
	}
	for _, m := range t.Maps {
		kt := keyAddrProtoPort
		if m.Key == KeyProtoPort {
			kt = keyProtoPort
		}
		ns := &nftables.Set{Table: nt, Name: m.Name, IsMap: true, Concatenation: true, KeyType: kt, DataType: nftables.TypeVerdict}
		elems := make([]nftables.SetElement, len(m.Elements))
		for i, e := range m.Elements {
			elems[i] = nftables.SetElement{Key: mapKey(m.Key, e), VerdictData: &expr.Verdict{Kind: expr.VerdictGoto, Chain: e.Goto}}
		}
		first := elems[:min(len(elems), maxElementsPerMessage)]
		if err := conn.AddSet(ns, first); err != nil {
			return fmt.Errorf("add map %s: %w", m.Name, err)
		}
		for rest := elems[len(first):]; len(rest) > 0; {
			n := min(len(rest), maxElementsPerMessage)
			if err := conn.SetAddElements(ns, rest[:n]); err != nil {
				return fmt.Errorf("add elements to map %s: %w", m.Name, err)
			}
			rest = rest[n:]
		}
		c.sets[m.Name] = ns
	}
	for i, ch := range t.Chains {
		for j, r := range ch.Rules {
			var exprs []expr.Any
			for _, s := range r {
				e, err := s.exprs(c)
				if err != nil {
					return fmt.Errorf("chain %s rule %d: %w", ch.Name, j, err)
				}
				exprs = append(exprs, e...)
			}
			conn.AddRule(&nftables.Rule{Table: nt, Chain: nchains[i], Exprs: exprs})
		}
	}
	if err := conn.Flush(); err != nil {
		return fmt.Errorf("apply table %s %s: %w", t.Family, t.Name, err)
	}
	return nil
}

// mapKey is the element key of e in a map keyed by k: each field padded to
// 4 bytes, as in a concatenation.
func mapKey(k KeyKind, e MapElement) []byte {
	var b []byte
	if k == KeyAddrProtoPort {
		a := e.Addr.As4()
		b = append(b, a[:]...)
	}
	b = append(b, byte(e.Proto), 0, 0, 0)
	b = append(b, binaryutil.BigEndian.PutUint16(e.Port)...)
	return append(b, 0, 0)
}

// socketBuffer is the netlink socket's send and receive buffer: a whole
// table goes out in one sendmsg, and every message of it is acknowledged
// (as nft does, it is forced past the sysctl maximum; it is a limit, not an
// allocation).
const socketBuffer = 256 << 20

// newNftConn opens the netlink connection the proxy applies tables with. It
// needs CAP_NET_ADMIN.
func newNftConn() (*nftables.Conn, error) {
	return nftables.New(nftables.WithSockOptions(func(c *netlink.Conn) error {
		rc, err := c.SyscallConn()
		if err != nil {
			return fmt.Errorf("netlink socket: %w", err)
		}
		var serr error
		err = rc.Control(func(fd uintptr) {
			for _, opt := range []int{unix.SO_SNDBUFFORCE, unix.SO_RCVBUFFORCE} {
				if e := unix.SetsockoptInt(int(fd), unix.SOL_SOCKET, opt, socketBuffer); e != nil {
					serr = fmt.Errorf("netlink socket buffer: %w", e)
				}
			}
		})
		return cmp.Or(err, serr)
	}))
}
