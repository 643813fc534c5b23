package sim

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"net/netip"
	"runtime"
	"sync"
	"time"

	corev1 "k8s.io/api/core/v1"
	"k8s.io/apimachinery/pkg/api/resource"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/client-go/informers"
	"k8s.io/client-go/kubernetes"
	corelisters "k8s.io/client-go/listers/core/v1"
	"k8s.io/client-go/tools/cache"
	"k8s.io/utils/clock"

	"github.com/sqlkube/sqlkube/controllers/reconcile"
	"github.com/sqlkube/sqlkube/node"
)

// Config is what a Simulator is built from. Client, Prefix and Count are
// required; every other field has a default.
type Config struct {
	// Client talks to the API server. Give it a high or no rate limit
	// (QPS -1): the simulator writes on behalf of many nodes.
	Client kubernetes.Interface
	Logger *slog.Logger

	// Prefix and Count name the nodes Prefix-0 … Prefix-(Count-1).
	Prefix string
	Count  int

	// Capacity of each node (default 4 cpu, 8Gi memory, 110 pods, 100Gi
	// ephemeral-storage). Allocatable is the same.
	Capacity corev1.ResourceList
	// Labels are added to every node's well-known labels.
	Labels map[string]string
	// NodeIP is every node's InternalIP and the pods' hostIP (default
	// 127.0.0.1). Nothing is ever sent to it.
	NodeIP string

	// PodCIDR is the cluster's pod range (default 10.128.0.0/9), cut into
	// one range of NodeCIDRMaskSize bits (default 24) per node. A node that
	// exists keeps its spec.podCIDR; a new one gets the first range no Node
	// uses. Pod IPs are only written into pod status.
	PodCIDR          netip.Prefix
	NodeCIDRMaskSize int

	// JobDuration is how long the containers of a pod with restartPolicy
	// Never or OnFailure run before they exit 0 (default 1s).
	JobDuration time.Duration
	// LeaseDuration is the Leases' leaseDurationSeconds (default 40s);
	// RenewInterval how often they are renewed (default 10s).
	LeaseDuration time.Duration
	RenewInterval time.Duration
	// StatusInterval is how often a node re-posts its conditions when
	// nothing changed (default 5m, the kubelet's nodeStatusReportFrequency).
	StatusInterval time.Duration

	// Workers is how many pod status writes run in parallel (default 32).
	Workers int
	// Version is reported as the nodes' kubelet version.
	Version string
	// Clock is the time source (default the real clock), for tests.
	Clock clock.PassiveClock
}

// Defaults used for zero Config fields.
const (
	DefaultJobDuration    = time.Second
	DefaultLeaseDuration  = 40 * time.Second
	DefaultRenewInterval  = 10 * time.Second
	DefaultStatusInterval = 5 * time.Minute
	DefaultWorkers        = 32
	DefaultNodeIP         = "127.0.0.1"
	DefaultNodeCIDRMask   = 24
)

// DefaultPodCIDR is the default cluster pod range: 32,768 node ranges of
// /24, clear of the default service range 10.96.0.0/16.
var DefaultPodCIDR = netip.MustParsePrefix("10.128.0.0/9")

// DefaultCapacity returns a fresh copy of the default node capacity.
func DefaultCapacity() corev1.ResourceList {
	return corev1.ResourceList{
		corev1.ResourceCPU:              resource.MustParse("4"),
		corev1.ResourceMemory:           resource.MustParse("8Gi"),
		corev1.ResourcePods:             resource.MustParse("110"),
		corev1.ResourceEphemeralStorage: resource.MustParse("100Gi"),
	}
}

// Simulator runs simulated nodes. Build it with New, run it with Run
// (once).
type Simulator struct {
	cfg   Config
	log   *slog.Logger
	clock clock.PassiveClock

	nodes map[string]*simNode // by name; the set never changes
	names []string            // in index order

	nodeInformers informers.SharedInformerFactory
	nodeLister    corelisters.NodeLister
	nodeSynced    cache.InformerSynced
	nodeQueue     *reconcile.Queue

	podInformers informers.SharedInformerFactory
	podIndexer   cache.Indexer
	podSynced    cache.InformerSynced
	podQueue     *reconcile.Queue
}

