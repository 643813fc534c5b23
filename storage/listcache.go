package storage

import (
	"context"
	"fmt"
	"sort"
	"sync"
	"sync/atomic"
	"time"
)

// The list cache serves lists of the current state from memory, as
// kube-apiserver's watch cache does. A resource is loaded from the
// database on its first list, then kept current by the hub, which feeds it
// every change in revision order before any watcher sees it.
//
// A list is consistent: it first reads the database's current revision
// (one indexed row), waits until the hub has delivered it, and answers the
// state as of the hub's revision, which is at least that one. A list the
// cache cannot answer (a page at an older revision of a resource that
// changed since, a hub that does not catch up in time) reads the
// database.

// For a resource that is not loaded, the cache keeps the objects it knows
// to be current: every one the hub saw change since the store started and
// every one Store.Get read, so that Cached serves the write paths of any
// face without a second cache above the store. A deletion is kept as a
// tombstone for tombstoneTTL, so that a Get that read the object before
// it was deleted, and offers it after, does not put it back. A Get offers
// nothing once it is older than tombstoneTTL (a tombstone it raced may be
// gone), nor across a reset. The resource's first list loads it whole
// and drops these entries.

// tombstoneTTL is how long a deletion is remembered for a resource that is
// not loaded: far longer than a Get takes between its read and its offer.
const tombstoneTTL = time.Minute

// listCacheWait bounds how long a list waits for the hub to deliver the
// database's current revision before it reads the database instead.
const listCacheWait = 2 * time.Second

type listCache struct {
	mu  sync.RWMutex
	rev int64 // the hub's revision: every change up to it is applied
	res map[string]*cachedResource
	// advanced is closed, and replaced, whenever rev moves.
	advanced chan struct{}
	// served counts the lists answered from memory.
	served atomic.Int64

	// sparse holds, per resource not loaded (or loading), the objects
	// known to be current and tombstones of deleted ones.
	sparse map[string]map[nsName]sparseEntry
	// tombstones lists sparse's deletions oldest first, for the sweep.
	tombstones []tombstone
	// epoch counts resets; a Get read in an earlier epoch offers nothing.
	// Written under mu, read without it.
	epoch atomic.Uint64
	// clock, when set (by tests), replaces time.Now for tombstones.
	clock atomic.Pointer[func() time.Time]
}

// sparseEntry is an object of a resource not loaded, or, when deleted is
// set, a tombstone: obj then has only its key and the deletion's revision.
type sparseEntry struct {
	obj     Object
	deleted bool
}

type tombstone struct {
	resource string
	key      nsName
	rev      int64
	at       time.Time
}

// readMark is taken before a Get reads, to judge its result's offer.
type readMark struct {
	epoch uint64
	at    time.Time
}

// cachedResource is the current state of one resource.
type cachedResource struct {
	loaded bool
	// base is the revision the resource was loaded at; changes at or
	// before it are in the loaded state already.
	base int64
	// pending holds the changes offered while the resource loads.
	pending []Event
	objs    map[nsName]Object
	// keys are objs' keys in list order; nil when an object was added or
	// removed since they were sorted.
	keys []nsName
	// changed is the revision of the newest change applied (base, after
	// loading): the state at any revision from changed on is this one.
	changed int64
}

type nsName struct{ namespace, name string }

func (a nsName) less(b nsName) bool {
	if a.namespace != b.namespace {
		return a.namespace < b.namespace
	}
	return a.name < b.name
}

func newListCache(rev int64) *listCache {
	return &listCache{
		rev: rev, res: map[string]*cachedResource{}, advanced: make(chan struct{}),
		sparse: map[string]map[nsName]sparseEntry{},
	}
}

func (c *listCache) now() time.Time {
	if f := c.clock.Load(); f != nil {
		return (*f)()
	}
	return time.Now()
}

