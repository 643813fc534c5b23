package storage

import (
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"runtime"
	"time"
)

// Writes are committed in groups: one loop takes every write waiting at the
// time, checks each against the current state (and the writes before it in
// the same group), and commits all that pass in one transaction with one
// fsync. Each write still gets its own result: a conflict fails only that
// write. Revisions are consecutive within the group and follow the last
// committed one, so they stay gap-free and in commit order.

type writeReq struct {
	op       Op
	key      Key
	value    []byte // as given, for the event
	stored   []byte // as stored (transformed)
	expected int64  // for update and delete; 0 means any revision
	actor    string
	done     chan writeResult
}

type writeResult struct {
	obj Object
	err error
}

// Create stores a new object. It fails with ErrExists when a live object
// has the key, and ErrInvalid when value is not a JSON object.
func (s *Store) Create(ctx context.Context, key Key, value []byte) (Object, error) {
	return s.write(ctx, OpCreate, key, value, 0)
}

// Update replaces an object's value. When expected is not 0 it must be the
// object's current revision, or the update fails with ErrConflict and
// changes nothing. A missing object fails with ErrNotFound.
func (s *Store) Update(ctx context.Context, key Key, value []byte, expected int64) (Object, error) {
	return s.write(ctx, OpUpdate, key, value, expected)
}

// Delete removes an object and returns its last state, with Revision set to
// the revision of the delete. expected works as in Update.
func (s *Store) Delete(ctx context.Context, key Key, expected int64) (Object, error) {
	return s.write(ctx, OpDelete, key, nil, expected)
}

func (s *Store) write(ctx context.Context, op Op, key Key, value []byte, expected int64) (Object, error) {
	if err := key.validate(); err != nil {
		return Object{}, fmt.Errorf("%s %s: %w", op, key, err)
	}
	req := &writeReq{op: op, key: key, expected: expected, actor: ActorFrom(ctx), done: make(chan writeResult, 1)}
	if op != OpDelete {
		if err := validJSONObject(value); err != nil {
			return Object{}, fmt.Errorf("%s %s: %w", op, key, err)
		}
		stored, err := s.tf.ToStorage(key, value)
		if err != nil {
			return Object{}, fmt.Errorf("%s %s: %w", op, key, err)
		}
		req.value, req.stored = value, stored
	}
	select {
	case s.writes <- req:
	case <-ctx.Done():
		return Object{}, fmt.Errorf("%s %s: %w", op, key, ctx.Err())
	case <-s.ctx.Done():
		return Object{}, fmt.Errorf("%s %s: %w", op, key, ErrClosed)
	}
	// Once queued the write runs to its end, so the caller learns whether
	// it was committed even if ctx ends meanwhile.
	select {
	case r := <-req.done:
		return r.obj, r.err
	case <-s.writerDone:
		select {
		case r := <-req.done:
			return r.obj, r.err
		default:
			return Object{}, fmt.Errorf("%s %s: %w", op, key, ErrClosed)
		}
	}
}

func validJSONObject(v []byte) error {
	t := bytes.TrimLeft(v, " \t\r\n")
	if len(t) == 0 || t[0] != '{' || !json.Valid(v) {
		return fmt.Errorf("value is not a JSON object: %w", ErrInvalid)
	}
	return nil
}

// writeLoop commits writes in groups until the store closes.
func (s *Store) writeLoop() {
	defer s.wg.Done()
	defer close(s.writerDone)
	defer func() {
		if s.pinned != nil {
			s.pinned.close()
			_ = s.pinnedConn.Close()
		}
	}()
	batch := make([]*writeReq, 0, s.cfg.MaxBatch)
	for {
		select {
		case <-s.ctx.Done():
			for {
				select {
				case r := <-s.writes:
					r.done <- writeResult{err: fmt.Errorf("%s %s: %w", r.op, r.key, ErrClosed)}
				default:
					return
				}
			}
		case r := <-s.writes:
			batch = append(batch[:0], r)
			// Let the writers answered by the last group submit again,
			// so that groups stay large under steady load.
			runtime.Gosched()
		more:
			for len(batch) < s.cfg.MaxBatch {
				select {
				case r := <-s.writes:
					batch = append(batch, r)
				default:
					break more
				}
			}
			s.commit(batch)
		}
	}
}

