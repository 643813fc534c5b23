package dns

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"net"
	"net/netip"
	"strings"
	"sync"
	"time"

	mdns "github.com/miekg/dns"
	"github.com/prometheus/client_golang/prometheus"
	corev1 "k8s.io/api/core/v1"
	discoveryv1 "k8s.io/api/discovery/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/client-go/informers"
	"k8s.io/client-go/kubernetes"
	"k8s.io/client-go/tools/cache"
)

// DefaultDomain is the cluster domain when Config.Domain is empty.
const DefaultDomain = "cluster.local"

// DefaultResolvConf is where the node's own resolvers are read from when
// Config.Upstreams is empty.
const DefaultResolvConf = "/etc/resolv.conf"

// Config configures a Server.
type Config struct {
	// Client reads Services and EndpointSlices of all namespaces. Required.
	Client kubernetes.Interface
	// Domain is the cluster domain; DefaultDomain when empty.
	Domain string
	// Listen are the IP:PORT addresses to serve on, each over UDP and TCP.
	// Port 0 picks a free port, the same for UDP and TCP (Addrs tells
	// which). Required.
	Listen []string
	// Upstreams are the resolvers (IP or IP:PORT) that names outside the
	// cluster domain are forwarded to, tried in order. When empty, the
	// nameservers of ResolvConf. Addresses the server listens on are
	// dropped, so that it never forwards to itself.
	Upstreams []string
	// ResolvConf is the file default upstreams come from; DefaultResolvConf
	// when empty.
	ResolvConf string
	// ForwardTimeout bounds one attempt at one upstream;
	// DefaultForwardTimeout when zero.
	ForwardTimeout time.Duration
	// FreeBind lets the server bind listen addresses not (yet) assigned to
	// any interface (Linux IP_FREEBIND), such as the pod bridge's gateway
	// address before the first pod creates the bridge.
	FreeBind bool
	// Registerer, when set, receives the server's metrics.
	Registerer prometheus.Registerer
	// Logger logs; discarded when nil.
	Logger *slog.Logger
}

// Server is a cluster DNS server. Make one with New, then call Run.
type Server struct {
	client   kubernetes.Interface
	listen   []string
	freeBind bool
	log      *slog.Logger
	index    *index
	fwd      *forwarder
	metrics  *metrics
	ready    chan struct{}

	mu    sync.Mutex
	addrs []string
}

// New validates cfg, fills in its defaults and returns a Server that does
// nothing until Run. It fails on a missing client, a malformed domain,
// listen address or upstream, on a resolv.conf it cannot parse, and when
// the metrics cannot be registered.
func New(cfg Config) (*Server, error) {
	if cfg.Client == nil {
		return nil, errors.New("dns: a client is required")
	}
	if cfg.Logger == nil {
		cfg.Logger = slog.New(slog.DiscardHandler)
	}
	domain := strings.ToLower(strings.Trim(cfg.Domain, "."))
	if domain == "" {
		domain = DefaultDomain
	}
	if _, ok := mdns.IsDomainName(domain); !ok {
		return nil, fmt.Errorf("dns: cluster domain %q is not a domain name", cfg.Domain)
	}
	if len(cfg.Listen) == 0 {
		return nil, errors.New("dns: no listen address")
	}
	for _, l := range cfg.Listen {
		if _, err := netip.ParseAddrPort(l); err != nil {
			return nil, fmt.Errorf("dns: listen address %q: %w", l, err)
		}
	}
	if cfg.ForwardTimeout <= 0 {
		cfg.ForwardTimeout = DefaultForwardTimeout
	}
	var ups []string
	if len(cfg.Upstreams) > 0 {
		for _, u := range cfg.Upstreams {
			n, err := normalizeUpstream(u)
			if err != nil {
				return nil, fmt.Errorf("dns: %w", err)
			}
			ups = append(ups, n)
		}
		ups = withoutSelf(ups, cfg.Listen)
	} else {
		if cfg.ResolvConf == "" {
			cfg.ResolvConf = DefaultResolvConf
		}
		var err error
		if ups, err = upstreamsFrom(cfg.ResolvConf, cfg.Listen); err != nil {
			return nil, fmt.Errorf("dns: %w", err)
		}
	}
	if len(ups) == 0 {
		cfg.Logger.Warn("no upstream resolver: names outside the cluster will fail", "resolvConf", cfg.ResolvConf)
	}
	m, err := newMetrics(cfg.Registerer)
	if err != nil {
		return nil, fmt.Errorf("dns: %w", err)
	}
	return &Server{
		client:   cfg.Client,
		listen:   cfg.Listen,
		freeBind: cfg.FreeBind,
		log:      cfg.Logger,
		index:    newIndex(domain+".", uint32(time.Now().Unix())),
		fwd:      newForwarder(ups, cfg.ForwardTimeout),
		metrics:  m,
		ready:    make(chan struct{}),
	}, nil
}

// Ready is closed once the server has bound its sockets, synced its caches
// and serves.
func (s *Server) Ready() <-chan struct{} { return s.ready }

