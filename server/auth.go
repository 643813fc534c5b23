package server

import (
	"context"
	"crypto/subtle"
	"encoding/csv"
	"errors"
	"fmt"
	"net/http"
	"net/url"
	"os"
	"slices"
	"strings"
	"sync"

	coordinationv1 "k8s.io/api/coordination/v1"
	corev1 "k8s.io/api/core/v1"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	"k8s.io/apimachinery/pkg/runtime/schema"

	"github.com/sqlkube/sqlkube/server/authz"
)

// user is an authenticated identity: name, uid, groups and extra, as
// the authorizers and the reviews see it.
type user = authz.User

// Groups with meaning to the server.
const (
	groupMasters       = authz.GroupMasters
	groupAuthenticated = authz.GroupAuthenticated
)

// authenticator maps requests to users: a verified client certificate
// first, then bearer tokens: static tokens (the admin's, a token file's,
// loopback clients'), then service-account tokens.
type authenticator struct {
	mu     sync.RWMutex
	tokens map[string]user
	// loopback holds the tokens of the in-process components (the
	// scheduler, the controllers), whose requests the in-flight limits do
	// not count: they are the server's own work, as kube-apiserver's
	// loopback client is.
	loopback map[string]bool
	// sa authenticates service-account tokens; nil until set by New.
	sa *tokenAuthority
}

// addLoopback registers token for u, an in-process component.
func (a *authenticator) addLoopback(token string, u user) {
	a.mu.Lock()
	defer a.mu.Unlock()
	a.tokens[token] = u
	a.loopback[token] = true
}

// newAuthenticator knows the admin token (user "admin" in system:masters)
// and the tokens of a kube-style static token file, if given: lines of
// token,user,uid[,"group1,group2"].
func newAuthenticator(adminToken, tokenFile string) (*authenticator, error) {
	a := &authenticator{tokens: map[string]user{adminToken: {Name: "admin", Groups: []string{groupMasters, groupAuthenticated}}}, loopback: map[string]bool{}}
	if tokenFile == "" {
		return a, nil
	}
	f, err := os.Open(tokenFile)
	if err != nil {
		return nil, fmt.Errorf("token auth file: %w", err)
	}
	defer f.Close()
	r := csv.NewReader(f)
	r.FieldsPerRecord = -1
	r.Comment = '#'
	records, err := r.ReadAll()
	if err != nil {
		return nil, fmt.Errorf("token auth file %s: %w", tokenFile, err)
	}
	for i, rec := range records {
		if len(rec) < 3 || rec[0] == "" || rec[1] == "" {
			return nil, fmt.Errorf("token auth file %s, line %d: want token,user,uid[,groups]", tokenFile, i+1)
		}
		u := user{Name: rec[1], UID: rec[2], Groups: []string{groupAuthenticated}}
		if len(rec) > 3 && rec[3] != "" {
			for _, g := range strings.Split(rec[3], ",") {
				u.Groups = append(u.Groups, strings.TrimSpace(g))
			}
		}
		a.tokens[rec[0]] = u
	}
	return a, nil
}

// authenticate returns the user of the request's verified client
// certificate (see certauth.go), else the one behind its bearer token, and
// whether it is an in-process component's.
func (a *authenticator) authenticate(r *http.Request) (u user, loopback, ok bool) {
	if u, ok := certUser(r.TLS); ok {
		return u, false, true
	}
	// The scheme is case-insensitive, as kube-apiserver reads it
	// ("bearer TOKEN" works).
	scheme, token, _ := strings.Cut(strings.TrimSpace(r.Header.Get("Authorization")), " ")
	token = strings.TrimSpace(token)
	if !strings.EqualFold(scheme, "Bearer") || token == "" {
		return user{}, false, false
	}
	if u, ok := a.lookup(token); ok {
		a.mu.RLock()
		defer a.mu.RUnlock()
		return u, a.loopback[token], true
	}
	if a.sa == nil {
		return user{}, false, false
	}
	u, _, err := a.sa.authenticate(r.Context(), token, nil)
	return u, false, err == nil
}

// review returns the user of token and the audiences, of those wanted
// (the API's when none), it is valid for: what a TokenReview answers.
// Static tokens are valid for the API's audiences only.
func (a *authenticator) review(ctx context.Context, token string, wanted []string) (user, []string, error) {
	if u, ok := a.lookup(token); ok {
		apiAuds := []string{apiAudience}
		if a.sa != nil {
			apiAuds = a.sa.apiAudiences
		}
		if len(wanted) == 0 {
			return u, apiAuds, nil
		}
		if auds := intersect(wanted, apiAuds); len(auds) > 0 {
			return u, auds, nil
		}
		return user{}, nil, errors.New("token audiences do not match the API server's")
	}
	if a.sa == nil {
		return user{}, nil, errors.New("invalid bearer token")
	}
	u, auds, err := a.sa.authenticate(ctx, token, wanted)
	if errors.Is(err, errNotOurToken) {
		return user{}, nil, errors.New("invalid bearer token")
	}
	return u, auds, err
}

