package registry

import (
	"reflect"
	"slices"
	"strings"

	corev1 "k8s.io/api/core/v1"
	apiequality "k8s.io/apimachinery/pkg/api/equality"
	apivalidation "k8s.io/apimachinery/pkg/api/validation"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	metav1validation "k8s.io/apimachinery/pkg/apis/meta/v1/validation"
	"k8s.io/apimachinery/pkg/runtime"
	"k8s.io/apimachinery/pkg/util/validation/field"
)

// PersistentVolumeClaims and PersistentVolumes are stored and validated
// as kube-apiserver does; nothing binds them yet (no volume controller or
// provisioner runs), so a claim stays Pending. StatefulSets create their
// claims here.

var accessModes = []corev1.PersistentVolumeAccessMode{
	corev1.ReadWriteOnce, corev1.ReadOnlyMany, corev1.ReadWriteMany, corev1.ReadWriteOncePod,
}

func persistentVolumeClaimResource() *Resource {
	return &Resource{
		Resource: "persistentvolumeclaims", Version: "v1",
		Kind: "PersistentVolumeClaim", ListKind: "PersistentVolumeClaimList",
		Namespaced:   true,
		ShortNames:   []string{"pvc"},
		Subresources: []string{"status"},
		New:          func() runtime.Object { return &corev1.PersistentVolumeClaim{} },
		NewList:      func() runtime.Object { return &corev1.PersistentVolumeClaimList{} },
		Default: func(obj runtime.Object) {
			c := obj.(*corev1.PersistentVolumeClaim)
			if c.Spec.VolumeMode == nil {
				c.Spec.VolumeMode = new(corev1.PersistentVolumeFilesystem)
			}
		},
		PrepareForCreate: func(obj runtime.Object) {
			obj.(*corev1.PersistentVolumeClaim).Status = corev1.PersistentVolumeClaimStatus{Phase: corev1.ClaimPending}
		},
		PrepareForUpdate: func(obj, old runtime.Object) {
			obj.(*corev1.PersistentVolumeClaim).Status = old.(*corev1.PersistentVolumeClaim).Status
		},
		PrepareForStatusUpdate: func(obj, old runtime.Object) {
			c, o := obj.(*corev1.PersistentVolumeClaim), old.(*corev1.PersistentVolumeClaim)
			c.Spec = o.Spec
			c.Labels = o.Labels
		},
		Validate: func(obj runtime.Object) field.ErrorList {
			c := obj.(*corev1.PersistentVolumeClaim)
			errs := validateObjectName(c.Name, apivalidation.NameIsDNSSubdomain)
			return append(errs, validateClaimSpec(&c.Spec, field.NewPath("spec"))...)
		},
		ValidateUpdate: func(obj, old runtime.Object) field.ErrorList {
			return validateClaimUpdate(obj.(*corev1.PersistentVolumeClaim), old.(*corev1.PersistentVolumeClaim))
		},
		Columns: []metav1.TableColumnDefinition{
			coreNameColumn(),
			{Name: "Status", Type: "string", Description: corev1.PersistentVolumeClaimStatus{}.SwaggerDoc()["phase"]},
			{Name: "Volume", Type: "string", Description: corev1.PersistentVolumeClaimSpec{}.SwaggerDoc()["volumeName"]},
			{Name: "Capacity", Type: "string", Description: corev1.PersistentVolumeClaimStatus{}.SwaggerDoc()["capacity"]},
			{Name: "Access Modes", Type: "string", Description: corev1.PersistentVolumeClaimStatus{}.SwaggerDoc()["accessModes"]},
			{Name: "StorageClass", Type: "string", Description: "StorageClass of the pvc"},
			{Name: "VolumeAttributesClass", Type: "string", Description: corev1.PersistentVolumeClaimSpec{}.SwaggerDoc()["volumeAttributesClassName"]},
			coreAgeColumn(),
			{Name: "VolumeMode", Type: "string", Priority: 1, Description: corev1.PersistentVolumeClaimSpec{}.SwaggerDoc()["volumeMode"]},
		},
		Row: func(obj runtime.Object) []any {
			c := obj.(*corev1.PersistentVolumeClaim)
			capacity := ""
			if q, ok := c.Status.Capacity[corev1.ResourceStorage]; ok && c.Spec.VolumeName != "" {
				capacity = q.String()
			}
			return []any{c.Name, string(c.Status.Phase), c.Spec.VolumeName, capacity, formatAccessModes(c.Status.AccessModes),
				deref(c.Spec.StorageClassName), orUnset(c.Spec.VolumeAttributesClassName), age(c.CreationTimestamp), volumeMode(c.Spec.VolumeMode)}
		},
	}
}

