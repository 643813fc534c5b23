package cli

import (
	"os"
	"path/filepath"
	"time"

	"github.com/spf13/cobra"

	"github.com/sqlkube/sqlkube/server"
)

func newServerCommand(opts *globalOptions) *cobra.Command {
	cfg := server.Config{}
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
			s, err := server.New(cmd.Context(), cfg)
			if err != nil {
				return err
			}
			return s.Run(cmd.Context())
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
	return cmd
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
