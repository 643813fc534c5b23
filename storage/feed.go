package storage

import (
	"context"
	"fmt"
	"time"
)

// feedLoop brings the hub up to date with changes this store did not
// commit itself: on a wake-up (a PostgreSQL notification from another
// store, or a gap seen by the write loop) and every PollInterval as a
// safety net for lost notifications and other processes.
func (s *Store) feedLoop() {
	defer s.wg.Done()
	tick := time.NewTicker(s.cfg.PollInterval)
	defer tick.Stop()
	for {
		select {
		case <-s.ctx.Done():
			return
		case <-s.wake:
		case <-tick.C:
		}
		if err := s.catchUp(s.ctx); err != nil && s.ctx.Err() == nil {
			s.log.Warn("reading changes for watchers failed; retrying", "after", s.hub.lastRevision(), "err", err)
		}
	}
}

// wakeFeed asks the feed loop to read new changes now.
func (s *Store) wakeFeed() {
	select {
	case s.wake <- struct{}{}:
	default:
	}
}

// catchUp reads every committed change after the hub's last revision and
// offers it to the hub, in pages.
func (s *Store) catchUp(ctx context.Context) error {
	const page = 1000
	cur, compact, err := s.revisions(ctx)
	if err != nil {
		return err
	}
	for {
		last := s.hub.lastRevision()
		if last >= cur {
			return nil
		}
		events, err := s.changes(ctx, WatchOptions{}, last, cur, page)
		if err != nil {
			return err
		}
		if len(events) == 0 {
			return nil
		}
		if first := events[0].Object.Revision; first != last+1 {
			if first-1 <= compact {
				// The hub fell behind compaction: its watchers cannot be
				// given every change. End them; clients re-list.
				s.log.Warn("watch feed fell behind compaction; ending watchers", "after", last, "compacted", compact)
				s.hub.closeAll(fmt.Errorf("changes after revision %d: %w", last, ErrCompacted))
				s.hub.jump(first - 1)
				continue
			}
			return fmt.Errorf("revision %d is missing after %d", last+1, last)
		}
		// Deliver the contiguous prefix only.
		n := 1
		for n < len(events) && events[n].Object.Revision == events[n-1].Object.Revision+1 {
			n++
		}
		s.hub.offer(last, events[:n])
		if n < len(events) {
			return fmt.Errorf("revision %d is missing", events[n-1].Object.Revision+1)
		}
		if len(events) < page {
			return nil
		}
	}
}
