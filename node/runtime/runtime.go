package runtime

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"os"
	"path/filepath"
	"sync"
	"time"

	containerd "github.com/containerd/containerd"
	"github.com/containerd/containerd/namespaces"
	"github.com/containernetworking/cni/libcni"
)

const (
	defaultNamespace = "sqlkube"
	connectTimeout   = 5 * time.Second

	// Label keys the runtime keeps on containerd containers. The agent's own
	// labels (ContainerConfig.Labels) must not use this prefix.
	labelPrefix     = "io.sqlkube.runtime/"
	labelKind       = labelPrefix + "kind" // "sandbox" or "container"
	labelUID        = labelPrefix + "uid"
	labelNamespace  = labelPrefix + "namespace"
	labelName       = labelPrefix + "name"
	labelHostname   = labelPrefix + "hostname"
	labelNetNS      = labelPrefix + "netns"
	labelIP         = labelPrefix + "ip"
	labelAttempt    = labelPrefix + "attempt"
	labelLogPath    = labelPrefix + "log-path"
	labelImageRef   = labelPrefix + "image-ref"
	labelImageID    = labelPrefix + "image-id"
	labelStopSignal = labelPrefix + "stop-signal"
	labelStartedAt  = labelPrefix + "started-at"
	labelFinishedAt = labelPrefix + "finished-at"
	labelExitCode   = labelPrefix + "exit-code"
	labelReason     = labelPrefix + "reason"
	labelMessage    = labelPrefix + "message"
	kindSandbox     = "sandbox"
	kindContainer   = "container"
	sandboxIDPrefix = "sandbox-"
	overlaySnapshot = "overlayfs"
	nativeSnapshot  = "native"
	snapshotterType = "io.containerd.snapshotter.v1"
	timeLayout      = time.RFC3339Nano
)

// Errors callers test with errors.Is.
var (
	// ErrNotFound: no such container or sandbox in the runtime's namespace.
	ErrNotFound = errors.New("not found")
	// ErrImageNotFound: the registry does not know the image (404, unknown manifest).
	ErrImageNotFound = errors.New("image not found")
	// ErrRegistryUnavailable: the registry could not be reached or failed (refused, DNS, 5xx).
	ErrRegistryUnavailable = errors.New("registry unavailable")
	// ErrImageUnauthorized: the registry refused the credentials (401, 403).
	ErrImageUnauthorized = errors.New("image pull unauthorized")
)

// Config configures a Runtime.
type Config struct {
	// Address is containerd's socket (required).
	Address string
	// Namespace is the containerd namespace holding everything the runtime
	// creates; default "sqlkube".
	Namespace string
	// StateDir is the agent's data directory (required): network
	// namespaces under StateDir/netns, CNI configuration, cache and IPAM
	// leases under StateDir/cni, per-sandbox files under StateDir/sandboxes.
	StateDir string
	// CNIBinDirs are searched for CNI plugins; default those of
	// /usr/lib/cni and /opt/cni/bin that exist.
	CNIBinDirs []string
	// Bridge is the Linux bridge the pods of this runtime's network hang
	// on, and their gateway; default "sqlkube0". Two agents on one machine
	// (tests) need a bridge each.
	Bridge string
	// LogDriver is the absolute path of an executable speaking containerd's
	// binary logging protocol, started by the shim with "--path LOGPATH".
	// Empty: stdout and stderr are appended raw to LogPath (tests only).
	LogDriver string
	// Logger receives the runtime's logs; default slog.Default().
	Logger *slog.Logger
}

// Runtime runs pods through containerd and CNI. Create it with New.
type Runtime struct {
	cfg         Config
	client      *containerd.Client
	log         *slog.Logger
	snapshotter string
	cni         *libcni.CNIConfig
	loopback    *libcni.NetworkConfigList

	mu       sync.Mutex
	network  *libcni.NetworkConfigList // nil until ConfigureNetwork (or a saved conflist)
	netCIDR  string
	images   map[string]imageEntry // by normalized name and by ImageInfo.ID
	podLocks map[string]*podLock
}

type podLock struct {
	mu   sync.Mutex
	refs int
}

