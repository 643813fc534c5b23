package server

import (
	"errors"
	"fmt"
	"mime"
	"net/http"
	"strconv"

	jsonpatch "gopkg.in/evanphx/json-patch.v4"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	"k8s.io/apimachinery/pkg/api/meta"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/runtime"
	"k8s.io/apimachinery/pkg/types"
	"k8s.io/apimachinery/pkg/util/strategicpatch"
)

// maxJSONPatchOperations bounds the operations of one JSON patch, as in
// kube-apiserver.
const maxJSONPatchOperations = 10000

// jsonPatchCopyLimit bounds what the copy operations of one JSON patch may
// add up to: a few copies of a copy would otherwise double a small object
// into gigabytes (each copy doubles what the next one copies). It is the
// default request body limit, as kube-apiserver sets it; the library
// takes it process-wide.
const jsonPatchCopyLimit = 3 << 20

func init() { jsonpatch.AccumulatedCopySizeLimit = jsonPatchCopyLimit }

// applyPatch applies a patch of type pt to the JSON document current;
// schema is the Go type strategic merge patches follow.
func applyPatch(pt types.PatchType, current, patch []byte, schema any) ([]byte, error) {
	var (
		out []byte
		err error
	)
	switch pt {
	case types.JSONPatchType:
		p, perr := jsonpatch.DecodePatch(patch)
		if perr != nil {
			return nil, fmt.Errorf("invalid JSON patch: %w", perr)
		}
		if len(p) > maxJSONPatchOperations {
			return nil, apierrors.NewRequestEntityTooLargeError(fmt.Sprintf("the allowed maximum operations in a JSON patch is %d, got %d", maxJSONPatchOperations, len(p)))
		}
		out, err = p.Apply(current)
	case types.MergePatchType:
		out, err = jsonpatch.MergePatch(current, patch)
	case types.StrategicMergePatchType:
		out, err = strategicpatch.StrategicMergePatch(current, patch, schema)
	default:
		return nil, fmt.Errorf("patch type %q is not supported (use json, merge or strategic merge)", pt)
	}
	if err != nil {
		var tooLarge *jsonpatch.AccumulatedCopySizeError
		if errors.As(err, &tooLarge) {
			return nil, apierrors.NewRequestEntityTooLargeError(err.Error())
		}
		return nil, fmt.Errorf("the patch cannot be applied: %w", err)
	}
	return out, nil
}

// patchAttempts bounds the retries of a patch that lost a race with
// another write (a patch without a resourceVersion applies to whatever
// is current, as in Kubernetes).
const patchAttempts = 5

// patch applies a JSON, merge or strategic merge patch to the current
// object and stores the result under the same rules as an update.
func (s *Server) patch(q *request) error {
	body, err := s.readBody(q)
	if err != nil {
		return err
	}
	ct, _, _ := mime.ParseMediaType(q.r.Header.Get("Content-Type"))
	switch types.PatchType(ct) {
	case types.JSONPatchType, types.MergePatchType, types.StrategicMergePatchType:
	case types.ApplyPatchType:
		return s.apply(q, body)
	default:
		return &apierrors.StatusError{ErrStatus: metav1.Status{
			Status: metav1.StatusFailure, Code: http.StatusUnsupportedMediaType, Reason: metav1.StatusReasonUnsupportedMediaType,
			Message: fmt.Sprintf("patch type %q is not supported (use json, merge, strategic merge or apply)", ct),
		}}
	}
	for attempt := 1; ; attempt++ {
		read := s.current
		if attempt > 1 {
			read = s.currentFresh // the cached object lost a race: read the store
		}
		cur, old, err := read(q)
		if err != nil {
			return err
		}
		// The stored JSON is the object as old has it: patch it, with
		// the revision spliced in, instead of encoding old again.
		current, err := withResourceVersion(cur.Value, cur.Revision)
		if err != nil {
			return apierrors.NewInternalError(err)
		}
		patched, err := applyPatch(types.PatchType(ct), current, body, q.res.New())
		if err != nil {
			if apierrors.IsRequestEntityTooLargeError(err) {
				return err
			}
			return apierrors.NewBadRequest(err.Error())
		}
		obj, err := s.decodeAs(q, runtime.ContentTypeJSON, patched)
		if err != nil {
			return err
		}
		acc, _ := meta.Accessor(obj)
		if acc.GetName() != q.ri.name {
			return apierrors.NewBadRequest("a patch cannot change the object's name")
		}
		// A resourceVersion in the patch is a precondition; otherwise the
		// patch applies to the revision it was computed on.
		expected := cur.Revision
		pinned := acc.GetResourceVersion() != strconv.FormatInt(cur.Revision, 10)
		if pinned {
			if expected, err = strconv.ParseInt(acc.GetResourceVersion(), 10, 64); err != nil {
				return apierrors.NewBadRequest(fmt.Sprintf("invalid resourceVersion %q", acc.GetResourceVersion()))
			}
		}
		if pinned {
			err = s.replace(q, obj, expected)
		} else {
			err = s.replaceOn(q, cur, old, obj, expected)
		}
		if err == nil || pinned || attempt >= patchAttempts || !apierrors.IsConflict(err) {
			return err
		}
	}
}

// isApply reports a server-side apply request.
func isApply(q *request) bool {
	ct, _, _ := mime.ParseMediaType(q.r.Header.Get("Content-Type"))
	return q.r.Method == http.MethodPatch && types.PatchType(ct) == types.ApplyPatchType
}
