package agent

import (
	"context"
	"crypto/tls"
	"crypto/x509"
	"errors"
	"fmt"
	"log/slog"
	"os"
	"path/filepath"
	"strconv"
	"sync"
	"sync/atomic"
	"time"

	"github.com/prometheus/client_golang/prometheus"
	corev1 "k8s.io/api/core/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/fields"
	"k8s.io/apimachinery/pkg/types"
	"k8s.io/client-go/informers"
	"k8s.io/client-go/kubernetes"
	"k8s.io/client-go/kubernetes/scheme"
	typedcorev1 "k8s.io/client-go/kubernetes/typed/core/v1"
	corelisters "k8s.io/client-go/listers/core/v1"
	"k8s.io/client-go/tools/cache"
	"k8s.io/client-go/tools/record"

	"github.com/sqlkube/sqlkube/node"
	"github.com/sqlkube/sqlkube/node/agentapi"
	"github.com/sqlkube/sqlkube/node/volume"
)

// Defaults of Config, the kubelet's where it has one.
const (
	DefaultPort           = 10250
	DefaultLeaseDuration  = 40 * time.Second
	DefaultRenewInterval  = 10 * time.Second
	DefaultStatusInterval = time.Minute
	DefaultResync         = 10 * time.Second
)

// Config configures an Agent. Client, NodeName, Runtime and DataDir are
// required.
type Config struct {
	Client   kubernetes.Interface
	NodeName string
	// NodeIP is the node's InternalIP; "" detects it (see DetectNodeIP).
	NodeIP string
	// Runtime runs the containers.
	Runtime Runtime
	// DataDir holds the pods' volumes and logs and the runtime's files.
	DataDir string
	// Port is the agent's API port (the kubelet's 10250), where the API
	// server reaches it for logs, exec and port forwarding; -1 disables
	// it. ReadOnlyPort is the unauthenticated port (/healthz, /pods,
	// /metrics, /stats/summary); 0 disables it.
	Port, ReadOnlyPort int
	// ClientCAs verify the API server's client certificate on Port.
	ClientCAs *x509.CertPool
	// ServingCert is the certificate of Port; nil generates one.
	ServingCert *tls.Certificate
	// Version is reported as the node's kubelet version.
	Version string
	// LeaseDuration, RenewInterval and StatusInterval: the node Lease's
	// duration, how often it is renewed, and how often unchanged
	// conditions are posted again.
	LeaseDuration, RenewInterval, StatusInterval time.Duration
	// Resync is how often each pod is synced when nothing happens.
	Resync time.Duration
	Logger *slog.Logger
}

// Agent runs the pods of one node. Create it with New and start it with
// Run.
type Agent struct {
	cfg      Config
	log      *slog.Logger
	client   kubernetes.Interface
	rt       Runtime
	volumes  *volume.Manager
	recorder record.EventRecorder
	metrics  *metrics
	registry *prometheus.Registry

	pods     cache.SharedIndexInformer
	services corelisters.ServiceLister

	mu      sync.Mutex
	workers map[types.UID]*podWorker
	starts  chan struct{} // start slots (see startSlots)

	node         atomic.Pointer[corev1.Node]
	networkReady atomic.Bool   // the pod network is configured
	healthNow    chan struct{} // post the node's conditions now
	runtimeErr   atomic.Pointer[error]
	hostIP       string
	logsDir      string
	cpu          cpuSamples
}

