package cli

import (
	"context"
	"fmt"
	"io"
	"log/slog"
	"os"
	"os/signal"
	"syscall"

	"github.com/spf13/cobra"
	"k8s.io/klog/v2"
)

// globalOptions holds the root command's persistent flags and what is built
// from them before any subcommand runs.
type globalOptions struct {
	logLevel string
	logger   *slog.Logger // set in PersistentPreRunE
}

// Execute runs the sqlkube command line with os.Args. The context passed to
// commands is cancelled on SIGINT or SIGTERM. Errors are printed by cobra;
// the caller only chooses the exit code.
func Execute() error {
	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt, syscall.SIGTERM)
	defer stop()
	return NewRootCommand(os.Stderr).ExecuteContext(ctx)
}

// NewRootCommand returns the sqlkube root command with all subcommands.
// Logs go to logOut.
func NewRootCommand(logOut io.Writer) *cobra.Command {
	opts := &globalOptions{}
	cmd := &cobra.Command{
		Use:           "sqlkube",
		Short:         "A Kubernetes-style container orchestrator whose store is SQL",
		SilenceUsage:  true,
		SilenceErrors: false,
		PersistentPreRunE: func(cmd *cobra.Command, args []string) error {
			level, err := parseLogLevel(opts.logLevel)
			if err != nil {
				return err
			}
			opts.logger = slog.New(slog.NewTextHandler(logOut, &slog.HandlerOptions{Level: level}))
			// client-go logs through klog (event broadcasters, leader
			// election): into the same log, in the same format.
			klog.SetSlogLogger(opts.logger)
			return nil
		},
	}
	cmd.PersistentFlags().StringVar(&opts.logLevel, "log-level", "info", "log level: debug, info, warn or error")
	cmd.AddCommand(newVersionCommand(opts))
	cmd.AddCommand(newServerCommand(opts))
	cmd.AddCommand(newNodeCommand(opts))
	cmd.AddCommand(newProxyCommand(opts))
	cmd.AddCommand(newLogDriverCommand())
	return cmd
}

// parseLogLevel accepts exactly the levels the --log-level flag documents.
func parseLogLevel(s string) (slog.Level, error) {
	switch s {
	case "debug":
		return slog.LevelDebug, nil
	case "info":
		return slog.LevelInfo, nil
	case "warn":
		return slog.LevelWarn, nil
	case "error":
		return slog.LevelError, nil
	}
	return 0, fmt.Errorf("invalid --log-level %q: want debug, info, warn or error", s)
}