// apply records events, the hub's changes up to revision last. The hub
// calls it with its lock held, in revision order: it only updates maps
// (and sweeps the tombstones that expired, each once).
func (c *listCache) apply(events []Event, last int64) {
	c.mu.Lock()
	defer c.mu.Unlock()
	var now time.Time
	for _, e := range events {
		r := c.res[e.Object.Resource]
		if r != nil && r.loaded {
			r.apply(e)
			continue
		}
		if r != nil {
			r.pending = append(r.pending, e)
		}
		c.note(e, &now)
	}
	if len(c.tombstones) > 0 {
		if now.IsZero() {
			now = c.now()
		}
		c.sweep(now)
	}
	c.advance(last)
}

// note records a change of a resource not loaded; called with mu held.
// *now is the time of tombstones, read from the clock on the first.
func (c *listCache) note(e Event, now *time.Time) {
	m := c.sparse[e.Object.Resource]
	if m == nil {
		m = map[nsName]sparseEntry{}
		c.sparse[e.Object.Resource] = m
	}
	k := nsName{e.Object.Namespace, e.Object.Name}
	if old, ok := m[k]; ok && old.obj.Revision >= e.Object.Revision {
		return // a Get already offered a newer version
	}
	if e.Op == OpDelete {
		if now.IsZero() {
			*now = c.now()
		}
		m[k] = sparseEntry{obj: Object{Key: e.Object.Key, Revision: e.Object.Revision}, deleted: true}
		c.tombstones = append(c.tombstones, tombstone{e.Object.Resource, k, e.Object.Revision, *now})
		return
	}
	m[k] = sparseEntry{obj: e.Object}
}

// sweep drops the tombstones older than tombstoneTTL; called with mu
// held. Tombstones are queued in the order they were made, so each is
// looked at once.
func (c *listCache) sweep(now time.Time) {
	n := 0
	for ; n < len(c.tombstones); n++ {
		t := c.tombstones[n]
		if now.Sub(t.at) < tombstoneTTL {
			break
		}
		m := c.sparse[t.resource]
		if e, ok := m[t.key]; ok && e.deleted && e.obj.Revision == t.rev {
			delete(m, t.key)
			if len(m) == 0 {
				delete(c.sparse, t.resource)
			}
		}
	}
	if n > 0 {
		c.tombstones = c.tombstones[n:]
		if len(c.tombstones) == 0 {
			c.tombstones = nil
		}
	}
}

// mark is taken before a Get reads the object it will offer.
func (c *listCache) mark() readMark {
	return readMark{epoch: c.epoch.Load(), at: c.now()}
}

// offer records o, which a Get that started at m read from the database,
// as current, unless its resource is loaded (the loaded state is
// complete) or the cache knows a newer revision of its key, a tombstone
// included: a Get that raced a delete must not put the object back. A Get
// older than tombstoneTTL, or from before a reset, offers nothing, since
// the tombstone it raced may be gone.
func (c *listCache) offer(o Object, m readMark) {
	k := nsName{o.Namespace, o.Name}
	c.mu.RLock()
	stale := c.knows(o, k)
	c.mu.RUnlock()
	if stale {
		return // the common case of a repeated Get: no write lock
	}
	now := c.now()
	if now.Sub(m.at) >= tombstoneTTL {
		return
	}
	c.mu.Lock()
	defer c.mu.Unlock()
	if c.epoch.Load() != m.epoch || c.knows(o, k) {
		return
	}
	c.sweep(now)
	sp := c.sparse[o.Resource]
	if sp == nil {
		sp = map[nsName]sparseEntry{}
		c.sparse[o.Resource] = sp
	}
	sp[k] = sparseEntry{obj: o}
}

// knows tells whether o need not be offered: its resource is loaded, or
// the cache has its revision or a newer one. Called with mu held.
func (c *listCache) knows(o Object, k nsName) bool {
	if r := c.res[o.Resource]; r != nil && r.loaded {
		return true
	}
	e, ok := c.sparse[o.Resource][k]
	return ok && e.obj.Revision >= o.Revision
}

func (c *listCache) advance(rev int64) {
	c.rev = rev
	close(c.advanced)
	c.advanced = make(chan struct{})
}

