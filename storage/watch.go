package storage

import (
	"context"
	"fmt"
	"sync"
)

// The hub fans committed changes out to watchers. It is fed in strict
// revision order with no gaps: by this store's own commits straight after
// they commit, and by the feed loop with changes read from the database
// (other stores' commits on the same PostgreSQL, or other processes on the
// same SQLite file). It keeps a ring of the newest changes, so that a
// watcher starting from a recent revision is served from memory.
type hub struct {
	mu       sync.Mutex
	last     int64   // revision of the newest change delivered
	ring     []Event // ring buffer of the newest changes, contiguous revisions
	head     int     // index of the oldest change in ring
	n        int     // changes in ring
	watchers map[*Watcher]struct{}
	bufLimit int
	lists    *listCache // fed before the watchers; nil when disabled
}

func newHub(rev int64, size, bufLimit int) *hub {
	return &hub{last: rev, ring: make([]Event, size), watchers: map[*Watcher]struct{}{}, bufLimit: bufLimit}
}

// offer delivers events, whose revisions are base+1, base+2, ... It
// returns false when changes between the hub's last revision and base are
// still missing; the caller must then have them read from the database.
// Changes the hub already has are skipped, so overlapping offers are safe.
func (h *hub) offer(base int64, events []Event) bool {
	h.mu.Lock()
	defer h.mu.Unlock()
	if base > h.last {
		return false
	}
	skip := h.last - base
	if skip >= int64(len(events)) {
		return true
	}
	events = events[skip:]
	for _, e := range events {
		h.push(e)
	}
	h.last = events[len(events)-1].Object.Revision
	if h.lists != nil {
		h.lists.apply(events, h.last)
	}
	for w := range h.watchers {
		w.enqueue(events)
	}
	return true
}

func (h *hub) push(e Event) {
	if len(h.ring) == 0 {
		return
	}
	if h.n < len(h.ring) {
		h.ring[(h.head+h.n)%len(h.ring)] = e
		h.n++
		return
	}
	h.ring[h.head] = e
	h.head = (h.head + 1) % len(h.ring)
}

// register adds w. If the ring holds every change after w's start
// revision, those changes are queued and register returns 0; otherwise it
// returns the hub's last revision, and the watcher must first read the
// changes up to it from the database.
func (h *hub) register(w *Watcher) (catchUpTo int64) {
	h.mu.Lock()
	defer h.mu.Unlock()
	if w.after == 0 {
		w.after = h.last
	}
	h.watchers[w] = struct{}{}
	oldest := h.last - int64(h.n) // the ring holds (oldest, last]
	if w.after >= oldest {
		from := int(w.after - oldest)
		if from < h.n {
			tail := make([]Event, 0, h.n-from)
			for i := from; i < h.n; i++ {
				tail = append(tail, h.ring[(h.head+i)%len(h.ring)])
			}
			w.enqueue(tail)
		}
		return 0
	}
	return h.last
}

func (h *hub) unregister(w *Watcher) {
	h.mu.Lock()
	delete(h.watchers, w)
	h.mu.Unlock()
}

func (h *hub) lastRevision() int64 {
	h.mu.Lock()
	defer h.mu.Unlock()
	return h.last
}

// closeAll ends every watcher with err.
func (h *hub) closeAll(err error) {
	h.mu.Lock()
	defer h.mu.Unlock()
	for w := range h.watchers {
		w.fail(err)
		delete(h.watchers, w)
	}
}

// Watcher receives the changes selected by its WatchOptions. Read them
// from Events until it is closed; Err then says why it ended (nil after
// Stop or the end of the watch's context).
type Watcher struct {
	opts  WatchOptions
	after int64 // revision after which changes are delivered
	s     *Store
	ch    chan Event

	mu     sync.Mutex
	queue  []Event
	err    error
	ended  bool
	signal chan struct{}
	stop   chan struct{}
	once   sync.Once
}

// Events returns the channel of changes, closed when the watch ends.
func (w *Watcher) Events() <-chan Event { return w.ch }

// Err returns why the watch ended: ErrCompacted, ErrWatcherTooSlow,
// ErrClosed, a database error, or nil when it was stopped. Valid once
// Events is closed.
func (w *Watcher) Err() error {
	w.mu.Lock()
	defer w.mu.Unlock()
	return w.err
}

// Stop ends the watch; Events is closed soon after.
func (w *Watcher) Stop() { w.once.Do(func() { close(w.stop) }) }

