package volume

import (
	"errors"
	"fmt"
	"io/fs"
	"os"
	"path/filepath"

	corev1 "k8s.io/api/core/v1"
)

// checkHostPath checks a hostPath volume's path against its type, creating
// it for DirectoryOrCreate and FileOrCreate as the kubelet does.
func checkHostPath(src *corev1.HostPathVolumeSource) error {
	p := src.Path
	if !filepath.IsAbs(p) {
		return fmt.Errorf("hostPath %q is not absolute", p)
	}
	typ := corev1.HostPathUnset
	if src.Type != nil {
		typ = *src.Type
	}
	fi, err := os.Stat(p)
	exists := err == nil
	if err != nil && !errors.Is(err, fs.ErrNotExist) {
		return fmt.Errorf("hostPath %s: %w", p, err)
	}
	fail := func(what string) error {
		return fmt.Errorf("hostPath type check failed: %s is not a %s", p, what)
	}
	switch typ {
	case corev1.HostPathUnset:
		return nil
	case corev1.HostPathDirectoryOrCreate:
		if !exists {
			if err := os.MkdirAll(p, 0o755); err != nil {
				return fmt.Errorf("create hostPath directory %s: %w", p, err)
			}
			return nil
		}
		if !fi.IsDir() {
			return fail("directory")
		}
	case corev1.HostPathDirectory:
		if !exists || !fi.IsDir() {
			return fail("directory")
		}
	case corev1.HostPathFileOrCreate:
		if !exists {
			f, err := os.OpenFile(p, os.O_CREATE|os.O_RDONLY, 0o644)
			if err != nil {
				return fmt.Errorf("create hostPath file %s: %w", p, err)
			}
			return f.Close()
		}
		if !fi.Mode().IsRegular() {
			return fail("file")
		}
	case corev1.HostPathFile:
		if !exists || !fi.Mode().IsRegular() {
			return fail("file")
		}
	case corev1.HostPathSocket:
		if !exists || fi.Mode()&fs.ModeSocket == 0 {
			return fail("socket file")
		}
	case corev1.HostPathCharDev:
		if !exists || fi.Mode()&fs.ModeCharDevice == 0 {
			return fail("character device")
		}
	case corev1.HostPathBlockDev:
		if !exists || fi.Mode()&fs.ModeDevice == 0 || fi.Mode()&fs.ModeCharDevice != 0 {
			return fail("block device")
		}
	default:
		return unsupportedf("hostPath type %q is not supported", typ)
	}
	return nil
}
