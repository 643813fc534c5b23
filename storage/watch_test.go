package storage_test

import (
	"context"
	"errors"
	"fmt"
	"testing"
	"time"

	"github.com/sqlkube/sqlkube/storage"
)

func TestWatchFromNow(t *testing.T) {
	eachDriver(t, func(t *testing.T, d driver) {
		ctx := storage.WithActor(context.Background(), "bob")
		s := open(t, d.datastore(t))
		if _, err := s.Create(ctx, key("pods", "a", "old"), val(`{}`)); err != nil {
			t.Fatal(err)
		}
		all := must(s.Watch(ctx, storage.WatchOptions{}))
		pods := must(s.Watch(ctx, storage.WatchOptions{Resource: "pods"}))
		podsInB := must(s.Watch(ctx, storage.WatchOptions{Resource: "pods", Namespace: "b"}))

		c := must(s.Create(ctx, key("pods", "a", "x"), val(`{"v":1}`)))
		must(s.Create(ctx, key("services", "a", "x"), val(`{}`)))
		must(s.Create(ctx, key("pods", "b", "y"), val(`{"v":1}`)))
		must(s.Update(ctx, key("pods", "b", "y"), val(`{"v":2}`), 0))
		must(s.Delete(ctx, key("pods", "a", "x"), c.Revision))

		want := map[*storage.Watcher][]string{
			all:     {"2 create pods/a/x", "3 create services/a/x", "4 create pods/b/y", "5 update pods/b/y", "6 delete pods/a/x"},
			pods:    {"2 create pods/a/x", "4 create pods/b/y", "5 update pods/b/y", "6 delete pods/a/x"},
			podsInB: {"4 create pods/b/y", "5 update pods/b/y"},
		}
		for w, want := range want {
			var got []string
			for range want {
				e := next(t, w)
				got = append(got, fmt.Sprintf("%d %s %s", e.Object.Revision, e.Op, e.Object.Key))
				if e.Actor != "bob" || e.At.IsZero() {
					t.Errorf("event %d: actor %q at %v", e.Object.Revision, e.Actor, e.At)
				}
				if e.Op == storage.OpDelete && (!jsonEq(e.Object.Value, `{"v":1}`) || e.PrevRevision != 2) {
					t.Errorf("delete event carries %s prev %d, want the last state at 2", e.Object.Value, e.PrevRevision)
				}
				if e.Op == storage.OpUpdate && e.PrevRevision != 4 {
					t.Errorf("update event prev %d, want 4", e.PrevRevision)
				}
			}
			if fmt.Sprint(got) != fmt.Sprint(want) {
				t.Errorf("watch %+v:\n got %q\nwant %q", w, got, want)
			}
			quiet(t, w)
		}
	})
}

func TestWatchFromOldRevision(t *testing.T) {
	eachDriver(t, func(t *testing.T, d driver) {
		ctx := context.Background()
		// A watch cache of 4 changes: older starts are read from the database.
		s := open(t, d.datastore(t), func(c *storage.Config) { c.WatchCacheSize = 4 })
		for i := 1; i <= 20; i++ {
			ns := []string{"a", "b"}[i%2]
			must(s.Create(ctx, key("pods", ns, fmt.Sprintf("p%02d", i)), val(`{"i":%d}`, i)))
			must(s.Create(ctx, key("services", ns, fmt.Sprintf("s%02d", i)), val(`{"i":%d}`, i)))
		}
		for _, from := range []int64{1, 10, 36, 38, 40} { // 36+ from the ring
			for _, opts := range []storage.WatchOptions{
				{Revision: from}, {Resource: "pods", Revision: from}, {Resource: "pods", Namespace: "a", Revision: from},
			} {
				w := must(s.Watch(ctx, opts))
				// one more change after the watch started
				live := must(s.Create(ctx, key("pods", "a", fmt.Sprintf("live-%d-%s-%s", from, opts.Resource, opts.Namespace)), val(`{}`)))
				var want []int64
				rev, _ := s.CurrentRevision(ctx)
				for r := from + 1; r <= rev; r++ {
					o := eventAt(t, s, r)
					if (opts.Resource == "" || o.Resource == opts.Resource) && (opts.Namespace == "" || o.Namespace == opts.Namespace) {
						want = append(want, r)
					}
				}
				var got []int64
				for range want {
					got = append(got, next(t, w).Object.Revision)
				}
				if fmt.Sprint(got) != fmt.Sprint(want) {
					t.Fatalf("watch %+v: got %v, want %v", opts, got, want)
				}
				if got[len(got)-1] != live.Revision {
					t.Fatalf("watch %+v did not end with the live change %d", opts, live.Revision)
				}
				quiet(t, w)
				w.Stop()
			}
		}
	})
}

// eventAt returns the key changed at revision r.
func eventAt(t *testing.T, s *storage.Store, r int64) storage.Key {
	t.Helper()
	w := must(s.Watch(context.Background(), storage.WatchOptions{Revision: r - 1}))
	defer w.Stop()
	e := next(t, w)
	if e.Object.Revision != r {
		t.Fatalf("first event after %d is %d", r-1, e.Object.Revision)
	}
	return e.Object.Key
}

func TestWatchEndsWithContextAndClose(t *testing.T) {
	eachDriver(t, func(t *testing.T, d driver) {
		s := open(t, d.datastore(t))
		ctx, cancel := context.WithCancel(context.Background())
		w := must(s.Watch(ctx, storage.WatchOptions{}))
		cancel()
		waitClosed(t, w)
		if w.Err() != nil {
			t.Fatalf("after cancel: %v, want nil", w.Err())
		}
		w2 := must(s.Watch(context.Background(), storage.WatchOptions{}))
		s.Close()
		waitClosed(t, w2)
		if !errors.Is(w2.Err(), storage.ErrClosed) {
			t.Fatalf("after close: %v, want ErrClosed", w2.Err())
		}
		if _, err := s.Create(context.Background(), key("a", "", "b"), val(`{}`)); !errors.Is(err, storage.ErrClosed) {
			t.Fatalf("create after close: %v, want ErrClosed", err)
		}
	})
}

func waitClosed(t *testing.T, w *storage.Watcher) {
	t.Helper()
	timeout := time.After(5 * time.Second)
	for {
		select {
		case _, ok := <-w.Events():
			if !ok {
				return
			}
		case <-timeout:
			t.Fatal("watch did not end")
		}
	}
}

func must[T any](v T, err error) T {
	if err != nil {
		panic(err)
	}
	return v
}
