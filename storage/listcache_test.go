package storage_test

import (
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"math/rand"
	"testing"

	"github.com/sqlkube/sqlkube/storage"
)

// walk lists every page of opts and returns the items and the revision of
// the first page.
func walk(t *testing.T, s *storage.Store, opts storage.ListOptions) ([]storage.Object, int64) {
	t.Helper()
	var items []storage.Object
	rev := int64(0)
	for {
		page, err := s.List(context.Background(), opts)
		if err != nil {
			t.Fatalf("list %+v: %v", opts, err)
		}
		if rev == 0 {
			rev = page.Revision
		}
		items = append(items, page.Items...)
		if page.Continue == "" {
			return items, rev
		}
		opts.Continue = page.Continue
	}
}

// sameJSON compares two JSON documents as values: PostgreSQL answers a
// value as JSONB renders it, the cache as it was written.
func sameJSON(a, b []byte) bool {
	var va, vb any
	if json.Unmarshal(a, &va) != nil || json.Unmarshal(b, &vb) != nil {
		return bytes.Equal(a, b)
	}
	ca, _ := json.Marshal(va)
	cb, _ := json.Marshal(vb)
	return bytes.Equal(ca, cb)
}

// TestListCacheMatchesDatabase: after any mix of creates, updates and
// deletes, lists served from memory equal lists read from the database,
// whole and in pages, in every namespace.
func TestListCacheMatchesDatabase(t *testing.T) {
	eachDriver(t, func(t *testing.T, d driver) {
		ctx := context.Background()
		url := d.datastore(t)
		cached := open(t, url)
		direct := open(t, url, func(c *storage.Config) { c.NoListCache = true })
		rnd := rand.New(rand.NewSource(1))
		resources, namespaces := []string{"pods", "configmaps"}, []string{"a", "b", "c"}
		live, gone := map[storage.Key]int64{}, map[storage.Key]bool{}
		before := storage.ListsFromMemory(cached)
		for round := 0; round < 6; round++ {
			for i := 0; i < 40; i++ {
				k := key(resources[rnd.Intn(2)], namespaces[rnd.Intn(3)], fmt.Sprintf("o%02d", rnd.Intn(30)))
				rev, exists := live[k]
				var (
					o   storage.Object
					err error
				)
				switch {
				case !exists:
					o, err = cached.Create(ctx, k, val(`{"round":%d,"i":%d}`, round, i))
				case rnd.Intn(3) == 0:
					_, err = cached.Delete(ctx, k, rev)
					delete(live, k)
					gone[k] = true
				default:
					o, err = cached.Update(ctx, k, val(`{"round":%d,"i":%d,"updated":true}`, round, i), rev)
				}
				if err != nil {
					t.Fatalf("round %d, write %d on %s: %v", round, i, k, err)
				}
				if o.Revision != 0 {
					live[k] = o.Revision
					delete(gone, k)
				}
			}
			for _, res := range resources {
				for _, ns := range append([]string{""}, namespaces...) {
					for _, limit := range []int{0, 4} {
						opts := storage.ListOptions{Resource: res, Namespace: ns, Limit: limit}
						got, gotRev := walk(t, cached, opts)
						want, wantRev := walk(t, direct, opts)
						if gotRev != wantRev {
							t.Fatalf("round %d, %+v: cached list at revision %d, database at %d", round, opts, gotRev, wantRev)
						}
						if fmt.Sprint(names(got)) != fmt.Sprint(names(want)) {
							t.Fatalf("round %d, %+v: cached list %v, database %v", round, opts, names(got), names(want))
						}
						for i := range got {
							if got[i].Revision != want[i].Revision || got[i].CreateRevision != want[i].CreateRevision || !sameJSON(got[i].Value, want[i].Value) {
								t.Fatalf("round %d, %s: cached %d/%d %s, database %d/%d %s", round, got[i].Key,
									got[i].Revision, got[i].CreateRevision, got[i].Value, want[i].Revision, want[i].CreateRevision, want[i].Value)
							}
						}
					}
				}
			}
		}
		// Cached answers from the same memory, for the write paths.
		for k, rev := range live {
			if o, ok := cached.Cached(k); !ok || o.Revision != rev {
				t.Fatalf("Cached(%s) = %d, %v; want revision %d", k, o.Revision, ok, rev)
			}
		}
		for k := range gone {
			if o, ok := cached.Cached(k); ok {
				t.Fatalf("Cached(%s) found revision %d of a deleted object", k, o.Revision)
			}
		}
		if served := storage.ListsFromMemory(cached) - before; served < 6*2*4*2 {
			t.Fatalf("only %d lists came from memory", served)
		}
	})
}

// TestListCacheSeesOtherServersWrites: a list on one server includes a
// write another server acknowledged just before, with no wait in between:
// lists from memory are as consistent as lists from the database.
func TestListCacheSeesOtherServersWrites(t *testing.T) {
	ctx := context.Background()
	url := drivers[1].datastore(t)
	a, b := open(t, url), open(t, url)
	if _, err := b.List(ctx, storage.ListOptions{Resource: "items"}); err != nil {
		t.Fatal(err) // b now serves items from memory
	}
	before := storage.ListsFromMemory(b)
	defer func() {
		if served := storage.ListsFromMemory(b) - before; served < 75 {
			t.Errorf("only %d of b's 75 lists came from memory", served)
		}
	}()
	for i := 0; i < 50; i++ {
		k := key("items", "ns", fmt.Sprintf("x%02d", i))
		o, err := a.Create(ctx, k, val(`{"i":%d}`, i))
		if err != nil {
			t.Fatal(err)
		}
		l, err := b.List(ctx, storage.ListOptions{Resource: "items", Namespace: "ns"})
		if err != nil {
			t.Fatal(err)
		}
		if len(l.Items) != i+1 || l.Items[i].Name != k.Name || l.Revision < o.Revision {
			t.Fatalf("after %s was created at %d on a, b lists %v at %d", k.Name, o.Revision, names(l.Items), l.Revision)
		}
		if i%2 == 1 {
			if _, err := a.Delete(ctx, k, 0); err != nil {
				t.Fatal(err)
			}
			l, err := b.List(ctx, storage.ListOptions{Resource: "items", Namespace: "ns"})
			if err != nil {
				t.Fatal(err)
			}
			if len(l.Items) != i || l.Items[len(l.Items)-1].Name == k.Name {
				t.Fatalf("after %s was deleted on a, b lists %v", k.Name, names(l.Items))
			}
			if _, err := a.Create(ctx, k, val(`{"i":%d}`, i)); err != nil {
				t.Fatal(err)
			}
		}
	}
}
