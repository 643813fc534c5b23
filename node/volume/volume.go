package volume

import (
	"context"
	"errors"
	"fmt"
	"io/fs"
	"log/slog"
	"os"
	"path/filepath"
	"reflect"
	"slices"
	"strings"
	"sync"
	"time"

	corev1 "k8s.io/api/core/v1"
	"k8s.io/apimachinery/pkg/types"
	"k8s.io/client-go/kubernetes"
)

// ErrMissingSource is wrapped by errors about a ConfigMap, Secret or key a
// volume needs that does not exist and is not optional. The error's text
// names it ("configmap \"site\" not found").
var ErrMissingSource = errors.New("volume source missing")

// ErrUnsupported is wrapped by errors about a volume type or source this
// node does not implement (persistentVolumeClaim, csi, nfs, ...).
var ErrUnsupported = errors.New("volume type not supported")

// kindError carries a message and wraps a sentinel and, optionally, a cause.
type kindError struct {
	kind  error
	msg   string
	cause error
}

func (e *kindError) Error() string { return e.msg }

func (e *kindError) Unwrap() []error {
	if e.cause == nil {
		return []error{e.kind}
	}
	return []error{e.kind, e.cause}
}

func missingf(cause error, format string, args ...any) error {
	return &kindError{kind: ErrMissingSource, msg: fmt.Sprintf(format, args...), cause: cause}
}

func unsupportedf(format string, args ...any) error {
	return &kindError{kind: ErrUnsupported, msg: fmt.Sprintf(format, args...)}
}

// Config configures a Manager.
type Config struct {
	// Client reads ConfigMaps and Secrets and creates service account
	// tokens (TokenRequest). Required.
	Client kubernetes.Interface
	// Root holds one directory per pod: Root/<pod UID>/volumes/<volume>.
	// Required; created when missing.
	Root string
	// NodeAllocatable is used for downwardAPI resourceFieldRef limits a
	// container does not set.
	NodeAllocatable corev1.ResourceList
	// Logger defaults to slog.Default().
	Logger *slog.Logger
	// Now is the clock for token refreshes and version directory names;
	// default time.Now.
	Now func() time.Time
}

// Manager sets up, describes and removes pods' volumes under Root.
type Manager struct {
	cfg Config
	log *slog.Logger

	mu     sync.Mutex
	pods   map[types.UID]*sync.Mutex // serialises the calls for one pod
	tokens map[tokenKey]*token
	// beforeSwap is passed to every atomic write; for tests.
	beforeSwap func()
	// memorySecrets: secret and projected volumes live on a tmpfs, so their
	// content never reaches the disk. Needs root to mount.
	memorySecrets bool
}

// New returns a Manager for cfg, creating cfg.Root.
func New(cfg Config) (*Manager, error) {
	if cfg.Client == nil {
		return nil, errors.New("volume manager: Client is required")
	}
	if cfg.Root == "" {
		return nil, errors.New("volume manager: Root is required")
	}
	root, err := filepath.Abs(cfg.Root)
	if err != nil {
		return nil, fmt.Errorf("volume manager: root %s: %w", cfg.Root, err)
	}
	cfg.Root = root
	if cfg.Logger == nil {
		cfg.Logger = slog.Default()
	}
	if cfg.Now == nil {
		cfg.Now = time.Now
	}
	// Pod directories hold secrets: only root may traverse them on the host.
	// Containers see their volumes through bind mounts and are not affected.
	if err := os.MkdirAll(cfg.Root, 0o750); err != nil {
		return nil, fmt.Errorf("volume manager: create root %s: %w", cfg.Root, err)
	}
	return &Manager{
		cfg:    cfg,
		log:    cfg.Logger,
		pods:   map[types.UID]*sync.Mutex{},
		tokens: map[tokenKey]*token{},
		// Like the kubelet; without root (development, the simulator) they
		// are written to disk under Root instead.
		memorySecrets: os.Geteuid() == 0,
	}, nil
}

// podLock locks the calls for one pod and returns the unlock function.
func (m *Manager) podLock(uid types.UID) func() {
	m.mu.Lock()
	l, ok := m.pods[uid]
	if !ok {
		l = &sync.Mutex{}
		m.pods[uid] = l
	}
	m.mu.Unlock()
	l.Lock()
	return l.Unlock
}

// podDir is Root/<uid>.
func (m *Manager) podDir(uid types.UID) string {
	return filepath.Join(m.cfg.Root, string(uid))
}

// volumeDir is Root/<uid>/volumes/<name>.
func (m *Manager) volumeDir(uid types.UID, name string) string {
	return filepath.Join(m.cfg.Root, string(uid), "volumes", name)
}

// Setup creates or refreshes every volume of pod.Spec.Volumes. It is
// idempotent: files are rewritten only when their content changed and
// tokens are requested only when due. Every volume is attempted; the
// errors of those that failed are joined, each naming its volume and the
// pod, and wrap ErrMissingSource or ErrUnsupported where they apply.
func (m *Manager) Setup(ctx context.Context, pod *corev1.Pod) error {
	if pod.UID == "" {
		return fmt.Errorf("set up volumes of pod %s/%s: pod has no UID", pod.Namespace, pod.Name)
	}
	if err := validName(string(pod.UID)); err != nil {
		return fmt.Errorf("set up volumes of pod %s/%s: uid: %w", pod.Namespace, pod.Name, err)
	}
	defer m.podLock(pod.UID)()
	volumes := filepath.Join(m.podDir(pod.UID), "volumes")
	if err := os.MkdirAll(volumes, 0o750); err != nil {
		return fmt.Errorf("set up volumes of pod %s/%s: %w", pod.Namespace, pod.Name, err)
	}
	var errs []error
	for i := range pod.Spec.Volumes {
		v := &pod.Spec.Volumes[i]
		if err := m.setupVolume(ctx, pod, v); err != nil {
			errs = append(errs, fmt.Errorf("set up volume %q of pod %s/%s: %w", v.Name, pod.Namespace, pod.Name, err))
		}
	}
	return errors.Join(errs...)
}

