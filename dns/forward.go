package dns

import (
	"context"
	"errors"
	"fmt"
	"net"
	"net/netip"
	"os"
	"slices"
	"sync/atomic"
	"time"

	mdns "github.com/miekg/dns"
)

// DefaultForwardTimeout bounds one attempt at one upstream.
const DefaultForwardTimeout = 2 * time.Second

// forwarder sends questions outside the cluster domain to the node's own
// resolvers, in turn, until one answers.
type forwarder struct {
	upstreams []string
	udp, tcp  *mdns.Client
	// first is the upstream that answered last: queries start there, so
	// that a dead first resolver costs one timeout, not one per query.
	first atomic.Int32
}

func newForwarder(upstreams []string, timeout time.Duration) *forwarder {
	return &forwarder{
		upstreams: upstreams,
		udp:       &mdns.Client{Net: "udp", Timeout: timeout, UDPSize: mdns.DefaultMsgSize},
		tcp:       &mdns.Client{Net: "tcp", Timeout: timeout},
	}
}

// errNoUpstream is returned when the server has no upstream to forward to.
var errNoUpstream = errors.New("no upstream resolver")

// exchange asks the upstreams req, over TCP when tcp is set or when the UDP
// answer came back truncated, and returns the first answer any of them
// gives (whatever its rcode). It does not change req; the answer carries
// req's ID.
func (f *forwarder) exchange(ctx context.Context, req *mdns.Msg, tcp bool) (*mdns.Msg, error) {
	if len(f.upstreams) == 0 {
		return nil, errNoUpstream
	}
	q := req.Copy()
	q.Id = mdns.Id() // our own ID towards the upstream, not the client's
	var errs []error
	first := int(f.first.Load())
	for n := range len(f.upstreams) {
		if err := ctx.Err(); err != nil {
			errs = append(errs, err)
			break
		}
		i := (first + n) % len(f.upstreams)
		up := f.upstreams[i]
		resp, err := f.ask(ctx, q, up, tcp)
		if err != nil {
			errs = append(errs, fmt.Errorf("upstream %s: %w", up, err))
			continue
		}
		if i != first {
			f.first.Store(int32(i))
		}
		resp.Id = req.Id
		return resp, nil
	}
	return nil, errors.Join(errs...)
}

func (f *forwarder) ask(ctx context.Context, q *mdns.Msg, upstream string, tcp bool) (*mdns.Msg, error) {
	if !tcp {
		resp, _, err := f.udp.ExchangeContext(ctx, q, upstream)
		if err != nil {
			return nil, err
		}
		if !resp.Truncated {
			return resp, nil
		}
	}
	resp, _, err := f.tcp.ExchangeContext(ctx, q, upstream)
	return resp, err
}

// upstreamsFrom returns the nameservers of a resolv.conf file as IP:PORT,
// without any of the server's own listen addresses (forwarding to itself
// would loop).
func upstreamsFrom(path string, listen []string) ([]string, error) {
	cc, err := mdns.ClientConfigFromFile(path)
	if err != nil {
		if errors.Is(err, os.ErrNotExist) {
			return nil, nil
		}
		return nil, fmt.Errorf("read resolvers from %s: %w", path, err)
	}
	var out []string
	for _, s := range cc.Servers {
		out = append(out, net.JoinHostPort(s, cc.Port))
	}
	return withoutSelf(out, listen), nil
}

// withoutSelf drops from upstreams the addresses the server listens on.
func withoutSelf(upstreams, listen []string) []string {
	own := map[netip.AddrPort]bool{}
	for _, l := range listen {
		if ap, err := netip.ParseAddrPort(l); err == nil {
			own[netip.AddrPortFrom(ap.Addr().Unmap(), ap.Port())] = true
		}
	}
	return slices.DeleteFunc(slices.Clone(upstreams), func(u string) bool {
		ap, err := netip.ParseAddrPort(u)
		return err == nil && own[netip.AddrPortFrom(ap.Addr().Unmap(), ap.Port())]
	})
}

// normalizeUpstream accepts "IP" or "IP:PORT" and returns "IP:PORT".
func normalizeUpstream(u string) (string, error) {
	if ap, err := netip.ParseAddrPort(u); err == nil {
		return ap.String(), nil
	}
	a, err := netip.ParseAddr(u)
	if err != nil {
		return "", fmt.Errorf("upstream %q: not IP or IP:PORT", u)
	}
	return netip.AddrPortFrom(a, 53).String(), nil
}
