package dns

import (
	"fmt"
	"strings"
	"testing"

	corev1 "k8s.io/api/core/v1"
)

func TestResolvConf(t *testing.T) {
	host := []byte("# generated\nnameserver 192.168.1.1\nnameserver 192.168.1.2\nsearch corp.example. lab.example\noptions edns0 timeout:2\n")
	cluster := []string{"10.96.0.10"}
	long := func(n int) string { return strings.Repeat("a", n) }
	manySearches := make([]string, 40)
	for i := range manySearches {
		manySearches[i] = fmt.Sprintf("d%02d.example", i)
	}
	tests := []struct {
		name        string
		clusterDNS  []string
		policy      corev1.DNSPolicy
		dnsConfig   *corev1.PodDNSConfig
		host        []byte
		hostNetwork bool
		want        string
		wantErr     string
	}{
		{name: "ClusterFirst", clusterDNS: cluster, policy: corev1.DNSClusterFirst, host: host,
			want: "search demo.svc.cluster.local svc.cluster.local cluster.local corp.example lab.example\nnameserver 10.96.0.10\noptions ndots:5\n"},
		{name: "empty policy is ClusterFirst", clusterDNS: cluster, host: host,
			want: "search demo.svc.cluster.local svc.cluster.local cluster.local corp.example lab.example\nnameserver 10.96.0.10\noptions ndots:5\n"},
		{name: "ClusterFirst on the host network is Default", clusterDNS: cluster, policy: corev1.DNSClusterFirst, host: host, hostNetwork: true,
			want: "search corp.example lab.example\nnameserver 192.168.1.1\nnameserver 192.168.1.2\noptions edns0 timeout:2\n"},
		{name: "ClusterFirstWithHostNet", clusterDNS: cluster, policy: corev1.DNSClusterFirstWithHostNet, host: host, hostNetwork: true,
			want: "search demo.svc.cluster.local svc.cluster.local cluster.local corp.example lab.example\nnameserver 10.96.0.10\noptions ndots:5\n"},
		{name: "ClusterFirst without cluster DNS falls back to Default", policy: corev1.DNSClusterFirst, host: host,
			want: "search corp.example lab.example\nnameserver 192.168.1.1\nnameserver 192.168.1.2\noptions edns0 timeout:2\n"},
		{name: "Default", clusterDNS: cluster, policy: corev1.DNSDefault, host: host,
			want: "search corp.example lab.example\nnameserver 192.168.1.1\nnameserver 192.168.1.2\noptions edns0 timeout:2\n"},
		{name: "Default without a host file: localhost", clusterDNS: cluster, policy: corev1.DNSDefault,
			want: "search .\nnameserver 127.0.0.1\n"},
		{name: "None takes dnsConfig only", clusterDNS: cluster, policy: corev1.DNSNone, host: host,
			dnsConfig: &corev1.PodDNSConfig{Nameservers: []string{"1.1.1.1"}, Searches: []string{"my.dns.search.suffix"}, Options: []corev1.PodDNSConfigOption{{Name: "ndots", Value: new("2")}, {Name: "edns0"}}},
			want:      "search my.dns.search.suffix\nnameserver 1.1.1.1\noptions ndots:2 edns0\n"},
		{name: "dnsConfig merged into ClusterFirst", clusterDNS: cluster, policy: corev1.DNSClusterFirst, host: host,
			dnsConfig: &corev1.PodDNSConfig{Nameservers: []string{"10.96.0.10", "8.8.8.8"}, Searches: []string{"svc.cluster.local", "extra.example"}, Options: []corev1.PodDNSConfigOption{{Name: "ndots", Value: new("1")}, {Name: "single-request-reopen"}}},
			want:      "search demo.svc.cluster.local svc.cluster.local cluster.local corp.example lab.example extra.example\nnameserver 10.96.0.10\nnameserver 8.8.8.8\noptions ndots:1 single-request-reopen\n"},
		{name: "at most 3 nameservers", clusterDNS: cluster, policy: corev1.DNSDefault, host: host,
			dnsConfig: &corev1.PodDNSConfig{Nameservers: []string{"8.8.8.8", "9.9.9.9"}},
			want:      "search corp.example lab.example\nnameserver 192.168.1.1\nnameserver 192.168.1.2\nnameserver 8.8.8.8\noptions edns0 timeout:2\n"},
		{name: "at most 32 search domains", clusterDNS: cluster, policy: corev1.DNSClusterFirst, host: []byte("nameserver 1.1.1.1\nsearch " + strings.Join(manySearches, " ") + "\n"),
			want: "search demo.svc.cluster.local svc.cluster.local cluster.local " + strings.Join(manySearches[:29], " ") + "\nnameserver 10.96.0.10\noptions ndots:5\n"},
		{name: "search line at most 2048 characters, overlong domains dropped", policy: corev1.DNSNone,
			dnsConfig: &corev1.PodDNSConfig{Searches: []string{long(254), long(250), long(251), long(252), long(253), long(249), long(248), long(247), long(246), long(200), "last.example"}},
			want:      "search " + strings.Join([]string{long(250), long(251), long(252), long(253), long(249), long(248), long(247), long(246)}, " ") + "\n"},
		{name: "later search line wins", policy: corev1.DNSDefault, host: []byte("search a.example\nnameserver 1.1.1.1\nsearch b.example\n"),
			want: "search b.example\nnameserver 1.1.1.1\n"},
		{name: "empty nameserver line", policy: corev1.DNSDefault, host: []byte("nameserver\n"), wantErr: "nameserver line without an address"},
		{name: "unknown policy", policy: "Sometimes", host: host, wantErr: `unknown dnsPolicy "Sometimes"`},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			got, err := ResolvConf(tc.clusterDNS, "demo", "cluster.local.", tc.policy, tc.dnsConfig, tc.host, tc.hostNetwork)
			if tc.wantErr != "" {
				if err == nil || !strings.Contains(err.Error(), tc.wantErr) {
					t.Fatalf("error %v, want one saying %q", err, tc.wantErr)
				}
				return
			}
			if err != nil {
				t.Fatal(err)
			}
			if string(got) != tc.want {
				t.Errorf("got\n%s\nwant\n%s", got, tc.want)
			}
		})
	}
}
