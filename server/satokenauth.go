package server

import (
	"context"
	"crypto/subtle"
	"encoding/json"
	"errors"
	"fmt"
	"time"

	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/util/uuid"

	"github.com/sqlkube/sqlkube/server/authz"
	"github.com/sqlkube/sqlkube/storage"
)

// tokenAuthority issues service-account tokens and authenticates them:
// the signature, the issuer, the times and the audiences, then the objects
// the token is bound to, which must still exist with the same UID. It is
// safe for concurrent use.
type tokenAuthority struct {
	signer *tokenSigner
	// issuer is the iss of bound tokens; apiAudiences the audiences a
	// token must have to be used against this API (kube-apiserver's
	// --api-audiences, which default to the issuer).
	issuer       string
	apiAudiences []string
	store        *storage.Store
	// now is the clock, a field so that tests can move it.
	now func() time.Time
}

// invalidation is how long a bound object may be terminating before its
// tokens stop working, as kube-apiserver allows (60 s).
const invalidation = time.Minute

// errTokenInvalid is the cause of every refusal of a well-signed token.
var errTokenInvalid = errors.New("service account token is invalid")

func invalid(format string, args ...any) error {
	return fmt.Errorf("%w: %s", errTokenInvalid, fmt.Sprintf(format, args...))
}

// boundObject is what token checks read of an object: its metadata, a
// pod's node and service account, a secret's data.
type boundObject struct {
	Metadata struct {
		UID               string            `json:"uid"`
		DeletionTimestamp *metav1.Time      `json:"deletionTimestamp"`
		Labels            map[string]string `json:"labels"`
		Annotations       map[string]string `json:"annotations"`
	} `json:"metadata"`
	Spec struct {
		NodeName           string `json:"nodeName"`
		ServiceAccountName string `json:"serviceAccountName"`
	} `json:"spec"`
	Type string            `json:"type"`
	Data map[string][]byte `json:"data"`
}

// read returns the current object resource/ns/name: from the store's
// list cache (memory) when it holds it, otherwise from the store, so
// that an object another server has just written is found. It fails with
// storage.ErrNotFound when there is no such object.
func (t *tokenAuthority) read(ctx context.Context, resource, ns, name string) (*boundObject, error) {
	key := storage.Key{Resource: resource, Namespace: ns, Name: name}
	if o, ok := t.store.Cached(key); ok {
		return decodeBound(o)
	}
	return t.readFresh(ctx, resource, ns, name)
}

// readFresh is read from the store, never the cache: for issuing a
// token, which must name an object that exists now.
func (t *tokenAuthority) readFresh(ctx context.Context, resource, ns, name string) (*boundObject, error) {
	o, err := t.store.Get(ctx, storage.Key{Resource: resource, Namespace: ns, Name: name})
	if err != nil {
		return nil, err
	}
	return decodeBound(o)
}

func decodeBound(o storage.Object) (*boundObject, error) {
	var b boundObject
	if err := json.Unmarshal(o.Value, &b); err != nil {
		return nil, fmt.Errorf("decode %s: %w", o.Key, err)
	}
	return &b, nil
}

// check reads the object a token is bound to and checks that it is the
// same one (uid) and not deleted for longer than invalidation.
func (t *tokenAuthority) check(ctx context.Context, resource, ns string, ref objectRef) (*boundObject, error) {
	o, err := t.read(ctx, resource, ns, ref.Name)
	if errors.Is(err, storage.ErrNotFound) {
		return nil, invalid("%s %s/%s has been deleted", resource, ns, ref.Name)
	}
	if err != nil {
		return nil, err
	}
	if o.Metadata.UID != ref.UID {
		return nil, invalid("the uid of %s %s/%s (%s) does not match the token's (%s)", resource, ns, ref.Name, o.Metadata.UID, ref.UID)
	}
	if d := o.Metadata.DeletionTimestamp; d != nil && d.Time.Before(t.now().Add(-invalidation)) {
		return nil, invalid("%s %s/%s is being deleted", resource, ns, ref.Name)
	}
	return o, nil
}

// authenticate returns the user of a service-account token and the
// audiences, of those wanted (the API's when none), it is valid for. It
// fails with errNotOurToken when token is not one of this cluster's
// tokens, and with errTokenInvalid when it is, but no longer valid.
func (t *tokenAuthority) authenticate(ctx context.Context, token string, wanted []string) (user, []string, error) {
	payload, err := t.signer.verify(token)
	if err != nil {
		return user{}, nil, err
	}
	if len(wanted) == 0 {
		wanted = t.apiAudiences
	}
	var iss struct {
		Issuer string `json:"iss"`
	}
	if err := json.Unmarshal(payload, &iss); err != nil {
		return user{}, nil, errNotOurToken
	}
	switch iss.Issuer {
	case t.issuer:
		var c boundClaims
		if err := json.Unmarshal(payload, &c); err != nil {
			return user{}, nil, errNotOurToken
		}
		return t.authenticateBound(ctx, &c, wanted)
	case legacyIssuer:
		var c legacyClaims
		if err := json.Unmarshal(payload, &c); err != nil {
			return user{}, nil, errNotOurToken
		}
		return t.authenticateLegacy(ctx, &c, token, wanted)
	}
	return user{}, nil, errNotOurToken
}

