// Package logs owns the container log files of a sqlkube node: writing a
// container's stdout and stderr into a file in the CRI log format with
// size-based rotation, and reading such files back for `kubectl logs`.
//
// Each line of a file is one record:
//
//	2026-12-04T17:42:44.123456789Z stdout F hello
//
// a UTC timestamp in TimeFormat, the stream, a tag and the content. A line
// of output longer than MaxLineSize is split into records tagged P
// (partial) followed by one tagged F (full); output that ends without a
// newline is written as a P record, as containerd's CRI plugin does. When
// the live file would grow beyond its maximum size it is renamed FILE.1
// (FILE.1 becomes FILE.2 and so on, the oldest beyond the kept count is
// deleted) and a new FILE is started.
//
// The writing side is a log driver that containerd's shim starts for each
// container (RunDriver, reached as `sqlkube log-driver` or through a
// symlink named DriverName, see IsDriverInvocation), so logs keep flowing
// while the node agent restarts. Writer is the part that formats and
// rotates; it may be used directly.
//
// Read serves a log the way the kubelet does: tail, since, timestamps,
// byte limit and follow, across rotated files. Paths lists a log's files
// and Remove deletes them.
//
// The package does not choose where logs live nor when they are removed;
// the node agent does. A Writer is safe for one Copy per stream at a time
// plus Close; Read may run concurrently with the writer and other readers.
package logs
