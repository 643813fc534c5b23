package nodeipam

import (
	"context"
	"encoding/binary"
	"errors"
	"fmt"
	"log/slog"
	"net/netip"
	"sync"

	corev1 "k8s.io/api/core/v1"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/labels"
	"k8s.io/client-go/kubernetes"
	corelisters "k8s.io/client-go/listers/core/v1"
	"k8s.io/client-go/tools/cache"
	"k8s.io/client-go/tools/record"

	"github.com/sqlkube/sqlkube/controllers/reconcile"
)

// Defaults of the cluster's pod range and the Nodes' share of it.
const (
	DefaultClusterCIDR      = "10.244.0.0/16"
	DefaultNodeCIDRMaskSize = 24
)

// maxRangeBits bounds the number of ranges to 2^16, as Kubernetes does.
const maxRangeBits = 16

// errFull is returned when no range is left.
var errFull = errors.New("no free pod range")

// Controller assigns pod ranges to Nodes.
type Controller struct {
	client   kubernetes.Interface
	nodes    corelisters.NodeLister
	synced   cache.InformerSynced
	queue    *reconcile.Queue
	log      *slog.Logger
	recorder record.EventRecorder
	cluster  netip.Prefix
	mask     int

	// mu serializes allocations; pending holds the ranges written that
	// the cache may not show yet, by node name.
	mu      sync.Mutex
	pending map[string]netip.Prefix
}

// ParseRanges checks and parses a cluster CIDR and node mask size ("" and
// 0 mean the defaults): an IPv4 prefix, and a mask size between its
// length and 30 that cuts it in at most 2^16 ranges.
func ParseRanges(clusterCIDR string, maskSize int) (netip.Prefix, int, error) {
	if clusterCIDR == "" {
		clusterCIDR = DefaultClusterCIDR
	}
	if maskSize == 0 {
		maskSize = DefaultNodeCIDRMaskSize
	}
	p, err := netip.ParsePrefix(clusterCIDR)
	if err != nil {
		return netip.Prefix{}, 0, fmt.Errorf("cluster CIDR %q: %w", clusterCIDR, err)
	}
	if !p.Addr().Is4() {
		return netip.Prefix{}, 0, fmt.Errorf("cluster CIDR %s: only IPv4 is supported", clusterCIDR)
	}
	if maskSize < p.Bits() || maskSize > 30 || maskSize-p.Bits() > maxRangeBits {
		return netip.Prefix{}, 0, fmt.Errorf("node CIDR mask size %d: want between %d (the cluster CIDR's) and 30, at most %d more than the cluster CIDR's", maskSize, p.Bits(), maxRangeBits)
	}
	return p.Masked(), maskSize, nil
}

// New builds the controller over cfg and registers its Node informer. It
// fails when cfg's ranges do not pass ParseRanges.
func New(cfg *reconcile.Config) (*Controller, error) {
	p, mask, err := ParseRanges(cfg.ClusterCIDR, cfg.NodeCIDRMaskSize)
	if err != nil {
		return nil, err
	}
	inf := cfg.Informers.Core().V1().Nodes()
	c := &Controller{
		client:   cfg.Client,
		nodes:    inf.Lister(),
		synced:   inf.Informer().HasSynced,
		log:      cfg.Log("nodeipam"),
		recorder: cfg.Recorder("nodeipam"),
		cluster:  p,
		mask:     mask,
		pending:  map[string]netip.Prefix{},
	}
	c.queue = reconcile.NewQueue("nodeipam", c.log, c.sync)
	onNode := func(obj any) {
		if n, ok := reconcile.ObjectOf[*corev1.Node](obj); ok && n.Spec.PodCIDR == "" {
			c.queue.Add(n.Name)
		}
	}
	_, _ = inf.Informer().AddEventHandler(cache.ResourceEventHandlerFuncs{
		AddFunc: onNode,
		UpdateFunc: func(old, cur any) {
			if !reconcile.Unchanged(old, cur) {
				onNode(cur)
			}
		},
		// A deleted Node frees its range: the Nodes still waiting for
		// one (the range was full) are tried again.
		DeleteFunc: func(obj any) {
			n, ok := reconcile.ObjectOf[*corev1.Node](obj)
			if !ok {
				return
			}
			c.mu.Lock()
			delete(c.pending, n.Name)
			c.mu.Unlock()
			c.waitingAgain()
		},
	})
	return c, nil
}

// waitingAgain queues every cached Node without a range.
func (c *Controller) waitingAgain() {
	nodes, err := c.nodes.List(labels.Everything())
	if err != nil {
		return
	}
	for _, n := range nodes {
		if n.Spec.PodCIDR == "" {
			c.queue.Add(n.Name)
		}
	}
}

