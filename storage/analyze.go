package storage

import (
	"sync/atomic"
)

// Planner statistics. PostgreSQL plans the store's queries well once it has
// statistics, and badly before (a fresh database filled faster than
// autovacuum's next round plans history reads as nested loops over the
// whole table). So the store refreshes them itself when the number of
// revisions has grown by a tenth (at least analyzeMinGrowth) since it last
// did, in the background.

const analyzeMinGrowth = 1000

type analyzer struct {
	last atomic.Int64 // revision at the last ANALYZE
	wake chan struct{}
}

// due reports whether the tables grew enough since the last ANALYZE.
func (a *analyzer) due(rev int64) bool {
	last := a.last.Load()
	return rev-last >= max(analyzeMinGrowth, last/10)
}

// grew tells the analyzer that the store is at revision rev.
func (a *analyzer) grew(rev int64) {
	if !a.due(rev) {
		return
	}
	select {
	case a.wake <- struct{}{}:
	default:
	}
}

// analyzeLoop runs ANALYZE when woken; only stores whose dialect has an
// analyzeSQL run it.
func (s *Store) analyzeLoop() {
	defer s.wg.Done()
	for {
		select {
		case <-s.ctx.Done():
			return
		case <-s.analyze.wake:
		}
		rev := s.hub.lastRevision()
		if !s.analyze.due(rev) && rev > 0 {
			continue // woken while the last round ran
		}
		if _, err := s.w.exec(s.ctx, s.d.analyzeSQL); err != nil {
			if s.ctx.Err() == nil {
				s.log.Warn("refreshing planner statistics failed", "err", err)
			}
			continue
		}
		s.analyze.last.Store(rev)
		s.log.Debug("refreshed planner statistics", "revision", rev)
	}
}
