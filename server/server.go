package server

import (
	"context"
	"crypto/tls"
	"fmt"
	"log/slog"
	"net"
	"net/http"
	"path/filepath"
	"slices"
	"strconv"
	"strings"
	"sync/atomic"
	"time"

	"github.com/labstack/echo/v4"
	"k8s.io/client-go/rest"

	"github.com/sqlkube/sqlkube/cluster"
	"github.com/sqlkube/sqlkube/server/openapi"
	"github.com/sqlkube/sqlkube/server/registry"
	"github.com/sqlkube/sqlkube/storage"
)

// Config configures a Server. The store, the identity and the data
// directory come from the cluster New is given.
type Config struct {
	// BindAddress and SecurePort are where the API is served (HTTPS).
	BindAddress string
	SecurePort  int
	// TokenAuthFile is a kube-style static token file:
	// token,user,uid,"group1,group2".
	TokenAuthFile string
	// ServiceCIDR is the range Service ClusterIPs come from (default
	// 10.96.0.0/16); its first address is the kubernetes Service's.
	ServiceCIDR string
	// TLSSANs are extra host names and IP addresses the serving
	// certificate covers (--tls-san), beyond localhost, the bind address,
	// the kubernetes Service's names and its ClusterIP.
	TLSSANs []string
	// ServiceAccountIssuer is the iss of the service-account tokens the
	// server issues and the audience they must have to be used against
	// the API (default https://kubernetes.default.svc.cluster.local,
	// Kubernetes' usual --service-account-issuer).
	ServiceAccountIssuer string
	// MaxBodyBytes caps request bodies (default 3 MiB, like Kubernetes)
	// and the objects a write may store.
	MaxBodyBytes int64
	// MaxRequestsInFlight and MaxMutatingRequestsInFlight bound the read
	// and the write requests served at once (default 400 and 200, as
	// kube-apiserver's flags of the same names); MaxLongRunningInFlight
	// bounds watches, logs, exec and port-forwards (default 2,000).
	// Beyond them a request is answered 429 with Retry-After. Requests of
	// system:masters are not counted.
	MaxRequestsInFlight         int
	MaxMutatingRequestsInFlight int
	MaxLongRunningInFlight      int
	// ReadHeaderTimeout bounds the TLS handshake and the arrival of a
	// request's headers (default 10 s; kube-apiserver's is 32 s), and
	// IdleTimeout how long a connection with no request in flight stays
	// open, for HTTP/2 too (default 20 s). BodyTimeout bounds the arrival
	// of a request body (default 15 s): a client trickling one would
	// otherwise hold its connection and in-flight slot.
	ReadHeaderTimeout time.Duration
	IdleTimeout       time.Duration
	BodyTimeout       time.Duration
	// BookmarkInterval is how often a watch that allows bookmarks gets
	// one (default 1 minute, like kube-apiserver).
	BookmarkInterval time.Duration
	// NotReadyTolerationSeconds and UnreachableTolerationSeconds are the
	// tolerationSeconds of the not-ready and unreachable NoExecute
	// tolerations added to every pod that has none (default 300).
	NotReadyTolerationSeconds    int64
	UnreachableTolerationSeconds int64
	// Version is sqlkube's version, reported by /version.
	Version string
	Logger  *slog.Logger
}

func (c *Config) setDefaults() {
	if c.BindAddress == "" {
		c.BindAddress = "127.0.0.1"
	}
	if c.SecurePort == 0 {
		c.SecurePort = 6443
	}
	if c.ServiceCIDR == "" {
		c.ServiceCIDR = "10.96.0.0/16"
	}
	if c.ServiceAccountIssuer == "" {
		c.ServiceAccountIssuer = defaultServiceAccountIssuer
	}
	if c.BookmarkInterval <= 0 {
		c.BookmarkInterval = time.Minute
	}
	if c.NotReadyTolerationSeconds <= 0 {
		c.NotReadyTolerationSeconds = 300
	}
	if c.UnreachableTolerationSeconds <= 0 {
		c.UnreachableTolerationSeconds = 300
	}
	if c.MaxBodyBytes == 0 {
		c.MaxBodyBytes = 3 << 20
	}
	if c.MaxRequestsInFlight <= 0 {
		c.MaxRequestsInFlight = 400
	}
	if c.MaxMutatingRequestsInFlight <= 0 {
		c.MaxMutatingRequestsInFlight = 200
	}
	if c.MaxLongRunningInFlight <= 0 {
		c.MaxLongRunningInFlight = 2000
	}
	if c.ReadHeaderTimeout <= 0 {
		c.ReadHeaderTimeout = 10 * time.Second
	}
	if c.IdleTimeout <= 0 {
		c.IdleTimeout = 20 * time.Second
	}
	if c.BodyTimeout <= 0 {
		c.BodyTimeout = 15 * time.Second
	}
	if c.Logger == nil {
		c.Logger = slog.New(slog.DiscardHandler)
	}
}

