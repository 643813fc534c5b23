package registry

import (
	"slices"
	"sort"

	apivalidation "k8s.io/apimachinery/pkg/api/validation"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/fields"
	"k8s.io/apimachinery/pkg/runtime"
	"k8s.io/apimachinery/pkg/runtime/schema"
	"k8s.io/apimachinery/pkg/util/validation/field"
)

// Resource describes one API resource and its strategy: what Kubernetes
// does to an object of this kind beyond the generic rules the server
// applies to every object (uid, creationTimestamp, resourceVersion,
// generation, generateName, namespace checks, optimistic concurrency).
//
// Function fields may be nil, meaning "nothing to do" (for Validate*:
// nothing beyond the generic metadata validation the server does).
// Functions receive typed objects (New()'s type) and must not keep them.
type Resource struct {
	Group    string // "" for the core group
	Version  string // "v1"
	Resource string // plural, lower case: "deployments"
	Kind     string // "Deployment"
	ListKind string // "DeploymentList"
	// Namespaced is false for cluster-scoped resources (nodes, namespaces).
	Namespaced bool
	ShortNames []string // "deploy"
	Categories []string // "all"
	// Subresources lists the subresources the server serves for this
	// resource: "status", "scale", "binding", "log", "exec", "attach",
	// "portforward", "token".
	Subresources []string

	// Verbs, when set, are the only verbs served: {"create"} for a
	// review, which is answered and never stored. Nil means every verb of
	// a stored resource.
	Verbs []string

	// New returns an empty object of this kind; NewList an empty list
	// (nil for a resource that cannot be listed).
	New     func() runtime.Object
	NewList func() runtime.Object

	// Default sets the fields Kubernetes defaults (e.g. a Deployment's
	// strategy, a Pod's restartPolicy), in place, on create and update.
	Default func(obj runtime.Object)
	// PrepareForCreate adjusts an object before it is first stored (e.g.
	// clears status for resources with a status subresource).
	PrepareForCreate func(obj runtime.Object)
	// PrepareForUpdate adjusts an update of the main resource (e.g. keeps
	// the old status when there is a status subresource).
	PrepareForUpdate func(obj, old runtime.Object)
	// PrepareForStatusUpdate adjusts an update through the status
	// subresource (keeps everything but status from old).
	PrepareForStatusUpdate func(obj, old runtime.Object)
	// PrepareForFinalize adjusts an update through the finalize
	// subresource (namespaces: only spec.finalizers may change).
	PrepareForFinalize func(obj, old runtime.Object)
	// AdmitDelete refuses the deletion of obj with the reason, which the
	// server answers as 403 Forbidden (Kubernetes' admission: the
	// namespaces a cluster cannot lose).
	AdmitDelete func(obj runtime.Object) error
	// NameRule is the kind's rule for metadata.name, for the server's
	// generic metadata validation; nil means a DNS subdomain
	// (apivalidation.NameIsDNSSubdomain), the rule of most kinds. RBAC
	// roles and bindings take any path segment name ("system:controller:x").
	NameRule apivalidation.ValidateNameFunc
	// Validate checks an object on create; ValidateUpdate on update.
	// Field paths are rooted at the object ("spec.replicas").
	Validate       func(obj runtime.Object) field.ErrorList
	ValidateUpdate func(obj, old runtime.Object) field.ErrorList
	// Fields returns the fields a field selector may name, beyond
	// metadata.name and metadata.namespace which the server adds.
	Fields func(obj runtime.Object) fields.Set
	// PlainFields are the fields of Fields whose value is the string at
	// the same JSON path of the object ("spec.nodeName" is the object's
	// .spec.nodeName, "" when absent). Selectors on them are evaluated on
	// the stored JSON, without decoding the object.
	PlainFields []string
	// Columns and Row make the Table kubectl get prints. Columns with
	// Priority 1 are shown by -o wide only. Row returns one cell per
	// column; the server adds the object itself.
	Columns []metav1.TableColumnDefinition
	Row     func(obj runtime.Object) []any
}

// GroupVersion returns the resource's API group and version.
func (r *Resource) GroupVersion() schema.GroupVersion {
	return schema.GroupVersion{Group: r.Group, Version: r.Version}
}

// GVK returns the resource's kind with its group and version.
func (r *Resource) GVK() schema.GroupVersionKind { return r.GroupVersion().WithKind(r.Kind) }

// GVR returns the resource's group, version and plural name.
func (r *Resource) GVR() schema.GroupVersionResource {
	return r.GroupVersion().WithResource(r.Resource)
}

// StorageResource is the resource name in the store: "pods" for the core
// group, "deployments.apps" otherwise.
func (r *Resource) StorageResource() string {
	if r.Group == "" {
		return r.Resource
	}
	return r.Resource + "." + r.Group
}

// Stored reports whether objects of the resource are stored: false for a
// review.
func (r *Resource) Stored() bool { return r.Verbs == nil }

// Serves reports whether the resource answers verb.
func (r *Resource) Serves(verb string) bool {
	return r.Verbs == nil || slices.Contains(r.Verbs, verb)
}

// HasSubresource reports whether the server serves sub for this resource.
func (r *Resource) HasSubresource(sub string) bool {
	for _, s := range r.Subresources {
		if s == sub {
			return true
		}
	}
	return false
}

// Registry is the set of resources the server serves. It is read-only
// once built and safe for concurrent use.
type Registry struct {
	list  []*Resource
	byGVR map[schema.GroupVersionResource]*Resource
}

// NewRegistry returns a registry of the given resources.
func NewRegistry(resources ...*Resource) *Registry {
	r := &Registry{byGVR: map[schema.GroupVersionResource]*Resource{}}
	for _, res := range resources {
		r.list = append(r.list, res)
		r.byGVR[res.GVR()] = res
	}
	sort.Slice(r.list, func(i, j int) bool {
		a, b := r.list[i], r.list[j]
		if a.Group != b.Group {
			return a.Group < b.Group
		}
		return a.Resource < b.Resource
	})
	return r
}

// Lookup returns the resource served at group/version/resource.
func (r *Registry) Lookup(group, version, resource string) (*Resource, bool) {
	res, ok := r.byGVR[schema.GroupVersionResource{Group: group, Version: version, Resource: resource}]
	return res, ok
}

// Resources returns every resource, ordered by group and name.
func (r *Registry) Resources() []*Resource { return r.list }
