package proxy

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"net"
	"net/http"
	"net/netip"
	"sync"
	"time"

	"github.com/prometheus/client_golang/prometheus/promhttp"
	v1 "k8s.io/api/core/v1"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/fields"
	"k8s.io/apimachinery/pkg/labels"
	"k8s.io/client-go/informers"
	"k8s.io/client-go/kubernetes"
	corelisters "k8s.io/client-go/listers/core/v1"
	discoverylisters "k8s.io/client-go/listers/discovery/v1"
	"k8s.io/client-go/tools/cache"
)

// Defaults of Config.
const (
	DefaultMinSyncPeriod = time.Second
	DefaultSyncPeriod    = 30 * time.Second
	maxRetryBackoff      = 30 * time.Second
)

// Config configures a Proxier.
type Config struct {
	// Client reads Services, EndpointSlices and this node. Required.
	Client kubernetes.Interface
	// NodeName is the node the proxy runs on. Required.
	NodeName string
	// ClusterCIDR is the pod network (see BuildConfig.ClusterCIDR).
	ClusterCIDR netip.Prefix
	// ServiceCIDR is the range of ClusterIPs: routed to lo when no route
	// covers it, so the node itself reaches them (see ensureServiceRoute).
	ServiceCIDR netip.Prefix
	// MinSyncPeriod is the least time between two syncs: changes within
	// it are applied together. Default DefaultMinSyncPeriod.
	MinSyncPeriod time.Duration
	// SyncPeriod is the time between full resyncs when nothing changes.
	// Default DefaultSyncPeriod.
	SyncPeriod time.Duration
	// MetricsAddr serves /metrics (empty: off).
	MetricsAddr string
	// HealthzAddr serves /healthz (empty: off).
	HealthzAddr string
	// Logger gets the proxy's log lines. Required.
	Logger *slog.Logger

	// conn replaces the netlink connection in tests.
	conn nftConn
}

// Proxier keeps the node's nftables table in line with the cluster's
// Services and EndpointSlices. Make one with New and call Run once.
type Proxier struct {
	cfg  Config
	log  *slog.Logger
	conn nftConn

	syncRequests chan struct{} // capacity 1: a pending request

	services  corelisters.ServiceLister
	slices    discoverylisters.EndpointSliceLister
	nodes     corelisters.NodeLister
	hasSynced []cache.InformerSynced
	factories []informers.SharedInformerFactory

	metrics *metrics

	mu          sync.Mutex
	lastSuccess time.Time
	lastErr     error
}

// New validates and defaults cfg and returns a Proxier. It opens nothing
// yet; Run does.
func New(cfg Config) (*Proxier, error) {
	if cfg.Client == nil {
		return nil, errors.New("proxy: Config.Client is required")
	}
	if cfg.NodeName == "" {
		return nil, errors.New("proxy: Config.NodeName is required")
	}
	if cfg.Logger == nil {
		return nil, errors.New("proxy: Config.Logger is required")
	}
	if cfg.ClusterCIDR.IsValid() && !cfg.ClusterCIDR.Addr().Is4() {
		return nil, fmt.Errorf("proxy: cluster CIDR %s: only IPv4 is supported", cfg.ClusterCIDR)
	}
	if cfg.MinSyncPeriod <= 0 {
		cfg.MinSyncPeriod = DefaultMinSyncPeriod
	}
	if cfg.SyncPeriod <= 0 {
		cfg.SyncPeriod = DefaultSyncPeriod
	}
	p := &Proxier{cfg: cfg, log: cfg.Logger, conn: cfg.conn, syncRequests: make(chan struct{}, 1), metrics: newMetrics()}
	if p.conn == nil {
		c, err := newNftConn()
		if err != nil {
			return nil, fmt.Errorf("proxy: netlink connection for nftables: %w", err)
		}
		p.conn = c
	}

	all := informers.NewSharedInformerFactory(cfg.Client, 0)
	node := informers.NewSharedInformerFactoryWithOptions(cfg.Client, 0, informers.WithTweakListOptions(func(o *metav1.ListOptions) {
		o.FieldSelector = fields.OneTermEqualSelector("metadata.name", cfg.NodeName).String()
	}))
	svcInf := all.Core().V1().Services()
	sliceInf := all.Discovery().V1().EndpointSlices()
	nodeInf := node.Core().V1().Nodes()
	// Callbacks only ask for a sync: the sync reads the listers.
	h := cache.ResourceEventHandlerFuncs{
		AddFunc:    func(any) { p.requestSync() },
		UpdateFunc: func(any, any) { p.requestSync() },
		DeleteFunc: func(any) { p.requestSync() },
	}
	for _, inf := range []cache.SharedIndexInformer{svcInf.Informer(), sliceInf.Informer(), nodeInf.Informer()} {
		if _, err := inf.AddEventHandler(h); err != nil {
			return nil, fmt.Errorf("proxy: event handler: %w", err)
		}
		p.hasSynced = append(p.hasSynced, inf.HasSynced)
	}
	p.services, p.slices, p.nodes = svcInf.Lister(), sliceInf.Lister(), nodeInf.Lister()
	p.factories = []informers.SharedInformerFactory{all, node}
	return p, nil
}

