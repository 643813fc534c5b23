package agentapi

import (
	"context"
	"fmt"
	"io"
	"net/http"
	"time"

	corev1 "k8s.io/api/core/v1"
	"k8s.io/apimachinery/pkg/util/httpstream"
	"k8s.io/apimachinery/pkg/util/httpstream/spdy"
	"k8s.io/apimachinery/pkg/util/remotecommand"
)

// streamIdleTimeout closes an upgraded SPDY connection with no frame for
// that long, as kubelets' default --streaming-connection-idle-timeout.
const streamIdleTimeout = 4 * time.Hour

// newStream is a stream the client opened, with the channel closed once
// its reply is sent.
type newStream struct {
	stream    httpstream.Stream
	replySent <-chan struct{}
}

// upgradeSPDY negotiates one of protocols and upgrades the connection to
// SPDY/3.1; the client's streams arrive on the returned channel. A nil
// connection means the response is already written.
func upgradeSPDY(w http.ResponseWriter, r *http.Request, protocols []string) (httpstream.Connection, string, <-chan newStream) {
	protocol, err := httpstream.Handshake(r, w, protocols)
	if err != nil {
		return nil, "", nil // Handshake answered 403
	}
	streams := make(chan newStream, 16)
	conn := spdy.NewResponseUpgrader().UpgradeResponse(w, r, func(st httpstream.Stream, replySent <-chan struct{}) error {
		select {
		case streams <- newStream{st, replySent}:
			return nil
		default:
			return fmt.Errorf("too many streams opened at once")
		}
	})
	if conn == nil {
		return nil, "", nil
	}
	conn.SetIdleTimeout(streamIdleTimeout)
	return conn, protocol, streams
}

// serveSessionSPDY serves an exec or attach session over SPDY: the
// client opens a stream per channel (error, and stdin, stdout, stderr and
// resize as asked), each named by its streamType header.
func (s *Server) serveSessionSPDY(w http.ResponseWriter, r *http.Request, q session, fn run) {
	conn, protocol, incoming := upgradeSPDY(w, r, remotecommand.SupportedStreamingProtocols)
	if conn == nil {
		return
	}
	defer conn.Close()
	ctx, cancel := context.WithCancel(r.Context())
	defer cancel()
	go func() {
		select {
		case <-conn.CloseChan():
			cancel()
		case <-ctx.Done():
		}
	}()

	want := map[string]bool{corev1.StreamTypeError: true, corev1.StreamTypeStdin: q.stdin, corev1.StreamTypeStdout: q.stdout,
		corev1.StreamTypeStderr: q.stderr, corev1.StreamTypeResize: q.tty && protocol != remotecommand.StreamProtocolV2Name && protocol != remotecommand.StreamProtocolV1Name && protocol != ""}
	expected := 0
	for _, ok := range want {
		if ok {
			expected++
		}
	}
	got := map[string]httpstream.Stream{}
	var replies []<-chan struct{}
	timeout := time.NewTimer(s.cfg.StreamCreationTimeout)
	defer timeout.Stop()
	for len(got) < expected {
		select {
		case ns := <-incoming:
			typ := ns.stream.Headers().Get(corev1.StreamType)
			if !want[typ] || got[typ] != nil {
				s.log.Debug("unexpected stream", "type", typ, "pod", q.pod)
				_ = ns.stream.Reset()
				continue
			}
			got[typ] = ns.stream
			replies = append(replies, ns.replySent)
		case <-timeout.C:
			s.log.Debug("exec or attach streams not opened in time", "namespace", q.namespace, "pod", q.pod, "got", len(got), "want", expected)
			return
		case <-ctx.Done():
			return
		}
	}
	for _, reply := range replies {
		select {
		case <-reply:
		case <-ctx.Done():
			return
		}
	}

	st := Streams{TTY: q.tty}
	if in := got[corev1.StreamTypeStdin]; in != nil {
		st.Stdin = in
	}
	if out := got[corev1.StreamTypeStdout]; out != nil {
		st.Stdout = out
	}
	if e := got[corev1.StreamTypeStderr]; e != nil {
		st.Stderr = e
	}
	if rs := got[corev1.StreamTypeResize]; rs != nil {
		sizes := make(chan TermSize, 4)
		st.Resize = sizes
		go decodeResizes(ctx, rs, sizes)
	}
	code, err := s.runSession(ctx, q, fn, st)
	errStream := got[corev1.StreamTypeError]
	if msg := errorMessage(protocol, code, err); len(msg) > 0 {
		_, _ = errStream.Write(msg)
	}
	// Every stream is closed on this side; the client waits for stdin's
	// close too.
	for _, typ := range []string{corev1.StreamTypeStdin, corev1.StreamTypeStdout, corev1.StreamTypeStderr, corev1.StreamTypeResize, corev1.StreamTypeError} {
		if st := got[typ]; st != nil {
			_ = st.Close()
		}
	}
	if in := got[corev1.StreamTypeStdin]; in != nil {
		// The client may still be copying its stdin: the rest is not read.
		go func() { _, _ = io.Copy(io.Discard, in) }()
	}
	// The client closes the connection once it has read the streams to
	// their end; closing it first could cut frames it is still writing.
	select {
	case <-conn.CloseChan():
	case <-time.After(closeWait):
	}
}
