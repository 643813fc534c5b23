package cronjob

import (
	"cmp"
	"context"
	"errors"
	"fmt"
	"slices"

	batchv1 "k8s.io/api/batch/v1"
	corev1 "k8s.io/api/core/v1"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/types"

	jobctl "github.com/sqlkube/sqlkube/controllers/job"
	"github.com/sqlkube/sqlkube/controllers/reconcile"
)

// The history limits when spec leaves them unset; the API server sets
// them when it stores a CronJob, so these only matter for objects that
// missed that defaulting.
const (
	defaultSuccessfulJobsHistoryLimit = 3
	defaultFailedJobsHistoryLimit     = 1
)

// cleanup deletes cj's oldest finished Jobs beyond its history limits:
// spec.successfulJobsHistoryLimit of those that completed and
// spec.failedJobsHistoryLimit of those that failed are kept. Jobs already
// being deleted are neither counted nor deleted again.
func (c *Controller) cleanup(ctx context.Context, cj *batchv1.CronJob, jobs []*batchv1.Job) error {
	var succeeded, failed []*batchv1.Job
	for _, j := range jobs {
		if j.DeletionTimestamp != nil {
			continue
		}
		switch cond, _ := jobctl.Finished(j); cond {
		case batchv1.JobComplete:
			succeeded = append(succeeded, j)
		case batchv1.JobFailed:
			failed = append(failed, j)
		}
	}
	return errors.Join(
		c.deleteOldest(ctx, cj, succeeded, limit(cj.Spec.SuccessfulJobsHistoryLimit, defaultSuccessfulJobsHistoryLimit)),
		c.deleteOldest(ctx, cj, failed, limit(cj.Spec.FailedJobsHistoryLimit, defaultFailedJobsHistoryLimit)),
	)
}

func limit(n *int32, def int32) int {
	if n == nil {
		return int(def)
	}
	return int(max(*n, 0))
}

// deleteOldest deletes all but the keep newest of jobs, ordered by
// status.startTime (then name) as Kubernetes orders them; Jobs that never
// started count as the newest.
func (c *Controller) deleteOldest(ctx context.Context, cj *batchv1.CronJob, jobs []*batchv1.Job, keep int) error {
	if len(jobs) <= keep {
		return nil
	}
	jobs = slices.Clone(jobs)
	slices.SortFunc(jobs, func(a, b *batchv1.Job) int {
		as, bs := a.Status.StartTime, b.Status.StartTime
		switch {
		case as == nil && bs != nil:
			return 1
		case as != nil && bs == nil:
			return -1
		case as != nil && !as.Equal(bs):
			return as.Compare(bs.Time)
		}
		return cmp.Compare(a.Name, b.Name)
	})
	var errs []error
	for _, j := range jobs[:len(jobs)-keep] {
		errs = append(errs, c.deleteJob(ctx, cj, j.Name, j.UID))
	}
	return errors.Join(errs...)
}

// deleteJob deletes cj's Job name, if it still is the one with uid, in the
// background: the garbage collector deletes its pods after it. A Job that
// is gone already counts as deleted.
func (c *Controller) deleteJob(ctx context.Context, cj *batchv1.CronJob, name string, uid types.UID) error {
	background := metav1.DeletePropagationBackground
	opts := metav1.DeleteOptions{PropagationPolicy: &background}
	if uid != "" {
		opts.Preconditions = &metav1.Preconditions{UID: &uid}
	}
	err := c.client.BatchV1().Jobs(cj.Namespace).Delete(ctx, name, opts)
	switch {
	case err == nil:
		c.recorder.Eventf(cj, corev1.EventTypeNormal, "SuccessfulDelete", "Deleted job %s", name)
		return nil
	case apierrors.IsNotFound(err) || apierrors.IsConflict(err):
		// Gone, or replaced by another Job of that name.
		return nil
	default:
		if ctx.Err() == nil {
			c.recorder.Eventf(cj, corev1.EventTypeWarning, "FailedDelete", "Error deleting job %s: %v", name, err)
		}
		return fmt.Errorf("delete job %s/%s of cronjob %s: %w", cj.Namespace, name, reconcile.Key(cj), err)
	}
}

// activeIndex is the index of the Job with uid in cj's status.active, or
// -1.
func activeIndex(cj *batchv1.CronJob, uid types.UID) int {
	return slices.IndexFunc(cj.Status.Active, func(r corev1.ObjectReference) bool { return r.UID == uid })
}

// activeNamed reports whether cj's status.active holds a Job named name.
func activeNamed(cj *batchv1.CronJob, name string) bool {
	return slices.ContainsFunc(cj.Status.Active, func(r corev1.ObjectReference) bool { return r.Name == name })
}

// removeActive drops the Job with uid from cj's status.active.
func removeActive(cj *batchv1.CronJob, uid types.UID) {
	cj.Status.Active = slices.DeleteFunc(cj.Status.Active, func(r corev1.ObjectReference) bool { return r.UID == uid })
	if len(cj.Status.Active) == 0 {
		cj.Status.Active = nil
	}
}
