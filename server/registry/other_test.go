package registry

import (
	"slices"
	"testing"
	"time"

	coordinationv1 "k8s.io/api/coordination/v1"
	corev1 "k8s.io/api/core/v1"
	discoveryv1 "k8s.io/api/discovery/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
)

// otherResource returns the leases or endpointslices resource.
func otherResource(t *testing.T, plural string) *Resource {
	t.Helper()
	for _, r := range otherResources() {
		if r.Resource == plural {
			return r
		}
	}
	t.Fatalf("%s not found", plural)
	return nil
}

func TestLeaseValidate(t *testing.T) {
	tests := []struct {
		name string
		spec coordinationv1.LeaseSpec
		want []string
	}{
		{name: "leader election lease", spec: coordinationv1.LeaseSpec{
			HolderIdentity: new("controller-0"), LeaseDurationSeconds: new(int32(15)), LeaseTransitions: new(int32(0)),
		}, want: []string{}},
		{name: "empty spec", want: []string{}},
		{name: "zero duration", spec: coordinationv1.LeaseSpec{LeaseDurationSeconds: new(int32(0))},
			want: []string{"FieldValueInvalid spec.leaseDurationSeconds"}},
		{name: "negative transitions", spec: coordinationv1.LeaseSpec{LeaseTransitions: new(int32(-1))},
			want: []string{"FieldValueInvalid spec.leaseTransitions"}},
		{name: "preferred holder without strategy", spec: coordinationv1.LeaseSpec{PreferredHolder: new("b")},
			want: []string{"FieldValueForbidden spec.preferredHolder"}},
	}
	res := otherResource(t, "leases")
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			lease := &coordinationv1.Lease{ObjectMeta: metav1.ObjectMeta{Name: "kube-scheduler"}, Spec: tt.spec}
			if got := errorFields(res.Validate(lease)); !slices.Equal(got, tt.want) {
				t.Errorf("create errors = %q, want %q", got, tt.want)
			}
			if got := errorFields(res.ValidateUpdate(lease, lease.DeepCopy())); !slices.Equal(got, tt.want) {
				t.Errorf("update errors = %q, want %q", got, tt.want)
			}
		})
	}
}

func TestLeaseRow(t *testing.T) {
	created := metav1.NewTime(time.Now().Add(-90 * time.Second))
	tests := []struct {
		name string
		spec coordinationv1.LeaseSpec
		want []any
	}{
		{name: "held", spec: coordinationv1.LeaseSpec{HolderIdentity: new("node-1_7f3c")}, want: []any{"kube-scheduler", "node-1_7f3c", "90s"}},
		{name: "free", want: []any{"kube-scheduler", "", "90s"}},
	}
	res := otherResource(t, "leases")
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			lease := &coordinationv1.Lease{ObjectMeta: metav1.ObjectMeta{Name: "kube-scheduler", CreationTimestamp: created}, Spec: tt.spec}
			if got := res.Row(lease); !slices.Equal(got, tt.want) {
				t.Errorf("row = %#v, want %#v", got, tt.want)
			}
		})
	}
}

// webSlice is the slice the endpointslice controller writes for a service
// with one port and the given addresses.
func webSlice(addressType discoveryv1.AddressType, addresses ...string) *discoveryv1.EndpointSlice {
	s := &discoveryv1.EndpointSlice{
		ObjectMeta:  metav1.ObjectMeta{Name: "web-abc12"},
		AddressType: addressType,
		Ports:       []discoveryv1.EndpointPort{{Name: new("http"), Port: new(int32(80))}},
	}
	for _, a := range addresses {
		s.Endpoints = append(s.Endpoints, discoveryv1.Endpoint{Addresses: []string{a}})
	}
	return s
}

func TestEndpointSliceDefault(t *testing.T) {
	s := &discoveryv1.EndpointSlice{Ports: []discoveryv1.EndpointPort{{Port: new(int32(53))}, {Port: new(int32(53)), Protocol: new(corev1.ProtocolUDP)}}}
	otherResource(t, "endpointslices").Default(s)
	tests := []struct {
		name     string
		port     discoveryv1.EndpointPort
		protocol corev1.Protocol
	}{
		{"unset protocol becomes TCP", s.Ports[0], corev1.ProtocolTCP},
		{"UDP is kept", s.Ports[1], corev1.ProtocolUDP},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			if tt.port.Protocol == nil || *tt.port.Protocol != tt.protocol {
				t.Errorf("protocol = %v, want %s", tt.port.Protocol, tt.protocol)
			}
			if tt.port.Name == nil || *tt.port.Name != "" {
				t.Errorf("name = %v, want the empty name", tt.port.Name)
			}
		})
	}
}

