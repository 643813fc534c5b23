package proxy

import (
	"fmt"
	"net/netip"
	"strings"

	"github.com/google/nftables"
	"github.com/google/nftables/binaryutil"
	"github.com/google/nftables/expr"
	"golang.org/x/sys/unix"
)

// stmt is one statement of a rule: it renders as nft text and compiles to
// netlink expressions.
type stmt interface {
	text() string
	exprs(c *compiler) ([]expr.Any, error)
}

// Registers: 1 and 2 are 128-bit registers; 8 to 23 are the 32-bit ones
// (8 to 11 overlay register 1), used for the fields of a concatenation.
const (
	reg1   = 1
	reg2   = 2
	reg32b = 9
	reg32c = 10
)

const (
	offIPSaddr      = 12
	offIPDaddr      = 16
	offThDport      = 2
	rtnLocal        = 2 // RTN_LOCAL, the fib address type of a local address
	icmpPortUnreach = 3
)

// ipMatch is `ip saddr|daddr [!=] PREFIX`.
type ipMatch struct {
	dst    bool
	neg    bool
	prefix netip.Prefix
}

func (m ipMatch) field() string {
	if m.dst {
		return "ip daddr"
	}
	return "ip saddr"
}

func (m ipMatch) text() string {
	op := ""
	if m.neg {
		op = "!= "
	}
	v := m.prefix.String()
	if m.prefix.IsSingleIP() {
		v = m.prefix.Addr().String()
	}
	return m.field() + " " + op + v
}

func (m ipMatch) exprs(*compiler) ([]expr.Any, error) {
	off := uint32(offIPSaddr)
	if m.dst {
		off = offIPDaddr
	}
	out := []expr.Any{&expr.Payload{DestRegister: reg1, Base: expr.PayloadBaseNetworkHeader, Offset: off, Len: 4}}
	p := m.prefix.Masked()
	if !p.IsSingleIP() {
		mask := netipMask(p.Bits())
		out = append(out, &expr.Bitwise{SourceRegister: reg1, DestRegister: reg1, Len: 4, Mask: mask, Xor: []byte{0, 0, 0, 0}})
	}
	op := expr.CmpOpEq
	if m.neg {
		op = expr.CmpOpNeq
	}
	a := p.Addr().As4()
	return append(out, &expr.Cmp{Op: op, Register: reg1, Data: a[:]}), nil
}

func netipMask(bits int) []byte {
	m := uint32(0)
	if bits > 0 {
		m = ^uint32(0) << (32 - bits)
	}
	return binaryutil.BigEndian.PutUint32(m)
}

// l4Match is `meta l4proto PROTO`.
type l4Match struct{ proto Protocol }

func (m l4Match) text() string { return "meta l4proto " + m.proto.String() }

func (m l4Match) exprs(*compiler) ([]expr.Any, error) {
	return []expr.Any{
		&expr.Meta{Key: expr.MetaKeyL4PROTO, Register: reg1},
		&expr.Cmp{Op: expr.CmpOpEq, Register: reg1, Data: []byte{byte(m.proto)}},
	}, nil
}

// fibLocal is `fib saddr|daddr type local`.
type fibLocal struct{ saddr bool }

func (m fibLocal) text() string {
	if m.saddr {
		return "fib saddr type local"
	}
	return "fib daddr type local"
}

func (m fibLocal) exprs(*compiler) ([]expr.Any, error) {
	return []expr.Any{
		&expr.Fib{Register: reg1, ResultADDRTYPE: true, FlagSADDR: m.saddr, FlagDADDR: !m.saddr},
		&expr.Cmp{Op: expr.CmpOpEq, Register: reg1, Data: binaryutil.NativeEndian.PutUint32(rtnLocal)},
	}, nil
}

// ctNew is `ct state new`.
type ctNew struct{}

func (ctNew) text() string { return "ct state new" }

func (ctNew) exprs(*compiler) ([]expr.Any, error) {
	return []expr.Any{
		&expr.Ct{Register: reg1, Key: expr.CtKeySTATE},
		&expr.Bitwise{SourceRegister: reg1, DestRegister: reg1, Len: 4,
			Mask: binaryutil.NativeEndian.PutUint32(expr.CtStateBitNEW), Xor: binaryutil.NativeEndian.PutUint32(0)},
		&expr.Cmp{Op: expr.CmpOpNeq, Register: reg1, Data: binaryutil.NativeEndian.PutUint32(0)},
	}, nil
}

