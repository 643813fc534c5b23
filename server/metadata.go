package server

import (
	"mime"
	"net/http"
	"strings"

	apierrors "k8s.io/apimachinery/pkg/api/errors"
	"k8s.io/apimachinery/pkg/api/meta"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/runtime"

	"github.com/sqlkube/sqlkube/server/registry"
)

// Forms a response can take besides the object itself, chosen by the
// client's Accept header ("application/json;as=Table;g=meta.k8s.io;v=v1").
const (
	asObject   = ""
	asTable    = "Table"
	asMetadata = "PartialObjectMetadata"
)

// negotiate picks the response form from the Accept header, as
// kube-apiserver negotiates it: the first entry the server can answer
// wins; an Accept none of whose entries it can answer is refused with
// 406. Every answer is JSON: a client asking for protobuf or YAML is
// answered in JSON, which it reads by the Content-Type (client-go does;
// JSON is also YAML).
func negotiate(r *http.Request) (string, error) {
	accept := r.Header.Get("Accept")
	if strings.TrimSpace(accept) == "" {
		return asObject, nil
	}
	for _, entry := range strings.Split(accept, ",") {
		mt, params, err := mime.ParseMediaType(strings.TrimSpace(entry))
		if err != nil {
			continue
		}
		switch mt {
		case "application/json", "application/yaml", runtime.ContentTypeProtobuf, "*/*", "application/*":
		default:
			continue
		}
		as, g, v := params["as"], params["g"], params["v"]
		switch {
		case as == "" && g == "" && v == "":
			return asObject, nil
		case g != metav1.GroupName || (v != "v1" && v != "v1beta1"):
			// not something this server can convert to
		case as == "Table":
			return asTable, nil
		case as == "PartialObjectMetadata", as == "PartialObjectMetadataList":
			return asMetadata, nil
		}
	}
	return "", &apierrors.StatusError{ErrStatus: metav1.Status{
		Status: metav1.StatusFailure, Code: http.StatusNotAcceptable, Reason: metav1.StatusReasonNotAcceptable,
		Message: "only the following media types are accepted: application/json, application/yaml, application/vnd.kubernetes.protobuf, and, with g=meta.k8s.io, as=Table or as=PartialObjectMetadata[List]",
	}}
}

// objectMetadata returns obj's metadata as a PartialObjectMetadata of res's
// kind.
func objectMetadata(res *registry.Resource, obj runtime.Object) (*metav1.PartialObjectMetadata, error) {
	acc, err := meta.Accessor(obj)
	if err != nil {
		return nil, apierrors.NewInternalError(err)
	}
	pm := &metav1.PartialObjectMetadata{TypeMeta: metav1.TypeMeta{Kind: "PartialObjectMetadata", APIVersion: "meta.k8s.io/v1"}}
	if om, ok := acc.(*metav1.ObjectMeta); ok {
		pm.ObjectMeta = *om
	} else {
		pm.ObjectMeta = metav1.ObjectMeta{
			Name: acc.GetName(), Namespace: acc.GetNamespace(), UID: acc.GetUID(), ResourceVersion: acc.GetResourceVersion(),
			Generation: acc.GetGeneration(), CreationTimestamp: acc.GetCreationTimestamp(), DeletionTimestamp: acc.GetDeletionTimestamp(),
			Labels: acc.GetLabels(), Annotations: acc.GetAnnotations(), OwnerReferences: acc.GetOwnerReferences(), Finalizers: acc.GetFinalizers(),
		}
	}
	return pm, nil
}

// metadataList returns objs as a PartialObjectMetadataList.
func metadataList(res *registry.Resource, objs []runtime.Object, rv, cont string) (*metav1.PartialObjectMetadataList, error) {
	l := &metav1.PartialObjectMetadataList{TypeMeta: metav1.TypeMeta{Kind: "PartialObjectMetadataList", APIVersion: "meta.k8s.io/v1"}}
	l.ResourceVersion, l.Continue = rv, cont
	l.Items = make([]metav1.PartialObjectMetadata, 0, len(objs))
	for _, obj := range objs {
		pm, err := objectMetadata(res, obj)
		if err != nil {
			return nil, err
		}
		l.Items = append(l.Items, *pm)
	}
	return l, nil
}