// reset forgets every resource and every sparse entry, tombstones
// included: the hub skipped to rev, past changes it could not read. Gets
// under way offer nothing (epoch).
func (c *listCache) reset(rev int64) {
	c.mu.Lock()
	defer c.mu.Unlock()
	c.res = map[string]*cachedResource{}
	c.sparse = map[string]map[nsName]sparseEntry{}
	c.tombstones = nil
	c.epoch.Add(1)
	c.advance(rev)
}

func (r *cachedResource) apply(e Event) {
	if e.Object.Revision <= r.base {
		return
	}
	k := nsName{e.Object.Namespace, e.Object.Name}
	if e.Op == OpDelete {
		delete(r.objs, k)
		r.keys = nil
	} else {
		if _, ok := r.objs[k]; !ok {
			r.keys = nil
		}
		r.objs[k] = e.Object
	}
	r.changed = e.Object.Revision
}

// waitFor waits until the cache has every change up to rev.
func (c *listCache) waitFor(ctx context.Context, rev int64, wake func()) bool {
	deadline := time.NewTimer(listCacheWait)
	defer deadline.Stop()
	for {
		c.mu.RLock()
		now, advanced := c.rev, c.advanced
		c.mu.RUnlock()
		if now >= rev {
			return true
		}
		wake()
		select {
		case <-advanced:
		case <-deadline.C:
			return false
		case <-ctx.Done():
			return false
		}
	}
}

// load makes resource cached, reading its objects from the database. The
// entry is registered before the read, so that every change after the
// read's revision reaches it.
func (s *Store) loadResource(ctx context.Context, resource string) error {
	c := s.lists
	c.mu.Lock()
	if c.res[resource] != nil {
		c.mu.Unlock()
		return nil
	}
	r := &cachedResource{}
	c.res[resource] = r
	c.mu.Unlock()

	res, err := s.listCurrent(ctx, ListOptions{Resource: resource}, continueToken{}, 1<<30)
	c.mu.Lock()
	defer c.mu.Unlock()
	if c.res[resource] != r {
		return nil // reset meanwhile: the next list loads it again
	}
	if err != nil {
		delete(c.res, resource)
		return err
	}
	r.objs = make(map[nsName]Object, len(res.Items))
	for _, o := range res.Items {
		r.objs[nsName{o.Namespace, o.Name}] = o
	}
	r.base, r.changed, r.loaded = res.Revision, res.Revision, true
	for _, e := range r.pending {
		r.apply(e)
	}
	r.pending = nil
	// The loaded state is complete: the sparse entries, kept up to date
	// while it loaded, are no longer needed. (After a failed load they
	// stay, still current.)
	delete(c.sparse, resource)
	return nil
}

// listCached answers a list from the cache; ok is false when it cannot,
// and the database must.
func (s *Store) listCached(ctx context.Context, opts ListOptions, after continueToken, limit int) (res ListResult, ok bool, err error) {
	c := s.lists
	if opts.Revision == 0 {
		cur, _, err := s.revisions(ctx)
		if err != nil {
			return ListResult{}, false, fmt.Errorf("list %s: %w", opts.Resource, err)
		}
		if !c.waitFor(ctx, cur, s.wakeFeed) {
			return ListResult{}, false, ctx.Err()
		}
	}
	for attempt := 0; attempt < 3; attempt++ {
		c.mu.RLock()
		r := c.res[opts.Resource]
		switch {
		case r == nil || !r.loaded:
			c.mu.RUnlock()
			if err := s.loadResource(ctx, opts.Resource); err != nil {
				return ListResult{}, false, fmt.Errorf("list %s: %w", opts.Resource, err)
			}
			continue
		case r.keys == nil:
			c.mu.RUnlock()
			c.sortKeys(opts.Resource)
			continue
		}
		res, ok = r.page(opts, after, limit, max(c.rev, r.base))
		c.mu.RUnlock()
		if ok {
			c.served.Add(1)
		}
		if ok && opts.Revision != 0 {
			// A page at an older revision: that revision must still be
			// readable, as for the database's answer.
			if err := s.checkReadable(ctx, opts.Revision); err != nil {
				return ListResult{}, false, fmt.Errorf("list %s: %w", opts.Resource, err)
			}
		}
		return res, ok, nil
	}
	return ListResult{}, false, nil // changing too fast to catch: read the database
}

