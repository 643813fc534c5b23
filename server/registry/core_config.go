package registry

import (
	"encoding/json"
	"fmt"
	"strings"

	corev1 "k8s.io/api/core/v1"
	apiequality "k8s.io/apimachinery/pkg/api/equality"
	apivalidation "k8s.io/apimachinery/pkg/api/validation"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/fields"
	"k8s.io/apimachinery/pkg/runtime"
	"k8s.io/apimachinery/pkg/util/validation"
	"k8s.io/apimachinery/pkg/util/validation/field"
)

// This file holds the kinds without spec or status: configmaps, secrets,
// serviceaccounts and events.

// immutableMsg is kube's message for a change to an immutable
// configmap's or secret's content.
const immutableMsg = "field is immutable when `immutable` is set"

// configMapResource is configmaps: namespaced, short name cm.
func configMapResource() *Resource {
	return &Resource{
		Version:    "v1",
		Resource:   "configmaps",
		Kind:       "ConfigMap",
		ListKind:   "ConfigMapList",
		Namespaced: true,
		ShortNames: []string{"cm"},
		New:        func() runtime.Object { return &corev1.ConfigMap{} },
		NewList:    func() runtime.Object { return &corev1.ConfigMapList{} },

		Validate: func(obj runtime.Object) field.ErrorList { return validateConfigMap(obj.(*corev1.ConfigMap)) },
		ValidateUpdate: func(obj, old runtime.Object) field.ErrorList {
			cm, oldCM := obj.(*corev1.ConfigMap), old.(*corev1.ConfigMap)
			errs := validateConfigMap(cm)
			if isTrue(oldCM.Immutable) {
				if !isTrue(cm.Immutable) {
					errs = append(errs, field.Forbidden(field.NewPath("immutable"), immutableMsg))
				}
				if !apiequality.Semantic.DeepEqual(cm.Data, oldCM.Data) {
					errs = append(errs, field.Forbidden(field.NewPath("data"), immutableMsg))
				}
				if !apiequality.Semantic.DeepEqual(cm.BinaryData, oldCM.BinaryData) {
					errs = append(errs, field.Forbidden(field.NewPath("binaryData"), immutableMsg))
				}
			}
			return errs
		},
		Columns: []metav1.TableColumnDefinition{
			coreNameColumn(),
			{Name: "Data", Type: "string", Description: corev1.ConfigMap{}.SwaggerDoc()["data"]},
			coreAgeColumn(),
		},
		Row: func(obj runtime.Object) []any {
			cm := obj.(*corev1.ConfigMap)
			return []any{cm.Name, int64(len(cm.Data) + len(cm.BinaryData)), age(cm.CreationTimestamp)}
		},
	}
}

// validateConfigMap checks the name (a DNS subdomain), that keys are valid
// and not in both data and binaryData, and that the content is at most
// 1 MiB.
func validateConfigMap(cm *corev1.ConfigMap) field.ErrorList {
	errs := validateObjectName(cm.Name, apivalidation.NameIsDNSSubdomain)
	size := 0
	for key, value := range cm.Data {
		errs = append(errs, validateDataKey(key, field.NewPath("data").Key(key))...)
		size += len(value)
	}
	for key, value := range cm.BinaryData {
		p := field.NewPath("binaryData").Key(key)
		errs = append(errs, validateDataKey(key, p)...)
		if _, dup := cm.Data[key]; dup {
			errs = append(errs, field.Invalid(p, key, "duplicate of key present in data"))
		}
		size += len(value)
	}
	if size > corev1.MaxSecretSize {
		errs = append(errs, field.TooLong(field.NewPath("data"), "", corev1.MaxSecretSize))
	}
	return errs
}

// validateDataKey reports a configmap or secret key that is not made of
// alphanumerics, '-', '_' and '.'.
func validateDataKey(key string, path *field.Path) field.ErrorList {
	var errs field.ErrorList
	for _, msg := range validation.IsConfigMapKey(key) {
		errs = append(errs, field.Invalid(path, key, msg))
	}
	return errs
}

// isTrue reports whether b is set and true.
func isTrue(b *bool) bool { return b != nil && *b }

