package storage

import (
	"bytes"
	"context"
	"database/sql"
	"encoding/json"
	"fmt"
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
	tx, err := s.wdb.BeginTx(ctx, nil)
	if err != nil {
		return nil, fmt.Errorf("begin: %w", s.d.translateErr(err))
	}
	committed := false
	defer func() {
		if !committed {
			_ = tx.Rollback()
		}
	}()
	var base, compact int64
	if err := tx.QueryRowContext(ctx, s.stmts.lock).Scan(&base, &compact); err != nil {
		return nil, fmt.Errorf("lock revision: %w", s.d.translateErr(err))
	}
	states, order, err := s.loadStates(ctx, tx, batch)
	if err != nil {
		return nil, err
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
					if st.value, err = s.tf.FromStorage(r.key, st.stored); err != nil {
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
	if _, err := tx.ExecContext(ctx, s.d.rebind(insertRevisionsSQL+rows(len(events), 10)), args...); err != nil {
		return nil, fmt.Errorf("insert revisions %d-%d: %w", base+1, rev, s.d.translateErr(err))
	}
	if err := s.applyStates(ctx, tx, states, order); err != nil {
		return nil, err
	}
	if _, err := tx.ExecContext(ctx, s.stmts.setRevision, rev); err != nil {
		return nil, fmt.Errorf("set revision %d: %w", rev, s.d.translateErr(err))
	}
	if s.d.notify != nil {
		if err := s.d.notify(ctx, tx, fmt.Sprintf("%s:%d", s.instance, rev)); err != nil {
			return nil, fmt.Errorf("notify revision %d: %w", rev, s.d.translateErr(err))
		}
	}
	if err := tx.Commit(); err != nil {
		return nil, fmt.Errorf("commit revisions %d-%d: %w", base+1, rev, s.d.translateErr(err))
	}
	committed = true
	if !s.hub.offer(base, events) {
		s.wakeFeed()
	}
	return results, nil
}

// loadStates reads the current row of every key the group touches.
func (s *Store) loadStates(ctx context.Context, tx *sql.Tx, batch []*writeReq) (map[Key]*keyState, []Key, error) {
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
	rs, err := tx.QueryContext(ctx, s.d.rebind(selectStatesSQL+rows(len(order), 3)+")"), args...)
	if err != nil {
		return nil, nil, fmt.Errorf("read current objects: %w", s.d.translateErr(err))
	}
	defer rs.Close()
	for rs.Next() {
		var k Key
		st := keyState{exists: true}
		if err := rs.Scan(&k.Resource, &k.Namespace, &k.Name, &st.rev, &st.createRev, &st.stored); err != nil {
			return nil, nil, fmt.Errorf("read current objects: %w", s.d.translateErr(err))
		}
		if p, ok := states[k]; ok {
			*p = st
		}
	}
	if err := rs.Err(); err != nil {
		return nil, nil, fmt.Errorf("read current objects: %w", s.d.translateErr(err))
	}
	return states, order, nil
}

// applyStates writes the group's final state of each touched key to objects.
func (s *Store) applyStates(ctx context.Context, tx *sql.Tx, states map[Key]*keyState, order []Key) error {
	var up, del []any
	for _, k := range order {
		st := states[k]
		switch {
		case !st.touched:
		case st.exists:
			up = append(up, k.Resource, k.Namespace, k.Name, st.rev, st.createRev, string(st.stored))
		default:
			del = append(del, k.Resource, k.Namespace, k.Name)
		}
	}
	if len(up) > 0 {
		q := s.d.rebind(upsertObjectsSQL + rows(len(up)/6, 6) + upsertObjectsTail)
		if _, err := tx.ExecContext(ctx, q, up...); err != nil {
			return fmt.Errorf("write objects: %w", s.d.translateErr(err))
		}
	}
	if len(del) > 0 {
		q := s.d.rebind(deleteObjectsSQL + rows(len(del)/3, 3) + ")")
		if _, err := tx.ExecContext(ctx, q, del...); err != nil {
			return fmt.Errorf("delete objects: %w", s.d.translateErr(err))
		}
	}
	return nil
}
