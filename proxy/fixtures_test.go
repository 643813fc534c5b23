package proxy

import (
	"net/netip"
	"strconv"

	v1 "k8s.io/api/core/v1"
	discoveryv1 "k8s.io/api/discovery/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/utils/ptr"
)

// svcOpt changes a Service built by service.
type svcOpt func(*v1.Service)

// service is a ClusterIP Service ns/name at ip with one TCP port per
// "name:port:targetPort" triple given as ports.
func service(ns, name, ip string, ports []v1.ServicePort, opts ...svcOpt) *v1.Service {
	s := &v1.Service{
		ObjectMeta: metav1.ObjectMeta{Namespace: ns, Name: name},
		Spec:       v1.ServiceSpec{Type: v1.ServiceTypeClusterIP, ClusterIP: ip, ClusterIPs: []string{ip}, Ports: ports},
	}
	for _, o := range opts {
		o(s)
	}
	return s
}

func tcpPort(name string, port int32) v1.ServicePort {
	return v1.ServicePort{Name: name, Port: port, Protocol: v1.ProtocolTCP}
}

func nodePort(name string, port, np int32) v1.ServicePort {
	return v1.ServicePort{Name: name, Port: port, NodePort: np, Protocol: v1.ProtocolTCP}
}

func withType(t v1.ServiceType) svcOpt { return func(s *v1.Service) { s.Spec.Type = t } }

func withAffinity(seconds int32) svcOpt {
	return func(s *v1.Service) {
		s.Spec.SessionAffinity = v1.ServiceAffinityClientIP
		s.Spec.SessionAffinityConfig = &v1.SessionAffinityConfig{ClientIP: &v1.ClientIPConfig{TimeoutSeconds: &seconds}}
	}
}

// ep is an endpoint "IP@node" (ready) for slice.
type ep struct {
	ip, node string
	notReady bool
}

// slice is an EndpointSlice of Service ns/svc with the given named ports
// ("name" -> port) and endpoints.
func slice(ns, svc, name string, family discoveryv1.AddressType, ports map[string]int32, eps ...ep) *discoveryv1.EndpointSlice {
	s := &discoveryv1.EndpointSlice{
		ObjectMeta:  metav1.ObjectMeta{Namespace: ns, Name: name, Labels: map[string]string{discoveryv1.LabelServiceName: svc}},
		AddressType: family,
	}
	for n, p := range ports {
		s.Ports = append(s.Ports, discoveryv1.EndpointPort{Name: ptr.To(n), Port: ptr.To(p), Protocol: ptr.To(v1.ProtocolTCP)})
	}
	for _, e := range eps {
		s.Endpoints = append(s.Endpoints, discoveryv1.Endpoint{
			Addresses:  []string{e.ip},
			Conditions: discoveryv1.EndpointConditions{Ready: ptr.To(!e.notReady)},
			NodeName:   ptr.To(e.node),
		})
	}
	return s
}

func ipv4(ports map[string]int32, eps ...ep) func(ns, svc, name string) *discoveryv1.EndpointSlice {
	return func(ns, svc, name string) *discoveryv1.EndpointSlice {
		return slice(ns, svc, name, discoveryv1.AddressTypeIPv4, ports, eps...)
	}
}

// bigState is n Services with m endpoints each, for benchmarks and the
// scale test.
func bigState(n, m int) ([]*v1.Service, []*discoveryv1.EndpointSlice) {
	var svcs []*v1.Service
	var sl []*discoveryv1.EndpointSlice
	base := netip.MustParseAddr("10.96.0.10")
	epBase := netip.MustParseAddr("10.244.0.2")
	for i := 0; i < n; i++ {
		name := "svc-" + strconv.Itoa(i)
		svcs = append(svcs, service("bench", name, base.String(), []v1.ServicePort{tcpPort("http", 80)}))
		base = base.Next()
		var eps []ep
		for j := 0; j < m; j++ {
			eps = append(eps, ep{ip: epBase.String(), node: "node-a"})
			epBase = epBase.Next()
		}
		sl = append(sl, slice("bench", name, name+"-abc", discoveryv1.AddressTypeIPv4, map[string]int32{"http": 8080}, eps...))
	}
	return svcs, sl
}
