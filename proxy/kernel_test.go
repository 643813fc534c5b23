package proxy

import (
	"os"
	"os/exec"
	"strings"
	"testing"

	"github.com/google/nftables"
	v1 "k8s.io/api/core/v1"
	discoveryv1 "k8s.io/api/discovery/v1"

	"github.com/sqlkube/sqlkube/internal/testenv"
)

// requireNft skips (fails under CI) when the kernel tests cannot run: they
// need root (in the isolated namespace) and nft to inspect the result.
func requireNft(t testing.TB) {
	t.Helper()
	if os.Geteuid() != 0 {
		testenv.Missing(t, "root (for nftables in a network namespace of the tests' own)")
	}
	if _, err := exec.LookPath("nft"); err != nil {
		testenv.Missing(t, "nft (nftables)")
	}
}

func nftList(t *testing.T) string {
	t.Helper()
	out, err := exec.Command("nft", "list", "table", "ip", TableName).CombinedOutput()
	if err != nil {
		t.Fatalf("nft list table ip %s: %v\n%s", TableName, err, out)
	}
	return string(out)
}

func newConn(t testing.TB) *nftables.Conn {
	t.Helper()
	c, err := newNftConn()
	if err != nil {
		t.Fatalf("nftables: %v", err)
	}
	return c
}

func TestApplyKernel(t *testing.T) {
	requireNft(t)
	http := map[string]int32{"http": 8080}
	svcs := []*v1.Service{
		service("demo", "web", "10.96.0.20", []v1.ServicePort{nodePort("http", 80, 30080)}, withType(v1.ServiceTypeNodePort)),
		service("demo", "sticky", "10.96.0.21", []v1.ServicePort{tcpPort("http", 80)}, withAffinity(30)),
		service("demo", "empty", "10.96.0.22", []v1.ServicePort{nodePort("http", 80, 30081)}, withType(v1.ServiceTypeNodePort)),
	}
	sl := []*discoveryv1.EndpointSlice{
		ipv4(http, ep{ip: "10.244.0.5", node: "node-a"}, ep{ip: "10.244.1.7", node: "node-b"})("demo", "web", "web-1"),
		ipv4(http, ep{ip: "10.244.0.5", node: "node-a"})("demo", "sticky", "sticky-1"),
	}
	steps := []struct {
		name    string
		svcs    []*v1.Service
		want    []string
		notWant []string
	}{
		{
			name: "first apply creates the table",
			svcs: svcs,
			want: []string{
				"10.96.0.20 . tcp . 80 : goto service-",
				"tcp . 30080 : goto external-",
				"10.96.0.22 . tcp . 80 : goto reject-chain",
				"tcp . 30081 : goto reject-chain",
				"dnat to 10.244.0.5:8080",
				"dnat to 10.244.1.7:8080",
				"numgen random mod 2 vmap { 0 : goto endpoint-",
				"update @affinity-",
				"type nat hook prerouting priority dstnat; policy accept;",
				"reject with tcp reset",
				"masquerade fully-random",
				"fib daddr type local",
				"ct state new",
			},
		},
		{
			name:    "a second apply replaces it",
			svcs:    svcs[:1],
			want:    []string{"10.96.0.20 . tcp . 80 : goto service-"},
			notWant: []string{"10.96.0.21", "10.96.0.22", "affinity"},
		},
	}
	conn := newConn(t)
	for _, s := range steps {
		t.Run(s.name, func(t *testing.T) {
			if err := apply(conn, Build(testBuildConfig(nil), s.svcs, sl)); err != nil {
				t.Fatal(err)
			}
			got := nftList(t)
			for _, w := range s.want {
				if !strings.Contains(got, w) {
					t.Errorf("nft list lacks %q:\n%s", w, got)
				}
			}
			for _, w := range s.notWant {
				if strings.Contains(got, w) {
					t.Errorf("nft list still has %q:\n%s", w, got)
				}
			}
		})
	}
}