// Server is the Kubernetes API server over the SQL store.
type Server struct {
	cfg     Config
	log     *slog.Logger
	cluster *cluster.Cluster
	store   *storage.Store
	reg     *registry.Registry
	codec   *codec
	// serving is the serving certificate, issued by the cluster's CA.
	serving tls.Certificate
	users   *authenticator
	e       *echo.Echo
	ready   atomic.Bool
	metrics *metrics
	// namespaces caches which namespaces exist, for creates.
	namespaces namespaceCache
	// runCtx is Run's context, for background work such as metrics.
	runCtx  atomic.Pointer[context.Context]
	openapi *openapi.Documents
	// fields holds the field managers of server-side apply.
	fields *fieldManagers
	// serviceNet is the parsed ServiceCIDR.
	serviceNet *net.IPNet
	// inflight bounds the requests served at once.
	inflight *inflight
	// authz decides every request (system:masters, Node, RBAC).
	authz *authorizer
	// tokens issues and checks service-account tokens.
	tokens *tokenAuthority
	// agents dials node agents with the server's kubelet-client
	// certificate.
	agents *http.Transport
}

// maxHeaderBytes bounds a request's headers, as in kube-apiserver.
const maxHeaderBytes = 1 << 20

// New prepares a server over c, an opened cluster: its serving
// certificate in the cluster's data directory, and the bootstrap objects
// in its store. Run serves it. The server neither opens nor closes the
// store: whoever opened the cluster closes it once Run has returned.
func New(ctx context.Context, cfg Config, c *cluster.Cluster) (*Server, error) {
	cfg.setDefaults()
	_, serviceNet, err := net.ParseCIDR(cfg.ServiceCIDR)
	if err != nil {
		return nil, fmt.Errorf("service CIDR %q: %w", cfg.ServiceCIDR, err)
	}
	if ones, bits := serviceNet.Mask.Size(); bits-ones < 3 {
		return nil, fmt.Errorf("service CIDR %q is too small", cfg.ServiceCIDR)
	}
	codec, err := newCodec()
	if err != nil {
		return nil, err
	}
	serving, err := servingCertificate(c, servingHosts(cfg, serviceNet))
	if err != nil {
		return nil, err
	}
	users, err := newAuthenticator(c.AdminToken, cfg.TokenAuthFile)
	if err != nil {
		return nil, err
	}
	signer, err := newTokenSigner(c.ServiceAccountKey)
	if err != nil {
		return nil, err
	}
	st := c.Store
	tokens := &tokenAuthority{signer: signer, issuer: cfg.ServiceAccountIssuer, apiAudiences: []string{cfg.ServiceAccountIssuer}, store: st, now: time.Now}
	users.sa = tokens
	docs, err := buildOpenAPI(registry.Builtin())
	if err != nil {
		return nil, fmt.Errorf("build OpenAPI documents: %w", err)
	}
	s := &Server{openapi: docs, fields: &fieldManagers{scheme: codec.scheme}, cfg: cfg, log: cfg.Logger, cluster: c, store: st, reg: registry.Builtin(), codec: codec, serving: serving, users: users, serviceNet: serviceNet, authz: newAuthorizer(st), tokens: tokens}
	if err := s.bootstrap(ctx); err != nil {
		return nil, err
	}
	if err := s.bootstrapPolicy(ctx); err != nil {
		return nil, err
	}
	if s.agents, err = agentTransport(c); err != nil {
		return nil, err
	}
	s.inflight = newInflight(cfg.MaxRequestsInFlight, cfg.MaxMutatingRequestsInFlight, cfg.MaxLongRunningInFlight)
	s.metrics = newMetrics(s)
	s.e = s.routes()
	s.ready.Store(true)
	return s, nil
}

