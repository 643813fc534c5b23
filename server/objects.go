package server

import (
	"encoding/json"
	"fmt"
	"reflect"
	"strconv"
	"time"

	apiequality "k8s.io/apimachinery/pkg/api/equality"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	"k8s.io/apimachinery/pkg/api/meta"
	apivalidation "k8s.io/apimachinery/pkg/api/validation"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/runtime"
	"k8s.io/apimachinery/pkg/types"
	utilrand "k8s.io/apimachinery/pkg/util/rand"
	"k8s.io/apimachinery/pkg/util/uuid"
	"k8s.io/apimachinery/pkg/util/validation/field"

	"github.com/sqlkube/sqlkube/server/registry"
	"github.com/sqlkube/sqlkube/storage"
)

// The generic object rules every resource follows, before and after its
// own strategy (registry.Resource): identity and timestamps are the
// server's, generation counts spec changes, resourceVersion is the
// store's revision.

// decodeStored turns a stored value into a typed object carrying its
// revision as resourceVersion.
func (s *Server) decodeStored(res *registry.Resource, o storage.Object) (runtime.Object, error) {
	obj := res.New()
	if err := json.Unmarshal(o.Value, obj); err != nil {
		return nil, fmt.Errorf("decode stored %s: %w", o.Key, err)
	}
	acc, err := meta.Accessor(obj)
	if err != nil {
		return nil, err
	}
	acc.SetResourceVersion(strconv.FormatInt(o.Revision, 10))
	setTypeMeta(res, obj)
	return obj, nil
}

func setTypeMeta(res *registry.Resource, obj runtime.Object) {
	obj.GetObjectKind().SetGroupVersionKind(res.GVK())
}

// encodeForStorage renders obj for the store: without resourceVersion,
// which is the revision the store assigns.
func encodeForStorage(res *registry.Resource, obj runtime.Object) ([]byte, error) {
	acc, err := meta.Accessor(obj)
	if err != nil {
		return nil, err
	}
	rv := acc.GetResourceVersion()
	acc.SetResourceVersion("")
	setTypeMeta(res, obj)
	b, err := json.Marshal(obj)
	acc.SetResourceVersion(rv)
	return b, err
}

// prepareCreate applies the generic create rules to obj, whose namespace
// is ns (from the URL).
func prepareCreate(res *registry.Resource, obj runtime.Object, ns string) error {
	acc, err := meta.Accessor(obj)
	if err != nil {
		return apierrors.NewBadRequest(err.Error())
	}
	if res.Namespaced {
		if acc.GetNamespace() != "" && acc.GetNamespace() != ns {
			return apierrors.NewBadRequest(fmt.Sprintf("the namespace of the provided object (%s) does not match the namespace sent on the request (%s)", acc.GetNamespace(), ns))
		}
		acc.SetNamespace(ns)
	} else {
		acc.SetNamespace("")
	}
	if acc.GetName() == "" && acc.GetGenerateName() != "" {
		acc.SetName(acc.GetGenerateName() + utilrand.String(5))
	}
	acc.SetUID(types.UID(uuid.NewUUID()))
	acc.SetCreationTimestamp(metav1.NewTime(time.Now().Truncate(time.Second)))
	acc.SetDeletionTimestamp(nil)
	acc.SetDeletionGracePeriodSeconds(nil)
	acc.SetResourceVersion("")
	acc.SetGeneration(1)
	if res.Default != nil {
		res.Default(obj)
	}
	if res.PrepareForCreate != nil {
		res.PrepareForCreate(obj)
	}
	return validate(res, obj, nil)
}

// prepareUpdate applies the generic update rules to obj replacing old;
// status tells a write through the status subresource.
func prepareUpdate(res *registry.Resource, obj, old runtime.Object, subresource string) error {
	acc, err := meta.Accessor(obj)
	if err != nil {
		return apierrors.NewBadRequest(err.Error())
	}
	oldAcc, _ := meta.Accessor(old)
	acc.SetNamespace(oldAcc.GetNamespace())
	acc.SetUID(oldAcc.GetUID())
	acc.SetCreationTimestamp(oldAcc.GetCreationTimestamp())
	acc.SetDeletionTimestamp(oldAcc.GetDeletionTimestamp())
	acc.SetDeletionGracePeriodSeconds(oldAcc.GetDeletionGracePeriodSeconds())
	acc.SetGeneration(oldAcc.GetGeneration())
	if res.Default != nil {
		res.Default(obj)
	}
	switch {
	case subresource == "status" && res.PrepareForStatusUpdate != nil:
		res.PrepareForStatusUpdate(obj, old)
	case subresource == "finalize" && res.PrepareForFinalize != nil:
		res.PrepareForFinalize(obj, old)
	case subresource == "" && res.PrepareForUpdate != nil:
		res.PrepareForUpdate(obj, old)
	}
	if specChanged(obj, old) {
		acc.SetGeneration(oldAcc.GetGeneration() + 1)
	}
	return validate(res, obj, old)
}

// specChanged reports whether obj's spec differs from old's: what
// generation counts. Kinds without a spec (ConfigMap, Secret) keep
// generation 1, as in Kubernetes.
func specChanged(obj, old runtime.Object) bool {
	a, b := reflect.ValueOf(obj), reflect.ValueOf(old)
	if a.Kind() != reflect.Pointer || b.Kind() != reflect.Pointer || a.Type() != b.Type() {
		return true
	}
	sa, sb := a.Elem().FieldByName("Spec"), b.Elem().FieldByName("Spec")
	if !sa.IsValid() {
		return false
	}
	return !apiequality.Semantic.DeepEqual(sa.Interface(), sb.Interface())
}

// validate runs the generic metadata validation and the resource's own,
// answering 422 Invalid with the field causes.
func validate(res *registry.Resource, obj, old runtime.Object) error {
	acc, _ := meta.Accessor(obj)
	var errs field.ErrorList
	if old == nil {
		nameRule := apivalidation.NameIsDNSSubdomain
		if res.NameRule != nil {
			nameRule = res.NameRule
		}
		errs = apivalidation.ValidateObjectMetaAccessor(acc, res.Namespaced, nameRule, field.NewPath("metadata"))
		if res.Validate != nil {
			errs = append(errs, res.Validate(obj)...)
		}
	} else {
		oldAcc, _ := meta.Accessor(old)
		errs = apivalidation.ValidateObjectMetaAccessorUpdate(acc, oldAcc, field.NewPath("metadata"))
		if res.ValidateUpdate != nil {
			errs = append(errs, res.ValidateUpdate(obj, old)...)
		}
	}
	if len(errs) > 0 {
		return apierrors.NewInvalid(res.GVK().GroupKind(), acc.GetName(), dedupe(errs))
	}
	return nil
}

// dedupe drops repeated causes (the generic and the resource's checks may
// both report a bad name).
func dedupe(errs field.ErrorList) field.ErrorList {
	seen := map[string]bool{}
	var out field.ErrorList
	for _, e := range errs {
		if k := e.Error(); !seen[k] {
			seen[k] = true
			out = append(out, e)
		}
	}
	return out
}
