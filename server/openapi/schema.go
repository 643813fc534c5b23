package openapi

import (
	"fmt"
	"reflect"
	"strings"
	"time"
)

// dialect selects the flavour of JSON schema written: swagger 2.0
// definitions or OpenAPI 3.0 components.
type dialect int

const (
	swagger2 dialect = iota
	openAPI3
)

// refPrefix is where references of the dialect point.
func (d dialect) refPrefix() string {
	if d == openAPI3 {
		return "#/components/schemas/"
	}
	return "#/definitions/"
}

// Descriptions of the apimachinery types that marshal themselves and have
// no SwaggerDoc. They follow the comments of the Go types.
const (
	quantityDoc = "Quantity is a fixed-point representation of a number. It provides convenient marshaling/unmarshaling in JSON and YAML, in addition to String() and AsInt64() accessors.\n\n" +
		"The serialization format is: <signedNumber><suffix>, where the suffix is a binary SI suffix (Ki, Mi, Gi, Ti, Pi, Ei), a decimal SI suffix (m, \"\", k, M, G, T, P, E) or a decimal exponent (e or E followed by a signed number). For example 100m, 1.5Gi, 1e3."
	intOrStringDoc = "IntOrString is a type that can hold an int32 or a string. When used in JSON or YAML marshalling and unmarshalling, it produces or consumes the inner type. This allows you to have, for example, a JSON field that can accept a name or number."
	timeDoc        = "Time is a wrapper around time.Time which supports correct marshaling to YAML and JSON. Wrappers are provided for many of the factory methods that the time package offers."
	microTimeDoc   = "MicroTime is version of Time with microsecond level precision."
	durationDoc    = "Duration is a wrapper around time.Duration which supports correct marshaling to YAML and JSON. In particular, it marshals into strings, which can be used as map keys in json."
	rawDoc         = "RawExtension is used to hold extensions in external versions."
)

// Method sets the generator looks for on types. Each is generated for
// k8s.io/api and k8s.io/apimachinery types by their code generators or
// written by hand for the types that marshal themselves.
type (
	swaggerDocumented interface{ SwaggerDoc() map[string]string }
	modelNamed        interface{ OpenAPIModelName() string }
	schemaTyped       interface{ OpenAPISchemaType() []string }
	schemaFormatted   interface{ OpenAPISchemaFormat() string }
	oneOfTyped        interface{ OpenAPIV3OneOfTypes() []string }
)

var timeType = reflect.TypeFor[time.Time]()

// generator turns Go types into schemas of one dialect. It collects the
// definitions it references in defs, so one generator renders the schemas
// of one document. It is not safe for concurrent use.
type generator struct {
	dialect dialect
	// defs holds the definitions written so far, by name. A definition is
	// entered before its fields are generated, so recursive types end in a
	// reference.
	defs map[string]map[string]any
	// names memoizes the definition name of each type.
	names map[reflect.Type]string
	// gvks holds the x-kubernetes-group-version-kind entries of top-level
	// kinds, by type. Set before any schema is generated.
	gvks map[reflect.Type][]map[string]string
}

func newGenerator(d dialect) *generator {
	return &generator{
		dialect: d,
		defs:    map[string]map[string]any{},
		names:   map[reflect.Type]string{},
		gvks:    map[reflect.Type][]map[string]string{},
	}
}

// addGVK records that t is served as group/version/kind. Duplicates are
// ignored.
func (g *generator) addGVK(t reflect.Type, group, version, kind string) {
	t = deref(t)
	for _, e := range g.gvks[t] {
		if e["group"] == group && e["version"] == version && e["kind"] == kind {
			return
		}
	}
	g.gvks[t] = append(g.gvks[t], map[string]string{"group": group, "version": version, "kind": kind})
}

// ref returns a reference to the definition of t, writing the definition
// if it is not written yet.
func (g *generator) ref(t reflect.Type) (map[string]any, error) {
	name, err := g.define(deref(t))
	if err != nil {
		return nil, err
	}
	return map[string]any{"$ref": g.dialect.refPrefix() + name}, nil
}

