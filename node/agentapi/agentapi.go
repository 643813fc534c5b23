package agentapi

import (
	"context"
	"crypto/tls"
	"crypto/x509"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"net"
	"net/http"
	"slices"
	"sync"
	"time"

	"github.com/prometheus/client_golang/prometheus"
	corev1 "k8s.io/api/core/v1"
)

// ErrNotFound is wrapped by a Backend's error when the pod or container
// asked for does not exist; the client gets 404.
var ErrNotFound = errors.New("not found")

// ErrBadRequest is wrapped by a Backend's error when the request cannot be
// served as asked (no previous container, a container that does not run):
// the client gets 400 with the error's message, as from the kubelet.
var ErrBadRequest = errors.New("bad request")

// Streams are an exec or attach session's streams, as the client asked
// for them: Stdin is nil unless stdin was requested, Stdout and Stderr nil
// unless requested. Resize carries terminal sizes while TTY is set (nil
// otherwise); it is closed when the client can send no more.
type Streams struct {
	Stdin          io.Reader
	Stdout, Stderr io.Writer
	TTY            bool
	Resize         <-chan TermSize
}

// TermSize is a terminal's size in characters, as the client sends it.
type TermSize struct {
	Width, Height uint16
}

// LogOptions are the options of a container log request, as
// kube-apiserver passes them on from PodLogOptions.
type LogOptions struct {
	Container                           string
	Follow, Previous, Timestamps        bool
	TailLines, LimitBytes, SinceSeconds *int64
	SinceTime                           *time.Time
}

// Backend is what the node agent does for the ports: read logs, run
// commands in containers, attach to them and forward ports into pods.
// Errors wrapping ErrNotFound answer 404.
type Backend interface {
	// Logs writes the container's log to w, following it while
	// opts.Follow until ctx ends or the container stops.
	Logs(ctx context.Context, namespace, pod string, opts LogOptions, w io.Writer) error
	// Exec runs cmd in the container and returns its exit code; err is
	// for a command that could not be run.
	Exec(ctx context.Context, namespace, pod, container string, cmd []string, s Streams) (exitCode int, err error)
	// Attach joins the container's main process's streams until ctx
	// ends or the process exits.
	Attach(ctx context.Context, namespace, pod, container string, s Streams) error
	// PortForward copies conn to and from port in the pod's network
	// namespace until either side ends; it returns an error only when
	// the port could not be reached.
	PortForward(ctx context.Context, namespace, pod string, port int32, conn io.ReadWriteCloser) error
	// Pods are the pods the agent runs.
	Pods() []corev1.Pod
	// Healthy reports the agent's health (nil: ok).
	Healthy() error
	// Summary is the node's and its pods' resource usage.
	Summary(ctx context.Context) (Summary, error)
}

// DefaultAllowedClientName is the common name of the API server's client
// certificate for kubelets, the only client the secure port serves by
// default.
const DefaultAllowedClientName = "kube-apiserver-kubelet-client"

// Config configures a Server.
type Config struct {
	Backend Backend
	// Addr is the secure port's address, e.g. ":10250" ("" = not served).
	Addr string
	// ReadOnlyAddr is the read-only port's address ("" = not served).
	ReadOnlyAddr string
	// Cert is the serving certificate; nil: a self-signed one is made
	// by New, as a kubelet without one does.
	Cert *tls.Certificate
	// ClientCAs sign the client certificates the secure port accepts
	// (required with Addr), and AllowedClientNames are the common names
	// it serves (default DefaultAllowedClientName); any other client
	// gets 401 (no certificate) or 403.
	ClientCAs          *x509.CertPool
	AllowedClientNames []string
	// Metrics is served as /metrics on the read-only port (none if nil).
	Metrics prometheus.Gatherer
	// ReadHeaderTimeout bounds a request's headers (default 10 s).
	// Nothing else is bounded: streams last as long as their clients.
	ReadHeaderTimeout time.Duration
	// StreamCreationTimeout bounds how long an exec or attach client
	// has to open the streams it asked for (default 30 s, as kubelets).
	StreamCreationTimeout time.Duration
	Logger                *slog.Logger
}

