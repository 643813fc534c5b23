package storage

import (
	"context"
	"database/sql"
	"encoding/base64"
	"encoding/json"
	"errors"
	"fmt"
)

// Get returns the current state of an object, or ErrNotFound. It reads
// the database, and offers what it read to the cache Cached answers from.
func (s *Store) Get(ctx context.Context, key Key) (Object, error) {
	var mark readMark
	if s.lists != nil {
		mark = s.lists.mark()
	}
	obj := Object{Key: key}
	var stored []byte
	err := s.r.queryRow(ctx, s.stmts.get, key.Resource, key.Namespace, key.Name).Scan(&obj.Revision, &obj.CreateRevision, &stored)
	if errors.Is(err, sql.ErrNoRows) {
		return Object{}, fmt.Errorf("get %s: %w", key, ErrNotFound)
	}
	if err != nil {
		return Object{}, fmt.Errorf("get %s: %w", key, s.d.translateErr(err))
	}
	if obj.Value, err = s.fromStorage(key, stored); err != nil {
		return Object{}, fmt.Errorf("get %s: %w", key, err)
	}
	if s.lists != nil {
		if s.afterGetRead != nil {
			s.afterGetRead(key)
		}
		s.lists.offer(obj, mark)
	}
	return obj, nil
}

// GetAt returns an object as it was at revision rev. It fails with
// ErrCompacted when rev is below the compacted revision, ErrFutureRevision
// when rev is newer than the store, and ErrNotFound when the object did not
// exist then.
func (s *Store) GetAt(ctx context.Context, key Key, rev int64) (Object, error) {
	obj := Object{Key: key}
	var (
		op     string
		stored []byte
	)
	err := s.r.queryRow(ctx, s.stmts.getAt, key.Resource, key.Namespace, key.Name, rev).Scan(&obj.Revision, &obj.CreateRevision, &op, &stored)
	if err != nil && !errors.Is(err, sql.ErrNoRows) {
		return Object{}, fmt.Errorf("get %s at revision %d: %w", key, rev, s.d.translateErr(err))
	}
	if cerr := s.checkReadable(ctx, rev); cerr != nil {
		return Object{}, fmt.Errorf("get %s: %w", key, cerr)
	}
	if errors.Is(err, sql.ErrNoRows) || Op(op) == OpDelete {
		return Object{}, fmt.Errorf("get %s at revision %d: %w", key, rev, ErrNotFound)
	}
	if obj.Value, err = s.fromStorage(key, stored); err != nil {
		return Object{}, fmt.Errorf("get %s at revision %d: %w", key, rev, err)
	}
	return obj, nil
}

// checkReadable tells whether a read at rev, already done, saw whole data:
// compaction raises the compacted revision before it deletes anything.
func (s *Store) checkReadable(ctx context.Context, rev int64) error {
	cur, compact, err := s.revisions(ctx)
	if err != nil {
		return err
	}
	if rev < compact {
		return fmt.Errorf("revision %d (compacted to %d): %w", rev, compact, ErrCompacted)
	}
	if rev > cur {
		return fmt.Errorf("revision %d (current %d): %w", rev, cur, ErrFutureRevision)
	}
	return nil
}

// continueToken is what a Continue string encodes: the revision of the
// first page and the last key returned.
type continueToken struct {
	Rev       int64  `json:"rv"`
	Namespace string `json:"ns"`
	Name      string `json:"n"`
}

func encodeContinue(t continueToken) string {
	b, _ := json.Marshal(t)
	return base64.RawURLEncoding.EncodeToString(b)
}

func decodeContinue(s string) (continueToken, error) {
	var t continueToken
	b, err := base64.RawURLEncoding.DecodeString(s)
	if err == nil {
		err = json.Unmarshal(b, &t)
	}
	if err != nil || t.Rev <= 0 {
		return t, fmt.Errorf("continue token %q: %w", s, ErrInvalid)
	}
	return t, nil
}

