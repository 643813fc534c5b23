package dns

import (
	"fmt"
	"slices"
	"testing"
	"time"

	mdns "github.com/miekg/dns"
	corev1 "k8s.io/api/core/v1"
	discoveryv1 "k8s.io/api/discovery/v1"
	"k8s.io/apimachinery/pkg/runtime"
)

// BenchmarkQueryService asks a server holding 1,000 Services with 10
// endpoints each for a Service name over UDP on 127.0.0.1, one query at a
// time, and reports the latency's median and 99th percentile.
func BenchmarkQueryService(b *testing.B) {
	const services = 1000
	var objs []runtime.Object
	port := []discoveryv1.EndpointPort{slicePort("http", corev1.ProtocolTCP, 8080)}
	for i := range services {
		name := fmt.Sprintf("svc-%d", i)
		objs = append(objs, service("bench", name, clusterIP(fmt.Sprintf("10.96.%d.%d", i/250, i%250+1))))
		var eps []ep
		for j := range 10 {
			eps = append(eps, ep{addr: fmt.Sprintf("10.244.%d.%d", i/25, (i%25)*10+j+1), ready: true})
		}
		objs = append(objs, slice("bench", name+"-x", name, discoveryv1.AddressTypeIPv4, port, eps...))
	}
	s, _ := startServer(b, nil, objs...)
	co, err := mdns.Dial("udp", s.Addrs()[0])
	if err != nil {
		b.Fatal(err)
	}
	defer co.Close()
	req := new(mdns.Msg)
	req.SetQuestion("svc-500.bench.svc.cluster.local.", mdns.TypeA)
	lat := make([]time.Duration, 0, b.N)
	b.ReportAllocs()
	b.ResetTimer()
	for b.Loop() {
		start := time.Now()
		if err := co.WriteMsg(req); err != nil {
			b.Fatal(err)
		}
		resp, err := co.ReadMsg()
		if err != nil {
			b.Fatal(err)
		}
		lat = append(lat, time.Since(start))
		if len(resp.Answer) != 1 {
			b.Fatalf("answer %v", resp.Answer)
		}
	}
	b.StopTimer()
	slices.Sort(lat)
	pct := func(p float64) float64 { return float64(lat[int(p*float64(len(lat)-1))].Microseconds()) }
	b.ReportMetric(pct(0.50), "p50-µs")
	b.ReportMetric(pct(0.99), "p99-µs")
}
