package storage_test

import (
	"context"
	"errors"
	"sync"
	"testing"
	"time"

	"github.com/sqlkube/sqlkube/storage"
)

// Store.Cached for resources no List loaded: the objects the hub saw
// change and those Get read, with tombstones for deletions.

// waitCached polls s.Cached(k) until ok, with a deadline: a change another
// store made arrives through NOTIFY (PostgreSQL) or the poll (SQLite).
func waitCached(t *testing.T, s *storage.Store, k storage.Key, what string, ok func(storage.Object, bool) bool) {
	t.Helper()
	deadline := time.Now().Add(10 * time.Second)
	tick := time.NewTicker(2 * time.Millisecond)
	defer tick.Stop()
	for {
		o, found := s.Cached(k)
		if ok(o, found) {
			return
		}
		if time.Now().After(deadline) {
			t.Fatalf("Cached(%s) = revision %d, %v after 10s; want %s", k, o.Revision, found, what)
		}
		<-tick.C
	}
}

func hasRevision(rev int64) func(storage.Object, bool) bool {
	return func(o storage.Object, ok bool) bool { return ok && o.Revision == rev }
}

func absent(_ storage.Object, ok bool) bool { return !ok }

func mustCreate(t *testing.T, s *storage.Store, k storage.Key) storage.Object {
	t.Helper()
	o, err := s.Create(context.Background(), k, val(`{"name":%q}`, k.Name))
	if err != nil {
		t.Fatal(err)
	}
	return o
}

func mustGet(t *testing.T, s *storage.Store, k storage.Key) storage.Object {
	t.Helper()
	o, err := s.Get(context.Background(), k)
	if err != nil {
		t.Fatal(err)
	}
	return o
}

// TestCachedAfterGet: an object the store has not seen change is cached
// once Get read it, and only then; with NoListCache nothing is.
func TestCachedAfterGet(t *testing.T) {
	eachDriver(t, func(t *testing.T, d driver) {
		url := d.datastore(t)
		w := open(t, url)
		a, b := key("widgets", "ns", "a"), key("widgets", "ns", "b")
		created := mustCreate(t, w, a)
		mustCreate(t, w, b)

		s := open(t, url, func(c *storage.Config) { c.PollInterval = time.Hour })
		if o, ok := s.Cached(a); ok {
			t.Fatalf("Cached(%s) before any read = revision %d", a, o.Revision)
		}
		got := mustGet(t, s, a)
		o, ok := s.Cached(a)
		if !ok || o.Revision != created.Revision || o.CreateRevision != created.CreateRevision || !sameJSON(o.Value, got.Value) {
			t.Fatalf("Cached(%s) after Get = %d/%d %s, %v; want %d/%d %s", a, o.Revision, o.CreateRevision, o.Value, ok, created.Revision, created.CreateRevision, got.Value)
		}
		if o, ok := s.Cached(b); ok {
			t.Fatalf("Cached(%s), never read, = revision %d", b, o.Revision)
		}
		if _, err := s.Get(context.Background(), key("widgets", "ns", "none")); !errors.Is(err, storage.ErrNotFound) {
			t.Fatalf("Get of a missing object: %v", err)
		}

		off := open(t, url, func(c *storage.Config) { c.NoListCache = true })
		mustGet(t, off, a)
		if o, ok := off.Cached(a); ok {
			t.Fatalf("with NoListCache, Cached(%s) = revision %d", a, o.Revision)
		}
	})
}

// TestCachedFollowsWrites: after a Get, the cached object follows updates
// and deletes made through the store itself or through a second store on
// the same database (on PostgreSQL through NOTIFY alone: the reader does
// not poll), and objects created after the store opened are cached
// without a read.
func TestCachedFollowsWrites(t *testing.T) {
	eachDriver(t, func(t *testing.T, d driver) {
		for _, tc := range []struct {
			name  string
			other bool // written by a second store
		}{
			{"same store", false},
			{"other store", true},
		} {
			t.Run(tc.name, func(t *testing.T) {
				ctx := context.Background()
				url := d.datastore(t)
				poll := time.Hour // PostgreSQL: notifications only
				if d.name == "sqlite" && tc.other {
					poll = 20 * time.Millisecond // no notifications on SQLite
				}
				pre := open(t, url)
				k := key("widgets", "ns", "x")
				mustCreate(t, pre, k)
				s := open(t, url, func(c *storage.Config) { c.PollInterval = poll })
				w := s
				if tc.other {
					w = pre
				}
				mustGet(t, s, k)

				up, err := w.Update(ctx, k, val(`{"updated":true}`), 0)
				if err != nil {
					t.Fatal(err)
				}
				waitCached(t, s, k, "the update", hasRevision(up.Revision))
				if o, _ := s.Cached(k); !sameJSON(o.Value, []byte(`{"updated":true}`)) {
					t.Fatalf("Cached(%s) = %s after the update", k, o.Value)
				}

				if _, err := w.Delete(ctx, k, up.Revision); err != nil {
					t.Fatal(err)
				}
				waitCached(t, s, k, "the deletion", absent)

				n := key("widgets", "other", "new")
				o := mustCreate(t, w, n)
				waitCached(t, s, n, "the create", hasRevision(o.Revision))
				if got := storage.SparseEntries(s, "widgets"); got != 2 {
					t.Fatalf("%d sparse entries, want 2 (x's tombstone and new)", got)
				}
			})
		}
	})
}

