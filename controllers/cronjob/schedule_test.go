package cronjob

import (
	"errors"
	"testing"
	"time"

	batchv1 "k8s.io/api/batch/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
)

// at parses an RFC 3339 time; the tests write times as a user reads them.
func at(t testing.TB, s string) time.Time {
	t.Helper()
	v, err := time.Parse(time.RFC3339, s)
	if err != nil {
		t.Fatal(err)
	}
	return v
}

func TestPlanFor(t *testing.T) {
	ist := time.FixedZone("IST", 5*3600+1800)
	tests := []struct {
		name       string
		schedule   string
		timeZone   string         // spec.timeZone; "" for unset
		local      *time.Location // the controller's zone; UTC if nil
		created    string
		lastSched  string // status.lastScheduleTime; "" for unset
		deadline   *int64 // spec.startingDeadlineSeconds
		now        string
		wantRun    string // "" for none
		wantMissed string
		tooMany    bool
		wantNext   string
	}{
		{
			name:     "every minute, created 90s ago: the minute passed is due",
			schedule: "* * * * *", created: "2026-03-10T09:59:00Z", now: "2026-03-10T10:00:30Z",
			wantRun: "2026-03-10T10:00:00Z", wantNext: "2026-03-10T10:01:00Z",
		},
		{
			name:     "created after the last schedule time: nothing due",
			schedule: "* * * * *", created: "2026-03-10T10:00:10Z", now: "2026-03-10T10:00:30Z",
			wantNext: "2026-03-10T10:01:00Z",
		},
		{
			name:     "a time exactly now is due",
			schedule: "0 * * * *", created: "2026-03-10T09:30:00Z", now: "2026-03-10T10:00:00Z",
			wantRun: "2026-03-10T10:00:00Z", wantNext: "2026-03-10T11:00:00Z",
		},
		{
			name:     "lastScheduleTime, not the creation time, is where it counts from",
			schedule: "0 * * * *", created: "2026-03-01T00:00:00Z", lastSched: "2026-03-10T10:00:00Z", now: "2026-03-10T10:00:30Z",
			wantNext: "2026-03-10T11:00:00Z",
		},
		{
			name:     "several missed: only the latest runs",
			schedule: "0 * * * *", created: "2026-03-10T05:30:00Z", now: "2026-03-10T10:20:00Z",
			wantRun: "2026-03-10T10:00:00Z", wantNext: "2026-03-10T11:00:00Z",
		},
		{
			name:     "100 missed is not too many",
			schedule: "* * * * *", created: "2026-03-10T08:20:30Z", now: "2026-03-10T10:00:30Z",
			wantRun: "2026-03-10T10:00:00Z", wantNext: "2026-03-10T10:01:00Z",
		},
		{
			name:     "101 missed is too many, and the latest still runs",
			schedule: "* * * * *", created: "2026-03-10T08:19:30Z", now: "2026-03-10T10:00:30Z",
			wantRun: "2026-03-10T10:00:00Z", tooMany: true, wantNext: "2026-03-10T10:01:00Z",
		},
		{
			name:     "years behind: catches up to the latest time",
			schedule: "*/5 * * * *", created: "2019-01-01T00:00:00Z", lastSched: "2020-06-01T00:00:00Z", now: "2026-03-10T10:07:00Z",
			wantRun: "2026-03-10T10:05:00Z", tooMany: true, wantNext: "2026-03-10T10:10:00Z",
		},
		{
			name:     "uneven gaps, far behind: the Friday run on a Sunday",
			schedule: "0 9 * * 1-5", created: "2024-01-01T00:00:00Z", now: "2026-03-08T10:00:30Z",
			wantRun: "2026-03-06T09:00:00Z", tooMany: true, wantNext: "2026-03-09T09:00:00Z",
		},
		{
			name:     "uneven gaps, far behind: two days a month",
			schedule: "0 0 1,2 * *", created: "2019-12-01T00:00:00Z", lastSched: "2020-01-01T00:00:00Z", now: "2026-03-10T10:00:30Z",
			wantRun: "2026-03-02T00:00:00Z", tooMany: true, wantNext: "2026-04-01T00:00:00Z",
		},
		{
			name:     "timeZone: 09:00 in Berlin is 08:00 UTC in March",
			schedule: "0 9 * * *", timeZone: "Europe/Berlin", created: "2026-03-09T12:00:00Z", now: "2026-03-10T08:30:00Z",
			wantRun: "2026-03-10T08:00:00Z", wantNext: "2026-03-11T08:00:00Z",
		},
		{
			name:     "timeZone: 09:00 in New York (daylight time) is not due at 06:00 there",
			schedule: "0 9 * * *", timeZone: "America/New_York", created: "2026-03-09T14:00:00Z", now: "2026-03-10T10:00:30Z",
			wantNext: "2026-03-10T13:00:00Z",
		},
		{
			name:     "timeZone: the next run moves with daylight saving time",
			schedule: "0 9 * * *", timeZone: "America/New_York", created: "2026-03-07T15:00:00Z", now: "2026-03-07T15:00:30Z",
			wantNext: "2026-03-08T13:00:00Z", // 14:00 UTC the day before
		},
		{
			name:     "no timeZone: the controller's local zone",
			schedule: "0 9 * * *", local: ist, created: "2026-03-09T12:00:00Z", now: "2026-03-10T04:00:00Z",
			wantRun: "2026-03-10T03:30:00Z", wantNext: "2026-03-11T03:30:00Z",
		},
		{
			name:     "a CRON_TZ prefix of an old object is honoured",
			schedule: "CRON_TZ=Asia/Tokyo 0 9 * * *", local: ist, created: "2026-03-09T12:00:00Z", now: "2026-03-10T00:30:00Z",
			wantRun: "2026-03-10T00:00:00Z", wantNext: "2026-03-11T00:00:00Z",
		},
		{
			name:     "startingDeadlineSeconds: within the deadline runs",
			schedule: "0 * * * *", deadline: new(int64(60)), created: "2026-03-10T09:30:00Z", now: "2026-03-10T10:00:30Z",
			wantRun: "2026-03-10T10:00:00Z", wantNext: "2026-03-10T11:00:00Z",
		},
		{
			name:     "startingDeadlineSeconds: past the deadline is missed",
			schedule: "0 * * * *", deadline: new(int64(20)), created: "2026-03-10T09:30:00Z", now: "2026-03-10T10:00:30Z",
			wantMissed: "2026-03-10T10:00:00Z", wantNext: "2026-03-10T11:00:00Z",
		},
		{
			name:     "startingDeadlineSeconds: a miss already followed by a run is not reported",
			schedule: "0 * * * *", deadline: new(int64(20)), created: "2026-03-10T07:30:00Z", lastSched: "2026-03-10T09:00:00Z", now: "2026-03-10T09:30:00Z",
			wantNext: "2026-03-10T10:00:00Z",
		},
		{
			name:     "startingDeadlineSeconds bounds what counts as missed",
			schedule: "* * * * *", deadline: new(int64(600)), created: "2026-03-10T07:00:00Z", now: "2026-03-10T10:00:30Z",
			wantRun: "2026-03-10T10:00:00Z", wantNext: "2026-03-10T10:01:00Z",
		},
		{
			name:     "@every counts from the creation time",
			schedule: "@every 7m", created: "2026-03-10T09:50:00Z", now: "2026-03-10T10:00:30Z",
			wantRun: "2026-03-10T09:57:00Z", wantNext: "2026-03-10T10:04:00Z",
		},
		{
			name:     "@every far behind stays on its chain",
			schedule: "@every 7m", created: "2026-03-09T10:00:00Z", now: "2026-03-10T10:00:30Z",
			wantRun: "2026-03-10T09:55:00Z", tooMany: true, wantNext: "2026-03-10T10:02:00Z",
		},
		{
			name:     "@every not due yet",
			schedule: "@every 1h", created: "2026-03-10T09:30:00Z", now: "2026-03-10T10:00:30Z",
			wantNext: "2026-03-10T10:30:00Z",
		},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			cj := &batchv1.CronJob{
				ObjectMeta: metav1.ObjectMeta{CreationTimestamp: metav1.NewTime(at(t, tt.created))},
				Spec:       batchv1.CronJobSpec{Schedule: tt.schedule, StartingDeadlineSeconds: tt.deadline},
			}
			if tt.timeZone != "" {
				cj.Spec.TimeZone = &tt.timeZone
			}
			if tt.lastSched != "" {
				cj.Status.LastScheduleTime = &metav1.Time{Time: at(t, tt.lastSched)}
			}
			local := tt.local
			if local == nil {
				local = time.UTC
			}
			s, err := parseSchedule(cj, local)
			if err != nil {
				t.Fatal(err)
			}
			p, err := planFor(cj, s, at(t, tt.now))
			if err != nil {
				t.Fatal(err)
			}
			check := func(what string, got time.Time, want string) {
				t.Helper()
				if want == "" {
					if !got.IsZero() {
						t.Errorf("%s = %s, want none", what, got.UTC().Format(time.RFC3339))
					}
					return
				}
				if !got.Equal(at(t, want)) {
					t.Errorf("%s = %s, want %s", what, got.UTC().Format(time.RFC3339), want)
				}
			}
			check("run", p.run, tt.wantRun)
			check("missed", p.missed, tt.wantMissed)
			check("next", p.next, tt.wantNext)
			if p.tooMany != tt.tooMany {
				t.Errorf("tooMany = %t, want %t", p.tooMany, tt.tooMany)
			}
		})
	}
}

