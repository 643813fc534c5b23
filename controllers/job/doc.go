// Package job runs batch/v1 Jobs to completion, like
// kube-controller-manager's job controller, for NonIndexed Jobs.
//
// A Job runs up to spec.parallelism pods at once (never more than the
// completions still missing) until spec.completions pods have succeeded;
// with completions unset it runs parallelism pods until one succeeds and
// the others finish. Then it gets the condition Complete (what `kubectl
// wait --for=condition=complete` reads) and a completionTime. It fails,
// with the condition Failed and the reason BackoffLimitExceeded, when more
// than spec.backoffLimit (default 6) pods failed (with restartPolicy
// OnFailure, container restarts count too), and with the reason
// DeadlineExceeded when it ran longer than spec.activeDeadlineSeconds; its
// running pods are then deleted. A failed pod is replaced after a back-off
// that doubles with every failure (10 s, 20 s, ... at most 6 min). A
// suspended Job (spec.suspend) runs no pods.
//
// Pods are named "<job>-<random>", carry the template's labels (the API
// server adds batch.kubernetes.io/job-name and controller-uid to it; the
// controller adds them when missing) and a controller reference to the
// Job. The Job's selector picks its pods; when it is unset the controller
// selects batch.kubernetes.io/controller-uid=<job uid>, the selector the
// API server generates.
//
// Counting: the controller does not use the job-tracking finalizer.
// status.succeeded and status.failed count the Job's finished pods that
// exist (the controller never deletes finished pods) and never decrease.
// So a Job never completes early; but when someone else deletes a finished
// pod of a running Job, the Job may lose that completion and run one pod
// more than it needed. A running pod deleted by someone else is replaced
// without counting as failed. Indexed completion, pod failure policies, success
// policies and ttlSecondsAfterFinished are not implemented.
//
// Controller is safe for concurrent use; a key is never synced by two
// workers at once.
package job
