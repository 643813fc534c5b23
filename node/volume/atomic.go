package volume

import (
	"bytes"
	"errors"
	"fmt"
	"io/fs"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"time"
)

const (
	dataLink    = "..data"
	dataLinkTmp = "..data_tmp"
	// tsLayout names the directories holding one version of the files.
	tsLayout = "..2006_01_02_15_04_05."
)

// file is the content and permission bits of one projected file.
type file struct {
	data []byte
	mode fs.FileMode
}

// atomicWriter writes a set of files into a directory so that readers see
// either the old or the new set, never a mix.
type atomicWriter struct {
	dir string
	now time.Time
	// beforeSwap, when set, runs after the new files are written and before
	// ..data is swapped; tests use it to look at the directory mid-update.
	beforeSwap func()
}

// write makes dir hold exactly payload (paths relative to dir). It reports
// whether anything was written.
func (w atomicWriter) write(payload map[string]file) (bool, error) {
	top, err := validatePayload(payload)
	if err != nil {
		return false, err
	}
	if err := os.MkdirAll(w.dir, 0o755); err != nil {
		return false, err
	}
	old, err := os.Readlink(filepath.Join(w.dir, dataLink))
	if err != nil && !errors.Is(err, fs.ErrNotExist) {
		return false, err
	}
	if old != "" {
		same, err := sameContent(filepath.Join(w.dir, old), payload)
		if err != nil {
			return false, err
		}
		if same {
			return false, w.linkVisible(top)
		}
	}

	tsDir, err := os.MkdirTemp(w.dir, w.now.UTC().Format(tsLayout))
	if err != nil {
		return false, err
	}
	if err := w.fill(tsDir, payload); err != nil {
		os.RemoveAll(tsDir)
		return false, err
	}
	if w.beforeSwap != nil {
		w.beforeSwap()
	}
	tmp := filepath.Join(w.dir, dataLinkTmp)
	if err := os.Remove(tmp); err != nil && !errors.Is(err, fs.ErrNotExist) {
		os.RemoveAll(tsDir)
		return false, err
	}
	if err := os.Symlink(filepath.Base(tsDir), tmp); err != nil {
		os.RemoveAll(tsDir)
		return false, err
	}
	if err := os.Rename(tmp, filepath.Join(w.dir, dataLink)); err != nil {
		os.Remove(tmp)
		os.RemoveAll(tsDir)
		return false, err
	}
	if err := w.linkVisible(top); err != nil {
		return true, err
	}
	return true, w.prune(filepath.Base(tsDir), top)
}

// fill writes payload into the fresh directory tsDir.
func (w atomicWriter) fill(tsDir string, payload map[string]file) error {
	if err := os.Chmod(tsDir, 0o755); err != nil {
		return err
	}
	for p, f := range payload {
		full := filepath.Join(tsDir, p)
		if err := os.MkdirAll(filepath.Dir(full), 0o755); err != nil {
			return err
		}
		if err := os.WriteFile(full, f.data, f.mode); err != nil {
			return err
		}
		// WriteFile's mode is filtered by the umask.
		if err := os.Chmod(full, f.mode); err != nil {
			return err
		}
	}
	return nil
}

// linkVisible makes each top-level name a symlink into ..data.
func (w atomicWriter) linkVisible(top []string) error {
	for _, name := range top {
		p := filepath.Join(w.dir, name)
		target := filepath.Join(dataLink, name)
		fi, err := os.Lstat(p)
		switch {
		case err == nil && fi.Mode()&fs.ModeSymlink != 0:
			if t, err := os.Readlink(p); err == nil && t == target {
				continue
			}
			if err := os.Remove(p); err != nil {
				return err
			}
		case err == nil:
			// Something else took the name (a directory a subPath mount
			// created, say); the projected file wins.
			if err := os.RemoveAll(p); err != nil {
				return err
			}
		case !errors.Is(err, fs.ErrNotExist):
			return err
		}
		if err := os.Symlink(target, p); err != nil {
			return err
		}
	}
	return nil
}

// prune removes older versions and the visible links of names the payload
// no longer has.
func (w atomicWriter) prune(current string, top []string) error {
	entries, err := os.ReadDir(w.dir)
	if err != nil {
		return err
	}
	var errs []error
	for _, e := range entries {
		name := e.Name()
		switch {
		case name == dataLink || name == current:
		case strings.HasPrefix(name, ".."):
			if e.IsDir() {
				errs = append(errs, os.RemoveAll(filepath.Join(w.dir, name)))
			}
		case e.Type()&fs.ModeSymlink != 0 && !slices.Contains(top, name):
			errs = append(errs, os.Remove(filepath.Join(w.dir, name)))
		}
	}
	return errors.Join(errs...)
}

// validatePayload checks the payload's paths and returns its sorted
// top-level names.
func validatePayload(payload map[string]file) ([]string, error) {
	var top []string
	for p := range payload {
		if p == "" || filepath.IsAbs(p) || filepath.Clean(p) != p || p == "." {
			return nil, fmt.Errorf("invalid file path %q", p)
		}
		parts := strings.Split(p, "/")
		for _, part := range parts {
			if part == ".." {
				return nil, fmt.Errorf("invalid file path %q: must not contain '..'", p)
			}
		}
		if strings.HasPrefix(parts[0], "..") {
			return nil, fmt.Errorf("invalid file path %q: must not start with '..'", p)
		}
		for i := 1; i < len(parts); i++ {
			if _, ok := payload[strings.Join(parts[:i], "/")]; ok {
				return nil, fmt.Errorf("invalid file path %q: %q is a file", p, strings.Join(parts[:i], "/"))
			}
		}
		if !slices.Contains(top, parts[0]) {
			top = append(top, parts[0])
		}
	}
	slices.Sort(top)
	return top, nil
}

// sameContent reports whether dir holds exactly the payload's files with
// the same content and permissions.
func sameContent(dir string, payload map[string]file) (bool, error) {
	seen := 0
	same := true
	err := filepath.WalkDir(dir, func(p string, d fs.DirEntry, err error) error {
		if err != nil {
			return err
		}
		if d.IsDir() {
			return nil
		}
		rel, err := filepath.Rel(dir, p)
		if err != nil {
			return err
		}
		f, ok := payload[rel]
		if !ok || !d.Type().IsRegular() {
			same = false
			return filepath.SkipAll
		}
		info, err := d.Info()
		if err != nil {
			return err
		}
		data, err := os.ReadFile(p)
		if err != nil {
			return err
		}
		if info.Mode().Perm() != f.mode.Perm() || !bytes.Equal(data, f.data) {
			same = false
			return filepath.SkipAll
		}
		seen++
		return nil
	})
	if errors.Is(err, fs.ErrNotExist) {
		return false, nil
	}
	if err != nil {
		return false, err
	}
	return same && seen == len(payload), nil
}
