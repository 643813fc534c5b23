package dns

import (
	"context"
	"errors"
	"fmt"
	"net"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"testing"
	"time"

	mdns "github.com/miekg/dns"
	"github.com/prometheus/client_golang/prometheus"
	dto "github.com/prometheus/client_model/go"
	"k8s.io/client-go/kubernetes/fake"
)

// TestWire asks the server over real UDP and TCP sockets on 127.0.0.1.
func TestWire(t *testing.T) {
	up := startUpstream(t)
	s, _ := startServer(t, []string{up.addr}, clusterObjects()...)
	addr := s.Addrs()[0]

	tests := []struct {
		name      string
		net       string
		qname     string
		qtype     uint16
		edns      uint16 // 0: no EDNS0
		want      []string
		truncated bool
	}{
		{"service over UDP", "udp", "web.demo.svc.cluster.local.", mdns.TypeA, 0,
			[]string{"NOERROR", "web.demo.svc.cluster.local. A 10.96.0.20"}, false},
		{"service over TCP", "tcp", "web.demo.svc.cluster.local.", mdns.TypeA, 0,
			[]string{"NOERROR", "web.demo.svc.cluster.local. A 10.96.0.20"}, false},
		{"NXDOMAIN over UDP with EDNS0", "udp", "nope.demo.svc.cluster.local.", mdns.TypeA, 1232,
			[]string{"NXDOMAIN"}, false},
		{"forwarded over UDP", "udp", "example.org.", mdns.TypeA, 0,
			[]string{"NOERROR", "example.org. A 93.184.216.34"}, false},
		{"forwarded over TCP", "tcp", "example.org.", mdns.TypeAAAA, 0,
			[]string{"NOERROR", "example.org. AAAA 2606:2800::1"}, false},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			req := new(mdns.Msg)
			req.SetQuestion(tc.qname, tc.qtype)
			if tc.edns > 0 {
				req.SetEdns0(tc.edns, false)
			}
			c := &mdns.Client{Net: tc.net, Timeout: 5 * time.Second}
			resp, _, err := c.Exchange(req, addr)
			if err != nil {
				t.Fatalf("exchange: %v", err)
			}
			if got := summary(resp); !slices.Equal(got, tc.want) {
				t.Errorf("got %q, want %q", got, tc.want)
			}
			if resp.Id != req.Id {
				t.Errorf("reply ID %d, want the query's %d", resp.Id, req.Id)
			}
			if (tc.edns > 0) != (resp.IsEdns0() != nil) {
				t.Errorf("EDNS0 in reply: %v, in query: %v", resp.IsEdns0() != nil, tc.edns > 0)
			}
		})
	}
}

// TestForwardTruncation: a large upstream answer reaches a UDP client
// truncated (so it retries over TCP), and a TCP client whole; the server
// itself fetched it from the upstream over TCP after a truncated UDP answer.
func TestForwardTruncation(t *testing.T) {
	up := startUpstream(t)
	s, _ := startServer(t, []string{up.addr})
	addr := s.Addrs()[0]
	ask := func(net string) *mdns.Msg {
		req := new(mdns.Msg)
		req.SetQuestion("big.example.", mdns.TypeTXT)
		c := &mdns.Client{Net: net, Timeout: 5 * time.Second}
		resp, _, err := c.Exchange(req, addr)
		if err != nil {
			t.Fatalf("exchange over %s: %v", net, err)
		}
		return resp
	}
	udp := ask("udp")
	if !udp.Truncated || len(udp.Answer) >= up.bigAnswers {
		t.Errorf("over UDP: truncated %v with %d answers, want truncated with fewer than %d", udp.Truncated, len(udp.Answer), up.bigAnswers)
	}
	if up.tcp.Load() == 0 {
		t.Errorf("the server did not retry the truncated upstream answer over TCP")
	}
	tcp := ask("tcp")
	if tcp.Truncated || len(tcp.Answer) != up.bigAnswers {
		t.Errorf("over TCP: truncated %v with %d answers, want all %d", tcp.Truncated, len(tcp.Answer), up.bigAnswers)
	}
}