// TestMostRecentMatchesWalk checks the jump that mostRecent takes when
// far behind against walking every schedule time.
func TestMostRecentMatchesWalk(t *testing.T) {
	now := at(t, "2026-03-10T10:00:30Z")
	for _, spec := range []string{"*/7 * * * *", "0 9 * * 1-5", "0 0 1,2 * *", "30 */3 * * *", "5 4 * * sun", "0 0 29 2 *", "@every 13m", "@hourly"} {
		for _, back := range []time.Duration{time.Hour, 24 * time.Hour, 30 * 24 * time.Hour, 400 * 24 * time.Hour, 3 * 365 * 24 * time.Hour} {
			cj := &batchv1.CronJob{Spec: batchv1.CronJobSpec{Schedule: spec}}
			s, err := parseSchedule(cj, time.UTC)
			if err != nil {
				t.Fatal(err)
			}
			earliest := now.Add(-back).Add(17 * time.Second)
			var want time.Time
			n := 0
			for x := s.next(earliest); !x.IsZero() && !x.After(now); x = s.next(x) {
				want, n = x, n+1
			}
			got, tooMany, err := s.mostRecent(earliest, now)
			if err != nil {
				t.Fatalf("%q from %s: %v", spec, earliest, err)
			}
			if !got.Equal(want) || tooMany != (n > maxMissed) {
				t.Errorf("%q from %s: got %s (too many %t), want %s (%d times)", spec, earliest.Format(time.RFC3339), got.Format(time.RFC3339), tooMany, want.Format(time.RFC3339), n)
			}
		}
	}
}