// define writes the definition of the named type t if needed and returns
// its name.
func (g *generator) define(t reflect.Type) (string, error) {
	name := g.modelName(t)
	if _, ok := g.defs[name]; ok {
		return name, nil
	}
	def := map[string]any{}
	g.defs[name] = def // entered first: recursion ends in a reference
	if err := g.fillDefinition(def, t); err != nil {
		delete(g.defs, name)
		return "", fmt.Errorf("definition %s: %w", name, err)
	}
	return name, nil
}

// fillDefinition writes the schema of the named type t into def.
func (g *generator) fillDefinition(def map[string]any, t reflect.Type) error {
	if typed, ok := implements[schemaTyped](t); ok {
		// A type that marshals itself to a scalar: Time, Quantity,
		// IntOrString, Duration.
		types := typed.OpenAPISchemaType()
		format := ""
		if f, ok := implements[schemaFormatted](t); ok {
			format = f.OpenAPISchemaFormat()
		}
		oneOf, hasOneOf := implements[oneOfTyped](t)
		switch {
		case g.dialect == openAPI3 && hasOneOf:
			var alts []any
			for _, typ := range oneOf.OpenAPIV3OneOfTypes() {
				alts = append(alts, map[string]any{"type": typ})
			}
			def["oneOf"] = alts
		case len(types) == 1:
			def["type"] = types[0]
		}
		if format != "" {
			def["format"] = format
		}
		if desc := scalarDoc(t); desc != "" {
			def["description"] = desc
		}
		return nil
	}
	if t.Kind() != reflect.Struct {
		return fmt.Errorf("type %s: only structs and self-marshalling scalars become definitions", t)
	}
	if err := g.fillStruct(def, t); err != nil {
		return err
	}
	if desc := swaggerDoc(t)[""]; desc != "" {
		def["description"] = desc
	} else if t.PkgPath() == "k8s.io/apimachinery/pkg/runtime" && t.Name() == "RawExtension" {
		def["description"] = rawDoc
	}
	if gvks := g.gvks[t]; len(gvks) > 0 {
		def["x-kubernetes-group-version-kind"] = gvks
	}
	return nil
}

// scalarDoc returns the description of a self-marshalling apimachinery
// type, or "".
func scalarDoc(t reflect.Type) string {
	if d := swaggerDoc(t)[""]; d != "" {
		return d
	}
	switch t.PkgPath() + "." + t.Name() {
	case "k8s.io/apimachinery/pkg/api/resource.Quantity":
		return quantityDoc
	case "k8s.io/apimachinery/pkg/util/intstr.IntOrString":
		return intOrStringDoc
	case "k8s.io/apimachinery/pkg/apis/meta/v1.Time":
		return timeDoc
	case "k8s.io/apimachinery/pkg/apis/meta/v1.MicroTime":
		return microTimeDoc
	case "k8s.io/apimachinery/pkg/apis/meta/v1.Duration":
		return durationDoc
	}
	return ""
}

// field is one JSON property of a struct, after inline embedding.
type field struct {
	name     string
	typ      reflect.Type
	tag      reflect.StructTag
	doc      string // from the declaring type's SwaggerDoc
	required bool
}

// fillStruct writes type object, properties and required of struct t into
// def. A struct without JSON properties (RawExtension, FieldsV1, Patch) is
// an arbitrary object and gets no properties, so validators accept any
// content.
func (g *generator) fillStruct(def map[string]any, t reflect.Type) error {
	fields, err := jsonFields(t, map[reflect.Type]bool{})
	if err != nil {
		return err
	}
	def["type"] = "object"
	if len(fields) == 0 {
		return nil
	}
	props := map[string]any{}
	var required []string
	for _, f := range fields {
		s, err := g.property(f)
		if err != nil {
			return fmt.Errorf("field %s: %w", f.name, err)
		}
		props[f.name] = s
		if f.required {
			required = append(required, f.name)
		}
	}
	def["properties"] = props
	// Only the v3 documents name required fields. kubectl validates on the
	// client against the v2 document (for kind List, or when the server
	// does not declare fieldValidation), and the omitempty rule marks some
	// +optional fields required; there a wrong marker would reject valid
	// objects, while in v3 it only shows in kubectl explain.
	if len(required) > 0 && g.dialect == openAPI3 {
		def["required"] = required
	}
	return nil
}

