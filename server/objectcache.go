package server

import (
	"context"
	"sync"
	"time"

	"github.com/sqlkube/sqlkube/storage"
)

// objectCache keeps the current version of the objects this server has
// read or seen change, fed by a watch of every resource, so that updates,
// patches and deletes find the object they change without a database
// read. It may lag the store by the watch delay (other servers' writes
// arrive through NOTIFY): a write decided on a stale entry fails the
// store's revision check, and the write paths then read the store (see
// current and currentFresh).
type objectCache struct {
	mu      sync.RWMutex
	entries map[storage.Key]cacheEntry
	live    bool // the watch is running: entries are kept up to date
}

type cacheEntry struct {
	obj     storage.Object
	deleted time.Time // set for a tombstone: the object was deleted
}

// get returns the cached current version of key.
func (c *objectCache) get(key storage.Key) (storage.Object, bool) {
	c.mu.RLock()
	defer c.mu.RUnlock()
	e, ok := c.entries[key]
	if !ok || !c.live || !e.deleted.IsZero() {
		return storage.Object{}, false
	}
	return e.obj, true
}

// put records o unless the cache already has a newer version of it (a
// tombstone included: a read that raced a delete must not resurrect it).
func (c *objectCache) put(o storage.Object) {
	c.mu.Lock()
	defer c.mu.Unlock()
	if c.entries == nil || !c.live {
		return
	}
	if e, ok := c.entries[o.Key]; ok && e.obj.Revision >= o.Revision {
		return
	}
	c.entries[o.Key] = cacheEntry{obj: o}
}

func (c *objectCache) remove(o storage.Object) {
	c.mu.Lock()
	defer c.mu.Unlock()
	if c.entries != nil {
		c.entries[o.Key] = cacheEntry{obj: storage.Object{Key: o.Key, Revision: o.Revision}, deleted: time.Now()}
	}
}

// sweep drops tombstones older than a minute: far longer than a read can
// race the watch.
func (c *objectCache) sweep() {
	c.mu.Lock()
	defer c.mu.Unlock()
	for k, e := range c.entries {
		if !e.deleted.IsZero() && time.Since(e.deleted) > time.Minute {
			delete(c.entries, k)
		}
	}
}

// run follows every change from now on until ctx ends; after a failed
// watch it empties the cache and starts over.
func (c *objectCache) run(ctx context.Context, st *storage.Store, log interface{ Warn(string, ...any) }) {
	sweep := time.NewTicker(time.Minute)
	defer sweep.Stop()
	for ctx.Err() == nil {
		w, err := st.Watch(ctx, storage.WatchOptions{})
		if err == nil {
			c.mu.Lock()
			c.entries, c.live = map[storage.Key]cacheEntry{}, true
			c.mu.Unlock()
			err = c.follow(ctx, w, sweep.C)
		}
		c.mu.Lock()
		c.entries, c.live = nil, false
		c.mu.Unlock()
		if ctx.Err() == nil {
			log.Warn("object cache: restarting", "err", err)
			select {
			case <-ctx.Done():
			case <-time.After(time.Second):
			}
		}
	}
}

func (c *objectCache) follow(ctx context.Context, w *storage.Watcher, sweep <-chan time.Time) error {
	defer w.Stop()
	for {
		select {
		case <-ctx.Done():
			return nil
		case <-sweep:
			c.sweep()
		case e, ok := <-w.Events():
			if !ok {
				return w.Err()
			}
			if e.Op == storage.OpDelete {
				c.remove(e.Object)
			} else {
				c.put(e.Object)
			}
		}
	}
}