func TestForwardFailover(t *testing.T) {
	up := startUpstream(t)
	tests := []struct {
		name      string
		upstreams func() []string
		want      []string
		wantFirst int32 // the upstream the next query starts with
	}{
		{"first upstream dead, second answers and is asked first next time", func() []string { return []string{deadAddr(t), up.addr} },
			[]string{"NOERROR", "example.org. A 93.184.216.34"}, 1},
		{"no upstream answers: SERVFAIL", func() []string { return []string{deadAddr(t), deadAddr(t)} },
			[]string{"SERVFAIL"}, 0},
		{"no upstream at all: SERVFAIL", func() []string { return []string{} },
			[]string{"SERVFAIL"}, 0},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			s, _ := startServer(t, tc.upstreams())
			req := new(mdns.Msg)
			req.SetQuestion("example.org.", mdns.TypeA)
			resp, _, err := (&mdns.Client{Timeout: 5 * time.Second}).Exchange(req, s.Addrs()[0])
			if err != nil {
				t.Fatalf("exchange: %v", err)
			}
			if got := summary(resp); !slices.Equal(got, tc.want) {
				t.Errorf("got %q, want %q", got, tc.want)
			}
			if got := s.fwd.first.Load(); got != tc.wantFirst {
				t.Errorf("next query starts with upstream %d, want %d", got, tc.wantFirst)
			}
		})
	}
}

func TestNewConfig(t *testing.T) {
	dir := t.TempDir()
	resolv := filepath.Join(dir, "resolv.conf")
	if err := os.WriteFile(resolv, []byte("nameserver 10.0.0.2\nnameserver 10.96.0.10\nnameserver fd00::53\nsearch example.com\n"), 0o600); err != nil {
		t.Fatal(err)
	}
	client := fake.NewClientset()
	tests := []struct {
		name    string
		cfg     Config
		wantErr string
		ups     []string
	}{
		{"defaults from resolv.conf, without our own address", Config{Client: client, Listen: []string{"10.96.0.10:53"}, ResolvConf: resolv},
			"", []string{"10.0.0.2:53", "[fd00::53]:53"}},
		{"explicit upstreams, IP or IP:PORT", Config{Client: client, Listen: []string{"127.0.0.1:53"}, Upstreams: []string{"1.1.1.1", "127.0.0.1:53", "9.9.9.9:5353"}},
			"", []string{"1.1.1.1:53", "9.9.9.9:5353"}},
		{"no resolv.conf: no upstreams", Config{Client: client, Listen: []string{"127.0.0.1:53"}, ResolvConf: filepath.Join(dir, "none")},
			"", nil},
		{"no client", Config{Listen: []string{"127.0.0.1:53"}}, "client is required", nil},
		{"no listen address", Config{Client: client}, "no listen address", nil},
		{"bad listen address", Config{Client: client, Listen: []string{"localhost:53"}}, `listen address "localhost:53"`, nil},
		{"bad upstream", Config{Client: client, Listen: []string{"127.0.0.1:53"}, Upstreams: []string{"dns.google"}}, `upstream "dns.google"`, nil},
		{"bad domain", Config{Client: client, Listen: []string{"127.0.0.1:53"}, Domain: "a..b"}, "not a domain name", nil},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			s, err := New(tc.cfg)
			if tc.wantErr != "" {
				if err == nil || !strings.Contains(err.Error(), tc.wantErr) {
					t.Fatalf("error %v, want one saying %q", err, tc.wantErr)
				}
				return
			}
			if err != nil {
				t.Fatalf("New: %v", err)
			}
			if got := s.Upstreams(); !slices.Equal(got, tc.ups) {
				t.Errorf("upstreams %q, want %q", got, tc.ups)
			}
		})
	}
}

func TestMetrics(t *testing.T) {
	reg := prometheus.NewPedanticRegistry()
	s := runServer(t, Config{Client: fake.NewClientset(clusterObjects()...), Upstreams: []string{deadAddr(t)}, Registerer: reg, ForwardTimeout: 200 * time.Millisecond})
	ask := func(name string, qtype uint16) {
		req := new(mdns.Msg)
		req.SetQuestion(name, qtype)
		if _, _, err := (&mdns.Client{Timeout: 5 * time.Second}).Exchange(req, s.Addrs()[0]); err != nil {
			t.Fatalf("exchange %s: %v", name, err)
		}
	}
	for range 3 {
		ask("web.demo.svc.cluster.local.", mdns.TypeA)
	}
	ask("nope.demo.svc.cluster.local.", mdns.TypeA)
	ask("example.org.", mdns.TypeSRV)

	mfs, err := reg.Gather()
	if err != nil {
		t.Fatal(err)
	}
	got := map[string]float64{}
	for _, mf := range mfs {
		for _, m := range mf.GetMetric() {
			got[mf.GetName()+labels(m)] = m.GetCounter().GetValue() + float64(m.GetHistogram().GetSampleCount())
		}
	}
	want := map[string]float64{
		`sqlkube_dns_queries_total{rcode="NOERROR",type="A"}`:    3,
		`sqlkube_dns_queries_total{rcode="NXDOMAIN",type="A"}`:   1,
		`sqlkube_dns_queries_total{rcode="SERVFAIL",type="SRV"}`: 1,
		`sqlkube_dns_query_duration_seconds{source="cluster"}`:   4,
		`sqlkube_dns_query_duration_seconds{source="upstream"}`:  1,
	}
	for k, v := range want {
		if got[k] != v {
			t.Errorf("%s = %v, want %v (all: %v)", k, got[k], v, got)
		}
	}
}