// property returns the schema of one struct field: the schema of its
// type, its description and its patch extensions. A reference with
// siblings is wrapped in allOf for OpenAPI 3, where siblings of $ref are
// ignored; swagger 2.0 documents keep them beside the reference, as
// Kubernetes does.
func (g *generator) property(f field) (map[string]any, error) {
	s, err := g.schema(f.typ)
	if err != nil {
		return nil, err
	}
	extra := map[string]any{}
	if f.doc != "" {
		extra["description"] = f.doc
	}
	if v := f.tag.Get("patchStrategy"); v != "" {
		extra["x-kubernetes-patch-strategy"] = v
	}
	if v := f.tag.Get("patchMergeKey"); v != "" {
		extra["x-kubernetes-patch-merge-key"] = v
	}
	if len(extra) == 0 {
		return s, nil
	}
	if _, isRef := s["$ref"]; isRef && g.dialect == openAPI3 {
		s = map[string]any{"allOf": []any{s}}
	}
	for k, v := range extra {
		s[k] = v
	}
	return s, nil
}

// schema returns a fresh inline schema for a value of type t: a reference
// for named structs and self-marshalling types, the JSON type otherwise.
func (g *generator) schema(t reflect.Type) (map[string]any, error) {
	t = deref(t)
	if t == timeType {
		return map[string]any{"type": "string", "format": "date-time"}, nil
	}
	if _, ok := implements[schemaTyped](t); ok {
		return g.ref(t)
	}
	switch t.Kind() {
	case reflect.Bool:
		return map[string]any{"type": "boolean"}, nil
	case reflect.String:
		return map[string]any{"type": "string"}, nil
	case reflect.Int8, reflect.Uint8:
		return map[string]any{"type": "integer", "format": "byte"}, nil
	case reflect.Int, reflect.Int16, reflect.Int32, reflect.Uint, reflect.Uint16:
		return map[string]any{"type": "integer", "format": "int32"}, nil
	case reflect.Int64, reflect.Uint32, reflect.Uint64:
		return map[string]any{"type": "integer", "format": "int64"}, nil
	case reflect.Float32:
		return map[string]any{"type": "number", "format": "float"}, nil
	case reflect.Float64:
		return map[string]any{"type": "number", "format": "double"}, nil
	case reflect.Interface:
		return map[string]any{}, nil // any JSON value
	case reflect.Slice, reflect.Array:
		if t.Elem().Kind() == reflect.Uint8 {
			return map[string]any{"type": "string", "format": "byte"}, nil
		}
		items, err := g.schema(t.Elem())
		if err != nil {
			return nil, err
		}
		return map[string]any{"type": "array", "items": items}, nil
	case reflect.Map:
		values, err := g.schema(t.Elem())
		if err != nil {
			return nil, err
		}
		return map[string]any{"type": "object", "additionalProperties": values}, nil
	case reflect.Struct:
		if t.Name() != "" {
			return g.ref(t)
		}
		s := map[string]any{}
		if err := g.fillStruct(s, t); err != nil {
			return nil, err
		}
		return s, nil
	}
	return nil, fmt.Errorf("type %s of kind %s has no JSON schema", t, t.Kind())
}

