package storage

import (
	"context"
	"database/sql"
	"io/fs"
	"strconv"
	"strings"
	"time"

	"github.com/pressly/goose/v3"
)

// dialect is everything that differs between the SQL databases: the
// statements (written with ? placeholders, rebound once at open), a few
// hooks, and the schema. The code that runs them exists once, in this
// package; sqlite.go and postgres.go only fill a dialect in.
type dialect struct {
	name   string
	goose  goose.Dialect
	schema fs.FS

	// numbered rewrites ? placeholders to $1, $2, ... (PostgreSQL).
	numbered bool

	// beginSQL starts a write transaction.
	beginSQL string
	// lockSQL returns (revision, compact_revision) and holds the lock that
	// orders writers until the transaction ends.
	lockSQL string
	// combine, when set, writes a group in one statement, including the
	// notification that other stores LISTEN for (PostgreSQL).
	combine func(g *groupWrite) statement
	// pipeline, when set, sends a write transaction's steps in one round
	// trip on the pinned connection (PostgreSQL).
	pipeline func(ctx context.Context, c *sql.Conn, steps []step) error
	// readValue, when set, turns a value as the database returns it into
	// the JSON the store answers (PostgreSQL renders jsonb with spaces).
	readValue func([]byte) []byte
	// analyzeSQL, when set, refreshes the planner's statistics (see
	// analyze.go).
	analyzeSQL string
	// prepare keeps prepared statements for the life of the store.
	prepare bool
	// schemaVersionSQL returns the highest applied goose version, or fails
	// when the goose table does not exist (tableExistsSQL tells which).
	tableExistsSQL string

	// timeArg turns a commit time into a parameter; scanTime reads it back.
	timeArg  func(time.Time) any
	scanTime func(src any) (time.Time, error)
	// translateErr maps driver errors to the package's sentinels, adding
	// what a user needs to act (e.g. "the database file is read-only").
	translateErr func(error) error
}

