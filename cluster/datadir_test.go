package cluster

import (
	"context"
	"os"
	"path/filepath"
	"testing"
)

// TestDataDirIsPrivate: a data directory left readable by others (0755,
// a 0644 database, 0644 keys and token) is its owner's after Open: the
// directory 0700, the database and its -wal and -shm files, the keys and
// the token 0600.
func TestDataDirIsPrivate(t *testing.T) {
	dir := filepath.Join(t.TempDir(), "data")
	if err := os.Mkdir(dir, 0o755); err != nil {
		t.Fatal(err)
	}
	if err := os.Chmod(dir, 0o755); err != nil { // whatever the umask
		t.Fatal(err)
	}
	if _, _, _, err := loadOrCreateCA(dir); err != nil {
		t.Fatal(err)
	}
	for name, content := range map[string]string{
		"state.db":     "", // an empty file is an empty SQLite database
		adminTokenFile: "some-token\n",
		encryptionKey:  "0123456789abcdef0123456789abcdef",
	} {
		if err := os.WriteFile(filepath.Join(dir, name), []byte(content), 0o644); err != nil {
			t.Fatal(err)
		}
	}
	for _, name := range []string{"state.db", adminTokenFile, encryptionKey, caKeyFile} {
		if err := os.Chmod(filepath.Join(dir, name), 0o644); err != nil {
			t.Fatal(err)
		}
	}

	c, err := Open(context.Background(), Config{DataDir: dir})
	if err != nil {
		t.Fatal(err)
	}
	defer c.Close()
	fi, err := os.Stat(dir)
	if err != nil {
		t.Fatal(err)
	}
	if fi.Mode().Perm() != 0o700 {
		t.Errorf("data dir has mode %v, want 0700", fi.Mode().Perm())
	}
	for _, name := range []string{"state.db", "state.db-wal", "state.db-shm", caKeyFile, adminTokenFile, encryptionKey, serviceAccountKeyFile} {
		fi, err := os.Stat(filepath.Join(dir, name))
		if err != nil {
			t.Fatal(err)
		}
		if fi.Mode().Perm() != 0o600 {
			t.Errorf("%s has mode %v, want 0600", name, fi.Mode().Perm())
		}
	}
	if c.AdminToken != "some-token" {
		t.Errorf("admin token %q: the existing one was not kept", c.AdminToken)
	}
}
