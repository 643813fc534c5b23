package storage

import (
	"context"
	"database/sql"
	"errors"
	"fmt"
	"net"
	"strconv"
	"strings"
	"time"

	"github.com/jackc/pgx/v5"
	"github.com/jackc/pgx/v5/pgconn"
	"github.com/jackc/pgx/v5/pgxpool"
	"github.com/jackc/pgx/v5/stdlib"
	"github.com/pressly/goose/v3"
	"github.com/pressly/goose/v3/lock"

	"github.com/sqlkube/sqlkube/migrations"
)

// notifyChannel is the PostgreSQL channel on which every commit announces
// "instance:revision".
const notifyChannel = "sqlkube_revisions"

func postgresDialect() *dialect {
	return &dialect{
		name:     "postgres",
		goose:    goose.DialectPostgres,
		schema:   migrations.Postgres(),
		numbered: true,
		// The row lock on meta is held until commit: writers from every
		// server commit one after the other, in revision order.
		beginSQL:       "BEGIN",
		lockSQL:        revisionSQL + ` FOR UPDATE`,
		tableExistsSQL: `SELECT COUNT(*) FROM pg_catalog.pg_tables WHERE tablename = 'goose_db_version' AND schemaname = current_schema()`,
		combine:        combinePostgres,
		pipeline:       pipelinePostgres,
		analyzeSQL:     "ANALYZE revisions, objects",
		readValue:      compactJSON,
		timeArg:        func(t time.Time) any { return t.UTC() },
		scanTime: func(src any) (time.Time, error) {
			t, ok := src.(time.Time)
			if !ok {
				return time.Time{}, fmt.Errorf("commit time: unexpected %T", src)
			}
			return t.UTC(), nil
		},
		translateErr: translatePostgresErr,
	}
}

func translatePostgresErr(err error) error {
	var pe *pgconn.PgError
	if errors.As(err, &pe) {
		switch {
		case pe.Code == "25006":
			return fmt.Errorf("the database is read-only: %w", err)
		case strings.HasPrefix(pe.Code, "22"):
			return fmt.Errorf("%w: %w", ErrInvalid, err)
		}
	}
	return err
}

// combinePostgres writes a group in one statement of data-modifying CTEs
// (they touch disjoint rows) that ends with the notification: one round
// trip. The objects rows are copied from the new revisions rows, so each
// value is parsed into JSONB once.
func combinePostgres(g *groupWrite) statement {
	var b strings.Builder
	args := append([]any(nil), g.revisionArgs...)
	b.WriteString("WITH w0 AS (" + insertRevisionsSQL + rows(g.revisionRows, 10) +
		" RETURNING resource, namespace, name, revision, create_revision, value)")
	if len(g.upsertRevs) > 0 {
		b.WriteString(", w1 AS (INSERT INTO objects (resource, namespace, name, revision, create_revision, value)" +
			" SELECT resource, namespace, name, revision, create_revision, value FROM w0 WHERE revision = ANY(?)" +
			upsertObjectsTail + ")")
		args = append(args, g.upsertRevs)
	}
	if len(g.deletes) > 0 {
		b.WriteString(", w2 AS (" + deleteObjectsSQL + rows(len(g.deletes)/3, 3) + "))")
		args = append(args, g.deletes...)
	}
	b.WriteString(", w3 AS (" + setRevisionSQL + ") SELECT pg_notify(?, ?)")
	return statement{b.String(), append(args, g.rev, notifyChannel, g.payload)}
}

// pipelinePostgres sends the steps as one pgx batch: one round trip.
// Statements in a pipeline still run one after the other, each with its
// own snapshot, so a read after the revision lock sees every commit before
// it.
func pipelinePostgres(ctx context.Context, c *sql.Conn, steps []step) error {
	return c.Raw(func(dc any) error {
		sc, ok := dc.(*stdlib.Conn)
		if !ok {
			return fmt.Errorf("unexpected driver connection %T", dc)
		}
		b := &pgx.Batch{}
		for _, st := range steps {
			b.Queue(st.sql, st.args...)
		}
		br := sc.Conn().SendBatch(ctx, b)
		for _, st := range steps {
			if st.scan == nil {
				if _, err := br.Exec(); err != nil {
					br.Close()
					return err
				}
				continue
			}
			rows, err := br.Query()
			if err == nil {
				err = st.scan(rows)
				rows.Close()
				if err == nil {
					err = rows.Err()
				}
			}
			if err != nil {
				br.Close()
				return err
			}
		}
		return br.Close()
	})
}

// pgTarget names the server of a pool config for errors: host:port and
// database, never the password.
func pgTarget(c *pgxpool.Config) string {
	return fmt.Sprintf("postgres at %s (database %q)", net.JoinHostPort(c.ConnConfig.Host, strconv.Itoa(int(c.ConnConfig.Port))), c.ConnConfig.Database)
}