func (t *tokenAuthority) authenticateBound(ctx context.Context, c *boundClaims, wanted []string) (user, []string, error) {
	now := t.now()
	switch {
	case c.Kubernetes == nil || c.Kubernetes.Namespace == "" || c.Kubernetes.ServiceAccount.Name == "":
		return user{}, nil, invalid("no kubernetes.io claim")
	case c.Expiry == 0 || now.After(time.Unix(c.Expiry, 0).Add(tokenLeeway)):
		return user{}, nil, invalid("the token has expired")
	case time.Unix(c.NotBefore, 0).After(now.Add(tokenLeeway)) || time.Unix(c.IssuedAt, 0).After(now.Add(tokenLeeway)):
		return user{}, nil, invalid("the token is not valid yet")
	}
	auds := intersect(wanted, c.Audience)
	if len(auds) == 0 {
		return user{}, nil, invalid("the token's audiences %v do not include any of %v", []string(c.Audience), wanted)
	}
	k := c.Kubernetes
	ns := k.Namespace
	name := authz.ServiceAccountUser(ns, k.ServiceAccount.Name)
	if c.Subject != name {
		return user{}, nil, invalid("subject %q does not match the service account %s/%s", c.Subject, ns, k.ServiceAccount.Name)
	}
	if _, err := t.check(ctx, "serviceaccounts", ns, k.ServiceAccount); err != nil {
		return user{}, nil, err
	}
	u := user{Name: name, UID: k.ServiceAccount.UID, Groups: serviceAccountGroups(ns)}
	extra := map[string][]string{}
	switch {
	case k.Pod != nil:
		if _, err := t.check(ctx, "pods", ns, *k.Pod); err != nil {
			return user{}, nil, err
		}
		extra[extraPodName] = []string{k.Pod.Name}
		extra[extraPodUID] = []string{k.Pod.UID}
		if k.Node != nil {
			extra[extraNodeName] = []string{k.Node.Name}
			if k.Node.UID != "" {
				extra[extraNodeUID] = []string{k.Node.UID}
			}
		}
	case k.Secret != nil:
		if _, err := t.check(ctx, "secrets", ns, *k.Secret); err != nil {
			return user{}, nil, err
		}
	}
	if c.ID != "" {
		extra[extraCredentialID] = []string{"JTI=" + c.ID}
	}
	if len(extra) > 0 {
		u.Extra = extra
	}
	return u, auds, nil
}

// legacyInvalidSince is the label kube-controller-manager's legacy token
// cleaner sets on a token Secret it has invalidated.
const legacyInvalidSince = "kubernetes.io/legacy-token-invalid-since"

func (t *tokenAuthority) authenticateLegacy(ctx context.Context, c *legacyClaims, token string, wanted []string) (user, []string, error) {
	if c.Namespace == "" || c.SecretName == "" || c.ServiceAccountName == "" || c.ServiceAccountUID == "" {
		return user{}, nil, invalid("a legacy token without its kubernetes.io/serviceaccount claims")
	}
	ns := c.Namespace
	name := authz.ServiceAccountUser(ns, c.ServiceAccountName)
	if c.Subject != name {
		return user{}, nil, invalid("subject %q does not match the service account %s/%s", c.Subject, ns, c.ServiceAccountName)
	}
	// Legacy tokens have no audience: they are good for the API only.
	auds := intersect(wanted, t.apiAudiences)
	if len(auds) == 0 {
		return user{}, nil, invalid("a legacy token is only valid for %v", t.apiAudiences)
	}
	secret, err := t.read(ctx, "secrets", ns, c.SecretName)
	if errors.Is(err, storage.ErrNotFound) {
		return user{}, nil, invalid("secret %s/%s has been deleted", ns, c.SecretName)
	}
	if err != nil {
		return user{}, nil, err
	}
	if subtle.ConstantTimeCompare(secret.Data["token"], []byte(token)) != 1 {
		return user{}, nil, invalid("secret %s/%s no longer holds this token", ns, c.SecretName)
	}
	if secret.Metadata.DeletionTimestamp != nil {
		return user{}, nil, invalid("secret %s/%s is being deleted", ns, c.SecretName)
	}
	if _, ok := secret.Metadata.Labels[legacyInvalidSince]; ok {
		return user{}, nil, invalid("secret %s/%s has been invalidated", ns, c.SecretName)
	}
	if _, err := t.check(ctx, "serviceaccounts", ns, objectRef{Name: c.ServiceAccountName, UID: c.ServiceAccountUID}); err != nil {
		return user{}, nil, err
	}
	return user{Name: name, UID: c.ServiceAccountUID, Groups: serviceAccountGroups(ns)}, auds, nil
}

// boundToken is what a TokenRequest asks for, checked.
type boundToken struct {
	namespace      string
	serviceAccount objectRef
	audiences      []string
	expiration     time.Duration
	pod, secret    *objectRef
	node           *objectRef
}

// issue signs a bound token and returns it with its expiry.
func (t *tokenAuthority) issue(b boundToken) (string, time.Time, error) {
	now := t.now()
	exp := now.Add(b.expiration)
	c := boundClaims{
		Issuer:    t.issuer,
		Subject:   authz.ServiceAccountUser(b.namespace, b.serviceAccount.Name),
		Audience:  b.audiences,
		Expiry:    exp.Unix(),
		IssuedAt:  now.Unix(),
		NotBefore: now.Unix(),
		ID:        string(uuid.NewUUID()),
		Kubernetes: &privateClaims{
			Namespace: b.namespace, ServiceAccount: b.serviceAccount,
			Pod: b.pod, Secret: b.secret, Node: b.node,
		},
	}
	token, err := t.signer.sign(c)
	return token, time.Unix(exp.Unix(), 0), err
}

// issueLegacy signs the non-expiring token of a token Secret.
func (t *tokenAuthority) issueLegacy(namespace, secret, serviceAccount, uid string) (string, error) {
	return t.signer.sign(legacyClaims{
		Issuer:             legacyIssuer,
		Subject:            authz.ServiceAccountUser(namespace, serviceAccount),
		Namespace:          namespace,
		SecretName:         secret,
		ServiceAccountName: serviceAccount,
		ServiceAccountUID:  uid,
	})
}