// New validates cfg, fills its defaults and returns an agent.
func New(cfg Config) (*Agent, error) {
	switch {
	case cfg.Client == nil:
		return nil, errors.New("agent: Client is required")
	case cfg.NodeName == "":
		return nil, errors.New("agent: NodeName is required")
	case cfg.Runtime == nil:
		return nil, errors.New("agent: Runtime is required")
	case cfg.DataDir == "":
		return nil, errors.New("agent: DataDir is required")
	}
	if cfg.Logger == nil {
		cfg.Logger = slog.New(slog.DiscardHandler)
	}
	if cfg.Port == 0 {
		cfg.Port = DefaultPort
	}
	if cfg.LeaseDuration <= 0 {
		cfg.LeaseDuration = DefaultLeaseDuration
	}
	if cfg.RenewInterval <= 0 {
		cfg.RenewInterval = DefaultRenewInterval
	}
	if cfg.StatusInterval <= 0 {
		cfg.StatusInterval = DefaultStatusInterval
	}
	if cfg.Resync <= 0 {
		cfg.Resync = DefaultResync
	}
	if cfg.NodeIP == "" {
		cfg.NodeIP = DetectNodeIP()
	}
	if cfg.Version == "" {
		cfg.Version = "dev"
	}
	if err := os.MkdirAll(cfg.DataDir, 0o700); err != nil {
		return nil, fmt.Errorf("agent data dir %s: %w", cfg.DataDir, err)
	}
	capa, err := capacity(cfg.DataDir)
	if err != nil {
		return nil, err
	}
	vols, err := volume.New(volume.Config{Client: cfg.Client, Root: filepath.Join(cfg.DataDir, "pods"), NodeAllocatable: capa, Logger: cfg.Logger})
	if err != nil {
		return nil, fmt.Errorf("agent volumes: %w", err)
	}
	a := &Agent{
		cfg:       cfg,
		log:       cfg.Logger.With("node", cfg.NodeName),
		client:    cfg.Client,
		rt:        cfg.Runtime,
		volumes:   vols,
		workers:   map[types.UID]*podWorker{},
		healthNow: make(chan struct{}, 1),
		starts:    make(chan struct{}, startSlots),
		hostIP:    cfg.NodeIP,
		logsDir:   filepath.Join(cfg.DataDir, "logs"),
		registry:  prometheus.NewRegistry(),
	}
	a.metrics = newMetrics(a.registry)
	return a, nil
}

// Run registers the node and runs its pods until ctx ends. Containers
// keep running when it returns: a restarted agent adopts them.
func (a *Agent) Run(ctx context.Context) error {
	ctx, cancel := context.WithCancel(ctx)
	defer cancel()

	broadcaster := record.NewBroadcaster(record.WithContext(ctx))
	broadcaster.StartRecordingToSink(&typedcorev1.EventSinkImpl{Interface: a.client.CoreV1().Events("")})
	defer broadcaster.Shutdown()
	a.recorder = broadcaster.NewRecorder(scheme.Scheme, corev1.EventSource{Component: "kubelet", Host: a.cfg.NodeName})

	// A node that has its pod range already (the agent restarted) sets up
	// the network first, so that it never registers NotReady for a moment.
	if n, err := a.client.CoreV1().Nodes().Get(ctx, a.cfg.NodeName, metav1.GetOptions{}); err == nil && n.Spec.PodCIDR != "" {
		if err := a.rt.ConfigureNetwork(n.Spec.PodCIDR); err == nil {
			a.networkReady.Store(true)
		}
	}
	n, err := a.register(ctx)
	if err != nil {
		return err
	}
	a.node.Store(n)
	lease := node.NewLease(a.client, n, a.cfg.LeaseDuration)
	if err := lease.Renew(ctx, time.Now()); err != nil {
		a.log.Warn("first lease renewal failed", "err", err)
	}
	var wg sync.WaitGroup
	defer wg.Wait()
	wg.Add(1)
	go func() {
		defer wg.Done()
		a.heartbeat(ctx, lease)
	}()

	cidr, err := a.waitPodCIDR(ctx)
	if err != nil {
		return err
	}
	if err := a.rt.ConfigureNetwork(cidr); err != nil {
		return fmt.Errorf("pod network of node %s on %s: %w", a.cfg.NodeName, cidr, err)
	}
	a.networkReady.Store(true)
	select {
	case a.healthNow <- struct{}{}:
	default:
	}
	if err := a.rt.ImportImages(ctx, filepath.Join(a.cfg.DataDir, "images")); err != nil {
		a.log.Warn("import images", "dir", filepath.Join(a.cfg.DataDir, "images"), "err", err)
	}

	if err := a.startInformers(ctx); err != nil {
		return err
	}
	if err := a.removeOrphans(ctx); err != nil {
		a.log.Warn("remove containers of pods deleted while the agent was away", "err", err)
	}
	wg.Add(1)
	go func() {
		defer wg.Done()
		a.watchExits(ctx)
	}()
	srv, err := agentapi.New(agentapi.Config{
		Backend:      a,
		Addr:         portAddr(a.cfg.Port),
		ReadOnlyAddr: portAddr(a.cfg.ReadOnlyPort),
		Cert:         a.cfg.ServingCert,
		ClientCAs:    a.cfg.ClientCAs,
		Metrics:      a.registry,
		Logger:       a.log,
	})
	if err != nil {
		return fmt.Errorf("agent API of node %s: %w", a.cfg.NodeName, err)
	}
	a.log.Info("node agent running", "ip", a.hostIP, "podCIDR", cidr, "port", a.cfg.Port, "readOnlyPort", a.cfg.ReadOnlyPort)
	err = srv.Run(ctx)
	cancel()
	a.stopWorkers()
	if err != nil && ctx.Err() == nil {
		return fmt.Errorf("agent API of node %s: %w", a.cfg.NodeName, err)
	}
	return nil
}

