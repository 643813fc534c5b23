package server

import (
	apierrors "k8s.io/apimachinery/pkg/api/errors"
)

// inflight bounds the requests served at once, like kube-apiserver's
// --max-requests-inflight and --max-mutating-requests-inflight: beyond a
// bound the request is refused at once with 429 and Retry-After, and the
// client (client-go, kubectl) retries. Long-running requests (watches,
// logs, exec, attach, port-forward) hold their slot for minutes, so they
// are counted on their own and never starve short requests. Requests of
// system:masters (the admin) and of the in-process control plane are not
// counted, as kube-apiserver exempts its masters and its loopback client.
type inflight struct {
	read, mutating, longRunning chan struct{}
}

// Kinds of request, for inflight.
const (
	requestRead = iota
	requestMutating
	requestLongRunning
)

func newInflight(read, mutating, longRunning int) *inflight {
	return &inflight{read: make(chan struct{}, read), mutating: make(chan struct{}, mutating), longRunning: make(chan struct{}, longRunning)}
}

// requestKind classifies a request of verb on subresource.
func requestKind(verb, subresource string) int {
	switch {
	case verb == "watch" || isConnect(subresource):
		return requestLongRunning
	case verb == "get" || verb == "list":
		return requestRead
	}
	return requestMutating
}

// acquire takes a slot of kind, or answers 429; an exempt request takes
// none. The caller calls release when the request is done.
func (f *inflight) acquire(exempt bool, kind int) (release func(), err error) {
	if exempt {
		return func() {}, nil
	}
	slots := f.read
	switch kind {
	case requestMutating:
		slots = f.mutating
	case requestLongRunning:
		slots = f.longRunning
	}
	select {
	case slots <- struct{}{}:
		return func() { <-slots }, nil
	default:
		return nil, apierrors.NewTooManyRequests("too many requests, please try again later", 1)
	}
}