// secretResource is secrets: namespaced, selectable by type. stringData is
// write-only, as in kube: defaulting merges it into data (its keys win)
// and clears it, so it is never stored or returned. (kubectl apply of a
// manifest with stringData therefore reports "configured" on every apply,
// as against kube.)
func secretResource() *Resource {
	return &Resource{
		Version:    "v1",
		Resource:   "secrets",
		Kind:       "Secret",
		ListKind:   "SecretList",
		Namespaced: true,
		New:        func() runtime.Object { return &corev1.Secret{} },
		NewList:    func() runtime.Object { return &corev1.SecretList{} },

		Default: func(obj runtime.Object) {
			s := obj.(*corev1.Secret)
			if s.Type == "" {
				s.Type = corev1.SecretTypeOpaque
			}
			if len(s.StringData) > 0 && s.Data == nil {
				s.Data = map[string][]byte{}
			}
			for k, v := range s.StringData {
				s.Data[k] = []byte(v)
			}
			s.StringData = nil
		},
		Validate: func(obj runtime.Object) field.ErrorList { return validateSecret(obj.(*corev1.Secret)) },
		ValidateUpdate: func(obj, old runtime.Object) field.ErrorList {
			s, oldS := obj.(*corev1.Secret), old.(*corev1.Secret)
			errs := validateSecret(s)
			if s.Type != oldS.Type {
				errs = append(errs, field.Invalid(field.NewPath("type"), s.Type, apivalidation.FieldImmutableErrorMsg))
			}
			if isTrue(oldS.Immutable) {
				if !isTrue(s.Immutable) {
					errs = append(errs, field.Forbidden(field.NewPath("immutable"), immutableMsg))
				}
				if !apiequality.Semantic.DeepEqual(s.Data, oldS.Data) {
					errs = append(errs, field.Forbidden(field.NewPath("data"), immutableMsg))
				}
			}
			return errs
		},
		Fields: func(obj runtime.Object) fields.Set {
			return fields.Set{"type": string(obj.(*corev1.Secret).Type)}
		},
		Columns: []metav1.TableColumnDefinition{
			coreNameColumn(),
			{Name: "Type", Type: "string", Description: corev1.Secret{}.SwaggerDoc()["type"]},
			{Name: "Data", Type: "string", Description: corev1.Secret{}.SwaggerDoc()["data"]},
			coreAgeColumn(),
		},
		Row: func(obj runtime.Object) []any {
			s := obj.(*corev1.Secret)
			return []any{s.Name, string(s.Type), int64(len(s.Data)), age(s.CreationTimestamp)}
		},
	}
}

// validateSecret checks the name (a DNS subdomain), the keys, the 1 MiB
// size limit and the keys each well-known type requires (a TLS secret
// needs tls.crt and tls.key, a docker config secret valid JSON, ...).
func validateSecret(s *corev1.Secret) field.ErrorList {
	errs := validateObjectName(s.Name, apivalidation.NameIsDNSSubdomain)
	dataPath := field.NewPath("data")
	size := 0
	for key, value := range s.Data {
		errs = append(errs, validateDataKey(key, dataPath.Key(key))...)
		size += len(value)
	}
	if size > corev1.MaxSecretSize {
		errs = append(errs, field.TooLong(dataPath, "", corev1.MaxSecretSize))
	}

	requireKey := func(key string) {
		if _, ok := s.Data[key]; !ok {
			errs = append(errs, field.Required(dataPath.Key(key), ""))
		}
	}
	requireJSON := func(key string) {
		value, ok := s.Data[key]
		if !ok {
			errs = append(errs, field.Required(dataPath.Key(key), ""))
			return
		}
		if err := json.Unmarshal(value, &map[string]any{}); err != nil {
			errs = append(errs, field.Invalid(dataPath.Key(key), "<secret contents redacted>", err.Error()))
		}
	}
	switch s.Type {
	case corev1.SecretTypeServiceAccountToken:
		if s.Annotations[corev1.ServiceAccountNameKey] == "" {
			errs = append(errs, field.Required(field.NewPath("metadata", "annotations").Key(corev1.ServiceAccountNameKey), ""))
		}
	case corev1.SecretTypeDockercfg:
		requireJSON(corev1.DockerConfigKey)
	case corev1.SecretTypeDockerConfigJson:
		requireJSON(corev1.DockerConfigJsonKey)
	case corev1.SecretTypeBasicAuth:
		_, user := s.Data[corev1.BasicAuthUsernameKey]
		_, pass := s.Data[corev1.BasicAuthPasswordKey]
		if !user && !pass {
			requireKey(corev1.BasicAuthUsernameKey)
			requireKey(corev1.BasicAuthPasswordKey)
		}
	case corev1.SecretTypeSSHAuth:
		if len(s.Data[corev1.SSHAuthPrivateKey]) == 0 {
			errs = append(errs, field.Required(dataPath.Key(corev1.SSHAuthPrivateKey), ""))
		}
	case corev1.SecretTypeTLS:
		requireKey(corev1.TLSCertKey)
		requireKey(corev1.TLSPrivateKeyKey)
	}
	return errs
}