// New checks cfg, fills in defaults and returns a Simulator whose
// informers are set up but not started.
func New(cfg Config) (*Simulator, error) {
	if cfg.Client == nil {
		return nil, errors.New("simulated nodes: no API client")
	}
	if cfg.Count < 1 {
		return nil, fmt.Errorf("simulated nodes: count %d: want at least 1", cfg.Count)
	}
	if cfg.Prefix == "" {
		return nil, errors.New("simulated nodes: no name prefix")
	}
	if cfg.Logger == nil {
		cfg.Logger = slog.Default()
	}
	if cfg.Capacity == nil {
		cfg.Capacity = DefaultCapacity()
	}
	if cfg.NodeIP == "" {
		cfg.NodeIP = DefaultNodeIP
	}
	if !cfg.PodCIDR.IsValid() {
		cfg.PodCIDR = DefaultPodCIDR
	}
	if cfg.NodeCIDRMaskSize == 0 {
		cfg.NodeCIDRMaskSize = DefaultNodeCIDRMask
	}
	if cfg.JobDuration <= 0 {
		cfg.JobDuration = DefaultJobDuration
	}
	if cfg.LeaseDuration <= 0 {
		cfg.LeaseDuration = DefaultLeaseDuration
	}
	if cfg.RenewInterval <= 0 {
		cfg.RenewInterval = DefaultRenewInterval
	}
	if cfg.RenewInterval >= cfg.LeaseDuration {
		return nil, fmt.Errorf("simulated nodes: renew interval %s must be shorter than the lease duration %s", cfg.RenewInterval, cfg.LeaseDuration)
	}
	if cfg.StatusInterval <= 0 {
		cfg.StatusInterval = DefaultStatusInterval
	}
	if cfg.Workers <= 0 {
		cfg.Workers = DefaultWorkers
	}
	if cfg.Clock == nil {
		cfg.Clock = clock.RealClock{}
	}
	if _, err := netip.ParseAddr(cfg.NodeIP); err != nil {
		return nil, fmt.Errorf("simulated nodes: node IP: %w", err)
	}
	if _, err := assignNodeCIDRs(cfg.PodCIDR, cfg.NodeCIDRMaskSize, nil, nil, nil); err != nil {
		return nil, fmt.Errorf("simulated nodes: %w", err)
	}

	s := &Simulator{cfg: cfg, log: cfg.Logger.With("component", "node-sim"), clock: cfg.Clock, nodes: make(map[string]*simNode, cfg.Count)}
	for i := range cfg.Count {
		name := fmt.Sprintf("%s-%d", cfg.Prefix, i)
		s.names = append(s.names, name)
		s.nodes[name] = &simNode{name: name}
	}

	s.nodeInformers = informers.NewSharedInformerFactoryWithOptions(cfg.Client, 0, informers.WithTransform(s.transformNode))
	nodeInf := s.nodeInformers.Core().V1().Nodes()
	s.nodeLister, s.nodeSynced = nodeInf.Lister(), nodeInf.Informer().HasSynced
	s.nodeQueue = reconcile.NewQueue("node-sim-nodes", s.log, s.syncNode)
	if _, err := nodeInf.Informer().AddEventHandler(s.nodeHandler()); err != nil {
		return nil, fmt.Errorf("simulated nodes: node informer: %w", err)
	}

	// One pod watch for all the nodes of the process: every bound pod.
	s.podInformers = informers.NewSharedInformerFactoryWithOptions(cfg.Client, 0,
		informers.WithTweakListOptions(func(o *metav1.ListOptions) { o.FieldSelector = "spec.nodeName!=" }),
		informers.WithTransform(s.transformPod))
	podInf := s.podInformers.Core().V1().Pods().Informer()
	s.podIndexer, s.podSynced = podInf.GetIndexer(), podInf.HasSynced
	s.podQueue = reconcile.NewQueue("node-sim-pods", s.log, s.syncPodKey)
	if _, err := podInf.AddEventHandler(s.podHandler()); err != nil {
		return nil, fmt.Errorf("simulated nodes: pod informer: %w", err)
	}
	return s, nil
}

