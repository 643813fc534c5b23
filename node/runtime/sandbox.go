package runtime

import (
	"context"
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"time"

	containerd "github.com/containerd/containerd"
	"github.com/containerd/containerd/containers"
	"github.com/containerd/containerd/errdefs"
	specs "github.com/opencontainers/runtime-spec/specs-go"
)

// SandboxConfig describes a pod's sandbox.
type SandboxConfig struct {
	UID, Namespace, Name, Hostname string
	// HostNetwork: the pod uses the node's network namespace.
	HostNetwork bool
	// ResolvConf, when set, becomes /etc/resolv.conf of each container;
	// otherwise the node's /etc/resolv.conf is used.
	ResolvConf []byte
}

// Sandbox is a pod's sandbox as containerd records it.
type Sandbox struct {
	UID, Namespace, Name, Hostname string
	// NetNS is the path of the pod's network namespace; "" for host network.
	NetNS string
	// IP is the pod's IP; the node's for host network is left to the agent ("").
	IP      string
	Created time.Time
}

// RunSandbox creates the sandbox of pod cfg.UID, or returns the existing one:
// a network namespace joined to the pod network (unless HostNetwork), the
// files bound into its containers, and the record in containerd. On error,
// every step done so far is undone.
func (r *Runtime) RunSandbox(ctx context.Context, cfg SandboxConfig) (Sandbox, error) {
	ctx = r.ns(ctx)
	if cfg.UID == "" {
		return Sandbox{}, errors.New("run sandbox: pod uid is required")
	}
	unlock := r.lockPod(cfg.UID)
	defer unlock()
	if sb, err := r.sandbox(ctx, cfg.UID); err == nil {
		return sb, nil
	} else if !errors.Is(err, ErrNotFound) {
		return Sandbox{}, err
	}
	if cfg.Hostname == "" {
		cfg.Hostname = cfg.Name
	}
	sb := Sandbox{UID: cfg.UID, Namespace: cfg.Namespace, Name: cfg.Name, Hostname: cfg.Hostname}
	var u undo
	ok := false
	defer func() {
		if !ok {
			u.run()
		}
	}()
	fail := func(err error) (Sandbox, error) {
		return Sandbox{}, fmt.Errorf("run sandbox of pod %s/%s (%s): %w", cfg.Namespace, cfg.Name, cfg.UID, err)
	}
	dir := filepath.Join(sandboxesDir(r.cfg), cfg.UID)
	if err := os.MkdirAll(dir, 0o755); err != nil {
		return fail(err)
	}
	u.add(func() { _ = os.RemoveAll(dir) })
	if !cfg.HostNetwork {
		sb.NetNS = filepath.Join(netnsDir(r.cfg), cfg.UID)
		_ = removeNetNS(sb.NetNS) // a leftover of a failed attempt
		if err := createNetNS(sb.NetNS); err != nil {
			return fail(err)
		}
		u.add(func() { _ = removeNetNS(sb.NetNS) })
		ip, err := r.attachNetwork(ctx, sb)
		u.add(func() {
			if err := r.detachNetwork(context.WithoutCancel(ctx), sb); err != nil {
				r.log.Warn("undo CNI add", "pod", cfg.Namespace+"/"+cfg.Name, "error", err)
			}
		})
		if err != nil {
			return fail(err)
		}
		sb.IP = ip
	}
	if err := writeSandboxFiles(dir, cfg, sb.IP); err != nil {
		return fail(err)
	}
	c, err := r.client.NewContainer(ctx, sandboxIDPrefix+cfg.UID,
		containerd.WithContainerLabels(map[string]string{
			labelKind: kindSandbox, labelUID: cfg.UID, labelNamespace: cfg.Namespace, labelName: cfg.Name,
			labelHostname: cfg.Hostname, labelNetNS: sb.NetNS, labelIP: sb.IP,
		}),
		containerd.WithSpec(&specs.Spec{Version: specs.Version}))
	if err != nil {
		return fail(fmt.Errorf("record sandbox: %w", err))
	}
	info, err := c.Info(ctx, containerd.WithoutRefreshedMetadata)
	if err != nil {
		_ = c.Delete(context.WithoutCancel(ctx))
		return fail(fmt.Errorf("record sandbox: %w", err))
	}
	sb.Created = info.CreatedAt
	ok = true
	r.log.Info("sandbox ready", "pod", cfg.Namespace+"/"+cfg.Name, "uid", cfg.UID, "ip", sb.IP)
	return sb, nil
}

// writeSandboxFiles writes hosts, hostname and resolv.conf into dir.
func writeSandboxFiles(dir string, cfg SandboxConfig, ip string) error {
	hosts := "127.0.0.1\tlocalhost\n::1\tlocalhost ip6-localhost ip6-loopback\n"
	if ip != "" {
		hosts += ip + "\t" + cfg.Hostname + "\n"
	}
	resolv := cfg.ResolvConf
	if resolv == nil {
		data, err := os.ReadFile("/etc/resolv.conf")
		if err != nil && !errors.Is(err, os.ErrNotExist) {
			return fmt.Errorf("read node resolv.conf: %w", err)
		}
		resolv = data
	}
	for name, data := range map[string][]byte{
		"hosts": []byte(hosts), "hostname": []byte(cfg.Hostname + "\n"), "resolv.conf": resolv,
	} {
		if err := os.WriteFile(filepath.Join(dir, name), data, 0o644); err != nil {
			return fmt.Errorf("write sandbox %s: %w", name, err)
		}
	}
	return nil
}

