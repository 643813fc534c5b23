package server

import (
	"context"
	"testing"

	"github.com/sqlkube/sqlkube/cluster"
	"github.com/sqlkube/sqlkube/server/registry"
)

// BenchmarkNew measures a server's start-up: the cluster (identity and
// store) opened, then OpenAPI documents, codec, serving certificate and
// bootstrap objects. Each iteration starts from an empty data directory.
func BenchmarkNew(b *testing.B) {
	for b.Loop() {
		ctx := context.Background()
		c, err := cluster.Open(ctx, cluster.Config{DataDir: b.TempDir()})
		if err != nil {
			b.Fatal(err)
		}
		if _, err := New(ctx, Config{SecurePort: 1}, c); err != nil {
			b.Fatal(err)
		}
		c.Close()
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
