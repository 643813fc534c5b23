package storage_test

import (
	"context"
	"os"
	"path/filepath"
	"testing"

	"github.com/sqlkube/sqlkube/storage"
)

// TestSQLiteFilesArePrivate: the database, its -wal and its -shm files are
// readable by their owner only, whether the store creates them or finds
// them readable by others.
func TestSQLiteFilesArePrivate(t *testing.T) {
	ctx := context.Background()
	check := func(t *testing.T, path string) {
		t.Helper()
		for _, p := range []string{path, path + "-wal", path + "-shm"} {
			fi, err := os.Stat(p)
			if err != nil {
				t.Fatal(err)
			}
			if fi.Mode().Perm() != 0o600 {
				t.Errorf("%s has mode %v, want 0600", filepath.Base(p), fi.Mode().Perm())
			}
		}
	}
	t.Run("new", func(t *testing.T) {
		path := filepath.Join(t.TempDir(), "state.db")
		s := open(t, "sqlite://"+path)
		must(s.Create(ctx, key("cm", "", "a"), val(`{}`)))
		check(t, path)
	})
	t.Run("existing", func(t *testing.T) {
		path := filepath.Join(t.TempDir(), "state.db")
		s := open(t, "sqlite://"+path)
		must(s.Create(ctx, key("cm", "", "a"), val(`{}`)))
		s.Close()
		for _, p := range []string{path, path + "-wal", path + "-shm"} {
			f, err := os.OpenFile(p, os.O_WRONLY|os.O_CREATE, 0o644)
			if err != nil {
				t.Fatal(err)
			}
			f.Close()
			if err := os.Chmod(p, 0o644); err != nil {
				t.Fatal(err)
			}
		}
		s, err := storage.Open(ctx, storage.Config{Datastore: "sqlite://" + path})
		if err != nil {
			t.Fatal(err)
		}
		defer s.Close()
		if _, err := s.Get(ctx, key("cm", "", "a")); err != nil {
			t.Fatal(err)
		}
		check(t, path)
	})
}