// lookup returns the user of a bearer token.
func (a *authenticator) lookup(token string) (user, bool) {
	a.mu.RLock()
	defer a.mu.RUnlock()
	for t, u := range a.tokens {
		if subtle.ConstantTimeCompare([]byte(t), []byte(token)) == 1 {
			return u, true
		}
	}
	return user{}, false
}

// admitNode checks what a node writes: its own Node and Lease by name,
// and only pods bound to it.
func admitNode(u user, gr schema.GroupResource, name string, obj any) error {
	node, ok := u.NodeName()
	if !ok {
		return nil
	}
	switch o := obj.(type) {
	case *corev1.Pod:
		if o.Spec.NodeName != node {
			return apierrors.NewForbidden(gr, name, fmt.Errorf("node %q can only change pods bound to it", node))
		}
	case *corev1.Node, *coordinationv1.Lease:
		if name != node {
			return apierrors.NewForbidden(gr, name, fmt.Errorf("node %q can only change its own %s", node, gr.Resource))
		}
	}
	return nil
}

// Impersonation headers, as kube-apiserver reads them.
const (
	impersonateUser        = "Impersonate-User"
	impersonateGroup       = "Impersonate-Group"
	impersonateUID         = "Impersonate-Uid"
	impersonateExtraPrefix = "Impersonate-Extra-"
)

// impersonate returns the user the request acts as: u itself, or the
// user, groups, uid and extra of its Impersonate-* headers, each of which
// u must be allowed to impersonate (the verb impersonate on users, groups,
// serviceaccounts, authentication.k8s.io uids and userextras/KEY), as
// kube-apiserver decides it. kubectl --as and --as-group send them.
func (s *Server) impersonate(ctx context.Context, r *http.Request, u user) (user, error) {
	h := r.Header
	name := h.Get(impersonateUser)
	groups := h.Values(impersonateGroup)
	uid := h.Get(impersonateUID)
	extra := map[string][]string{}
	for key, values := range h {
		if k, ok := strings.CutPrefix(key, impersonateExtraPrefix); ok {
			k, err := url.PathUnescape(k)
			if err != nil {
				return u, apierrors.NewBadRequest(fmt.Sprintf("invalid %s header %q: %v", impersonateExtraPrefix, key, err))
			}
			extra[strings.ToLower(k)] = append(extra[strings.ToLower(k)], values...)
		}
	}
	if name == "" {
		if len(groups) > 0 || uid != "" || len(extra) > 0 {
			return u, apierrors.NewBadRequest("requested impersonation of groups, a uid or extra without impersonating a user")
		}
		return u, nil
	}
	as := user{Name: name, UID: uid, Groups: groups}
	check := func(a authz.Attributes) error {
		a.User, a.Verb, a.ResourceRequest = u, "impersonate", true
		return s.authorize(ctx, a)
	}
	if ns, sa, ok := serviceAccountOf(name); ok {
		if err := check(authz.Attributes{APIVersion: "v1", Resource: "serviceaccounts", Namespace: ns, Name: sa}); err != nil {
			return u, err
		}
		if len(groups) == 0 {
			as.Groups = []string{"system:serviceaccounts", "system:serviceaccounts:" + ns}
		}
	} else if err := check(authz.Attributes{APIVersion: "v1", Resource: "users", Name: name}); err != nil {
		return u, err
	}
	for _, g := range groups {
		if err := check(authz.Attributes{APIVersion: "v1", Resource: "groups", Name: g}); err != nil {
			return u, err
		}
	}
	if uid != "" {
		if err := check(authz.Attributes{APIGroup: "authentication.k8s.io", APIVersion: "v1", Resource: "uids", Name: uid}); err != nil {
			return u, err
		}
	}
	for k, values := range extra {
		for _, v := range values {
			if err := check(authz.Attributes{APIGroup: "authentication.k8s.io", APIVersion: "v1", Resource: "userextras", Subresource: k, Name: v}); err != nil {
				return u, err
			}
		}
		if as.Extra == nil {
			as.Extra = map[string][]string{}
		}
		as.Extra[k] = values
	}
	if name != "system:anonymous" && !slices.Contains(as.Groups, groupAuthenticated) {
		as.Groups = append(as.Groups, groupAuthenticated)
	}
	return as, nil
}

// serviceAccountOf splits a service account's user name,
// system:serviceaccount:NAMESPACE:NAME.
func serviceAccountOf(name string) (namespace, sa string, ok bool) {
	rest, ok := strings.CutPrefix(name, authz.ServiceAccountUserPrefix)
	if !ok {
		return "", "", false
	}
	namespace, sa, ok = strings.Cut(rest, ":")
	return namespace, sa, ok && namespace != "" && sa != ""
}
