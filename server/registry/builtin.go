package registry

// Builtin returns the registry of every resource sqlkube serves: the core
// group (core.go), apps/v1 (apps.go), batch/v1 jobs and cronjobs
// (batch.go, cronjob.go), policy/v1 poddisruptionbudgets (policy.go),
// coordination.k8s.io/v1 leases and discovery.k8s.io/v1 endpointslices
// (other.go), the self reviews (reviews.go), and rbac.authorization.k8s.io/v1
// roles and bindings with the subject access and token reviews (rbac.go).
// Each call builds a new, independent registry.
func Builtin() *Registry {
	var all []*Resource
	for _, rs := range [][]*Resource{coreResources(), appsResources(), batchResources(), policyResources(), otherResources(), reviewResources(),
		rbacResources(), subjectReviewResources()} {
		all = append(all, rs...)
	}
	return NewRegistry(all...)
}
