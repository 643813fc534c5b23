// Command logdriver is the sqlkube log driver alone, for the tests of
// package logs to start it the way containerd's shim does (as a binary
// named sqlkube-log-driver with only flags) without building all of
// sqlkube.
package main

import (
	"context"
	"fmt"
	"os"
	"os/signal"
	"syscall"

	"github.com/sqlkube/sqlkube/node/logs"
)

func main() {
	if !logs.IsDriverInvocation(os.Args[0]) {
		fmt.Fprintf(os.Stderr, "%s: must be invoked as %s\n", os.Args[0], logs.DriverName)
		os.Exit(2)
	}
	ctx, stop := signal.NotifyContext(context.Background(), syscall.SIGTERM, os.Interrupt)
	err := logs.RunDriver(ctx, os.Args[1:])
	stop()
	if err != nil {
		fmt.Fprintln(os.Stderr, err)
		os.Exit(1)
	}
}
