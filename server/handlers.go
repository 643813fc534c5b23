package server

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"io"
	"net/http"
	"strconv"
	"strings"
	"time"
	"unicode/utf8"

	corev1 "k8s.io/api/core/v1"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	"k8s.io/apimachinery/pkg/api/meta"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/runtime"
	"k8s.io/apimachinery/pkg/runtime/schema"

	"github.com/sqlkube/sqlkube/server/registry"
	"github.com/sqlkube/sqlkube/storage"
)

// request is one resource request, parsed and authenticated.
type request struct {
	ri   requestInfo
	res  *registry.Resource
	user user
	r    *http.Request
	w    http.ResponseWriter
	// opts are the request's query parameters, decoded for its verb.
	opts options
	// form is the response form negotiated from Accept.
	form string
}

func (q *request) key(name string) storage.Key {
	return storage.Key{Resource: q.res.StorageResource(), Namespace: q.ri.namespace, Name: name}
}

// dryRun reports a write the client asked not to persist (dryRun=All).
func (q *request) dryRun() bool { return q.opts.dryRun }

// ctx carries the actor recorded in the store's history.
func (q *request) ctx() context.Context {
	return storage.WithActor(q.r.Context(), q.user.Name)
}

// serveResource serves a resource request of u; loopback requests (the
// in-process control plane's) are not counted by the in-flight limits.
func (s *Server) serveResource(w http.ResponseWriter, r *http.Request, u user, loopback bool) {
	ri, ok := parseResourcePath(r.URL.Path)
	if !ok {
		writeStatus(w, notFoundPath())
		return
	}
	res, ok := s.reg.Lookup(ri.group, ri.version, ri.resource)
	if !ok || (ri.namespaceScopedRequest && !res.Namespaced) || (ri.subresource != "" && !res.HasSubresource(ri.subresource)) {
		writeStatus(w, notFoundPath())
		return
	}
	if !storableName(ri.namespace) || !storableName(ri.name) {
		// No object has such a name (validation refuses them), and the
		// store is not asked: PostgreSQL would fail on a NUL byte.
		writeStatus(w, apierrors.NewNotFound(res.GVR().GroupResource(), ri.name))
		return
	}
	verb := verbOf(r, ri)
	if !res.Serves(verb) {
		writeStatus(w, apierrors.NewMethodNotSupported(res.GVR().GroupResource(), verb))
		return
	}
	rec := &statusRecorder{ResponseWriter: w}
	w = rec
	began := time.Now()
	defer func() { s.metrics.observe(verb, ri, rec.code, time.Since(began)) }()
	if verb == "watch" {
		g := s.metrics.watchers.WithLabelValues(ri.group, ri.resource)
		g.Inc()
		defer g.Dec()
	}
	q := &request{ri: ri, res: res, user: u, r: r, w: w}
	if err := s.authorize(r.Context(), resourceAttributes(u, verb, ri, r)); err != nil {
		writeStatus(w, err)
		return
	}
	release, err := s.inflight.acquire(loopback || u.InGroup(groupMasters), requestKind(verb, ri.subresource))
	if err != nil {
		writeStatus(w, err)
		return
	}
	defer release()
	if q.form, err = negotiate(r); err != nil {
		writeStatus(w, err)
		return
	}
	if err := q.decodeOptions(verb); err != nil {
		writeStatus(w, err)
		return
	}
	if isConnect(ri.subresource) {
		if err := s.connect(q); err != nil {
			writeStatus(w, err)
		}
		return
	}
	if ri.subresource == "scale" {
		if err := s.serveScale(q, verb); err != nil {
			writeStatus(w, err)
		}
		return
	}
	switch verb {
	case "get":
		err = s.get(q)
	case "list":
		err = s.list(q)
	case "watch":
		err = s.watch(q)
	case "create":
		switch {
		case ri.subresource == "binding":
			err = s.bind(q)
		case ri.subresource == "eviction":
			err = s.evict(q)
		case ri.subresource == "token":
			err = s.createToken(q)
		case !res.Stored():
			err = s.review(q)
		default:
			err = s.create(q)
		}
	case "update":
		err = s.update(q)
	case "patch":
		err = s.patch(q)
	case "delete":
		err = s.delete(q)
	case "deletecollection":
		err = s.deleteCollection(q)
	default:
		err = apierrors.NewMethodNotSupported(res.GVR().GroupResource(), r.Method)
	}
	if err != nil {
		writeStatus(w, err)
	}
}

