// Package migrations holds the SQL schema of the sqlkube store as goose
// migrations, one folder per dialect (sqlite, postgres), embedded in the
// binary. Files are numbered and applied in order when a store opens; a
// database whose schema is newer than the newest file here is refused by the
// storage package, never touched.
//
// The schema is documented for auditors in storage/doc.go: the revisions
// table is the append-only history (one row per change, with its actor and
// commit time) and objects holds the current state.
package migrations

import (
	"embed"
	"io/fs"
)

//go:embed sqlite/*.sql postgres/*.sql
var files embed.FS

// SQLite returns the migrations for modernc.org/sqlite.
func SQLite() fs.FS { return sub("sqlite") }

// Postgres returns the migrations for PostgreSQL.
func Postgres() fs.FS { return sub("postgres") }

func sub(dir string) fs.FS {
	f, err := fs.Sub(files, dir)
	if err != nil {
		panic(err) // dir is one of the embedded folders above
	}
	return f
}
