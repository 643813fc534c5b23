// Command sqlkube is the single sqlkube binary; see package cli for its
// commands.
package main

import (
	"os"

	"github.com/sqlkube/sqlkube/cli"
	"github.com/sqlkube/sqlkube/node/logs"
)

func main() {
	// containerd's shim starts the log driver through a link named after
	// it, with flags only.
	if logs.IsDriverInvocation(os.Args[0]) {
		os.Args = append([]string{os.Args[0], "log-driver"}, os.Args[1:]...)
	}
	if err := cli.Execute(); err != nil {
		os.Exit(1)
	}
}