// jsonFields lists the JSON properties of struct t in declaration order,
// the way encoding/json sees them: embedded structs without a JSON name
// (Kubernetes writes `json:",inline"`) contribute their fields, "-" and
// unexported fields are skipped, and an outer field hides an inner one of
// the same name. A field is required when its tag has neither omitempty
// nor omitzero, which is openapi-gen's rule for fields without a
// +optional or +required marker.
func jsonFields(t reflect.Type, visiting map[reflect.Type]bool) ([]field, error) {
	if visiting[t] {
		return nil, fmt.Errorf("type %s embeds itself", t)
	}
	visiting[t] = true
	defer delete(visiting, t)

	doc := swaggerDoc(t)
	var out []field
	seen := map[string]bool{}
	var inlined [][]field
	for i := range t.NumField() {
		sf := t.Field(i)
		tag := sf.Tag.Get("json")
		if tag == "-" {
			continue
		}
		name, opts, _ := strings.Cut(tag, ",")
		ft := deref(sf.Type)
		if sf.Anonymous && name == "" && ft.Kind() == reflect.Struct {
			inner, err := jsonFields(ft, visiting)
			if err != nil {
				return nil, fmt.Errorf("embedded %s: %w", ft, err)
			}
			inlined = append(inlined, inner)
			continue
		}
		if !sf.IsExported() {
			continue
		}
		if name == "" {
			name = sf.Name
		}
		seen[name] = true
		out = append(out, field{
			name:     name,
			typ:      sf.Type,
			tag:      sf.Tag,
			doc:      doc[name],
			required: !hasOption(opts, "omitempty") && !hasOption(opts, "omitzero"),
		})
	}
	for _, inner := range inlined {
		for _, f := range inner {
			if !seen[f.name] {
				seen[f.name] = true
				out = append(out, f)
			}
		}
	}
	return out, nil
}

func hasOption(opts, want string) bool {
	for opts != "" {
		var o string
		o, opts, _ = strings.Cut(opts, ",")
		if o == want {
			return true
		}
	}
	return false
}

// modelName returns the definition name of t: its OpenAPIModelName when
// the type declares one, otherwise the name Kubernetes derives from the
// package path, "k8s.io/api/apps/v1".Deployment →
// "io.k8s.api.apps.v1.Deployment".
func (g *generator) modelName(t reflect.Type) string {
	if n, ok := g.names[t]; ok {
		return n
	}
	n := ""
	if m, ok := implements[modelNamed](t); ok && !promoted(t, func(v modelNamed) any { return v.OpenAPIModelName() }) {
		n = m.OpenAPIModelName()
	}
	if n == "" {
		n = friendlyName(t.PkgPath(), t.Name())
	}
	g.names[t] = n
	return n
}

// friendlyName maps a package path and type name to Kubernetes' model
// name: the host of the first path element is reversed and the slashes
// become dots.
func friendlyName(pkgPath, typeName string) string {
	if pkgPath == "" {
		return typeName
	}
	elems := strings.Split(pkgPath, "/")
	host := strings.Split(elems[0], ".")
	for i, j := 0, len(host)-1; i < j; i, j = i+1, j-1 {
		host[i], host[j] = host[j], host[i]
	}
	elems[0] = strings.Join(host, ".")
	return strings.Join(elems, ".") + "." + typeName
}

// swaggerDoc returns the SwaggerDoc map declared by t itself (not one
// promoted from an embedded type), or nil.
func swaggerDoc(t reflect.Type) map[string]string {
	d, ok := implements[swaggerDocumented](t)
	if !ok {
		return nil
	}
	if promoted(t, func(v swaggerDocumented) any { return reflect.ValueOf(v.SwaggerDoc()).UnsafePointer() }) {
		return nil
	}
	return d.SwaggerDoc()
}

// implements reports whether t or *t has the methods of I and returns a
// zero value of t (or a new *t) as an I.
func implements[I any](t reflect.Type) (I, bool) {
	if v, ok := reflect.Zero(t).Interface().(I); ok {
		return v, true
	}
	v, ok := reflect.New(t).Interface().(I)
	return v, ok
}

// promoted reports whether the method of I that key calls is promoted to
// struct t from one of its embedded fields rather than declared by t: then
// key returns the same value for t and for that field's type.
func promoted[I any](t reflect.Type, key func(I) any) bool {
	own, ok := implements[I](t)
	if !ok || t.Kind() != reflect.Struct {
		return false
	}
	ownKey := key(own)
	for i := range t.NumField() {
		sf := t.Field(i)
		if !sf.Anonymous {
			continue
		}
		if inner, ok := implements[I](deref(sf.Type)); ok && key(inner) == ownKey {
			return true
		}
	}
	return false
}

func deref(t reflect.Type) reflect.Type {
	for t.Kind() == reflect.Pointer {
		t = t.Elem()
	}
	return t
}