func TestEndpointSliceValidate(t *testing.T) {
	tests := []struct {
		name  string
		slice *discoveryv1.EndpointSlice
		want  []string
	}{
		{name: "IPv4 slice", slice: webSlice(discoveryv1.AddressTypeIPv4, "10.244.0.5", "10.244.1.7"), want: []string{}},
		{name: "IPv6 slice", slice: webSlice(discoveryv1.AddressTypeIPv6, "fd00::5"), want: []string{}},
		{name: "FQDN slice", slice: webSlice(discoveryv1.AddressTypeFQDN, "db.example.com"), want: []string{}},
		{name: "unknown address type", slice: webSlice("IP", "10.0.0.1"), want: []string{"FieldValueNotSupported addressType"}},
		{name: "missing address type", slice: webSlice("", "10.0.0.1"), want: []string{"FieldValueRequired addressType"}},
		{name: "endpoint without addresses", slice: func() *discoveryv1.EndpointSlice {
			s := webSlice(discoveryv1.AddressTypeIPv4)
			s.Endpoints = []discoveryv1.Endpoint{{Hostname: new("web-0")}}
			return s
		}(), want: []string{"FieldValueRequired endpoints[0].addresses"}},
		{name: "IPv6 address in an IPv4 slice", slice: webSlice(discoveryv1.AddressTypeIPv4, "fd00::5"),
			want: []string{"FieldValueInvalid endpoints[0].addresses[0]"}},
		{name: "not an address", slice: webSlice(discoveryv1.AddressTypeIPv4, "10.0.0.300"),
			want: []string{"FieldValueInvalid endpoints[0].addresses[0]"}},
		{name: "duplicate port names", slice: func() *discoveryv1.EndpointSlice {
			s := webSlice(discoveryv1.AddressTypeIPv4, "10.0.0.1")
			s.Ports = append(s.Ports, discoveryv1.EndpointPort{Name: new("http"), Port: new(int32(8080))})
			return s
		}(), want: []string{"FieldValueDuplicate ports[1].name"}},
	}
	res := otherResource(t, "endpointslices")
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			res.Default(tt.slice)
			if got := errorFields(res.Validate(tt.slice)); !slices.Equal(got, tt.want) {
				t.Errorf("errors = %q, want %q", got, tt.want)
			}
		})
	}

	t.Run("address type is immutable", func(t *testing.T) {
		old := webSlice(discoveryv1.AddressTypeIPv4, "10.0.0.1")
		res.Default(old)
		s := webSlice(discoveryv1.AddressTypeIPv6, "fd00::1")
		res.Default(s)
		want := []string{"FieldValueInvalid addressType"}
		if got := errorFields(res.ValidateUpdate(s, old)); !slices.Equal(got, want) {
			t.Errorf("errors = %q, want %q", got, want)
		}
	})
}

func TestEndpointSliceRow(t *testing.T) {
	created := metav1.NewTime(time.Now().Add(-3 * time.Hour))
	tests := []struct {
		name  string
		slice *discoveryv1.EndpointSlice
		want  []any
	}{
		{
			name:  "one port, two endpoints",
			slice: webSlice(discoveryv1.AddressTypeIPv4, "10.244.0.5", "10.244.1.7"),
			want:  []any{"web-abc12", "IPv4", "80", "10.244.0.5,10.244.1.7", "3h"},
		},
		{
			name: "more than three endpoints and ports",
			slice: func() *discoveryv1.EndpointSlice {
				s := webSlice(discoveryv1.AddressTypeIPv4, "10.0.0.1", "10.0.0.2", "10.0.0.3", "10.0.0.4", "10.0.0.5")
				s.Ports = append(s.Ports, discoveryv1.EndpointPort{Port: new(int32(443))}, discoveryv1.EndpointPort{Name: new("metrics")},
					discoveryv1.EndpointPort{Port: new(int32(9090))})
				return s
			}(),
			want: []any{"web-abc12", "IPv4", "80,443,metrics + 1 more...", "10.0.0.1,10.0.0.2,10.0.0.3 + 2 more...", "3h"},
		},
		{
			name:  "no ports, no endpoints",
			slice: &discoveryv1.EndpointSlice{ObjectMeta: metav1.ObjectMeta{Name: "web-abc12"}, AddressType: discoveryv1.AddressTypeIPv4},
			want:  []any{"web-abc12", "IPv4", "<unset>", "<unset>", "3h"},
		},
	}
	res := otherResource(t, "endpointslices")
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			tt.slice.CreationTimestamp = created
			if got := res.Row(tt.slice); !slices.Equal(got, tt.want) {
				t.Errorf("row = %#v, want %#v", got, tt.want)
			}
		})
	}
}
