package server

import (
	"fmt"
	"mime"
	"net/http"

	appsv1 "k8s.io/api/apps/v1"
	authenticationv1 "k8s.io/api/authentication/v1"
	authorizationv1 "k8s.io/api/authorization/v1"
	batchv1 "k8s.io/api/batch/v1"
	coordinationv1 "k8s.io/api/coordination/v1"
	corev1 "k8s.io/api/core/v1"
	discoveryv1 "k8s.io/api/discovery/v1"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/runtime"
	"k8s.io/apimachinery/pkg/runtime/schema"
	"k8s.io/apimachinery/pkg/runtime/serializer/json"
	"k8s.io/apimachinery/pkg/runtime/serializer/protobuf"
)

// codec decodes request bodies into typed objects and encodes responses.
type codec struct {
	scheme *runtime.Scheme
	// strict reports unknown and duplicate fields as strict decoding
	// errors (fieldValidation=Strict|Warn); lax ignores them.
	strict, lax *json.Serializer
	// strictYAML and laxYAML are the same for YAML bodies.
	strictYAML, laxYAML *json.Serializer
	// proto decodes Kubernetes protobuf bodies, what client-go's typed
	// clients send by default.
	proto *protobuf.Serializer
}

func newCodec() (*codec, error) {
	s := runtime.NewScheme()
	for _, add := range []func(*runtime.Scheme) error{
		corev1.AddToScheme, appsv1.AddToScheme, batchv1.AddToScheme, coordinationv1.AddToScheme, discoveryv1.AddToScheme,
		authenticationv1.AddToScheme, authorizationv1.AddToScheme,
	} {
		if err := add(s); err != nil {
			return nil, err
		}
	}
	metav1.AddToGroupVersion(s, schema.GroupVersion{Version: "v1"})
	return &codec{
		scheme:     s,
		strict:     json.NewSerializerWithOptions(json.DefaultMetaFactory, s, s, json.SerializerOptions{Yaml: false, Strict: true}),
		lax:        json.NewSerializerWithOptions(json.DefaultMetaFactory, s, s, json.SerializerOptions{}),
		strictYAML: json.NewSerializerWithOptions(json.DefaultMetaFactory, s, s, json.SerializerOptions{Yaml: true, Strict: true}),
		laxYAML:    json.NewSerializerWithOptions(json.DefaultMetaFactory, s, s, json.SerializerOptions{Yaml: true}),
		proto:      protobuf.NewSerializer(s, s),
	}, nil
}

// bodyDecoder returns the decoder of a request body of contentType (none
// means JSON), strict or lax about unknown and duplicate fields, or a 415
// for a content type the server does not read, as kube-apiserver answers.
func (c *codec) bodyDecoder(contentType string, strict bool) (runtime.Decoder, error) {
	mt := "application/json"
	if contentType != "" {
		var err error
		if mt, _, err = mime.ParseMediaType(contentType); err != nil {
			return nil, unsupportedMediaType(contentType)
		}
	}
	switch mt {
	case "application/json":
		if strict {
			return c.strict, nil
		}
		return c.lax, nil
	case "application/yaml":
		if strict {
			return c.strictYAML, nil
		}
		return c.laxYAML, nil
	case runtime.ContentTypeProtobuf:
		return c.proto, nil
	}
	return nil, unsupportedMediaType(contentType)
}

func unsupportedMediaType(contentType string) error {
	return &apierrors.StatusError{ErrStatus: metav1.Status{
		Status: metav1.StatusFailure, Code: http.StatusUnsupportedMediaType, Reason: metav1.StatusReasonUnsupportedMediaType,
		Message: fmt.Sprintf("the body of the request was in an unknown format - accepted media types include: application/json, application/yaml, application/vnd.kubernetes.protobuf (got %q)", contentType),
	}}
}
