package server

import (
	"encoding/json"
	"errors"
	"net/http"
	"strconv"

	apierrors "k8s.io/apimachinery/pkg/api/errors"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/runtime/schema"

	"github.com/sqlkube/sqlkube/storage"
)

// Every error a client sees is a metav1.Status with the HTTP code and
// reason kube-apiserver would give, built with apimachinery's api/errors so
// that client-go's IsNotFound, IsConflict, ... recognise it.

// writeStatus answers with err as a metav1.Status.
func writeStatus(w http.ResponseWriter, err error) {
	st := toStatus(err)
	if d := st.Details; d != nil && d.RetryAfterSeconds > 0 {
		// As kube-apiserver: clients wait this long before they retry.
		w.Header().Set("Retry-After", strconv.Itoa(int(d.RetryAfterSeconds)))
	}
	w.Header().Set("Content-Type", "application/json")
	w.WriteHeader(int(st.Code))
	_ = json.NewEncoder(w).Encode(st)
}

func toStatus(err error) *metav1.Status {
	var se apierrors.APIStatus
	if errors.As(err, &se) {
		st := se.Status()
		st.Kind, st.APIVersion = "Status", "v1"
		return &st
	}
	st := apierrors.NewInternalError(err).ErrStatus
	st.Kind, st.APIVersion = "Status", "v1"
	return &st
}

// storageError translates a storage error about name of gr into the API
// error a client expects.
func storageError(err error, gr schema.GroupResource, name string) error {
	switch {
	case errors.Is(err, storage.ErrNotFound):
		return apierrors.NewNotFound(gr, name)
	case errors.Is(err, storage.ErrExists):
		return apierrors.NewAlreadyExists(gr, name)
	case errors.Is(err, storage.ErrConflict):
		return apierrors.NewConflict(gr, name, errors.New(conflictMessage))
	case errors.Is(err, storage.ErrCompacted):
		return apierrors.NewResourceExpired("too old resource version: " + err.Error())
	case errors.Is(err, storage.ErrFutureRevision):
		return apierrors.NewTimeoutError("too large resource version: "+err.Error(), 1)
	case errors.Is(err, storage.ErrInvalid):
		return apierrors.NewBadRequest(err.Error())
	}
	return apierrors.NewInternalError(err)
}

// conflictMessage is kube-apiserver's wording, which users search for.
const conflictMessage = "the object has been modified; please apply your changes to the latest version and try again"
