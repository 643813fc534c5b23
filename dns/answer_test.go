package dns

import (
	"context"
	"fmt"
	"slices"
	"testing"

	mdns "github.com/miekg/dns"
	corev1 "k8s.io/api/core/v1"
	discoveryv1 "k8s.io/api/discovery/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/runtime"
)

// clusterObjects is the cluster the answer tests ask about.
func clusterObjects() []runtime.Object {
	tcp, udp := corev1.ProtocolTCP, corev1.ProtocolUDP
	return []runtime.Object{
		service("demo", "web", withPorts(clusterIP("10.96.0.20"),
			corev1.ServicePort{Name: "http", Protocol: tcp, Port: 80},
			corev1.ServicePort{Name: "dns", Protocol: udp, Port: 53})),
		slice("demo", "web-abc", "web", discoveryv1.AddressTypeIPv4,
			[]discoveryv1.EndpointPort{slicePort("http", tcp, 8080), slicePort("dns", udp, 5353)},
			ep{addr: "10.244.0.5", ready: true}, ep{addr: "10.244.0.6", ready: false}),

		service("demo", "db", withPorts(clusterIP("None"), corev1.ServicePort{Name: "pg", Protocol: tcp, Port: 5432})),
		slice("demo", "db-1", "db", discoveryv1.AddressTypeIPv4,
			[]discoveryv1.EndpointPort{slicePort("pg", tcp, 5432)},
			ep{addr: "10.244.0.7", hostname: "db-0", ready: true},
			ep{addr: "10.244.0.8", hostname: "db-1", ready: true},
			ep{addr: "10.244.0.10", hostname: "db-2", ready: false}),
		slice("demo", "db-2", "db", discoveryv1.AddressTypeIPv4,
			[]discoveryv1.EndpointPort{slicePort("pg", tcp, 5432)},
			ep{addr: "10.244.0.9", ready: true}),

		service("demo", "v6", withPorts(clusterIP("fd00::20"), corev1.ServicePort{Name: "http", Protocol: tcp, Port: 80})),
		service("demo", "empty", clusterIP("None")),
		service("demo", "ext", externalName("Example.org.")),
		service("demo", "alias", externalName("web.demo.svc.cluster.local")),
		service("other", "web", clusterIP("10.96.0.30")),
	}
}

