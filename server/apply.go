package server

import (
	"encoding/json"
	"fmt"
	"reflect"
	"strings"
	"sync"

	apierrors "k8s.io/apimachinery/pkg/api/errors"
	"k8s.io/apimachinery/pkg/api/meta"
	"k8s.io/apimachinery/pkg/apis/meta/v1/unstructured"
	metav1validation "k8s.io/apimachinery/pkg/apis/meta/v1/validation"
	"k8s.io/apimachinery/pkg/runtime"
	"k8s.io/apimachinery/pkg/util/managedfields"
	"k8s.io/client-go/applyconfigurations"
	"sigs.k8s.io/structured-merge-diff/v6/fieldpath"
	"sigs.k8s.io/yaml"

	"github.com/sqlkube/sqlkube/server/registry"
)

// Server-side apply: a PATCH of type application/apply-patch+yaml merges
// the fields a manager applies into the live object and records, in
// metadata.managedFields, which manager owns which field, so that a
// second manager changing a field another applied is a conflict. The
// merge and the bookkeeping are apimachinery's field manager
// (k8s.io/apimachinery/pkg/util/managedfields), as in kube-apiserver.
//
// The field manager's schemas are kube-apiserver's own, as client-go
// ships them for its apply configurations
// (applyconfigurations.NewTypeConverter), not the ones the server derives
// by reflection for its OpenAPI documents (server/openapi): those lack the
// x-kubernetes-list-type and -list-map-keys markers, which live in Go
// comments, so every list would be keyed by its patch merge key alone and
// a Service with port 53 over TCP and over UDP, as every DNS chart
// applies, would hold "duplicate entries for key [port=53]". With the
// real schema ServiceSpec.ports is a map keyed by (port, protocol),
// containers by name, container ports by (containerPort, protocol),
// finalizers a set, and so on, exactly as kube-apiserver merges them and
// names them in managedFields. Every kind the registry serves is a
// k8s.io/api type, so client-go's schema knows it, provided the codec's
// scheme has its group (TestApplySchemaKnowsEveryResource).
//
// Like kube-apiserver, updates of an object with no managedFields are not
// tracked (the first apply gives its existing fields to the manager
// "before-first-apply"). Unlike it, creates are not tracked either: an
// object gets managedFields when it is first applied. Most objects are
// never applied, and tracking every create would put a managedFields
// entry in every pod, read back by every list and watch.

// fieldManagers builds the field manager of each resource and subresource
// on first use: the type converter parses client-go's whole schema (the
// first use costs about 80ms and 22 MB of allocations, of which about
// 1 MB stays; see BenchmarkFieldManagerFirstUse), which a server that
// never sees an apply need not pay for.
type fieldManagers struct {
	scheme *runtime.Scheme

	once  sync.Once
	types managedfields.TypeConverter
	err   error

	mu    sync.Mutex
	byKey map[fieldManagerKey]*managedfields.FieldManager
}

type fieldManagerKey struct {
	res         *registry.Resource
	subresource string
}

// get returns the field manager of res written through subresource ("" for
// the resource itself).
func (f *fieldManagers) get(res *registry.Resource, subresource string) (*managedfields.FieldManager, error) {
	f.once.Do(func() { f.types, f.err = applySchemas(f.scheme) })
	if f.err != nil {
		return nil, f.err
	}
	f.mu.Lock()
	defer f.mu.Unlock()
	k := fieldManagerKey{res, subresource}
	if m := f.byKey[k]; m != nil {
		return m, nil
	}
	gvk := res.GVK()
	m, err := managedfields.NewDefaultFieldManager(f.types, f.scheme, defaulter{res}, f.scheme, gvk, gvk.GroupVersion(), subresource, resetFields(res, subresource))
	if err != nil {
		return nil, fmt.Errorf("field manager for %s: %w", res.GVR(), err)
	}
	if f.byKey == nil {
		f.byKey = map[fieldManagerKey]*managedfields.FieldManager{}
	}
	f.byKey[k] = m
	return m, nil
}

// applySchemas returns the type converter of server-side apply: scheme's
// kinds with kube-apiserver's schemas, as client-go ships them.
func applySchemas(scheme *runtime.Scheme) (types managedfields.TypeConverter, err error) {
	// client-go parses its schema once per process and panics if it
	// cannot, which only a broken build of client-go would do.
	defer func() {
		if r := recover(); r != nil {
			err = fmt.Errorf("server-side apply schemas: %v", r)
		}
	}()
	return applyconfigurations.NewTypeConverter(scheme), nil
}

// resetFields are the fields a write through subresource cannot change,
// so its manager never owns them: status through the resource itself of a
// kind with a status subresource, and spec through status.
func resetFields(res *registry.Resource, subresource string) map[fieldpath.APIVersion]fieldpath.Filter {
	var reset string
	switch {
	case subresource == "" && res.HasSubresource("status"):
		reset = "status"
	case subresource == "status":
		reset = "spec"
	default:
		return nil
	}
	return map[fieldpath.APIVersion]fieldpath.Filter{
		fieldpath.APIVersion(res.GroupVersion().String()): fieldpath.NewExcludeSetFilter(fieldpath.NewSet(fieldpath.MakePathOrDie(reset))),
	}
}

// defaulter applies a resource's defaults for the field manager, which
// compares an applied configuration with the live object after defaulting
// both.
type defaulter struct{ res *registry.Resource }

