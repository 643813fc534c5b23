//go:build !linux

package volume

import (
	"errors"
	"os"
)

// errNoMounts: tmpfs volumes need Linux.
var errNoMounts = errors.New("tmpfs volumes need Linux")

func mountTmpfs(string, int64, os.FileMode) error { return errNoMounts }

func unmount(string) error { return errNoMounts }

// mountsUnder knows no mounts off Linux, so Cleanup just removes files.
func mountsUnder(string) ([]string, error) { return nil, nil }
