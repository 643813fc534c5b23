package openapi

import (
	"reflect"
	"strings"

	authenticationv1 "k8s.io/api/authentication/v1"
	autoscalingv1 "k8s.io/api/autoscaling/v1"
	corev1 "k8s.io/api/core/v1"
	policyv1 "k8s.io/api/policy/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
)

// patchTypes are the content types PATCH operations declare. The server
// decides what it really accepts; these are what Kubernetes declares and
// what kubectl looks for: it computes a strategic merge patch from the v3
// schema only when the PATCH operation accepts
// application/strategic-merge-patch+json.
func patchTypes() []string {
	return []string{
		"application/apply-patch+yaml",
		"application/json-patch+json",
		"application/merge-patch+json",
		"application/strategic-merge-patch+json",
	}
}

// responseTypes are the content types responses declare.
func responseTypes() []string { return []string{"application/json", "application/yaml"} }

// Query parameter descriptions, shortened from Kubernetes'.
const (
	fieldValidationDoc = "fieldValidation instructs the server on how to handle objects in the request (POST/PUT/PATCH) containing unknown or duplicate fields. Valid values are: - Ignore: unknown fields are silently dropped and all but the last duplicate field are ignored. - Warn: a warning is sent for each unknown field that is dropped and each duplicate field; the request still succeeds. - Strict: the request fails with a BadRequest error listing all unknown and duplicate fields."
	fieldManagerDoc    = "fieldManager is a name associated with the actor or entity that is making these changes. The value must be less than or 128 characters long, and only contain printable characters."
	dryRunDoc          = "When present, indicates that modifications should not be persisted. Valid values are: - All: all dry run stages will be processed"
	forceDoc           = "Force is going to \"force\" Apply requests. It means user will re-acquire conflicting fields owned by other people. Force flag must be unset for non-apply patch requests."
	prettyDoc          = "If 'true', then the output is pretty printed."
)

// subresourceKind is the kind a subresource reads and writes when it is
// not the resource's own kind, and the verbs it serves.
type subresourceKind struct {
	group, version, kind string
	typ                  reflect.Type
	verbs                []string // of "get", "put", "patch", "post"
}

// subresourceKinds describes the subresources this package writes paths
// for. "status" uses the resource's own kind. Others (log, exec, proxy,
// attach, portforward) get no path.
func subresourceKinds() map[string]subresourceKind {
	return map[string]subresourceKind{
		"status":   {verbs: []string{"get", "put", "patch"}},
		"scale":    {"autoscaling", "v1", "Scale", reflect.TypeFor[autoscalingv1.Scale](), []string{"get", "put", "patch"}},
		"binding":  {"", "v1", "Binding", reflect.TypeFor[corev1.Binding](), []string{"post"}},
		"eviction": {"policy", "v1", "Eviction", reflect.TypeFor[policyv1.Eviction](), []string{"post"}},
		"token":    {"authentication.k8s.io", "v1", "TokenRequest", reflect.TypeFor[authenticationv1.TokenRequest](), []string{"post"}},
	}
}

// pathWriter writes the operations of resources into a paths object.
type pathWriter struct {
	g     *generator
	paths map[string]any
}

// gvk is the operation form of x-kubernetes-group-version-kind: a single
// object where schemas carry a list.
func gvk(group, version, kind string) map[string]string {
	return map[string]string{"group": group, "version": version, "kind": kind}
}