// Statements shared by both dialects. Each is a complete statement with ?
// placeholders; rebind turns them into the dialect's form.
const (
	revisionSQL        = `SELECT revision, compact_revision FROM meta WHERE id = 1`
	setRevisionSQL     = `UPDATE meta SET revision = ? WHERE id = 1`
	setCompactSQL      = `UPDATE meta SET compact_revision = ? WHERE id = 1 AND compact_revision < ?`
	getSQL             = `SELECT revision, create_revision, value FROM objects WHERE resource = ? AND namespace = ? AND name = ?`
	getAtSQL           = `SELECT revision, create_revision, op, value FROM revisions WHERE resource = ? AND namespace = ? AND name = ? AND revision <= ? ORDER BY revision DESC LIMIT 1`
	historySQL         = `SELECT ` + eventColumns + ` FROM revisions WHERE resource = ? AND namespace = ? AND name = ? ORDER BY revision`
	schemaVersionSQL   = `SELECT COALESCE(MAX(version_id), 0) FROM goose_db_version WHERE is_applied`
	maxRevisionAtSQL   = `SELECT COALESCE(MAX(revision), 0) FROM revisions WHERE at < ?`
	eventColumns       = `revision, resource, namespace, name, op, create_revision, prev_revision, value, actor, at`
	changesSinceSQL    = `SELECT ` + eventColumns + ` FROM revisions WHERE revision > ? AND revision <= ? ORDER BY revision LIMIT ?`
	changesSinceResSQL = `SELECT ` + eventColumns + ` FROM revisions WHERE resource = ? AND revision > ? AND revision <= ? ORDER BY revision LIMIT ?`
	changedAfterSQL    = `SELECT COUNT(*) FROM (SELECT 1 FROM revisions WHERE revision > ? AND resource = ? LIMIT 1) c`
	changesSinceNSSQL  = `SELECT ` + eventColumns + ` FROM revisions WHERE resource = ? AND namespace = ? AND revision > ? AND revision <= ? ORDER BY revision LIMIT ?`

	// The current page. The revision comes from the same statement, so
	// page and revision are one snapshot; an empty page is read at a
	// revision instead (see listCurrent).
	listSQL = `SELECT (SELECT revision FROM meta WHERE id = 1), namespace, name, revision, create_revision, value
FROM objects WHERE resource = ? AND (namespace, name) > (?, ?) ORDER BY namespace, name LIMIT ?`
	listNSSQL = `SELECT (SELECT revision FROM meta WHERE id = 1), namespace, name, revision, create_revision, value
FROM objects WHERE resource = ? AND namespace = ? AND name > ? ORDER BY name LIMIT ?`

	// A page as of a past revision: for each key, its newest row at or
	// below the revision, unless that row is a delete.
	listAtSQL = `SELECT r.namespace, r.name, r.revision, r.create_revision, r.value FROM revisions r
WHERE r.resource = ? AND (r.namespace, r.name) > (?, ?) AND r.revision <= ? AND r.op <> 'delete'
  AND NOT EXISTS (SELECT 1 FROM revisions n WHERE n.resource = r.resource AND n.namespace = r.namespace
    AND n.name = r.name AND n.revision > r.revision AND n.revision <= ?)
ORDER BY r.namespace, r.name LIMIT ?`
	listAtNSSQL = `SELECT r.namespace, r.name, r.revision, r.create_revision, r.value FROM revisions r
WHERE r.resource = ? AND r.namespace = ? AND r.name > ? AND r.revision <= ? AND r.op <> 'delete'
  AND NOT EXISTS (SELECT 1 FROM revisions n WHERE n.resource = r.resource AND n.namespace = r.namespace
    AND n.name = r.name AND n.revision > r.revision AND n.revision <= ?)
ORDER BY r.namespace, r.name LIMIT ?`

	// Compaction of one bounded range (lo, hi] of revisions at or below the
	// compacted revision: every row that has a newer row of its key in the
	// range goes, and so does a delete in the range. Rows superseded at or
	// below an earlier compaction went with it, so each compaction only
	// scans the revisions after the previous one.
	compactRangeSQL = `DELETE FROM revisions WHERE revision IN (
  SELECT r.revision FROM revisions n JOIN revisions r ON r.resource = n.resource
    AND r.namespace = n.namespace AND r.name = n.name AND r.revision < n.revision
  WHERE n.revision > ? AND n.revision <= ?
  UNION ALL
  SELECT revision FROM revisions WHERE revision > ? AND revision <= ? AND op = 'delete')`

	// Batch statements; the tuple lists are repeated per row (see rows()).
	selectStatesSQL    = `SELECT resource, namespace, name, revision, create_revision, value FROM objects WHERE (resource, namespace, name) IN (VALUES `
	insertRevisionsSQL = `INSERT INTO revisions (` + eventColumns + `) VALUES `
	upsertObjectsSQL   = `INSERT INTO objects (resource, namespace, name, revision, create_revision, value) VALUES `
	upsertObjectsTail  = ` ON CONFLICT (resource, namespace, name) DO UPDATE SET revision = excluded.revision, create_revision = excluded.create_revision, value = excluded.value`
	deleteObjectsSQL   = `DELETE FROM objects WHERE (resource, namespace, name) IN (VALUES `
)

// rows returns n comma-separated tuples of width placeholders: "(?,?),(?,?)".
func rows(n, width int) string {
	tuple := "(" + strings.Repeat("?,", width-1) + "?)"
	var b strings.Builder
	b.Grow(n * (len(tuple) + 1))
	for i := 0; i < n; i++ {
		if i > 0 {
			b.WriteByte(',')
		}
		b.WriteString(tuple)
	}
	return b.String()
}

// rebind rewrites ? placeholders to the dialect's style. Statements hold no
// string literals containing '?'.
func (d *dialect) rebind(q string) string {
	if !d.numbered {
		return q
	}
	var b strings.Builder
	b.Grow(len(q) + 16)
	n := 0
	for i := 0; i < len(q); i++ {
		if q[i] == '?' {
			n++
			b.WriteByte('$')
			b.WriteString(strconv.Itoa(n))
			continue
		}
		b.WriteByte(q[i])
	}
	return b.String()
}