func TestParseScheduleErrors(t *testing.T) {
	tests := []struct {
		name     string
		schedule string
		timeZone string
		reason   string
	}{
		{"not a schedule", "every day at nine", "", "UnparseableSchedule"},
		{"six fields", "0 0 9 * * *", "", "UnparseableSchedule"},
		{"minute out of range", "61 * * * *", "", "UnparseableSchedule"},
		{"unknown time zone", "0 9 * * *", "Mars/Olympus_Mons", "UnknownTimeZone"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			cj := &batchv1.CronJob{Spec: batchv1.CronJobSpec{Schedule: tt.schedule}}
			if tt.timeZone != "" {
				cj.Spec.TimeZone = &tt.timeZone
			}
			_, err := parseSchedule(cj, time.UTC)
			var se *scheduleError
			if !errors.As(err, &se) || se.reason != tt.reason {
				t.Errorf("err = %v, want reason %s", err, tt.reason)
			}
		})
	}
}

func TestPlanForScheduleThatNeverRuns(t *testing.T) {
	cj := &batchv1.CronJob{
		ObjectMeta: metav1.ObjectMeta{CreationTimestamp: metav1.NewTime(at(t, "2026-01-01T00:00:00Z"))},
		Spec:       batchv1.CronJobSpec{Schedule: "0 0 30 2 *"}, // February 30th
	}
	s, err := parseSchedule(cj, time.UTC)
	if err != nil {
		t.Fatal(err)
	}
	if _, err := planFor(cj, s, at(t, "2026-03-10T10:00:00Z")); !errors.Is(err, errNeverRuns) {
		t.Errorf("err = %v, want %v", err, errNeverRuns)
	}
}
