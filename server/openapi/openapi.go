package openapi

import (
	"crypto/sha512"
	"encoding/json"
	"errors"
	"fmt"
	"reflect"
	"sort"

	openapi_v2 "github.com/google/gnostic-models/openapiv2"
	"google.golang.org/protobuf/proto"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
)

// Media types of the protobuf form of the v2 document. Clients such as
// client-go ask with the deprecated name; responses carry
// ContentTypeV2Protobuf, which is what Kubernetes answers with (Go's
// mime package rejects the "@" of the deprecated name).
const (
	ContentTypeV2Protobuf           = "application/com.github.proto-openapi.spec.v2.v1.0+protobuf"
	ContentTypeV2ProtobufDeprecated = "application/com.github.proto-openapi.spec.v2@v1.0+protobuf"
)

// ErrInvalidResource is returned, wrapped, by Build when a Resource lacks
// a field or repeats another.
var ErrInvalidResource = errors.New("invalid resource")

// Resource is what openapi needs to know of one served resource.
type Resource struct {
	Group    string // "" for the core group
	Version  string // "v1"
	Resource string // plural, lower case: "deployments"
	Kind     string // "Deployment"
	// Namespaced is false for cluster-scoped resources (nodes, namespaces).
	Namespaced bool
	// Type is the Go type of the object, e.g.
	// reflect.TypeOf(appsv1.Deployment{}); ListType that of its list.
	// Pointer types are dereferenced. Both must be structs; ListType is
	// ignored when CreateOnly.
	Type     reflect.Type
	ListType reflect.Type
	// CreateOnly marks a review: only POST to the collection is served,
	// and the answer is the object of Type.
	CreateOnly bool
	// Subresources lists the served subresources. Paths are written for
	// "status", "scale", "binding" and "eviction"; others are ignored.
	Subresources []string
}

// Documents holds the rendered documents. It is immutable once built and
// safe for concurrent use; the slices it returns are shared and must not
// be modified.
type Documents struct {
	v2      []byte
	v2Proto []byte
	v3Index []byte
	v3      map[string]v3Document // by path: "api/v1", "apis/apps/v1"
}

type v3Document struct {
	body []byte
	hash string
}

// Build renders the swagger 2.0 document of all resources and one OpenAPI
// 3.0 document per group-version. It fails, wrapping ErrInvalidResource,
// when a resource lacks a name, kind or type or repeats another's
// group/version/resource, and when a type has no JSON schema (a channel or
// function field).
func Build(resources []Resource) (*Documents, error) {
	byPath := map[string][]Resource{}
	seen := map[string]bool{}
	for i, r := range resources {
		r, err := normalize(r)
		if err != nil {
			return nil, fmt.Errorf("resource %d (%s/%s %s): %w", i, r.Group, r.Version, r.Resource, err)
		}
		key := r.Group + "/" + r.Version + "/" + r.Resource
		if seen[key] {
			return nil, fmt.Errorf("resource %s: %w: served twice", key, ErrInvalidResource)
		}
		seen[key] = true
		path := groupVersionPath(r.Group, r.Version)
		byPath[path] = append(byPath[path], r)
	}

	d := &Documents{v3: map[string]v3Document{}}
	index := map[string]any{}
	for path, rs := range byPath {
		body, err := render(openAPI3, rs)
		if err != nil {
			return nil, fmt.Errorf("openapi v3 document %s: %w", path, err)
		}
		hash := fmt.Sprintf("%X", sha512.Sum512(body))
		d.v3[path] = v3Document{body: body, hash: hash}
		index[path] = map[string]string{"serverRelativeURL": "/openapi/v3/" + path + "?hash=" + hash}
	}
	var err error
	if d.v3Index, err = json.Marshal(map[string]any{"paths": index}); err != nil {
		return nil, fmt.Errorf("openapi v3 index: %w", err)
	}
	var all []Resource
	for _, rs := range byPath {
		all = append(all, rs...)
	}
	if d.v2, err = render(swagger2, all); err != nil {
		return nil, fmt.Errorf("openapi v2 document: %w", err)
	}
	parsed, err := openapi_v2.ParseDocument(d.v2)
	if err != nil {
		return nil, fmt.Errorf("openapi v2 document: parse as gnostic model: %w", err)
	}
	if d.v2Proto, err = proto.Marshal(parsed); err != nil {
		return nil, fmt.Errorf("openapi v2 document: marshal protobuf: %w", err)
	}
	return d, nil
}

// V2 returns the swagger 2.0 JSON document of GET /openapi/v2.
func (d *Documents) V2() []byte { return d.v2 }

