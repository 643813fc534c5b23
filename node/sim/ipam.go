package sim

import (
	"encoding/binary"
	"errors"
	"fmt"
	"net/netip"
	"sync"
	"time"

	"k8s.io/apimachinery/pkg/types"
)

// errNoIPs is returned when a node's pod range is full.
var errNoIPs = errors.New("no free pod IP")

// assignNodeCIDRs gives each of names a pod range of maskSize bits out of
// clusterCIDR, as the node IPAM controller does: a name whose Node already
// has a range (existing[name]) keeps it; the others get the first ranges
// that no Node uses (taken lists every Node's range, ours and other
// processes'), in order. It fails when clusterCIDR has too few ranges left.
func assignNodeCIDRs(clusterCIDR netip.Prefix, maskSize int, names []string, existing map[string]string, taken []string) (map[string]netip.Prefix, error) {
	if !clusterCIDR.Addr().Is4() {
		return nil, fmt.Errorf("pod CIDR %s: only IPv4 is supported", clusterCIDR)
	}
	if maskSize < clusterCIDR.Bits() || maskSize > 30 {
		return nil, fmt.Errorf("node CIDR mask size %d: want between %d (the pod CIDR's) and 30", maskSize, clusterCIDR.Bits())
	}
	clusterCIDR = clusterCIDR.Masked()
	base := addrUint(clusterCIDR.Addr())
	shift := 32 - maskSize
	count := uint64(1) << (maskSize - clusterCIDR.Bits())
	used := map[uint64]bool{}
	for _, c := range taken {
		p, err := netip.ParsePrefix(c)
		if err != nil || !p.Addr().Is4() || !clusterCIDR.Contains(p.Addr()) {
			continue
		}
		used[uint64(addrUint(p.Masked().Addr())-base)>>shift] = true
	}
	out := make(map[string]netip.Prefix, len(names))
	var next uint64
	for _, name := range names {
		if c, ok := existing[name]; ok {
			if p, err := netip.ParsePrefix(c); err == nil && p.Addr().Is4() {
				out[name] = p.Masked()
				continue
			}
		}
		for next < count && used[next] {
			next++
		}
		if next >= count {
			return nil, fmt.Errorf("pod CIDR %s has no free /%d range left for node %s", clusterCIDR, maskSize, name)
		}
		used[next] = true
		out[name] = netip.PrefixFrom(uintAddr(base+uint32(next<<shift)), maskSize)
	}
	return out, nil
}

// ipPool hands out the pod IPs of one node's range, one per pod UID. The
// network address, the first host address (a gateway's, by convention) and
// the broadcast address are never handed out. It hands out addresses
// round-robin, so a released address is reused only after the others.
// Safe for concurrent use.
type ipPool struct {
	mu    sync.Mutex
	base  uint32
	first uint32 // first offset handed out
	size  uint32 // offsets [first, size) are handed out
	used  []uint64
	next  uint32
	pods  map[types.UID]podRun
}

// podRun is what the simulator holds for a running pod.
type podRun struct {
	ip      netip.Addr
	started time.Time
}

func newIPPool(cidr netip.Prefix) *ipPool {
	size := uint32(1) << (32 - cidr.Bits())
	return &ipPool{
		base:  addrUint(cidr.Masked().Addr()),
		first: 2,
		size:  size - 1,
		used:  make([]uint64, (size+63)/64),
		next:  2,
		pods:  map[types.UID]podRun{},
	}
}

// allocate returns the pod's IP and start time, handing out a free IP
// started at now if the pod has none yet.
func (p *ipPool) allocate(uid types.UID, now time.Time) (podRun, error) {
	p.mu.Lock()
	defer p.mu.Unlock()
	if r, ok := p.pods[uid]; ok {
		return r, nil
	}
	for range p.size - p.first {
		off := p.next
		if p.next++; p.next >= p.size {
			p.next = p.first
		}
		if !p.isUsed(off) {
			p.setUsed(off, true)
			r := podRun{ip: uintAddr(p.base + off), started: now}
			p.pods[uid] = r
			return r, nil
		}
	}
	return podRun{}, errNoIPs
}

// adopt records a pod found running at start (the simulator restarted):
// its IP is reserved if it is in the range and free. It returns what is
// held for the pod, started at started unless it already was.
func (p *ipPool) adopt(uid types.UID, ip string, started time.Time) podRun {
	p.mu.Lock()
	defer p.mu.Unlock()
	if r, ok := p.pods[uid]; ok {
		return r
	}
	r := podRun{started: started}
	if a, err := netip.ParseAddr(ip); err == nil && a.Is4() {
		off := addrUint(a) - p.base
		if addrUint(a) >= p.base && off >= p.first && off < p.size && !p.isUsed(off) {
			p.setUsed(off, true)
			r.ip = a
		}
	}
	p.pods[uid] = r
	return r
}

// release frees what pod uid holds; releasing twice is harmless.
func (p *ipPool) release(uid types.UID) {
	p.mu.Lock()
	defer p.mu.Unlock()
	r, ok := p.pods[uid]
	if !ok {
		return
	}
	delete(p.pods, uid)
	if r.ip.IsValid() {
		p.setUsed(addrUint(r.ip)-p.base, false)
	}
}

// len is the number of pods held.
func (p *ipPool) len() int {
	p.mu.Lock()
	defer p.mu.Unlock()
	return len(p.pods)
}

func (p *ipPool) isUsed(off uint32) bool { return p.used[off/64]&(1<<(off%64)) != 0 }

func (p *ipPool) setUsed(off uint32, v bool) {
	if v {
		p.used[off/64] |= 1 << (off % 64)
	} else {
		p.used[off/64] &^= 1 << (off % 64)
	}
}

func addrUint(a netip.Addr) uint32 {
	b := a.As4()
	return binary.BigEndian.Uint32(b[:])
}

func uintAddr(u uint32) netip.Addr {
	var b [4]byte
	binary.BigEndian.PutUint32(b[:], u)
	return netip.AddrFrom4(b)
}