// List returns one page of the objects of a resource, ordered by namespace
// and name. See ListOptions for reads at a past revision and pagination.
func (s *Store) List(ctx context.Context, opts ListOptions) (ListResult, error) {
	if opts.Resource == "" {
		return ListResult{}, fmt.Errorf("list: resource is required: %w", ErrInvalid)
	}
	if opts.Limit < 0 {
		return ListResult{}, fmt.Errorf("list %s: negative limit: %w", opts.Resource, ErrInvalid)
	}
	var after continueToken
	if opts.Continue != "" {
		t, err := decodeContinue(opts.Continue)
		if err != nil {
			return ListResult{}, fmt.Errorf("list %s: %w", opts.Resource, err)
		}
		if opts.Namespace != "" && t.Namespace != opts.Namespace {
			return ListResult{}, fmt.Errorf("list %s: continue token is for namespace %q: %w", opts.Resource, t.Namespace, ErrInvalid)
		}
		after, opts.Revision = t, t.Rev
	}
	limit := opts.Limit
	if limit == 0 {
		limit = 1 << 30
	}
	var (
		res    ListResult
		err    error
		cached bool
	)
	if s.lists != nil {
		if res, cached, err = s.listCached(ctx, opts, after, limit); err != nil {
			return ListResult{}, err
		}
	}
	switch {
	case cached:
	case opts.Revision == 0:
		res, err = s.listCurrent(ctx, opts, after, limit)
	default:
		res, err = s.listAt(ctx, opts, after, limit)
	}
	if err != nil {
		return ListResult{}, err
	}
	if len(res.Items) > limit {
		res.Items = res.Items[:limit]
		last := res.Items[limit-1]
		res.Continue = encodeContinue(continueToken{Rev: res.Revision, Namespace: last.Namespace, Name: last.Name})
	}
	return res, nil
}

func (s *Store) listCurrent(ctx context.Context, opts ListOptions, after continueToken, limit int) (ListResult, error) {
	res, err := s.queryCurrent(ctx, opts, after, limit)
	if err != nil {
		return ListResult{}, err
	}
	if len(res.Items) == 0 {
		// No row carried the revision: read the page at the current
		// revision, so that "empty" is exact for that revision.
		cur, _, err := s.revisions(ctx)
		if err != nil {
			return ListResult{}, fmt.Errorf("list %s: %w", opts.Resource, err)
		}
		opts.Revision = cur
		return s.listAt(ctx, opts, after, limit)
	}
	return res, nil
}

// queryCurrent reads a page of the current objects; the revision comes
// with the rows (0 when there are none).
func (s *Store) queryCurrent(ctx context.Context, opts ListOptions, after continueToken, limit int) (ListResult, error) {
	var (
		rs  *sql.Rows
		err error
	)
	if opts.Namespace != "" {
		rs, err = s.r.query(ctx, s.stmts.listNS, opts.Resource, opts.Namespace, after.Name, limit+1)
	} else {
		rs, err = s.r.query(ctx, s.stmts.list, opts.Resource, after.Namespace, after.Name, limit+1)
	}
	if err != nil {
		return ListResult{}, fmt.Errorf("list %s: %w", opts.Resource, s.d.translateErr(err))
	}
	defer rs.Close()
	var res ListResult
	for rs.Next() {
		var (
			ns, name    string
			rev, create int64
			stored      []byte
		)
		if err := rs.Scan(&res.Revision, &ns, &name, &rev, &create, &stored); err != nil {
			return ListResult{}, fmt.Errorf("list %s: %w", opts.Resource, s.d.translateErr(err))
		}
		obj, err := s.object(opts.Resource, ns, name, rev, create, stored)
		if err != nil {
			return ListResult{}, err
		}
		res.Items = append(res.Items, obj)
	}
	if err := rs.Err(); err != nil {
		return ListResult{}, fmt.Errorf("list %s: %w", opts.Resource, s.d.translateErr(err))
	}
	return res, nil
}