// V2Proto returns the same document as V2 as a gnostic openapi_v2.Document
// in protobuf, the form client-go's discovery (and so kubectl's client-side
// validation) asks for. Serve it, with Content-Type ContentTypeV2Protobuf,
// when the Accept header of GET /openapi/v2 names ContentTypeV2Protobuf or
// ContentTypeV2ProtobufDeprecated, and V2 otherwise.
func (d *Documents) V2Proto() []byte { return d.v2Proto }

// V3Index returns the JSON of GET /openapi/v3: {"paths": {"api/v1":
// {"serverRelativeURL": "/openapi/v3/api/v1?hash=<hex>"}, ...}}.
func (d *Documents) V3Index() []byte { return d.v3Index }

// V3 returns the OpenAPI 3.0 document of a group-version path such as
// "api/v1" or "apis/apps/v1" (no leading slash), and its hash, the value
// of the hash query parameter in the index. ok is false for an unknown
// path.
func (d *Documents) V3(path string) (doc []byte, hash string, ok bool) {
	v, ok := d.v3[path]
	return v.body, v.hash, ok
}

// normalize dereferences the types of r and checks its fields.
func normalize(r Resource) (Resource, error) {
	switch {
	case r.Version == "" || r.Resource == "" || r.Kind == "":
		return r, fmt.Errorf("%w: version, resource and kind are required", ErrInvalidResource)
	case r.Type == nil || (r.ListType == nil && !r.CreateOnly):
		return r, fmt.Errorf("%w: Type and ListType are required", ErrInvalidResource)
	}
	r.Type = deref(r.Type)
	if r.Type.Kind() != reflect.Struct {
		return r, fmt.Errorf("%w: Type %s must be a struct", ErrInvalidResource, r.Type)
	}
	if r.CreateOnly {
		r.ListType = nil
		return r, nil
	}
	r.ListType = deref(r.ListType)
	if r.ListType.Kind() != reflect.Struct {
		return r, fmt.Errorf("%w: ListType %s must be a struct", ErrInvalidResource, r.ListType)
	}
	return r, nil
}

// groupVersionPath is the document path of a group-version: "api/v1" for
// the core group, "apis/<group>/<version>" otherwise.
func groupVersionPath(group, version string) string {
	if group == "" {
		return "api/" + version
	}
	return "apis/" + group + "/" + version
}

// render builds the JSON document of one dialect for resources, with the
// paths of each resource and every definition they reference.
func render(d dialect, resources []Resource) ([]byte, error) {
	sort.Slice(resources, func(i, j int) bool {
		a, b := resources[i], resources[j]
		if a.Group != b.Group {
			return a.Group < b.Group
		}
		if a.Version != b.Version {
			return a.Version < b.Version
		}
		return a.Resource < b.Resource
	})
	g := newGenerator(d)
	for _, r := range resources {
		g.addGVK(r.Type, r.Group, r.Version, r.Kind)
		if r.ListType != nil {
			g.addGVK(r.ListType, r.Group, r.Version, r.Kind+"List")
		}
		// Kinds every group-version serves, as Kubernetes declares them.
		g.addGVK(reflect.TypeFor[metav1.DeleteOptions](), r.Group, r.Version, "DeleteOptions")
		g.addGVK(reflect.TypeFor[metav1.WatchEvent](), r.Group, r.Version, "WatchEvent")
	}
	g.addGVK(reflect.TypeFor[metav1.Status](), "", "v1", "Status")
	subs := subresourceKinds()
	for _, r := range resources {
		for _, name := range r.Subresources {
			if sk := subs[name]; sk.typ != nil {
				g.addGVK(sk.typ, sk.group, sk.version, sk.kind)
			}
		}
	}
	w := &pathWriter{g: g, paths: map[string]any{}}
	for _, r := range resources {
		if err := w.resource(r); err != nil {
			return nil, fmt.Errorf("resource %s: %w", groupVersionPath(r.Group, r.Version)+"/"+r.Resource, err)
		}
	}
	info := map[string]string{"title": "Kubernetes", "version": "unversioned"}
	var doc map[string]any
	if d == openAPI3 {
		doc = map[string]any{
			"openapi":    "3.0.0",
			"info":       info,
			"paths":      w.paths,
			"components": map[string]any{"schemas": g.defs},
		}
	} else {
		doc = map[string]any{
			"swagger":     "2.0",
			"info":        info,
			"paths":       w.paths,
			"definitions": g.defs,
		}
	}
	out, err := json.Marshal(doc)
	if err != nil {
		return nil, fmt.Errorf("marshal: %w", err)
	}
	return out, nil
}