// requestSync asks the sync loop for a sync; requests coalesce.
func (p *Proxier) requestSync() {
	select {
	case p.syncRequests <- struct{}{}:
	default:
	}
}

// Run starts the informers and the metrics and health servers, syncs the
// table until ctx ends, and returns nil then (the table stays, so traffic
// keeps flowing while the proxy restarts). It fails when a server cannot
// listen or the informers never sync.
func (p *Proxier) Run(ctx context.Context) error {
	ctx, cancel := context.WithCancel(ctx)
	defer cancel()
	var wg sync.WaitGroup
	defer wg.Wait()
	for _, s := range []struct {
		addr, path string
		h          http.Handler
	}{
		{p.cfg.MetricsAddr, "/metrics", promhttp.HandlerFor(p.metrics.registry, promhttp.HandlerOpts{})},
		{p.cfg.HealthzAddr, "/healthz", http.HandlerFunc(p.serveHealthz)},
	} {
		if s.addr == "" {
			continue
		}
		l, err := net.Listen("tcp", s.addr)
		if err != nil {
			return fmt.Errorf("proxy: listen for %s on %s: %w", s.path, s.addr, err)
		}
		mux := http.NewServeMux()
		mux.Handle(s.path, s.h)
		srv := &http.Server{Handler: mux, ReadHeaderTimeout: 10 * time.Second}
		wg.Add(2)
		go func() { defer wg.Done(); _ = srv.Serve(l) }()
		go func() { defer wg.Done(); <-ctx.Done(); _ = srv.Close() }()
		p.log.Info("proxy: serving", "path", s.path, "addr", l.Addr().String())
	}
	if err := ensureServiceRoute(p.cfg.ServiceCIDR, p.log); err != nil {
		p.log.Warn("proxy: the node may not reach ClusterIPs", "err", err)
	}
	for _, f := range p.factories {
		f.Start(ctx.Done())
	}
	defer func() {
		for _, f := range p.factories {
			f.Shutdown()
		}
	}()
	if !cache.WaitForCacheSync(ctx.Done(), p.hasSynced...) {
		if ctx.Err() != nil {
			return nil
		}
		return errors.New("proxy: informers did not sync")
	}
	p.log.Info("proxy: caches synced; programming nftables", "table", "ip "+TableName, "node", p.cfg.NodeName)
	p.loop(ctx)
	return nil
}