// Names returns the names of the simulated nodes, in index order.
func (s *Simulator) Names() []string { return append([]string(nil), s.names...) }

// Run registers the nodes, keeps their Leases renewed and runs the pods
// bound to them until ctx is done; then it stops renewing (the nodes go
// NotReady once their Leases expire, as when the process dies) and
// returns nil. It fails only if it cannot start: the nodes' pod ranges
// cannot be assigned, or the node cache does not fill before ctx ends.
func (s *Simulator) Run(ctx context.Context) error {
	ctx, cancel := context.WithCancel(ctx)
	defer cancel()
	s.nodeInformers.Start(ctx.Done())
	defer s.nodeInformers.Shutdown()
	if !cache.WaitForCacheSync(ctx.Done(), s.nodeSynced) {
		if ctx.Err() != nil {
			return nil
		}
		return errors.New("simulated nodes: node cache did not sync")
	}
	if err := s.assignCIDRs(); err != nil {
		return err
	}
	// The pod handlers use the nodes' IP pools: start the pods after them.
	s.podInformers.Start(ctx.Done())
	defer s.podInformers.Shutdown()
	s.log.Info("starting simulated nodes", "count", len(s.names), "first", s.names[0], "podCIDR", s.cfg.PodCIDR, "jobDuration", s.cfg.JobDuration)

	var wg sync.WaitGroup
	wg.Go(func() { s.nodeQueue.Run(ctx, min(len(s.names), runtime.GOMAXPROCS(0)*8), s.nodeSynced) })
	for _, name := range s.names {
		s.nodeQueue.Add(name)
	}
	wg.Go(func() { s.podQueue.Run(ctx, s.cfg.Workers, s.podSynced) })
	<-ctx.Done()
	wg.Wait()
	s.log.Info("simulated nodes stopped", "count", len(s.names))
	return nil
}

// assignCIDRs gives every node its pod range, from the node cache.
func (s *Simulator) assignCIDRs() error {
	all, err := s.nodeLister.List(labelsEverything)
	if err != nil {
		return fmt.Errorf("simulated nodes: list cached nodes: %w", err)
	}
	existing := map[string]string{}
	var taken []string
	for _, n := range all {
		if n.Spec.PodCIDR == "" {
			continue
		}
		taken = append(taken, n.Spec.PodCIDR)
		if _, ours := s.nodes[n.Name]; ours {
			existing[n.Name] = n.Spec.PodCIDR
		}
	}
	cidrs, err := assignNodeCIDRs(s.cfg.PodCIDR, s.cfg.NodeCIDRMaskSize, s.names, existing, taken)
	if err != nil {
		return fmt.Errorf("simulated nodes: %w", err)
	}
	for _, name := range s.names {
		n := s.nodes[name]
		n.cidr = cidrs[name]
		n.ips = newIPPool(n.cidr)
		n.config = s.nodeConfig(name, n.cidr)
	}
	return nil
}

// nodeConfig describes simulated node name with pod range cidr.
func (s *Simulator) nodeConfig(name string, cidr netip.Prefix) *node.Config {
	version := s.cfg.Version
	if version == "" {
		version = "dev"
	}
	return &node.Config{
		Name:     name,
		Labels:   s.cfg.Labels,
		Capacity: s.cfg.Capacity,
		PodCIDR:  cidr.String(),
		Addresses: []corev1.NodeAddress{
			{Type: corev1.NodeInternalIP, Address: s.cfg.NodeIP},
			{Type: corev1.NodeHostName, Address: name},
		},
		NodeInfo: corev1.NodeSystemInfo{
			MachineID:               name,
			SystemUUID:              name,
			BootID:                  bootID,
			KernelVersion:           "simulated",
			OSImage:                 "sqlkube simulated node",
			ContainerRuntimeVersion: "sim://" + version,
			KubeletVersion:          version,
			OperatingSystem:         "linux",
			Architecture:            runtime.GOARCH,
		},
	}
}

// bootID changes with every start of the process, like a machine's.
var bootID = fmt.Sprintf("%d", time.Now().UnixNano())
