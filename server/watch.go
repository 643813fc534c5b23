package server

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
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
	lo := q.opts.list
	timeout := 30 * time.Minute
	if lo.TimeoutSeconds != nil {
		if *lo.TimeoutSeconds < 0 {
			return apierrors.NewBadRequest(fmt.Sprintf("invalid timeoutSeconds %d", *lo.TimeoutSeconds))
		}
		timeout = time.Duration(*lo.TimeoutSeconds) * time.Second
	}
	bookmarks := lo.AllowWatchBookmarks

	var (
		from    int64
		initial []storage.Object
	)
	// sendInitialEvents=true is client-go's streaming list (WatchList,
	// on by default since client-go 1.34): the current objects as ADDED
	// events at a revision not older than resourceVersion, then a bookmark
	// marking their end.
	streamingList := lo.SendInitialEvents != nil && *lo.SendInitialEvents
	if rv := lo.ResourceVersion; !streamingList && rv != "" && rv != "0" {
		if from, err = strconv.ParseInt(rv, 10, 64); err != nil {
			return apierrors.NewBadRequest("invalid resourceVersion " + rv)
		}
	} else {
		// The initial state: a whole list at one revision.
		all := *q
		all.opts.list.Limit, all.opts.list.Continue, all.opts.list.ResourceVersion, all.opts.list.ResourceVersionMatch = 0, "", "", ""
		if initial, from, _, err = s.listStored(&all); err != nil {
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
	// Events are flushed when no other is waiting behind them, as
	// kube-apiserver does: a burst of changes goes out in a few writes
	// instead of a system call each.
	dirty := false
	flush := func() {
		if flusher != nil {
			flusher.Flush()
		}
		dirty = false
	}
	enc := json.NewEncoder(hw)
	form := q.form
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
		dirty = true
		return true
	}
	// Objects and their metadata are written from the stored JSON
	// without decoding it; only selectors and tables need a decode.
	rawForm := form == asObject || form == asMetadata
	sendRaw := func(typ watch.EventType, o storage.Object) bool {
		buf := make([]byte, 0, len(o.Value)+96)
		buf = append(buf, `{"type":"`...)
		buf = append(buf, typ...)
		buf = append(buf, `","object":`...)
		var err error
		if form == asMetadata {
			buf, err = appendPartialMetadata(buf, o.Value, o.Revision)
		} else {
			buf, err = appendWithResourceVersion(buf, o.Value, o.Revision)
		}
		if err != nil {
			s.log.Warn("watch: stored object without metadata", "key", o.Key.String(), "err", err)
			return true
		}
		buf = append(buf, "}\n"...)
		if _, err := hw.Write(buf); err != nil {
			return false
		}
		dirty = true
		return true
	}
	if err != nil { // compacted
		st := toStatus(storageError(err, q.res.GVR().GroupResource(), ""))
		send(watch.Error, st)
		return nil
	}
	defer w.Stop()
	matched := map[string]bool{}
	for _, o := range initial {
		matched[o.Key.String()] = true
		if rawForm {
			if !sendRaw(watch.Added, o) {
				return nil
			}
			continue
		}
		obj, err := s.decodeStored(q.res, o)
		if err != nil {
			s.log.Warn("watch: undecodable object", "key", o.Key.String(), "err", err)
			continue
		}
		if !send(watch.Added, obj) {
			return nil
		}
	}
	match := s.matcher(q.res, sel)
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
	flush()
	deadline := time.NewTimer(timeout)
	defer deadline.Stop()
	tick := time.NewTicker(s.cfg.BookmarkInterval)
	defer tick.Stop()
	last := from
	for {
		if dirty && len(w.Events()) == 0 {
			flush()
		}
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
			if !sel.empty() {
				if typ, ok = s.selectedEvent(ctx, q, match, matched, e); !ok {
					continue
				}
			}
			if rawForm {
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
			if !send(typ, obj) {
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
func (s *Server) selectedEvent(ctx context.Context, q *request, match func(storage.Object) bool, matched map[string]bool, e storage.Event) (watch.EventType, bool) {
	key := e.Object.Key.String()
	was, known := matched[key]
	if !known && e.Op == storage.OpUpdate {
		if prev, err := s.store.GetAt(ctx, e.Object.Key, e.PrevRevision); err == nil {
			was = match(prev)
		}
	}
	if e.Op == storage.OpDelete {
		delete(matched, key)
		return watch.Deleted, was || match(e.Object)
	}
	now := match(e.Object)
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