func labels(m *dto.Metric) string {
	var l []string
	for _, p := range m.GetLabel() {
		l = append(l, fmt.Sprintf("%s=%q", p.GetName(), p.GetValue()))
	}
	return "{" + strings.Join(l, ",") + "}"
}

// TestBind: an address no interface holds can be bound only with FreeBind
// (the pod bridge's gateway before the bridge exists).
func TestBind(t *testing.T) {
	const absent = "192.0.2.53:0" // TEST-NET-1, on no interface
	tests := []struct {
		name     string
		listen   string
		freeBind bool
		wantErr  string
	}{
		{"loopback", "127.0.0.1:0", false, ""},
		{"absent address with FreeBind", absent, true, ""},
		{"absent address without", absent, false, "listen on udp " + absent},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			socks, err := bindAll(t.Context(), []string{tc.listen}, tc.freeBind)
			if tc.wantErr != "" {
				if err == nil || !strings.Contains(err.Error(), tc.wantErr) {
					t.Fatalf("error %v, want one saying %q", err, tc.wantErr)
				}
				return
			}
			if err != nil {
				t.Fatal(err)
			}
			sk := socks[0]
			defer sk.pc.Close()
			defer sk.ln.Close()
			if sk.pc.LocalAddr().String() != sk.ln.Addr().String() || strings.HasSuffix(sk.addr, ":0") {
				t.Errorf("udp %s and tcp %s differ, or no port chosen (%s)", sk.pc.LocalAddr(), sk.ln.Addr(), sk.addr)
			}
		})
	}
}

// TestGoResolver asks through Go's own stub resolver, as a program in a pod
// would: search-list expansion of a short name, SRV, PTR.
func TestGoResolver(t *testing.T) {
	up := startUpstream(t)
	s, _ := startServer(t, []string{up.addr}, clusterObjects()...)
	r := &net.Resolver{PreferGo: true, Dial: func(ctx context.Context, network, _ string) (net.Conn, error) {
		var d net.Dialer
		return d.DialContext(ctx, network, s.Addrs()[0])
	}}
	ctx := t.Context()
	tests := []struct {
		name string
		do   func() (string, error)
		want string
	}{
		{"service name", func() (string, error) {
			a, err := r.LookupHost(ctx, "web.demo.svc.cluster.local.")
			return strings.Join(a, " "), err
		}, "10.96.0.20"},
		{"headless service", func() (string, error) {
			a, err := r.LookupHost(ctx, "db.demo.svc.cluster.local.")
			slices.Sort(a)
			return strings.Join(a, " "), err
		}, "10.244.0.7 10.244.0.8 10.244.0.9"},
		{"SRV", func() (string, error) {
			cname, srvs, err := r.LookupSRV(ctx, "http", "tcp", "web.demo.svc.cluster.local.")
			if err != nil {
				return "", err
			}
			return fmt.Sprintf("%s %s:%d", cname, srvs[0].Target, srvs[0].Port), nil
		}, "_http._tcp.web.demo.svc.cluster.local. web.demo.svc.cluster.local.:80"},
		{"PTR", func() (string, error) {
			n, err := r.LookupAddr(ctx, "10.244.0.8")
			return strings.Join(n, " "), err
		}, "db-1.db.demo.svc.cluster.local."},
		{"ExternalName", func() (string, error) {
			a, err := r.LookupHost(ctx, "ext.demo.svc.cluster.local.")
			slices.Sort(a)
			return strings.Join(a, " "), err
		}, "2606:2800::1 93.184.216.34"},
		{"unknown name", func() (string, error) {
			_, err := r.LookupHost(ctx, "nope.demo.svc.cluster.local.")
			var de *net.DNSError
			if errors.As(err, &de) && de.IsNotFound {
				return "not found", nil
			}
			return "", err
		}, "not found"},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			got, err := tc.do()
			if err != nil {
				t.Fatal(err)
			}
			if got != tc.want {
				t.Errorf("got %q, want %q", got, tc.want)
			}
		})
	}
}
