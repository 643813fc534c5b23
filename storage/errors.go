package storage

import "errors"

// Sentinel errors. Every error the store returns wraps at most one of these,
// with the key or revision it concerns; callers test them with errors.Is and
// never look at driver errors.
var (
	// ErrNotFound: the object does not exist (at the revision asked for).
	ErrNotFound = errors.New("not found")
	// ErrExists: a create found a live object under the same key.
	ErrExists = errors.New("already exists")
	// ErrConflict: an update or delete named a revision that is no longer
	// the object's current one. Nothing was changed.
	ErrConflict = errors.New("revision conflict")
	// ErrCompacted: the revision asked for is older than the compacted
	// revision; its data is gone. The API answers 410 Gone.
	ErrCompacted = errors.New("required revision has been compacted")
	// ErrFutureRevision: a read asked for a revision newer than the store's.
	ErrFutureRevision = errors.New("revision is newer than the current revision")
	// ErrInvalid: the request itself is malformed (empty key, value that
	// is not a JSON object, bad continue token). Nothing was changed.
	ErrInvalid = errors.New("invalid request")
	// ErrSchemaTooNew: the database was migrated by a newer sqlkube. The
	// store refuses to open it and changes nothing.
	ErrSchemaTooNew = errors.New("database schema is newer than this binary")
	// ErrClosed: the store has been closed.
	ErrClosed = errors.New("store is closed")
	// ErrWatcherTooSlow: a watcher fell so far behind that its buffer
	// overflowed; it is closed and must re-list and re-watch.
	ErrWatcherTooSlow = errors.New("watcher fell too far behind")
)
