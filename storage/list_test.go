package storage_test

import (
	"context"
	"errors"
	"fmt"
	"sync/atomic"
	"testing"

	"github.com/sqlkube/sqlkube/storage"
)

func names(items []storage.Object) []string {
	out := make([]string, len(items))
	for i, o := range items {
		out[i] = o.Namespace + "/" + o.Name
	}
	return out
}

func TestList(t *testing.T) {
	eachDriver(t, func(t *testing.T, d driver) {
		ctx := context.Background()
		s := open(t, d.datastore(t))
		for _, k := range []storage.Key{
			key("pods", "b", "p2"), key("pods", "a", "p1"), key("pods", "b", "p1"),
			key("pods", "a", "p2"), key("services", "a", "p1"), key("nodes", "", "n1"),
		} {
			if _, err := s.Create(ctx, k, val(`{"name":%q}`, k.Name)); err != nil {
				t.Fatal(err)
			}
		}
		all, err := s.List(ctx, storage.ListOptions{Resource: "pods"})
		if err != nil {
			t.Fatal(err)
		}
		if got := fmt.Sprint(names(all.Items)); got != "[a/p1 a/p2 b/p1 b/p2]" || all.Revision != 6 || all.Continue != "" {
			t.Fatalf("list pods: %s at %d continue %q", got, all.Revision, all.Continue)
		}
		inB, _ := s.List(ctx, storage.ListOptions{Resource: "pods", Namespace: "b"})
		if got := fmt.Sprint(names(inB.Items)); got != "[b/p1 b/p2]" {
			t.Fatalf("list pods in b: %s", got)
		}
		nodes, _ := s.List(ctx, storage.ListOptions{Resource: "nodes"})
		if got := fmt.Sprint(names(nodes.Items)); got != "[/n1]" {
			t.Fatalf("list nodes: %s", got)
		}
		empty, err := s.List(ctx, storage.ListOptions{Resource: "secrets"})
		if err != nil || len(empty.Items) != 0 || empty.Revision != 6 {
			t.Fatalf("empty list: %+v %v", empty, err)
		}

		// Pages of one and of three walk the same list.
		for _, limit := range []int{1, 3} {
			for _, ns := range []string{"", "a", "b"} {
				var got []string
				opts := storage.ListOptions{Resource: "pods", Namespace: ns, Limit: limit}
				for {
					page, err := s.List(ctx, opts)
					if err != nil {
						t.Fatal(err)
					}
					if len(page.Items) > limit {
						t.Fatalf("page of %d items for limit %d", len(page.Items), limit)
					}
					got = append(got, names(page.Items)...)
					if page.Continue == "" {
						break
					}
					opts.Continue = page.Continue
				}
				want, _ := s.List(ctx, storage.ListOptions{Resource: "pods", Namespace: ns})
				if fmt.Sprint(got) != fmt.Sprint(names(want.Items)) {
					t.Fatalf("pages of %d in %q: %v, want %v", limit, ns, got, names(want.Items))
				}
			}
		}

		// A list at a past revision shows the state of then.
		before := all.Revision
		if _, err := s.Delete(ctx, key("pods", "a", "p1"), 0); err != nil {
			t.Fatal(err)
		}
		if _, err := s.Update(ctx, key("pods", "b", "p1"), val(`{"name":"changed"}`), 0); err != nil {
			t.Fatal(err)
		}
		if _, err := s.Create(ctx, key("pods", "a", "p0"), val(`{}`)); err != nil {
			t.Fatal(err)
		}
		past, err := s.List(ctx, storage.ListOptions{Resource: "pods", Revision: before})
		if err != nil {
			t.Fatal(err)
		}
		if got := fmt.Sprint(names(past.Items)); got != "[a/p1 a/p2 b/p1 b/p2]" || past.Revision != before {
			t.Fatalf("list at %d: %s at %d", before, got, past.Revision)
		}
		for _, o := range past.Items {
			if o.Name == "p1" && o.Namespace == "b" && !jsonEq(o.Value, `{"name":"p1"}`) {
				t.Fatalf("b/p1 at %d: %s, want its old value", before, o.Value)
			}
		}
		now, _ := s.List(ctx, storage.ListOptions{Resource: "pods"})
		if got := fmt.Sprint(names(now.Items)); got != "[a/p0 a/p2 b/p1 b/p2]" {
			t.Fatalf("list now: %s", got)
		}
		if _, err := s.List(ctx, storage.ListOptions{Resource: "pods", Revision: now.Revision + 5}); !errors.Is(err, storage.ErrFutureRevision) {
			t.Fatalf("list at a future revision: %v", err)
		}
		if _, err := s.List(ctx, storage.ListOptions{Resource: "pods", Continue: "garbage"}); !errors.Is(err, storage.ErrInvalid) {
			t.Fatalf("bad continue token: %v", err)
		}
	})
}