// portAddr is the listen address of port p on every address ("" when p
// is not positive: not served).
func portAddr(p int) string {
	if p <= 0 {
		return ""
	}
	return ":" + strconv.Itoa(p)
}

// nodeConfig describes this node as node.Register writes it.
func (a *Agent) nodeConfig(ctx context.Context) (*node.Config, error) {
	capa, err := capacity(a.cfg.DataDir)
	if err != nil {
		return nil, err
	}
	info := systemInfo()
	info.KubeletVersion = a.cfg.Version
	info.KubeProxyVersion = ""
	if v, err := a.rt.Version(ctx); err == nil {
		info.ContainerRuntimeVersion = v
	}
	host, _ := os.Hostname()
	addrs := []corev1.NodeAddress{{Type: corev1.NodeInternalIP, Address: a.hostIP}}
	if host != "" {
		addrs = append(addrs, corev1.NodeAddress{Type: corev1.NodeHostName, Address: host})
	}
	port := int32(0)
	if a.cfg.Port > 0 {
		port = int32(a.cfg.Port)
	}
	return &node.Config{Name: a.cfg.NodeName, Capacity: capa, Addresses: addrs, NodeInfo: info, KubeletPort: port, NotReady: a.networkNotReady()}, nil
}

// register creates or updates this node's Node, retrying until the API
// server answers.
func (a *Agent) register(ctx context.Context) (*corev1.Node, error) {
	delay := 500 * time.Millisecond
	for {
		c, err := a.nodeConfig(ctx)
		if err != nil {
			return nil, err
		}
		n, err := node.Register(ctx, a.client, c, time.Now())
		if err == nil {
			a.log.Info("node registered", "cpu", c.Capacity.Cpu().String(), "memory", c.Capacity.Memory().String())
			return n, nil
		}
		a.log.Warn("register node", "err", err)
		select {
		case <-ctx.Done():
			return nil, ctx.Err()
		case <-time.After(delay):
		}
		delay = min(2*delay, 10*time.Second)
	}
}

// waitPodCIDR waits until the API server gave the node its pod range.
func (a *Agent) waitPodCIDR(ctx context.Context) (string, error) {
	logged := false
	for {
		if n := a.node.Load(); n != nil && n.Spec.PodCIDR != "" {
			return n.Spec.PodCIDR, nil
		}
		if !logged {
			a.log.Info("waiting for the node's pod CIDR")
			logged = true
		}
		select {
		case <-ctx.Done():
			return "", ctx.Err()
		case <-time.After(500 * time.Millisecond):
		}
		n, err := a.client.CoreV1().Nodes().Get(ctx, a.cfg.NodeName, metav1.GetOptions{})
		if err == nil {
			a.node.Store(n)
		}
	}
}