// storableName reports whether name could name a stored object: valid
// UTF-8 without NUL bytes. Validation refuses every other name on create.
func storableName(name string) bool {
	return utf8.ValidString(name) && !strings.ContainsRune(name, 0)
}

func verbOf(r *http.Request, ri requestInfo) string {
	if isConnect(ri.subresource) && ri.subresource != "log" {
		// As kube-apiserver authorizes them since 1.31, whether the
		// stream is upgraded from a GET (WebSocket) or a POST (SPDY).
		return "create"
	}
	switch r.Method {
	case http.MethodGet, http.MethodHead:
		switch {
		case watchParam(r):
			return "watch"
		case ri.name == "":
			return "list"
		}
		return "get"
	case http.MethodPost:
		if ri.name == "" {
			return "create"
		}
		if ri.subresource == "binding" || ri.subresource == "eviction" || ri.subresource == "token" {
			return "create"
		}
	case http.MethodPut:
		if ri.name != "" {
			return "update"
		}
	case http.MethodPatch:
		if ri.name != "" {
			return "patch"
		}
	case http.MethodDelete:
		if ri.name == "" {
			return "deletecollection"
		}
		return "delete"
	}
	return r.Method
}

// readBody reads the request body, refusing one over the size limit with
// 413, like kube-apiserver.
func (s *Server) readBody(q *request) ([]byte, error) {
	// A body has BodyTimeout to arrive; the deadline is lifted once it is
	// read, so that the answer (a watch) may last.
	rc := http.NewResponseController(q.w)
	_ = rc.SetReadDeadline(time.Now().Add(s.cfg.BodyTimeout))
	body, err := io.ReadAll(io.LimitReader(q.r.Body, s.cfg.MaxBodyBytes+1))
	if err != nil {
		// The deadline stays: the connection is closed rather than
		// drained of the rest of a body that does not come.
		q.w.Header().Set("Connection", "close")
		return nil, apierrors.NewBadRequest(fmt.Sprintf("read request body: %v", err))
	}
	if int64(len(body)) > s.cfg.MaxBodyBytes {
		return nil, apierrors.NewRequestEntityTooLargeError(fmt.Sprintf("limit is %d", s.cfg.MaxBodyBytes))
	}
	_ = rc.SetReadDeadline(time.Time{})
	return body, nil
}

// checkSize refuses to store an object larger than a request body may
// be, with 413: what a patch or a server-side apply makes of a small body
// is bounded like the body itself (etcd refuses such a write for
// kube-apiserver).
func (s *Server) checkSize(value []byte) error {
	if int64(len(value)) > s.cfg.MaxBodyBytes {
		return apierrors.NewRequestEntityTooLargeError(fmt.Sprintf("the object would be %d bytes; the limit is %d", len(value), s.cfg.MaxBodyBytes))
	}
	return nil
}

// decodeBody decodes a request body (JSON, YAML or protobuf) into the
// resource's type, checking its kind and, as fieldValidation asks
// (Strict for kubectl, Warn by default), refusing unknown fields.
func (s *Server) decodeBody(q *request, body []byte) (runtime.Object, error) {
	return s.decodeAs(q, q.r.Header.Get("Content-Type"), body)
}

// decodeAs is decodeBody for a body of content type ct: patches and apply
// configurations decode the JSON they produced.
func (s *Server) decodeAs(q *request, ct string, body []byte) (runtime.Object, error) {
	gvk := q.res.GVK()
	// Without fieldValidation, unknown fields are a warning, as in
	// Kubernetes since 1.27.
	mode := q.opts.fieldValidation
	if mode == "" {
		mode = metav1.FieldValidationWarn
	}
	dec, err := s.codec.bodyDecoder(ct, mode != metav1.FieldValidationIgnore)
	if err != nil {
		return nil, err
	}
	obj, got, err := dec.Decode(body, &gvk, q.res.New())
	if err != nil {
		if runtime.IsStrictDecodingError(err) {
			if mode == metav1.FieldValidationWarn {
				q.w.Header().Add("Warning", `299 - "`+strings.ReplaceAll(err.Error(), `"`, `'`)+`"`)
				lax, _ := s.codec.bodyDecoder(ct, false)
				if obj, _, err = lax.Decode(body, &gvk, q.res.New()); err != nil {
					return nil, apierrors.NewBadRequest(err.Error())
				}
				return obj, nil
			}
			return nil, apierrors.NewBadRequest(err.Error())
		}
		if runtime.IsNotRegisteredError(err) || runtime.IsMissingKind(err) {
			return nil, apierrors.NewBadRequest(fmt.Sprintf("the body is not a %s: %v", gvk.Kind, err))
		}
		return nil, apierrors.NewBadRequest(fmt.Sprintf("decode %s: %v", gvk.Kind, err))
	}
	return obj, checkKind(got, gvk)
}

