package cli

import (
	"context"
	"errors"
	"fmt"
	"net/url"
	"os"
	"path/filepath"
	"strings"
	"time"

	"github.com/spf13/cobra"

	"github.com/sqlkube/sqlkube/cluster"
	"github.com/sqlkube/sqlkube/controllers/manager"
	"github.com/sqlkube/sqlkube/controllers/nodeipam"
	"github.com/sqlkube/sqlkube/server"
	"github.com/sqlkube/sqlkube/storage"
)

func newServerCommand(opts *globalOptions) *cobra.Command {
	ccfg := cluster.Config{}
	cfg := server.Config{}
	mopts := manager.Options{}
	var retention time.Duration
	var controllerList, tokenFile, datastorePasswordFile string
	cmd := &cobra.Command{
		Use:   "server",
		Short: "Run the Kubernetes API server on a SQL store",
		Long: `Run the Kubernetes API server. On first start it creates a CA, a serving
certificate and an admin token in the data directory, and it rewrites
DATA-DIR/admin.kubeconfig at every start. It also writes the node join
token to DATA-DIR/node-token, which node agents join the cluster with.

The cluster token comes from --token, --token-file or the environment
variable ` + envToken + `, in that order. The PostgreSQL password comes
from the --datastore URL, --datastore-password-file, the environment
variable ` + envDatastorePassword + `, or PGPASSWORD / PGPASSFILE as for
libpq; it is never logged.`,
		Args: cobra.NoArgs,
		RunE: func(cmd *cobra.Command, args []string) error {
			ccfg.Logger = opts.logger
			cfg.Logger = opts.logger
			cfg.Version = Version
			mopts.Logger = opts.logger
			mopts.Controllers = splitList(controllerList)
			if _, err := manager.Enabled(mopts.Controllers); err != nil {
				return fmt.Errorf("--controllers: %w", err)
			}
			if _, _, err := nodeipam.ParseRanges(mopts.ClusterCIDR, mopts.NodeCIDRMaskSize); err != nil {
				return fmt.Errorf("--cluster-cidr, --node-cidr-mask-size: %w", err)
			}
			var err error
			if ccfg.Token, err = clusterToken(ccfg.Token, tokenFile); err != nil {
				return err
			}
			if ccfg.DatastorePassword, err = datastorePassword(ccfg.Datastore, datastorePasswordFile); err != nil {
				return err
			}
			return runServer(cmd.Context(), ccfg, cfg, storage.Retention{MinAge: retention}, mopts)
		},
	}
	f := cmd.Flags()
	f.StringVar(&ccfg.DataDir, "data-dir", defaultDataDir(), "directory for the identity, the admin kubeconfig and the SQLite database")
	f.StringVar(&ccfg.Datastore, "datastore", "", "store URL: sqlite://PATH or postgres://USER@HOST:PORT/DB (default sqlite://DATA-DIR/state.db)")
	f.StringVar(&cfg.BindAddress, "bind-address", "127.0.0.1", "address to serve the API on")
	f.IntVar(&cfg.SecurePort, "secure-port", 6443, "HTTPS port of the API")
	f.StringVar(&ccfg.Token, "token", "", "admin bearer token (give every server of a cluster the same one); default: $"+envToken+", else created in the data dir")
	f.StringVar(&tokenFile, "token-file", "", "file holding the admin bearer token (surrounding white space is trimmed); instead of --token")
	cmd.MarkFlagsMutuallyExclusive("token", "token-file")
	f.StringVar(&datastorePasswordFile, "datastore-password-file", "", "file holding the PostgreSQL password (a final newline is dropped), for a --datastore URL without one; default: $"+envDatastorePassword+", then PGPASSWORD")
	f.StringVar(&cfg.TokenAuthFile, "token-auth-file", "", `static tokens, one per line: token,user,uid,"group1,group2"`)
	f.StringVar(&cfg.ServiceCIDR, "service-cidr", "10.96.0.0/16", "range of Service ClusterIPs")
	f.IntVar(&cfg.MaxRequestsInFlight, "max-requests-inflight", 400, "reads served at once; beyond it a request gets 429 (the admin and the control plane are not counted)")
	f.IntVar(&cfg.MaxMutatingRequestsInFlight, "max-mutating-requests-inflight", 200, "writes served at once; beyond it a request gets 429")
	f.IntVar(&cfg.MaxLongRunningInFlight, "max-long-running-requests-inflight", 2000, "watches, logs, exec and port-forwards served at once; beyond it a request gets 429")
	f.StringSliceVar(&cfg.TLSSANs, "tls-san", nil, "extra host name or IP address the serving certificate covers (repeatable, or comma-separated), beyond localhost, the bind address and the kubernetes Service's names and ClusterIP")
	f.DurationVar(&retention, "history-retention", cluster.DefaultHistoryRetention, "how long every change stays in the history (compacted after)")
	f.Int64Var(&cfg.NotReadyTolerationSeconds, "default-not-ready-toleration-seconds", 300, "tolerationSeconds of the not-ready:NoExecute toleration added to pods without one")
	f.Int64Var(&cfg.UnreachableTolerationSeconds, "default-unreachable-toleration-seconds", 300, "tolerationSeconds of the unreachable:NoExecute toleration added to pods without one")
	f.StringVar(&controllerList, "controllers", "*", "controllers to run: '*' is all of them, 'foo' enables foo, '-foo' disables it (known: "+strings.Join(manager.Names(), ", ")+")")
	f.DurationVar(&mopts.NodeMonitorGracePeriod, "node-monitor-grace-period", 40*time.Second, "how long a node may miss Lease renewals before it is marked NotReady")
	f.StringVar(&mopts.ClusterCIDR, "cluster-cidr", nodeipam.DefaultClusterCIDR, "pod range the nodes' pod ranges are cut from (the nodeipam controller)")
	f.IntVar(&mopts.NodeCIDRMaskSize, "node-cidr-mask-size", nodeipam.DefaultNodeCIDRMaskSize, "prefix length of each node's pod range")
	f.BoolVar(&mopts.LeaderElection, "leader-elect", true, "run the controllers only in the server holding the kube-system/sqlkube-controller-manager Lease")
	return cmd
}