// New connects to containerd at cfg.Address and prepares StateDir. It fails
// when containerd cannot be reached within a few seconds.
func New(ctx context.Context, cfg Config) (*Runtime, error) {
	if cfg.Address == "" {
		return nil, errors.New("runtime: containerd address is required")
	}
	if cfg.StateDir == "" {
		return nil, errors.New("runtime: state dir is required")
	}
	if cfg.Namespace == "" {
		cfg.Namespace = defaultNamespace
	}
	if cfg.Bridge == "" {
		cfg.Bridge = defaultBridge
	}
	if cfg.Logger == nil {
		cfg.Logger = slog.Default()
	}
	if cfg.CNIBinDirs == nil {
		for _, d := range []string{"/usr/lib/cni", "/opt/cni/bin"} {
			if fi, err := os.Stat(d); err == nil && fi.IsDir() {
				cfg.CNIBinDirs = append(cfg.CNIBinDirs, d)
			}
		}
	}
	if cfg.LogDriver != "" && !filepath.IsAbs(cfg.LogDriver) {
		return nil, fmt.Errorf("runtime: log driver %q is not an absolute path", cfg.LogDriver)
	}
	abs, err := filepath.Abs(cfg.StateDir)
	if err != nil {
		return nil, fmt.Errorf("runtime: state dir %s: %w", cfg.StateDir, err)
	}
	cfg.StateDir = abs
	for _, d := range []string{netnsDir(cfg), cniConfDir(cfg), cniCacheDir(cfg), cniIPAMDir(cfg), sandboxesDir(cfg)} {
		if err := os.MkdirAll(d, 0o700); err != nil {
			return nil, fmt.Errorf("runtime: create %s: %w", d, err)
		}
	}
	client, err := containerd.New(cfg.Address,
		containerd.WithDefaultNamespace(cfg.Namespace), containerd.WithTimeout(connectTimeout))
	if err != nil {
		return nil, fmt.Errorf("runtime: connect to containerd at %s: %w", cfg.Address, err)
	}
	r := &Runtime{
		cfg:      cfg,
		client:   client,
		log:      cfg.Logger,
		cni:      libcni.NewCNIConfigWithCacheDir(cfg.CNIBinDirs, cniCacheDir(cfg), nil),
		images:   map[string]imageEntry{},
		podLocks: map[string]*podLock{},
	}
	ctx = r.ns(ctx)
	if err := r.Ping(ctx); err != nil {
		client.Close()
		return nil, err
	}
	if r.snapshotter, err = r.pickSnapshotter(ctx); err != nil {
		client.Close()
		return nil, err
	}
	if r.loopback, err = loopbackConfig(); err != nil {
		client.Close()
		return nil, err
	}
	if err := r.loadNetwork(); err != nil {
		client.Close()
		return nil, err
	}
	return r, nil
}

// Close closes the connection to containerd. Containers keep running.
func (r *Runtime) Close() error {
	return r.client.Close()
}

// Ping reports whether containerd is reachable and serving.
func (r *Runtime) Ping(ctx context.Context) error {
	if _, err := r.client.Version(r.ns(ctx)); err != nil {
		return fmt.Errorf("containerd at %s: %w", r.cfg.Address, err)
	}
	return nil
}

// Version returns containerd's version as the node status shows it,
// e.g. "containerd://1.6.20~ds1".
func (r *Runtime) Version(ctx context.Context) (string, error) {
	v, err := r.client.Version(r.ns(ctx))
	if err != nil {
		return "", fmt.Errorf("containerd version: %w", err)
	}
	return "containerd://" + v.Version, nil
}

// ns puts the runtime's containerd namespace into ctx.
func (r *Runtime) ns(ctx context.Context) context.Context {
	return namespaces.WithNamespace(ctx, r.cfg.Namespace)
}

// pickSnapshotter returns overlayfs when containerd loaded it, else native.
func (r *Runtime) pickSnapshotter(ctx context.Context) (string, error) {
	resp, err := r.client.IntrospectionService().Plugins(ctx, []string{
		fmt.Sprintf("type==%s,id==%s", snapshotterType, overlaySnapshot)})
	if err != nil {
		return "", fmt.Errorf("list containerd snapshotters: %w", err)
	}
	for _, p := range resp.Plugins {
		if p.InitErr == nil {
			return overlaySnapshot, nil
		}
		r.log.Warn("overlayfs snapshotter unavailable, using native", "error", p.InitErr.Message)
	}
	return nativeSnapshot, nil
}

// lockPod serializes operations on one pod's sandbox.
func (r *Runtime) lockPod(uid string) func() {
	r.mu.Lock()
	l := r.podLocks[uid]
	if l == nil {
		l = &podLock{}
		r.podLocks[uid] = l
	}
	l.refs++
	r.mu.Unlock()
	l.mu.Lock()
	return func() {
		l.mu.Unlock()
		r.mu.Lock()
		l.refs--
		if l.refs == 0 {
			delete(r.podLocks, uid)
		}
		r.mu.Unlock()
	}
}

// undo collects the reversal of each step of a multi-step operation; run
// executes them in reverse order when the operation fails.
type undo []func()

func (u *undo) add(f func()) { *u = append(*u, f) }

func (u *undo) run() {
	for i := len(*u) - 1; i >= 0; i-- {
		(*u)[i]()
	}
}

func netnsDir(cfg Config) string     { return filepath.Join(cfg.StateDir, "netns") }
func cniConfDir(cfg Config) string   { return filepath.Join(cfg.StateDir, "cni", "net.d") }
func cniCacheDir(cfg Config) string  { return filepath.Join(cfg.StateDir, "cni", "cache") }
func cniIPAMDir(cfg Config) string   { return filepath.Join(cfg.StateDir, "cni", "ipam") }
func sandboxesDir(cfg Config) string { return filepath.Join(cfg.StateDir, "sandboxes") }
