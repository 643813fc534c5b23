package registry

// Builtin returns the registry of every resource sqlkube serves: the core
// group (core.go), apps/v1 (apps.go), batch/v1 jobs (batch.go), coordination.k8s.io/v1 leases and
// discovery.k8s.io/v1 endpointslices (other.go). Each call builds a new,
// independent registry.
func Builtin() *Registry {
	return NewRegistry(append(append(append(coreResources(), appsResources()...), batchResources()...), otherResources()...)...)
}