// The environment variables the server command reads secrets from, so that
// they need not be on its command line (where ps shows them).
const (
	envToken             = "SQLKUBE_TOKEN"
	envDatastorePassword = "SQLKUBE_DATASTORE_PASSWORD"
)

// openCluster is cluster.Open; tests replace it to see the configuration
// that a command line makes.
var openCluster = cluster.Open

// runServer is the composition of `sqlkube server`: it opens the cluster
// (the store and the identity, once), compacts its history, and serves the
// API with the controllers beside it until ctx ends; the store is closed
// last, once the server and compaction have stopped.
func runServer(ctx context.Context, ccfg cluster.Config, cfg server.Config, keep storage.Retention, mopts manager.Options) error {
	c, err := openCluster(ctx, ccfg)
	if err != nil {
		return err
	}
	defer c.Close()
	s, err := server.New(ctx, cfg, c)
	if err != nil {
		return err
	}
	if cfg.Logger != nil {
		cfg.Logger.Info("node join token written", "path", c.NodeTokenPath())
	}
	cctx, stopCompaction := context.WithCancel(ctx)
	compacted := make(chan struct{})
	go func() { defer close(compacted); c.RunCompaction(cctx, keep, 0) }()
	defer func() { stopCompaction(); <-compacted }()
	return serveWithControllers(ctx, s, mopts)
}

// clusterToken is --token, else the content of --token-file, else
// $SQLKUBE_TOKEN; "" lets the cluster use (or create) the data dir's.
func clusterToken(token, file string) (string, error) {
	if token != "" {
		return token, nil
	}
	if file != "" {
		b, err := os.ReadFile(file)
		if err != nil {
			return "", fmt.Errorf("--token-file: %w", err)
		}
		if token = strings.TrimSpace(string(b)); token == "" {
			return "", fmt.Errorf("--token-file %s is empty", file)
		}
		return token, nil
	}
	return strings.TrimSpace(os.Getenv(envToken)), nil
}

// datastorePassword is the PostgreSQL password to give the store apart
// from the URL: the content of --datastore-password-file, else
// $SQLKUBE_DATASTORE_PASSWORD when the URL has no password.
func datastorePassword(datastore, file string) (string, error) {
	postgres := strings.HasPrefix(datastore, "postgres://") || strings.HasPrefix(datastore, "postgresql://")
	inURL := false
	if u, err := url.Parse(datastore); err == nil && postgres {
		_, inURL = u.User.Password()
		inURL = inURL || u.Query().Has("password")
	}
	if file != "" {
		if !postgres {
			return "", errors.New("--datastore-password-file: only a postgres:// --datastore takes a password")
		}
		if inURL {
			return "", errors.New("--datastore-password-file: the --datastore URL has a password already; give it in one place")
		}
		b, err := os.ReadFile(file)
		if err != nil {
			return "", fmt.Errorf("--datastore-password-file: %w", err)
		}
		pw := strings.TrimRight(string(b), "\r\n")
		if pw == "" {
			return "", fmt.Errorf("--datastore-password-file %s is empty", file)
		}
		return pw, nil
	}
	if !postgres || inURL {
		return "", nil
	}
	return os.Getenv(envDatastorePassword), nil
}

// serveWithControllers serves the API and runs the controllers beside it,
// as clients of it, until ctx ends or either fails. On the way out the
// controllers stop first, while the API still serves, so that the leader
// Lease is released and another server takes over at once.
func serveWithControllers(ctx context.Context, s *server.Server, opts manager.Options) error {
	mctx, stopManager := context.WithCancel(ctx)
	defer stopManager()
	sctx, stopServer := context.WithCancel(context.WithoutCancel(ctx))
	defer stopServer()
	managerDone := make(chan error, 1)
	go func() { managerDone <- manager.Run(mctx, s.Loopback, opts) }()
	serverDone := make(chan error, 1)
	go func() { serverDone <- s.Run(sctx) }()

	var err error
	select {
	case <-ctx.Done():
	case err = <-serverDone:
		stopManager()
		<-managerDone
		return err
	case err = <-managerDone:
		if err != nil {
			err = fmt.Errorf("controllers: %w", err)
		}
		stopServer()
		if serr := <-serverDone; err == nil {
			err = serr
		}
		return err
	}
	stopManager()
	select {
	case err = <-managerDone:
		if err != nil {
			err = fmt.Errorf("controllers: %w", err)
		}
	case <-time.After(10 * time.Second):
		err = errors.New("controllers did not stop within 10s")
	}
	stopServer()
	if serr := <-serverDone; err == nil {
		err = serr
	}
	return err
}

// splitList splits a comma-separated flag value, dropping empty items.
func splitList(v string) []string {
	out := []string{}
	for _, s := range strings.Split(v, ",") {
		if s = strings.TrimSpace(s); s != "" {
			out = append(out, s)
		}
	}
	return out
}

// defaultDataDir is /var/lib/sqlkube for root, else the user's data dir.
func defaultDataDir() string {
	if os.Geteuid() == 0 {
		return "/var/lib/sqlkube"
	}
	if d, err := os.UserConfigDir(); err == nil {
		return filepath.Join(d, "sqlkube")
	}
	return ".sqlkube"
}
