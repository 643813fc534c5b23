package storage_test

import (
	"context"
	"errors"
	"fmt"
	"testing"
	"time"

	"github.com/sqlkube/sqlkube/storage"
)

func TestCompaction(t *testing.T) {
	eachDriver(t, func(t *testing.T, d driver) {
		ctx := context.Background()
		url := d.datastore(t)
		s := open(t, url, func(c *storage.Config) { c.WatchCacheSize = 2 })
		// a: created, updated 5 times; b: created then deleted; c: created once.
		must(s.Create(ctx, key("cm", "ns", "a"), val(`{"v":0}`)))
		must(s.Create(ctx, key("cm", "ns", "b"), val(`{"v":0}`)))
		must(s.Create(ctx, key("cm", "ns", "c"), val(`{"v":0}`)))
		for i := 1; i <= 5; i++ {
			must(s.Update(ctx, key("cm", "ns", "a"), val(`{"v":%d}`, i), 0))
		}
		must(s.Delete(ctx, key("cm", "ns", "b"), 0))
		// revisions: 1-3 creates, 4-8 updates of a, 9 delete of b
		stateAt := func(rev int64) string {
			l, err := s.List(ctx, storage.ListOptions{Resource: "cm", Revision: rev})
			if err != nil {
				t.Fatalf("list at %d: %v", rev, err)
			}
			var out []string
			for _, o := range l.Items {
				out = append(out, fmt.Sprintf("%s=%s@%d", o.Name, compact(o.Value), o.Revision))
			}
			return fmt.Sprint(out)
		}
		before := map[int64]string{}
		for r := int64(1); r <= 9; r++ {
			before[r] = stateAt(r)
		}
		// keep the last 3 revisions: compact to 6
		c, deleted, err := s.Compact(ctx, storage.Retention{MinRevisions: 3})
		if err != nil || c != 6 {
			t.Fatalf("compact: %d %v, want 6", c, err)
		}
		if deleted != 3 { // a@1, a@4, a@5
			t.Fatalf("deleted %d rows, want 3", deleted)
		}
		if got, _ := s.CompactRevision(ctx); got != 6 {
			t.Fatalf("compact revision %d", got)
		}
		// At and after the compacted revision, reads are exact.
		for r := int64(6); r <= 9; r++ {
			if got := stateAt(r); got != before[r] {
				t.Fatalf("state at %d after compaction: %s, want %s", r, got, before[r])
			}
		}
		// Below it, reads and watches fail with ErrCompacted.
		if _, err := s.List(ctx, storage.ListOptions{Resource: "cm", Revision: 5}); !errors.Is(err, storage.ErrCompacted) {
			t.Fatalf("list at 5: %v, want ErrCompacted", err)
		}
		if _, err := s.GetAt(ctx, key("cm", "ns", "a"), 4); !errors.Is(err, storage.ErrCompacted) {
			t.Fatalf("get at 4: %v, want ErrCompacted", err)
		}
		if _, err := s.Watch(ctx, storage.WatchOptions{Revision: 5}); !errors.Is(err, storage.ErrCompacted) {
			t.Fatalf("watch from 5: %v, want ErrCompacted", err)
		}
		// A watch from the compacted revision gets every later change.
		w := must(s.Watch(ctx, storage.WatchOptions{Revision: 6}))
		for _, want := range []int64{7, 8, 9} {
			if e := next(t, w); e.Object.Revision != want {
				t.Fatalf("watch from 6: got %d, want %d", e.Object.Revision, want)
			}
		}
		// The newest row of every live object survives.
		for name, want := range map[string]string{"a": `{"v":5}`, "c": `{"v":0}`} {
			o, err := s.Get(ctx, key("cm", "ns", name))
			if err != nil || !jsonEq(o.Value, want) {
				t.Fatalf("get %s: %s %v", name, o.Value, err)
			}
		}
		// Compact everything: c's only row (revision 3) stays.
		must(s.Create(ctx, key("cm", "ns", "d"), val(`{}`)))
		if c, _, err := s.Compact(ctx, storage.Retention{MinRevisions: 0, MinAge: time.Nanosecond}); err != nil || c != 10 {
			t.Fatalf("compact all: %d %v", c, err)
		}
		raw := d.raw(t, url)
		var rows int
		if err := raw.QueryRow(`SELECT COUNT(*) FROM revisions`).Scan(&rows); err != nil {
			t.Fatal(err)
		}
		if rows != 3 { // a@8, c@3, d@10
			t.Fatalf("%d rows left in revisions, want 3", rows)
		}
		if got := stateAt(10); got != "[a={\"v\":5}@8 c={\"v\":0}@3 d={}@10]" {
			t.Fatalf("state after full compaction: %s", got)
		}
		h, _ := s.History(ctx, key("cm", "ns", "a"))
		if len(h) != 1 || h[0].Object.Revision != 8 {
			t.Fatalf("history of a after compaction: %+v", h)
		}
		if _, _, err := s.Compact(ctx, storage.Retention{}); !errors.Is(err, storage.ErrInvalid) {
			t.Fatalf("compact without retention: %v", err)
		}
	})
}

// TestCompactionByAge keeps recent history and removes old.
func TestCompactionByAge(t *testing.T) {
	eachDriver(t, func(t *testing.T, d driver) {
		ctx := context.Background()
		s := open(t, d.datastore(t))
		for i := 0; i < 5; i++ {
			must(s.Create(ctx, key("cm", "", fmt.Sprint(i)), val(`{}`)))
			must(s.Update(ctx, key("cm", "", fmt.Sprint(i)), val(`{"u":1}`), 0))
		}
		if c, _, err := s.Compact(ctx, storage.Retention{MinAge: time.Hour}); err != nil || c != 0 {
			t.Fatalf("nothing is an hour old: compacted to %d, %v", c, err)
		}
		time.Sleep(50 * time.Millisecond)
		mark, _ := s.CurrentRevision(ctx)
		time.Sleep(50 * time.Millisecond)
		must(s.Update(ctx, key("cm", "", "0"), val(`{"u":2}`), 0))
		c, _, err := s.Compact(ctx, storage.Retention{MinAge: 75 * time.Millisecond})
		if err != nil || c != mark {
			t.Fatalf("compact by age: %d %v, want %d", c, err, mark)
		}
		// both windows: the smaller compaction wins
		c, _, err = s.Compact(ctx, storage.Retention{MinAge: time.Nanosecond, MinRevisions: 1})
		if err != nil || c != mark {
			t.Fatalf("compact by age and count: %d %v, want %d", c, err, mark)
		}
	})
}
