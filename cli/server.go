package cli

import (
	"context"
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"time"

	"github.com/spf13/cobra"

	"github.com/sqlkube/sqlkube/controllers/manager"
	"github.com/sqlkube/sqlkube/server"
)

func newServerCommand(opts *globalOptions) *cobra.Command {
	cfg := server.Config{}
	mopts := manager.Options{}
	var controllerList string
	cmd := &cobra.Command{
		Use:   "server",
		Short: "Run the Kubernetes API server on a SQL store",
		Long: `Run the Kubernetes API server. On first start it creates a CA, a serving
certificate and an admin token in the data directory, and it rewrites
DATA-DIR/admin.kubeconfig at every start.`,
		Args: cobra.NoArgs,
		RunE: func(cmd *cobra.Command, args []string) error {
			cfg.Logger = opts.logger
			cfg.Version = Version
			mopts.Logger = opts.logger
			mopts.Controllers = splitList(controllerList)
			if _, err := manager.Enabled(mopts.Controllers); err != nil {
				return fmt.Errorf("--controllers: %w", err)
			}
			s, err := server.New(cmd.Context(), cfg)
			if err != nil {
				return err
			}
			return serveWithControllers(cmd.Context(), s, mopts)
		},
	}
	f := cmd.Flags()
	f.StringVar(&cfg.DataDir, "data-dir", defaultDataDir(), "directory for the identity, the admin kubeconfig and the SQLite database")
	f.StringVar(&cfg.Datastore, "datastore", "", "store URL: sqlite://PATH or postgres://USER@HOST:PORT/DB (default sqlite://DATA-DIR/state.db)")
	f.StringVar(&cfg.BindAddress, "bind-address", "127.0.0.1", "address to serve the API on")
	f.IntVar(&cfg.SecurePort, "secure-port", 6443, "HTTPS port of the API")
	f.StringVar(&cfg.Token, "token", "", "admin bearer token (give every server of a cluster the same one); default: created in the data dir")
	f.StringVar(&cfg.TokenAuthFile, "token-auth-file", "", `static tokens, one per line: token,user,uid,"group1,group2"`)
	f.StringVar(&cfg.ServiceCIDR, "service-cidr", "10.96.0.0/16", "range of Service ClusterIPs")
	f.DurationVar(&cfg.HistoryRetention, "history-retention", 30*24*time.Hour, "how long every change stays in the history (compacted after)")
	f.Int64Var(&cfg.NotReadyTolerationSeconds, "default-not-ready-toleration-seconds", 300, "tolerationSeconds of the not-ready:NoExecute toleration added to pods without one")
	f.Int64Var(&cfg.UnreachableTolerationSeconds, "default-unreachable-toleration-seconds", 300, "tolerationSeconds of the unreachable:NoExecute toleration added to pods without one")
	f.StringVar(&controllerList, "controllers", "*", "controllers to run: '*' is all of them, 'foo' enables foo, '-foo' disables it (known: "+strings.Join(manager.Names(), ", ")+")")
	f.DurationVar(&mopts.NodeMonitorGracePeriod, "node-monitor-grace-period", 40*time.Second, "how long a node may miss Lease renewals before it is marked NotReady")
	f.BoolVar(&mopts.LeaderElection, "leader-elect", true, "run the controllers only in the server holding the kube-system/sqlkube-controller-manager Lease")
	return cmd
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
