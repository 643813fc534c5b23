package server

import (
	"errors"
	"fmt"
	"net/http"
	"time"

	authenticationv1 "k8s.io/api/authentication/v1"
	corev1 "k8s.io/api/core/v1"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/runtime/schema"
	"k8s.io/apimachinery/pkg/util/validation/field"

	"github.com/sqlkube/sqlkube/storage"
)

// maxExpirationSeconds is the largest expirationSeconds a TokenRequest
// may ask for, as Kubernetes validates it (2^32 s); more than
// maxTokenExpiration is then lowered to it.
const maxExpirationSeconds = 1 << 32

// createToken serves POST serviceaccounts/NAME/token (kubectl create
// token): it issues a bound token for the service account, for the
// audiences asked (the API's when none), expiring after
// expirationSeconds, and bound to a Pod or a Secret when asked. Nothing
// is stored.
func (s *Server) createToken(q *request) error {
	body, err := s.readBody(q)
	if err != nil {
		return err
	}
	tr, err := s.codec.decodeTokenRequest(q.r.Header.Get("Content-Type"), body)
	if err != nil {
		return apierrors.NewBadRequest(fmt.Sprintf("decode TokenRequest: %v", err))
	}
	ns, name := q.ri.namespace, q.ri.name
	gk := authenticationv1.SchemeGroupVersion.WithKind("TokenRequest").GroupKind()
	expiration := defaultTokenExpiration
	if tr.Spec.ExpirationSeconds != nil {
		secs := *tr.Spec.ExpirationSeconds
		path := field.NewPath("spec", "expirationSeconds")
		switch {
		case secs < int64(minTokenExpiration/time.Second):
			return apierrors.NewInvalid(gk, name, field.ErrorList{field.Invalid(path, secs, "may not specify a duration less than 10 minutes")})
		case secs > maxExpirationSeconds:
			return apierrors.NewInvalid(gk, name, field.ErrorList{field.Invalid(path, secs, "may not specify a duration larger than 2^32 seconds")})
		}
		expiration = time.Duration(secs) * time.Second
	}
	expiration = min(expiration, maxTokenExpiration)
	auds := tr.Spec.Audiences
	if len(auds) == 0 {
		auds = s.tokens.apiAudiences
	}
	ctx := q.r.Context()
	sa, err := s.tokens.readFresh(ctx, "serviceaccounts", ns, name)
	if err != nil {
		return storageError(err, q.res.GVR().GroupResource(), name)
	}
	if sa.Metadata.DeletionTimestamp != nil {
		return apierrors.NewConflict(q.res.GVR().GroupResource(), name, errors.New("the service account is being deleted"))
	}
	b := boundToken{namespace: ns, serviceAccount: objectRef{Name: name, UID: sa.Metadata.UID}, audiences: auds, expiration: expiration}
	if ref := tr.Spec.BoundObjectRef; ref != nil {
		if err := s.bindToken(q, &b, ref); err != nil {
			return err
		}
	}
	if node, ok := q.user.NodeName(); ok && (b.pod == nil || b.node == nil || b.node.Name != node) {
		// NodeRestriction: a node asks tokens for its own pods only.
		return apierrors.NewForbidden(q.res.GVR().GroupResource(), name, fmt.Errorf("node %q may only request tokens bound to a pod running on it", node))
	}
	token, expires, err := s.tokens.issue(b)
	if err != nil {
		return apierrors.NewInternalError(fmt.Errorf("sign token: %w", err))
	}
	secs := int64(expiration / time.Second)
	out := &authenticationv1.TokenRequest{
		TypeMeta:   metav1.TypeMeta{APIVersion: authenticationv1.SchemeGroupVersion.String(), Kind: "TokenRequest"},
		ObjectMeta: metav1.ObjectMeta{Name: name, Namespace: ns, CreationTimestamp: metav1.NewTime(s.tokens.now().Truncate(time.Second))},
		Spec:       authenticationv1.TokenRequestSpec{Audiences: auds, ExpirationSeconds: &secs, BoundObjectRef: tr.Spec.BoundObjectRef},
		Status:     authenticationv1.TokenRequestStatus{Token: token, ExpirationTimestamp: metav1.NewTime(expires)},
	}
	writeJSON(q.w, http.StatusCreated, out)
	return nil
}

// bindToken checks the object a TokenRequest binds its token to, a Pod or
// a Secret of the service account's namespace, and records it in b: it
// must exist, with the UID the reference names, if any, and a pod must
// run as the service account.
func (s *Server) bindToken(q *request, b *boundToken, ref *authenticationv1.BoundObjectReference) error {
	gv, err := schema.ParseGroupVersion(ref.APIVersion)
	if err != nil || gv != corev1.SchemeGroupVersion || (ref.Kind != "Pod" && ref.Kind != "Secret") {
		return apierrors.NewBadRequest(fmt.Sprintf("cannot bind token to object of type %s", gv.WithKind(ref.Kind)))
	}
	if ref.Name == "" {
		return apierrors.NewBadRequest("the bound object reference needs a name")
	}
	resource := "pods"
	if ref.Kind == "Secret" {
		resource = "secrets"
	}
	gr := schema.GroupResource{Resource: resource}
	ctx := q.r.Context()
	o, err := s.tokens.readFresh(ctx, resource, b.namespace, ref.Name)
	if err != nil {
		return storageError(err, gr, ref.Name)
	}
	if ref.UID != "" && string(ref.UID) != o.Metadata.UID {
		return apierrors.NewConflict(gr, ref.Name, fmt.Errorf("the UID in the bound object reference (%s) does not match the UID in record (%s). The object might have been deleted and then recreated", ref.UID, o.Metadata.UID))
	}
	bound := &objectRef{Name: ref.Name, UID: o.Metadata.UID}
	if ref.Kind == "Secret" {
		b.secret = bound
		return nil
	}
	if sa := o.Spec.ServiceAccountName; sa != b.serviceAccount.Name {
		return apierrors.NewBadRequest(fmt.Sprintf("cannot bind token for serviceaccount %q to pod running with different serviceaccount name.", b.serviceAccount.Name))
	}
	b.pod = bound
	if node := o.Spec.NodeName; node != "" {
		b.node = &objectRef{Name: node}
		n, err := s.tokens.readFresh(ctx, "nodes", "", node)
		switch {
		case err == nil:
			b.node.UID = n.Metadata.UID
		case !errors.Is(err, storage.ErrNotFound):
			return storageError(err, schema.GroupResource{Resource: "nodes"}, node)
		}
	}
	return nil
}