func (d defaulter) Default(obj runtime.Object) {
	if d.res.Default != nil && reflect.TypeOf(obj) == reflect.TypeOf(d.res.New()) {
		d.res.Default(obj)
	}
}

// managerName is the field manager of a write: the fieldManager parameter
// (validated with the options), else the user agent's product ("kubectl"
// of "kubectl/v1.32.0 ..."), as in kube-apiserver.
func managerName(q *request) (string, error) {
	if m := q.opts.fieldManager; m != "" {
		return m, nil
	}
	m, _, _ := strings.Cut(q.r.UserAgent(), "/")
	if len(m) > metav1validation.FieldManagerMaxLength {
		m = m[:metav1validation.FieldManagerMaxLength]
	}
	return m, nil
}

// applyAttempts bounds the retries of an apply that lost a race with
// another write.
const applyAttempts = 5

// apply merges the configuration in body into the object the request
// names, creating it when there is none.
func (s *Server) apply(q *request, body []byte) error {
	// decodeOptions checked that there is a fieldManager.
	manager, err := managerName(q)
	if err != nil {
		return err
	}
	force := q.opts.force
	doc, err := yaml.YAMLToJSON(body)
	if err != nil {
		return apierrors.NewBadRequest(fmt.Sprintf("the apply configuration is not valid YAML or JSON: %v", err))
	}
	// Decoding into the typed object checks the kind and the field types,
	// and reports unknown fields as fieldValidation asks.
	typed, err := s.decodeAs(q, runtime.ContentTypeJSON, doc)
	if err != nil {
		return err
	}
	expected, err := precondition(q, typed)
	if err != nil {
		return err
	}
	patch := &unstructured.Unstructured{}
	if err := json.Unmarshal(doc, &patch.Object); err != nil {
		return apierrors.NewBadRequest(fmt.Sprintf("the apply configuration is not an object: %v", err))
	}
	fm, err := s.fields.get(q.res, q.ri.subresource)
	if err != nil {
		return apierrors.NewInternalError(err)
	}
	for attempt := 1; ; attempt++ {
		read := s.current
		if attempt > 1 {
			read = s.currentFresh
		}
		cur, old, err := read(q)
		if apierrors.IsNotFound(err) && q.ri.subresource == "" && expected == 0 {
			live := q.res.New()
			setTypeMeta(q.res, live)
			obj, err := applyTo(q.res, fm, live, patch, manager, force)
			if err != nil {
				return err
			}
			if _, err = s.createObject(q, obj); apierrors.IsAlreadyExists(err) && attempt < applyAttempts {
				continue // created meanwhile: apply to it
			}
			return err
		}
		if err != nil {
			return err
		}
		obj, err := applyTo(q.res, fm, old.DeepCopyObject(), patch, manager, force)
		if err != nil {
			return err
		}
		want := cur.Revision
		if expected != 0 {
			want = expected
		}
		err = s.replaceOn(q, cur, old, obj, want)
		if err == nil || expected != 0 || attempt >= applyAttempts || !apierrors.IsConflict(err) {
			return err
		}
	}
}

// applyTo merges patch into live under manager and returns the result as
// the resource's typed object. A field another manager owns is a 409
// Conflict naming it and its manager, unless force takes it over.
func applyTo(res *registry.Resource, fm *managedfields.FieldManager, live runtime.Object, patch *unstructured.Unstructured, manager string, force bool) (runtime.Object, error) {
	out, err := fm.Apply(live, patch.DeepCopy(), manager, force)
	if err != nil {
		if _, ok := err.(apierrors.APIStatus); ok {
			return nil, err
		}
		return nil, apierrors.NewBadRequest(fmt.Sprintf("the apply configuration cannot be applied: %v", err))
	}
	if reflect.TypeOf(out) == reflect.TypeOf(res.New()) {
		return out, nil
	}
	u, ok := out.(runtime.Unstructured)
	if !ok {
		return nil, apierrors.NewInternalError(fmt.Errorf("apply produced a %T, not a %s", out, res.Kind))
	}
	obj := res.New()
	if err := runtime.DefaultUnstructuredConverter.FromUnstructured(u.UnstructuredContent(), obj); err != nil {
		return nil, apierrors.NewInternalError(fmt.Errorf("apply result as %s: %w", res.Kind, err))
	}
	return obj, nil
}

// trackUpdate records in obj's managedFields what the request's manager
// changed from old, for objects that have managedFields (see above). A
// failure to track is no reason to refuse the write: the field manager
// then resets managedFields, as kube-apiserver does.
func (s *Server) trackUpdate(q *request, old, obj runtime.Object) (runtime.Object, error) {
	oldAcc, _ := meta.Accessor(old)
	acc, _ := meta.Accessor(obj)
	if len(oldAcc.GetManagedFields()) == 0 && len(acc.GetManagedFields()) == 0 {
		acc.SetManagedFields(nil)
		return obj, nil
	}
	manager, err := managerName(q)
	if err != nil {
		return nil, err
	}
	fm, err := s.fields.get(q.res, q.ri.subresource)
	if err != nil {
		return nil, apierrors.NewInternalError(err)
	}
	setTypeMeta(q.res, obj)
	return fm.UpdateNoErrors(old, obj, manager), nil
}
