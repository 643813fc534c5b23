package cluster

import (
	"errors"
	"fmt"
	"io/fs"
	"log/slog"
	"os"
	"path/filepath"
)

// privateFiles are the cluster's files in the data directory that only
// its owner may read: keys and the admin and node tokens.
var privateFiles = []string{caKeyFile, adminTokenFile, encryptionKey, serviceAccountKeyFile, NodeTokenFile}

// privateDataDir makes the (existing) data directory 0700, and its secret files readable by their owner only (removing any
// group and other permission). MkdirAll and WriteFile leave an existing
// directory's or file's mode as it was. A directory the process does not
// own is only logged, since its files are private anyway.
func privateDataDir(dir string, log *slog.Logger) error {
	fi, err := os.Stat(dir)
	if err != nil {
		return fmt.Errorf("data dir %s: %w", dir, err)
	}
	if fi.Mode().Perm() != 0o700 {
		if err := os.Chmod(dir, 0o700); errors.Is(err, fs.ErrPermission) {
			log.Warn("cannot make the data dir private to its owner", "dir", dir, "mode", fi.Mode().Perm(), "err", err)
		} else if err != nil {
			return fmt.Errorf("make data dir %s private: %w", dir, err)
		}
	}
	return privateFilesIn(dir, privateFiles)
}

// PrivateFiles makes the named files of the data directory that exist
// readable by their owner only, as Open does with the cluster's own: for
// the private files a face keeps there (the API server's serving key and
// admin kubeconfig).
func (c *Cluster) PrivateFiles(names ...string) error { return privateFilesIn(c.DataDir, names) }

func privateFilesIn(dir string, names []string) error {
	for _, name := range names {
		p := filepath.Join(dir, name)
		fi, err := os.Lstat(p)
		if err != nil || !fi.Mode().IsRegular() || fi.Mode().Perm()&0o077 == 0 {
			continue
		}
		if err := os.Chmod(p, fi.Mode().Perm()&^0o077); err != nil {
			return fmt.Errorf("make %s private: %w", p, err)
		}
	}
	return nil
}
