package openapi

import (
	"encoding/json"
	"errors"
	"reflect"
	"strings"
	"testing"

	openapi_v2 "github.com/google/gnostic-models/openapiv2"
	"google.golang.org/protobuf/proto"
	appsv1 "k8s.io/api/apps/v1"
	authorizationv1 "k8s.io/api/authorization/v1"
	corev1 "k8s.io/api/core/v1"
)

func testResources() []Resource {
	return []Resource{
		{Group: "apps", Version: "v1", Resource: "deployments", Kind: "Deployment", Namespaced: true,
			Type: reflect.TypeOf(appsv1.Deployment{}), ListType: reflect.TypeOf(appsv1.DeploymentList{}),
			Subresources: []string{"status", "scale"}},
		{Version: "v1", Resource: "pods", Kind: "Pod", Namespaced: true,
			Type: reflect.TypeOf(&corev1.Pod{}), ListType: reflect.TypeOf(corev1.PodList{}),
			Subresources: []string{"status", "binding", "eviction", "log"}},
		{Version: "v1", Resource: "configmaps", Kind: "ConfigMap", Namespaced: true,
			Type: reflect.TypeOf(corev1.ConfigMap{}), ListType: reflect.TypeOf(corev1.ConfigMapList{})},
		{Version: "v1", Resource: "namespaces", Kind: "Namespace",
			Type: reflect.TypeOf(corev1.Namespace{}), ListType: reflect.TypeOf(corev1.NamespaceList{}),
			Subresources: []string{"status"}},
	}
}

// testSwaggerDoc returns the description of a field of a k8s.io/api
// apps/v1 type, as the documents should carry it.
func testSwaggerDoc(t *testing.T, typeName, field string) string {
	t.Helper()
	types := map[string]any{"DeploymentSpec": appsv1.DeploymentSpec{}}
	doc := types[typeName].(swaggerDocumented).SwaggerDoc()[field]
	if doc == "" {
		t.Fatalf("%s.%s has no SwaggerDoc", typeName, field)
	}
	return doc
}

// at walks a decoded JSON document along keys and returns the value there,
// or nil.
func at(v any, keys ...string) any {
	for _, k := range keys {
		m, ok := v.(map[string]any)
		if !ok {
			return nil
		}
		v = m[k]
	}
	return v
}

func decode(t *testing.T, b []byte) map[string]any {
	t.Helper()
	var m map[string]any
	if err := json.Unmarshal(b, &m); err != nil {
		t.Fatalf("decode: %v", err)
	}
	return m
}