func checkKind(got *schema.GroupVersionKind, want schema.GroupVersionKind) error {
	if got.Kind != want.Kind || got.GroupVersion() != want.GroupVersion() {
		return apierrors.NewBadRequest(fmt.Sprintf("the API version in the data (%s) does not match the expected API version (%s), or the kind (%s) is not %s",
			got.GroupVersion(), want.GroupVersion(), got.Kind, want.Kind))
	}
	return nil
}

// writeObject answers with obj as JSON.
func (s *Server) writeObject(q *request, code int, obj runtime.Object) error {
	if obj.GetObjectKind().GroupVersionKind().Empty() {
		// A dry run answers the body as decoded, which may have left
		// kind and apiVersion out.
		setTypeMeta(q.res, obj)
	}
	switch q.form {
	case asTable:
		t, err := s.table(q.res, []runtime.Object{obj}, "")
		if err != nil {
			return err
		}
		writeJSON(q.w, code, t)
		return nil
	case asMetadata:
		pm, err := objectMetadata(q.res, obj)
		if err != nil {
			return err
		}
		writeJSON(q.w, code, pm)
		return nil
	}
	writeJSON(q.w, code, obj)
	return nil
}

func (s *Server) get(q *request) error {
	o, err := s.readAt(q, q.ri.name)
	if err != nil {
		return err
	}
	if form := q.form; form == asObject || form == asMetadata {
		appendObject := appendWithResourceVersion
		if form == asMetadata {
			appendObject = appendPartialMetadata
		}
		b, err := appendObject(make([]byte, 0, len(o.Value)+96), o.Value, o.Revision)
		if err != nil {
			return apierrors.NewInternalError(fmt.Errorf("%s: %w", o.Key, err))
		}
		q.w.Header().Set("Content-Type", "application/json")
		q.w.WriteHeader(http.StatusOK)
		_, _ = q.w.Write(b)
		return nil
	}
	obj, err := s.decodeStored(q.res, o)
	if err != nil {
		return err
	}
	return s.writeObject(q, http.StatusOK, obj)
}

// readAt reads one object now, or at the resourceVersion asked for.
func (s *Server) readAt(q *request, name string) (storage.Object, error) {
	gr := q.res.GVR().GroupResource()
	rv := q.opts.resourceVersion
	var (
		o   storage.Object
		err error
	)
	// resourceVersionMatch=Exact on a get is sqlkube's: the object as it
	// was at that revision, from history.
	if rv != "" && rv != "0" && q.r.URL.Query().Get("resourceVersionMatch") == string(metav1.ResourceVersionMatchExact) {
		n, perr := strconv.ParseInt(rv, 10, 64)
		if perr != nil {
			return o, apierrors.NewBadRequest(fmt.Sprintf("invalid resourceVersion %q", rv))
		}
		o, err = s.store.GetAt(q.r.Context(), q.key(name), n)
	} else {
		o, err = s.store.Get(q.r.Context(), q.key(name))
	}
	if err != nil {
		return o, storageError(err, gr, name)
	}
	return o, nil
}

// readObject reads and decodes the request's object.
func (s *Server) readObject(q *request) (runtime.Object, error) {
	body, err := s.readBody(q)
	if err != nil {
		return nil, err
	}
	return s.decodeBody(q, body)
}

// generateNameAttempts is how many names a create with generateName tries
// before it reports the conflict, like kube-apiserver.
const generateNameAttempts = 8