// Addrs returns the addresses the server serves on (ports chosen), once
// Ready is closed; nil before.
func (s *Server) Addrs() []string {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.addrs
}

// Upstreams returns the resolvers names outside the cluster go to.
func (s *Server) Upstreams() []string { return s.fwd.upstreams }

// Run binds the listen addresses, fills the in-memory index from Services
// and EndpointSlices, serves queries until ctx ends, then stops. It returns
// nil when ctx ends, and an error when a socket cannot be bound or serving
// fails. Run may be called once.
func (s *Server) Run(ctx context.Context) error {
	socks, err := bindAll(ctx, s.listen, s.freeBind)
	if err != nil {
		return err
	}
	closeAll := func() {
		for _, sk := range socks {
			sk.pc.Close()
			sk.ln.Close()
		}
	}

	factory := informers.NewSharedInformerFactory(s.client, 0)
	defer factory.Shutdown()
	synced, err := s.watch(factory)
	if err != nil {
		closeAll()
		return err
	}
	factory.Start(ctx.Done())
	if !cache.WaitForCacheSync(ctx.Done(), synced...) {
		closeAll()
		if ctx.Err() != nil {
			return nil
		}
		return errors.New("dns: caches of Services and EndpointSlices did not sync")
	}

	handler := mdns.HandlerFunc(func(w mdns.ResponseWriter, req *mdns.Msg) { s.serve(ctx, w, req) })
	var (
		servers []*mdns.Server
		started sync.WaitGroup
		done    sync.WaitGroup
	)
	errc := make(chan error, 2*len(socks))
	for _, sk := range socks {
		for _, srv := range []*mdns.Server{
			{PacketConn: sk.pc, Handler: handler, UDPSize: mdns.DefaultMsgSize},
			{Listener: sk.ln, Handler: handler},
		} {
			started.Add(1)
			var once sync.Once
			notify := func() { once.Do(started.Done) }
			srv.NotifyStartedFunc = notify
			servers = append(servers, srv)
			done.Add(1)
			go func() {
				defer done.Done()
				defer notify() // a server that fails to start must not hold up the others
				if err := srv.ActivateAndServe(); err != nil {
					errc <- fmt.Errorf("dns: serve on %s: %w", sk.addr, err)
				}
			}()
		}
	}
	started.Wait()
	addrs := make([]string, 0, len(socks))
	for _, sk := range socks {
		addrs = append(addrs, sk.addr)
	}
	s.mu.Lock()
	s.addrs = addrs
	s.mu.Unlock()
	close(s.ready)
	s.log.Info("cluster DNS serving", "addrs", addrs, "domain", strings.TrimSuffix(s.index.zone, "."), "upstreams", s.fwd.upstreams)

	var runErr error
	select {
	case <-ctx.Done():
	case runErr = <-errc:
	}
	stop, cancel := context.WithTimeout(context.WithoutCancel(ctx), 5*time.Second)
	defer cancel()
	for _, srv := range servers {
		_ = srv.ShutdownContext(stop) // a server that already failed is not started: nothing to stop
	}
	done.Wait()
	closeAll()
	return runErr
}

// watch registers the index's handlers on the factory's Service and
// EndpointSlice informers and returns what tells that their initial lists
// reached the index.
func (s *Server) watch(factory informers.SharedInformerFactory) ([]cache.InformerSynced, error) {
	svcs := factory.Core().V1().Services().Informer()
	eps := factory.Discovery().V1().EndpointSlices().Informer()
	for _, inf := range []cache.SharedIndexInformer{svcs, eps} {
		if err := inf.SetTransform(stripManagedFields); err != nil {
			return nil, fmt.Errorf("dns: informer transform: %w", err)
		}
	}
	r1, err := svcs.AddEventHandler(cache.ResourceEventHandlerFuncs{
		AddFunc:    func(o any) { s.onService(o, false) },
		UpdateFunc: func(_, o any) { s.onService(o, false) },
		DeleteFunc: func(o any) { s.onService(o, true) },
	})
	if err != nil {
		return nil, fmt.Errorf("dns: watch services: %w", err)
	}
	r2, err := eps.AddEventHandler(cache.ResourceEventHandlerFuncs{
		AddFunc:    func(o any) { s.onSlice(o, false) },
		UpdateFunc: func(_, o any) { s.onSlice(o, false) },
		DeleteFunc: func(o any) { s.onSlice(o, true) },
	})
	if err != nil {
		return nil, fmt.Errorf("dns: watch endpointslices: %w", err)
	}
	return []cache.InformerSynced{r1.HasSynced, r2.HasSynced}, nil
}

func (s *Server) onService(o any, deleted bool) {
	if d, ok := o.(cache.DeletedFinalStateUnknown); ok {
		o = d.Obj
	}
	svc, ok := o.(*corev1.Service)
	if !ok {
		return
	}
	if deleted {
		s.index.deleteService(svc.Namespace, svc.Name)
		return
	}
	s.index.setService(svc)
}

