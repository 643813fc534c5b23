// Package statefulset runs the pods of apps/v1 StatefulSets, like
// kube-controller-manager's statefulset controller: one pod per ordinal,
// each with a stable name, hostname and claims.
//
// A StatefulSet with spec.replicas n and spec.ordinals.start s has the
// pods "<set>-<s>" ... "<set>-<s+n-1>". Each carries the template's
// labels plus statefulset.kubernetes.io/pod-name, apps.kubernetes.io/
// pod-index and controller-revision-hash, has spec.hostname set to its
// name and spec.subdomain to spec.serviceName, and the set as its
// controller. For every volumeClaimTemplate the pod mounts a volume named
// after the template from the claim "<template>-<set>-<ordinal>"
// (replacing a template volume of that name); the controller creates the
// claim, labelled with the template's labels and the selector's
// matchLabels, before the pod, and does not create the pod when it
// cannot (a Warning FailedCreate event says why). Claims outlive their
// pods.
//
// podManagementPolicy OrderedReady (the default) creates pods one at a
// time in ordinal order, each only once every lower one is Running and
// Ready (and, with minReadySeconds, available), and scales down from the
// highest ordinal, one at a time, only while the pods that stay are
// Running and Ready; nothing proceeds while a pod is being deleted.
// Parallel creates and deletes them all at once (in slow-start batches).
// A pod that failed or succeeded is deleted and recreated.
//
// The revision of a template is "<set>-<hash>", the hash an FNV-1a hash
// of the template's JSON; status.updateRevision is the revision of the
// current template. RollingUpdate (the default) deletes pods of another
// revision whose index (ordinal - start) is at or above
// rollingUpdate.partition, highest first, while fewer than
// rollingUpdate.maxUnavailable (default 1) pods are unavailable, so by
// default the next one goes only once the replacement of the last is
// Running and Ready. OnDelete replaces a pod only when someone deletes it.
// status.currentRevision is the revision the pods had before the update
// began and becomes the update revision once spec.replicas pods exist,
// are Ready and run it: then `kubectl rollout status statefulset/NAME`
// reports the rollout complete. The status also counts the pods that
// exist (replicas), are Ready, available, at the current and at the
// update revision; it is written only when it changed.
//
// Orphan pods that the selector matches and that are named as members
// ("<set>-<ordinal>") are adopted; owned pods that stop matching are
// released.
//
// spec.persistentVolumeClaimRetentionPolicy is followed when a claim is
// created or found for a new pod, and when a pod is scaled away: with
// whenDeleted Delete the set becomes the claims' controller (the garbage
// collector deletes them with the set), with whenScaled Delete a pod
// scaled away becomes its claims' controller first (they go with it), and
// a new pod waits while its claim still belongs to an earlier pod of its
// name. Kubernetes also re-applies a changed policy to the claims of
// running pods on every sync; here a changed policy reaches a claim only
// at one of those two moments.
//
// Differences from Kubernetes:
//
//   - ControllerRevision objects are not served by this API server, so
//     none are written: the revision exists only as a name in the pods'
//     labels and the status. `kubectl rollout history statefulset` and
//     `kubectl rollout undo statefulset` therefore do not work (set the
//     old template again instead: the same template is the same
//     revision), and revisionHistoryLimit has no effect.
//   - Without the old template, a pod recreated below the partition (it
//     failed, or someone deleted it) runs the current template, where
//     Kubernetes restores the current revision.
//   - status.currentRevision also catches up with OnDelete, once every pod
//     was replaced; Kubernetes leaves it at the old revision.
//   - Claims are read and written through the API when a pod is created
//     or scaled away, not watched; so a claim deleted under a running
//     pod is not recreated until the pod is.
//   - A pod is a member only under its exact name "<set>-<n>"
//     ("web-01" is not web's pod 1).
//   - A revision name that would not fit in a label (a set name over 52
//     characters) is shortened; Kubernetes fails to create such pods.
//
// Not implemented: status conditions, and the pod-level claim checks
// Kubernetes makes for Pending pods.
//
// New registers the informers and handlers; Run runs the workers. Each
// sync is keyed by "namespace/name" and idempotent; any number of
// workers may run, and a key is never synced by two at once.
package statefulset