func (m *Manager) setupVolume(ctx context.Context, pod *corev1.Pod, v *corev1.Volume) error {
	if err := validName(v.Name); err != nil {
		return err
	}
	dir := m.volumeDir(pod.UID, v.Name)
	switch {
	case v.EmptyDir != nil:
		return m.setupEmptyDir(dir, v.EmptyDir)
	case v.HostPath != nil:
		return checkHostPath(v.HostPath)
	case v.ConfigMap != nil, v.Secret != nil, v.DownwardAPI != nil, v.Projected != nil:
		payload, err := m.payload(ctx, pod, v)
		if err != nil {
			return err
		}
		if m.memorySecrets && (v.Secret != nil || v.Projected != nil) {
			if err := os.MkdirAll(dir, 0o755); err != nil {
				return err
			}
			if err := mountTmpfs(dir, 0, 0o755); err != nil {
				return err
			}
		}
		w := atomicWriter{dir: dir, now: m.cfg.Now(), beforeSwap: m.beforeSwap}
		changed, err := w.write(payload)
		if err != nil {
			return err
		}
		if changed {
			m.log.Debug("volume updated", "pod", pod.Namespace+"/"+pod.Name, "volume", v.Name, "files", len(payload))
		}
		return nil
	}
	return unsupportedf("%s volumes are not supported", sourceKind(v))
}

// setupEmptyDir creates an emptyDir, mounting a tmpfs for medium Memory.
func (m *Manager) setupEmptyDir(dir string, src *corev1.EmptyDirVolumeSource) error {
	switch src.Medium {
	case corev1.StorageMediumDefault, corev1.StorageMediumMemory:
	default:
		return unsupportedf("emptyDir medium %q is not supported", src.Medium)
	}
	if err := os.MkdirAll(dir, 0o777); err != nil {
		return err
	}
	if src.Medium == corev1.StorageMediumMemory {
		var size int64
		if src.SizeLimit != nil {
			size = src.SizeLimit.Value()
		}
		if err := mountTmpfs(dir, size, 0o777); err != nil {
			return err
		}
	}
	// Any container user may write an emptyDir, as with the kubelet.
	return os.Chmod(dir, 0o777)
}

// sourceKind names a volume's source as in the API ("persistentVolumeClaim").
func sourceKind(v *corev1.Volume) string {
	src := reflect.ValueOf(v.VolumeSource)
	for i := 0; i < src.NumField(); i++ {
		f := src.Field(i)
		if f.Kind() == reflect.Pointer && !f.IsNil() {
			name, _, _ := strings.Cut(src.Type().Field(i).Tag.Get("json"), ",")
			return name
		}
	}
	return "unknown"
}

// validName refuses names that are not a single path element.
func validName(name string) error {
	if name == "" || name == "." || name == ".." || strings.ContainsAny(name, "/\x00") {
		return fmt.Errorf("invalid name %q", name)
	}
	return nil
}

// Cleanup unmounts every mount below Root/<podUID> (tmpfs emptyDirs) and
// removes the directory and the pod's cached tokens. It is idempotent; a
// mount that cannot be removed is an error and nothing is deleted, so a
// mounted file system is never emptied by mistake.
func (m *Manager) Cleanup(ctx context.Context, podUID types.UID) error {
	if err := validName(string(podUID)); err != nil {
		return fmt.Errorf("clean up volumes of pod %s: %w", podUID, err)
	}
	unlock := m.podLock(podUID)
	defer func() {
		unlock()
		m.mu.Lock()
		delete(m.pods, podUID)
		m.mu.Unlock()
	}()
	dir := m.podDir(podUID)
	mounts, err := mountsUnder(dir)
	if err != nil {
		return fmt.Errorf("clean up volumes of pod %s: %w", podUID, err)
	}
	// Deepest first, so nested mounts come off before their parents.
	slices.SortFunc(mounts, func(a, b string) int { return len(b) - len(a) })
	for _, mp := range mounts {
		if err := ctx.Err(); err != nil {
			return fmt.Errorf("clean up volumes of pod %s: %w", podUID, err)
		}
		if err := unmount(mp); err != nil {
			return fmt.Errorf("clean up volumes of pod %s: unmount %s: %w", podUID, mp, err)
		}
	}
	if err := os.RemoveAll(dir); err != nil {
		return fmt.Errorf("clean up volumes of pod %s: %w", podUID, err)
	}
	m.mu.Lock()
	for k := range m.tokens {
		if k.pod == podUID {
			delete(m.tokens, k)
		}
	}
	m.mu.Unlock()
	return nil
}

// Pods returns the UIDs of the pod directories under Root, so the agent can
// clean up pods that no longer exist after a restart.
func (m *Manager) Pods() ([]types.UID, error) {
	entries, err := os.ReadDir(m.cfg.Root)
	if errors.Is(err, fs.ErrNotExist) {
		return nil, nil
	}
	if err != nil {
		return nil, fmt.Errorf("list pod directories in %s: %w", m.cfg.Root, err)
	}
	var uids []types.UID
	for _, e := range entries {
		if e.IsDir() {
			uids = append(uids, types.UID(e.Name()))
		}
	}
	return uids, nil
}
