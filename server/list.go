package server

import (
	"encoding/json"
	"fmt"
	"net/http"
	"strconv"

	apierrors "k8s.io/apimachinery/pkg/api/errors"
	"k8s.io/apimachinery/pkg/api/meta"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/fields"
	"k8s.io/apimachinery/pkg/labels"
	"k8s.io/apimachinery/pkg/runtime"
	"k8s.io/apimachinery/pkg/runtime/schema"

	"github.com/sqlkube/sqlkube/server/registry"
	"github.com/sqlkube/sqlkube/storage"
)

var schemaNamespaces = schema.GroupResource{Resource: "namespaces"}

// selector is a request's label and field selectors.
type selector struct {
	labels labels.Selector
	fields fields.Selector
}

func parseSelector(q *request) (selector, error) {
	ls, fs := q.opts.list.LabelSelector, q.opts.list.FieldSelector
	if ls == nil {
		ls = labels.Everything()
	}
	if fs == nil {
		fs = fields.Everything()
	}
	for _, r := range fs.Requirements() {
		if !fieldSupported(q.res, r.Field) {
			return selector{}, apierrors.NewBadRequest(fmt.Sprintf("field label not supported: %s", r.Field))
		}
	}
	return selector{labels: ls, fields: fs}, nil
}

func fieldSupported(res *registry.Resource, f string) bool {
	if f == "metadata.name" || f == "metadata.namespace" {
		return true
	}
	if res.Fields == nil {
		return false
	}
	_, ok := res.Fields(res.New())[f]
	return ok
}

func (sel selector) empty() bool { return sel.labels.Empty() && sel.fields.Empty() }

func (sel selector) matches(res *registry.Resource, obj runtime.Object) bool {
	if sel.empty() {
		return true
	}
	acc, err := meta.Accessor(obj)
	if err != nil {
		return false
	}
	if !sel.labels.Matches(labels.Set(acc.GetLabels())) {
		return false
	}
	if sel.fields.Empty() {
		return true
	}
	set := fields.Set{"metadata.name": acc.GetName(), "metadata.namespace": acc.GetNamespace()}
	if res.Fields != nil {
		for k, v := range res.Fields(obj) {
			set[k] = v
		}
	}
	return sel.fields.Matches(set)
}

// listOptions turns resourceVersion, resourceVersionMatch, limit and
// continue into a store list.
func listOptions(q *request) (storage.ListOptions, error) {
	lo := q.opts.list
	opts := storage.ListOptions{Resource: q.res.StorageResource(), Namespace: q.ri.namespace, Continue: lo.Continue}
	if lo.Limit < 0 {
		return opts, apierrors.NewBadRequest(fmt.Sprintf("invalid limit %d", lo.Limit))
	}
	opts.Limit = int(lo.Limit)
	if rv := lo.ResourceVersion; rv != "" && rv != "0" {
		n, err := strconv.ParseInt(rv, 10, 64)
		if err != nil {
			return opts, apierrors.NewBadRequest(fmt.Sprintf("invalid resourceVersion %q", rv))
		}
		if lo.ResourceVersionMatch == metav1.ResourceVersionMatchExact {
			opts.Revision = n
		}
	}
	return opts, nil
}

// listObjects reads and decodes the objects the request selects, one
// page when it has a limit, and the revision and continue token of that
// page.
func (s *Server) listObjects(q *request) ([]runtime.Object, int64, string, error) {
	stored, rev, cont, err := s.listStored(q)
	if err != nil {
		return nil, 0, "", err
	}
	out := make([]runtime.Object, 0, len(stored))
	for _, o := range stored {
		obj, err := s.decodeStored(q.res, o)
		if err != nil {
			return nil, 0, "", apierrors.NewInternalError(err)
		}
		out = append(out, obj)
	}
	return out, rev, cont, nil
}

// listStored reads the stored objects the request selects, one page when
// it has a limit, and the revision and continue token of that page.
func (s *Server) listStored(q *request) ([]storage.Object, int64, string, error) {
	sel, err := parseSelector(q)
	if err != nil {
		return nil, 0, "", err
	}
	opts, err := listOptions(q)
	if err != nil {
		return nil, 0, "", err
	}
	gr := q.res.GVR().GroupResource()
	match := s.matcher(q.res, sel)
	var (
		out  []storage.Object
		rev  int64
		cont string
	)
	limit := opts.Limit
	for {
		if limit > 0 {
			opts.Limit = limit - len(out)
		}
		page, err := s.store.List(q.r.Context(), opts)
		if err != nil {
			return nil, 0, "", storageError(err, gr, "")
		}
		rev, cont = page.Revision, page.Continue
		if sel.empty() && out == nil {
			out = page.Items
		} else {
			for _, o := range page.Items {
				if sel.empty() || match(o) {
					out = append(out, o)
				}
			}
		}
		// A selective page is topped up from the following ones, at the
		// same revision, until the limit is met.
		if limit == 0 || len(out) >= limit || cont == "" {
			return out, rev, cont, nil
		}
		opts.Continue, opts.Revision = cont, 0
	}
}