func TestAnswers(t *testing.T) {
	up := startUpstream(t)
	s, _ := startServer(t, []string{up.addr}, clusterObjects()...)

	tests := []struct {
		name  string
		qname string
		qtype uint16
		want  []string
		soa   bool // the authority section holds the zone's SOA
	}{
		{"ClusterIP A", "web.demo.svc.cluster.local.", mdns.TypeA,
			[]string{"NOERROR", "web.demo.svc.cluster.local. A 10.96.0.20"}, false},
		{"case-insensitive, owner keeps the client's spelling", "WEB.Demo.SVC.cluster.LOCAL.", mdns.TypeA,
			[]string{"NOERROR", "WEB.Demo.SVC.cluster.LOCAL. A 10.96.0.20"}, false},
		{"question without the trailing dot", "web.demo.svc.cluster.local", mdns.TypeA,
			[]string{"NOERROR", "web.demo.svc.cluster.local. A 10.96.0.20"}, false},
		{"same name in another namespace", "web.other.svc.cluster.local.", mdns.TypeA,
			[]string{"NOERROR", "web.other.svc.cluster.local. A 10.96.0.30"}, false},
		{"ClusterIP AAAA: NODATA", "web.demo.svc.cluster.local.", mdns.TypeAAAA,
			[]string{"NOERROR"}, true},
		{"ClusterIP TXT: NODATA", "web.demo.svc.cluster.local.", mdns.TypeTXT,
			[]string{"NOERROR"}, true},
		{"IPv6 ClusterIP AAAA", "v6.demo.svc.cluster.local.", mdns.TypeAAAA,
			[]string{"NOERROR", "v6.demo.svc.cluster.local. AAAA fd00::20"}, false},
		{"IPv6 ClusterIP A: NODATA", "v6.demo.svc.cluster.local.", mdns.TypeA,
			[]string{"NOERROR"}, true},
		{"headless: ready endpoints only", "db.demo.svc.cluster.local.", mdns.TypeA,
			[]string{"NOERROR", "db.demo.svc.cluster.local. A 10.244.0.7", "db.demo.svc.cluster.local. A 10.244.0.8", "db.demo.svc.cluster.local. A 10.244.0.9"}, false},
		{"headless without endpoints: NXDOMAIN", "empty.demo.svc.cluster.local.", mdns.TypeA,
			[]string{"NXDOMAIN"}, true},
		{"StatefulSet pod by hostname", "db-1.db.demo.svc.cluster.local.", mdns.TypeA,
			[]string{"NOERROR", "db-1.db.demo.svc.cluster.local. A 10.244.0.8"}, false},
		{"unready pod by hostname: NXDOMAIN", "db-2.db.demo.svc.cluster.local.", mdns.TypeA,
			[]string{"NXDOMAIN"}, true},
		{"endpoint without hostname, by dashed address", "10-244-0-9.db.demo.svc.cluster.local.", mdns.TypeA,
			[]string{"NOERROR", "10-244-0-9.db.demo.svc.cluster.local. A 10.244.0.9"}, false},
		{"endpoint of a ClusterIP service, by dashed address", "10-244-0-5.web.demo.svc.cluster.local.", mdns.TypeA,
			[]string{"NOERROR", "10-244-0-5.web.demo.svc.cluster.local. A 10.244.0.5"}, false},
		{"endpoint name, AAAA: NODATA", "db-1.db.demo.svc.cluster.local.", mdns.TypeAAAA,
			[]string{"NOERROR"}, true},
		{"SRV for a named port of a ClusterIP service", "_http._tcp.web.demo.svc.cluster.local.", mdns.TypeSRV,
			[]string{"NOERROR", "_http._tcp.web.demo.svc.cluster.local. SRV 0 100 80 web.demo.svc.cluster.local."}, false},
		{"SRV, UDP port", "_dns._udp.web.demo.svc.cluster.local.", mdns.TypeSRV,
			[]string{"NOERROR", "_dns._udp.web.demo.svc.cluster.local. SRV 0 100 53 web.demo.svc.cluster.local."}, false},
		{"SRV, wrong protocol: NXDOMAIN", "_http._udp.web.demo.svc.cluster.local.", mdns.TypeSRV,
			[]string{"NXDOMAIN"}, true},
		{"SRV, unknown port: NXDOMAIN", "_nope._tcp.web.demo.svc.cluster.local.", mdns.TypeSRV,
			[]string{"NXDOMAIN"}, true},
		{"SRV name asked A: NODATA", "_http._tcp.web.demo.svc.cluster.local.", mdns.TypeA,
			[]string{"NOERROR"}, true},
		{"SRV of a headless service: one per endpoint", "_pg._tcp.db.demo.svc.cluster.local.", mdns.TypeSRV,
			[]string{"NOERROR",
				"_pg._tcp.db.demo.svc.cluster.local. SRV 0 33 5432 10-244-0-9.db.demo.svc.cluster.local.",
				"_pg._tcp.db.demo.svc.cluster.local. SRV 0 33 5432 db-0.db.demo.svc.cluster.local.",
				"_pg._tcp.db.demo.svc.cluster.local. SRV 0 33 5432 db-1.db.demo.svc.cluster.local."}, false},
		{"SRV on the service name: every port", "web.demo.svc.cluster.local.", mdns.TypeSRV,
			[]string{"NOERROR",
				"web.demo.svc.cluster.local. SRV 0 50 80 web.demo.svc.cluster.local.",
				"web.demo.svc.cluster.local. SRV 0 50 53 web.demo.svc.cluster.local."}, false},
		{"_tcp under a service: empty non-terminal", "_tcp.web.demo.svc.cluster.local.", mdns.TypeA,
			[]string{"NOERROR"}, true},
		{"ExternalName asked CNAME", "ext.demo.svc.cluster.local.", mdns.TypeCNAME,
			[]string{"NOERROR", "ext.demo.svc.cluster.local. CNAME example.org."}, false},
		{"ExternalName asked A: CNAME and the upstream's address", "ext.demo.svc.cluster.local.", mdns.TypeA,
			[]string{"NOERROR", "ext.demo.svc.cluster.local. CNAME example.org.", "example.org. A 93.184.216.34"}, false},
		{"ExternalName to a cluster name, resolved inside", "alias.demo.svc.cluster.local.", mdns.TypeA,
			[]string{"NOERROR", "alias.demo.svc.cluster.local. CNAME web.demo.svc.cluster.local.", "web.demo.svc.cluster.local. A 10.96.0.20"}, false},
		{"ExternalName has no endpoint names", "x.ext.demo.svc.cluster.local.", mdns.TypeA,
			[]string{"NXDOMAIN"}, true},
		{"unknown service: NXDOMAIN", "nope.demo.svc.cluster.local.", mdns.TypeA,
			[]string{"NXDOMAIN"}, true},
		{"unknown service asked TXT: NXDOMAIN too", "nope.demo.svc.cluster.local.", mdns.TypeTXT,
			[]string{"NXDOMAIN"}, true},
		{"search-list expansion of an outside name: NXDOMAIN", "example.org.demo.svc.cluster.local.", mdns.TypeA,
			[]string{"NXDOMAIN"}, true},
		{"namespace with services: NODATA", "demo.svc.cluster.local.", mdns.TypeA,
			[]string{"NOERROR"}, true},
		{"namespace without services: NXDOMAIN", "empty-ns.svc.cluster.local.", mdns.TypeA,
			[]string{"NXDOMAIN"}, true},
		{"svc.cluster.local: NODATA", "svc.cluster.local.", mdns.TypeA,
			[]string{"NOERROR"}, true},
		{"other names in the zone: NXDOMAIN", "foo.cluster.local.", mdns.TypeA,
			[]string{"NXDOMAIN"}, true},
		{"zone apex SOA", "cluster.local.", mdns.TypeSOA,
			[]string{"NOERROR", "cluster.local. SOA ns.dns.cluster.local. hostmaster.cluster.local. " + fmt.Sprint(s.index.serial.Load()) + " 7200 1800 86400 5"}, false},
		{"pod name, insecure mode", "10-244-3-4.demo.pod.cluster.local.", mdns.TypeA,
			[]string{"NOERROR", "10-244-3-4.demo.pod.cluster.local. A 10.244.3.4"}, false},
		{"pod name, not an address", "foo.demo.pod.cluster.local.", mdns.TypeA,
			[]string{"NXDOMAIN"}, true},
		{"schema version", "dns-version.cluster.local.", mdns.TypeTXT,
			[]string{"NOERROR", "dns-version.cluster.local. TXT \"1.1.0\""}, false},
		{"PTR of a ClusterIP", "20.0.96.10.in-addr.arpa.", mdns.TypePTR,
			[]string{"NOERROR", "20.0.96.10.in-addr.arpa. PTR web.demo.svc.cluster.local."}, false},
		{"PTR of an endpoint with a hostname", "8.0.244.10.in-addr.arpa.", mdns.TypePTR,
			[]string{"NOERROR", "8.0.244.10.in-addr.arpa. PTR db-1.db.demo.svc.cluster.local."}, false},
		{"PTR of an endpoint without one", "5.0.244.10.in-addr.arpa.", mdns.TypePTR,
			[]string{"NOERROR", "5.0.244.10.in-addr.arpa. PTR 10-244-0-5.web.demo.svc.cluster.local."}, false},
		{"PTR of an IPv6 ClusterIP", mustReverse(t, "fd00::20"), mdns.TypePTR,
			[]string{"NOERROR", mustReverse(t, "fd00::20") + " PTR v6.demo.svc.cluster.local."}, false},
		{"PTR of an unready endpoint: forwarded", "6.0.244.10.in-addr.arpa.", mdns.TypePTR,
			[]string{"NXDOMAIN"}, false},
		{"outside name: forwarded", "example.org.", mdns.TypeA,
			[]string{"NOERROR", "example.org. A 93.184.216.34"}, false},
		{"outside name the upstream does not know", "nope.example.", mdns.TypeA,
			[]string{"NXDOMAIN"}, false},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			resp := query(s, tc.qname, tc.qtype)
			if got := summary(resp); !slices.Equal(got, tc.want) {
				t.Errorf("%s %s:\n got %q\nwant %q", tc.qname, mdns.TypeToString[tc.qtype], got, tc.want)
			}
			hasSOA := len(resp.Ns) == 1 && resp.Ns[0].Header().Rrtype == mdns.TypeSOA
			if hasSOA != tc.soa {
				t.Errorf("SOA in authority: got %v, want %v (%v)", hasSOA, tc.soa, resp.Ns)
			}
			for _, rr := range resp.Answer {
				if rr.Header().Rrtype != mdns.TypeA || rr.Header().Name == "example.org." {
					continue
				}
				if rr.Header().Ttl != ttl {
					t.Errorf("TTL of %v: got %d, want %d", rr, rr.Header().Ttl, ttl)
				}
			}
		})
	}
}