// loop runs syncs: on request, at most once per MinSyncPeriod; every
// SyncPeriod regardless; and after a failure, again with growing backoff.
func (p *Proxier) loop(ctx context.Context) {
	resync := time.NewTimer(0) // the first sync replaces what an earlier run left
	defer resync.Stop()
	var retry <-chan time.Time
	backoff := time.Duration(0)
	var last time.Time
	for {
		select {
		case <-ctx.Done():
			return
		case <-p.syncRequests:
		case <-resync.C:
		case <-retry:
		}
		if wait := p.cfg.MinSyncPeriod - time.Since(last); wait > 0 {
			t := time.NewTimer(wait)
			select {
			case <-ctx.Done():
				t.Stop()
				return
			case <-t.C:
			}
		}
		select { // requests made while waiting are served by this sync
		case <-p.syncRequests:
		default:
		}
		last = time.Now()
		err := p.sync(ctx)
		resync.Reset(p.cfg.SyncPeriod)
		retry = nil
		if err != nil {
			backoff = min(max(2*backoff, p.cfg.MinSyncPeriod), maxRetryBackoff)
			p.log.Error("proxy: sync failed; retrying", "err", err, "in", backoff)
			retry = time.After(backoff)
			continue
		}
		backoff = 0
	}
}

// sync builds the desired table from the informers' caches and applies it
// in one transaction. Every sync is a full one: it replaces the table.
func (p *Proxier) sync(ctx context.Context) (err error) {
	start := time.Now()
	defer func() {
		p.metrics.syncDuration.Observe(time.Since(start).Seconds())
		p.mu.Lock()
		defer p.mu.Unlock()
		p.lastErr = err
		if err != nil {
			p.metrics.syncErrors.Inc()
			return
		}
		p.lastSuccess = time.Now()
		p.metrics.lastSync.SetToCurrentTime()
	}()
	if err := ctx.Err(); err != nil {
		return err
	}
	svcs, err := p.services.List(labels.Everything())
	if err != nil {
		return fmt.Errorf("list services: %w", err)
	}
	slices, err := p.slices.List(labels.Everything())
	if err != nil {
		return fmt.Errorf("list endpointslices: %w", err)
	}
	bc := BuildConfig{NodeName: p.cfg.NodeName, ClusterCIDR: p.cfg.ClusterCIDR, Logger: p.log}
	node, err := p.nodes.Get(p.cfg.NodeName)
	switch {
	case apierrors.IsNotFound(err):
	case err != nil:
		return fmt.Errorf("get node %s: %w", p.cfg.NodeName, err)
	default:
		bc.PodCIDR = podCIDR(node)
	}
	t := Build(bc, svcs, slices)
	if err := apply(p.conn, t); err != nil {
		return err
	}
	p.metrics.rules.Set(float64(t.RuleCount()))
	p.log.Debug("proxy: synced", "services", len(svcs), "endpointslices", len(slices), "rules", t.RuleCount(), "took", time.Since(start))
	return nil
}

// podCIDR is the node's IPv4 pod CIDR, or zero.
func podCIDR(n *v1.Node) netip.Prefix {
	cidrs := n.Spec.PodCIDRs
	if len(cidrs) == 0 && n.Spec.PodCIDR != "" {
		cidrs = []string{n.Spec.PodCIDR}
	}
	for _, c := range cidrs {
		if p, err := netip.ParsePrefix(c); err == nil && p.Addr().Is4() {
			return p.Masked()
		}
	}
	return netip.Prefix{}
}

// serveHealthz answers 200 while syncs succeed: the last success is at
// most two sync periods old; 503 otherwise, with the last error.
func (p *Proxier) serveHealthz(w http.ResponseWriter, _ *http.Request) {
	p.mu.Lock()
	last, lastErr := p.lastSuccess, p.lastErr
	p.mu.Unlock()
	w.Header().Set("Content-Type", "text/plain; charset=utf-8")
	if last.IsZero() || time.Since(last) > 2*p.cfg.SyncPeriod+p.cfg.MinSyncPeriod {
		w.WriteHeader(http.StatusServiceUnavailable)
		fmt.Fprintf(w, "no successful sync since %s (last error: %v)\n", last.Format(time.RFC3339), lastErr)
		return
	}
	fmt.Fprintf(w, "ok: last sync %s\n", last.Format(time.RFC3339))
}
