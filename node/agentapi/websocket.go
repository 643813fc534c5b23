package agentapi

import (
	"context"
	"io"
	"net/http"
	"sync"
	"time"

	"github.com/gorilla/websocket"
	"k8s.io/apimachinery/pkg/util/remotecommand"
)

// webSocketProtocols are the channel protocols served over WebSocket,
// the client's preference first: v5 adds the close channel.
var webSocketProtocols = []string{
	remotecommand.StreamProtocolV5Name, remotecommand.StreamProtocolV4Name, remotecommand.StreamProtocolV3Name,
	remotecommand.StreamProtocolV2Name, remotecommand.StreamProtocolV1Name,
}

// closeWait bounds how long a finished session waits for the client to
// answer its close frame before dropping the connection.
const closeWait = 5 * time.Second

// serveSessionWebSocket serves an exec or attach session over
// WebSocket: each binary message is one channel's data, its first byte
// the channel (0 stdin, 1 stdout, 2 stderr, 3 error, 4 resize, and with
// v5 255 close, whose one byte of data is the channel the client closes).
func (s *Server) serveSessionWebSocket(w http.ResponseWriter, r *http.Request, q session, fn run) {
	up := websocket.Upgrader{
		Subprotocols: webSocketProtocols,
		// Clients are authenticated by certificate, not by origin.
		CheckOrigin: func(*http.Request) bool { return true },
	}
	c, err := up.Upgrade(w, r, nil)
	if err != nil {
		return // Upgrade answered the client
	}
	defer c.Close()
	protocol := c.Subprotocol()
	ctx, cancel := context.WithCancel(r.Context())
	defer cancel()

	var stdinR *io.PipeReader
	var stdinW, resizeW *io.PipeWriter
	st := Streams{TTY: q.tty}
	if q.stdin {
		stdinR, stdinW = io.Pipe()
		st.Stdin = stdinR
	}
	if q.tty {
		var resizeR *io.PipeReader
		resizeR, resizeW = io.Pipe()
		sizes := make(chan TermSize, 4)
		st.Resize = sizes
		go decodeResizes(ctx, resizeR, sizes)
	}
	out := &wsChannels{c: c}
	if q.stdout {
		st.Stdout = out.channel(remotecommand.StreamStdOut)
	}
	if q.stderr {
		st.Stderr = out.channel(remotecommand.StreamStdErr)
	}

	readerDone := make(chan struct{})
	go func() {
		defer close(readerDone)
		defer cancel()
		if stdinW != nil {
			defer stdinW.Close()
		}
		if resizeW != nil {
			defer resizeW.Close()
		}
		for {
			typ, data, err := c.ReadMessage()
			if err != nil {
				return
			}
			if typ != websocket.BinaryMessage || len(data) == 0 {
				continue
			}
			switch data[0] {
			case remotecommand.StreamStdIn:
				if stdinW != nil {
					_, _ = stdinW.Write(data[1:])
				}
			case remotecommand.StreamResize:
				if resizeW != nil {
					_, _ = resizeW.Write(data[1:])
				}
			case remotecommand.StreamClose:
				if protocol == remotecommand.StreamProtocolV5Name && len(data) > 1 && data[1] == remotecommand.StreamStdIn && stdinW != nil {
					stdinW.Close()
				}
			}
		}
	}()

	code, err := s.runSession(ctx, q, fn, st)
	if stdinR != nil {
		// Unblock the reader should the session have left stdin unread.
		stdinR.Close()
	}
	if msg := errorMessage(protocol, code, err); len(msg) > 0 {
		_, _ = out.channel(remotecommand.StreamErr).Write(msg)
	}
	out.close()
	select {
	case <-readerDone:
	case <-time.After(closeWait):
	}
}

// wsChannels writes channels' data to a WebSocket connection, one
// message per write.
type wsChannels struct {
	mu     sync.Mutex
	c      *websocket.Conn
	closed bool
}

func (w *wsChannels) channel(id byte) io.Writer { return &wsChannel{w: w, id: id} }

func (w *wsChannels) write(id byte, p []byte) (int, error) {
	w.mu.Lock()
	defer w.mu.Unlock()
	if w.closed {
		return 0, io.ErrClosedPipe
	}
	msg := make([]byte, 1+len(p))
	msg[0] = id
	copy(msg[1:], p)
	if err := w.c.WriteMessage(websocket.BinaryMessage, msg); err != nil {
		return 0, err
	}
	return len(p), nil
}

// close sends the normal closure: the client's streams then end.
func (w *wsChannels) close() {
	w.mu.Lock()
	defer w.mu.Unlock()
	if !w.closed {
		w.closed = true
		_ = w.c.WriteControl(websocket.CloseMessage, websocket.FormatCloseMessage(websocket.CloseNormalClosure, ""), time.Now().Add(closeWait))
	}
}

type wsChannel struct {
	w  *wsChannels
	id byte
}

func (c *wsChannel) Write(p []byte) (int, error) { return c.w.write(c.id, p) }