func persistentVolumeResource() *Resource {
	return &Resource{
		Resource: "persistentvolumes", Version: "v1",
		Kind: "PersistentVolume", ListKind: "PersistentVolumeList",
		ShortNames:   []string{"pv"},
		Subresources: []string{"status"},
		New:          func() runtime.Object { return &corev1.PersistentVolume{} },
		NewList:      func() runtime.Object { return &corev1.PersistentVolumeList{} },
		Default: func(obj runtime.Object) {
			v := obj.(*corev1.PersistentVolume)
			if v.Spec.PersistentVolumeReclaimPolicy == "" {
				v.Spec.PersistentVolumeReclaimPolicy = corev1.PersistentVolumeReclaimRetain
			}
			if v.Spec.VolumeMode == nil {
				v.Spec.VolumeMode = new(corev1.PersistentVolumeFilesystem)
			}
		},
		PrepareForCreate: func(obj runtime.Object) {
			obj.(*corev1.PersistentVolume).Status = corev1.PersistentVolumeStatus{Phase: corev1.VolumePending}
		},
		PrepareForUpdate: func(obj, old runtime.Object) {
			obj.(*corev1.PersistentVolume).Status = old.(*corev1.PersistentVolume).Status
		},
		PrepareForStatusUpdate: func(obj, old runtime.Object) {
			v, o := obj.(*corev1.PersistentVolume), old.(*corev1.PersistentVolume)
			v.Spec = o.Spec
			v.Labels = o.Labels
		},
		Validate: func(obj runtime.Object) field.ErrorList {
			v := obj.(*corev1.PersistentVolume)
			errs := validateObjectName(v.Name, apivalidation.NameIsDNSSubdomain)
			return append(errs, validateVolumeSpec(&v.Spec)...)
		},
		ValidateUpdate: func(obj, old runtime.Object) field.ErrorList {
			v, o := obj.(*corev1.PersistentVolume), old.(*corev1.PersistentVolume)
			errs := validateVolumeSpec(&v.Spec)
			if !apiequality.Semantic.DeepEqual(v.Spec.PersistentVolumeSource, o.Spec.PersistentVolumeSource) {
				errs = append(errs, field.Forbidden(field.NewPath("spec", "persistentvolumesource"), "spec.persistentvolumesource is forbidden once a volume is created"))
			}
			return errs
		},
		Columns: []metav1.TableColumnDefinition{
			coreNameColumn(),
			{Name: "Capacity", Type: "string", Description: corev1.PersistentVolumeSpec{}.SwaggerDoc()["capacity"]},
			{Name: "Access Modes", Type: "string", Description: corev1.PersistentVolumeSpec{}.SwaggerDoc()["accessModes"]},
			{Name: "Reclaim Policy", Type: "string", Description: corev1.PersistentVolumeSpec{}.SwaggerDoc()["persistentVolumeReclaimPolicy"]},
			{Name: "Status", Type: "string", Description: corev1.PersistentVolumeStatus{}.SwaggerDoc()["phase"]},
			{Name: "Claim", Type: "string", Description: corev1.PersistentVolumeSpec{}.SwaggerDoc()["claimRef"]},
			{Name: "StorageClass", Type: "string", Description: "StorageClass of the pv"},
			{Name: "VolumeAttributesClass", Type: "string", Description: corev1.PersistentVolumeSpec{}.SwaggerDoc()["volumeAttributesClassName"]},
			{Name: "Reason", Type: "string", Description: corev1.PersistentVolumeStatus{}.SwaggerDoc()["reason"]},
			coreAgeColumn(),
			{Name: "VolumeMode", Type: "string", Priority: 1, Description: corev1.PersistentVolumeSpec{}.SwaggerDoc()["volumeMode"]},
		},
		Row: func(obj runtime.Object) []any {
			v := obj.(*corev1.PersistentVolume)
			claim := ""
			if r := v.Spec.ClaimRef; r != nil {
				claim = r.Namespace + "/" + r.Name
			}
			storage := v.Spec.Capacity[corev1.ResourceStorage]
			class := v.Spec.StorageClassName
			return []any{v.Name, storage.String(), formatAccessModes(v.Spec.AccessModes), string(v.Spec.PersistentVolumeReclaimPolicy),
				string(v.Status.Phase), claim, class, orUnset(v.Spec.VolumeAttributesClassName), v.Status.Reason,
				age(v.CreationTimestamp), volumeMode(v.Spec.VolumeMode)}
		},
	}
}