// TestPaginationUnderConcurrentWrites: while writers create, update and
// delete, a paginated list returns the state at its first page's revision:
// every object that existed then exactly once, with its value of then,
// nothing created later.
//
// The writers are stepped by the pager rather than left to the scheduler
// (which, on a quiet machine, could run the whole list before any write):
// between two pages one step of writes commits, and another runs while a
// page is read, so that every page but the first is read after writes,
// some of them during its query.
func TestPaginationUnderConcurrentWrites(t *testing.T) {
	eachDriver(t, func(t *testing.T, d driver) {
		ctx := context.Background()
		s := open(t, d.datastore(t))
		const n, writers, limit = 300, 4, 7
		for i := 0; i < n; i++ {
			if _, err := s.Create(ctx, key("items", "ns", fmt.Sprintf("stable-%03d", i)), val(`{"i":%d}`, i)); err != nil {
				t.Fatal(err)
			}
			if _, err := s.Create(ctx, key("items", "ns", fmt.Sprintf("churn-%03d", i)), val(`{"i":%d}`, i)); err != nil {
				t.Fatal(err)
			}
		}
		var created, updated atomic.Int64
		// step is one round of writes by each writer: a create at a name
		// that sorts before, among or after the existing ones (so before
		// and after the cursor), a delete or re-create of a churn object
		// and an update of a stable one. Every step writes other objects
		// than the others, so steps may run at once.
		step := func(i int) error {
			for w := 0; w < writers; w++ {
				var name string
				switch (i + w) % 4 {
				case 0:
					name = fmt.Sprintf("a-new-%d-%05d", w, i)
				case 1:
					name = fmt.Sprintf("churn-%03d-new-%d-%05d", (i*11+w)%n, w, i)
				case 2:
					name = fmt.Sprintf("stable-%03d-new-%d-%05d", (i*13+w)%n, w, i)
				default:
					name = fmt.Sprintf("z-new-%d-%05d", w, i)
				}
				if _, err := s.Create(ctx, key("items", "ns", name), val(`{}`)); err != nil {
					return err
				}
				created.Add(1)
				// deleted at an even step, created again at the next
				c := key("items", "ns", fmt.Sprintf("churn-%03d", ((i/2)*writers+w)%n))
				if i%2 == 0 {
					_, _ = s.Delete(ctx, c, 0)
				} else {
					_, _ = s.Create(ctx, c, val(`{"again":%d}`, i))
				}
			}
			if _, err := s.Update(ctx, key("items", "ns", fmt.Sprintf("stable-%03d", (i*writers)%n)), val(`{"updated":%d}`, i), 0); err != nil {
				return err
			}
			updated.Add(1)
			return nil
		}
		steps := 0
		// list reads one page while a step of writes runs.
		list := func(opts storage.ListOptions) (storage.ListResult, error) {
			errc := make(chan error, 1)
			i := steps
			steps++
			go func() { errc <- step(i) }()
			page, err := s.List(ctx, opts)
			return page, errors.Join(err, <-errc)
		}

		// The first page is read alone: it fixes the revision that every
		// stable object still has its first value at.
		snapshot, err := s.List(ctx, storage.ListOptions{Resource: "items", Limit: limit})
		if err != nil {
			t.Fatal(err)
		}
		rev := snapshot.Revision
		seen := map[string]bool{}
		page, pages := snapshot, 0
		for {
			pages++
			for _, o := range page.Items {
				if seen[o.Name] {
					t.Fatalf("%s listed twice", o.Name)
				}
				seen[o.Name] = true
				if o.Revision > rev {
					t.Fatalf("%s at revision %d in a list at %d", o.Name, o.Revision, rev)
				}
				var i int
				if _, err := fmt.Sscanf(o.Name, "stable-%03d", &i); err == nil && len(o.Name) == len("stable-000") && !jsonEq(o.Value, fmt.Sprintf(`{"i":%d}`, i)) {
					t.Fatalf("%s is %s in a list at %d, want its value of then", o.Name, o.Value, rev)
				}
			}
			if page.Continue == "" {
				break
			}
			// The writes between two pages.
			i := steps
			steps++
			if err := step(i); err != nil {
				t.Fatal(err)
			}
			if page, err = list(storage.ListOptions{Resource: "items", Limit: limit, Continue: page.Continue}); err != nil {
				t.Fatal(err)
			}
			if page.Revision != rev {
				t.Fatalf("page at revision %d, want %d", page.Revision, rev)
			}
		}
		// 600 objects in pages of 7: some 86 pages, each but the first
		// read after one step of writes and during another.
		if pages < 10 || created.Load() < int64(writers*2*(pages-1)) || updated.Load() < int64(2*(pages-1)) {
			t.Fatalf("the writers did not overlap the list (%d creates, %d updates, %d pages)", created.Load(), updated.Load(), pages)
		}
		t.Logf("%d pages at revision %d; %d creates and %d updates meanwhile", pages, rev, created.Load(), updated.Load())
		now, err := s.CurrentRevision(ctx)
		if err != nil || now <= rev {
			t.Fatalf("current revision %d (%v), want more than the list's %d", now, err, rev)
		}
		for i := 0; i < n; i++ {
			if name := fmt.Sprintf("stable-%03d", i); !seen[name] {
				t.Fatalf("%s is missing from the paginated list", name)
			}
		}
		// The paginated list equals a whole list at its revision.
		whole, err := s.List(ctx, storage.ListOptions{Resource: "items", Revision: rev})
		if err != nil {
			t.Fatal(err)
		}
		if len(whole.Items) != len(seen) {
			t.Fatalf("paginated list has %d items, the list at %d has %d", len(seen), rev, len(whole.Items))
		}
		for _, o := range whole.Items {
			if !seen[o.Name] {
				t.Fatalf("%s is in the list at %d but not in its pages", o.Name, rev)
			}
		}
	})
}
