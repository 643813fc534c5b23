package storage

import (
	"context"
	"database/sql"
	"errors"
	"fmt"
	"log/slog"
	"net/url"
	"os"
	"path/filepath"
	"strings"
	"time"

	"github.com/pressly/goose/v3"
	"modernc.org/sqlite"
	sqlite3 "modernc.org/sqlite/lib"

	"github.com/sqlkube/sqlkube/migrations"
)

// sqliteTime is how commit times are stored: fixed width, so that text
// comparison orders them.
const sqliteTime = "2006-01-02T15:04:05.000000Z"

func sqliteDialect() *dialect {
	return &dialect{
		name:   "sqlite",
		goose:  goose.DialectSQLite3,
		schema: migrations.SQLite(),
		// The write transaction is BEGIN IMMEDIATE: it holds the database
		// write lock from its first statement.
		beginSQL:       "BEGIN IMMEDIATE",
		lockSQL:        revisionSQL,
		prepare:        true,
		tableExistsSQL: `SELECT COUNT(*) FROM sqlite_master WHERE type = 'table' AND name = 'goose_db_version'`,
		timeArg:        func(t time.Time) any { return t.UTC().Format(sqliteTime) },
		scanTime: func(src any) (time.Time, error) {
			var s string
			switch v := src.(type) {
			case string:
				s = v
			case []byte:
				s = string(v)
			default:
				return time.Time{}, fmt.Errorf("commit time: unexpected %T", src)
			}
			return time.Parse(sqliteTime, s)
		},
		translateErr: translateSQLiteErr,
	}
}

func translateSQLiteErr(err error) error {
	var se *sqlite.Error
	if errors.As(err, &se) {
		switch se.Code() & 0xff {
		case sqlite3.SQLITE_READONLY:
			return fmt.Errorf("the database file is read-only: %w", err)
		case sqlite3.SQLITE_CORRUPT, sqlite3.SQLITE_NOTADB:
			return fmt.Errorf("the database file is damaged or not a sqlkube database: %w", err)
		case sqlite3.SQLITE_FULL:
			return fmt.Errorf("the disk is full: %w", err)
		}
	}
	return err
}

// privateSQLiteFiles keeps the database file and its -wal and -shm files
// from other users: they hold every object and all its history. A new
// database is created 0600 (SQLite creates the -wal and -shm files with the
// database file's mode); existing files lose any group and other
// permissions, without gaining any (a read-only file stays read-only). A
// file that cannot be changed is only logged: opening it says more.
func privateSQLiteFiles(path string, log *slog.Logger) {
	if f, err := os.OpenFile(path, os.O_WRONLY|os.O_CREATE|os.O_EXCL, 0o600); err == nil {
		f.Close()
	}
	for _, p := range []string{path, path + "-wal", path + "-shm", path + "-journal"} {
		fi, err := os.Stat(p)
		if err != nil || !fi.Mode().IsRegular() || fi.Mode().Perm()&0o077 == 0 {
			continue
		}
		if err := os.Chmod(p, fi.Mode().Perm()&^0o077); err != nil {
			log.Warn("cannot make the database file private to its owner", "file", p, "mode", fi.Mode().Perm(), "err", err)
		}
	}
}

// openSQLite opens the database file at path (created if missing) with
// one connection for writes and a small pool for reads, in WAL mode.
// Commits are fsynced (synchronous=FULL), so that a commit acknowledged to
// a client survives a crash of the process or of the machine.
func openSQLite(ctx context.Context, cfg Config, path string) (*Store, error) {
	path, query, _ := strings.Cut(path, "?")
	if path == "" {
		return nil, fmt.Errorf("datastore %q: the SQLite file path is empty: %w", cfg.Datastore, ErrInvalid)
	}
	q, err := url.ParseQuery(query)
	if err != nil {
		return nil, fmt.Errorf("datastore %q: %w: %w", cfg.Datastore, ErrInvalid, err)
	}
	if dir := filepath.Dir(path); dir != "" {
		if _, err := os.Stat(dir); err != nil {
			return nil, fmt.Errorf("open sqlite %s: directory: %w", path, err)
		}
	}
	if !strings.HasPrefix(path, ":") && q.Get("mode") != "memory" {
		privateSQLiteFiles(path, cfg.Logger)
	}
	// Reads go through a 32 MiB memory map: with 256 MiB, a server that
	// created, updated and deleted 10,000 pods showed 70 MB more resident
	// (the mapped history pages count as its RSS) for no gain in the API
	// benchmark.
	pragmas := "_pragma=busy_timeout(10000)&_pragma=journal_mode(WAL)&_pragma=synchronous(FULL)&_pragma=foreign_keys(on)&_pragma=mmap_size(33554432)"
	dsn := "file:" + path + "?" + pragmas
	if query != "" {
		dsn += "&" + query
	}
	wdb, err := sql.Open("sqlite", dsn)
	if err != nil {
		return nil, fmt.Errorf("open sqlite %s: %w", path, err)
	}
	// One connection for the write loop, one for compaction.
	wdb.SetMaxOpenConns(2)
	wdb.SetMaxIdleConns(2)
	wdb.SetConnMaxLifetime(0)
	rdb, err := sql.Open("sqlite", dsn)
	if err != nil {
		wdb.Close()
		return nil, fmt.Errorf("open sqlite %s: %w", path, err)
	}
	rdb.SetMaxOpenConns(8)
	rdb.SetMaxIdleConns(8)
	closeDB := func() { rdb.Close(); wdb.Close() }

	d := sqliteDialect()
	if err := wdb.PingContext(ctx); err != nil {
		closeDB()
		return nil, fmt.Errorf("open sqlite %s: %w", path, d.translateErr(err))
	}
	// Writing the journal mode checks that the file can be written, before
	// any migration starts.
	if _, err := wdb.ExecContext(ctx, "PRAGMA user_version = 0"); err != nil {
		closeDB()
		return nil, fmt.Errorf("open sqlite %s: %w", path, d.translateErr(err))
	}
	if err := migrate(ctx, d, wdb); err != nil {
		closeDB()
		return nil, fmt.Errorf("open sqlite %s: %w", path, err)
	}
	return newStore(cfg, d, rdb, wdb, closeDB), nil
}
