// Package openapi renders the OpenAPI documents the API server publishes:
// the swagger 2.0 document of GET /openapi/v2, the index of GET /openapi/v3
// and one OpenAPI 3.0 document per group-version (GET /openapi/v3/api/v1,
// /openapi/v3/apis/apps/v1, ...).
//
// Schemas are derived by reflection from the Go types of the served
// resources (k8s.io/api and k8s.io/apimachinery types), following the rules
// of Kubernetes' openapi-gen: named structs become definitions named after
// their package ("io.k8s.api.apps.v1.Deployment"), descriptions come from
// the types' generated SwaggerDoc methods, strategic merge patch metadata
// from the patchStrategy/patchMergeKey struct tags, and top-level kinds
// carry x-kubernetes-group-version-kind. Each resource path lists the
// operations the server serves together with their query parameters.
//
// What clients need from these documents:
//   - kubectl explain (1.27+) reads the v3 index, then the group-version
//     document, finds the kind through the operations of the resource's
//     path and then the schema carrying the same group-version-kind.
//   - kubectl apply/create/replace with --validate=strict (the default)
//     sends fieldValidation=Strict and leaves validation to the server only
//     when the PATCH operation of the kind in the v3 document lists a
//     "fieldValidation" query parameter (it checks the first PATCH
//     operation of the kind it meets, so every one lists it). Otherwise,
//     and always for documents of kind List, it validates on the client
//     against the v2 document, which it requests as protobuf (V2Proto).
//   - kubectl apply computes its strategic merge patch from the v3 schema
//     when that PATCH operation accepts application/strategic-merge-patch+json,
//     using the x-kubernetes-patch-strategy and -merge-key extensions.
//
// Fields are required, as openapi-gen makes them by default, when their
// json tag has neither omitempty nor omitzero; the +optional and +required
// markers are not visible at run time, so a few fields differ from
// Kubernetes' documents. Only the v3 documents name required fields: the
// v2 document drives kubectl's client-side validation, where a wrong
// marker would reject valid objects. x-kubernetes-list-type,
// x-kubernetes-list-map-keys and enums, which come from markers too, are
// not written. No client reads the list markers from the server: kubectl's
// client-side apply merges by x-kubernetes-patch-strategy and -merge-key,
// and server-side apply takes kube-apiserver's schemas, markers included,
// from client-go (server/apply.go), not from these documents.
//
// The package owns only the rendering of documents. It does not serve HTTP,
// pick content types, or check the hash query parameter of v3 requests;
// the server does that with the bytes and hashes returned here. It knows
// nothing of storage.
//
// The main entry point is Build, which takes the served resources and
// returns an immutable *Documents. A Documents is safe for concurrent use;
// the byte slices it returns are shared and must not be modified.
package openapi
