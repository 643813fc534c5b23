package server

import (
	"encoding/json"
	"fmt"
	"mime"
	"net/http"
	"strings"

	apierrors "k8s.io/apimachinery/pkg/api/errors"
	metainternalversion "k8s.io/apimachinery/pkg/apis/meta/internalversion"
	metainternalversionscheme "k8s.io/apimachinery/pkg/apis/meta/internalversion/scheme"
	metainternalversionvalidation "k8s.io/apimachinery/pkg/apis/meta/internalversion/validation"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	metav1validation "k8s.io/apimachinery/pkg/apis/meta/v1/validation"
	"k8s.io/apimachinery/pkg/runtime"
	"k8s.io/apimachinery/pkg/runtime/schema"
	"k8s.io/apimachinery/pkg/types"
	"k8s.io/apimachinery/pkg/util/validation/field"
	"sigs.k8s.io/yaml"
)

// The query parameters of a request are decoded as kube-apiserver decodes
// them: by apimachinery's parameter codec into the options type of the
// verb (ListOptions, GetOptions, CreateOptions, UpdateOptions,
// PatchOptions, DeleteOptions), with Kubernetes' rules for booleans
// ("watch=True" and "watch=1" are true; only absent, "false" and "0" are
// false), then validated by apimachinery's validation of those options.

// options are a request's decoded query parameters.
type options struct {
	// list holds a list's or watch's parameters (also a deletecollection's
	// selectors).
	list metainternalversion.ListOptions
	// resourceVersion is a get's.
	resourceVersion string
	// dryRun, fieldManager, fieldValidation and force are a write's.
	dryRun          bool
	fieldManager    string
	fieldValidation string
	force           bool
}

// write records the options every write has.
func (o *options) write(dryRun []string, fieldManager, fieldValidation string) {
	o.dryRun, o.fieldManager, o.fieldValidation = len(dryRun) > 0, fieldManager, fieldValidation
}

// metaGroupKind names the options kind in a validation error, as
// kube-apiserver does (group meta.k8s.io).
func metaGroupKind(kind string) schema.GroupKind {
	return schema.GroupKind{Group: metav1.GroupName, Kind: kind}
}

// decodeParams decodes the query into into, a v1 or internal options type.
func decodeParams(r *http.Request, into runtime.Object) error {
	if err := metainternalversionscheme.ParameterCodec.DecodeParameters(r.URL.Query(), metav1.SchemeGroupVersion, into); err != nil {
		return apierrors.NewBadRequest(err.Error())
	}
	return nil
}

// invalidOptions answers validation errors of an options kind with 422,
// as kube-apiserver does.
func invalidOptions(kind string, errs field.ErrorList) error {
	if len(errs) == 0 {
		return nil
	}
	return apierrors.NewInvalid(metaGroupKind(kind), "", errs)
}

// watchParam reports whether the query asks for a watch, by Kubernetes'
// rule for boolean parameters: any value but "false" and "0" is true
// ("watch=True", what the Python client sends, included).
func watchParam(r *http.Request) bool {
	v, ok := r.URL.Query()["watch"]
	if !ok || len(v) == 0 {
		return false
	}
	switch strings.ToLower(v[0]) {
	case "false", "0":
		return false
	}
	return true
}

// decodeOptions decodes and validates the parameters of verb into q.opts.
// Deletes read theirs with their body (deleteParams).
func (q *request) decodeOptions(verb string) error {
	if isConnect(q.ri.subresource) {
		return nil // log, exec, attach, portforward: options of their own
	}
	switch verb {
	case "list", "watch", "deletecollection":
		if err := decodeParams(q.r, &q.opts.list); err != nil {
			return err
		}
		if verb == "deletecollection" {
			return nil
		}
		return invalidOptions("ListOptions", metainternalversionvalidation.ValidateListOptions(&q.opts.list, true))
	case "get":
		var o metav1.GetOptions
		if err := decodeParams(q.r, &o); err != nil {
			return err
		}
		q.opts.resourceVersion = o.ResourceVersion
	case "create":
		var o metav1.CreateOptions
		if err := decodeParams(q.r, &o); err != nil {
			return err
		}
		if err := invalidOptions("CreateOptions", metav1validation.ValidateCreateOptions(&o)); err != nil {
			return err
		}
		q.opts.write(o.DryRun, o.FieldManager, o.FieldValidation)
	case "update":
		var o metav1.UpdateOptions
		if err := decodeParams(q.r, &o); err != nil {
			return err
		}
		if err := invalidOptions("UpdateOptions", metav1validation.ValidateUpdateOptions(&o)); err != nil {
			return err
		}
		q.opts.write(o.DryRun, o.FieldManager, o.FieldValidation)
	case "patch":
		var o metav1.PatchOptions
		if err := decodeParams(q.r, &o); err != nil {
			return err
		}
		ct, _, _ := mime.ParseMediaType(q.r.Header.Get("Content-Type"))
		if err := invalidOptions("PatchOptions", metav1validation.ValidatePatchOptions(&o, types.PatchType(ct))); err != nil {
			return err
		}
		q.opts.write(o.DryRun, o.FieldManager, o.FieldValidation)
		q.opts.force = o.Force != nil && *o.Force
	}
	return nil
}

// deleteParams returns a delete's options: from the body when there is
// one (what kubectl and client-go send), else from the query, as
// kube-apiserver reads them; validated.
func (s *Server) deleteParams(q *request) (*metav1.DeleteOptions, error) {
	opts := &metav1.DeleteOptions{}
	body, err := s.readBody(q)
	if err != nil {
		return nil, err
	}
	if len(body) > 0 {
		gvk := metav1.SchemeGroupVersion.WithKind("DeleteOptions")
		if err := s.decodeOptionsBody(q, body, &gvk, opts); err != nil {
			return nil, err
		}
	} else if err := decodeParams(q.r, opts); err != nil {
		return nil, err
	}
	if err := invalidOptions("DeleteOptions", metav1validation.ValidateDeleteOptions(opts)); err != nil {
		return nil, err
	}
	q.opts.dryRun = len(opts.DryRun) > 0
	return opts, nil
}

// decodeOptionsBody decodes a body of meta.k8s.io options (DeleteOptions)
// in JSON, YAML or protobuf. JSON and YAML bodies may leave kind and
// apiVersion out (client-go writes "v1", the Python client nothing).
func (s *Server) decodeOptionsBody(q *request, body []byte, gvk *schema.GroupVersionKind, into runtime.Object) error {
	dec, err := s.codec.bodyDecoder(q.r.Header.Get("Content-Type"), false)
	if err != nil {
		return err
	}
	if dec == runtime.Decoder(s.codec.proto) {
		_, _, err = dec.Decode(body, gvk, into)
	} else if body, err = yaml.YAMLToJSON(body); err == nil {
		err = json.Unmarshal(body, into)
	}
	if err != nil {
		return apierrors.NewBadRequest(fmt.Sprintf("decode %s: %v", gvk.Kind, err))
	}
	return nil
}