func (s *Store) listAt(ctx context.Context, opts ListOptions, after continueToken, limit int) (ListResult, error) {
	rev := opts.Revision
	// When nothing of the resource changed after rev, its state at rev is
	// the current one: the page is read from objects, an index range,
	// instead of from history. This is the common case of a paginated list
	// (kubectl get --chunk-size, informers' paged lists).
	var changed int
	if err := s.r.queryRow(ctx, s.stmts.changedAfter, rev, opts.Resource).Scan(&changed); err != nil {
		return ListResult{}, fmt.Errorf("list %s at revision %d: %w", opts.Resource, rev, s.d.translateErr(err))
	}
	if changed == 0 {
		if err := s.checkReadable(ctx, rev); err != nil {
			return ListResult{}, fmt.Errorf("list %s: %w", opts.Resource, err)
		}
		res, err := s.queryCurrent(ctx, opts, after, limit)
		if err != nil {
			return ListResult{}, err
		}
		res.Revision = rev
		return res, nil
	}
	var (
		rs  *sql.Rows
		err error
	)
	if opts.Namespace != "" {
		rs, err = s.r.query(ctx, s.stmts.listAtNS, opts.Resource, opts.Namespace, after.Name, rev, rev, limit+1)
	} else {
		rs, err = s.r.query(ctx, s.stmts.listAt, opts.Resource, after.Namespace, after.Name, rev, rev, limit+1)
	}
	if err != nil {
		return ListResult{}, fmt.Errorf("list %s at revision %d: %w", opts.Resource, rev, s.d.translateErr(err))
	}
	defer rs.Close()
	res := ListResult{Revision: rev}
	for rs.Next() {
		var (
			ns, name   string
			orev, crev int64
			stored     []byte
		)
		if err := rs.Scan(&ns, &name, &orev, &crev, &stored); err != nil {
			return ListResult{}, fmt.Errorf("list %s at revision %d: %w", opts.Resource, rev, s.d.translateErr(err))
		}
		obj, err := s.object(opts.Resource, ns, name, orev, crev, stored)
		if err != nil {
			return ListResult{}, err
		}
		res.Items = append(res.Items, obj)
	}
	if err := rs.Err(); err != nil {
		return ListResult{}, fmt.Errorf("list %s at revision %d: %w", opts.Resource, rev, s.d.translateErr(err))
	}
	if err := s.checkReadable(ctx, rev); err != nil {
		return ListResult{}, fmt.Errorf("list %s: %w", opts.Resource, err)
	}
	return res, nil
}

func (s *Store) object(resource, ns, name string, rev, create int64, stored []byte) (Object, error) {
	key := Key{Resource: resource, Namespace: ns, Name: name}
	v, err := s.fromStorage(key, stored)
	if err != nil {
		return Object{}, fmt.Errorf("read %s: %w", key, err)
	}
	return Object{Key: key, Revision: rev, CreateRevision: create, Value: v}, nil
}

// History returns every change of one object still in the store (those
// compaction kept), oldest first.
func (s *Store) History(ctx context.Context, key Key) ([]Event, error) {
	rs, err := s.r.query(ctx, s.stmts.history, key.Resource, key.Namespace, key.Name)
	if err != nil {
		return nil, fmt.Errorf("history of %s: %w", key, s.d.translateErr(err))
	}
	events, err := s.scanEvents(rs, "")
	if err != nil {
		return nil, fmt.Errorf("history of %s: %w", key, err)
	}
	return events, nil
}

// changes reads up to limit changes in (from, to] that match opts.
func (s *Store) changes(ctx context.Context, opts WatchOptions, from, to int64, limit int) ([]Event, error) {
	var (
		rs  *sql.Rows
		err error
	)
	switch {
	case opts.Resource != "" && opts.Namespace != "":
		rs, err = s.r.query(ctx, s.stmts.changesSinceNS, opts.Resource, opts.Namespace, from, to, limit)
	case opts.Resource != "":
		rs, err = s.r.query(ctx, s.stmts.changesSinceRes, opts.Resource, from, to, limit)
	default:
		rs, err = s.r.query(ctx, s.stmts.changesSince, from, to, limit)
	}
	if err != nil {
		return nil, fmt.Errorf("read changes after revision %d: %w", from, s.d.translateErr(err))
	}
	events, err := s.scanEvents(rs, opts.Namespace)
	if err != nil {
		return nil, fmt.Errorf("read changes after revision %d: %w", from, err)
	}
	return events, nil
}

// scanEvents reads rows of eventColumns, skipping other namespaces when
// namespace is set, and closes rs.
func (s *Store) scanEvents(rs *sql.Rows, namespace string) ([]Event, error) {
	defer rs.Close()
	var out []Event
	for rs.Next() {
		var (
			e      Event
			op     string
			stored []byte
			at     any
			k      = &e.Object.Key
		)
		if err := rs.Scan(&e.Object.Revision, &k.Resource, &k.Namespace, &k.Name, &op, &e.Object.CreateRevision, &e.PrevRevision, &stored, &e.Actor, &at); err != nil {
			return nil, s.d.translateErr(err)
		}
		if namespace != "" && k.Namespace != namespace {
			continue
		}
		e.Op = Op(op)
		var err error
		if e.At, err = s.d.scanTime(at); err != nil {
			return nil, fmt.Errorf("revision %d: %w", e.Object.Revision, err)
		}
		if e.Object.Value, err = s.fromStorage(*k, stored); err != nil {
			return nil, fmt.Errorf("revision %d: %w", e.Object.Revision, err)
		}
		out = append(out, e)
	}
	if err := rs.Err(); err != nil {
		return nil, s.d.translateErr(err)
	}
	return out, nil
}
