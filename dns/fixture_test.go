package dns

import (
	"context"
	"errors"
	"fmt"
	"net"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	mdns "github.com/miekg/dns"
	corev1 "k8s.io/api/core/v1"
	discoveryv1 "k8s.io/api/discovery/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/runtime"
	"k8s.io/client-go/kubernetes/fake"
)

// service returns a Service in namespace ns.
func service(ns, name string, mutate func(*corev1.Service)) *corev1.Service {
	s := &corev1.Service{ObjectMeta: metav1.ObjectMeta{Namespace: ns, Name: name}}
	mutate(s)
	return s
}

func clusterIP(ips ...string) func(*corev1.Service) {
	return func(s *corev1.Service) {
		s.Spec.Type = corev1.ServiceTypeClusterIP
		s.Spec.ClusterIP = ips[0]
		s.Spec.ClusterIPs = ips
	}
}

func withPorts(base func(*corev1.Service), ports ...corev1.ServicePort) func(*corev1.Service) {
	return func(s *corev1.Service) {
		base(s)
		s.Spec.Ports = ports
	}
}

func externalName(target string) func(*corev1.Service) {
	return func(s *corev1.Service) {
		s.Spec.Type = corev1.ServiceTypeExternalName
		s.Spec.ExternalName = target
	}
}

// ep is one endpoint of a slice.
type ep struct {
	addr     string
	hostname string
	ready    bool
}

// slice returns an EndpointSlice of Service svc.
func slice(ns, name, svc string, family discoveryv1.AddressType, ports []discoveryv1.EndpointPort, eps ...ep) *discoveryv1.EndpointSlice {
	es := &discoveryv1.EndpointSlice{
		ObjectMeta:  metav1.ObjectMeta{Namespace: ns, Name: name, Labels: map[string]string{discoveryv1.LabelServiceName: svc}},
		AddressType: family,
		Ports:       ports,
	}
	for _, e := range eps {
		x := discoveryv1.Endpoint{Addresses: []string{e.addr}, Conditions: discoveryv1.EndpointConditions{Ready: new(e.ready)}}
		if e.hostname != "" {
			x.Hostname = new(e.hostname)
		}
		es.Endpoints = append(es.Endpoints, x)
	}
	return es
}

func slicePort(name string, proto corev1.Protocol, port int32) discoveryv1.EndpointPort {
	return discoveryv1.EndpointPort{Name: new(name), Protocol: new(proto), Port: new(port)}
}

// startServer runs a Server over a fake clientset holding objs, listening
// on 127.0.0.1, and waits until it is ready.
func startServer(t testing.TB, upstreams []string, objs ...runtime.Object) (*Server, *fake.Clientset) {
	t.Helper()
	client := fake.NewClientset(objs...)
	return runServer(t, Config{Client: client, Upstreams: upstreams}), client
}

// runServer runs a Server with cfg, by default listening on 127.0.0.1 with
// no upstream, and waits until it is ready.
func runServer(t testing.TB, cfg Config) *Server {
	t.Helper()
	if cfg.Listen == nil {
		cfg.Listen = []string{"127.0.0.1:0"}
	}
	if len(cfg.Upstreams) == 0 {
		cfg.ResolvConf = "/nonexistent/resolv.conf"
	}
	if cfg.ForwardTimeout == 0 {
		cfg.ForwardTimeout = 500 * time.Millisecond
	}
	s, err := New(cfg)
	if err != nil {
		t.Fatalf("New: %v", err)
	}
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan error, 1)
	go func() { done <- s.Run(ctx) }()
	t.Cleanup(func() {
		cancel()
		if err := <-done; err != nil {
			t.Errorf("Run: %v", err)
		}
	})
	select {
	case <-s.Ready():
	case err := <-done:
		t.Fatalf("Run ended before ready: %v", err)
	case <-time.After(10 * time.Second):
		t.Fatal("server not ready after 10s")
	}
	return s
}

// query asks s the question (name, qtype) in-process, as over UDP.
func query(s *Server, name string, qtype uint16) *mdns.Msg {
	req := new(mdns.Msg)
	req.SetQuestion(name, qtype)
	resp, _ := s.answer(context.Background(), req, false)
	return resp
}