// markUnset is `meta mark & 0x4000 == 0`.
type markUnset struct{}

func (markUnset) text() string { return fmt.Sprintf("meta mark & 0x%08x == 0x00000000", masqMark) }

func (markUnset) exprs(*compiler) ([]expr.Any, error) {
	return []expr.Any{
		&expr.Meta{Key: expr.MetaKeyMARK, Register: reg1},
		&expr.Bitwise{SourceRegister: reg1, DestRegister: reg1, Len: 4,
			Mask: binaryutil.NativeEndian.PutUint32(masqMark), Xor: binaryutil.NativeEndian.PutUint32(0)},
		&expr.Cmp{Op: expr.CmpOpEq, Register: reg1, Data: binaryutil.NativeEndian.PutUint32(0)},
	}, nil
}

// markSet is `meta mark set meta mark | 0x4000` (or `^` with xor).
type markSet struct{ xor bool }

func (m markSet) text() string {
	op := "|"
	if m.xor {
		op = "^"
	}
	return fmt.Sprintf("meta mark set meta mark %s 0x%08x", op, masqMark)
}

func (m markSet) exprs(*compiler) ([]expr.Any, error) {
	mask := ^masqMark // (mark & ^bit) ^ bit == mark | bit
	if m.xor {
		mask = ^uint32(0) // (mark & all) ^ bit == mark ^ bit
	}
	return []expr.Any{
		&expr.Meta{Key: expr.MetaKeyMARK, Register: reg1},
		&expr.Bitwise{SourceRegister: reg1, DestRegister: reg1, Len: 4,
			Mask: binaryutil.NativeEndian.PutUint32(mask), Xor: binaryutil.NativeEndian.PutUint32(masqMark)},
		&expr.Meta{Key: expr.MetaKeyMARK, SourceRegister: true, Register: reg1},
	}, nil
}

// inSet is `ip saddr @SET`.
type inSet struct{ set string }

func (m inSet) text() string { return "ip saddr @" + m.set }

func (m inSet) exprs(c *compiler) ([]expr.Any, error) {
	s, err := c.set(m.set)
	if err != nil {
		return nil, err
	}
	return []expr.Any{
		&expr.Payload{DestRegister: reg1, Base: expr.PayloadBaseNetworkHeader, Offset: offIPSaddr, Len: 4},
		&expr.Lookup{SourceRegister: reg1, SetName: s.Name, SetID: s.ID},
	}, nil
}

// updateSet is `update @SET { ip saddr }`: refreshes the source's timeout.
type updateSet struct{ set string }

func (m updateSet) text() string { return "update @" + m.set + " { ip saddr }" }

func (m updateSet) exprs(c *compiler) ([]expr.Any, error) {
	s, err := c.set(m.set)
	if err != nil {
		return nil, err
	}
	return []expr.Any{
		&expr.Payload{DestRegister: reg1, Base: expr.PayloadBaseNetworkHeader, Offset: offIPSaddr, Len: 4},
		&expr.Dynset{SrcRegKey: reg1, SetName: s.Name, SetID: s.ID, Operation: unix.NFT_DYNSET_OP_UPDATE},
	}, nil
}

// vmapLookup is `KEY vmap @MAP`.
type vmapLookup struct {
	key KeyKind
	vm  string
}

func (m vmapLookup) text() string { return m.key.exprText() + " vmap @" + m.vm }

func (m vmapLookup) exprs(c *compiler) ([]expr.Any, error) {
	s, err := c.set(m.vm)
	if err != nil {
		return nil, err
	}
	var out []expr.Any
	if m.key == KeyAddrProtoPort {
		out = []expr.Any{
			&expr.Payload{DestRegister: reg1, Base: expr.PayloadBaseNetworkHeader, Offset: offIPDaddr, Len: 4},
			&expr.Meta{Key: expr.MetaKeyL4PROTO, Register: reg32b},
			&expr.Payload{DestRegister: reg32c, Base: expr.PayloadBaseTransportHeader, Offset: offThDport, Len: 2},
		}
	} else {
		out = []expr.Any{
			&expr.Meta{Key: expr.MetaKeyL4PROTO, Register: reg1},
			&expr.Payload{DestRegister: reg32b, Base: expr.PayloadBaseTransportHeader, Offset: offThDport, Len: 2},
		}
	}
	return append(out, &expr.Lookup{SourceRegister: reg1, SetName: s.Name, SetID: s.ID, IsDestRegSet: true, DestRegister: 0}), nil
}