func (s *Server) create(q *request) error {
	body, err := s.readBody(q)
	if err != nil {
		return err
	}
	for attempt := 1; ; attempt++ {
		nameTaken, err := s.createOnce(q, body)
		if !nameTaken || attempt == generateNameAttempts {
			return err
		}
	}
}

// createOnce decodes body and creates the object. nameTaken reports an
// AlreadyExists for a generated name, which another try may not meet.
func (s *Server) createOnce(q *request, body []byte) (nameTaken bool, err error) {
	obj, err := s.decodeBody(q, body)
	if err != nil {
		return false, err
	}
	if acc, err := meta.Accessor(obj); err == nil {
		acc.SetManagedFields(nil) // creates are not tracked (see apply.go)
	}
	return s.createObject(q, obj)
}

// createObject stores obj, new, after the create rules. nameTaken is as
// for createOnce.
func (s *Server) createObject(q *request, obj runtime.Object) (nameTaken bool, err error) {
	generated := false
	if acc, err := meta.Accessor(obj); err == nil {
		generated = acc.GetName() == "" && acc.GetGenerateName() != ""
	}
	if err := prepareCreate(q.res, obj, q.ri.namespace); err != nil {
		return false, err
	}
	if pod, ok := obj.(*corev1.Pod); ok {
		s.addDefaultTolerations(pod)
	}
	acc, _ := meta.Accessor(obj)
	if err := admitNode(q.user, q.res.GVR().GroupResource(), acc.GetName(), obj); err != nil {
		return false, err
	}
	if _, isPod := obj.(*corev1.Pod); isPod {
		if _, isNode := q.user.NodeName(); isNode {
			return false, apierrors.NewForbidden(q.res.GVR().GroupResource(), acc.GetName(), fmt.Errorf("nodes may not create pods"))
		}
	}
	if err := s.checkNamespace(q, acc.GetNamespace()); err != nil {
		return false, err
	}
	if err := s.admitPolicyWrite(q, obj); err != nil {
		return false, err
	}
	if q.dryRun() {
		return false, s.writeObject(q, http.StatusCreated, obj)
	}
	if err := s.beforeCreate(q, obj); err != nil {
		return false, err
	}
	value, err := encodeForStorage(q.res, obj)
	if err != nil {
		return false, apierrors.NewInternalError(err)
	}
	if err := s.checkSize(value); err != nil {
		return false, err
	}
	o, err := s.store.Create(q.ctx(), q.key(acc.GetName()), value)
	if err != nil {
		if svc, ok := obj.(*corev1.Service); ok {
			s.releaseService(context.WithoutCancel(q.ctx()), svc)
		}
		err = storageError(err, q.res.GVR().GroupResource(), acc.GetName())
		return generated && apierrors.IsAlreadyExists(err), err
	}
	acc.SetResourceVersion(strconv.FormatInt(o.Revision, 10))
	return false, s.writeStored(q, http.StatusCreated, obj, value, o.Revision)
}

// checkNamespace refuses writes into a namespace that does not exist or
// is being deleted.
func (s *Server) checkNamespace(q *request, ns string) error {
	if !q.res.Namespaced {
		return nil
	}
	if exists, terminating, known := s.namespaces.lookup(ns); known && exists {
		if terminating && q.r.Method == http.MethodPost {
			return apierrors.NewForbidden(q.res.GVR().GroupResource(), "",
				fmt.Errorf("unable to create new content in namespace %s because it is being terminated", ns))
		}
		return nil
	}
	o, err := s.store.Get(q.r.Context(), storage.Key{Resource: "namespaces", Name: ns})
	if errors.Is(err, storage.ErrNotFound) {
		return apierrors.NewNotFound(schemaNamespaces, ns)
	}
	if err != nil {
		return apierrors.NewInternalError(err)
	}
	if q.r.Method == http.MethodPost && strings.Contains(string(o.Value), `"deletionTimestamp"`) {
		return apierrors.NewForbidden(q.res.GVR().GroupResource(), "",
			fmt.Errorf("unable to create new content in namespace %s because it is being terminated", ns))
	}
	return nil
}

func (s *Server) update(q *request) error {
	obj, err := s.readObject(q)
	if err != nil {
		return err
	}
	expected, err := precondition(q, obj)
	if err != nil {
		return err
	}
	return s.replace(q, obj, expected)
}