// serviceAccountResource is serviceaccounts: namespaced, short name sa,
// with the token subresource (TokenRequest, kubectl create token).
func serviceAccountResource() *Resource {
	validate := func(obj runtime.Object) field.ErrorList {
		return validateObjectName(obj.(*corev1.ServiceAccount).Name, apivalidation.NameIsDNSSubdomain)
	}
	return &Resource{
		Version:        "v1",
		Resource:       "serviceaccounts",
		Kind:           "ServiceAccount",
		ListKind:       "ServiceAccountList",
		Namespaced:     true,
		ShortNames:     []string{"sa"},
		Subresources:   []string{"token"},
		New:            func() runtime.Object { return &corev1.ServiceAccount{} },
		NewList:        func() runtime.Object { return &corev1.ServiceAccountList{} },
		Validate:       validate,
		ValidateUpdate: func(obj, _ runtime.Object) field.ErrorList { return validate(obj) },
		Columns: []metav1.TableColumnDefinition{
			coreNameColumn(),
			{Name: "Secrets", Type: "string", Description: corev1.ServiceAccount{}.SwaggerDoc()["secrets"]},
			coreAgeColumn(),
		},
		Row: func(obj runtime.Object) []any {
			sa := obj.(*corev1.ServiceAccount)
			return []any{sa.Name, int64(len(sa.Secrets)), age(sa.CreationTimestamp)}
		},
	}
}

// eventResource is core/v1 events: namespaced, short name ev, selectable
// by the involved object, reason, type, source and reporting component.
func eventResource() *Resource {
	return &Resource{
		Version:    "v1",
		Resource:   "events",
		Kind:       "Event",
		ListKind:   "EventList",
		Namespaced: true,
		ShortNames: []string{"ev"},
		New:        func() runtime.Object { return &corev1.Event{} },
		NewList:    func() runtime.Object { return &corev1.EventList{} },

		Validate:       func(obj runtime.Object) field.ErrorList { return validateEvent(obj.(*corev1.Event)) },
		ValidateUpdate: func(obj, _ runtime.Object) field.ErrorList { return validateEvent(obj.(*corev1.Event)) },
		Fields:         func(obj runtime.Object) fields.Set { return eventFields(obj.(*corev1.Event)) },
		PlainFields: []string{"involvedObject.kind", "involvedObject.namespace", "involvedObject.name", "involvedObject.uid",
			"involvedObject.apiVersion", "involvedObject.resourceVersion", "involvedObject.fieldPath", "reason", "reportingComponent", "type"},
		Columns: eventColumns(),
		Row:     func(obj runtime.Object) []any { return eventRow(obj.(*corev1.Event)) },
	}
}

// eventFields is the field-selector set of an event (beyond metadata), as
// `kubectl events --for` and `kubectl describe` use it.
func eventFields(e *corev1.Event) fields.Set {
	o := e.InvolvedObject
	return fields.Set{
		"involvedObject.kind":            o.Kind,
		"involvedObject.namespace":       o.Namespace,
		"involvedObject.name":            o.Name,
		"involvedObject.uid":             string(o.UID),
		"involvedObject.apiVersion":      o.APIVersion,
		"involvedObject.resourceVersion": o.ResourceVersion,
		"involvedObject.fieldPath":       o.FieldPath,
		"reason":                         e.Reason,
		"reportingComponent":             e.ReportingController,
		"source":                         e.Source.Component,
		"type":                           e.Type,
	}
}

