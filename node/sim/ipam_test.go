package sim

import (
	"errors"
	"fmt"
	"net/netip"
	"strings"
	"testing"
	"time"

	"k8s.io/apimachinery/pkg/types"
)

func TestAssignNodeCIDRs(t *testing.T) {
	cluster := netip.MustParsePrefix("10.128.0.0/9")
	tests := []struct {
		name     string
		cluster  netip.Prefix
		mask     int
		names    []string
		existing map[string]string
		taken    []string
		want     map[string]string
		wantErr  string
	}{
		{
			name: "in order from the start", cluster: cluster, mask: 24, names: []string{"a", "b"},
			want: map[string]string{"a": "10.128.0.0/24", "b": "10.128.1.0/24"},
		},
		{
			name: "existing node keeps its range, taken ranges skipped", cluster: cluster, mask: 24, names: []string{"a", "b", "c"},
			existing: map[string]string{"b": "10.200.7.0/24"},
			taken:    []string{"10.200.7.0/24", "10.128.0.0/24", "10.128.2.0/24", "192.168.0.0/24", "bogus"},
			want:     map[string]string{"a": "10.128.1.0/24", "b": "10.200.7.0/24", "c": "10.128.3.0/24"},
		},
		{
			name: "crosses into the next /16", cluster: netip.MustParsePrefix("10.244.0.0/15"), mask: 24, names: []string{"x"},
			taken: func() []string {
				var out []string
				for i := range 256 {
					out = append(out, fmt.Sprintf("10.244.%d.0/24", i))
				}
				return out
			}(),
			want: map[string]string{"x": "10.245.0.0/24"},
		},
		{
			name: "other mask size", cluster: netip.MustParsePrefix("10.0.0.0/16"), mask: 26, names: []string{"a", "b"},
			want: map[string]string{"a": "10.0.0.0/26", "b": "10.0.0.64/26"},
		},
		{name: "range exhausted", cluster: netip.MustParsePrefix("10.0.0.0/23"), mask: 24, names: []string{"a", "b", "c"}, wantErr: "no free /24 range left for node c"},
		{name: "mask shorter than the cluster's", cluster: netip.MustParsePrefix("10.0.0.0/16"), mask: 8, wantErr: "mask size 8"},
		{name: "IPv6", cluster: netip.MustParsePrefix("fd00::/48"), mask: 64, wantErr: "only IPv4"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			got, err := assignNodeCIDRs(tt.cluster, tt.mask, tt.names, tt.existing, tt.taken)
			if tt.wantErr != "" {
				if err == nil || !strings.Contains(err.Error(), tt.wantErr) {
					t.Fatalf("err = %v, want one containing %q", err, tt.wantErr)
				}
				return
			}
			if err != nil {
				t.Fatal(err)
			}
			if len(got) != len(tt.want) {
				t.Fatalf("got %v, want %v", got, tt.want)
			}
			for name, want := range tt.want {
				if got[name].String() != want {
					t.Errorf("%s: %s, want %s", name, got[name], want)
				}
			}
		})
	}
}

func TestAssignNodeCIDRsScales(t *testing.T) {
	names := make([]string, 5000)
	for i := range names {
		names[i] = fmt.Sprintf("n-%d", i)
	}
	got, err := assignNodeCIDRs(DefaultPodCIDR, 24, names, nil, nil)
	if err != nil {
		t.Fatal(err)
	}
	seen := map[netip.Prefix]bool{}
	for _, p := range got {
		if seen[p] || !DefaultPodCIDR.Contains(p.Addr()) || netip.MustParsePrefix("10.96.0.0/16").Overlaps(p) {
			t.Fatalf("range %s repeated, outside the pod CIDR or in the service range", p)
		}
		seen[p] = true
	}
	if got["n-4999"].String() != "10.147.135.0/24" {
		t.Errorf("node 4999 got %s", got["n-4999"])
	}
}

func TestIPPool(t *testing.T) {
	p := newIPPool(netip.MustParsePrefix("10.128.5.0/29")) // .2 to .6 are handed out
	now := time.Unix(1000, 0)
	var ips []string
	for i := range 5 {
		r, err := p.allocate(types.UID(fmt.Sprint("pod-", i)), now)
		if err != nil {
			t.Fatal(err)
		}
		ips = append(ips, r.ip.String())
	}
	if want := "10.128.5.2 10.128.5.3 10.128.5.4 10.128.5.5 10.128.5.6"; strings.Join(ips, " ") != want {
		t.Errorf("allocated %v, want %s", ips, want)
	}
	if _, err := p.allocate("pod-5", now); !errors.Is(err, errNoIPs) {
		t.Errorf("allocate on a full range: err = %v, want errNoIPs", err)
	}
	// The same pod gets the same IP and start time again.
	if r, err := p.allocate("pod-1", now.Add(time.Hour)); err != nil || r.ip.String() != "10.128.5.3" || !r.started.Equal(now) {
		t.Errorf("allocate again = %v %v", r, err)
	}
	p.release("pod-1")
	p.release("pod-1") // twice is harmless
	r, err := p.allocate("pod-6", now)
	if err != nil || r.ip.String() != "10.128.5.3" {
		t.Errorf("after release: %v %v, want 10.128.5.3", r.ip, err)
	}
	if p.len() != 5 {
		t.Errorf("len = %d, want 5", p.len())
	}
}

func TestIPPoolRoundRobin(t *testing.T) {
	p := newIPPool(netip.MustParsePrefix("10.128.5.0/24"))
	a, _ := p.allocate("a", time.Time{})
	p.release("a")
	b, _ := p.allocate("b", time.Time{})
	if a.ip == b.ip {
		t.Errorf("a released IP %s was handed out again at once", a.ip)
	}
}

func TestIPPoolAdopt(t *testing.T) {
	p := newIPPool(netip.MustParsePrefix("10.128.5.0/24"))
	started := time.Unix(500, 0)
	if r := p.adopt("a", "10.128.5.7", started); r.ip.String() != "10.128.5.7" || !r.started.Equal(started) {
		t.Errorf("adopt = %+v", r)
	}
	// Not handed out again, and a second claim on it does not get it.
	if r := p.adopt("b", "10.128.5.7", started); r.ip.IsValid() {
		t.Errorf("adopt of a used IP got %s", r.ip)
	}
	for _, ip := range []string{"10.129.0.7", "10.128.5.0", "10.128.5.255", "", "x"} {
		if r := p.adopt(types.UID("out-"+ip), ip, started); r.ip.IsValid() {
			t.Errorf("adopt of %q got %s", ip, r.ip)
		}
	}
	for i := range 252 {
		r, err := p.allocate(types.UID(fmt.Sprint("fill-", i)), started)
		if err != nil {
			t.Fatalf("allocation %d: %v", i, err)
		}
		if r.ip.String() == "10.128.5.7" {
			t.Fatal("adopted IP handed out")
		}
	}
	if r, err := p.allocate("known", started); err == nil {
		t.Errorf("range should be full, got %s", r.ip)
	}
}