func TestBuildV3(t *testing.T) {
	docs, err := Build(testResources())
	if err != nil {
		t.Fatalf("Build: %v", err)
	}
	index := decode(t, docs.V3Index())
	apps := map[string]any{}
	core := map[string]any{}
	for path, into := range map[string]map[string]any{"apis/apps/v1": apps, "api/v1": core} {
		doc, hash, ok := docs.V3(path)
		if !ok || hash == "" {
			t.Fatalf("V3(%q): ok %v, hash %q", path, ok, hash)
		}
		if got, want := at(index, "paths", path, "serverRelativeURL"), "/openapi/v3/"+path+"?hash="+hash; got != want {
			t.Errorf("index %s serverRelativeURL = %v, want %s", path, got, want)
		}
		for k, v := range decode(t, doc) {
			into[k] = v
		}
	}
	if _, _, ok := docs.V3("apis/batch/v1"); ok {
		t.Errorf("V3(apis/batch/v1) ok for a group-version not served")
	}

	schema := func(doc map[string]any, name string, keys ...string) any {
		return at(doc, append([]string{"components", "schemas", name}, keys...)...)
	}
	ref := "#/components/schemas/"
	deploymentItem := "/apis/apps/v1/namespaces/{namespace}/deployments/{name}"
	tests := []struct {
		name string
		got  any
		want any
	}{
		{"deployment gvk", schema(apps, "io.k8s.api.apps.v1.Deployment", "x-kubernetes-group-version-kind"),
			[]any{map[string]any{"group": "apps", "version": "v1", "kind": "Deployment"}}},
		{"deployment list gvk", schema(apps, "io.k8s.api.apps.v1.DeploymentList", "x-kubernetes-group-version-kind"),
			[]any{map[string]any{"group": "apps", "version": "v1", "kind": "DeploymentList"}}},
		{"deployment description", schema(apps, "io.k8s.api.apps.v1.Deployment", "description"),
			appsv1.Deployment{}.SwaggerDoc()[""]},
		{"spec refers to DeploymentSpec", schema(apps, "io.k8s.api.apps.v1.Deployment", "properties", "spec", "allOf"),
			[]any{map[string]any{"$ref": ref + "io.k8s.api.apps.v1.DeploymentSpec"}}},
		{"inline TypeMeta gives kind", schema(apps, "io.k8s.api.apps.v1.Deployment", "properties", "kind", "type"), "string"},
		{"replicas type", schema(apps, "io.k8s.api.apps.v1.DeploymentSpec", "properties", "replicas", "type"), "integer"},
		{"replicas format", schema(apps, "io.k8s.api.apps.v1.DeploymentSpec", "properties", "replicas", "format"), "int32"},
		{"replicas description", schema(apps, "io.k8s.api.apps.v1.DeploymentSpec", "properties", "replicas", "description"),
			testSwaggerDoc(t, "DeploymentSpec", "replicas")},
		{"required without omitempty", schema(apps, "io.k8s.api.apps.v1.DeploymentSpec", "required"), []any{"selector", "template"}},
		{"strategy patch strategy", schema(apps, "io.k8s.api.apps.v1.DeploymentSpec", "properties", "strategy", "x-kubernetes-patch-strategy"), "retainKeys"},
		{"containers merge key", schema(apps, "io.k8s.api.core.v1.PodSpec", "properties", "containers", "x-kubernetes-patch-merge-key"), "name"},
		{"containers items", schema(apps, "io.k8s.api.core.v1.PodSpec", "properties", "containers", "items"),
			map[string]any{"$ref": ref + "io.k8s.api.core.v1.Container"}},
		{"labels map", schema(apps, "io.k8s.apimachinery.pkg.apis.meta.v1.ObjectMeta", "properties", "labels", "additionalProperties"),
			map[string]any{"type": "string"}},
		{"int-or-string format", schema(apps, "io.k8s.apimachinery.pkg.util.intstr.IntOrString", "format"), "int-or-string"},
		{"int-or-string one of", schema(apps, "io.k8s.apimachinery.pkg.util.intstr.IntOrString", "oneOf"),
			[]any{map[string]any{"type": "integer"}, map[string]any{"type": "string"}}},
		{"quantity one of", schema(apps, "io.k8s.apimachinery.pkg.api.resource.Quantity", "oneOf"),
			[]any{map[string]any{"type": "string"}, map[string]any{"type": "number"}}},
		{"time", schema(apps, "io.k8s.apimachinery.pkg.apis.meta.v1.Time", "format"), "date-time"},
		{"raw extension is any object", schema(apps, "io.k8s.apimachinery.pkg.runtime.RawExtension", "properties"), nil},
		{"bytes are base64 strings", schema(core, "io.k8s.api.core.v1.ConfigMap", "properties", "binaryData", "additionalProperties", "format"), "byte"},
		{"scale gvk", schema(apps, "io.k8s.api.autoscaling.v1.Scale", "x-kubernetes-group-version-kind"),
			[]any{map[string]any{"group": "autoscaling", "version": "v1", "kind": "Scale"}}},
		{"namespace is cluster scoped", at(core, "paths", "/api/v1/namespaces/{name}", "get", "x-kubernetes-group-version-kind"),
			map[string]any{"group": "", "version": "v1", "kind": "Namespace"}},
		{"pods across namespaces", at(core, "paths", "/api/v1/pods", "get", "x-kubernetes-action"), "list"},
		{"no path for log", at(core, "paths", "/api/v1/namespaces/{namespace}/pods/{name}/log"), nil},
		{"patch gvk", at(apps, "paths", deploymentItem, "patch", "x-kubernetes-group-version-kind"),
			map[string]any{"group": "apps", "version": "v1", "kind": "Deployment"}},
		{"patch accepts strategic merge patch", at(apps, "paths", deploymentItem, "patch", "requestBody", "content",
			"application/strategic-merge-patch+json", "schema", "$ref"), ref + "io.k8s.apimachinery.pkg.apis.meta.v1.Patch"},
		{"scale patch gvk", at(apps, "paths", deploymentItem+"/scale", "patch", "x-kubernetes-group-version-kind"),
			map[string]any{"group": "autoscaling", "version": "v1", "kind": "Scale"}},
		{"core types stay out of apps", schema(apps, "io.k8s.api.core.v1.ConfigMap"), nil},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			if !reflect.DeepEqual(tc.got, tc.want) {
				t.Errorf("got %#v, want %#v", tc.got, tc.want)
			}
		})
	}

	// Every PATCH operation of a kind must declare fieldValidation:
	// kubectl decides from the first one it meets.
	for _, doc := range []map[string]any{apps, core} {
		for path, item := range doc["paths"].(map[string]any) {
			op, ok := at(item, "patch").(map[string]any)
			if !ok {
				continue
			}
			t.Run("fieldValidation "+path, func(t *testing.T) {
				if !hasParam(op["parameters"], "fieldValidation") {
					t.Errorf("PATCH %s lacks the fieldValidation query parameter", path)
				}
			})
		}
	}
}

