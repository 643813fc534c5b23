// Package envvar computes a container's environment the way the kubelet does:
// the service link variables of the pod's namespace and the kubernetes
// Service, then the container's envFrom sources, then its env list in order,
// with $(VAR) references expanded against what came before.
//
// Resolve is the entry point; it reads ConfigMaps, Secrets and Services
// through a small Lister the node agent backs with its caches or client. A
// missing ConfigMap, Secret or key that is not optional is an error wrapping
// ErrConfig whose text is the kubelet's, for the agent to report as
// CreateContainerConfigError.
//
// The package also owns the downward API's values (FieldValue for
// metadata and status fields, ResourceValue for a container's limits and
// requests with a divisor) and the Kubernetes $(VAR) expansion (Expand),
// which node/volume reuses for downwardAPI volumes and subPathExpr.
//
// The package holds no state; everything here is safe for concurrent use
// as long as the Lister is.
package envvar