// Server serves a node agent's secure and read-only ports.
type Server struct {
	cfg     Config
	log     *slog.Logger
	backend Backend
	// secure and readOnly are the bound listeners (nil: not served).
	secure, readOnly net.Listener
	tlsConfig        *tls.Config
	closeOnce        sync.Once
}

// New validates cfg and binds the ports it names, so that a port in use
// fails here; Run serves them (or Close releases them).
func New(cfg Config) (*Server, error) {
	if cfg.Backend == nil {
		return nil, errors.New("agentapi: a Backend is required")
	}
	if cfg.Addr == "" && cfg.ReadOnlyAddr == "" {
		return nil, errors.New("agentapi: neither Addr nor ReadOnlyAddr is set")
	}
	if cfg.Addr != "" && cfg.ClientCAs == nil {
		return nil, errors.New("agentapi: the secure port requires ClientCAs")
	}
	if len(cfg.AllowedClientNames) == 0 {
		cfg.AllowedClientNames = []string{DefaultAllowedClientName}
	}
	if cfg.ReadHeaderTimeout <= 0 {
		cfg.ReadHeaderTimeout = 10 * time.Second
	}
	if cfg.StreamCreationTimeout <= 0 {
		cfg.StreamCreationTimeout = 30 * time.Second
	}
	if cfg.Logger == nil {
		cfg.Logger = slog.New(slog.DiscardHandler)
	}
	s := &Server{cfg: cfg, log: cfg.Logger, backend: cfg.Backend}
	if cfg.Addr != "" {
		cert := cfg.Cert
		if cert == nil {
			c, err := selfSigned()
			if err != nil {
				return nil, err
			}
			cert = &c
		}
		s.tlsConfig = &tls.Config{
			Certificates: []tls.Certificate{*cert},
			ClientCAs:    cfg.ClientCAs,
			// A request without a certificate gets a 401 rather than a
			// failed handshake, as from a kubelet.
			ClientAuth: tls.VerifyClientCertIfGiven,
			MinVersion: tls.VersionTLS12,
			// Upgrades (SPDY, WebSocket) need HTTP/1.1.
			NextProtos: []string{"http/1.1"},
		}
		ln, err := net.Listen("tcp", cfg.Addr)
		if err != nil {
			return nil, fmt.Errorf("agentapi: listen on %s: %w", cfg.Addr, err)
		}
		s.secure = ln
	}
	if cfg.ReadOnlyAddr != "" {
		ln, err := net.Listen("tcp", cfg.ReadOnlyAddr)
		if err != nil {
			if s.secure != nil {
				s.secure.Close()
			}
			return nil, fmt.Errorf("agentapi: listen on %s: %w", cfg.ReadOnlyAddr, err)
		}
		s.readOnly = ln
	}
	return s, nil
}

// Addr is the secure port's bound address ("" when not served).
func (s *Server) Addr() string {
	if s.secure == nil {
		return ""
	}
	return s.secure.Addr().String()
}

// ReadOnlyAddr is the read-only port's bound address ("" when not
// served).
func (s *Server) ReadOnlyAddr() string {
	if s.readOnly == nil {
		return ""
	}
	return s.readOnly.Addr().String()
}

// Close releases the ports of a Server that Run does not serve.
func (s *Server) Close() error {
	var errs []error
	s.closeOnce.Do(func() {
		for _, ln := range []net.Listener{s.secure, s.readOnly} {
			if ln != nil {
				if err := ln.Close(); err != nil && !errors.Is(err, net.ErrClosed) {
					errs = append(errs, err)
				}
			}
		}
	})
	return errors.Join(errs...)
}