func hasParam(params any, name string) bool {
	list, _ := params.([]any)
	for _, p := range list {
		if at(p, "name") == name && at(p, "in") == "query" {
			return true
		}
	}
	return false
}

func TestBuildV2(t *testing.T) {
	docs, err := Build(testResources())
	if err != nil {
		t.Fatalf("Build: %v", err)
	}
	v2 := decode(t, docs.V2())
	def := func(name string, keys ...string) any {
		return at(v2, append([]string{"definitions", name}, keys...)...)
	}
	deploymentItem := "/apis/apps/v1/namespaces/{namespace}/deployments/{name}"
	tests := []struct {
		name string
		got  any
		want any
	}{
		{"swagger version", v2["swagger"], "2.0"},
		{"deployment gvk", def("io.k8s.api.apps.v1.Deployment", "x-kubernetes-group-version-kind"),
			[]any{map[string]any{"group": "apps", "version": "v1", "kind": "Deployment"}}},
		{"pod gvk", def("io.k8s.api.core.v1.Pod", "x-kubernetes-group-version-kind"),
			[]any{map[string]any{"group": "", "version": "v1", "kind": "Pod"}}},
		{"spec ref beside description", def("io.k8s.api.apps.v1.Deployment", "properties", "spec", "$ref"),
			"#/definitions/io.k8s.api.apps.v1.DeploymentSpec"},
		{"replicas", def("io.k8s.api.apps.v1.DeploymentSpec", "properties", "replicas", "format"), "int32"},
		{"no required in v2", def("io.k8s.api.apps.v1.DeploymentSpec", "required"), nil},
		{"quantity is a string", def("io.k8s.apimachinery.pkg.api.resource.Quantity", "type"), "string"},
		{"int-or-string", def("io.k8s.apimachinery.pkg.util.intstr.IntOrString", "format"), "int-or-string"},
		{"configmap served", def("io.k8s.api.core.v1.ConfigMap", "x-kubernetes-group-version-kind"),
			[]any{map[string]any{"group": "", "version": "v1", "kind": "ConfigMap"}}},
		{"patch consumes strategic merge patch", hasString(at(v2, "paths", deploymentItem, "patch", "consumes"),
			"application/strategic-merge-patch+json"), true},
		{"patch declares fieldValidation", hasParam(at(v2, "paths", deploymentItem, "patch", "parameters"), "fieldValidation"), true},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			if !reflect.DeepEqual(tc.got, tc.want) {
				t.Errorf("got %#v, want %#v", tc.got, tc.want)
			}
		})
	}

	t.Run("protobuf matches JSON", func(t *testing.T) {
		var doc openapi_v2.Document
		if err := proto.Unmarshal(docs.V2Proto(), &doc); err != nil {
			t.Fatalf("unmarshal V2Proto: %v", err)
		}
		var names []string
		for _, d := range doc.GetDefinitions().GetAdditionalProperties() {
			names = append(names, d.GetName())
		}
		if got, want := len(names), len(v2["definitions"].(map[string]any)); got != want {
			t.Errorf("protobuf has %d definitions, JSON %d", got, want)
		}
		if !hasString(names, "io.k8s.api.apps.v1.Deployment") {
			t.Errorf("protobuf definitions lack io.k8s.api.apps.v1.Deployment")
		}
	})
}

func hasString(list any, want string) bool {
	switch l := list.(type) {
	case []any:
		for _, v := range l {
			if v == want {
				return true
			}
		}
	case []string:
		for _, v := range l {
			if v == want {
				return true
			}
		}
	}
	return false
}

