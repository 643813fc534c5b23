package runtime

import (
	"context"
	"crypto/sha256"
	"encoding/hex"
	"errors"
	"fmt"
	"path/filepath"
	"regexp"
	"slices"
	"strconv"
	"strings"

	containerd "github.com/containerd/containerd"
	"github.com/containerd/containerd/containers"
	"github.com/containerd/containerd/errdefs"
	"github.com/containerd/containerd/oci"
	specs "github.com/opencontainers/runtime-spec/specs-go"
)

// Mount is a bind mount of a host path into a container.
type Mount struct {
	HostPath, ContainerPath string
	ReadOnly                bool
}

// ContainerConfig describes one container of a pod.
type ContainerConfig struct {
	Name    string // the Kubernetes container name
	Attempt int    // restart count
	Image   ImageInfo
	// Command replaces the image's Entrypoint, Args its Cmd; with Command
	// set and Args not, the image's Cmd is ignored (Kubernetes semantics).
	Command, Args []string
	Env           []string // "K=V", overriding the image's
	WorkingDir    string
	Mounts        []Mount
	// TTY allocates a terminal for the container. Stdin and StdinOnce are
	// recorded but not wired: containers' stdin is not attachable yet.
	TTY, Stdin, StdinOnce bool
	RunAsUser, RunAsGroup *int64
	SupplementalGroups    []int64
	ReadOnlyRootfs        bool
	Privileged            bool
	CapAdd, CapDrop       []string // "NET_ADMIN" or "CAP_NET_ADMIN"; "ALL" in CapDrop drops all
	MemoryLimit           int64    // bytes; 0 = none
	CPUQuota, CPUPeriod   int64    // CFS; 0 = none
	CPUShares             uint64
	LogPath               string // file the container's stdout and stderr go to
	// Labels are kept on the containerd container and returned in
	// ContainerStatus; keys must not start with "io.sqlkube.runtime/".
	Labels map[string]string
}

// defaultCaps is the capability set of an unprivileged container, as
// containerd's CRI plugin (and Docker) grant it.
var defaultCaps = []string{
	"CAP_CHOWN", "CAP_DAC_OVERRIDE", "CAP_FSETID", "CAP_FOWNER", "CAP_MKNOD", "CAP_NET_RAW",
	"CAP_SETGID", "CAP_SETUID", "CAP_SETFCAP", "CAP_SETPCAP", "CAP_NET_BIND_SERVICE",
	"CAP_SYS_CHROOT", "CAP_KILL", "CAP_AUDIT_WRITE",
}

const defaultPath = "PATH=/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin"

// containerd's identifier rule: alphanumerics separated by single . _ -
var validID = regexp.MustCompile(`^[A-Za-z0-9]+(?:[._-][A-Za-z0-9]+)*$`)

const maxIDLength = 76

// ContainerID is the containerd id of attempt of container name in pod uid:
// "<uid>-<name>-<attempt>", or, when that is not a valid containerd id,
// "<uid>-<hash of name>-<attempt>".
func ContainerID(uid, name string, attempt int) string {
	id := fmt.Sprintf("%s-%s-%d", uid, name, attempt)
	if len(id) <= maxIDLength && validID.MatchString(id) {
		return id
	}
	sum := sha256.Sum256([]byte(name))
	return fmt.Sprintf("%s-%s-%d", uid, hex.EncodeToString(sum[:])[:12], attempt)
}

