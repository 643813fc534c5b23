package cli

import (
	"fmt"

	"github.com/spf13/cobra"
)

// Version is the sqlkube version, set at build time with
// -ldflags "-X github.com/sqlkube/sqlkube/cli.Version=v1.2.3".
var Version = "dev"

func newVersionCommand(opts *globalOptions) *cobra.Command {
	return &cobra.Command{
		Use:   "version",
		Short: "Print the sqlkube version",
		Args:  cobra.NoArgs,
		RunE: func(cmd *cobra.Command, args []string) error {
			opts.logger.Debug("printing version", "version", Version)
			_, err := fmt.Fprintf(cmd.OutOrStdout(), "sqlkube %s\n", Version)
			return err
		},
	}
}
