package server

import (
	stdjson "encoding/json"
	"fmt"
	"mime"
	"net/http"

	appsv1 "k8s.io/api/apps/v1"
	authenticationv1 "k8s.io/api/authentication/v1"
	authorizationv1 "k8s.io/api/authorization/v1"
	autoscalingv1 "k8s.io/api/autoscaling/v1"
	batchv1 "k8s.io/api/batch/v1"
	coordinationv1 "k8s.io/api/coordination/v1"
	corev1 "k8s.io/api/core/v1"
	discoveryv1 "k8s.io/api/discovery/v1"
	policyv1 "k8s.io/api/policy/v1"
	rbacv1 "k8s.io/api/rbac/v1"
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

// newCodec returns the codec of every group-version the server serves:
// those of the registry's resources (server/registry) and of the
// subresources' kinds (autoscaling/v1 Scale, policy/v1 Eviction). A
// group-version missing here still decodes its own kinds, but not the
// DeleteOptions protobuf clients label with it, and server-side apply,
// which finds its schemas through the scheme, refuses its kinds
// (TestCodecDecodesEveryResource, TestApplySchemaKnowsEveryResource).
func newCodec() (*codec, error) {
	s := runtime.NewScheme()
	for _, add := range []func(*runtime.Scheme) error{
		corev1.AddToScheme, appsv1.AddToScheme, batchv1.AddToScheme, policyv1.AddToScheme,
		coordinationv1.AddToScheme, discoveryv1.AddToScheme,
		authenticationv1.AddToScheme, authorizationv1.AddToScheme, autoscalingv1.AddToScheme, rbacv1.AddToScheme,
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

// isProtobuf reports whether a Content-Type is Kubernetes protobuf.
func isProtobuf(contentType string) bool {
	ct, _, _ := mime.ParseMediaType(contentType)
	return ct == runtime.ContentTypeProtobuf
}

// decodeProto decodes a protobuf body of kind gvk into into.
func (c *codec) decodeProto(body []byte, gvk schema.GroupVersionKind, into runtime.Object) error {
	_, got, err := c.proto.Decode(body, &gvk, into)
	if err != nil {
		return err
	}
	if *got != gvk {
		return fmt.Errorf("the body is a %s, not a %s", got, gvk)
	}
	return nil
}

// decodeEviction decodes the body of a pods/eviction request: JSON, or
// protobuf from client-go's typed clients (a policy/v1 Eviction).
func (c *codec) decodeEviction(contentType string, body []byte) (evictionBody, error) {
	if isProtobuf(contentType) {
		ev := &policyv1.Eviction{}
		if err := c.decodeProto(body, policyv1.SchemeGroupVersion.WithKind("Eviction"), ev); err != nil {
			return evictionBody{}, err
		}
		return evictionBody{TypeMeta: ev.TypeMeta, ObjectMeta: ev.ObjectMeta, DeleteOptions: ev.DeleteOptions}, nil
	}
	var ev evictionBody
	err := stdjson.Unmarshal(body, &ev)
	return ev, err
}

// decodeScale decodes an autoscaling/v1 Scale, what an update of the
// scale subresource sends: JSON, or protobuf from client-go's typed
// clients.
func (c *codec) decodeScale(contentType string, body []byte) (*autoscalingv1.Scale, error) {
	sc := &autoscalingv1.Scale{}
	if isProtobuf(contentType) {
		return sc, c.decodeProto(body, autoscalingv1.SchemeGroupVersion.WithKind("Scale"), sc)
	}
	return sc, stdjson.Unmarshal(body, sc)
}

// decodeTokenRequest decodes the body of a serviceaccounts/token request:
// an authentication.k8s.io/v1 TokenRequest, JSON or protobuf.
func (c *codec) decodeTokenRequest(contentType string, body []byte) (*authenticationv1.TokenRequest, error) {
	tr := &authenticationv1.TokenRequest{}
	if isProtobuf(contentType) {
		return tr, c.decodeProto(body, authenticationv1.SchemeGroupVersion.WithKind("TokenRequest"), tr)
	}
	return tr, stdjson.Unmarshal(body, tr)
}
