package storage_test

import (
	"context"
	"errors"
	"fmt"
	"sync"
	"testing"

	"github.com/sqlkube/sqlkube/storage"
)

func TestCreateGetUpdateDelete(t *testing.T) {
	eachDriver(t, func(t *testing.T, d driver) {
		ctx := storage.WithActor(context.Background(), "alice")
		s := open(t, d.datastore(t))
		k := key("configmaps", "default", "a")

		if _, err := s.Get(ctx, k); !errors.Is(err, storage.ErrNotFound) {
			t.Fatalf("get before create: got %v, want ErrNotFound", err)
		}
		c, err := s.Create(ctx, k, val(`{"v":1}`))
		if err != nil {
			t.Fatalf("create: %v", err)
		}
		if c.Revision != 1 || c.CreateRevision != 1 {
			t.Fatalf("create: revision %d create %d, want 1 1", c.Revision, c.CreateRevision)
		}
		if _, err := s.Create(ctx, k, val(`{"v":2}`)); !errors.Is(err, storage.ErrExists) {
			t.Fatalf("second create: got %v, want ErrExists", err)
		}
		g, err := s.Get(ctx, k)
		if err != nil || g.Revision != 1 || string(g.Value) != `{"v": 1}` && string(g.Value) != `{"v":1}` {
			t.Fatalf("get: %+v %v", g, err)
		}

		u, err := s.Update(ctx, k, val(`{"v":3}`), c.Revision)
		if err != nil || u.Revision != 2 || u.CreateRevision != 1 {
			t.Fatalf("update: %+v %v", u, err)
		}
		// A stale revision changes nothing, for update and delete.
		if _, err := s.Update(ctx, k, val(`{"v":4}`), c.Revision); !errors.Is(err, storage.ErrConflict) {
			t.Fatalf("stale update: got %v, want ErrConflict", err)
		}
		if _, err := s.Delete(ctx, k, c.Revision); !errors.Is(err, storage.ErrConflict) {
			t.Fatalf("stale delete: got %v, want ErrConflict", err)
		}
		if rev, _ := s.CurrentRevision(ctx); rev != 2 {
			t.Fatalf("revision after failed writes: %d, want 2", rev)
		}
		g, _ = s.Get(ctx, k)
		if g.Revision != 2 || !jsonEq(g.Value, `{"v":3}`) {
			t.Fatalf("after stale writes: %+v", g)
		}

		del, err := s.Delete(ctx, k, u.Revision)
		if err != nil || del.Revision != 3 || !jsonEq(del.Value, `{"v":3}`) {
			t.Fatalf("delete: %+v %v", del, err)
		}
		if _, err := s.Get(ctx, k); !errors.Is(err, storage.ErrNotFound) {
			t.Fatalf("get after delete: %v", err)
		}
		for _, err := range []error{
			second(s.Update(ctx, k, val(`{}`), 0)),
			second(s.Delete(ctx, k, 0)),
		} {
			if !errors.Is(err, storage.ErrNotFound) {
				t.Fatalf("write to deleted object: got %v, want ErrNotFound", err)
			}
		}
		// Re-creation starts a new life with its own create revision.
		r, err := s.Create(ctx, k, val(`{"v":5}`))
		if err != nil || r.CreateRevision != 4 {
			t.Fatalf("re-create: %+v %v", r, err)
		}

		// Past states stay readable.
		for rev, want := range map[int64]string{1: `{"v":1}`, 2: `{"v":3}`, 4: `{"v":5}`} {
			o, err := s.GetAt(ctx, k, rev)
			if err != nil || !jsonEq(o.Value, want) {
				t.Errorf("get at %d: %s %v, want %s", rev, o.Value, err, want)
			}
		}
		if _, err := s.GetAt(ctx, k, 3); !errors.Is(err, storage.ErrNotFound) {
			t.Errorf("get at the delete: %v, want ErrNotFound", err)
		}
		if _, err := s.GetAt(ctx, k, 99); !errors.Is(err, storage.ErrFutureRevision) {
			t.Errorf("get at a future revision: %v, want ErrFutureRevision", err)
		}

		// History: every change, its actor and its previous revision.
		h, err := s.History(ctx, k)
		if err != nil {
			t.Fatal(err)
		}
		var got []string
		for _, e := range h {
			got = append(got, fmt.Sprintf("%d %s prev=%d by %s", e.Object.Revision, e.Op, e.PrevRevision, e.Actor))
			if e.At.IsZero() {
				t.Errorf("revision %d has no commit time", e.Object.Revision)
			}
		}
		want := []string{"1 create prev=0 by alice", "2 update prev=1 by alice", "3 delete prev=2 by alice", "4 create prev=0 by alice"}
		if fmt.Sprint(got) != fmt.Sprint(want) {
			t.Fatalf("history:\n got %q\nwant %q", got, want)
		}
	})
}

// TestConcurrentCompareAndSwap: many writers increment one counter with
// compare-and-swap; every increment that was acknowledged is in the final
// value, and every other one got ErrConflict.
func TestConcurrentCompareAndSwap(t *testing.T) {
	eachDriver(t, func(t *testing.T, d driver) {
		ctx := context.Background()
		s := open(t, d.datastore(t))
		k := key("counters", "", "c")
		if _, err := s.Create(ctx, k, val(`{"n":0}`)); err != nil {
			t.Fatal(err)
		}
		var (
			wg        sync.WaitGroup
			mu        sync.Mutex
			succeeded int
		)
		for w := 0; w < 16; w++ {
			wg.Add(1)
			go func() {
				defer wg.Done()
				for i := 0; i < 40; i++ {
					for {
						o, err := s.Get(ctx, k)
						if err != nil {
							t.Error(err)
							return
						}
						var n int
						fmt.Sscanf(compact(o.Value), `{"n":%d}`, &n)
						_, err = s.Update(ctx, k, val(`{"n":%d}`, n+1), o.Revision)
						if errors.Is(err, storage.ErrConflict) {
							continue
						}
						if err != nil {
							t.Error(err)
							return
						}
						mu.Lock()
						succeeded++
						mu.Unlock()
						break
					}
				}
			}()
		}
		wg.Wait()
		o, _ := s.Get(ctx, k)
		if !jsonEq(o.Value, fmt.Sprintf(`{"n":%d}`, succeeded)) || succeeded != 640 {
			t.Fatalf("counter %s after %d acknowledged increments, want 640", o.Value, succeeded)
		}
		if o.Revision != 641 {
			t.Fatalf("revision %d, want 641: failed writes must not use revisions", o.Revision)
		}
	})
}

func second[T any](_ T, err error) error { return err }