// resource writes every path of r: the collection (per namespace and, for
// namespaced resources, across namespaces), the object, and the
// subresources this package knows.
func (w *pathWriter) resource(r Resource) error {
	prefix := "/apis/" + r.Group + "/" + r.Version
	if r.Group == "" {
		prefix = "/api/" + r.Version
	}
	ns := ""
	if r.Namespaced {
		ns = "Namespaced"
		prefix += "/namespaces/{namespace}"
	}
	opID := operationGroupVersion(r.Group, r.Version)
	tag := strings.ReplaceAll(strings.TrimSuffix(r.Group, ".k8s.io"), ".", "") + "_" + r.Version
	if r.Group == "" {
		tag = "core_" + r.Version
	}
	kind := gvk(r.Group, r.Version, r.Kind)
	obj, err := w.g.ref(r.Type)
	if err != nil {
		return err
	}
	status, err := w.g.ref(reflect.TypeFor[metav1.Status]())
	if err != nil {
		return err
	}
	watchEvent, err := w.g.ref(reflect.TypeFor[metav1.WatchEvent]())
	if err != nil {
		return err
	}
	deleteOptions, err := w.g.ref(reflect.TypeFor[metav1.DeleteOptions]())
	if err != nil {
		return err
	}
	patch, err := w.g.ref(reflect.TypeFor[metav1.Patch]())
	if err != nil {
		return err
	}
	op := func(action, id, desc string, k map[string]string) map[string]any {
		return map[string]any{
			"description":                     desc,
			"operationId":                     id,
			"tags":                            []string{tag},
			"x-kubernetes-action":             action,
			"x-kubernetes-group-version-kind": k,
		}
	}
	namespaceParam := w.pathParam("namespace", "object name and auth scope, such as for teams and projects")
	nameParam := w.pathParam("name", "name of the "+r.Kind)
	pretty := w.query("pretty", "string", prettyDoc)
	write := []any{w.query("dryRun", "string", dryRunDoc), w.query("fieldManager", "string", fieldManagerDoc), w.query("fieldValidation", "string", fieldValidationDoc)}
	patchParams := append(append([]any{}, write...), w.query("force", "boolean", forceDoc))
	collectionParams := []any{pretty}
	itemParams := []any{nameParam, pretty}
	if r.Namespaced {
		collectionParams = []any{namespaceParam, pretty}
		itemParams = []any{nameParam, namespaceParam, pretty}
	}

	createOp := op("post", "create"+opID+ns+r.Kind, "create a "+r.Kind, kind)
	w.params(createOp, write)
	w.body(createOp, []string{"*/*"}, obj)
	w.responses(createOp, map[string]any{"200": obj, "201": obj, "202": obj}, nil)
	if r.CreateOnly {
		w.add(prefix+"/"+r.Resource, collectionParams, map[string]any{"post": createOp})
		return nil
	}
	list, err := w.g.ref(r.ListType)
	if err != nil {
		return err
	}

	// The collection.
	listOp := op("list", "list"+opID+ns+r.Kind, "list or watch objects of kind "+r.Kind, kind)
	w.params(listOp, w.listParams())
	w.responses(listOp, map[string]any{"200": list}, watchEvent)
	deleteAllOp := op("deletecollection", "deleteCollection"+opID+ns+r.Kind, "delete collection of "+r.Kind, kind)
	w.params(deleteAllOp, append(w.listParams(), w.deleteParams()...))
	w.body(deleteAllOp, []string{"*/*"}, deleteOptions)
	w.responses(deleteAllOp, map[string]any{"200": status}, nil)
	w.add(prefix+"/"+r.Resource, collectionParams, map[string]any{"get": listOp, "post": createOp, "delete": deleteAllOp})

	if r.Namespaced {
		allOp := op("list", "list"+opID+r.Kind+"ForAllNamespaces", "list or watch objects of kind "+r.Kind, kind)
		w.params(allOp, w.listParams())
		w.responses(allOp, map[string]any{"200": list}, watchEvent)
		all := strings.TrimSuffix(prefix, "/namespaces/{namespace}") + "/" + r.Resource
		w.add(all, []any{pretty}, map[string]any{"get": allOp})
	}

	// The object.
	readOp := op("get", "read"+opID+ns+r.Kind, "read the specified "+r.Kind, kind)
	w.responses(readOp, map[string]any{"200": obj}, nil)
	replaceOp := op("put", "replace"+opID+ns+r.Kind, "replace the specified "+r.Kind, kind)
	w.params(replaceOp, write)
	w.body(replaceOp, []string{"*/*"}, obj)
	w.responses(replaceOp, map[string]any{"200": obj, "201": obj}, nil)
	patchOp := op("patch", "patch"+opID+ns+r.Kind, "partially update the specified "+r.Kind, kind)
	w.params(patchOp, patchParams)
	w.body(patchOp, patchTypes(), patch)
	w.responses(patchOp, map[string]any{"200": obj, "201": obj}, nil)
	deleteOp := op("delete", "delete"+opID+ns+r.Kind, "delete a "+r.Kind, kind)
	w.params(deleteOp, w.deleteParams())
	w.body(deleteOp, []string{"*/*"}, deleteOptions)
	w.responses(deleteOp, map[string]any{"200": status, "202": status}, nil)
	item := prefix + "/" + r.Resource + "/{name}"
	w.add(item, itemParams, map[string]any{"get": readOp, "put": replaceOp, "patch": patchOp, "delete": deleteOp})

	// Subresources. Every PATCH operation of a kind must list
	// fieldValidation and strategic merge patch: kubectl stops at the
	// first PATCH operation of the kind it meets, in map order.
	known := subresourceKinds()
	for _, sub := range r.Subresources {
		sk, ok := known[sub]
		if !ok {
			continue
		}
		subKind, subObj, suffix := kind, obj, r.Kind+strings.ToUpper(sub[:1])+sub[1:]
		if sk.typ != nil {
			subKind = gvk(sk.group, sk.version, sk.kind)
			if subObj, err = w.g.ref(sk.typ); err != nil {
				return err
			}
		}
		ops := map[string]any{}
		for _, verb := range sk.verbs {
			var o map[string]any
			switch verb {
			case "get":
				o = op("get", "read"+opID+ns+suffix, "read "+sub+" of the specified "+r.Kind, subKind)
				w.responses(o, map[string]any{"200": subObj}, nil)
			case "put":
				o = op("put", "replace"+opID+ns+suffix, "replace "+sub+" of the specified "+r.Kind, subKind)
				w.params(o, write)
				w.body(o, []string{"*/*"}, subObj)
				w.responses(o, map[string]any{"200": subObj, "201": subObj}, nil)
			case "patch":
				o = op("patch", "patch"+opID+ns+suffix, "partially update "+sub+" of the specified "+r.Kind, subKind)
				w.params(o, patchParams)
				w.body(o, patchTypes(), patch)
				w.responses(o, map[string]any{"200": subObj, "201": subObj}, nil)
			case "post":
				o = op("post", "create"+opID+ns+suffix, "create "+sub+" of a "+r.Kind, subKind)
				w.params(o, write)
				w.body(o, []string{"*/*"}, subObj)
				w.responses(o, map[string]any{"200": subObj, "201": subObj, "202": subObj}, nil)
			}
			ops[verb] = o
		}
		w.add(item+"/"+sub, itemParams, ops)
	}
	return nil
}