// heartbeat renews the Lease every RenewInterval, and posts the node's
// conditions when what the agent observes differs from what the Node
// says, or every StatusInterval.
func (a *Agent) heartbeat(ctx context.Context, lease *node.Lease) {
	renew := time.NewTicker(a.cfg.RenewInterval)
	defer renew.Stop()
	health := time.NewTicker(2 * time.Second)
	defer health.Stop()
	lastPosted := time.Now()
	for {
		select {
		case <-ctx.Done():
			return
		case <-renew.C:
			if err := lease.Renew(ctx, time.Now()); err != nil && ctx.Err() == nil {
				a.log.Warn("renew node lease", "err", err)
			}
			continue
		case <-health.C:
		case <-a.healthNow:
		}
		h := a.health(ctx)
		var existing []corev1.NodeCondition
		if n := a.node.Load(); n != nil {
			existing = n.Status.Conditions
		}
		changed := !node.SameHealth(existing, h)
		if !changed && time.Since(lastPosted) < a.cfg.StatusInterval {
			continue
		}
		if changed {
			a.log.Info("node conditions changed", "notReady", h.NotReady, "memoryPressure", h.MemoryPressure,
				"diskPressure", h.DiskPressure, "pidPressure", h.PIDPressure)
		}
		conds := node.ConditionsWith(time.Now(), existing, h)
		if err := node.PostConditions(ctx, a.client, a.cfg.NodeName, conds); err != nil {
			if ctx.Err() == nil {
				a.log.Warn("post node conditions", "err", err)
			}
			continue
		}
		if n := a.node.Load(); n != nil {
			n = n.DeepCopy()
			n.Status.Conditions = conds
			a.node.Store(n)
		}
		lastPosted = time.Now()
	}
}

// health observes the node: whether containerd answers (and remembers
// the answer for the pod workers) and which resources run short.
func (a *Agent) health(ctx context.Context) node.Health {
	pctx, cancel := context.WithTimeout(ctx, 2*time.Second)
	err := a.rt.Ping(pctx)
	cancel()
	if err != nil {
		err = fmt.Errorf("container runtime is down: %w", err)
		a.runtimeErr.Store(&err)
	} else {
		a.runtimeErr.Store(nil)
	}
	if err == nil {
		err = a.networkNotReady()
	}
	h := node.Health{NotReady: err}
	h.MemoryPressure, h.DiskPressure, h.PIDPressure = pressure(a.cfg.DataDir)
	return h
}

// networkNotReady says why pods cannot have a network yet (the node has no
// pod range yet), as the kubelet does while CNI is not configured; nil
// once it is.
func (a *Agent) networkNotReady() error {
	if a.networkReady.Load() {
		return nil
	}
	return errors.New("container runtime network not ready: NetworkReady=false reason:NetworkPluginNotReady message:the node has no pod CIDR yet, CNI is not configured")
}

// runtimeHealthy returns why the runtime cannot run pods, or nil.
func (a *Agent) runtimeHealthy() error {
	if p := a.runtimeErr.Load(); p != nil {
		return *p
	}
	return nil
}

// startInformers watches the pods bound to this node and every Service
// (for the containers' environment), and waits for both caches.
func (a *Agent) startInformers(ctx context.Context) error {
	mine := informers.NewSharedInformerFactoryWithOptions(a.client, 0, informers.WithTweakListOptions(func(o *metav1.ListOptions) {
		o.FieldSelector = fields.OneTermEqualSelector("spec.nodeName", a.cfg.NodeName).String()
	}))
	all := informers.NewSharedInformerFactory(a.client, 0)
	a.pods = mine.Core().V1().Pods().Informer()
	a.services = all.Core().V1().Services().Lister()
	_, err := a.pods.AddEventHandler(cache.ResourceEventHandlerFuncs{
		AddFunc:    func(obj any) { a.podChanged(obj) },
		UpdateFunc: func(_, obj any) { a.podChanged(obj) },
		DeleteFunc: func(obj any) { a.podDeleted(obj) },
	})
	if err != nil {
		return fmt.Errorf("watch pods of node %s: %w", a.cfg.NodeName, err)
	}
	mine.Start(ctx.Done())
	all.Start(ctx.Done())
	for typ, ok := range mine.WaitForCacheSync(ctx.Done()) {
		if !ok {
			return fmt.Errorf("sync %v of node %s: %w", typ, a.cfg.NodeName, ctx.Err())
		}
	}
	for typ, ok := range all.WaitForCacheSync(ctx.Done()) {
		if !ok {
			return fmt.Errorf("sync %v: %w", typ, ctx.Err())
		}
	}
	return nil
}
