package storage

import (
	"context"
	"fmt"
	"time"
)

// compactBatch is how many revisions one compaction transaction covers, so
// that compaction never holds long locks or builds a huge transaction.
const compactBatch = 1000

// Compact removes history outside the retention window. It computes the
// compaction revision C (the newest revision outside every window that is
// set), records it, then deletes in bounded batches every row at or below C
// that is not the state of its object at C. Reads and watches at revisions
// below C fail with ErrCompacted from then on; the newest row of every
// object live at C, and every row after C, stay. It returns C (the
// previous one when there was nothing to do) and how many rows it deleted.
func (s *Store) Compact(ctx context.Context, keep Retention) (compacted, deleted int64, err error) {
	if keep.MinAge <= 0 && keep.MinRevisions <= 0 {
		return 0, 0, fmt.Errorf("compact: a retention by age or by revisions is required: %w", ErrInvalid)
	}
	cur, prev, err := s.revisions(ctx)
	if err != nil {
		return 0, 0, fmt.Errorf("compact: %w", err)
	}
	target := cur
	if keep.MinRevisions > 0 {
		target = min(target, cur-keep.MinRevisions)
	}
	if keep.MinAge > 0 {
		var byAge int64
		cutoff := time.Now().UTC().Add(-keep.MinAge)
		if err := s.r.queryRow(ctx, s.stmts.maxRevisionAt, s.d.timeArg(cutoff)).Scan(&byAge); err != nil {
			return 0, 0, fmt.Errorf("compact: find revisions older than %s: %w", keep.MinAge, s.d.translateErr(err))
		}
		target = min(target, byAge)
	}
	if target <= prev {
		return prev, 0, nil
	}
	// Raise the compacted revision first: from now on reads below it fail,
	// so nobody sees the partial state of the deletes below.
	if _, err := s.w.exec(ctx, s.stmts.setCompact, target, target); err != nil {
		return 0, 0, fmt.Errorf("compact to %d: %w", target, s.d.translateErr(err))
	}
	for lo := prev; lo < target; lo += compactBatch {
		hi := min(lo+compactBatch, target)
		res, err := s.w.exec(ctx, s.stmts.compactRange, lo, hi, lo, hi)
		if err != nil {
			return target, deleted, fmt.Errorf("compact revisions %d-%d: %w", lo+1, hi, s.d.translateErr(err))
		}
		n, _ := res.RowsAffected()
		deleted += n
	}
	s.log.Info("compacted history", "revision", target, "deleted", deleted)
	return target, deleted, nil
}
