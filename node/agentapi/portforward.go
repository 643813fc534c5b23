package agentapi

import (
	"context"
	"fmt"
	"net/http"
	"strconv"
	"time"

	"github.com/gorilla/websocket"
	corev1 "k8s.io/api/core/v1"
	"k8s.io/apimachinery/pkg/util/httpstream"
	"k8s.io/apimachinery/pkg/util/httpstream/spdy"
	pfconst "k8s.io/apimachinery/pkg/util/portforward"
	"k8s.io/client-go/tools/portforward"
)

// servePortForward serves portforward.k8s.io: for every connection it
// forwards, the client opens an error stream and a data stream sharing a
// requestID and naming the port; the data stream is the connection. The
// SPDY connection is the upgraded HTTP one, or is carried in WebSocket
// binary messages when the client asks for SPDY/3.1+portforward.k8s.io.
func (s *Server) servePortForward(w http.ResponseWriter, r *http.Request) {
	ns, name := r.PathValue("namespace"), r.PathValue("pod")
	if _, ok := s.findPod(w, ns, name, ""); !ok {
		return
	}
	var conn httpstream.Connection
	var incoming <-chan newStream
	if isWebSocket(r) {
		conn, incoming = s.upgradeTunnel(w, r)
	} else {
		conn, _, incoming = upgradeSPDY(w, r, []string{pfconst.PortForwardV1Name})
	}
	if conn == nil {
		return
	}
	defer conn.Close()
	s.forwardStreams(r.Context(), conn, incoming, ns, name)
}

// upgradeTunnel upgrades to a WebSocket and serves SPDY inside it.
func (s *Server) upgradeTunnel(w http.ResponseWriter, r *http.Request) (httpstream.Connection, <-chan newStream) {
	up := websocket.Upgrader{
		Subprotocols: []string{pfconst.WebsocketsSPDYTunnelingPortForwardV1},
		// Clients are authenticated by certificate, not by origin.
		CheckOrigin: func(*http.Request) bool { return true },
	}
	c, err := up.Upgrade(w, r, nil)
	if err != nil {
		return nil, nil // Upgrade answered the client
	}
	if c.Subprotocol() != pfconst.WebsocketsSPDYTunnelingPortForwardV1 {
		_ = c.WriteControl(websocket.CloseMessage, websocket.FormatCloseMessage(websocket.CloseProtocolError, "port forwarding needs the subprotocol "+pfconst.WebsocketsSPDYTunnelingPortForwardV1), time.Now().Add(closeWait))
		c.Close()
		return nil, nil
	}
	streams := make(chan newStream, 16)
	conn, err := spdy.NewServerConnection(portforward.NewTunnelingConnection("agentapi", c), func(st httpstream.Stream, replySent <-chan struct{}) error {
		select {
		case streams <- newStream{st, replySent}:
			return nil
		default:
			return fmt.Errorf("too many streams opened at once")
		}
	})
	if err != nil {
		s.log.Debug("port-forward tunnel", "err", err)
		c.Close()
		return nil, nil
	}
	conn.SetIdleTimeout(streamIdleTimeout)
	return conn, streams
}

// streamPair is one forwarded connection's streams.
type streamPair struct {
	data, errs httpstream.Stream
	timer      *time.Timer
}

// forwardStreams pairs the streams the client opens and forwards each
// pair until the connection ends.
func (s *Server) forwardStreams(ctx context.Context, conn httpstream.Connection, incoming <-chan newStream, ns, name string) {
	ctx, cancel := context.WithCancel(ctx)
	defer cancel()
	pairs := map[string]*streamPair{}
	expired := make(chan string)
	for {
		select {
		case <-conn.CloseChan():
			return
		case <-ctx.Done():
			return
		case id := <-expired:
			if p := pairs[id]; p != nil {
				delete(pairs, id)
				for _, st := range []httpstream.Stream{p.data, p.errs} {
					if st != nil {
						_ = st.Reset()
					}
				}
				s.log.Debug("port-forward stream pair not completed in time", "pod", ns+"/"+name, "request", id)
			}
		case ns2 := <-incoming:
			st := ns2.stream
			typ := st.Headers().Get(corev1.StreamType)
			id := st.Headers().Get(corev1.PortForwardRequestIDHeader)
			if id == "" {
				// Clients before requestIDs: the data stream follows its
				// error stream (SPDY stream identifiers go by two).
				if typ == corev1.StreamTypeData {
					id = strconv.FormatUint(uint64(st.Identifier())-2, 10)
				} else {
					id = strconv.FormatUint(uint64(st.Identifier()), 10)
				}
			}
			p := pairs[id]
			if p == nil {
				p = &streamPair{}
				p.timer = time.AfterFunc(s.cfg.StreamCreationTimeout, func() {
					select {
					case expired <- id:
					case <-ctx.Done():
					}
				})
				pairs[id] = p
			}
			switch {
			case typ == corev1.StreamTypeData && p.data == nil:
				p.data = st
			case typ == corev1.StreamTypeError && p.errs == nil:
				p.errs = st
			default:
				_ = st.Reset()
				continue
			}
			if p.data != nil && p.errs != nil {
				p.timer.Stop()
				delete(pairs, id)
				go s.forwardPair(ctx, conn, p, ns2.replySent, ns, name)
			}
		}
	}
}

// forwardPair forwards one connection, reporting on its error stream a
// port that could not be reached.
func (s *Server) forwardPair(ctx context.Context, conn httpstream.Connection, p *streamPair, replySent <-chan struct{}, ns, name string) {
	defer conn.RemoveStreams(p.data, p.errs)
	defer p.errs.Close()
	select {
	case <-replySent:
	case <-ctx.Done():
		return
	}
	portHeader := p.data.Headers().Get(corev1.PortHeader)
	port, err := strconv.ParseUint(portHeader, 10, 16)
	if err != nil || port == 0 {
		fmt.Fprintf(p.errs, "invalid port %q", portHeader)
		_ = p.data.Reset()
		return
	}
	if err := s.backend.PortForward(ctx, ns, name, int32(port), p.data); err != nil {
		fmt.Fprintf(p.errs, "error forwarding port %d to pod %s/%s: %v", port, ns, name, err)
	}
	_ = p.data.Close()
}
