// Command sqlkube is the single sqlkube binary; see package cli for its
// commands.
package main

import (
	"os"

	"github.com/sqlkube/sqlkube/cli"
)

func main() {
	if err := cli.Execute(); err != nil {
		os.Exit(1)
	}
}
