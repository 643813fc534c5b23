package storage_test

import (
	"bytes"
	"context"
	"crypto/rand"
	"path/filepath"
	"strings"
	"testing"

	"github.com/sqlkube/sqlkube/storage"
)

func TestSecretsEncryptedAtRest(t *testing.T) {
	eachDriver(t, func(t *testing.T, d driver) {
		ctx := context.Background()
		keyFile := filepath.Join(t.TempDir(), "encryption.key")
		k, err := storage.LoadOrCreateKey(keyFile)
		if err != nil {
			t.Fatal(err)
		}
		if again, _ := storage.LoadOrCreateKey(keyFile); !bytes.Equal(again, k) {
			t.Fatal("the key file did not keep its key")
		}
		tf, err := storage.NewAESGCM(k)
		if err != nil {
			t.Fatal(err)
		}
		url := d.datastore(t)
		s := open(t, url, func(c *storage.Config) { c.Transformer = tf })
		w := must(s.Watch(ctx, storage.WatchOptions{}))
		sec := must(s.Create(ctx, key("secrets", "ns", "db"), val(`{"data":{"password":"s3cr3t-XYZ"}}`)))
		must(s.Create(ctx, key("configmaps", "ns", "cfg"), val(`{"data":{"greeting":"hello"}}`)))
		must(s.Update(ctx, key("secrets", "ns", "db"), val(`{"data":{"password":"n3w-s3cr3t"}}`), sec.Revision))

		raw := d.raw(t, url)
		for _, table := range []string{"objects", "revisions"} {
			rows, err := raw.Query(`SELECT resource, value FROM ` + table)
			if err != nil {
				t.Fatal(err)
			}
			for rows.Next() {
				var res, v string
				if err := rows.Scan(&res, &v); err != nil {
					t.Fatal(err)
				}
				switch res {
				case "secrets":
					if strings.Contains(v, "s3cr3t") || !strings.Contains(v, "k8s:enc:aesgcm:v1:") {
						t.Errorf("%s holds a secret in the clear: %s", table, v)
					}
				case "configmaps":
					if !strings.Contains(v, "hello") {
						t.Errorf("%s: a configmap is not plain JSON: %s", table, v)
					}
				}
			}
			rows.Close()
		}
		if o := must(s.Get(ctx, key("secrets", "ns", "db"))); !jsonEq(o.Value, `{"data":{"password":"n3w-s3cr3t"}}`) {
			t.Fatalf("get secret: %s", o.Value)
		}
		if l := must(s.List(ctx, storage.ListOptions{Resource: "secrets", Revision: sec.Revision})); len(l.Items) != 1 || !jsonEq(l.Items[0].Value, `{"data":{"password":"s3cr3t-XYZ"}}`) {
			t.Fatalf("list secrets at %d: %+v", sec.Revision, l.Items)
		}
		if e := next(t, w); !jsonEq(e.Object.Value, `{"data":{"password":"s3cr3t-XYZ"}}`) {
			t.Fatalf("watch event: %s", e.Object.Value)
		}
		h := must(s.History(ctx, key("secrets", "ns", "db")))
		if len(h) != 2 || !jsonEq(h[0].Object.Value, `{"data":{"password":"s3cr3t-XYZ"}}`) {
			t.Fatalf("history: %+v", h)
		}
		deleted := must(s.Delete(ctx, key("secrets", "ns", "db"), 0))
		if !jsonEq(deleted.Value, `{"data":{"password":"n3w-s3cr3t"}}`) {
			t.Fatalf("deleted secret: %s", deleted.Value)
		}
		s.Close()

		// With another key the secret cannot be read, and nothing else breaks.
		other := make([]byte, 32)
		_, _ = rand.Read(other)
		tf2, _ := storage.NewAESGCM(other)
		s2 := open(t, url, func(c *storage.Config) { c.Transformer = tf2 })
		if _, err := s2.GetAt(ctx, key("secrets", "ns", "db"), sec.Revision); err == nil || !strings.Contains(err.Error(), "decrypt") {
			t.Fatalf("read with the wrong key: %v, want a decryption error", err)
		}
		if _, err := s2.Get(ctx, key("configmaps", "ns", "cfg")); err != nil {
			t.Fatalf("configmap with another key: %v", err)
		}
	})
}

func TestAESGCMRejectsBadKeys(t *testing.T) {
	if _, err := storage.NewAESGCM(make([]byte, 16)); err == nil {
		t.Fatal("a 16-byte key was accepted")
	}
}
