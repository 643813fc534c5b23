// Package storage is sqlkube's cluster store: versioned rows in SQL, with
// watch, compaction and history. It owns the database and knows nothing of
// Kubernetes types: values are JSON documents under a Key (resource,
// namespace, name).
//
// Open a Store with a datastore URL, "sqlite://PATH" (one machine) or
// "postgres://..." (several servers on one database), and share it: a
// Store is safe for concurrent use.
//
//	s, err := storage.Open(ctx, storage.Config{Datastore: "sqlite:///var/lib/sqlkube/state.db"})
//	obj, err := s.Create(storage.WithActor(ctx, "alice"), key, value)
//	obj, err = s.Update(ctx, key, newValue, obj.Revision) // ErrConflict if stale
//	w, err := s.Watch(ctx, storage.WatchOptions{Resource: "pods", Revision: obj.Revision})
//	for ev := range w.Events() { ... }
//
// # Model
//
// Every change gets the next revision: a global counter, strictly
// increasing, gap-free and in commit order (also across servers on one
// PostgreSQL: writers hold a row lock on the meta row until they commit).
// The revision is the Kubernetes resourceVersion. Two tables hold the data:
//
//   - revisions: one row per change, append-only: revision, resource,
//     namespace, name, op (create, update, delete), create_revision,
//     prev_revision, value (the whole object; for a delete, its last
//     state), actor (who, from the context, see WithActor) and at (commit
//     time). History, reads at past revisions and watches read it.
//   - objects: the current state, one row per live object. Reads of the
//     present are index lookups here.
//
// Writes are committed in groups (one transaction and one fsync for all
// writes waiting at the time); each write keeps its own conflict check and
// result.
//
// # Watch
//
// A Watcher receives every change after its start revision exactly once,
// in revision order. A store fans its own commits out at once; changes made
// by other servers reach it through PostgreSQL LISTEN/NOTIFY, and a poll
// every Config.PollInterval covers lost notifications. Recent changes are
// kept in memory (Config.WatchCacheSize) to start watchers without reading
// the database.
//
// # Compaction
//
// Compact removes history older than a Retention window, in bounded
// batches. It keeps the state of every object as of the compacted
// revision, so reads at or after it stay exact; reads and watches before it
// fail with ErrCompacted.
//
// # Encryption
//
// A Transformer turns values into their stored form and back; AESGCM
// encrypts secrets, so that SELECT value FROM objects shows ciphertext for
// them and plain JSON for the rest.
package storage