// commit commits a group and answers each of its writes. If the group's
// transaction fails as a whole, each write is retried alone, so that one
// write the database rejects does not fail the others.
func (s *Store) commit(batch []*writeReq) {
	results, err := s.commitGroup(s.ctx, batch)
	if err != nil && len(batch) > 1 {
		s.log.Warn("group commit failed; committing its writes one by one", "writes", len(batch), "err", err)
		for _, r := range batch {
			s.commit([]*writeReq{r})
		}
		return
	}
	for i, r := range batch {
		if err != nil {
			r.done <- writeResult{err: fmt.Errorf("%s %s: %w", r.op, r.key, err)}
			continue
		}
		r.done <- results[i]
	}
}

// keyState is an object's state as the group sees it.
type keyState struct {
	exists    bool
	rev       int64
	createRev int64
	stored    []byte
	value     []byte // plain value, once known
	touched   bool
}

func (s *Store) commitGroup(ctx context.Context, batch []*writeReq) (results []writeResult, err error) {
	if _, err := s.writer(ctx); err != nil {
		return nil, fmt.Errorf("connect: %w", s.d.translateErr(err))
	}
	committed := false
	defer func() {
		if !committed {
			if _, err := s.pinned.exec(context.Background(), "ROLLBACK"); err != nil {
				s.dropWriter()
			}
		}
	}()
	// Begin, take the revision lock, then read the current state of every
	// key: after the lock, so that no other writer can change them.
	var base, compact int64
	states, order, statesQuery := s.statesOf(batch)
	err = s.runSteps(ctx, []step{
		{sql: s.d.beginSQL},
		{sql: s.stmts.lock, scan: func(r rowScanner) error {
			if !r.Next() {
				return fmt.Errorf("the meta row is missing")
			}
			return r.Scan(&base, &compact)
		}},
		{sql: statesQuery.sql, args: statesQuery.args, scan: func(r rowScanner) error {
			return scanStates(r, states)
		}},
	})
	if err != nil {
		return nil, fmt.Errorf("lock revision and read current objects: %w", s.d.translateErr(err))
	}

	now := time.Now().UTC().Truncate(time.Microsecond)
	results = make([]writeResult, len(batch))
	events := make([]Event, 0, len(batch))
	args := make([]any, 0, len(batch)*10)
	rev := base
	for i, r := range batch {
		st := states[r.key]
		var ev Event
		switch r.op {
		case OpCreate:
			if st.exists {
				results[i].err = fmt.Errorf("create %s: %w", r.key, ErrExists)
				continue
			}
			rev++
			*st = keyState{exists: true, rev: rev, createRev: rev, stored: r.stored, value: r.value}
			ev = Event{Op: OpCreate}
		case OpUpdate, OpDelete:
			if !st.exists {
				results[i].err = fmt.Errorf("%s %s: %w", r.op, r.key, ErrNotFound)
				continue
			}
			if r.expected != 0 && r.expected != st.rev {
				results[i].err = fmt.Errorf("%s %s at revision %d (current %d): %w", r.op, r.key, r.expected, st.rev, ErrConflict)
				continue
			}
			rev++
			ev = Event{Op: r.op, PrevRevision: st.rev}
			if r.op == OpUpdate {
				st.rev, st.stored, st.value = rev, r.stored, r.value
			} else {
				if st.value == nil {
					if st.value, err = s.fromStorage(r.key, st.stored); err != nil {
						results[i].err = fmt.Errorf("delete %s: %w", r.key, err)
						rev--
						continue
					}
				}
				st.exists = false
			}
		}
		st.touched = true
		ev.Object = Object{Key: r.key, Revision: rev, CreateRevision: st.createRev, Value: st.value}
		ev.Actor, ev.At = r.actor, now
		events = append(events, ev)
		results[i].obj = ev.Object
		args = append(args, rev, r.key.Resource, r.key.Namespace, r.key.Name, string(r.op),
			st.createRev, ev.PrevRevision, string(st.stored), r.actor, s.d.timeArg(now))
	}
	if len(events) == 0 {
		return results, nil // nothing to write: every write failed its check
	}
	g := groupWrite{revisionRows: len(events), revisionArgs: args, rev: rev, payload: fmt.Sprintf("%s:%d", s.instance, rev)}
	g.objectWrites(states, order)
	var parts []statement
	if s.d.combine != nil {
		parts = []statement{s.d.combine(&g)}
	} else {
		parts = g.statements()
	}
	steps := make([]step, 0, len(parts)+1)
	for _, p := range parts {
		steps = append(steps, step{sql: s.d.rebind(p.sql), args: p.args})
	}
	if err := s.runSteps(ctx, append(steps, step{sql: "COMMIT"})); err != nil {
		return nil, fmt.Errorf("write and commit revisions %d-%d: %w", base+1, rev, s.d.translateErr(err))
	}
	committed = true
	if !s.hub.offer(base, events) {
		s.wakeFeed()
	}
	if s.d.analyzeSQL != "" {
		s.analyze.grew(rev)
	}
	return results, nil
}