func (s *Server) list(q *request) error {
	form := q.form
	if form == asObject || form == asMetadata {
		return s.listRaw(q, form)
	}
	objs, rev, cont, err := s.listObjects(q)
	if err != nil {
		return err
	}
	rv := strconv.FormatInt(rev, 10)
	switch form {
	case asTable:
		t, err := s.table(q.res, objs, rv)
		if err != nil {
			return err
		}
		t.Continue = cont
		writeJSON(q.w, http.StatusOK, t)
		return nil
	case asMetadata:
		l, err := metadataList(q.res, objs, rv, cont)
		if err != nil {
			return err
		}
		writeJSON(q.w, http.StatusOK, l)
		return nil
	}
	list := q.res.NewList()
	if err := meta.SetList(list, objs); err != nil {
		return apierrors.NewInternalError(err)
	}
	la, err := meta.ListAccessor(list)
	if err != nil {
		return apierrors.NewInternalError(err)
	}
	la.SetResourceVersion(rv)
	la.SetContinue(cont)
	list.GetObjectKind().SetGroupVersionKind(q.res.GroupVersion().WithKind(q.res.ListKind))
	writeJSON(q.w, http.StatusOK, list)
	return nil
}

// listRaw answers a list from the stored JSON, with no decoding: the
// common case of informers and kubectl -o json. form is asObject or
// asMetadata (the items' metadata only, for metadata informers).
func (s *Server) listRaw(q *request, form string) error {
	items, rev, cont, err := s.listStored(q)
	if err != nil {
		return err
	}
	page := storage.ListResult{Items: items, Revision: rev, Continue: cont}
	kind, apiVersion, appendItem := q.res.ListKind, q.res.GroupVersion().String(), appendWithResourceVersion
	if form == asMetadata {
		kind, apiVersion, appendItem = "PartialObjectMetadataList", "meta.k8s.io/v1", appendPartialMetadata
	}
	head, err := json.Marshal(struct {
		Kind       string          `json:"kind"`
		APIVersion string          `json:"apiVersion"`
		Metadata   metav1.ListMeta `json:"metadata"`
	}{kind, apiVersion, metav1.ListMeta{ResourceVersion: strconv.FormatInt(page.Revision, 10), Continue: page.Continue}})
	if err != nil {
		return apierrors.NewInternalError(err)
	}
	// Every item is checked before the answer starts, so that a bad
	// stored object is a 500, not a truncated list.
	for _, o := range page.Items {
		at, err := metadataBrace(o.Value)
		if err == nil && objectEnd(o.Value, at) < 0 {
			err = errNoMetadata
		}
		if err != nil {
			return apierrors.NewInternalError(fmt.Errorf("%s: %w", o.Key, err))
		}
	}
	// The list is written in chunks, not built whole: a list of 10,000
	// pods is 10 MB that would be garbage the moment it is sent.
	q.w.Header().Set("Content-Type", "application/json")
	q.w.WriteHeader(http.StatusOK)
	const flushAt = 32 << 10
	out := make([]byte, 0, 2*flushAt)
	out = append(out, head[:len(head)-1]...)
	out = append(out, `,"items":[`...)
	for i, o := range page.Items {
		if i > 0 {
			out = append(out, ',')
		}
		out, _ = appendItem(out, o.Value, o.Revision)
		if len(out) >= flushAt {
			if _, err := q.w.Write(out); err != nil {
				return nil // the client went away
			}
			out = out[:0]
		}
	}
	out = append(out, "]}\n"...)
	_, _ = q.w.Write(out)
	return nil
}

// table renders objs as the Table kubectl get prints.
func (s *Server) table(res *registry.Resource, objs []runtime.Object, rv string) (*metav1.Table, error) {
	t := &metav1.Table{TypeMeta: metav1.TypeMeta{Kind: "Table", APIVersion: "meta.k8s.io/v1"}}
	t.ResourceVersion = rv
	t.ColumnDefinitions = res.Columns
	if len(t.ColumnDefinitions) == 0 {
		t.ColumnDefinitions = []metav1.TableColumnDefinition{
			{Name: "Name", Type: "string", Format: "name", Description: "Name must be unique within a namespace."},
			{Name: "Created At", Type: "date", Description: "CreationTimestamp"},
		}
	}
	for _, obj := range objs {
		acc, err := meta.Accessor(obj)
		if err != nil {
			return nil, apierrors.NewInternalError(err)
		}
		var cells []any
		if res.Row != nil && len(res.Columns) > 0 {
			cells = res.Row(obj)
		} else {
			cells = []any{acc.GetName(), acc.GetCreationTimestamp().UTC().Format("2006-01-02T15:04:05Z")}
		}
		pm := &metav1.PartialObjectMetadata{TypeMeta: metav1.TypeMeta{Kind: "PartialObjectMetadata", APIVersion: "meta.k8s.io/v1"}}
		pm.ObjectMeta = metav1.ObjectMeta{
			Name: acc.GetName(), Namespace: acc.GetNamespace(), UID: acc.GetUID(), ResourceVersion: acc.GetResourceVersion(),
			CreationTimestamp: acc.GetCreationTimestamp(), Labels: acc.GetLabels(), Annotations: acc.GetAnnotations(),
			DeletionTimestamp: acc.GetDeletionTimestamp(), OwnerReferences: acc.GetOwnerReferences(),
		}
		t.Rows = append(t.Rows, metav1.TableRow{Cells: cells, Object: runtime.RawExtension{Object: pm}})
	}
	return t, nil
}