// numgenVmap is `numgen random mod N vmap { 0 : goto A, 1 : goto B, ... }`:
// an anonymous constant map from a random number to an endpoint chain.
type numgenVmap struct{ chains []string }

func (m numgenVmap) text() string {
	parts := make([]string, len(m.chains))
	for i, c := range m.chains {
		parts[i] = fmt.Sprintf("%d : goto %s", i, c)
	}
	return fmt.Sprintf("numgen random mod %d vmap { %s }", len(m.chains), strings.Join(parts, ", "))
}

func (m numgenVmap) exprs(c *compiler) ([]expr.Any, error) {
	s := &nftables.Set{Table: c.table, Anonymous: true, Constant: true, IsMap: true,
		KeyType: nftables.TypeInteger, DataType: nftables.TypeVerdict, KeyByteOrder: binaryutil.NativeEndian}
	elems := make([]nftables.SetElement, len(m.chains))
	for i, ch := range m.chains {
		elems[i] = nftables.SetElement{Key: binaryutil.NativeEndian.PutUint32(uint32(i)),
			VerdictData: &expr.Verdict{Kind: expr.VerdictGoto, Chain: ch}}
	}
	if err := c.conn.AddSet(s, elems); err != nil {
		return nil, fmt.Errorf("anonymous map for numgen: %w", err)
	}
	return []expr.Any{
		&expr.Numgen{Register: reg1, Modulus: uint32(len(m.chains)), Type: unix.NFT_NG_RANDOM},
		&expr.Lookup{SourceRegister: reg1, SetName: s.Name, SetID: s.ID, IsDestRegSet: true, DestRegister: 0},
	}, nil
}

// verdict is `jump C`, `goto C` or `return`.
type verdict struct {
	kind  expr.VerdictKind
	chain string
}

func jump(c string) verdict  { return verdict{kind: expr.VerdictJump, chain: c} }
func gotoC(c string) verdict { return verdict{kind: expr.VerdictGoto, chain: c} }

func (v verdict) text() string {
	switch v.kind {
	case expr.VerdictJump:
		return "jump " + v.chain
	case expr.VerdictGoto:
		return "goto " + v.chain
	case expr.VerdictReturn:
		return "return"
	}
	return fmt.Sprintf("verdict %d", v.kind)
}

func (v verdict) exprs(*compiler) ([]expr.Any, error) {
	return []expr.Any{&expr.Verdict{Kind: v.kind, Chain: v.chain}}, nil
}

// masquerade is `masquerade fully-random`.
type masquerade struct{}

func (masquerade) text() string { return "masquerade fully-random" }

func (masquerade) exprs(*compiler) ([]expr.Any, error) {
	return []expr.Any{&expr.Masq{FullyRandom: true}}, nil
}

// dnat is `dnat to ADDR:PORT` (after an l4proto match).
type dnat struct {
	addr netip.Addr
	port uint16
}

func (d dnat) text() string { return fmt.Sprintf("dnat to %s:%d", d.addr, d.port) }

func (d dnat) exprs(*compiler) ([]expr.Any, error) {
	a := d.addr.As4()
	return []expr.Any{
		&expr.Immediate{Register: reg1, Data: a[:]},
		&expr.Immediate{Register: reg2, Data: binaryutil.BigEndian.PutUint16(d.port)},
		&expr.NAT{Type: expr.NATTypeDestNAT, Family: unix.NFPROTO_IPV4, RegAddrMin: reg1, RegProtoMin: reg2, Specified: true},
	}, nil
}

// reject is `reject with tcp reset` or `reject` (ICMP port unreachable).
type reject struct{ tcpReset bool }

func (r reject) text() string {
	if r.tcpReset {
		return "reject with tcp reset"
	}
	return "reject"
}

func (r reject) exprs(*compiler) ([]expr.Any, error) {
	if r.tcpReset {
		return []expr.Any{&expr.Reject{Type: unix.NFT_REJECT_TCP_RST}}, nil
	}
	return []expr.Any{&expr.Reject{Type: unix.NFT_REJECT_ICMP_UNREACH, Code: icmpPortUnreach}}, nil
}