// Run assigns ranges until ctx is done. Allocation is serialized, so
// more than one worker only helps Nodes that need nothing.
func (c *Controller) Run(ctx context.Context, workers int) {
	c.log.Info("starting", "clusterCIDR", c.cluster, "nodeCIDRMaskSize", c.mask)
	defer c.log.Info("stopped")
	c.queue.Run(ctx, workers, c.synced)
}

// sync gives Node name a range if it has none.
func (c *Controller) sync(ctx context.Context, name string) error {
	n, err := c.nodes.Get(name)
	if apierrors.IsNotFound(err) {
		return nil
	}
	if err != nil {
		return fmt.Errorf("get node %s: %w", name, err)
	}
	if n.Spec.PodCIDR != "" {
		return nil
	}
	c.mu.Lock()
	defer c.mu.Unlock()
	used, err := c.usedRanges()
	if err != nil {
		return err
	}
	p, err := freeRange(c.cluster, c.mask, used)
	if errors.Is(err, errFull) {
		msg := fmt.Sprintf("cluster CIDR %s has no free /%d range left for node %s", c.cluster, c.mask, name)
		c.log.Warn("no pod range for node", "node", name, "clusterCIDR", c.cluster, "nodeCIDRMaskSize", c.mask)
		c.recorder.Event(n, corev1.EventTypeWarning, "CIDRNotAvailable", msg)
		// Retried when a Node is deleted (waitingAgain).
		return reconcile.Permanent(fmt.Errorf("node %s: %w", name, err))
	}
	if err != nil {
		return err
	}
	u := n.DeepCopy()
	u.Spec.PodCIDR = p.String()
	u.Spec.PodCIDRs = []string{p.String()}
	if _, err := c.client.CoreV1().Nodes().Update(ctx, u, metav1.UpdateOptions{}); err != nil {
		if apierrors.IsNotFound(err) {
			return nil
		}
		return fmt.Errorf("set the pod range of node %s to %s: %w", name, p, err)
	}
	c.pending[name] = p
	c.log.Info("assigned pod range", "node", name, "podCIDR", p)
	return nil
}

// usedRanges returns the ranges of the cluster's range that cached Nodes
// hold, and those written that the cache does not show yet; pending
// entries the cache has caught up with are dropped. Call with mu held.
func (c *Controller) usedRanges() ([]netip.Prefix, error) {
	nodes, err := c.nodes.List(labels.Everything())
	if err != nil {
		return nil, fmt.Errorf("list cached nodes: %w", err)
	}
	var used []netip.Prefix
	seen := map[string]bool{}
	for _, n := range nodes {
		cidrs := n.Spec.PodCIDRs
		if n.Spec.PodCIDR != "" {
			cidrs = append([]string{n.Spec.PodCIDR}, cidrs...)
		}
		for _, s := range cidrs {
			if p, err := netip.ParsePrefix(s); err == nil {
				used = append(used, p)
			}
		}
		seen[n.Name] = len(cidrs) == 0
	}
	for name, p := range c.pending {
		if waiting, ok := seen[name]; !ok || !waiting {
			delete(c.pending, name)
			continue
		}
		used = append(used, p)
	}
	return used, nil
}

// freeRange returns the first range of mask bits in cluster that overlaps
// none of used, or errFull.
func freeRange(cluster netip.Prefix, mask int, used []netip.Prefix) (netip.Prefix, error) {
	if !cluster.Addr().Is4() || mask < cluster.Bits() || mask > 32 {
		return netip.Prefix{}, fmt.Errorf("cluster CIDR %s, mask size %d: not an IPv4 split", cluster, mask)
	}
	cluster = cluster.Masked()
	base := addrUint(cluster.Addr())
	count := uint64(1) << (mask - cluster.Bits())
	taken := make(map[uint64]bool)
	for _, u := range used {
		if !u.Addr().Is4() || !u.Overlaps(cluster) {
			continue
		}
		u = u.Masked()
		// The blocks of mask bits that u covers (or the one it is in).
		first := addrUint(u.Addr())
		if first < base {
			first = base
		}
		size := uint64(1) << (32 - min(u.Bits(), 32))
		last := uint64(addrUint(u.Addr())) + size - 1
		if end := uint64(base) + (count << (32 - mask)) - 1; last > end {
			last = end
		}
		for i := uint64(first-base) >> (32 - mask); i <= (last-uint64(base))>>(32-mask); i++ {
			taken[i] = true
		}
	}
	for i := range count {
		if !taken[i] {
			return netip.PrefixFrom(uintAddr(base+uint32(i<<(32-mask))), mask), nil
		}
	}
	return netip.Prefix{}, errFull
}

func addrUint(a netip.Addr) uint32 {
	b := a.As4()
	return binary.BigEndian.Uint32(b[:])
}

func uintAddr(u uint32) netip.Addr {
	var b [4]byte
	binary.BigEndian.PutUint32(b[:], u)
	return netip.AddrFrom4(b)
}
