package storage

import (
	"context"
	"fmt"
	"time"
)

// Key names one object: resource (e.g. "pods", "deployments.apps"),
// namespace ("" for cluster-scoped objects) and name.
type Key struct {
	Resource  string
	Namespace string
	Name      string
}

func (k Key) String() string {
	if k.Namespace == "" {
		return k.Resource + "/" + k.Name
	}
	return k.Resource + "/" + k.Namespace + "/" + k.Name
}

func (k Key) validate() error {
	if k.Resource == "" || k.Name == "" {
		return fmt.Errorf("key %q: resource and name are required: %w", k.String(), ErrInvalid)
	}
	return nil
}

// Object is one stored object as of a revision.
type Object struct {
	Key
	// Revision is the revision of the object's last change (its
	// Kubernetes resourceVersion); for a deleted object, the deletion.
	Revision int64
	// CreateRevision is the revision that created the object.
	CreateRevision int64
	// Value is the object as JSON, as written (secrets decrypted).
	Value []byte
}

// Op is the kind of a change.
type Op string

// The kinds of change, as stored in the op column.
const (
	OpCreate Op = "create"
	OpUpdate Op = "update"
	OpDelete Op = "delete"
)

// Event is one change: a watch event or a row of history.
type Event struct {
	Op Op
	// Object is the object after the change; for a delete, the last state
	// before it, with Revision set to the revision of the delete.
	Object Object
	// PrevRevision is the object's revision before this change (0 for a
	// create).
	PrevRevision int64
	// Actor is the authenticated user that made the change.
	Actor string
	// At is the commit time.
	At time.Time
}

// ListOptions selects the objects of one resource.
type ListOptions struct {
	Resource string
	// Namespace restricts the list to one namespace; "" lists all.
	Namespace string
	// Revision reads the state as of that revision; 0 reads the current
	// state. A revision below the compacted one fails with ErrCompacted.
	Revision int64
	// Limit caps the number of items; 0 means no limit.
	Limit int
	// Continue is the token returned by the previous page. The following
	// pages are read at the first page's revision, so a paginated list
	// neither skips nor repeats objects while others write.
	Continue string
}

// ListResult is one page of a list.
type ListResult struct {
	Items []Object
	// Revision is the revision the page was read at.
	Revision int64
	// Continue is set when more items follow.
	Continue string
}

// WatchOptions selects the changes a watcher receives.
type WatchOptions struct {
	// Resource restricts the watch to one resource; "" watches all.
	Resource string
	// Namespace restricts the watch to one namespace; "" watches all.
	Namespace string
	// Revision: the watcher receives every change after it, exactly once
	// and in revision order. 0 means from now.
	Revision int64
}

// Retention says how much history compaction keeps. A row of history is
// removed only when it is outside both windows that are set, and never when
// it is the state of an object as of the compacted revision.
type Retention struct {
	// MinAge keeps every change younger than this.
	MinAge time.Duration
	// MinRevisions keeps the last MinRevisions changes.
	MinRevisions int64
}

type actorKey struct{}

// WithActor returns a context whose writes are recorded as made by actor.
func WithActor(ctx context.Context, actor string) context.Context {
	return context.WithValue(ctx, actorKey{}, actor)
}

// ActorFrom returns the actor that WithActor put in ctx, or "".
func ActorFrom(ctx context.Context) string {
	a, _ := ctx.Value(actorKey{}).(string)
	return a
}
