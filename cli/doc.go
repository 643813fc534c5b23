// Package cli is the sqlkube command tree: the root command, its global
// flags and one file per subcommand.
//
// cli owns flags and wiring: it parses options, builds the logger and the
// components a subcommand needs, and runs them. It holds no cluster logic of
// its own; that lives in the component packages (storage, server, node, ...).
//
// The only entry point for the binary is Execute; NewRootCommand exists so
// that tests can run commands with their own arguments and output.
package cli