// recursive refers to itself, as JSONSchemaProps does.
type recursive struct {
	Name  string               `json:"name"`
	Items []recursive          `json:"items,omitempty"`
	Props map[string]recursive `json:"props,omitempty"`
	Not   *recursive           `json:"not,omitempty"`
}

type recursiveList struct {
	Items []recursive `json:"items"`
}

type badType struct {
	C chan int `json:"c"`
}

func TestBuildErrors(t *testing.T) {
	ok := testResources()[0]
	tests := []struct {
		name    string
		mutate  func(r *Resource)
		extra   bool // add ok a second time
		wantErr error
		wantMsg string
	}{
		{name: "recursive types end in references", mutate: func(r *Resource) {
			r.Group, r.Resource, r.Kind = "example.com", "recursives", "Recursive"
			r.Type, r.ListType = reflect.TypeOf(recursive{}), reflect.TypeOf(recursiveList{})
		}},
		{name: "missing kind", mutate: func(r *Resource) { r.Kind = "" }, wantErr: ErrInvalidResource},
		{name: "missing list type", mutate: func(r *Resource) { r.ListType = nil }, wantErr: ErrInvalidResource},
		{name: "not a struct", mutate: func(r *Resource) { r.Type = reflect.TypeOf("") }, wantErr: ErrInvalidResource},
		{name: "served twice", extra: true, wantErr: ErrInvalidResource},
		{name: "no schema for channels", mutate: func(r *Resource) {
			r.Group, r.Resource, r.Kind = "example.com", "bads", "Bad"
			r.Type = reflect.TypeOf(badType{})
		}, wantMsg: "has no JSON schema"},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			r := ok
			if tc.mutate != nil {
				tc.mutate(&r)
			}
			rs := []Resource{r}
			if tc.extra {
				rs = append(rs, ok)
			}
			_, err := Build(rs)
			switch {
			case tc.wantErr == nil && tc.wantMsg == "":
				if err != nil {
					t.Fatalf("Build: %v", err)
				}
			case tc.wantErr != nil && !errors.Is(err, tc.wantErr):
				t.Errorf("Build error = %v, want %v", err, tc.wantErr)
			case tc.wantMsg != "" && (err == nil || !strings.Contains(err.Error(), tc.wantMsg)):
				t.Errorf("Build error = %v, want one containing %q", err, tc.wantMsg)
			}
		})
	}
}

func TestFriendlyName(t *testing.T) {
	tests := []struct {
		pkg, typ, want string
	}{
		{"k8s.io/api/apps/v1", "Deployment", "io.k8s.api.apps.v1.Deployment"},
		{"k8s.io/apimachinery/pkg/apis/meta/v1", "ObjectMeta", "io.k8s.apimachinery.pkg.apis.meta.v1.ObjectMeta"},
		{"github.com/sqlkube/sqlkube/api/v1", "Thing", "com.github.sqlkube.sqlkube.api.v1.Thing"},
		{"", "Local", "Local"},
	}
	for _, tc := range tests {
		t.Run(tc.want, func(t *testing.T) {
			if got := friendlyName(tc.pkg, tc.typ); got != tc.want {
				t.Errorf("friendlyName(%q, %q) = %q, want %q", tc.pkg, tc.typ, got, tc.want)
			}
		})
	}
}

// TestCreateOnly: a review has a POST on its collection and no other
// path, and needs no list type.
func TestCreateOnly(t *testing.T) {
	docs, err := Build([]Resource{{Group: "authorization.k8s.io", Version: "v1", Resource: "selfsubjectaccessreviews",
		Kind: "SelfSubjectAccessReview", Type: reflect.TypeOf(authorizationv1.SelfSubjectAccessReview{}), CreateOnly: true}})
	if err != nil {
		t.Fatalf("Build: %v", err)
	}
	doc := decode(t, docs.V2())
	paths, _ := at(doc, "paths").(map[string]any)
	const collection = "/apis/authorization.k8s.io/v1/selfsubjectaccessreviews"
	if len(paths) != 1 || at(paths, collection, "post") == nil || at(paths, collection, "get") != nil {
		t.Fatalf("paths of a create-only resource: %v", paths)
	}
	if at(doc, "definitions", "io.k8s.api.authorization.v1.SelfSubjectAccessReview", "x-kubernetes-group-version-kind") == nil {
		t.Fatalf("the review's definition has no group-version-kind")
	}
}
