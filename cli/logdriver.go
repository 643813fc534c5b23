package cli

import (
	"github.com/spf13/cobra"

	"github.com/sqlkube/sqlkube/node/logs"
)

// newLogDriverCommand is the hidden `sqlkube log-driver` command: the
// logging binary containerd's shim starts for each container (see
// logs.RunDriver). The shim passes only flags, so main also runs it when
// the binary is invoked as logs.DriverName, by inserting "log-driver" into
// os.Args. Flags are parsed by logs.RunDriver, which accepts them in any
// order; the context ends on SIGTERM, upon which the driver drains the
// container's pipes and exits.
func newLogDriverCommand() *cobra.Command {
	return &cobra.Command{
		Use:                "log-driver --path FILE [--max-size SIZE] [--max-files N] [--drain-timeout D]",
		Short:              "Write a container's output to a CRI log file (started by containerd's shim)",
		Hidden:             true,
		DisableFlagParsing: true,
		RunE: func(cmd *cobra.Command, args []string) error {
			return logs.RunDriver(cmd.Context(), args)
		},
	}
}
