// Package cli is the sqlkube command tree: the root command, its global
// flags and one file per subcommand.
//
// cli owns flags and wiring: it parses options, builds the logger and the
// components a subcommand needs, and runs them. It holds no cluster logic of
// its own; that lives in the component packages (cluster, server, node,
// ...). It is the process's composition: it opens the cluster (package
// cluster: the store and the identity) once, runs its compaction, hands it
// to every face that needs it, and closes it last.
//
// The only entry point for the binary is Execute; NewRootCommand exists so
// that tests can run commands with their own arguments and output.
package cli