// add stores a path item with its shared parameters and operations.
func (w *pathWriter) add(path string, params []any, ops map[string]any) {
	item := map[string]any{"parameters": params}
	for verb, o := range ops {
		item[verb] = o
	}
	w.paths[path] = item
}

// params sets the operation's own parameters.
func (w *pathWriter) params(op map[string]any, params []any) {
	op["parameters"] = params
}

// listParams are the query parameters of list and watch.
func (w *pathWriter) listParams() []any {
	return []any{
		w.query("allowWatchBookmarks", "boolean", "allowWatchBookmarks requests watch events with type \"BOOKMARK\"."),
		w.query("continue", "string", "The continue option should be set when retrieving more results from the server."),
		w.query("fieldSelector", "string", "A selector to restrict the list of returned objects by their fields. Defaults to everything."),
		w.query("labelSelector", "string", "A selector to restrict the list of returned objects by their labels. Defaults to everything."),
		w.query("limit", "integer", "limit is a maximum number of responses to return for a list call."),
		w.query("resourceVersion", "string", "resourceVersion sets a constraint on what resource versions a request may be served from."),
		w.query("resourceVersionMatch", "string", "resourceVersionMatch determines how resourceVersion is applied to list calls."),
		w.query("sendInitialEvents", "boolean", "sendInitialEvents=true may be set together with watch=true to begin the watch stream with synthetic events for the current state."),
		w.query("timeoutSeconds", "integer", "Timeout for the list/watch call."),
		w.query("watch", "boolean", "Watch for changes to the described resources and return them as a stream of add, update, and remove notifications."),
	}
}