// precondition checks that obj, the body of a write to an existing
// object, names the object of the URL, and returns the revision its
// resourceVersion requires (0: any).
func precondition(q *request, obj runtime.Object) (int64, error) {
	acc, err := meta.Accessor(obj)
	if err != nil {
		return 0, apierrors.NewBadRequest(err.Error())
	}
	if acc.GetName() != q.ri.name {
		return 0, apierrors.NewBadRequest(fmt.Sprintf("the name of the object (%s) does not match the name on the URL (%s)", acc.GetName(), q.ri.name))
	}
	if q.res.Namespaced && acc.GetNamespace() != "" && acc.GetNamespace() != q.ri.namespace {
		return 0, apierrors.NewBadRequest(fmt.Sprintf("the namespace of the object (%s) does not match the namespace on the URL (%s)", acc.GetNamespace(), q.ri.namespace))
	}
	rv := acc.GetResourceVersion()
	if rv == "" {
		return 0, nil
	}
	n, err := strconv.ParseInt(rv, 10, 64)
	if err != nil {
		return 0, apierrors.NewBadRequest(fmt.Sprintf("invalid resourceVersion %q", rv))
	}
	return n, nil
}

// replace stores obj over the current object, at revision expected (0:
// any), after the update rules; it answers the stored object.
func (s *Server) replace(q *request, obj runtime.Object, expected int64) error {
	cur, old, err := s.current(q)
	if err == nil && expected > cur.Revision {
		// The client has seen a newer revision than the cache: read it.
		cur, old, err = s.currentFresh(q)
	}
	if err != nil {
		return err
	}
	return s.replaceOn(q, cur, old, obj, expected)
}

// replaceOn is replace for a caller that has read the current object
// (cur, decoded as old, which obj must not alias).
func (s *Server) replaceOn(q *request, cur storage.Object, old, obj runtime.Object, expected int64) error {
	gr := q.res.GVR().GroupResource()
	if expected != 0 && expected != cur.Revision {
		return apierrors.NewConflict(gr, q.ri.name, errors.New(conflictMessage))
	}
	if err := admitNode(q.user, gr, q.ri.name, old); err != nil {
		return err
	}
	if err := admitNode(q.user, gr, q.ri.name, obj); err != nil {
		return err
	}
	// An update without a resourceVersion is unconditional: it applies to
	// the current object, as kube-apiserver allows for the built-in kinds
	// (Helm updates its release Secrets so).
	if acc, err := meta.Accessor(obj); err == nil && acc.GetResourceVersion() == "" {
		acc.SetResourceVersion(strconv.FormatInt(cur.Revision, 10))
	}
	if err := prepareUpdate(q.res, obj, old, q.ri.subresource); err != nil {
		return err
	}
	if err := s.admitPolicyWrite(q, obj); err != nil {
		return err
	}
	if !isApply(q) { // an apply has set managedFields already
		var err error
		if obj, err = s.trackUpdate(q, old, obj); err != nil {
			return err
		}
	}
	acc, _ := meta.Accessor(obj)
	if q.dryRun() {
		acc.SetResourceVersion(strconv.FormatInt(cur.Revision, 10))
		return s.writeObject(q, http.StatusOK, obj)
	}
	// A Service's update may need a cluster IP or node ports and give
	// others up: what it needs is claimed before the write, what it gave
	// up is released once the write is done, and the claims are undone
	// when the write fails.
	newSvc, _ := obj.(*corev1.Service)
	oldSvc, _ := old.(*corev1.Service)
	if newSvc == nil || q.ri.subresource != "" {
		_, err := s.storeReplace(q, cur, old, obj)
		return err
	}
	undo, err := s.allocateService(q.ctx(), newSvc, oldSvc)
	if err != nil {
		return err
	}
	written, err := s.storeReplace(q, cur, old, obj)
	ctx := context.WithoutCancel(q.ctx())
	switch written {
	case replaceFailed:
		undo()
	case replaceUpdated:
		s.releaseDropped(ctx, oldSvc, newSvc)
	case replaceDeleted:
		undo()
		s.releaseService(ctx, oldSvc)
	}
	return err
}

// What storeReplace did with the store.
const (
	replaceFailed    = iota // nothing: an error
	replaceUnchanged        // nothing: the object did not change
	replaceUpdated          // a new revision of the object
	replaceDeleted          // the object's deletion completed
)

