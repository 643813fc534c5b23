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
//
// The session ends as a kubelet's does: the status goes on the error
// stream, then every stream is closed. client-go returns once it has read
// stdout, stderr and the error stream to their end, without waiting for
// its stdin copy, and closes the connection; the connection is closed
// here only after that (or after closeWait), since closing it while the
// client still writes stdin frames would answer them with a TCP reset
// that can discard the output the client has not read yet.
//
// A stream the client opens beyond those asked for (client-go opens
// stderr whenever it has a writer for it, whatever the request said) is
// answered and reset at once: left open, the client would read it until
// the connection closed.
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
	got, ok := s.awaitStreams(ctx, q, incoming, want)
	if !ok {
		return
	}
	// Streams opened from now on are not served.
	go func() {
		for {
			select {
			case ns := <-incoming:
				s.log.Debug("unexpected stream", "type", ns.stream.Headers().Get(corev1.StreamType), "pod", q.pod)
				go resetAfterReply(ctx, ns)
			case <-ctx.Done():
				return
			}
		}
	}()

	st := Streams{TTY: q.tty}
	var stdin *io.PipeReader
	if in := got[corev1.StreamTypeStdin]; in != nil {
		stdin = drainedPipe(in)
		st.Stdin = stdin
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
	if stdin != nil {
		// Whatever still reads stdin (a copy into the container) ends;
		// the client's further stdin is read and dropped.
		_ = stdin.Close()
	}
	if msg := errorMessage(protocol, code, err); len(msg) > 0 {
		_, _ = got[corev1.StreamTypeError].Write(msg)
	}
	for _, typ := range []string{corev1.StreamTypeStdout, corev1.StreamTypeStderr, corev1.StreamTypeError, corev1.StreamTypeResize, corev1.StreamTypeStdin} {
		if st := got[typ]; st != nil {
			_ = st.Close()
		}
	}
	select {
	case <-conn.CloseChan():
	case <-ctx.Done():
	case <-time.After(closeWait):
		s.log.Debug("client did not close the exec or attach connection", "namespace", q.namespace, "pod", q.pod)
	}
}

// awaitStreams waits for the client to open the streams want names and
// for their replies to be sent, resetting any other. It gives up after
// the stream creation timeout or when ctx ends.
func (s *Server) awaitStreams(ctx context.Context, q session, incoming <-chan newStream, want map[string]bool) (map[string]httpstream.Stream, bool) {
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
				go resetAfterReply(ctx, ns)
				continue
			}
			got[typ] = ns.stream
			replies = append(replies, ns.replySent)
		case <-timeout.C:
			s.log.Debug("exec or attach streams not opened in time", "namespace", q.namespace, "pod", q.pod, "got", len(got), "want", expected)
			return nil, false
		case <-ctx.Done():
			return nil, false
		}
	}
	for _, reply := range replies {
		select {
		case <-reply:
		case <-ctx.Done():
			return nil, false
		}
	}
	return got, true
}

// resetAfterReply resets a stream that is not served once its reply is
// sent: the client's CreateStream succeeds and its reads end at once
// (reset before the reply, CreateStream would fail).
func resetAfterReply(ctx context.Context, ns newStream) {
	select {
	case <-ns.replySent:
	case <-ctx.Done():
	}
	_ = ns.stream.Reset()
}

// drainedPipe copies in to the returned pipe until in ends or the pipe's
// reader is closed, then reads in to its end and drops it: a stream
// nobody reads would hold up the connection's frames.
func drainedPipe(in io.Reader) *io.PipeReader {
	pr, pw := io.Pipe()
	go func() {
		_, err := io.Copy(pw, in)
		pw.CloseWithError(err)
		_, _ = io.Copy(io.Discard, in)
	}()
	return pr
}