// deleteParams are the query parameters of delete.
func (w *pathWriter) deleteParams() []any {
	return []any{
		w.query("dryRun", "string", dryRunDoc),
		w.query("gracePeriodSeconds", "integer", "The duration in seconds before the object should be deleted."),
		w.query("orphanDependents", "boolean", "Deprecated: please use the PropagationPolicy."),
		w.query("propagationPolicy", "string", "Whether and how garbage collection will be performed: Orphan, Background or Foreground."),
	}
}

// query returns a query parameter of a primitive type.
func (w *pathWriter) query(name, typ, desc string) map[string]any {
	p := map[string]any{"name": name, "in": "query", "description": desc}
	if w.g.dialect == openAPI3 {
		p["schema"] = map[string]any{"type": typ, "uniqueItems": true}
	} else {
		p["type"] = typ
		p["uniqueItems"] = true
	}
	return p
}

// pathParam returns a required string path parameter.
func (w *pathWriter) pathParam(name, desc string) map[string]any {
	p := map[string]any{"name": name, "in": "path", "required": true, "description": desc}
	if w.g.dialect == openAPI3 {
		p["schema"] = map[string]any{"type": "string", "uniqueItems": true}
	} else {
		p["type"] = "string"
		p["uniqueItems"] = true
	}
	return p
}

// body declares the request body: a requestBody in OpenAPI 3, a body
// parameter and consumes in swagger 2.0.
func (w *pathWriter) body(op map[string]any, types []string, schema map[string]any) {
	if w.g.dialect == openAPI3 {
		content := map[string]any{}
		for _, t := range types {
			content[t] = map[string]any{"schema": schema}
		}
		op["requestBody"] = map[string]any{"content": content, "required": true}
		return
	}
	op["consumes"] = types
	params, _ := op["parameters"].([]any)
	op["parameters"] = append(append([]any{}, params...), map[string]any{
		"name": "body", "in": "body", "required": true, "schema": schema,
	})
}

// responses declares the responses by status code, each with the given
// schema, plus 401. A non-nil watch schema adds the watch stream content.
func (w *pathWriter) responses(op map[string]any, byCode map[string]any, watch map[string]any) {
	out := map[string]any{"401": map[string]any{"description": "Unauthorized"}}
	for code, schema := range byCode {
		desc := map[string]string{"200": "OK", "201": "Created", "202": "Accepted"}[code]
		if w.g.dialect == openAPI3 {
			content := map[string]any{}
			for _, t := range responseTypes() {
				content[t] = map[string]any{"schema": schema}
			}
			if watch != nil {
				content["application/json;stream=watch"] = map[string]any{"schema": watch}
			}
			out[code] = map[string]any{"description": desc, "content": content}
		} else {
			out[code] = map[string]any{"description": desc, "schema": schema}
		}
	}
	op["responses"] = out
	if w.g.dialect == swagger2 {
		produces := responseTypes()
		if watch != nil {
			produces = append(produces, "application/json;stream=watch")
		}
		op["produces"] = produces
		op["schemes"] = []string{"https"}
	}
}

// operationGroupVersion is the group-version part of Kubernetes operation
// ids: "" v1 → "CoreV1", apps v1 → "AppsV1", rbac.authorization.k8s.io
// v1 → "RbacAuthorizationV1".
func operationGroupVersion(group, version string) string {
	if group == "" {
		group = "core"
	}
	var b strings.Builder
	for _, part := range strings.FieldsFunc(strings.TrimSuffix(group, ".k8s.io"), func(r rune) bool { return r == '.' || r == '-' }) {
		b.WriteString(strings.ToUpper(part[:1]) + part[1:])
	}
	b.WriteString(strings.ToUpper(version[:1]) + version[1:])
	return b.String()
}
