package logs

import (
	"context"
	"errors"
	"fmt"
	"io"
	"os"
	"path/filepath"
	"sync"
	"syscall"
	"time"

	"github.com/spf13/pflag"
	"k8s.io/apimachinery/pkg/api/resource"
)

// DriverName is the name under which the sqlkube binary runs as a log
// driver without a subcommand: containerd's shim starts a logging binary
// with only the query of its URI as arguments (--path F --max-size N, in
// any order), so the runtime points cio.BinaryIO at a symlink of this name
// to the sqlkube executable.
const DriverName = "sqlkube-log-driver"

// DefaultDrainTimeout is how long the driver keeps reading after SIGTERM
// when --drain-timeout is not given; the shim kills it 12s after SIGTERM.
const DefaultDrainTimeout = 10 * time.Second

// IsDriverInvocation reports whether argv0, a process's os.Args[0], names
// the log driver (see DriverName).
func IsDriverInvocation(argv0 string) bool {
	return filepath.Base(argv0) == DriverName
}

// RunDriver runs the log driver of one container as started by
// containerd's shim (runtime v2 binary logging): the container's stdout on
// fd 3, its stderr on fd 4, and fd 5 to close once the log file is open,
// upon which the shim starts the container. args are the flags, in any
// order:
//
//	--path FILE          the log file (required, absolute)
//	--max-size SIZE      rotate after SIZE bytes (a quantity: 10Mi); default 10Mi
//	--max-files N        files kept including the live one; default 5
//	--drain-timeout D    how long to read on after ctx ends; default 10s
//
// RunDriver returns when both streams end, which the shim causes when the
// task is deleted. When ctx ends first (the shim sends SIGTERM right after
// closing its ends of the pipes), it keeps reading until the streams end
// or the drain timeout passes, then writes unterminated lines and returns.
func RunDriver(ctx context.Context, args []string) error {
	var files [3]*os.File
	for i, name := range []string{"container stdout", "container stderr", "ready pipe"} {
		fd := 3 + i
		var st syscall.Stat_t
		if err := syscall.Fstat(fd, &st); err != nil {
			return fmt.Errorf("log driver: fd %d (%s) is not open: the driver must be started by containerd's shim: %w", fd, name, err)
		}
		files[i] = os.NewFile(uintptr(fd), name)
	}
	defer files[0].Close()
	defer files[1].Close()
	return runDriver(ctx, files[0], files[1], files[2], args)
}

// driverFlags are the parsed arguments of the driver.
type driverFlags struct {
	path         string
	maxSize      int64
	maxFiles     int
	drainTimeout time.Duration
}

func parseDriverFlags(args []string) (driverFlags, error) {
	fs := pflag.NewFlagSet(DriverName, pflag.ContinueOnError)
	fs.SetOutput(io.Discard)
	var (
		f       driverFlags
		maxSize string
	)
	fs.StringVar(&f.path, "path", "", "log file")
	fs.StringVar(&maxSize, "max-size", "", "rotate after this many bytes")
	fs.IntVar(&f.maxFiles, "max-files", DefaultMaxFiles, "files kept including the live one")
	fs.DurationVar(&f.drainTimeout, "drain-timeout", DefaultDrainTimeout, "how long to read on after SIGTERM")
	if err := fs.Parse(args); err != nil {
		return f, fmt.Errorf("log driver: %w", err)
	}
	if fs.NArg() > 0 {
		return f, fmt.Errorf("log driver: unexpected arguments %q", fs.Args())
	}
	if f.path == "" || !filepath.IsAbs(f.path) {
		return f, fmt.Errorf("log driver: --path must be an absolute file name, got %q", f.path)
	}
	f.maxSize = DefaultMaxSize
	if maxSize != "" {
		q, err := resource.ParseQuantity(maxSize)
		if err != nil {
			return f, fmt.Errorf("log driver: --max-size %q: %w", maxSize, err)
		}
		if f.maxSize = q.Value(); f.maxSize <= 0 {
			return f, fmt.Errorf("log driver: --max-size %q must be positive", maxSize)
		}
	}
	if f.maxFiles < 1 {
		return f, fmt.Errorf("log driver: --max-files %d must be at least 1", f.maxFiles)
	}
	return f, nil
}

// runDriver is RunDriver with its file descriptors passed in.
func runDriver(ctx context.Context, stdout, stderr io.Reader, ready io.Closer, args []string) error {
	flags, err := parseDriverFlags(args)
	if err != nil {
		return err
	}
	w, err := NewWriter(WriterConfig{Path: flags.path, MaxSize: flags.maxSize, MaxFiles: flags.maxFiles})
	if err != nil {
		return fmt.Errorf("log driver: %w", err)
	}
	if err := ready.Close(); err != nil {
		w.Close()
		return fmt.Errorf("log driver for %s: signal ready: %w", flags.path, err)
	}

	var (
		wg   sync.WaitGroup
		mu   sync.Mutex
		errs []error
	)
	for _, s := range []struct {
		stream Stream
		r      io.Reader
	}{{Stdout, stdout}, {Stderr, stderr}} {
		wg.Go(func() {
			if err := w.Copy(s.stream, s.r); err != nil {
				mu.Lock()
				errs = append(errs, err)
				mu.Unlock()
			}
		})
	}
	finished := make(chan struct{})
	go func() {
		wg.Wait()
		close(finished)
	}()

	select {
	case <-finished:
	case <-ctx.Done():
		timer := time.NewTimer(flags.drainTimeout)
		select {
		case <-finished:
		case <-timer.C:
		}
		timer.Stop()
	}
	// Copies still blocked in a read after the drain timeout end with the
	// process; Close writes what they had buffered.
	err = w.Close()
	mu.Lock()
	defer mu.Unlock()
	if err := errors.Join(append(errs, err)...); err != nil {
		return fmt.Errorf("log driver: %w", err)
	}
	return nil
}