// TestCachedGetRacingWrite: a Get whose result is overtaken, between its
// read and its offer to the cache, by a write the cache has seen never
// puts back an older version, a deleted object above all; nor does a Get
// older than the tombstones' lifetime, nor one from before a reset.
func TestCachedGetRacingWrite(t *testing.T) {
	type race struct {
		s     *storage.Store
		k     storage.Key
		clock *fakeClock
	}
	ctx := context.Background()
	eachDriver(t, func(t *testing.T, d driver) {
		for _, tc := range []struct {
			name string
			// meanwhile runs between Get's read and its offer, and
			// returns what Cached must then answer.
			meanwhile func(t *testing.T, r race) func(storage.Object, bool) bool
		}{
			{"delete", func(t *testing.T, r race) func(storage.Object, bool) bool {
				if _, err := r.s.Delete(ctx, r.k, 0); err != nil {
					t.Fatal(err)
				}
				return absent
			}},
			{"update", func(t *testing.T, r race) func(storage.Object, bool) bool {
				o, err := r.s.Update(ctx, r.k, val(`{"v":2}`), 0)
				if err != nil {
					t.Fatal(err)
				}
				return hasRevision(o.Revision)
			}},
			{"delete and create", func(t *testing.T, r race) func(storage.Object, bool) bool {
				if _, err := r.s.Delete(ctx, r.k, 0); err != nil {
					t.Fatal(err)
				}
				return hasRevision(mustCreate(t, r.s, r.k).Revision)
			}},
			{"delete, then a Get older than the tombstones' lifetime", func(t *testing.T, r race) func(storage.Object, bool) bool {
				if _, err := r.s.Delete(ctx, r.k, 0); err != nil {
					t.Fatal(err)
				}
				r.clock.advance(storage.TombstoneTTL)
				mustCreate(t, r.s, key("gadgets", "ns", "sweeper")) // the hub sweeps the tombstone
				if n := storage.SparseEntries(r.s, "widgets"); n != 0 {
					t.Fatalf("%d sparse widgets: the tombstone was not swept", n)
				}
				return absent
			}},
			{"reset", func(t *testing.T, r race) func(storage.Object, bool) bool {
				storage.ResetCache(r.s)
				return absent // the read may have missed changes the hub skipped
			}},
		} {
			t.Run(tc.name, func(t *testing.T) {
				url := d.datastore(t)
				k := key("widgets", "ns", "x")
				read := mustCreate(t, open(t, url), k)
				r := race{s: open(t, url, func(c *storage.Config) { c.PollInterval = time.Hour }), k: k, clock: newFakeClock()}
				storage.SetCacheClock(r.s, r.clock.now)
				if _, ok := r.s.Cached(k); ok {
					t.Fatal("cached before the Get")
				}
				var want func(storage.Object, bool) bool
				storage.AfterGetRead(r.s, func(storage.Key) {
					if want == nil {
						want = tc.meanwhile(t, r)
					}
				})
				if got := mustGet(t, r.s, k); got.Revision != read.Revision {
					t.Fatalf("Get read revision %d, want %d", got.Revision, read.Revision)
				}
				if o, ok := r.s.Cached(k); !want(o, ok) {
					t.Fatalf("Cached(%s) = revision %d, %v after the race", k, o.Revision, ok)
				}
			})
		}
	})
}

// TestCachedTombstonesSwept: a tombstone outlives the deletion by
// TombstoneTTL, then the next change sweeps it.
func TestCachedTombstonesSwept(t *testing.T) {
	eachDriver(t, func(t *testing.T, d driver) {
		ctx := context.Background()
		s := open(t, d.datastore(t))
		clock := newFakeClock()
		storage.SetCacheClock(s, clock.now)
		k := key("widgets", "ns", "x")
		mustCreate(t, s, k)
		if _, err := s.Delete(ctx, k, 0); err != nil {
			t.Fatal(err)
		}
		for _, step := range []struct {
			advance time.Duration
			want    int
		}{
			{0, 1},
			{storage.TombstoneTTL - time.Second, 1},
			{time.Second, 0},
		} {
			clock.advance(step.advance)
			mustCreate(t, s, key("gadgets", "ns", clock.now().Format("150405.000000000")))
			if got := storage.SparseEntries(s, "widgets"); got != step.want {
				t.Fatalf("after %v more: %d sparse widgets, want %d", step.advance, got, step.want)
			}
		}
	})
}

