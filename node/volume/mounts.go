package volume

import (
	"errors"
	"fmt"
	"io/fs"
	"os"
	"path/filepath"
	"strings"

	corev1 "k8s.io/api/core/v1"

	"github.com/sqlkube/sqlkube/node/envvar"
)

// Mount is one bind mount of a host path into a container.
type Mount struct {
	HostPath, ContainerPath string
	ReadOnly                bool
}

// Mounts returns the host paths to bind-mount for c's volumeMounts, in
// order. subPath and subPathExpr select a path inside the volume, which
// must stay inside it (no "..", not absolute, no symlink leading out) and
// is created as a directory in an emptyDir or hostPath volume when
// missing. configMap, secret, downwardAPI and projected volumes are always
// read-only. A mount of a volume the pod lacks is an error.
//
// subPathExpr's $(VAR) references are expanded with the container's env
// entries that need no API read: literal values and metadata/spec
// fieldRefs. Use MountsWithEnv to expand against the full environment.
func (m *Manager) Mounts(pod *corev1.Pod, c *corev1.Container) ([]Mount, error) {
	return m.MountsWithEnv(pod, c, localEnv(pod, c))
}

// MountsWithEnv is Mounts with subPathExpr expanded against env, the
// container's environment as "NAME=value" (envvar.Resolve's result).
func (m *Manager) MountsWithEnv(pod *corev1.Pod, c *corev1.Container, env []string) ([]Mount, error) {
	vars := make(map[string]string, len(env))
	for _, kv := range env {
		k, v, _ := strings.Cut(kv, "=")
		vars[k] = v
	}
	lookup := func(name string) (string, bool) { v, ok := vars[name]; return v, ok }

	volumes := make(map[string]*corev1.Volume, len(pod.Spec.Volumes))
	for i := range pod.Spec.Volumes {
		volumes[pod.Spec.Volumes[i].Name] = &pod.Spec.Volumes[i]
	}
	out := make([]Mount, 0, len(c.VolumeMounts))
	for _, vm := range c.VolumeMounts {
		mnt, err := m.mount(pod, volumes[vm.Name], vm, lookup)
		if err != nil {
			return nil, fmt.Errorf("mount volume %q in container %s of pod %s/%s: %w", vm.Name, c.Name, pod.Namespace, pod.Name, err)
		}
		out = append(out, mnt)
	}
	return out, nil
}

func (m *Manager) mount(pod *corev1.Pod, v *corev1.Volume, vm corev1.VolumeMount, lookup func(string) (string, bool)) (Mount, error) {
	if v == nil {
		return Mount{}, errors.New("the pod has no such volume")
	}
	var (
		root     string
		readOnly = vm.ReadOnly
		writable bool // subPath directories may be created
	)
	switch {
	case v.HostPath != nil:
		root, writable = v.HostPath.Path, true
	case v.EmptyDir != nil:
		root, writable = m.volumeDir(pod.UID, v.Name), true
	case v.ConfigMap != nil, v.Secret != nil, v.DownwardAPI != nil, v.Projected != nil:
		root, readOnly = m.volumeDir(pod.UID, v.Name), true
	default:
		return Mount{}, unsupportedf("%s volumes are not supported", sourceKind(v))
	}
	sub := vm.SubPath
	if vm.SubPathExpr != "" {
		sub = envvar.Expand(vm.SubPathExpr, lookup)
	}
	host := root
	if sub != "" {
		var err error
		if host, err = resolveSubPath(root, sub, writable); err != nil {
			return Mount{}, err
		}
	}
	return Mount{HostPath: host, ContainerPath: vm.MountPath, ReadOnly: readOnly}, nil
}

// resolveSubPath returns the real path of sub inside root, walking it one
// element at a time so that no symlink leads out of root, and creating
// missing directories when create is set.
func resolveSubPath(root, sub string, create bool) (string, error) {
	if filepath.IsAbs(sub) {
		return "", fmt.Errorf("subPath %q must be relative", sub)
	}
	parts := strings.Split(filepath.ToSlash(sub), "/")
	for _, p := range parts {
		if p == ".." {
			return "", fmt.Errorf("subPath %q must not contain '..'", sub)
		}
	}
	realRoot, err := filepath.EvalSymlinks(root)
	if err != nil {
		return "", fmt.Errorf("volume path %s: %w", root, err)
	}
	inside := func(p string) bool { return p == realRoot || strings.HasPrefix(p, realRoot+"/") }
	cur := realRoot
	for i, p := range parts {
		if p == "" || p == "." {
			continue
		}
		next := filepath.Join(cur, p)
		fi, err := os.Lstat(next)
		switch {
		case errors.Is(err, fs.ErrNotExist) && create:
			if err := os.Mkdir(next, 0o755); err != nil {
				return "", fmt.Errorf("create subPath %q: %w", sub, err)
			}
			cur = next
			continue
		case errors.Is(err, fs.ErrNotExist):
			return "", fmt.Errorf("subPath %q does not exist in the volume", sub)
		case err != nil:
			return "", fmt.Errorf("subPath %q: %w", sub, err)
		}
		if fi.Mode()&fs.ModeSymlink != 0 {
			target, err := filepath.EvalSymlinks(next)
			if err != nil {
				return "", fmt.Errorf("subPath %q: %w", sub, err)
			}
			if !inside(target) {
				return "", fmt.Errorf("subPath %q leads outside the volume (%s)", sub, target)
			}
			next = target
			if fi, err = os.Stat(next); err != nil {
				return "", fmt.Errorf("subPath %q: %w", sub, err)
			}
		}
		if !fi.IsDir() && i < len(parts)-1 {
			return "", fmt.Errorf("subPath %q: %s is not a directory", sub, strings.Join(parts[:i+1], "/"))
		}
		cur = next
	}
	return cur, nil
}

// localEnv is the part of c's environment that needs no API read, for
// subPathExpr: literal values (expanded in order) and fieldRefs to the
// pod's metadata and spec.
func localEnv(pod *corev1.Pod, c *corev1.Container) []string {
	vars := map[string]string{}
	lookup := func(name string) (string, bool) { v, ok := vars[name]; return v, ok }
	var env []string
	for _, e := range c.Env {
		var v string
		switch {
		case e.Value != "":
			v = envvar.Expand(e.Value, lookup)
		case e.ValueFrom != nil && e.ValueFrom.FieldRef != nil:
			var err error
			switch p := e.ValueFrom.FieldRef.FieldPath; p {
			case "spec.nodeName":
				v = pod.Spec.NodeName
			case "spec.serviceAccountName":
				v = pod.Spec.ServiceAccountName
			default:
				if v, err = envvar.FieldValue(pod, p); err != nil {
					continue
				}
			}
		case e.ValueFrom != nil:
			continue
		}
		vars[e.Name] = v
		env = append(env, e.Name+"="+v)
	}
	return env
}