// CreateContainer creates (but does not start) a container of sandbox sb:
// its snapshot from the image and its OCI spec, joined to the sandbox's
// network namespace. It returns the container's id. On error nothing is
// left behind.
func (r *Runtime) CreateContainer(ctx context.Context, sb Sandbox, cfg ContainerConfig) (string, error) {
	ctx = r.ns(ctx)
	id := ContainerID(sb.UID, cfg.Name, cfg.Attempt)
	fail := func(err error) (string, error) {
		return "", fmt.Errorf("create container %s of pod %s/%s: %w", cfg.Name, sb.Namespace, sb.Name, err)
	}
	img, err := r.cachedImage(ctx, cfg.Image)
	if err != nil {
		return fail(err)
	}
	labels := map[string]string{}
	for k, v := range cfg.Labels {
		if strings.HasPrefix(k, labelPrefix) {
			return fail(fmt.Errorf("label %s uses the runtime's prefix", k))
		}
		labels[k] = v
	}
	stopSignal := img.info.Config.StopSignal
	if stopSignal == "" {
		stopSignal = "SIGTERM"
	}
	for k, v := range map[string]string{
		labelKind: kindContainer, labelUID: sb.UID, labelNamespace: sb.Namespace, labelName: cfg.Name,
		labelAttempt: strconv.Itoa(cfg.Attempt), labelLogPath: cfg.LogPath, labelImageRef: cfg.Image.Ref,
		labelImageID: img.info.ID, labelStopSignal: stopSignal,
	} {
		labels[k] = v
	}
	spec, err := r.containerSpec(sb, cfg, img.info)
	if err != nil {
		return fail(err)
	}
	var u undo
	ok := false
	defer func() {
		if !ok {
			u.run()
		}
	}()
	// The container record names its snapshot before the snapshot exists,
	// so the snapshot is referenced (safe from garbage collection) from the
	// moment it is prepared.
	c, err := r.client.NewContainer(ctx, id,
		containerd.WithContainerLabels(labels),
		containerd.WithImageName(img.info.Name),
		containerd.WithSnapshotter(r.snapshotter),
		withSnapshotKey(id),
		containerd.WithSpec(spec))
	if err != nil {
		if errdefs.IsAlreadyExists(err) {
			return fail(fmt.Errorf("container %s exists already: %w", id, err))
		}
		return fail(err)
	}
	u.add(func() { _ = c.Delete(context.WithoutCancel(ctx)) })
	sn := r.client.SnapshotService(r.snapshotter)
	_, err = sn.Prepare(ctx, id, img.chainID)
	if errdefs.IsNotFound(err) {
		// pulled or imported without unpacking for our snapshotter
		if err := r.unpack(ctx, img.info.Name); err != nil {
			return fail(err)
		}
		_, err = sn.Prepare(ctx, id, img.chainID)
	}
	if errdefs.IsAlreadyExists(err) {
		_ = sn.Remove(ctx, id) // a leftover of an earlier failed attempt
		_, err = sn.Prepare(ctx, id, img.chainID)
	}
	if err != nil {
		return fail(fmt.Errorf("prepare snapshot: %w", err))
	}
	u.add(func() { _ = sn.Remove(context.WithoutCancel(ctx), id) })
	ok = true
	r.log.Debug("container created", "pod", sb.Namespace+"/"+sb.Name, "container", cfg.Name, "id", id)
	return id, nil
}

func withSnapshotKey(key string) containerd.NewContainerOpts {
	return func(_ context.Context, _ *containerd.Client, c *containers.Container) error {
		c.SnapshotKey = key
		return nil
	}
}

