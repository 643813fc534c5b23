// Package deployment is the Deployment controller: it rolls a
// Deployment's pod template out through ReplicaSets, one per template,
// and reports the rollout in the Deployment's status the way kubectl
// (rollout status, rollout history, rollout undo) reads it.
//
// What it owns: ReplicaSets whose controller owner reference is a
// Deployment. Each is named "<deployment>-<pod-template-hash>", where the
// hash is a stable hash of the template without the pod-template-hash
// label (plus status.collisionCount when names collide), and carries that
// label on its selector and template. The ReplicaSet whose template
// equals the Deployment's (ignoring the hash label) is the new one,
// whether it was just created or re-used by `kubectl rollout undo`; it
// gets the next deployment.kubernetes.io/revision, which the Deployment
// repeats. Deployment annotations (kubernetes.io/change-cause, ...) are
// copied to the new ReplicaSet; desired-replicas and max-replicas record
// the size each ReplicaSet was scaled for, which proportional scaling
// reads. What it does not own: pods (the ReplicaSet controller) and
// deleting ReplicaSets of a deleted Deployment (the garbage collector).
//
// Strategies: RollingUpdate scales the new ReplicaSet up within
// spec.replicas+maxSurge and old ones down while at least
// spec.replicas-maxUnavailable pods stay available (fenceposts resolved
// like Kubernetes: both zero means maxUnavailable 1). Recreate scales old
// ReplicaSets to zero, waits until no old pod is left, then scales the
// new one up. A paused Deployment, or a change of spec.replicas alone, is
// only scaled (proportionally across active ReplicaSets during a
// rollout). Old ReplicaSets with no pods beyond revisionHistoryLimit are
// deleted once a rollout completes.
//
// Conditions: Progressing (NewReplicaSetCreated, FoundNewReplicaSet,
// ReplicaSetUpdated, NewReplicaSetAvailable, ProgressDeadlineExceeded
// after progressDeadlineSeconds without progress, DeploymentPaused,
// DeploymentResumed) and Available (MinimumReplicasAvailable /
// MinimumReplicasUnavailable).
//
// New registers the informers and handlers; Run runs the workers. Each
// sync is keyed by "namespace/name" and idempotent.
package deployment
