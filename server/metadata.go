package server

import (
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

// responseForm returns the form the client asked for: a Table (kubectl
// get), metadata only (client-go's metadata client and informers, which
// the garbage collector and namespace controller use), or the object.
func responseForm(r *http.Request) string {
	for _, part := range strings.Split(r.Header.Get("Accept"), ",") {
		if !strings.Contains(part, "g=meta.k8s.io") {
			continue
		}
		switch {
		case strings.Contains(part, "as=Table"):
			return asTable
		case strings.Contains(part, "as=PartialObjectMetadata"):
			return asMetadata
		}
	}
	return asObject
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