// summary renders an answer as "RCODE" then "NAME TYPE RDATA" per record of
// the answer section, in order.
func summary(m *mdns.Msg) []string {
	out := []string{mdns.RcodeToString[m.Rcode]}
	for _, rr := range m.Answer {
		out = append(out, rrText(rr))
	}
	return out
}

func rrText(rr mdns.RR) string {
	f := strings.Fields(rr.String())
	return f[0] + " " + strings.Join(f[3:], " ")
}

// eventually polls cond until it holds or 10s pass.
func eventually(t *testing.T, what string, cond func() error) {
	t.Helper()
	deadline := time.Now().Add(10 * time.Second)
	for {
		err := cond()
		if err == nil {
			return
		}
		if time.Now().After(deadline) {
			t.Fatalf("%s: still %v after 10s", what, err)
		}
		time.Sleep(10 * time.Millisecond)
	}
}

// upstream is a fake upstream resolver on 127.0.0.1, over UDP and TCP.
type upstream struct {
	addr       string
	udp, tcp   atomic.Int32 // queries seen, by transport
	mu         sync.Mutex
	lastQuery  *mdns.Msg
	bigAnswers int
}

// startUpstream serves:
//   - example.org. A 93.184.216.34 (and AAAA 2606:2800::1),
//   - big.example. TXT with many records (truncated over UDP without EDNS),
//   - anything else: NXDOMAIN.
func startUpstream(t testing.TB) *upstream {
	t.Helper()
	u := &upstream{bigAnswers: 40}
	h := mdns.HandlerFunc(func(w mdns.ResponseWriter, req *mdns.Msg) {
		_, tcp := w.RemoteAddr().(*net.TCPAddr)
		if tcp {
			u.tcp.Add(1)
		} else {
			u.udp.Add(1)
		}
		u.mu.Lock()
		u.lastQuery = req.Copy()
		u.mu.Unlock()
		m := new(mdns.Msg)
		m.SetReply(req)
		m.RecursionAvailable = true
		q := req.Question[0]
		switch strings.ToLower(q.Name) {
		case "example.org.":
			switch q.Qtype {
			case mdns.TypeA:
				m.Answer = append(m.Answer, mustRR(t, q.Name+" 300 IN A 93.184.216.34"))
			case mdns.TypeAAAA:
				m.Answer = append(m.Answer, mustRR(t, q.Name+" 300 IN AAAA 2606:2800::1"))
			}
		case "big.example.":
			for i := range u.bigAnswers {
				m.Answer = append(m.Answer, mustRR(t, fmt.Sprintf("%s 300 IN TXT \"record number %03d with some padding to make it long\"", q.Name, i)))
			}
		default:
			m.Rcode = mdns.RcodeNameError
		}
		if !tcp {
			size := mdns.MinMsgSize
			if o := req.IsEdns0(); o != nil {
				size = int(o.UDPSize())
			}
			m.Truncate(size)
		}
		_ = w.WriteMsg(m)
	})
	pc, err := net.ListenPacket("udp", "127.0.0.1:0")
	if err != nil {
		t.Fatalf("upstream: %v", err)
	}
	ln, err := net.Listen("tcp", pc.LocalAddr().String())
	if err != nil {
		t.Fatalf("upstream: %v", err)
	}
	u.addr = pc.LocalAddr().String()
	for _, srv := range []*mdns.Server{{PacketConn: pc, Handler: h}, {Listener: ln, Handler: h}} {
		started := make(chan struct{})
		srv.NotifyStartedFunc = func() { close(started) }
		go func() { _ = srv.ActivateAndServe() }()
		<-started
		t.Cleanup(func() { _ = srv.Shutdown() })
	}
	return u
}

func mustRR(t testing.TB, s string) mdns.RR {
	rr, err := mdns.NewRR(s)
	if err != nil {
		t.Fatalf("rr %q: %v", s, err)
	}
	return rr
}

// deadAddr returns a 127.0.0.1 UDP address where nothing listens.
func deadAddr(t testing.TB) string {
	pc, err := net.ListenPacket("udp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	addr := pc.LocalAddr().String()
	if err := pc.Close(); err != nil && !errors.Is(err, net.ErrClosed) {
		t.Fatal(err)
	}
	return addr
}