// openPostgres connects (retrying with back-off while the server is
// unreachable), applies the schema under goose's advisory lock (several
// servers may start at once) and starts the LISTEN loop.
func openPostgres(ctx context.Context, cfg Config) (*Store, error) {
	pc, err := pgxpool.ParseConfig(cfg.Datastore)
	if err != nil {
		return nil, fmt.Errorf("datastore %q: %w: %w", RedactDatastore(cfg.Datastore), ErrInvalid, err)
	}
	if cfg.Password != "" {
		pc.ConnConfig.Password = cfg.Password
	}
	if pc.ConnConfig.ConnectTimeout == 0 {
		pc.ConnConfig.ConnectTimeout = 5 * time.Second
	}
	if pc.MaxConns < 16 {
		pc.MaxConns = 16
	}
	target := pgTarget(pc)
	pool, err := pgxpool.NewWithConfig(ctx, pc)
	if err != nil {
		return nil, fmt.Errorf("connect to %s: %w", target, err)
	}
	start := time.Now()
	attempts, err := retry(ctx, cfg.ConnectAttempts, cfg.ConnectBackoff, func() error {
		return pool.Ping(ctx)
	})
	if err != nil {
		pool.Close()
		return nil, fmt.Errorf("connect to %s: gave up after %d attempts in %s: %w", target, attempts, time.Since(start).Round(time.Millisecond), err)
	}
	db := stdlib.OpenDBFromPool(pool)
	closeDB := func() { db.Close(); pool.Close() }
	d := postgresDialect()
	if err := migrate(ctx, d, db); err != nil {
		closeDB()
		return nil, fmt.Errorf("%s: %w", target, err)
	}
	s := newStore(cfg, d, db, db, closeDB)
	s.listen = func(ctx context.Context) { s.listenLoop(ctx, pc.ConnConfig.Copy(), target) }
	return s, nil
}

// listenLoop holds a connection that LISTENs for other stores' commits and
// wakes the feed loop on each. When the connection breaks it reconnects
// with back-off and catches up, since notifications sent meanwhile are lost.
func (s *Store) listenLoop(ctx context.Context, cc *pgx.ConnConfig, target string) {
	pause := s.cfg.ConnectBackoff
	for ctx.Err() == nil {
		err := s.listenOnce(ctx, cc)
		if ctx.Err() != nil {
			return
		}
		s.log.Warn("listening for changes failed; reconnecting", "datastore", target, "err", err, "in", pause)
		select {
		case <-ctx.Done():
			return
		case <-time.After(pause):
		}
		pause = min(2*pause, 5*time.Second)
	}
}

func (s *Store) listenOnce(ctx context.Context, cc *pgx.ConnConfig) error {
	conn, err := pgx.ConnectConfig(ctx, cc)
	if err != nil {
		return err
	}
	defer conn.Close(context.Background())
	if _, err := conn.Exec(ctx, "LISTEN "+notifyChannel); err != nil {
		return err
	}
	s.wakeFeed() // changes made while not listening
	own := s.instance + ":"
	for {
		n, err := conn.WaitForNotification(ctx)
		if err != nil {
			return err
		}
		if !strings.HasPrefix(n.Payload, own) {
			s.wakeFeed()
		}
	}
}

// migrate applies pending migrations, after refusing a database whose
// schema is newer than the newest migration this binary has.
func migrate(ctx context.Context, d *dialect, db *sql.DB) error {
	var opts []goose.ProviderOption
	if d.goose == goose.DialectPostgres {
		locker, err := lock.NewPostgresSessionLocker()
		if err != nil {
			return fmt.Errorf("migrate: %w", err)
		}
		opts = append(opts, goose.WithSessionLocker(locker))
	}
	p, err := goose.NewProvider(d.goose, db, d.schema, opts...)
	if err != nil {
		return fmt.Errorf("migrate: load migrations: %w", err)
	}
	known := int64(0)
	for _, src := range p.ListSources() {
		known = max(known, src.Version)
	}
	var exists int
	if err := db.QueryRowContext(ctx, d.tableExistsSQL).Scan(&exists); err != nil {
		return fmt.Errorf("migrate: read schema version: %w", d.translateErr(err))
	}
	if exists > 0 {
		var have int64
		if err := db.QueryRowContext(ctx, schemaVersionSQL).Scan(&have); err != nil {
			return fmt.Errorf("migrate: read schema version: %w", d.translateErr(err))
		}
		if have > known {
			return fmt.Errorf("schema version %d, this binary knows up to %d; upgrade sqlkube: %w", have, known, ErrSchemaTooNew)
		}
	}
	if _, err := p.Up(ctx); err != nil {
		return fmt.Errorf("migrate: %w", d.translateErr(err))
	}
	return nil
}
