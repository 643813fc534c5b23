package cronjob

import (
	"errors"
	"fmt"
	"time"

	"github.com/robfig/cron/v3"
	batchv1 "k8s.io/api/batch/v1"
)

// maxMissed is how many missed schedule times a CronJob may have before
// the controller warns (TooManyMissedTimes). Kubernetes picked 100: more
// than the 80-odd runs an hourly CronJob misses over a long weekend, less
// than what a wrong clock produces.
const maxMissed = 100

// nextScheduleSlack is added to the delay before the next sync, so that
// the queue does not fire a little before the scheduled time (a clock
// that runs slightly behind) and find nothing to do. Kubernetes adds the
// same 100 ms.
const nextScheduleSlack = 100 * time.Millisecond

// errNeverRuns is returned for a schedule that parses but names no
// existing time, like "0 0 30 2 *" (February 30th): robfig/cron gives up
// after five years.
var errNeverRuns = errors.New("no time matches the schedule in the next five years")

// schedule is a CronJob's parsed spec.schedule with the time zone its
// times are evaluated in.
type schedule struct {
	cron cron.Schedule
	// loc is spec.timeZone, or the controller's local zone. A
	// "CRON_TZ=" or "TZ=" prefix in the schedule overrides it, as
	// robfig/cron evaluates such a schedule in its own zone.
	loc *time.Location
}

// parseSchedule parses cj's spec.schedule with cron.ParseStandard (five
// fields or an @ descriptor, what the API server validated) in
// spec.timeZone, or in local when that is unset. A time zone unknown to
// this host or a schedule that does not parse (one stored before
// validation checked it) is an error that a retry cannot fix.
func parseSchedule(cj *batchv1.CronJob, local *time.Location) (schedule, error) {
	loc := local
	if tz := cj.Spec.TimeZone; tz != nil {
		l, err := time.LoadLocation(*tz)
		if err != nil {
			return schedule{}, &scheduleError{reason: "UnknownTimeZone", err: fmt.Errorf("invalid timeZone %q: %w", *tz, err)}
		}
		loc = l
	}
	sched, err := cron.ParseStandard(cj.Spec.Schedule)
	if err != nil {
		return schedule{}, &scheduleError{reason: "UnparseableSchedule", err: fmt.Errorf("unparseable schedule %q: %w", cj.Spec.Schedule, err)}
	}
	return schedule{cron: sched, loc: loc}, nil
}

// scheduleError is a CronJob whose schedule cannot be run; reason is the
// reason of the Warning event that says so.
type scheduleError struct {
	reason string
	err    error
}

func (e *scheduleError) Error() string { return e.err.Error() }
func (e *scheduleError) Unwrap() error { return e.err }

// next returns the first schedule time after t, or the zero time if there
// is none in the next five years. A schedule without a zone prefix is
// evaluated in s.loc: robfig/cron evaluates it in the zone of t.
func (s schedule) next(t time.Time) time.Time {
	return s.cron.Next(t.In(s.loc))
}

// mostRecent returns the latest schedule time in (earliest, now], or the
// zero time when there is none, and whether more than maxMissed schedule
// times fall in that range. It fails with errNeverRuns when the schedule
// names no time at all.
//
// It walks the times one by one up to maxMissed of them; beyond that (a
// controller that was down for long, a wrong clock) it jumps close to now
// so that the cost does not grow with the time elapsed. The jumps are
// whole multiples of the interval between the first two times, counted
// from the first: for "@every" schedules, whose times are a chain from
// earliest and not fixed points of the calendar, that stays on the chain.
func (s schedule) mostRecent(earliest, now time.Time) (time.Time, bool, error) {
	t1 := s.next(earliest)
	if t1.IsZero() {
		return time.Time{}, false, errNeverRuns
	}
	if t1.After(now) {
		return time.Time{}, false, nil
	}
	last := t1
	for range maxMissed {
		t := s.next(last)
		if t.IsZero() || t.After(now) {
			return last, false, nil
		}
		last = t
	}

	// More than maxMissed. Start from k intervals before now (on the
	// chain from t1), doubling k until a schedule time lies between
	// the start and now; schedules with uneven gaps ("0 9 * * 1-5")
	// may need a few doublings.
	t2 := s.next(t1)
	step := int64(t2.Sub(t1) / time.Second)
	if t2.IsZero() || step < 1 {
		step = 1
	}
	elapsed := now.Unix() - t1.Unix() // seconds; no Duration overflow over centuries
	for k := int64(1); ; k *= 2 {
		start := last
		if n := elapsed/step - k; n > 0 {
			// t1 is on a whole second: both kinds of schedule return one.
			if c := time.Unix(t1.Unix()+n*step, 0); c.After(last) {
				start = c
			}
		}
		var recent time.Time
		for t := s.next(start); !t.IsZero() && !t.After(now); t = s.next(t) {
			recent = t
		}
		if !recent.IsZero() {
			return recent, true, nil
		}
		if start.Equal(last) {
			return last, true, nil
		}
	}
}

// plan is what the schedule says a sync should do at now.
type plan struct {
	// run is the schedule time to start a Job for: the latest in
	// (earliest, now] that is within the starting deadline. Zero when
	// there is none.
	run time.Time
	// missed is the latest schedule time that passed its starting
	// deadline without a Job, when run is zero. Zero when none was.
	missed time.Time
	// tooMany is true when more than maxMissed times were missed
	// within the deadline (or since earliest, without one).
	tooMany bool
	// next is the first schedule time after now: when to look again.
	// Zero when the schedule has no further time.
	next time.Time
}

// planFor decides what is due for cj at now with schedule s. The times
// considered start after earliest (status.lastScheduleTime, else the
// creation time); with spec.startingDeadlineSeconds, times older than
// the deadline are not run but reported as missed, as Kubernetes'
// "Missed starting window".
func planFor(cj *batchv1.CronJob, s schedule, now time.Time) (plan, error) {
	earliest := cj.CreationTimestamp.Time
	if t := cj.Status.LastScheduleTime; t != nil {
		earliest = t.Time
	}
	from := earliest
	var deadline time.Time
	if d := cj.Spec.StartingDeadlineSeconds; d != nil {
		deadline = now.Add(-time.Duration(*d) * time.Second)
		if deadline.After(from) {
			from = deadline
		}
	}
	run, tooMany, err := s.mostRecent(from, now)
	if err != nil {
		return plan{}, err
	}
	p := plan{run: run, tooMany: tooMany}
	if run.IsZero() && from.After(earliest) {
		// Nothing within the deadline: was a time missed before it?
		if p.missed, _, err = s.mostRecent(earliest, deadline); err != nil {
			return plan{}, err
		}
	}
	// Counting from run or from, not from now, keeps "@every"
	// schedules on their chain; neither has a time in (itself, now].
	if !run.IsZero() {
		p.next = s.next(run)
	} else {
		p.next = s.next(from)
	}
	return p, nil
}