// validateClaimSpec checks what kube-apiserver checks in a claim's spec
// (a StatefulSet's volumeClaimTemplates too): access modes, a positive
// storage request, a valid selector, storage class and volume mode.
func validateClaimSpec(s *corev1.PersistentVolumeClaimSpec, path *field.Path) field.ErrorList {
	errs := validateAccessModes(s.AccessModes, path.Child("accessModes"))
	if s.Selector != nil {
		errs = append(errs, metav1validation.ValidateLabelSelector(s.Selector, metav1validation.LabelSelectorValidationOptions{}, path.Child("selector"))...)
	}
	storagePath := path.Child("resources", "requests").Key(string(corev1.ResourceStorage))
	if q, ok := s.Resources.Requests[corev1.ResourceStorage]; !ok {
		errs = append(errs, field.Required(storagePath, ""))
	} else if q.Sign() <= 0 {
		errs = append(errs, field.Invalid(storagePath, q.String(), "must be greater than zero"))
	}
	if c := s.StorageClassName; c != nil && *c != "" {
		errs = append(errs, validateObjectNameAt(*c, apivalidation.NameIsDNSSubdomain, path.Child("storageClassName"))...)
	}
	return append(errs, validateVolumeMode(s.VolumeMode, path.Child("volumeMode"))...)
}

// validateClaimUpdate allows what kube-apiserver allows once a claim
// exists: a larger storage request and another volume attributes class;
// the rest of the spec is immutable.
func validateClaimUpdate(c, old *corev1.PersistentVolumeClaim) field.ErrorList {
	spec := field.NewPath("spec")
	errs := validateClaimSpec(&c.Spec, spec)
	newSpec, oldSpec := c.Spec.DeepCopy(), old.Spec.DeepCopy()
	newSpec.Resources.Requests, oldSpec.Resources.Requests = nil, nil
	newSpec.VolumeAttributesClassName, oldSpec.VolumeAttributesClassName = nil, nil
	if oldSpec.VolumeName == "" { // the binder may set volumeName once
		newSpec.VolumeName = ""
	}
	if !apiequality.Semantic.DeepEqual(newSpec, oldSpec) {
		errs = append(errs, field.Forbidden(spec, "spec is immutable after creation except resources.requests and volumeAttributesClassName for bound claims"))
	}
	now, was := c.Spec.Resources.Requests[corev1.ResourceStorage], old.Spec.Resources.Requests[corev1.ResourceStorage]
	if now.Cmp(was) < 0 {
		errs = append(errs, field.Forbidden(spec.Child("resources", "requests", "storage"), "field can not be less than previous value"))
	}
	return errs
}

