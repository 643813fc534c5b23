package server

import (
	"context"
	"encoding/json"
	"errors"
	"net/http"
	"strconv"
	"time"

	apierrors "k8s.io/apimachinery/pkg/api/errors"
	"k8s.io/apimachinery/pkg/api/meta"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/runtime"
	"k8s.io/apimachinery/pkg/watch"

	"github.com/sqlkube/sqlkube/storage"
)

// watchEvent is the JSON of one watch event, as client-go decodes it.
type watchEvent struct {
	Type   watch.EventType `json:"type"`
	Object any             `json:"object"`
}

// watch streams the changes the request selects. Without a
// resourceVersion (or "0") it first sends the current objects as ADDED,
// as kube-apiserver does; from a compacted one it sends one ERROR event
// with 410 Expired, upon which informers re-list.
func (s *Server) watch(q *request) error {
	sel, err := parseSelector(q)
	if err != nil {
		return err
	}
	v := q.r.URL.Query()
	timeout := 30 * time.Minute
	if t := v.Get("timeoutSeconds"); t != "" {
		n, err := strconv.Atoi(t)
		if err != nil || n < 0 {
			return apierrors.NewBadRequest("invalid timeoutSeconds " + t)
		}
		timeout = time.Duration(n) * time.Second
	}
	bookmarks := v.Get("allowWatchBookmarks") == "true"

	var (
		from    int64
		initial []runtime.Object
	)
	// sendInitialEvents=true is client-go's streaming list (WatchList,
	// on by default since client-go 1.34): the current objects as ADDED
	// events at a revision not older than resourceVersion, then a bookmark
	// marking their end.
	streamingList := v.Get("sendInitialEvents") == "true"
	if rv := v.Get("resourceVersion"); !streamingList && rv != "" && rv != "0" {
		if from, err = strconv.ParseInt(rv, 10, 64); err != nil {
			return apierrors.NewBadRequest("invalid resourceVersion " + rv)
		}
	} else {
		// The initial state: a whole list at one revision.
		all := *q
		all.r = q.r.Clone(q.r.Context())
		qv := all.r.URL.Query()
		qv.Del("limit")
		qv.Del("continue")
		qv.Del("resourceVersion")
		all.r.URL.RawQuery = qv.Encode()
		if initial, from, _, err = s.listObjects(&all); err != nil {
			return err
		}
	}

	ctx := q.r.Context()
	w, err := s.store.Watch(ctx, storage.WatchOptions{Resource: q.res.StorageResource(), Namespace: q.ri.namespace, Revision: from})
	if err != nil && !errors.Is(err, storage.ErrCompacted) {
		return storageError(err, q.res.GVR().GroupResource(), "")
	}
	hw := q.w
	hw.Header().Set("Content-Type", "application/json")
	hw.Header().Set("Transfer-Encoding", "chunked")
	hw.WriteHeader(http.StatusOK)
	flusher, _ := hw.(http.Flusher)
	enc := json.NewEncoder(hw)
	form := responseForm(q.r)
	send := func(typ watch.EventType, obj runtime.Object) bool {
		var payload any = obj
		switch {
		case typ == watch.Error:
		case form == asTable && typ != watch.Bookmark:
			t, err := s.table(q.res, []runtime.Object{obj}, "")
			if err != nil {
				return false
			}
			payload = t
		case form == asMetadata:
			pm, err := objectMetadata(q.res, obj)
			if err != nil {
				return false
			}
			payload = pm
		}
		if err := enc.Encode(watchEvent{Type: typ, Object: payload}); err != nil {
			return false
		}
		if flusher != nil {
			flusher.Flush()
		}
		return true
	}
	// Without selectors or tables, events are written from the stored
	// JSON without decoding it.
	raw := sel.empty() && form == asObject
	sendRaw := func(typ watch.EventType, o storage.Object) bool {
		b, err := withResourceVersion(o.Value, o.Revision)
		if err != nil {
			s.log.Warn("watch: stored object without metadata", "key", o.Key.String(), "err", err)
			return true
		}
		buf := make([]byte, 0, len(b)+32)
		buf = append(buf, `{"type":"`...)
		buf = append(buf, typ...)
		buf = append(buf, `","object":`...)
		buf = append(buf, b...)
		buf = append(buf, "}\n"...)
		if _, err := hw.Write(buf); err != nil {
			return false
		}
		if flusher != nil {
			flusher.Flush()
		}
		return true
	}
	if err != nil { // compacted
		st := toStatus(storageError(err, q.res.GVR().GroupResource(), ""))
		send(watch.Error, st)
		return nil
	}
	defer w.Stop()
	matched := map[string]bool{}
	for _, obj := range initial {
		if acc, err := meta.Accessor(obj); err == nil {
			matched[storage.Key{Resource: q.res.StorageResource(), Namespace: acc.GetNamespace(), Name: acc.GetName()}.String()] = true
		}
		if !send(watch.Added, obj) {
			return nil
		}
	}
	if streamingList {
		b := q.res.New()
		acc, _ := meta.Accessor(b)
		acc.SetResourceVersion(strconv.FormatInt(from, 10))
		acc.SetAnnotations(map[string]string{metav1.InitialEventsAnnotationKey: "true"})
		setTypeMeta(q.res, b)
		if !send(watch.Bookmark, b) {
			return nil
		}
	}
	if flusher != nil {
		flusher.Flush()
	}
	deadline := time.NewTimer(timeout)
	defer deadline.Stop()
	tick := time.NewTicker(s.cfg.BookmarkInterval)
	defer tick.Stop()
	last := from
	for {
		select {
		case <-ctx.Done():
			return nil
		case <-deadline.C:
			return nil
		case <-tick.C:
			if !bookmarks {
				continue
			}
			b := q.res.New()
			acc, _ := meta.Accessor(b)
			acc.SetResourceVersion(strconv.FormatInt(last, 10))
			setTypeMeta(q.res, b)
			if !send(watch.Bookmark, b) {
				return nil
			}
		case e, ok := <-w.Events():
			if !ok {
				if werr := w.Err(); werr != nil {
					send(watch.Error, toStatus(storageError(werr, q.res.GVR().GroupResource(), "")))
				}
				return nil
			}
			last = e.Object.Revision
			typ := watch.Modified
			switch e.Op {
			case storage.OpCreate:
				typ = watch.Added
			case storage.OpDelete:
				typ = watch.Deleted
			}
			if raw {
				if !sendRaw(typ, e.Object) {
					return nil
				}
				continue
			}
			obj, err := s.decodeStored(q.res, e.Object)
			if err != nil {
				s.log.Warn("watch: undecodable object", "key", e.Object.Key.String(), "err", err)
				continue
			}
			if sel.empty() {
				if !send(typ, obj) {
					return nil
				}
				continue
			}
			selTyp, ok := s.selectedEvent(ctx, q, sel, matched, e, obj)
			if !ok {
				continue
			}
			// The object was decoded for the selectors only: what is
			// sent is the stored JSON, not a second encoding.
			if form == asObject && !sendRaw(selTyp, e.Object) || form != asObject && !send(selTyp, obj) {
				return nil
			}
		}
	}
}

// selectedEvent turns a change into what a watch with selectors sees, as
// kube-apiserver does: an object that starts to match is ADDED, one that
// stops matching is DELETED, one that matches before and after is
// MODIFIED. matched holds the keys known to match; for a key not seen
// before, the previous state is read from the store.
func (s *Server) selectedEvent(ctx context.Context, q *request, sel selector, matched map[string]bool, e storage.Event, obj runtime.Object) (watch.EventType, bool) {
	key := e.Object.Key.String()
	was, known := matched[key]
	if !known && e.Op == storage.OpUpdate {
		if prev, err := s.store.GetAt(ctx, e.Object.Key, e.PrevRevision); err == nil {
			if old, err := s.decodeStored(q.res, prev); err == nil {
				was = sel.matches(q.res, old)
			}
		}
	}
	if e.Op == storage.OpDelete {
		delete(matched, key)
		return watch.Deleted, was || sel.matches(q.res, obj)
	}
	now := sel.matches(q.res, obj)
	switch {
	case now:
		matched[key] = true
		if was && e.Op == storage.OpUpdate {
			return watch.Modified, true
		}
		return watch.Added, true
	case was:
		matched[key] = false
		return watch.Deleted, true
	}
	matched[key] = false
	return "", false
}