// storeReplace stores obj, prepared and validated, over cur (old
// decoded) and answers the client. An update that changes nothing makes
// no revision; one that removes an object's last finalizer completes its
// deletion. The error may come from the answer, after the store changed:
// the outcome says what the store did.
func (s *Server) storeReplace(q *request, cur storage.Object, old, obj runtime.Object) (int, error) {
	gr := q.res.GVR().GroupResource()
	acc, _ := meta.Accessor(obj)
	value, err := encodeForStorage(q.res, obj)
	if err != nil {
		return replaceFailed, apierrors.NewInternalError(err)
	}
	if err := s.checkSize(value); err != nil {
		return replaceFailed, err
	}
	// Both are json.Marshal output, compact and with sorted map keys:
	// equal objects are equal bytes. The stored JSON is that output too
	// unless the database rewrote it (PostgreSQL's jsonb).
	unchanged := bytes.Equal(value, cur.Value)
	if !unchanged && !s.store.ValuesAsWritten() {
		oldValue, _ := encodeForStorage(q.res, old)
		unchanged = bytes.Equal(value, oldValue)
	}
	if unchanged {
		// Nothing changed: like Kubernetes, no new revision.
		acc.SetResourceVersion(strconv.FormatInt(cur.Revision, 10))
		return replaceUnchanged, s.writeObject(q, http.StatusOK, obj)
	}
	if acc.GetDeletionTimestamp() != nil && len(acc.GetFinalizers()) == 0 && deref(acc.GetDeletionGracePeriodSeconds()) == 0 && !hasSpecFinalizers(obj) {
		// The last finalizer is gone: the deletion completes.
		if _, err := s.store.Delete(q.ctx(), q.key(q.ri.name), cur.Revision); err != nil {
			return replaceFailed, storageError(err, gr, q.ri.name)
		}
		return replaceDeleted, s.writeObject(q, http.StatusOK, obj)
	}
	o, err := s.store.Update(q.ctx(), q.key(q.ri.name), value, cur.Revision)
	if err != nil {
		return replaceFailed, storageError(err, gr, q.ri.name)
	}
	acc.SetResourceVersion(strconv.FormatInt(o.Revision, 10))
	return replaceUpdated, s.writeStored(q, http.StatusOK, obj, value, o.Revision)
}

// writeStored answers with obj, just stored as value at revision rev:
// from value, without encoding obj again, unless the client asked for
// another form.
func (s *Server) writeStored(q *request, code int, obj runtime.Object, value []byte, rev int64) error {
	if q.form != asObject {
		return s.writeObject(q, code, obj)
	}
	b, err := withResourceVersion(value, rev)
	if err != nil {
		return apierrors.NewInternalError(err)
	}
	q.w.Header().Set("Content-Type", "application/json")
	q.w.WriteHeader(code)
	_, _ = q.w.Write(b)
	return nil
}

// current reads the object the request names, stored and decoded.
//
// It may come from the store's cache of current objects (Store.Cached),
// and so be a little behind the store: callers pass its revision to the
// store, whose check then fails, and read again with currentFresh.
func (s *Server) current(q *request) (storage.Object, runtime.Object, error) {
	if cur, ok := s.store.Cached(q.key(q.ri.name)); ok {
		obj, err := s.decodeStored(q.res, cur)
		if err != nil {
			return cur, nil, apierrors.NewInternalError(err)
		}
		return cur, obj, nil
	}
	return s.currentFresh(q)
}

// currentFresh reads the object the request names from the store.
func (s *Server) currentFresh(q *request) (storage.Object, runtime.Object, error) {
	return s.freshNamed(q, q.ri.name)
}

// freshNamed reads the object called name, of the request's resource and
// namespace, from the store (whose Get feeds Store.Cached).
func (s *Server) freshNamed(q *request, name string) (storage.Object, runtime.Object, error) {
	cur, err := s.store.Get(q.r.Context(), q.key(name))
	if err != nil {
		return cur, nil, storageError(err, q.res.GVR().GroupResource(), name)
	}
	obj, err := s.decodeStored(q.res, cur)
	if err != nil {
		return cur, nil, apierrors.NewInternalError(err)
	}
	return cur, obj, nil
}