// containerSpec builds the OCI spec of a container without reading anything
// from containerd: the image config comes from the runtime's cache.
func (r *Runtime) containerSpec(sb Sandbox, cfg ContainerConfig, img ImageInfo) (*specs.Spec, error) {
	ctx := r.ns(context.Background())
	id := ContainerID(sb.UID, cfg.Name, cfg.Attempt)
	spec, err := oci.GenerateSpec(ctx, nil, &containers.Container{ID: id})
	if err != nil {
		return nil, fmt.Errorf("default spec: %w", err)
	}
	args := processArgs(img.Config.Entrypoint, img.Config.Cmd, cfg.Command, cfg.Args)
	if len(args) == 0 {
		return nil, errors.New("no command: neither the pod nor the image specify one")
	}
	p := spec.Process
	p.Args = args
	p.Env = mergeEnv(img.Config.Env, cfg.Env)
	p.Cwd = "/"
	if img.Config.WorkingDir != "" {
		p.Cwd = img.Config.WorkingDir
	}
	if cfg.WorkingDir != "" {
		p.Cwd = cfg.WorkingDir
	}
	p.Terminal = cfg.TTY
	if err := setUser(p, img.Config.User, cfg); err != nil {
		return nil, err
	}
	spec.Root.Readonly = cfg.ReadOnlyRootfs

	caps := capabilities(cfg)
	p.Capabilities = &specs.LinuxCapabilities{Bounding: caps, Effective: caps, Permitted: caps}
	if cfg.Privileged {
		spec.Linux.MaskedPaths, spec.Linux.ReadonlyPaths = nil, nil
		spec.Linux.Resources.Devices = []specs.LinuxDeviceCgroup{{Allow: true, Access: "rwm"}}
		for i := range spec.Mounts {
			if spec.Mounts[i].Destination == "/sys" {
				spec.Mounts[i].Options = slices.DeleteFunc(spec.Mounts[i].Options, func(o string) bool { return o == "ro" })
			}
		}
	}

	for i, ns := range spec.Linux.Namespaces {
		if ns.Type == specs.NetworkNamespace {
			spec.Linux.Namespaces[i].Path = sb.NetNS
		}
	}
	if sb.NetNS == "" { // host network: the node's network and UTS namespaces
		spec.Linux.Namespaces = slices.DeleteFunc(spec.Linux.Namespaces, func(ns specs.LinuxNamespace) bool {
			return ns.Type == specs.NetworkNamespace || ns.Type == specs.UTSNamespace
		})
	} else {
		spec.Hostname = sb.Hostname
	}

	dir := filepath.Join(sandboxesDir(r.cfg), sb.UID)
	mounts := []specs.Mount{
		{Destination: "/sys/fs/cgroup", Type: "cgroup", Source: "cgroup",
			Options: []string{"nosuid", "noexec", "nodev", "relatime", "ro"}},
		{Destination: "/etc/hosts", Type: "bind", Source: filepath.Join(dir, "hosts"), Options: []string{"rbind", "rprivate", "rw"}},
		{Destination: "/etc/hostname", Type: "bind", Source: filepath.Join(dir, "hostname"), Options: []string{"rbind", "rprivate", "rw"}},
		{Destination: "/etc/resolv.conf", Type: "bind", Source: filepath.Join(dir, "resolv.conf"), Options: []string{"rbind", "rprivate", "rw"}},
	}
	for _, m := range cfg.Mounts {
		mode := "rw"
		if m.ReadOnly {
			mode = "ro"
		}
		mounts = append(mounts, specs.Mount{Destination: m.ContainerPath, Type: "bind", Source: m.HostPath,
			Options: []string{"rbind", "rprivate", mode}})
	}
	taken := map[string]bool{}
	for _, m := range mounts {
		taken[filepath.Clean(m.Destination)] = true
	}
	spec.Mounts = slices.DeleteFunc(spec.Mounts, func(m specs.Mount) bool { return taken[filepath.Clean(m.Destination)] })
	spec.Mounts = append(spec.Mounts, mounts...)

	spec.Linux.CgroupsPath = "/sqlkube/pod" + sb.UID + "/" + id
	res := spec.Linux.Resources
	if cfg.MemoryLimit > 0 {
		limit := cfg.MemoryLimit
		res.Memory = &specs.LinuxMemory{Limit: &limit}
	}
	if cfg.CPUQuota > 0 || cfg.CPUShares > 0 {
		res.CPU = &specs.LinuxCPU{}
		if cfg.CPUQuota > 0 {
			q := cfg.CPUQuota
			period := uint64(cfg.CPUPeriod)
			if period == 0 {
				period = 100000
			}
			res.CPU.Quota, res.CPU.Period = &q, &period
		}
		if cfg.CPUShares > 0 {
			s := cfg.CPUShares
			res.CPU.Shares = &s
		}
	}
	return spec, nil
}

// processArgs combines image and pod command as Kubernetes does.
func processArgs(entrypoint, cmd, command, args []string) []string {
	switch {
	case len(command) > 0:
		return append(slices.Clone(command), args...)
	case len(args) > 0:
		return append(slices.Clone(entrypoint), args...)
	default:
		return append(slices.Clone(entrypoint), cmd...)
	}
}

