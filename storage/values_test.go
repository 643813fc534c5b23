package storage_test

import (
	"bytes"
	"context"
	"encoding/json"
	"testing"
	"time"

	"github.com/sqlkube/sqlkube/storage"
)

// TestValuesReadBackCompact: whatever path a value comes back by (get,
// get at a revision, a list from the database, history, a watch from an
// old revision), it is compact JSON with its strings intact, on
// PostgreSQL too, whose jsonb renders with spaces.
func TestValuesReadBackCompact(t *testing.T) {
	eachDriver(t, func(t *testing.T, d driver) {
		ctx := context.Background()
		s := open(t, d.datastore(t), func(c *storage.Config) { c.NoListCache = true })
		if _, err := s.Create(ctx, key("configmaps", "ns", "seed"), []byte(`{}`)); err != nil {
			t.Fatal(err) // so that the watch below starts from a revision > 0
		}
		k := key("configmaps", "ns", "c")
		created, err := s.Create(ctx, k, []byte(`{"metadata":{"name":"c"},"data":{"note":"a b: c, d"}}`))
		if err != nil {
			t.Fatal(err)
		}
		if _, err := s.Update(ctx, k, []byte(`{"metadata":{"name":"c"},"data":{"note":"x, y: z","n":"1"}}`), created.Revision); err != nil {
			t.Fatal(err)
		}
		var values [][]byte
		o, err := s.Get(ctx, k)
		if err != nil {
			t.Fatal(err)
		}
		old, err := s.GetAt(ctx, k, created.Revision)
		if err != nil {
			t.Fatal(err)
		}
		l, err := s.List(ctx, storage.ListOptions{Resource: "configmaps", Namespace: "ns", Limit: 1, Continue: ""})
		if err == nil && len(l.Items) == 1 && l.Items[0].Name == "seed" {
			l, err = s.List(ctx, storage.ListOptions{Resource: "configmaps", Namespace: "ns", Limit: 1, Continue: l.Continue})
		}
		if err != nil || len(l.Items) != 1 || l.Items[0].Name != "c" {
			t.Fatalf("list: %v %v", l.Items, err)
		}
		h, err := s.History(ctx, k)
		if err != nil || len(h) != 2 {
			t.Fatalf("history: %v %v", h, err)
		}
		w, err := s.Watch(ctx, storage.WatchOptions{Revision: created.Revision - 1})
		if err != nil {
			t.Fatal(err)
		}
		defer w.Stop()
		var e storage.Event
		select {
		case e = <-w.Events():
		case <-time.After(10 * time.Second):
			t.Fatal("the watch from an old revision delivered nothing")
		}
		values = append(values, o.Value, old.Value, l.Items[0].Value, h[0].Object.Value, h[1].Object.Value, e.Object.Value)
		for i, v := range values {
			var c bytes.Buffer
			if err := json.Compact(&c, v); err != nil || !bytes.Equal(c.Bytes(), v) {
				t.Errorf("value %d is not compact JSON: %s", i, v)
			}
		}
		if !bytes.Contains(old.Value, []byte(`"note":"a b: c, d"`)) || !bytes.Contains(o.Value, []byte(`"note":"x, y: z"`)) {
			t.Errorf("strings changed: %s, %s", old.Value, o.Value)
		}
	})
}
