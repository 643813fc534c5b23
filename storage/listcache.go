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
	return &listCache{rev: rev, res: map[string]*cachedResource{}, advanced: make(chan struct{})}
}

// apply records events, the hub's changes up to revision last. The hub
// calls it with its lock held, in revision order.
func (c *listCache) apply(events []Event, last int64) {
	c.mu.Lock()
	defer c.mu.Unlock()
	for _, e := range events {
		r := c.res[e.Object.Resource]
		switch {
		case r == nil:
		case !r.loaded:
			r.pending = append(r.pending, e)
		default:
			r.apply(e)
		}
	}
	c.advance(last)
}

func (c *listCache) advance(rev int64) {
	c.rev = rev
	close(c.advanced)
	c.advanced = make(chan struct{})
}

// reset forgets every resource: the hub skipped to rev, past changes it
// could not read.
func (c *listCache) reset(rev int64) {
	c.mu.Lock()
	defer c.mu.Unlock()
	c.res = map[string]*cachedResource{}
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

// Cached returns the current object of key from the list cache, when its
// resource is cached. Like a watch, it may lag the database by the time
// other servers' writes take to arrive; a write decided on it fails the
// revision check if it is stale.
func (s *Store) Cached(key Key) (Object, bool) {
	if s.lists == nil {
		return Object{}, false
	}
	c := s.lists
	c.mu.RLock()
	defer c.mu.RUnlock()
	r := c.res[key.Resource]
	if r == nil || !r.loaded {
		return Object{}, false
	}
	o, ok := r.objs[nsName{key.Namespace, key.Name}]
	return o, ok
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