func (c *listCache) sortKeys(resource string) {
	c.mu.Lock()
	defer c.mu.Unlock()
	r := c.res[resource]
	if r == nil || !r.loaded || r.keys != nil {
		return
	}
	keys := make([]nsName, 0, len(r.objs))
	for k := range r.objs {
		keys = append(keys, k)
	}
	sort.Slice(keys, func(i, j int) bool { return keys[i].less(keys[j]) })
	r.keys = keys
}

// page returns up to limit+1 objects after after, as of revision now, or
// of opts.Revision if nothing changed since.
func (r *cachedResource) page(opts ListOptions, after continueToken, limit int, now int64) (ListResult, bool) {
	rev := now
	if opts.Revision != 0 {
		if opts.Revision < r.changed || opts.Revision > now {
			return ListResult{}, false
		}
		rev = opts.Revision
	}
	from := nsName{opts.Namespace, ""}
	if after.Namespace != "" || after.Name != "" {
		from = nsName{after.Namespace, after.Name}
		if opts.Namespace != "" {
			from.namespace = opts.Namespace
		}
	}
	i := sort.Search(len(r.keys), func(i int) bool { return from.less(r.keys[i]) || r.keys[i] == from })
	if i < len(r.keys) && r.keys[i] == from && (after.Namespace != "" || after.Name != "") {
		i++ // the continue token names the last object of the previous page
	}
	res := ListResult{Revision: rev}
	for ; i < len(r.keys) && len(res.Items) <= limit; i++ {
		k := r.keys[i]
		if opts.Namespace != "" && k.namespace != opts.Namespace {
			break
		}
		res.Items = append(res.Items, r.objs[k])
	}
	return res, true
}

// Cached returns the current object of key from memory, without a
// database read, for the write paths of every face of the store (API
// server, etcd protocol, offline tools). It answers for any object of a
// resource a List loaded, and, for other resources, for the objects
// changed since the store opened and those Get read. It answers false
// when it does not know: the caller reads with Get, which feeds it.
//
// Like a watch, it may lag the database by the time other stores' writes
// take to arrive (PostgreSQL NOTIFY, or Config.PollInterval), and it may
// still name an object another store has just deleted: a write decided on
// it must pass its revision to the store, whose check then fails if it
// is stale (ErrConflict), and read again with Get. It never answers a
// deleted object back from a Get that raced the delete. With
// Config.NoListCache it answers nothing.
func (s *Store) Cached(key Key) (Object, bool) {
	if s.lists == nil {
		return Object{}, false
	}
	c := s.lists
	k := nsName{key.Namespace, key.Name}
	c.mu.RLock()
	defer c.mu.RUnlock()
	if r := c.res[key.Resource]; r != nil && r.loaded {
		o, ok := r.objs[k]
		return o, ok
	}
	e, ok := c.sparse[key.Resource][k]
	if !ok || e.deleted {
		return Object{}, false
	}
	return e.obj, true
}

// ResourceRevision returns the revision of the newest change to resource
// that the list cache holds, and whether the resource is cached (its
// first List loads it). It reads memory only, and may lag the database
// like Cached: a mirror of a resource built at some revision compares it
// to know that it is stale, and reads a consistent List when it is.
func (s *Store) ResourceRevision(resource string) (int64, bool) {
	if s.lists == nil {
		return 0, false
	}
	c := s.lists
	c.mu.RLock()
	defer c.mu.RUnlock()
	r := c.res[resource]
	if r == nil || !r.loaded {
		return 0, false
	}
	return r.changed, true
}