func (w *Watcher) matches(e *Event) bool {
	return e.Object.Revision > w.after &&
		(w.opts.Resource == "" || w.opts.Resource == e.Object.Resource) &&
		(w.opts.Namespace == "" || w.opts.Namespace == e.Object.Namespace)
}

// enqueue queues the matching events; called with the hub locked.
func (w *Watcher) enqueue(events []Event) {
	w.mu.Lock()
	defer w.mu.Unlock()
	if w.ended {
		return
	}
	added := false
	for i := range events {
		if w.matches(&events[i]) {
			w.queue = append(w.queue, events[i])
			added = true
		}
	}
	if len(w.queue) > w.s.hub.bufLimit {
		w.queue, w.err, w.ended = nil, ErrWatcherTooSlow, true
		added = true
	}
	if added {
		select {
		case w.signal <- struct{}{}:
		default:
		}
	}
}

func (w *Watcher) fail(err error) {
	w.mu.Lock()
	if !w.ended {
		w.err, w.ended = err, true
	}
	w.mu.Unlock()
	select {
	case w.signal <- struct{}{}:
	default:
	}
}

// Watch starts a watcher. With opts.Revision set it receives every change
// after that revision, exactly once and in revision order, then every new
// one; a revision below the compacted one fails with ErrCompacted. The
// watch ends when ctx ends, when Stop is called or when the store closes.
func (s *Store) Watch(ctx context.Context, opts WatchOptions) (*Watcher, error) {
	if opts.Revision < 0 {
		return nil, fmt.Errorf("watch from revision %d: %w", opts.Revision, ErrInvalid)
	}
	if opts.Revision > 0 {
		_, compact, err := s.revisions(ctx)
		if err != nil {
			return nil, fmt.Errorf("watch %s: %w", opts.Resource, err)
		}
		if opts.Revision < compact {
			return nil, fmt.Errorf("watch %s from revision %d (compacted to %d): %w", opts.Resource, opts.Revision, compact, ErrCompacted)
		}
	}
	w := &Watcher{
		opts: opts, after: opts.Revision, s: s,
		ch:     make(chan Event, 64),
		signal: make(chan struct{}, 1),
		stop:   make(chan struct{}),
	}
	select {
	case <-s.ctx.Done():
		return nil, fmt.Errorf("watch %s: %w", opts.Resource, ErrClosed)
	default:
	}
	catchUpFrom := w.after
	catchUpTo := s.hub.register(w)
	go w.run(ctx, catchUpFrom, catchUpTo)
	return w, nil
}

func (w *Watcher) run(ctx context.Context, from, to int64) {
	defer close(w.ch)
	defer w.s.hub.unregister(w)
	if to > from {
		if err := w.catchUp(ctx, from, to); err != nil {
			w.mu.Lock()
			w.err = err
			w.mu.Unlock()
			return
		}
	}
	for {
		w.mu.Lock()
		q, ended := w.queue, w.ended
		w.queue = nil
		w.mu.Unlock()
		for _, e := range q {
			if !w.send(ctx, e) {
				return
			}
		}
		if ended {
			return
		}
		select {
		case <-w.signal:
		case <-w.stop:
			return
		case <-ctx.Done():
			return
		}
	}
}

func (w *Watcher) send(ctx context.Context, e Event) bool {
	select {
	case w.ch <- e:
		return true
	case <-w.stop:
		return false
	case <-ctx.Done():
		return false
	}
}

// catchUp sends the changes in (from, to] from the database, in pages.
func (w *Watcher) catchUp(ctx context.Context, from, to int64) error {
	for from < to {
		events, err := w.s.changes(ctx, w.opts, from, to, 1000)
		if err != nil {
			return err
		}
		// Compaction first raises the compacted revision, then deletes
		// rows at or below it: if it is still at or below from, the page
		// was whole.
		_, compact, err := w.s.revisions(ctx)
		if err != nil {
			return err
		}
		if compact > from {
			return fmt.Errorf("watch %s from revision %d (compacted to %d): %w", w.opts.Resource, from, compact, ErrCompacted)
		}
		for _, e := range events {
			if !w.send(ctx, e) {
				return nil
			}
		}
		if len(events) < 1000 {
			return nil
		}
		from = events[len(events)-1].Object.Revision
	}
	return nil
}

// jump moves the hub past changes it can no longer deliver; called after
// closeAll, with no watchers left that expect them.
func (h *hub) jump(rev int64) {
	h.mu.Lock()
	defer h.mu.Unlock()
	if rev > h.last {
		h.last, h.n, h.head = rev, 0, 0
		if h.lists != nil {
			h.lists.reset(rev)
		}
	}
}
