package server

import (
	"context"
	"strings"
	"sync"
	"time"

	"github.com/sqlkube/sqlkube/storage"
)

// namespaceCache knows which namespaces exist and which are terminating,
// from a watch on the store, so that a create in a namespace does not cost
// a database read. A namespace it does not know is looked up in the store
// (another server may have created it a moment ago).
type namespaceCache struct {
	mu          sync.RWMutex
	terminating map[string]bool // name → being deleted
	synced      bool
}

// lookup returns whether ns exists and is terminating; known is false
// when the cache cannot tell.
func (c *namespaceCache) lookup(ns string) (exists, terminating, known bool) {
	c.mu.RLock()
	defer c.mu.RUnlock()
	t, ok := c.terminating[ns]
	return ok, t, ok && c.synced
}

func (c *namespaceCache) apply(o storage.Object, deleted bool) {
	c.mu.Lock()
	defer c.mu.Unlock()
	if deleted {
		delete(c.terminating, o.Name)
		return
	}
	c.terminating[o.Name] = strings.Contains(string(o.Value), `"deletionTimestamp"`)
}

// run lists the namespaces and follows their changes until ctx ends,
// starting over after an error.
func (c *namespaceCache) run(ctx context.Context, st *storage.Store, log interface{ Warn(string, ...any) }) {
	for ctx.Err() == nil {
		if err := c.follow(ctx, st); err != nil && ctx.Err() == nil {
			log.Warn("namespace cache: restarting", "err", err)
			c.mu.Lock()
			c.synced = false
			c.mu.Unlock()
			select {
			case <-ctx.Done():
			case <-time.After(time.Second):
			}
		}
	}
}

func (c *namespaceCache) follow(ctx context.Context, st *storage.Store) error {
	l, err := st.List(ctx, storage.ListOptions{Resource: "namespaces"})
	if err != nil {
		return err
	}
	w, err := st.Watch(ctx, storage.WatchOptions{Resource: "namespaces", Revision: l.Revision})
	if err != nil {
		return err
	}
	defer w.Stop()
	c.mu.Lock()
	c.terminating = map[string]bool{}
	c.mu.Unlock()
	for _, o := range l.Items {
		c.apply(o, false)
	}
	c.mu.Lock()
	c.synced = true
	c.mu.Unlock()
	for e := range w.Events() {
		c.apply(e.Object, e.Op == storage.OpDelete)
	}
	return w.Err()
}