// TestCachedLoadDropsSparse: a resource's first List replaces its sparse
// entries with the loaded state, which has every object; Get then offers
// nothing more.
func TestCachedLoadDropsSparse(t *testing.T) {
	eachDriver(t, func(t *testing.T, d driver) {
		ctx := context.Background()
		url := d.datastore(t)
		pre := open(t, url)
		a, b, c := key("widgets", "ns", "a"), key("widgets", "ns", "b"), key("widgets", "ns", "c")
		var revs []int64
		for _, k := range []storage.Key{a, b, c} {
			revs = append(revs, mustCreate(t, pre, k).Revision)
		}
		s := open(t, url, func(c *storage.Config) { c.PollInterval = time.Hour })
		mustGet(t, s, a)
		if _, err := s.Delete(ctx, b, 0); err != nil {
			t.Fatal(err)
		}
		if got := storage.SparseEntries(s, "widgets"); got != 2 {
			t.Fatalf("%d sparse entries before the list, want 2 (a and b's tombstone)", got)
		}
		if _, ok := s.ResourceRevision("widgets"); ok {
			t.Fatal("widgets loaded before any list")
		}
		if _, err := s.List(ctx, storage.ListOptions{Resource: "widgets"}); err != nil {
			t.Fatal(err)
		}
		if got := storage.SparseEntries(s, "widgets"); got != 0 {
			t.Fatalf("%d sparse entries after the list, want 0", got)
		}
		for _, tc := range []struct {
			k    storage.Key
			want func(storage.Object, bool) bool
		}{
			{a, hasRevision(revs[0])},
			{b, absent},
			{c, hasRevision(revs[2])}, // never read: from the loaded state
		} {
			if o, ok := s.Cached(tc.k); !tc.want(o, ok) {
				t.Fatalf("Cached(%s) = revision %d, %v after the list", tc.k, o.Revision, ok)
			}
		}
		mustGet(t, s, c)
		if got := storage.SparseEntries(s, "widgets"); got != 0 {
			t.Fatalf("a Get of a loaded resource made %d sparse entries", got)
		}
	})
}

// TestCachedResetForgets: when the hub skips revisions, the cache forgets
// loaded resources and sparse entries alike; reads fill it again.
func TestCachedResetForgets(t *testing.T) {
	eachDriver(t, func(t *testing.T, d driver) {
		ctx := context.Background()
		s := open(t, d.datastore(t))
		read, changed, listed := key("widgets", "ns", "read"), key("widgets", "ns", "changed"), key("gadgets", "ns", "listed")
		for _, k := range []storage.Key{read, changed, listed} {
			mustCreate(t, s, k)
		}
		if _, err := s.Delete(ctx, changed, 0); err != nil {
			t.Fatal(err)
		}
		mustGet(t, s, read)
		if _, err := s.List(ctx, storage.ListOptions{Resource: "gadgets"}); err != nil {
			t.Fatal(err)
		}
		for _, k := range []storage.Key{read, listed} {
			if _, ok := s.Cached(k); !ok {
				t.Fatalf("Cached(%s) before the reset: not found", k)
			}
		}
		storage.ResetCache(s)
		for _, k := range []storage.Key{read, listed} {
			if o, ok := s.Cached(k); ok {
				t.Fatalf("Cached(%s) after the reset = revision %d", k, o.Revision)
			}
		}
		if got := storage.SparseEntries(s, "widgets"); got != 0 {
			t.Fatalf("%d sparse entries after the reset (tombstones included), want 0", got)
		}
		if _, ok := s.ResourceRevision("gadgets"); ok {
			t.Fatal("gadgets still loaded after the reset")
		}
		o := mustGet(t, s, read)
		waitCached(t, s, read, "the Get after the reset", hasRevision(o.Revision))
	})
}

// fakeClock is a settable clock for the cache's tombstones.
type fakeClock struct {
	mu sync.Mutex
	t  time.Time
}

func newFakeClock() *fakeClock { return &fakeClock{t: time.Unix(1e9, 0)} }

func (c *fakeClock) now() time.Time {
	c.mu.Lock()
	defer c.mu.Unlock()
	return c.t
}

func (c *fakeClock) advance(d time.Duration) {
	c.mu.Lock()
	c.t = c.t.Add(d)
	c.mu.Unlock()
}