// Run serves the ports until ctx ends, then shuts them down: open
// streams are cut, as a kubelet's are when it stops.
func (s *Server) Run(ctx context.Context) error {
	defer s.Close()
	var servers []*http.Server
	errc := make(chan error, 2)
	serve := func(hs *http.Server, ln net.Listener, tlsOn bool) {
		servers = append(servers, hs)
		go func() {
			var err error
			if tlsOn {
				err = hs.ServeTLS(ln, "", "")
			} else {
				err = hs.Serve(ln)
			}
			if errors.Is(err, http.ErrServerClosed) {
				err = nil
			}
			errc <- err
		}()
	}
	base := func(net.Listener) context.Context { return ctx }
	errLog := slog.NewLogLogger(s.log.Handler(), slog.LevelDebug)
	if s.secure != nil {
		serve(&http.Server{Handler: s.secureHandler(), TLSConfig: s.tlsConfig, ReadHeaderTimeout: s.cfg.ReadHeaderTimeout,
			ErrorLog: errLog, BaseContext: base}, s.secure, true)
		s.log.Info("serving the node agent's secure port", "addr", s.Addr())
	}
	if s.readOnly != nil {
		serve(&http.Server{Handler: s.readOnlyHandler(), ReadHeaderTimeout: s.cfg.ReadHeaderTimeout,
			ErrorLog: errLog, BaseContext: base}, s.readOnly, false)
		s.log.Info("serving the node agent's read-only port", "addr", s.ReadOnlyAddr())
	}
	var err error
	select {
	case err = <-errc:
		err = fmt.Errorf("agentapi: serve: %w", err)
	case <-ctx.Done():
	}
	for _, hs := range servers {
		// Streams are hijacked connections Shutdown does not wait for;
		// their contexts (BaseContext) end with ctx.
		_ = hs.Close()
	}
	return err
}

// secureHandler routes the secure port's paths, as kube-apiserver calls
// a kubelet's, after checking the client's certificate.
func (s *Server) secureHandler() http.Handler {
	mux := http.NewServeMux()
	mux.HandleFunc("GET /containerLogs/{namespace}/{pod}/{container}", s.serveLogs)
	for _, m := range []string{"GET", "POST"} {
		mux.HandleFunc(m+" /exec/{namespace}/{pod}/{container}", s.serveExec)
		mux.HandleFunc(m+" /exec/{namespace}/{pod}/{uid}/{container}", s.serveExec)
		mux.HandleFunc(m+" /attach/{namespace}/{pod}/{container}", s.serveAttach)
		mux.HandleFunc(m+" /attach/{namespace}/{pod}/{uid}/{container}", s.serveAttach)
		mux.HandleFunc(m+" /portForward/{namespace}/{pod}", s.servePortForward)
		mux.HandleFunc(m+" /portForward/{namespace}/{pod}/{uid}", s.servePortForward)
	}
	ro := s.readOnlyHandler()
	mux.Handle("GET /healthz", ro)
	mux.Handle("GET /pods", ro)
	mux.Handle("GET /stats/summary", ro)
	mux.Handle("GET /metrics", ro)
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if r.TLS == nil || len(r.TLS.PeerCertificates) == 0 {
			http.Error(w, "Unauthorized", http.StatusUnauthorized)
			return
		}
		// The handshake verified the chain against ClientCAs.
		cn := r.TLS.PeerCertificates[0].Subject.CommonName
		if !slices.Contains(s.cfg.AllowedClientNames, cn) {
			http.Error(w, fmt.Sprintf("Forbidden (user=%s, verb=%s, path=%s)", cn, r.Method, r.URL.Path), http.StatusForbidden)
			return
		}
		mux.ServeHTTP(w, r)
	})
}

// findPod returns the agent's pod namespace/name, and checks that it has
// container (when not ""), answering 404 as a kubelet does otherwise.
func (s *Server) findPod(w http.ResponseWriter, namespace, name, container string) (*corev1.Pod, bool) {
	for _, p := range s.backend.Pods() {
		if p.Namespace != namespace || p.Name != name {
			continue
		}
		if container == "" || hasContainer(&p, container) {
			return &p, true
		}
		http.Error(w, fmt.Sprintf("container %q not found in pod %q", container, namespace+"/"+name), http.StatusNotFound)
		return nil, false
	}
	http.Error(w, fmt.Sprintf("pod %q not found", namespace+"/"+name), http.StatusNotFound)
	return nil, false
}

func hasContainer(p *corev1.Pod, name string) bool {
	for _, c := range p.Spec.InitContainers {
		if c.Name == name {
			return true
		}
	}
	for _, c := range p.Spec.Containers {
		if c.Name == name {
			return true
		}
	}
	for _, c := range p.Spec.EphemeralContainers {
		if c.Name == name {
			return true
		}
	}
	return false
}