// validateVolumeSpec checks a PersistentVolume's spec: a positive storage
// capacity, access modes, exactly one volume source, a known reclaim
// policy and volume mode.
func validateVolumeSpec(s *corev1.PersistentVolumeSpec) field.ErrorList {
	spec := field.NewPath("spec")
	errs := validateAccessModes(s.AccessModes, spec.Child("accessModes"))
	if q, ok := s.Capacity[corev1.ResourceStorage]; !ok || len(s.Capacity) != 1 {
		errs = append(errs, field.Required(spec.Child("capacity"), "must specify storage capacity (and only storage)"))
	} else if q.Sign() <= 0 {
		errs = append(errs, field.Invalid(spec.Child("capacity").Key(string(corev1.ResourceStorage)), q.String(), "must be greater than zero"))
	}
	switch n := volumeSources(&s.PersistentVolumeSource); {
	case n == 0:
		errs = append(errs, field.Required(spec, "must specify a volume type"))
	case n > 1:
		errs = append(errs, field.Forbidden(spec, "may not specify more than 1 volume type"))
	}
	if hp := s.HostPath; hp != nil && !strings.HasPrefix(hp.Path, "/") {
		errs = append(errs, field.Invalid(spec.Child("hostPath", "path"), hp.Path, "must be an absolute path"))
	}
	switch p := s.PersistentVolumeReclaimPolicy; p {
	case corev1.PersistentVolumeReclaimRetain, corev1.PersistentVolumeReclaimDelete, corev1.PersistentVolumeReclaimRecycle:
	default:
		errs = append(errs, field.NotSupported(spec.Child("persistentVolumeReclaimPolicy"), p,
			[]corev1.PersistentVolumeReclaimPolicy{corev1.PersistentVolumeReclaimRetain, corev1.PersistentVolumeReclaimDelete, corev1.PersistentVolumeReclaimRecycle}))
	}
	if c := s.StorageClassName; c != "" {
		errs = append(errs, validateObjectNameAt(c, apivalidation.NameIsDNSSubdomain, spec.Child("storageClassName"))...)
	}
	return append(errs, validateVolumeMode(s.VolumeMode, spec.Child("volumeMode"))...)
}

// volumeSources counts the volume sources set in src: each is a pointer
// field of PersistentVolumeSource.
func volumeSources(src *corev1.PersistentVolumeSource) int {
	v := reflect.ValueOf(src).Elem()
	n := 0
	for i := range v.NumField() {
		if f := v.Field(i); f.Kind() == reflect.Pointer && !f.IsNil() {
			n++
		}
	}
	return n
}

func validateAccessModes(modes []corev1.PersistentVolumeAccessMode, path *field.Path) field.ErrorList {
	if len(modes) == 0 {
		return field.ErrorList{field.Required(path, "at least 1 access mode is required")}
	}
	var errs field.ErrorList
	for _, m := range modes {
		if !slices.Contains(accessModes, m) {
			errs = append(errs, field.NotSupported(path, m, accessModes))
		}
	}
	if slices.Contains(modes, corev1.ReadWriteOncePod) && len(modes) > 1 {
		errs = append(errs, field.Forbidden(path, "may not use ReadWriteOncePod with other access modes"))
	}
	return errs
}

func validateVolumeMode(m *corev1.PersistentVolumeMode, path *field.Path) field.ErrorList {
	if m == nil || *m == corev1.PersistentVolumeFilesystem || *m == corev1.PersistentVolumeBlock {
		return nil
	}
	return field.ErrorList{field.NotSupported(path, *m, []corev1.PersistentVolumeMode{corev1.PersistentVolumeBlock, corev1.PersistentVolumeFilesystem})}
}

// validateObjectNameAt checks a name that refers to another object.
func validateObjectNameAt(name string, rule apivalidation.ValidateNameFunc, path *field.Path) field.ErrorList {
	var errs field.ErrorList
	for _, msg := range rule(name, false) {
		errs = append(errs, field.Invalid(path, name, msg))
	}
	return errs
}

// formatAccessModes prints access modes as kubectl does: RWO,ROX,RWX,RWOP.
func formatAccessModes(modes []corev1.PersistentVolumeAccessMode) string {
	short := map[corev1.PersistentVolumeAccessMode]string{
		corev1.ReadWriteOnce: "RWO", corev1.ReadOnlyMany: "ROX", corev1.ReadWriteMany: "RWX", corev1.ReadWriteOncePod: "RWOP",
	}
	var out []string
	for _, m := range accessModes {
		if slices.Contains(modes, m) {
			out = append(out, short[m])
		}
	}
	return strings.Join(out, ",")
}

// deref is *s, "" when nil.
func deref(s *string) string {
	if s == nil {
		return ""
	}
	return *s
}

// orUnset is a cell for an optional string: "<unset>" when nil.
func orUnset(s *string) string {
	if s == nil {
		return "<unset>"
	}
	return *s
}

func volumeMode(m *corev1.PersistentVolumeMode) string {
	if m == nil {
		return "<unset>"
	}
	return string(*m)
}