func (s *Server) onSlice(o any, deleted bool) {
	if d, ok := o.(cache.DeletedFinalStateUnknown); ok {
		o = d.Obj
	}
	es, ok := o.(*discoveryv1.EndpointSlice)
	if !ok {
		return
	}
	if deleted {
		s.index.deleteSlice(es.Namespace, es.Name)
		return
	}
	s.index.setSlice(es)
}

func stripManagedFields(o any) (any, error) {
	if m, ok := o.(metav1.Object); ok {
		m.SetManagedFields(nil)
	}
	return o, nil
}

// serve answers one query and writes the reply, cut to what the client can
// take over UDP.
func (s *Server) serve(ctx context.Context, w mdns.ResponseWriter, req *mdns.Msg) {
	start := time.Now()
	_, tcp := w.RemoteAddr().(*net.TCPAddr)
	resp, source := s.answer(ctx, req, tcp)
	if tcp {
		resp.Compress = true
	} else {
		size := mdns.MinMsgSize
		if opt := req.IsEdns0(); opt != nil {
			size = max(int(opt.UDPSize()), mdns.MinMsgSize)
		}
		resp.Truncate(size)
	}
	var qtype uint16
	if len(req.Question) > 0 {
		qtype = req.Question[0].Qtype
	}
	// Counted before the write, so that a client holding the reply also
	// sees it in the metrics.
	s.metrics.observe(qtype, resp.Rcode, source, time.Since(start))
	if err := w.WriteMsg(resp); err != nil {
		s.log.Debug("write dns reply", "client", w.RemoteAddr().String(), "err", err)
	}
}

// answer builds the reply to req and says where it came from: "cluster"
// or "upstream".
func (s *Server) answer(ctx context.Context, req *mdns.Msg, tcp bool) (*mdns.Msg, string) {
	if req.Opcode != mdns.OpcodeQuery {
		return reply(req, mdns.RcodeNotImplemented), "cluster"
	}
	if len(req.Question) != 1 {
		return reply(req, mdns.RcodeFormatError), "cluster"
	}
	q := req.Question[0]
	owner := mdns.Fqdn(q.Name)
	name := strings.ToLower(owner)
	zone := s.index.zone
	var res result
	inZone := mdns.IsSubDomain(zone, name)
	switch {
	case inZone:
		res = s.resolveCluster(ctx, owner, name, q.Qtype, 0)
	case strings.HasSuffix(name, ".in-addr.arpa.") || strings.HasSuffix(name, ".ip6.arpa."):
		res = s.resolveReverse(owner, name, q.Qtype)
	default:
		res.forward = true
	}
	if res.forward {
		resp, err := s.fwd.exchange(ctx, req, tcp)
		if err != nil {
			s.log.Debug("forward dns query", "name", q.Name, "type", mdns.TypeToString[q.Qtype], "err", err)
			return reply(req, mdns.RcodeServerFailure), "upstream"
		}
		return resp, "upstream"
	}
	m := reply(req, res.rcode)
	m.Authoritative = true
	m.Answer = res.answer
	m.Extra = res.extra
	if inZone && (res.soa || len(res.answer) == 0) {
		m.Ns = []mdns.RR{s.soa()}
	}
	if req.IsEdns0() != nil {
		m.SetEdns0(mdns.DefaultMsgSize, false)
	}
	return m, "cluster"
}

func reply(req *mdns.Msg, rcode int) *mdns.Msg {
	m := new(mdns.Msg)
	m.SetRcode(req, rcode)
	m.RecursionAvailable = true
	return m
}

// socket is one listen address bound over UDP and TCP.
type socket struct {
	addr string
	pc   net.PacketConn
	ln   net.Listener
}

// bindAll binds every listen address; on a failure it closes what it bound.
func bindAll(ctx context.Context, listen []string, free bool) ([]socket, error) {
	var out []socket
	for _, l := range listen {
		sk, err := bind(ctx, l, free)
		if err != nil {
			for _, o := range out {
				o.pc.Close()
				o.ln.Close()
			}
			return nil, err
		}
		out = append(out, sk)
	}
	return out, nil
}

// bind binds addr over UDP, then TCP on the same port (with port 0, a port
// free for both, retried a few times).
func bind(ctx context.Context, addr string, free bool) (socket, error) {
	ap, err := netip.ParseAddrPort(addr)
	if err != nil {
		return socket{}, fmt.Errorf("dns: listen address %q: %w", addr, err)
	}
	var lc net.ListenConfig
	if free {
		lc.Control = freeBind(ap.Addr())
	}
	var lastErr error
	for range 10 {
		pc, err := lc.ListenPacket(ctx, "udp", addr)
		if err != nil {
			return socket{}, fmt.Errorf("dns: listen on udp %s: %w", addr, err)
		}
		bound := pc.LocalAddr().String()
		ln, err := lc.Listen(ctx, "tcp", bound)
		if err == nil {
			return socket{addr: bound, pc: pc, ln: ln}, nil
		}
		pc.Close()
		lastErr = fmt.Errorf("dns: listen on tcp %s: %w", bound, err)
		if ap.Port() != 0 {
			break
		}
	}
	return socket{}, lastErr
}