func mustReverse(t *testing.T, ip string) string {
	r, err := mdns.ReverseAddr(ip)
	if err != nil {
		t.Fatal(err)
	}
	return r
}

func TestSRVAdditional(t *testing.T) {
	s, _ := startServer(t, nil, clusterObjects()...)
	resp := query(s, "_pg._tcp.db.demo.svc.cluster.local.", mdns.TypeSRV)
	var got []string
	for _, rr := range resp.Extra {
		got = append(got, rrText(rr))
	}
	want := []string{
		"10-244-0-9.db.demo.svc.cluster.local. A 10.244.0.9",
		"db-0.db.demo.svc.cluster.local. A 10.244.0.7",
		"db-1.db.demo.svc.cluster.local. A 10.244.0.8",
	}
	if !slices.Equal(got, want) {
		t.Errorf("additional section:\n got %q\nwant %q", got, want)
	}
}

// TestUpdates follows endpoints becoming ready and unready, and Services
// and slices coming and going, through the informers.
func TestUpdates(t *testing.T) {
	s, client := startServer(t, nil, clusterObjects()...)
	ctx := context.Background()
	tcp := corev1.ProtocolTCP
	expect := func(qname string, qtype uint16, want ...string) {
		t.Helper()
		eventually(t, qname, func() error {
			if got := summary(query(s, qname, qtype)); !slices.Equal(got, want) {
				return fmt.Errorf("answer %q, want %q", got, want)
			}
			return nil
		})
	}
	steps := []struct {
		name   string
		change func() error
		qname  string
		qtype  uint16
		want   []string
	}{
		{"an endpoint becomes ready", func() error {
			_, err := client.DiscoveryV1().EndpointSlices("demo").Update(ctx, slice("demo", "db-1", "db", discoveryv1.AddressTypeIPv4,
				[]discoveryv1.EndpointPort{slicePort("pg", tcp, 5432)},
				ep{addr: "10.244.0.7", hostname: "db-0", ready: true},
				ep{addr: "10.244.0.8", hostname: "db-1", ready: true},
				ep{addr: "10.244.0.10", hostname: "db-2", ready: true}), metav1.UpdateOptions{})
			return err
		}, "db-2.db.demo.svc.cluster.local.", mdns.TypeA, []string{"NOERROR", "db-2.db.demo.svc.cluster.local. A 10.244.0.10"}},
		{"endpoints become unready", func() error {
			_, err := client.DiscoveryV1().EndpointSlices("demo").Update(ctx, slice("demo", "db-1", "db", discoveryv1.AddressTypeIPv4,
				[]discoveryv1.EndpointPort{slicePort("pg", tcp, 5432)},
				ep{addr: "10.244.0.7", hostname: "db-0", ready: false},
				ep{addr: "10.244.0.8", hostname: "db-1", ready: true},
				ep{addr: "10.244.0.10", hostname: "db-2", ready: false}), metav1.UpdateOptions{})
			return err
		}, "db.demo.svc.cluster.local.", mdns.TypeA, []string{"NOERROR", "db.demo.svc.cluster.local. A 10.244.0.8", "db.demo.svc.cluster.local. A 10.244.0.9"}},
		{"the unready endpoint's PTR goes upstream", nil,
			"7.0.244.10.in-addr.arpa.", mdns.TypePTR, []string{"SERVFAIL"}},
		{"a slice is deleted", func() error {
			return client.DiscoveryV1().EndpointSlices("demo").Delete(ctx, "db-2", metav1.DeleteOptions{})
		}, "db.demo.svc.cluster.local.", mdns.TypeA, []string{"NOERROR", "db.demo.svc.cluster.local. A 10.244.0.8"}},
		{"a service is created", func() error {
			_, err := client.CoreV1().Services("demo").Create(ctx, service("demo", "new", clusterIP("10.96.0.40")), metav1.CreateOptions{})
			return err
		}, "new.demo.svc.cluster.local.", mdns.TypeA, []string{"NOERROR", "new.demo.svc.cluster.local. A 10.96.0.40"}},
		{"its ClusterIP has a PTR", nil,
			"40.0.96.10.in-addr.arpa.", mdns.TypePTR, []string{"NOERROR", "40.0.96.10.in-addr.arpa. PTR new.demo.svc.cluster.local."}},
		{"a service is deleted", func() error {
			return client.CoreV1().Services("demo").Delete(ctx, "web", metav1.DeleteOptions{})
		}, "web.demo.svc.cluster.local.", mdns.TypeA, []string{"NXDOMAIN"}},
		{"its PTR goes too", nil,
			"20.0.96.10.in-addr.arpa.", mdns.TypePTR, []string{"SERVFAIL"}},
		{"the last services of a namespace go", func() error {
			return client.CoreV1().Services("other").Delete(ctx, "web", metav1.DeleteOptions{})
		}, "other.svc.cluster.local.", mdns.TypeA, []string{"NXDOMAIN"}},
		{"a slice moves to another service", func() error {
			_, err := client.DiscoveryV1().EndpointSlices("demo").Update(ctx, slice("demo", "db-1", "new", discoveryv1.AddressTypeIPv4,
				[]discoveryv1.EndpointPort{slicePort("pg", tcp, 5432)},
				ep{addr: "10.244.0.8", hostname: "db-1", ready: true}), metav1.UpdateOptions{})
			return err
		}, "db.demo.svc.cluster.local.", mdns.TypeA, []string{"NXDOMAIN"}},
	}
	for _, st := range steps {
		t.Run(st.name, func(t *testing.T) {
			if st.change != nil {
				if err := st.change(); err != nil {
					t.Fatalf("change: %v", err)
				}
			}
			expect(st.qname, st.qtype, st.want...)
		})
	}
}
