package logs

import (
	"context"
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"slices"
	"strconv"
	"strings"
	"time"
)

// rotatedName is the name of the i-th rotated file of path (1 is newest).
func rotatedName(path string, i int) string {
	return path + "." + strconv.Itoa(i)
}

// Paths returns the files of the log at path that exist, oldest first: the
// rotated files path.N … path.1, then path itself. It returns an empty
// list, not an error, when there are none.
func Paths(path string) ([]string, error) {
	dir, base := filepath.Split(path)
	if dir == "" {
		dir = "."
	}
	entries, err := os.ReadDir(dir)
	if err != nil {
		if errors.Is(err, os.ErrNotExist) {
			return nil, nil
		}
		return nil, fmt.Errorf("list rotated files of log %s: %w", path, err)
	}
	var rotated []int
	live := false
	for _, e := range entries {
		name := e.Name()
		if name == base {
			live = true
			continue
		}
		suffix, ok := strings.CutPrefix(name, base+".")
		if !ok {
			continue
		}
		if i, err := strconv.Atoi(suffix); err == nil && i > 0 && strconv.Itoa(i) == suffix {
			rotated = append(rotated, i)
		}
	}
	slices.Sort(rotated)
	paths := make([]string, 0, len(rotated)+1)
	for _, i := range slices.Backward(rotated) {
		paths = append(paths, rotatedName(path, i))
	}
	if live {
		paths = append(paths, path)
	}
	return paths, nil
}

// Remove deletes the log at path with all its rotated files. A log that
// does not exist is not an error.
func Remove(path string) error {
	paths, err := Paths(path)
	if err != nil {
		return err
	}
	var errs []error
	for _, p := range paths {
		if err := os.Remove(p); err != nil && !errors.Is(err, os.ErrNotExist) {
			errs = append(errs, err)
		}
	}
	if err := errors.Join(errs...); err != nil {
		return fmt.Errorf("remove log %s: %w", path, err)
	}
	return nil
}

// WaitSettled waits until the log file at path has stopped growing: its
// size unchanged for quiet, or until max has passed or ctx ends. A
// container's last lines may still be on their way through its log driver
// when its exit is seen; readers that stop at the exit wait for them
// first.
func WaitSettled(ctx context.Context, path string, quiet, max time.Duration) {
	deadline := time.Now().Add(max)
	last, since := int64(-1), time.Now()
	for time.Now().Before(deadline) {
		size := int64(-1)
		if fi, err := os.Stat(path); err == nil {
			size = fi.Size()
		}
		if size != last {
			last, since = size, time.Now()
		} else if time.Since(since) >= quiet {
			return
		}
		select {
		case <-ctx.Done():
			return
		case <-time.After(quiet / 4):
		}
	}
}
