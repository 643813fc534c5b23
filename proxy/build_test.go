package proxy

import (
	"bytes"
	"flag"
	"log/slog"
	"net/netip"
	"os"
	"path/filepath"
	"strings"
	"testing"

	v1 "k8s.io/api/core/v1"
	discoveryv1 "k8s.io/api/discovery/v1"
	"k8s.io/utils/ptr"
)

var update = flag.Bool("update", false, "rewrite the golden files under testdata")

func testBuildConfig(log *slog.Logger) BuildConfig {
	return BuildConfig{
		NodeName:    "node-a",
		ClusterCIDR: netip.MustParsePrefix("10.244.0.0/16"),
		PodCIDR:     netip.MustParsePrefix("10.244.0.0/24"),
		Logger:      log,
	}
}

func TestBuildGolden(t *testing.T) {
	http := map[string]int32{"http": 8080}
	two := ipv4(http, ep{ip: "10.244.0.5", node: "node-a"}, ep{ip: "10.244.1.7", node: "node-b"}, ep{ip: "10.244.0.9", node: "node-a", notReady: true})
	tests := []struct {
		name    string
		svcs    []*v1.Service
		slices  []*discoveryv1.EndpointSlice
		wantLog string // a substring the log must hold, if any
	}{
		{name: "empty"},
		{
			name:   "clusterip",
			svcs:   []*v1.Service{service("demo", "web", "10.96.0.20", []v1.ServicePort{tcpPort("http", 80)})},
			slices: []*discoveryv1.EndpointSlice{two("demo", "web", "web-1")},
		},
		{
			name:   "nodeport",
			svcs:   []*v1.Service{service("demo", "web", "10.96.0.20", []v1.ServicePort{nodePort("http", 80, 30080)}, withType(v1.ServiceTypeNodePort))},
			slices: []*discoveryv1.EndpointSlice{two("demo", "web", "web-1")},
		},
		{
			name:   "affinity",
			svcs:   []*v1.Service{service("demo", "sticky", "10.96.0.21", []v1.ServicePort{tcpPort("", 80)}, withAffinity(60))},
			slices: []*discoveryv1.EndpointSlice{ipv4(map[string]int32{"": 8080}, ep{ip: "10.244.0.5", node: "node-a"}, ep{ip: "10.244.0.6", node: "node-a"})("demo", "sticky", "sticky-1")},
		},
		{
			name: "no-endpoints",
			svcs: []*v1.Service{
				service("demo", "empty", "10.96.0.22", []v1.ServicePort{nodePort("http", 80, 30081)}, withType(v1.ServiceTypeNodePort)),
				service("demo", "notready", "10.96.0.23", []v1.ServicePort{tcpPort("http", 80)}),
			},
			slices: []*discoveryv1.EndpointSlice{ipv4(http, ep{ip: "10.244.0.5", node: "node-a", notReady: true})("demo", "notready", "notready-1")},
		},
		{
			name: "local-policies",
			svcs: []*v1.Service{
				service("demo", "itp", "10.96.0.30", []v1.ServicePort{tcpPort("http", 80)}, func(s *v1.Service) {
					s.Spec.InternalTrafficPolicy = ptr.To(v1.ServiceInternalTrafficPolicyLocal)
				}),
				service("demo", "itp-none", "10.96.0.31", []v1.ServicePort{tcpPort("http", 80)}, func(s *v1.Service) {
					s.Spec.InternalTrafficPolicy = ptr.To(v1.ServiceInternalTrafficPolicyLocal)
				}),
				service("demo", "etp", "10.96.0.32", []v1.ServicePort{nodePort("http", 80, 30082)}, withType(v1.ServiceTypeNodePort), func(s *v1.Service) {
					s.Spec.ExternalTrafficPolicy = v1.ServiceExternalTrafficPolicyLocal
				}),
				service("demo", "close", "10.96.0.33", []v1.ServicePort{tcpPort("http", 80)}, func(s *v1.Service) {
					s.Spec.TrafficDistribution = ptr.To(v1.ServiceTrafficDistributionPreferClose)
				}),
				service("demo", "close-remote", "10.96.0.34", []v1.ServicePort{tcpPort("http", 80)}, func(s *v1.Service) {
					s.Spec.TrafficDistribution = ptr.To(v1.ServiceTrafficDistributionPreferClose)
				}),
			},
			slices: []*discoveryv1.EndpointSlice{
				two("demo", "itp", "itp-1"),
				ipv4(http, ep{ip: "10.244.1.7", node: "node-b"})("demo", "itp-none", "itp-none-1"),
				two("demo", "etp", "etp-1"),
				two("demo", "close", "close-1"),
				ipv4(http, ep{ip: "10.244.1.7", node: "node-b"}, ep{ip: "10.244.2.7", node: "node-c"})("demo", "close-remote", "close-remote-1"),
			},
		},
		{
			name: "named-ports",
			svcs: []*v1.Service{service("demo", "multi", "10.96.0.40", []v1.ServicePort{tcpPort("http", 80), tcpPort("metrics", 9090)})},
			slices: []*discoveryv1.EndpointSlice{
				// Two slices: a rollout where the new pods serve another target port.
				ipv4(map[string]int32{"http": 8080, "metrics": 9100}, ep{ip: "10.244.0.5", node: "node-a"})("demo", "multi", "multi-1"),
				ipv4(map[string]int32{"http": 8081, "metrics": 9101}, ep{ip: "10.244.0.6", node: "node-a"})("demo", "multi", "multi-2"),
			},
		},
		{
			name: "externalname-ignored",
			svcs: []*v1.Service{
				{Spec: v1.ServiceSpec{Type: v1.ServiceTypeExternalName, ExternalName: "example.com"}},
				service("demo", "headless", v1.ClusterIPNone, []v1.ServicePort{tcpPort("http", 80)}),
			},
		},
		{
			name:    "missing-port-name",
			svcs:    []*v1.Service{service("demo", "web", "10.96.0.50", []v1.ServicePort{tcpPort("http", 80), tcpPort("grpc", 9000)})},
			slices:  []*discoveryv1.EndpointSlice{two("demo", "web", "web-1")},
			wantLog: `no EndpointSlice of the Service has a port with this name; port skipped" service=demo/web port=grpc`,
		},
		{
			name: "ipv6-ignored",
			svcs: []*v1.Service{
				service("demo", "web", "10.96.0.60", []v1.ServicePort{tcpPort("http", 80)}),
				service("demo", "v6", "fd00::60", []v1.ServicePort{tcpPort("http", 80)}),
			},
			slices: []*discoveryv1.EndpointSlice{
				two("demo", "web", "web-v4"),
				slice("demo", "web", "web-v6", discoveryv1.AddressTypeIPv6, http, ep{ip: "fd00:244::5", node: "node-a"}),
				slice("demo", "v6", "v6-1", discoveryv1.AddressTypeIPv6, http, ep{ip: "fd00:244::6", node: "node-a"}),
			},
		},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			var logs bytes.Buffer
			log := slog.New(slog.NewTextHandler(&logs, &slog.HandlerOptions{Level: slog.LevelDebug}))
			got := Build(testBuildConfig(log), tc.svcs, tc.slices).Render()
			path := filepath.Join("testdata", tc.name+".golden")
			if *update {
				if err := os.WriteFile(path, []byte(got), 0o644); err != nil {
					t.Fatal(err)
				}
			}
			want, err := os.ReadFile(path)
			if err != nil {
				t.Fatalf("read golden file (go test ./proxy -run TestBuildGolden -update writes it): %v", err)
			}
			if got != string(want) {
				t.Errorf("table differs from %s (rerun with -update and review the diff):\n%s", path, got)
			}
			if tc.wantLog != "" && !strings.Contains(logs.String(), tc.wantLog) {
				t.Errorf("log lacks %q:\n%s", tc.wantLog, logs.String())
			}
		})
	}
}

// TestBuildDoesNotDependOnInputOrder: the same state in another order gives
// the same table, so a resync with nothing changed is a no-op in effect.
func TestBuildDoesNotDependOnInputOrder(t *testing.T) {
	svcs, sl := bigState(20, 3)
	a := Build(testBuildConfig(nil), svcs, sl).Render()
	for i, j := 0, len(svcs)-1; i < j; i, j = i+1, j-1 {
		svcs[i], svcs[j] = svcs[j], svcs[i]
		sl[i], sl[j] = sl[j], sl[i]
	}
	if b := Build(testBuildConfig(nil), svcs, sl).Render(); a != b {
		t.Error("a different input order gives a different table")
	}
}