// servingHosts are the names and addresses the serving certificate
// covers: localhost, the bind address, the kubernetes Service's DNS names
// and ClusterIP (what pods use to reach the API), and every --tls-san.
func servingHosts(cfg Config, serviceNet *net.IPNet) []string {
	hosts := []string{"127.0.0.1", "localhost", "::1"}
	if cfg.BindAddress != "0.0.0.0" && cfg.BindAddress != "::" {
		hosts = append(hosts, cfg.BindAddress)
	}
	hosts = append(hosts, "kubernetes", "kubernetes.default", "kubernetes.default.svc", "kubernetes.default.svc.cluster.local",
		serviceIPIn(serviceNet, -1).String())
	for _, h := range cfg.TLSSANs {
		if h = strings.TrimSpace(h); h != "" && !slices.Contains(hosts, h) {
			hosts = append(hosts, h)
		}
	}
	return hosts
}

// ctx returns Run's context, or a background one before Run.
func (s *Server) ctx() context.Context {
	if c := s.runCtx.Load(); c != nil {
		return *c
	}
	return context.Background()
}

// URL returns the address clients use.
func (s *Server) URL() string {
	host := s.cfg.BindAddress
	if host == "0.0.0.0" || host == "::" {
		host = "127.0.0.1"
	}
	return "https://" + net.JoinHostPort(host, strconv.Itoa(s.cfg.SecurePort))
}

// Loopback returns a client configuration for a component running in this
// process (the scheduler, a controller): the server's own address and CA,
// and a bearer token minted for user, valid until the process exits. The
// user may do what RBAC grants it: the bootstrap policy has a role for
// each controller (system:controller:NAME), the scheduler and the
// controller manager, as Kubernetes does. Every write it makes is
// recorded in history as user.
func (s *Server) Loopback(name string) (*rest.Config, error) {
	token, err := cluster.NewToken()
	if err != nil {
		return nil, fmt.Errorf("loopback token for %s: %w", name, err)
	}
	s.users.addLoopback(token, user{Name: name, Groups: []string{groupAuthenticated}})
	return &rest.Config{
		Host:            s.URL(),
		BearerToken:     token,
		TLSClientConfig: rest.TLSClientConfig{CAData: s.cluster.CAPEM},
		UserAgent:       name,
		QPS:             -1,
	}, nil
}

// KubeconfigPath is where the admin kubeconfig is written.
func (s *Server) KubeconfigPath() string { return filepath.Join(s.cluster.DataDir, kubeconfigFile) }

// Run serves the API until ctx ends, then shuts down gracefully. It writes
// the admin kubeconfig once it listens. The store stays open.
func (s *Server) Run(ctx context.Context) error {
	s.runCtx.Store(&ctx)
	ln, err := net.Listen("tcp", net.JoinHostPort(s.cfg.BindAddress, strconv.Itoa(s.cfg.SecurePort)))
	if err != nil {
		return fmt.Errorf("listen on %s:%d: %w", s.cfg.BindAddress, s.cfg.SecurePort, err)
	}
	if err := writeKubeconfig(s.KubeconfigPath(), s.URL(), s.cluster.CAPEM, s.cluster.AdminToken); err != nil {
		ln.Close()
		return err
	}
	hs := &http.Server{
		Handler:           s.e,
		TLSConfig:         s.tlsConfig(),
		ReadHeaderTimeout: s.cfg.ReadHeaderTimeout,
		IdleTimeout:       s.cfg.IdleTimeout,
		MaxHeaderBytes:    maxHeaderBytes,
		ErrorLog:          slog.NewLogLogger(s.log.Handler(), slog.LevelDebug),
		BaseContext:       func(net.Listener) context.Context { return ctx },
	}
	errc := make(chan error, 1)
	go func() { errc <- hs.ServeTLS(ln, "", "") }()
	go s.aggregateLoop(ctx)
	go s.namespaces.run(ctx, s.store, s.log)
	go s.tokenSecretsLoop(ctx)
	s.log.Info("serving the Kubernetes API", "url", s.URL(), "datastore", s.cluster.Datastore())
	select {
	case err := <-errc:
		return fmt.Errorf("serve: %w", err)
	case <-ctx.Done():
	}
	s.ready.Store(false)
	sctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
	defer cancel()
	_ = hs.Shutdown(sctx)
	return nil
}