// sandbox loads the record of pod uid; ErrNotFound when there is none.
func (r *Runtime) sandbox(ctx context.Context, uid string) (Sandbox, error) {
	c, err := r.client.ContainerService().Get(ctx, sandboxIDPrefix+uid)
	if errdefs.IsNotFound(err) {
		return Sandbox{}, fmt.Errorf("sandbox of pod %s: %w", uid, ErrNotFound)
	}
	if err != nil {
		return Sandbox{}, fmt.Errorf("sandbox of pod %s: %w", uid, err)
	}
	return sandboxFromRecord(c), nil
}

func sandboxFromRecord(c containers.Container) Sandbox {
	l := c.Labels
	return Sandbox{
		UID: l[labelUID], Namespace: l[labelNamespace], Name: l[labelName], Hostname: l[labelHostname],
		NetNS: l[labelNetNS], IP: l[labelIP], Created: c.CreatedAt,
	}
}

// Sandboxes lists every sandbox containerd holds in the runtime's namespace.
func (r *Runtime) Sandboxes(ctx context.Context) ([]Sandbox, error) {
	ctx = r.ns(ctx)
	list, err := r.client.ContainerService().List(ctx, fmt.Sprintf("labels.%q==%s", labelKind, kindSandbox))
	if err != nil {
		return nil, fmt.Errorf("list sandboxes: %w", err)
	}
	out := make([]Sandbox, 0, len(list))
	for _, c := range list {
		out = append(out, sandboxFromRecord(c))
	}
	return out, nil
}

// RemoveSandbox removes pod uid's sandbox: its pod network attachment (and
// IP lease), network namespace, files and record. Containers of the pod must
// be removed first. Missing parts are fine; removing twice is no error.
func (r *Runtime) RemoveSandbox(ctx context.Context, uid string) error {
	ctx = r.ns(ctx)
	unlock := r.lockPod(uid)
	defer unlock()
	sb, err := r.sandbox(ctx, uid)
	if errors.Is(err, ErrNotFound) {
		// no record: still clean files a crashed RunSandbox may have left
		sb = Sandbox{UID: uid, NetNS: filepath.Join(netnsDir(r.cfg), uid)}
		if _, statErr := os.Stat(sb.NetNS); statErr != nil {
			sb.NetNS = ""
		}
	} else if err != nil {
		return err
	}
	if sb.NetNS != "" {
		if err := r.detachNetwork(ctx, sb); err != nil {
			return fmt.Errorf("remove sandbox of pod %s/%s (%s): %w", sb.Namespace, sb.Name, uid, err)
		}
		if err := removeNetNS(sb.NetNS); err != nil {
			return fmt.Errorf("remove sandbox of pod %s/%s (%s): %w", sb.Namespace, sb.Name, uid, err)
		}
	}
	if err := os.RemoveAll(filepath.Join(sandboxesDir(r.cfg), uid)); err != nil {
		return fmt.Errorf("remove sandbox files of pod %s: %w", uid, err)
	}
	if err := removePodCgroups(cgroupRoot, uid); err != nil {
		// not worth keeping the pod for: an empty directory is all it holds
		r.log.Warn("remove pod cgroups", "pod", sb.Namespace+"/"+sb.Name, "uid", uid, "error", err)
	}
	if err := r.client.ContainerService().Delete(ctx, sandboxIDPrefix+uid); err != nil && !errdefs.IsNotFound(err) {
		return fmt.Errorf("remove sandbox record of pod %s: %w", uid, err)
	}
	r.log.Info("sandbox removed", "pod", sb.Namespace+"/"+sb.Name, "uid", uid)
	return nil
}

// cgroupRoot is where the cgroup hierarchies are mounted.
const cgroupRoot = "/sys/fs/cgroup"

// removePodCgroups removes the cgroup directories of pod uid that runc
// leaves when it deletes the pod's containers: their parent, under each
// hierarchy (cgroup v1: root/CONTROLLER/sqlkube/podUID; v2:
// root/sqlkube/podUID). Containers' directories still there (a task
// deleted while containerd was down) go first. Missing ones are fine.
func removePodCgroups(root, uid string) error {
	dirs, err := filepath.Glob(filepath.Join(root, "*", "sqlkube", "pod"+uid))
	if err != nil {
		return fmt.Errorf("cgroups of pod %s: %w", uid, err)
	}
	dirs = append(dirs, filepath.Join(root, "sqlkube", "pod"+uid))
	var errs []error
	for _, dir := range dirs {
		entries, err := os.ReadDir(dir)
		if errors.Is(err, os.ErrNotExist) {
			continue
		}
		for _, e := range entries {
			if e.IsDir() {
				if err := os.Remove(filepath.Join(dir, e.Name())); err != nil && !errors.Is(err, os.ErrNotExist) {
					errs = append(errs, err)
				}
			}
		}
		if err := os.Remove(dir); err != nil && !errors.Is(err, os.ErrNotExist) {
			errs = append(errs, err)
		}
	}
	if err := errors.Join(errs...); err != nil {
		return fmt.Errorf("cgroups of pod %s: %w", uid, err)
	}
	return nil
}
