// Package volume materialises a pod's volumes on the node's disk and tells
// the runtime what to bind-mount into each container.
//
// A Manager owns the directory Root (the agent's DATA_DIR/pods): each pod
// gets Root/<pod UID>/volumes/<volume name>. Setup creates or refreshes
// every volume of a pod and is called on every pod sync:
//
//   - emptyDir: a directory any container user may write; with medium
//     Memory a tmpfs limited to sizeLimit.
//   - configMap, secret, downwardAPI and projected (configMap, secret,
//     downwardAPI and serviceAccountToken sources, which includes the
//     kube-api-access-xxxxx volume admission adds to every pod): files
//     written atomically like the kubelet's AtomicWriter. The files live in
//     a timestamped directory "..2006_01_02_15_04_05.<random>", a "..data"
//     symlink points at it and each top-level name is a symlink
//     "name -> ..data/name". An update writes a new directory and swaps
//     "..data" with one rename, so a running container never sees a mix of
//     old and new files; nothing is written when the content is unchanged.
//     When the agent runs as root, secret and projected volumes sit on a
//     tmpfs of their own, as with the kubelet, so secrets and tokens never
//     reach the disk; pod directories are readable by root only either way.
//   - hostPath: the node's own path, checked against its type
//     (DirectoryOrCreate and FileOrCreate create it).
//
// Service account tokens are requested through the TokenRequest API bound
// to the pod, cached in the Manager and refreshed, like the kubelet, once
// 80% of their lifetime has passed or they are older than 24 hours.
//
// Errors a sync cannot fix until someone acts wrap ErrMissingSource (a
// ConfigMap, Secret or key that is not optional is missing) or
// ErrUnsupported (a volume type sqlkube does not implement, such as
// persistentVolumeClaim); the agent keeps the pod ContainerCreating and
// posts a FailedMount event with the error's text.
//
// Mounts turns a container's volumeMounts into host paths, resolving
// subPath and subPathExpr and refusing paths that leave the volume. Cleanup
// unmounts and removes a pod's directory; Pods lists the pod directories
// present, so the agent can remove orphans after a restart.
//
// The package does not own /etc/hosts, /etc/hostname or /etc/resolv.conf
// (node/runtime writes them) nor the bind mounts themselves.
//
// A Manager is safe for concurrent use; calls for one pod are serialised.
package volume