// mergeEnv returns the image's env overridden by the pod's, keeping order;
// PATH defaults when neither sets it.
func mergeEnv(image, pod []string) []string {
	var out []string
	index := map[string]int{}
	for _, kv := range append(slices.Clone(image), pod...) {
		k, _, _ := strings.Cut(kv, "=")
		if i, ok := index[k]; ok {
			out[i] = kv
			continue
		}
		index[k] = len(out)
		out = append(out, kv)
	}
	if _, ok := index["PATH"]; !ok {
		out = append([]string{defaultPath}, out...)
	}
	return out
}

// setUser sets the process user from the pod's securityContext, else the
// image's USER (numeric "uid" or "uid:gid" only).
func setUser(p *specs.Process, imageUser string, cfg ContainerConfig) error {
	p.User = specs.User{}
	if imageUser != "" {
		u, g, hasGroup := strings.Cut(imageUser, ":")
		uid, err := strconv.ParseUint(u, 10, 32)
		if err != nil {
			return fmt.Errorf("image user %q: only numeric users are supported", imageUser)
		}
		p.User.UID = uint32(uid)
		if hasGroup {
			gid, err := strconv.ParseUint(g, 10, 32)
			if err != nil {
				return fmt.Errorf("image user %q: only numeric groups are supported", imageUser)
			}
			p.User.GID = uint32(gid)
		}
	}
	if cfg.RunAsUser != nil {
		p.User.UID = uint32(*cfg.RunAsUser)
	}
	if cfg.RunAsGroup != nil {
		p.User.GID = uint32(*cfg.RunAsGroup)
	}
	for _, g := range cfg.SupplementalGroups {
		p.User.AdditionalGids = append(p.User.AdditionalGids, uint32(g))
	}
	return nil
}

// capabilities returns the container's capability set.
func capabilities(cfg ContainerConfig) []string {
	if cfg.Privileged {
		return allCaps()
	}
	set := map[string]bool{}
	for _, c := range defaultCaps {
		set[c] = true
	}
	for _, c := range cfg.CapDrop {
		if strings.EqualFold(c, "ALL") {
			clear(set)
			continue
		}
		delete(set, capName(c))
	}
	for _, c := range cfg.CapAdd {
		if strings.EqualFold(c, "ALL") {
			for _, a := range allCaps() {
				set[a] = true
			}
			continue
		}
		set[capName(c)] = true
	}
	out := make([]string, 0, len(set))
	for c := range set {
		out = append(out, c)
	}
	slices.Sort(out)
	return out
}

func capName(c string) string {
	c = strings.ToUpper(c)
	if !strings.HasPrefix(c, "CAP_") {
		c = "CAP_" + c
	}
	return c
}

func allCaps() []string {
	return []string{
		"CAP_CHOWN", "CAP_DAC_OVERRIDE", "CAP_DAC_READ_SEARCH", "CAP_FOWNER", "CAP_FSETID", "CAP_KILL",
		"CAP_SETGID", "CAP_SETUID", "CAP_SETPCAP", "CAP_LINUX_IMMUTABLE", "CAP_NET_BIND_SERVICE",
		"CAP_NET_BROADCAST", "CAP_NET_ADMIN", "CAP_NET_RAW", "CAP_IPC_LOCK", "CAP_IPC_OWNER",
		"CAP_SYS_MODULE", "CAP_SYS_RAWIO", "CAP_SYS_CHROOT", "CAP_SYS_PTRACE", "CAP_SYS_PACCT",
		"CAP_SYS_ADMIN", "CAP_SYS_BOOT", "CAP_SYS_NICE", "CAP_SYS_RESOURCE", "CAP_SYS_TIME",
		"CAP_SYS_TTY_CONFIG", "CAP_MKNOD", "CAP_LEASE", "CAP_AUDIT_WRITE", "CAP_AUDIT_CONTROL",
		"CAP_SETFCAP", "CAP_MAC_OVERRIDE", "CAP_MAC_ADMIN", "CAP_SYSLOG", "CAP_WAKE_ALARM",
		"CAP_BLOCK_SUSPEND", "CAP_AUDIT_READ",
	}
}
