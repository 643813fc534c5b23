package storage_test

import (
	"context"
	"database/sql"
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"sync/atomic"
	"testing"
	"time"

	_ "github.com/jackc/pgx/v5/stdlib"

	"github.com/sqlkube/sqlkube/internal/testenv"
	"github.com/sqlkube/sqlkube/storage"
)

// pg is the private PostgreSQL of this test binary, started by TestMain;
// nil when PostgreSQL is not installed (pgErr says why).
var (
	pg    *testenv.Postgres
	pgErr error
	dbSeq atomic.Int64
)

func TestMain(m *testing.M) {
	if mode := os.Getenv(helperEnv); mode != "" {
		os.Exit(runHelper(mode))
	}
	ctx, cancel := context.WithTimeout(context.Background(), 2*time.Minute)
	pg, pgErr = testenv.StartPostgres(ctx)
	cancel()
	if pgErr != nil && !errors.Is(pgErr, testenv.ErrNotInstalled) {
		fmt.Fprintf(os.Stderr, "start PostgreSQL: %v\n", pgErr)
		os.Exit(1)
	}
	code := m.Run()
	if pg != nil {
		if err := pg.Stop(); err != nil {
			fmt.Fprintf(os.Stderr, "stop PostgreSQL: %v\n", err)
		}
	}
	os.Exit(code)
}

// driver is one datastore the conformance suite runs on.
type driver struct {
	name string
	// datastore returns the URL of a new, empty database.
	datastore func(t testing.TB) string
	// raw opens the database behind a datastore URL for direct SQL.
	raw func(t testing.TB, url string) *sql.DB
}

var drivers = []driver{
	{
		name: "sqlite",
		datastore: func(t testing.TB) string {
			return "sqlite://" + filepath.Join(t.TempDir(), "state.db")
		},
		raw: func(t testing.TB, url string) *sql.DB {
			db, err := sql.Open("sqlite", "file:"+url[len("sqlite://"):]+"?_pragma=busy_timeout(10000)")
			if err != nil {
				t.Fatal(err)
			}
			t.Cleanup(func() { db.Close() })
			return db
		},
	},
	{
		name: "postgres",
		datastore: func(t testing.TB) string {
			if pg == nil {
				testenv.Missing(t, "PostgreSQL")
			}
			url, err := pg.CreateDatabase(context.Background(), fmt.Sprintf("t%d", dbSeq.Add(1)))
			if err != nil {
				t.Fatalf("create database: %v", err)
			}
			return url
		},
		raw: func(t testing.TB, url string) *sql.DB {
			db, err := sql.Open("pgx", url)
			if err != nil {
				t.Fatal(err)
			}
			t.Cleanup(func() { db.Close() })
			return db
		},
	},
}

// eachDriver runs fn as a parallel subtest per driver.
func eachDriver(t *testing.T, fn func(t *testing.T, d driver)) {
	t.Helper()
	for _, d := range drivers {
		t.Run(d.name, func(t *testing.T) {
			t.Parallel()
			fn(t, d)
		})
	}
}

// open opens a store on url and closes it when the test ends.
func open(t testing.TB, url string, mods ...func(*storage.Config)) *storage.Store {
	t.Helper()
	cfg := storage.Config{Datastore: url, PollInterval: 200 * time.Millisecond}
	for _, m := range mods {
		m(&cfg)
	}
	s, err := storage.Open(context.Background(), cfg)
	if err != nil {
		t.Fatalf("open %s: %v", url, err)
	}
	t.Cleanup(func() { s.Close() })
	return s
}

func key(resource, ns, name string) storage.Key {
	return storage.Key{Resource: resource, Namespace: ns, Name: name}
}

func val(format string, args ...any) []byte {
	return []byte(fmt.Sprintf(format, args...))
}

// next reads one event or fails after a deadline.
func next(t testing.TB, w *storage.Watcher) storage.Event {
	t.Helper()
	select {
	case e, ok := <-w.Events():
		if !ok {
			t.Fatalf("watch ended: %v", w.Err())
		}
		return e
	case <-time.After(10 * time.Second):
		t.Fatal("no event within 10s")
	}
	return storage.Event{}
}

// quiet checks that no event arrives for a short while.
func quiet(t testing.TB, w *storage.Watcher) {
	t.Helper()
	select {
	case e, ok := <-w.Events():
		if ok {
			t.Fatalf("unexpected event %s %s rev %d", e.Op, e.Object.Key, e.Object.Revision)
		}
	case <-time.After(300 * time.Millisecond):
	}
}
