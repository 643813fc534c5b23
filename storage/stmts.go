package storage

import (
	"context"
	"database/sql"
	"database/sql/driver"
	"sync"
)

// runner is what *sql.DB and *sql.Conn have in common.
type runner interface {
	PrepareContext(ctx context.Context, q string) (*sql.Stmt, error)
	QueryContext(ctx context.Context, q string, args ...any) (*sql.Rows, error)
	QueryRowContext(ctx context.Context, q string, args ...any) *sql.Row
	ExecContext(ctx context.Context, q string, args ...any) (sql.Result, error)
}

// conn runs statements on a pool or on one pinned connection, through
// prepared statements kept until it is closed when the dialect wants them
// (modernc's SQLite driver parses every statement anew otherwise; pgx
// caches by itself).
type conn struct {
	db      runner
	prepare bool

	mu    sync.Mutex
	stmts map[string]*sql.Stmt
}

func newConn(db runner, prepare bool) *conn {
	return &conn{db: db, prepare: prepare, stmts: map[string]*sql.Stmt{}}
}

func (c *conn) stmt(ctx context.Context, q string) (*sql.Stmt, error) {
	c.mu.Lock()
	defer c.mu.Unlock()
	if st, ok := c.stmts[q]; ok {
		return st, nil
	}
	st, err := c.db.PrepareContext(ctx, q)
	if err != nil {
		return nil, err
	}
	c.stmts[q] = st
	return st, nil
}

func (c *conn) query(ctx context.Context, q string, args ...any) (*sql.Rows, error) {
	if !c.prepare {
		return c.db.QueryContext(ctx, q, args...)
	}
	st, err := c.stmt(ctx, q)
	if err != nil {
		return nil, err
	}
	return st.QueryContext(ctx, args...)
}

func (c *conn) queryRow(ctx context.Context, q string, args ...any) *sql.Row {
	if c.prepare {
		if st, err := c.stmt(ctx, q); err == nil {
			return st.QueryRowContext(ctx, args...)
		}
		// fall through: the unprepared call reports the same error
	}
	return c.db.QueryRowContext(ctx, q, args...)
}

func (c *conn) exec(ctx context.Context, q string, args ...any) (sql.Result, error) {
	if !c.prepare {
		return c.db.ExecContext(ctx, q, args...)
	}
	st, err := c.stmt(ctx, q)
	if err != nil {
		return nil, err
	}
	return st.ExecContext(ctx, args...)
}

// close closes the prepared statements.
func (c *conn) close() {
	c.mu.Lock()
	defer c.mu.Unlock()
	for q, st := range c.stmts {
		st.Close()
		delete(c.stmts, q)
	}
}

// writer returns the connection the write loop commits groups on, pinned
// so that its prepared statements and transactions stay on it. Only the
// write loop calls it.
func (s *Store) writer(ctx context.Context) (*conn, error) {
	if s.pinned != nil {
		return s.pinned, nil
	}
	c, err := s.wdb.Conn(ctx)
	if err != nil {
		return nil, err
	}
	s.pinned, s.pinnedConn = newConn(c, s.d.prepare), c
	return s.pinned, nil
}

// dropWriter discards the pinned connection after a failure: a group
// that failed half-way may have left it in a transaction, or broken.
func (s *Store) dropWriter() {
	if s.pinned == nil {
		return
	}
	s.pinned.close()
	_ = s.pinnedConn.Raw(func(any) error { return driver.ErrBadConn })
	_ = s.pinnedConn.Close()
	s.pinned, s.pinnedConn = nil, nil
}
