package server

import (
	"context"
	"testing"

	"github.com/sqlkube/sqlkube/server/registry"
)

// BenchmarkNew measures a server's start-up: identity, store, OpenAPI
// documents, codec, bootstrap objects. Each iteration starts from an
// empty data directory.
func BenchmarkNew(b *testing.B) {
	for b.Loop() {
		s, err := New(context.Background(), Config{DataDir: b.TempDir(), SecurePort: 1})
		if err != nil {
			b.Fatal(err)
		}
		s.store.Close()
	}
}

// BenchmarkFieldManagerFirstUse measures what the first server-side apply
// (or tracked update) of a server pays for the schemas of the field
// manager. Run it with -benchtime=1x in a fresh process: parts of the
// schemas are parsed once per process.
func BenchmarkFieldManagerFirstUse(b *testing.B) {
	c, err := newCodec()
	if err != nil {
		b.Fatal(err)
	}
	reg := registry.Builtin()
	deploy, _ := reg.Lookup("apps", "v1", "deployments")
	for b.Loop() {
		f := &fieldManagers{scheme: c.scheme}
		if _, err := f.get(deploy, ""); err != nil {
			b.Fatal(err)
		}
	}
}
