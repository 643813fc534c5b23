package nodeipam

import (
	"context"
	"maps"
	"net/netip"
	"slices"
	"strings"
	"testing"

	corev1 "k8s.io/api/core/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/runtime"
	clienttesting "k8s.io/client-go/testing"
	"k8s.io/client-go/tools/record"

	"github.com/sqlkube/sqlkube/controllers/internal/controllertest"
)

func TestFreeRange(t *testing.T) {
	pfx := netip.MustParsePrefix
	for _, tt := range []struct {
		name    string
		cluster string
		mask    int
		used    []string
		want    string
	}{
		{name: "empty", cluster: "10.244.0.0/16", mask: 24, want: "10.244.0.0/24"},
		{name: "skips used", cluster: "10.244.0.0/16", mask: 24, used: []string{"10.244.0.0/24", "10.244.1.0/24"}, want: "10.244.2.0/24"},
		{name: "fills a hole", cluster: "10.244.0.0/16", mask: 24, used: []string{"10.244.0.0/24", "10.244.2.0/24"}, want: "10.244.1.0/24"},
		{name: "outside ranges ignored", cluster: "10.244.0.0/16", mask: 24, used: []string{"10.128.0.0/24", "192.168.0.0/16"}, want: "10.244.0.0/24"},
		{name: "a larger used range covers several", cluster: "10.244.0.0/16", mask: 24, used: []string{"10.244.0.0/23"}, want: "10.244.2.0/24"},
		{name: "a smaller used range takes its block", cluster: "10.244.0.0/16", mask: 24, used: []string{"10.244.0.128/25"}, want: "10.244.1.0/24"},
		{name: "a range covering the cluster", cluster: "10.244.0.0/16", mask: 24, used: []string{"10.0.0.0/8"}},
		{name: "full", cluster: "10.244.0.0/23", mask: 24, used: []string{"10.244.0.0/24", "10.244.1.0/24"}},
		{name: "mask size 26", cluster: "10.244.0.0/24", mask: 26, used: []string{"10.244.0.0/26"}, want: "10.244.0.64/26"},
	} {
		t.Run(tt.name, func(t *testing.T) {
			var used []netip.Prefix
			for _, u := range tt.used {
				used = append(used, pfx(u))
			}
			got, err := freeRange(pfx(tt.cluster), tt.mask, used)
			if tt.want == "" {
				if err != errFull {
					t.Fatalf("= %v, %v; want errFull", got, err)
				}
				return
			}
			if err != nil || got != pfx(tt.want) {
				t.Fatalf("= %v, %v; want %s", got, err, tt.want)
			}
		})
	}
}

func TestNewChecksRanges(t *testing.T) {
	for _, tt := range []struct {
		name, cidr string
		mask       int
		wantErr    string
	}{
		{"defaults", "", 0, ""},
		{"not a prefix", "10.244.0.0", 24, "cluster CIDR"},
		{"IPv6", "fd00::/48", 64, "only IPv4"},
		{"mask shorter than the cluster's", "10.244.0.0/16", 8, "mask size"},
		{"too many ranges", "10.0.0.0/8", 30, "mask size"},
	} {
		t.Run(tt.name, func(t *testing.T) {
			_, cfg := controllertest.NewConfig(t)
			cfg.ClusterCIDR, cfg.NodeCIDRMaskSize = tt.cidr, tt.mask
			_, err := New(cfg)
			if tt.wantErr == "" && err != nil || tt.wantErr != "" && (err == nil || !strings.Contains(err.Error(), tt.wantErr)) {
				t.Fatalf("error = %v, want %q", err, tt.wantErr)
			}
		})
	}
}

func node(name, cidr string) *corev1.Node {
	n := &corev1.Node{ObjectMeta: metav1.ObjectMeta{Name: name, ResourceVersion: "1"}}
	if cidr != "" {
		n.Spec.PodCIDR, n.Spec.PodCIDRs = cidr, []string{cidr}
	}
	return n
}

// updates returns the pod ranges the client's update actions wrote, by node.
func updates(actions []clienttesting.Action) map[string]string {
	out := map[string]string{}
	for _, a := range actions {
		if u, ok := a.(clienttesting.UpdateAction); ok && a.GetResource().Resource == "nodes" {
			n := u.GetObject().(*corev1.Node)
			if !slices.Equal(n.Spec.PodCIDRs, []string{n.Spec.PodCIDR}) {
				panic("podCIDRs differ from podCIDR")
			}
			out[n.Name] = n.Spec.PodCIDR
		}
	}
	return out
}

func TestSync(t *testing.T) {
	for _, tt := range []struct {
		name       string
		cidr       string
		nodes      []*corev1.Node
		sync       []string
		want       map[string]string
		wantEvents []string
	}{
		{
			name:  "first free range",
			nodes: []*corev1.Node{node("a", "10.244.0.0/24"), node("b", "")},
			sync:  []string{"b"}, want: map[string]string{"b": "10.244.1.0/24"},
		},
		{
			name:  "a node with a range keeps it",
			nodes: []*corev1.Node{node("sim", "10.128.0.0/24")},
			sync:  []string{"sim"}, want: map[string]string{},
		},
		{
			name:  "a deleted node needs nothing",
			nodes: nil,
			sync:  []string{"gone"}, want: map[string]string{},
		},
		{
			name:  "ranges written but not yet cached are not handed out again",
			nodes: []*corev1.Node{node("a", ""), node("b", "")},
			sync:  []string{"a", "b"}, want: map[string]string{"a": "10.244.0.0/24", "b": "10.244.1.0/24"},
		},
		{
			name:  "full",
			cidr:  "10.244.0.0/24",
			nodes: []*corev1.Node{node("a", "10.244.0.0/24"), node("b", "")},
			sync:  []string{"b"}, want: map[string]string{},
			wantEvents: []string{"Warning CIDRNotAvailable cluster CIDR 10.244.0.0/24 has no free /24 range left for node b"},
		},
	} {
		t.Run(tt.name, func(t *testing.T) {
			var objs []runtime.Object
			for _, n := range tt.nodes {
				objs = append(objs, n)
			}
			client, cfg := controllertest.NewConfig(t, objs...)
			cfg.ClusterCIDR = tt.cidr
			c, err := New(cfg)
			if err != nil {
				t.Fatal(err)
			}
			rec := record.NewFakeRecorder(10)
			c.recorder = rec
			controllertest.Cache(t, cfg.Informers, objs...)
			client.ClearActions()
			for _, name := range tt.sync {
				err := c.sync(context.Background(), name)
				if tt.wantEvents == nil && err != nil {
					t.Fatalf("sync %s: %v", name, err)
				}
			}
			if got := updates(client.Actions()); !maps.Equal(got, tt.want) {
				t.Fatalf("updates = %v, want %v", got, tt.want)
			}
			if got := controllertest.Events(rec); !slices.Equal(got, tt.wantEvents) {
				t.Fatalf("events = %q, want %q", got, tt.wantEvents)
			}
		})
	}
}
