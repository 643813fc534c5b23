package server

import (
	"crypto/subtle"
	"encoding/csv"
	"fmt"
	"net/http"
	"os"
	"strings"
	"sync"

	coordinationv1 "k8s.io/api/coordination/v1"
	corev1 "k8s.io/api/core/v1"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	"k8s.io/apimachinery/pkg/runtime/schema"
)

// user is an authenticated identity.
type user struct {
	name   string
	groups []string
}

// Groups with meaning to the authorizer.
const (
	groupMasters  = "system:masters"
	groupReadOnly = "sqlkube:read-only"
	groupNodes    = "system:nodes"
)

func (u user) in(group string) bool {
	for _, g := range u.groups {
		if g == group {
			return true
		}
	}
	return false
}

// authenticator maps bearer tokens to users.
type authenticator struct {
	mu     sync.RWMutex
	tokens map[string]user
}

// add registers token for u.
func (a *authenticator) add(token string, u user) {
	a.mu.Lock()
	defer a.mu.Unlock()
	a.tokens[token] = u
}

// newAuthenticator knows the admin token (user "admin" in system:masters)
// and the tokens of a kube-style static token file, if given: lines of
// token,user,uid[,"group1,group2"].
func newAuthenticator(adminToken, tokenFile string) (*authenticator, error) {
	a := &authenticator{tokens: map[string]user{adminToken: {name: "admin", groups: []string{groupMasters, "system:authenticated"}}}}
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
		u := user{name: rec[1], groups: []string{"system:authenticated"}}
		if len(rec) > 3 && rec[3] != "" {
			for _, g := range strings.Split(rec[3], ",") {
				u.groups = append(u.groups, strings.TrimSpace(g))
			}
		}
		a.tokens[rec[0]] = u
	}
	return a, nil
}

// authenticate returns the user behind the request's bearer token.
func (a *authenticator) authenticate(r *http.Request) (user, bool) {
	// The scheme is case-insensitive, as kube-apiserver reads it
	// ("bearer TOKEN" works).
	scheme, token, _ := strings.Cut(strings.TrimSpace(r.Header.Get("Authorization")), " ")
	token = strings.TrimSpace(token)
	if !strings.EqualFold(scheme, "Bearer") || token == "" {
		return user{}, false
	}
	a.mu.RLock()
	defer a.mu.RUnlock()
	for t, u := range a.tokens {
		if subtle.ConstantTimeCompare([]byte(t), []byte(token)) == 1 {
			return u, true
		}
	}
	return user{}, false
}

// nodeName returns the node a node identity (system:node:NAME in
// system:nodes) speaks for.
func (u user) nodeName() (string, bool) {
	name, ok := strings.CutPrefix(u.name, "system:node:")
	return name, ok && name != "" && u.in(groupNodes)
}

// authorize decides whether u may do verb on the resource. Masters may do
// anything; the read-only group may only read; a node may read, and write
// only its own Node and Lease, events, and the pods bound to it (the
// object checks are in admitNode, NodeRestriction's part).
func authorize(u user, verb string, ri requestInfo, gr schema.GroupResource) error {
	if u.in(groupMasters) || (verb == "create" && isSelfReview(gr)) {
		return nil
	}
	read := verb == "get" || verb == "list" || verb == "watch"
	if read && u.in(groupReadOnly) {
		return nil
	}
	if node, ok := u.nodeName(); ok {
		if read {
			return nil
		}
		switch {
		case gr.Group == "" && gr.Resource == "nodes" && (verb == "create" || ri.name == node):
			return nil
		case gr.Group == "coordination.k8s.io" && gr.Resource == "leases" && ri.namespace == "kube-node-lease" && (verb == "create" || ri.name == node):
			return nil
		case gr.Group == "" && gr.Resource == "events" && (verb == "create" || verb == "update" || verb == "patch"):
			return nil
		case gr.Group == "" && gr.Resource == "pods" && ri.subresource != "binding" && (verb == "update" || verb == "patch" || verb == "delete"):
			return nil
		}
	}
	return apierrors.NewForbidden(gr, ri.name, fmt.Errorf("user %q cannot %s %s", u.name, verb, gr.String()))
}

// admitNode checks what a node writes: its own Node and Lease by name,
// and only pods bound to it.
func admitNode(u user, gr schema.GroupResource, name string, obj any) error {
	node, ok := u.nodeName()
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
