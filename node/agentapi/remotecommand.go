package agentapi

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net/http"
	"net/url"
	"strconv"
	"strings"

	corev1 "k8s.io/api/core/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/util/remotecommand"
)

// session is one exec or attach request, whichever transport carries it.
type session struct {
	namespace, pod, container string
	cmd                       []string
	stdin, stdout, stderr     bool
	tty                       bool
}

// run is what a transport runs once its streams are open: the Backend's
// exec or attach. exitCode matters to exec only.
type run func(ctx context.Context, st Streams) (exitCode int, err error)

func (s *Server) serveExec(w http.ResponseWriter, r *http.Request) {
	q, ok := s.parseSession(w, r)
	if !ok {
		return
	}
	if len(q.cmd) == 0 {
		http.Error(w, "you must specify a command (command=...)", http.StatusBadRequest)
		return
	}
	s.serveSession(w, r, q, func(ctx context.Context, st Streams) (int, error) {
		return s.backend.Exec(ctx, q.namespace, q.pod, q.container, q.cmd, st)
	})
}

func (s *Server) serveAttach(w http.ResponseWriter, r *http.Request) {
	q, ok := s.parseSession(w, r)
	if !ok {
		return
	}
	s.serveSession(w, r, q, func(ctx context.Context, st Streams) (int, error) {
		return 0, s.backend.Attach(ctx, q.namespace, q.pod, q.container, st)
	})
}

// parseSession reads the path and the query kube-apiserver builds from
// PodExecOptions or PodAttachOptions, and checks the pod and container
// before any upgrade, as a kubelet does.
func (s *Server) parseSession(w http.ResponseWriter, r *http.Request) (session, bool) {
	q := r.URL.Query()
	ss := session{
		namespace: r.PathValue("namespace"), pod: r.PathValue("pod"), container: r.PathValue("container"),
		cmd:   q[corev1.ExecCommandParam],
		stdin: flag(q, corev1.ExecStdinParam, "stdin"), stdout: flag(q, corev1.ExecStdoutParam, "stdout"),
		stderr: flag(q, corev1.ExecStderrParam, "stderr"), tty: flag(q, corev1.ExecTTYParam, "tty"),
	}
	if !ss.stdin && !ss.stdout && !ss.stderr {
		http.Error(w, "you must specify at least 1 of stdin, stdout, stderr", http.StatusBadRequest)
		return ss, false
	}
	if ss.tty && ss.stderr {
		// A terminal has one output stream.
		http.Error(w, "stderr may not be set with tty", http.StatusBadRequest)
		return ss, false
	}
	_, ok := s.findPod(w, ss.namespace, ss.pod, ss.container)
	return ss, ok
}

// flag reads a stream flag under the kubelet's name (input, output,
// error, tty: "1" from kube-apiserver) or the API's (stdin, stdout,
// stderr), for a client calling the agent directly.
func flag(q url.Values, kubelet, api string) bool {
	if q.Has(kubelet) {
		return boolParam(q.Get(kubelet))
	}
	return boolParam(q.Get(api))
}

// serveSession upgrades the request to WebSocket or SPDY, as the client
// asked, and runs the session over it.
func (s *Server) serveSession(w http.ResponseWriter, r *http.Request, q session, fn run) {
	if isWebSocket(r) {
		s.serveSessionWebSocket(w, r, q, fn)
		return
	}
	s.serveSessionSPDY(w, r, q, fn)
}

// isWebSocket reports a WebSocket upgrade request.
func isWebSocket(r *http.Request) bool {
	return strings.EqualFold(r.Header.Get("Upgrade"), "websocket") && headerHasToken(r.Header, "Connection", "upgrade")
}

func headerHasToken(h http.Header, name, token string) bool {
	for _, v := range h.Values(name) {
		for _, t := range strings.Split(v, ",") {
			if strings.EqualFold(strings.TrimSpace(t), token) {
				return true
			}
		}
	}
	return false
}

// status is what the error stream carries at the end of a session for
// protocols v4 and v5: Success, or Failure with the exit code as a cause.
func status(exitCode int, err error) metav1.Status {
	switch {
	case err != nil:
		return metav1.Status{TypeMeta: statusType, Status: metav1.StatusFailure, Reason: metav1.StatusReasonInternalError, Message: err.Error()}
	case exitCode != 0:
		return metav1.Status{
			TypeMeta: statusType,
			Status:   metav1.StatusFailure,
			Reason:   remotecommand.NonZeroExitCodeReason,
			Message:  fmt.Sprintf("command terminated with non-zero exit code: exit status %d", exitCode),
			Details: &metav1.StatusDetails{Causes: []metav1.StatusCause{
				{Type: remotecommand.ExitCodeCauseType, Message: strconv.Itoa(exitCode)},
			}},
		}
	}
	return metav1.Status{TypeMeta: statusType, Status: metav1.StatusSuccess}
}

var statusType = metav1.TypeMeta{Kind: "Status", APIVersion: "v1"}

// errorMessage is what the error stream carries at the end of a session:
// a JSON Status for v4 and v5, plain text (nothing on success) before.
func errorMessage(protocol string, exitCode int, err error) []byte {
	switch protocol {
	case remotecommand.StreamProtocolV4Name, remotecommand.StreamProtocolV5Name:
		b, _ := json.Marshal(status(exitCode, err))
		return b
	}
	if err != nil {
		return []byte(err.Error())
	}
	if exitCode != 0 {
		return []byte(fmt.Sprintf("command terminated with non-zero exit code: exit status %d", exitCode))
	}
	return nil
}

// decodeResizes sends the terminal sizes JSON-encoded on r to sizes until
// r ends, then closes sizes. Once ctx ends sizes are dropped, and what
// follows a malformed size is read and dropped: r is read to its end, so
// that a stream nobody reads does not hold up the connection.
func decodeResizes(ctx context.Context, r io.Reader, sizes chan<- TermSize) {
	defer func() { _, _ = io.Copy(io.Discard, r) }()
	defer close(sizes)
	dec := json.NewDecoder(r)
	for {
		var size TermSize
		if err := dec.Decode(&size); err != nil {
			return
		}
		select {
		case sizes <- size:
		case <-ctx.Done():
		}
	}
}

// runSession runs fn with the streams, logging a failure to start it.
func (s *Server) runSession(ctx context.Context, q session, fn run, st Streams) (int, error) {
	code, err := fn(ctx, st)
	if err != nil && !errors.Is(err, context.Canceled) {
		s.log.Debug("exec or attach failed", "namespace", q.namespace, "pod", q.pod, "container", q.container, "err", err)
	}
	return code, err
}
