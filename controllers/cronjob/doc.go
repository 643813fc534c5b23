// Package cronjob starts batch/v1 Jobs on a schedule, like
// kube-controller-manager's cronjob controller (v2).
//
// A CronJob's spec.schedule is parsed as Kubernetes parses it, with
// robfig/cron's ParseStandard (five fields, or a descriptor such as
// @hourly or @every 5m), and evaluated in spec.timeZone, or in the
// controller's local time zone (time.Local, from TZ) when that is unset.
// At each sync the controller takes the latest schedule time after
// status.lastScheduleTime (or, before the first run, the creation time)
// that is not in the future; with spec.startingDeadlineSeconds, only times
// at most that old count, and an older one is reported as missed (Warning
// MissSchedule) and never run. With more than 100 schedule times missed
// (a controller that was down, a wrong clock) it warns TooManyMissedTimes
// and runs only the latest, as Kubernetes does. Then it queues the
// CronJob again for the next schedule time, plus 100 ms.
//
// The Job for schedule time t is named "<cronjob>-<t.Unix()/60>", so that
// a second attempt at the same time fails with AlreadyExists instead of
// running twice (a Job of that name that the CronJob controls is taken
// as the one started before). It carries spec.jobTemplate's labels,
// annotations and spec, the annotation
// batch.kubernetes.io/cronjob-scheduled-timestamp (t in RFC 3339, in
// spec.timeZone, else UTC, as Kubernetes writes it) and a controller
// reference to the CronJob. spec.concurrencyPolicy decides what happens
// while an earlier Job still runs: Allow starts another, Forbid starts
// none (the run is started when the running Job finishes, if it is then
// still within the starting deadline), Replace deletes the running Jobs
// first. A suspended CronJob, or one being deleted, starts nothing; a run
// missed while suspended starts on resume, within the starting deadline.
//
// Status: status.active lists the CronJob's unfinished Jobs (a Job with a
// true Complete or Failed condition is finished; a Job deleted by someone
// else is dropped), status.lastScheduleTime the time of the last Job
// started and status.lastSuccessfulTime the latest completionTime of a
// Job that completed. The oldest finished Jobs beyond
// spec.successfulJobsHistoryLimit (default 3) and
// spec.failedJobsHistoryLimit (default 1) are deleted, oldest start time
// first, with propagation Background. Events use Kubernetes' reasons:
// SuccessfulCreate, SawCompletedJob, SuccessfulDelete, MissingJob,
// UnexpectedJob, JobAlreadyActive, MissSchedule, TooManyMissedTimes,
// FailedCreate, FailedDelete, and for schedules that cannot run (stored
// before validation checked them) UnparseableSchedule, UnknownTimeZone and
// InvalidSchedule; such a CronJob is left alone until its spec changes.
//
// Where it differs from Kubernetes: MissSchedule is actually reported
// (Kubernetes computes it in a way that never fires); lastSuccessfulTime
// is set in the sync that sees the Job complete, not the next one; unset
// history limits mean the defaults, not "keep everything" (the API server
// defaults them anyway); a Job of the wanted name that the CronJob does
// not control gets a FailedCreate event; catching up after many missed
// times finds the latest one exactly rather than by estimate. A Job that
// the CronJob controls but did not record (kubectl create job
// --from=cronjob/NAME) is reported as UnexpectedJob and, as in
// Kubernetes, not counted as active. Not implemented: the cronjob metrics
// (job creation skew) and the UnsupportedSchedule event for a TZ= prefix
// in the schedule (the API server rejects it in new CronJobs; the
// controller honours it in old ones).
//
// Controller is safe for concurrent use; a key is never synced by two
// workers at once.
package cronjob
