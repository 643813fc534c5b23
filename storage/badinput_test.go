package storage_test

import (
	"context"
	"errors"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/sqlkube/sqlkube/storage"
)

func TestMalformedDatastoreURL(t *testing.T) {
	for _, tc := range []struct{ name, url, want string }{
		{"unknown scheme", "mysql://root@localhost/db", "want sqlite://PATH or postgres://"},
		{"empty", "", "want sqlite://PATH or postgres://"},
		{"sqlite without path", "sqlite://", "path is empty"},
		{"sqlite in a missing directory", "sqlite:///nonexistent-dir-sqlkube/state.db", "nonexistent-dir-sqlkube"},
		{"postgres with a bad port", "postgres://u:hunter2@127.0.0.1:notaport/db", "datastore"},
		{"postgres with a bad escape", "postgres://u@127.0.0.1/%zz", "datastore"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			_, err := storage.Open(context.Background(), storage.Config{Datastore: tc.url, ConnectAttempts: 1})
			if err == nil || !strings.Contains(err.Error(), tc.want) {
				t.Fatalf("open %q: %v, want an error containing %q", tc.url, err, tc.want)
			}
			if strings.Contains(err.Error(), "hunter2") {
				t.Fatalf("the error shows the password: %v", err)
			}
		})
	}
}

// TestUnreachablePostgres: a clear error naming host and port, after a
// bounded number of attempts with back-off.
func TestUnreachablePostgres(t *testing.T) {
	start := time.Now()
	_, err := storage.Open(context.Background(), storage.Config{
		Datastore:       "postgres://postgres@127.0.0.1:1/sqlkube?sslmode=disable",
		ConnectAttempts: 4,
		ConnectBackoff:  20 * time.Millisecond,
	})
	if err == nil {
		t.Fatal("open of an unreachable PostgreSQL succeeded")
	}
	t.Logf("unreachable: %v", err)
	for _, want := range []string{"127.0.0.1:1", "after 4 attempts", `database "sqlkube"`} {
		if !strings.Contains(err.Error(), want) {
			t.Errorf("error %q does not say %q", err, want)
		}
	}
	// 20 + 40 + 80 ms of back-off between the 4 attempts
	if d := time.Since(start); d < 140*time.Millisecond {
		t.Errorf("gave up after %s: no back-off between attempts", d)
	}
}

// TestReadOnlySQLite: a database file that cannot be written is refused at
// open with an error that says so, and is left as it was.
func TestReadOnlySQLite(t *testing.T) {
	dir := t.TempDir()
	path := filepath.Join(dir, "state.db")
	s := open(t, "sqlite://"+path)
	must(s.Create(context.Background(), key("cm", "", "a"), val(`{}`)))
	s.Close()
	before, err := os.ReadFile(path)
	if err != nil {
		t.Fatal(err)
	}
	makeReadOnly(t, path)
	_, err = storage.Open(context.Background(), storage.Config{Datastore: "sqlite://" + path})
	if err == nil || !strings.Contains(err.Error(), "read-only") || !strings.Contains(err.Error(), path) {
		t.Fatalf("open of a read-only file: %v, want an error naming the file as read-only", err)
	}
	t.Logf("read-only file: %v", err)
	after, _ := os.ReadFile(path)
	if string(before) != string(after) {
		t.Fatal("the read-only file changed")
	}
}

// makeReadOnly makes path unwritable, also for root (the immutable flag).
func makeReadOnly(t *testing.T, path string) {
	t.Helper()
	if err := os.Chmod(path, 0o444); err != nil {
		t.Fatal(err)
	}
	if os.Geteuid() != 0 {
		return
	}
	if out, err := exec.Command("chattr", "+i", path).CombinedOutput(); err != nil {
		t.Fatalf("chattr +i %s: %v: %s", path, err, out)
	}
	t.Cleanup(func() { _ = exec.Command("chattr", "-i", path).Run() })
}

// TestInvalidValues: values that are not JSON objects are refused, change
// nothing, and do not fail other writes committed with them.
func TestInvalidValues(t *testing.T) {
	eachDriver(t, func(t *testing.T, d driver) {
		ctx := context.Background()
		s := open(t, d.datastore(t))
		must(s.Create(ctx, key("cm", "", "x"), val(`{"v":1}`)))
		for _, v := range []string{"", "not json", "[1,2]", `"str"`, `{"a":`, "null"} {
			if _, err := s.Create(ctx, key("cm", "", "bad"), []byte(v)); !errors.Is(err, storage.ErrInvalid) {
				t.Errorf("create %q: %v, want ErrInvalid", v, err)
			}
			if _, err := s.Update(ctx, key("cm", "", "x"), []byte(v), 0); !errors.Is(err, storage.ErrInvalid) {
				t.Errorf("update to %q: %v, want ErrInvalid", v, err)
			}
		}
		if _, err := s.Create(ctx, key("", "", "x"), val(`{}`)); !errors.Is(err, storage.ErrInvalid) {
			t.Errorf("create without a resource: %v", err)
		}
		if rev, _ := s.CurrentRevision(ctx); rev != 1 {
			t.Fatalf("revision %d after refused writes, want 1", rev)
		}

		// A JSON object PostgreSQL cannot store (a NUL character) is
		// refused alone; the writes committed with it succeed.
		var wg sync.WaitGroup
		errs := make([]error, 64)
		for i := range errs {
			wg.Add(1)
			go func() {
				defer wg.Done()
				v := val(`{"i":%d}`, i)
				if i == 10 {
					v = []byte(`{"nul":"a\u0000b"}`)
				}
				_, errs[i] = s.Create(ctx, key("cm", "", fmt.Sprint("k", i)), v)
			}()
		}
		wg.Wait()
		t.Logf("NUL value: %v", errs[10])
		for i, err := range errs {
			if i == 10 {
				if err != nil && !errors.Is(err, storage.ErrInvalid) {
					t.Errorf("NUL value: %v, want success or ErrInvalid", err)
				}
				continue
			}
			if err != nil {
				t.Errorf("create k%d beside a bad write: %v", i, err)
			}
		}
		l := must(s.List(ctx, storage.ListOptions{Resource: "cm"}))
		if errs[10] == nil && len(l.Items) != 65 || errs[10] != nil && len(l.Items) != 64 || l.Revision != int64(len(l.Items)) {
			t.Fatalf("%d objects at revision %d after 64 creates (NUL: %v)", len(l.Items), l.Revision, errs[10])
		}
	})
}

// TestSchemaTooNew: a database migrated by a newer sqlkube is refused and
// left untouched.
func TestSchemaTooNew(t *testing.T) {
	eachDriver(t, func(t *testing.T, d driver) {
		url := d.datastore(t)
		s := open(t, url)
		must(s.Create(context.Background(), key("cm", "", "a"), val(`{}`)))
		s.Close()
		raw := d.raw(t, url)
		if _, err := raw.Exec(`INSERT INTO goose_db_version (version_id, is_applied) VALUES (99999, true)`); err != nil {
			t.Fatal(err)
		}
		count := func() (n int) {
			_ = raw.QueryRow(`SELECT COUNT(*) FROM goose_db_version`).Scan(&n)
			return n
		}
		rows := count()
		_, err := storage.Open(context.Background(), storage.Config{Datastore: url})
		if !errors.Is(err, storage.ErrSchemaTooNew) || !strings.Contains(err.Error(), "99999") {
			t.Fatalf("open: %v, want ErrSchemaTooNew naming version 99999", err)
		}
		if count() != rows {
			t.Fatal("the newer database was changed")
		}
	})
}