// statesOf returns a state per distinct key of the group, the keys in
// order, and the query that reads their current rows.
func (s *Store) statesOf(batch []*writeReq) (map[Key]*keyState, []Key, statement) {
	states := make(map[Key]*keyState, len(batch))
	order := make([]Key, 0, len(batch))
	args := make([]any, 0, 3*len(batch))
	for _, r := range batch {
		if _, ok := states[r.key]; !ok {
			states[r.key] = &keyState{}
			order = append(order, r.key)
			args = append(args, r.key.Resource, r.key.Namespace, r.key.Name)
		}
	}
	return states, order, statement{s.d.rebind(selectStatesSQL + rows(len(order), 3) + ")"), args}
}

func scanStates(r rowScanner, states map[Key]*keyState) error {
	for r.Next() {
		var k Key
		st := keyState{exists: true}
		if err := r.Scan(&k.Resource, &k.Namespace, &k.Name, &st.rev, &st.createRev, &st.stored); err != nil {
			return err
		}
		if p, ok := states[k]; ok {
			*p = st
		}
	}
	return nil
}

// statement is one statement with ? placeholders and its arguments.
type statement struct {
	sql  string
	args []any
}

// groupWrite is what a group writes: its rows of revisions, and the
// final state of each key it touched, for objects.
type groupWrite struct {
	revisionRows int
	revisionArgs []any   // eventColumns, per row
	upserts      []any   // resource, namespace, name, revision, create_revision, value per live key
	upsertRevs   []int64 // the revision of each of those states
	deletes      []any   // resource, namespace, name per deleted key
	rev          int64   // the group's last revision
	payload      string  // its notification, "instance:revision"
}

func (g *groupWrite) objectWrites(states map[Key]*keyState, order []Key) {
	for _, k := range order {
		st := states[k]
		switch {
		case !st.touched:
		case st.exists:
			g.upserts = append(g.upserts, k.Resource, k.Namespace, k.Name, st.rev, st.createRev, string(st.stored))
			g.upsertRevs = append(g.upsertRevs, st.rev)
		default:
			g.deletes = append(g.deletes, k.Resource, k.Namespace, k.Name)
		}
	}
}

// statements returns the group's writes as separate statements.
func (g *groupWrite) statements() []statement {
	out := []statement{{insertRevisionsSQL + rows(g.revisionRows, 10), g.revisionArgs}}
	if len(g.upserts) > 0 {
		out = append(out, statement{upsertObjectsSQL + rows(len(g.upsertRevs), 6) + upsertObjectsTail, g.upserts})
	}
	if len(g.deletes) > 0 {
		out = append(out, statement{deleteObjectsSQL + rows(len(g.deletes)/3, 3) + ")", g.deletes})
	}
	return append(out, statement{setRevisionSQL, []any{g.rev}})
}

// step is one statement of a write transaction; scan, when set, reads its
// rows.
type step struct {
	sql  string
	args []any
	scan func(rowScanner) error
}

// rowScanner is what *sql.Rows and pgx.Rows have in common.
type rowScanner interface {
	Next() bool
	Scan(dest ...any) error
	Err() error
}

// runSteps runs steps in order on the pinned connection: pipelined in one
// round trip when the dialect can, else one after the other.
func (s *Store) runSteps(ctx context.Context, steps []step) error {
	if s.d.pipeline != nil {
		return s.d.pipeline(ctx, s.pinnedConn, steps)
	}
	for _, st := range steps {
		if st.scan == nil {
			if _, err := s.pinned.exec(ctx, st.sql, st.args...); err != nil {
				return err
			}
			continue
		}
		rs, err := s.pinned.query(ctx, st.sql, st.args...)
		if err != nil {
			return err
		}
		err = st.scan(rs)
		if err == nil {
			err = rs.Err()
		}
		rs.Close()
		if err != nil {
			return err
		}
	}
	return nil
}