// validateEvent checks what kube checks of a core/v1 event: a name that is
// a DNS subdomain, an involved object, and an involved object namespace
// that matches the event's (a cluster-scoped object's events live in
// "default"). An event with eventTime set (the newer style) also needs
// reportingController, reportingInstance, action and reason.
func validateEvent(e *corev1.Event) field.ErrorList {
	errs := validateObjectName(e.Name, apivalidation.NameIsDNSSubdomain)
	objPath := field.NewPath("involvedObject")
	if e.InvolvedObject.Kind == "" && e.InvolvedObject.Name == "" && e.InvolvedObject.UID == "" {
		errs = append(errs, field.Required(objPath, "an event must name the object it is about"))
	}
	nsPath := objPath.Child("namespace")
	objNS := e.InvolvedObject.Namespace
	if e.EventTime.IsZero() {
		switch {
		case objNS == "" && e.Namespace != "" && e.Namespace != metav1.NamespaceDefault:
			errs = append(errs, field.Invalid(nsPath, objNS, "does not match event.namespace"))
		case objNS != "" && objNS != e.Namespace:
			errs = append(errs, field.Invalid(nsPath, objNS, "does not match event.namespace"))
		}
		return errs
	}

	if objNS == "" && e.Namespace != metav1.NamespaceDefault && e.Namespace != metav1.NamespaceSystem {
		errs = append(errs, field.Invalid(nsPath, objNS, "does not match event.namespace"))
	}
	if e.ReportingController == "" {
		errs = append(errs, field.Required(field.NewPath("reportingController"), ""))
	} else {
		for _, msg := range validation.IsQualifiedName(e.ReportingController) {
			errs = append(errs, field.Invalid(field.NewPath("reportingController"), e.ReportingController, msg))
		}
	}
	limits := []struct {
		name, value string
		max         int
	}{
		{"reportingInstance", e.ReportingInstance, 128},
		{"action", e.Action, 128},
		{"reason", e.Reason, 128},
	}
	for _, l := range limits {
		switch {
		case l.value == "":
			errs = append(errs, field.Required(field.NewPath(l.name), ""))
		case len(l.value) > l.max:
			errs = append(errs, field.Invalid(field.NewPath(l.name), "", fmt.Sprintf("can have at most %d characters", l.max)))
		}
	}
	if len(e.Message) > 1024 {
		errs = append(errs, field.Invalid(field.NewPath("message"), "", "can have at most 1024 characters"))
	}
	return errs
}

// eventColumns are kube's event columns: LAST SEEN, TYPE, REASON, OBJECT,
// MESSAGE, and for -o wide SUBOBJECT, SOURCE, FIRST SEEN, COUNT and NAME.
func eventColumns() []metav1.TableColumnDefinition {
	doc := corev1.Event{}.SwaggerDoc()
	return []metav1.TableColumnDefinition{
		{Name: "Last Seen", Type: "string", Description: doc["lastTimestamp"]},
		{Name: "Type", Type: "string", Description: doc["type"]},
		{Name: "Reason", Type: "string", Description: doc["reason"]},
		{Name: "Object", Type: "string", Description: doc["involvedObject"]},
		{Name: "Subobject", Type: "string", Priority: 1, Description: corev1.ObjectReference{}.SwaggerDoc()["fieldPath"]},
		{Name: "Source", Type: "string", Priority: 1, Description: doc["source"]},
		{Name: "Message", Type: "string", Description: doc["message"]},
		{Name: "First Seen", Type: "string", Priority: 1, Description: doc["firstTimestamp"]},
		{Name: "Count", Type: "string", Priority: 1, Description: doc["count"]},
		{Name: "Name", Type: "string", Priority: 1, Format: "name", Description: metav1.ObjectMeta{}.SwaggerDoc()["name"]},
	}
}

// eventRow is an event's row for eventColumns. OBJECT is "pod/web-1";
// times fall back from lastTimestamp to firstTimestamp to eventTime (and a
// series' last observation), and a count of 0 shows as 1.
func eventRow(e *corev1.Event) []any {
	first := age(e.FirstTimestamp)
	if e.FirstTimestamp.IsZero() {
		first = age(metav1.Time{Time: e.EventTime.Time})
	}
	last := age(e.LastTimestamp)
	if e.LastTimestamp.IsZero() {
		last = first
	}
	count := e.Count
	if e.Series != nil {
		last = age(metav1.Time{Time: e.Series.LastObservedTime.Time})
		count = e.Series.Count
	} else if count == 0 {
		count = 1
	}

	object := strings.ToLower(e.InvolvedObject.Kind)
	if e.InvolvedObject.Name != "" {
		object += "/" + e.InvolvedObject.Name
	}
	component, instance := e.Source.Component, e.Source.Host
	if component == "" {
		component = e.ReportingController
	}
	if instance == "" {
		instance = e.ReportingInstance
	}
	source := component
	if instance != "" {
		source += ", " + instance
	}
	return []any{
		last,
		e.Type,
		e.Reason,
		object,
		e.InvolvedObject.FieldPath,
		source,
		strings.TrimSpace(e.Message),
		first,
		int64(count),
		e.Name,
	}
}
