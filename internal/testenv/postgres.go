package testenv

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"io"
	"net"
	"net/url"
	"os"
	"os/exec"
	"os/user"
	"path/filepath"
	"slices"
	"strconv"
	"strings"
	"sync"
	"syscall"
	"time"
)

const (
	// postgresLibDir holds one <version>/bin directory per installed
	// PostgreSQL major version (Debian and Ubuntu layout).
	postgresLibDir = "/usr/lib/postgresql"

	postgresStartTimeout = 30 * time.Second
	postgresStopTimeout  = 10 * time.Second
	postgresStartTries   = 3
	logTailBytes         = 4096
)

// errPortInUse marks a start attempt that lost its port to another process;
// StartPostgres then retries on a new port.
var errPortInUse = errors.New("port in use")

// Postgres is a private PostgreSQL server started for tests. It listens on
// Host:Port with trust authentication for the superuser "postgres" and keeps
// its data, socket and log under Dir. Call Stop when done.
type Postgres struct {
	Host string // always 127.0.0.1
	Port int
	Dir  string // temporary directory: data/ (data directory and socket), postgres.log

	dataDir  string
	logPath  string
	binDir   string
	psqlPath string
	cred     *syscall.Credential // nil: run as the current user
	proc     *Process

	stopOnce sync.Once
	stopErr  error
}

// PostgresBinDir returns the bin directory of the newest PostgreSQL installed
// under /usr/lib/postgresql that contains both initdb and postgres. The error
// wraps ErrNotInstalled when there is none.
func PostgresBinDir() (string, error) {
	dirs, err := filepath.Glob(filepath.Join(postgresLibDir, "*", "bin"))
	if err != nil {
		return "", fmt.Errorf("find PostgreSQL bin directory: %w", err)
	}
	var best string
	var bestVersion []int
	for _, dir := range dirs {
		if !isExecutable(filepath.Join(dir, "initdb")) || !isExecutable(filepath.Join(dir, "postgres")) {
			continue
		}
		v := parseVersion(filepath.Base(filepath.Dir(dir)))
		if best == "" || slices.Compare(v, bestVersion) > 0 {
			best, bestVersion = dir, v
		}
	}
	if best == "" {
		return "", fmt.Errorf("PostgreSQL server (initdb and postgres in %s/*/bin, package postgresql): %w",
			postgresLibDir, ErrNotInstalled)
	}
	return best, nil
}

// StartPostgres initializes a fresh data directory in a new temporary
// directory and starts postgres on a free port of 127.0.0.1, as a child
// process that is killed if the calling process dies. It returns once the
// server accepts connections, or fails after about 30 seconds with the tail
// of the server log. The error wraps ErrNotInstalled when PostgreSQL or psql
// is not installed. The server keeps running after ctx is done; call Stop.
func StartPostgres(ctx context.Context) (*Postgres, error) {
	binDir, err := PostgresBinDir()
	if err != nil {
		return nil, err
	}
	psqlPath, err := findPsql(binDir)
	if err != nil {
		return nil, err
	}
	cred, err := serverCredential()
	if err != nil {
		return nil, err
	}
	dir, err := os.MkdirTemp(os.TempDir(), "sqlkube-postgres-")
	if err != nil {
		return nil, fmt.Errorf("create postgres temp dir: %w", err)
	}
	p := &Postgres{
		Host:     "127.0.0.1",
		Dir:      dir,
		dataDir:  filepath.Join(dir, "data"),
		logPath:  filepath.Join(dir, "postgres.log"),
		binDir:   binDir,
		psqlPath: psqlPath,
		cred:     cred,
	}
	started := false
	defer func() {
		if !started {
			_ = p.Stop() // kills a half-started server and removes dir
		}
	}()

	if err := p.initDataDir(ctx); err != nil {
		return nil, err
	}
	for try := 1; ; try++ {
		port, err := freePort()
		if err != nil {
			return nil, err
		}
		err = p.start(ctx, port)
		if err == nil {
			break
		}
		if try >= postgresStartTries || !errors.Is(err, errPortInUse) {
			return nil, err
		}
	}
	started = true
	return p, nil
}

// URL returns the connection URL of database db on this server.
func (p *Postgres) URL(db string) string {
	host := net.JoinHostPort(p.Host, strconv.Itoa(p.Port))
	return fmt.Sprintf("postgres://postgres@%s/%s?sslmode=disable", host, url.PathEscape(db))
}

// CreateDatabase creates database name and returns its URL. It fails if the
// database exists.
func (p *Postgres) CreateDatabase(ctx context.Context, name string) (string, error) {
	if name == "" {
		return "", errors.New("create database: empty name")
	}
	if _, err := p.psql(ctx, "postgres", "CREATE DATABASE "+quoteIdent(name)); err != nil {
		return "", fmt.Errorf("create database %s: %w", name, err)
	}
	return p.URL(name), nil
}

// Stop shuts the server down (SIGINT, PostgreSQL's fast shutdown; SIGKILL if
// it is still running after 10 seconds) and removes Dir. It is safe to call
// more than once and from several goroutines; later calls return the first
// call's result.
func (p *Postgres) Stop() error {
	p.stopOnce.Do(func() { p.stopErr = p.stop() })
	return p.stopErr
}

func (p *Postgres) stop() error {
	var errs []error
	if p.proc != nil {
		if err := shutdown(p.proc, postgresStopTimeout); err != nil {
			errs = append(errs, fmt.Errorf("stop postgres on port %d: %w\n%s", p.Port, err, p.logTail(0)))
		}
	}
	if err := os.RemoveAll(p.Dir); err != nil {
		errs = append(errs, fmt.Errorf("remove postgres dir %s: %w", p.Dir, err))
	}
	return errors.Join(errs...)
}

// initDataDir creates the directories (owned by the server's user) and runs
// initdb.
func (p *Postgres) initDataDir(ctx context.Context) error {
	// Dir must be traversable by the server's user; the data directory must
	// be private to it or postgres refuses to start.
	if err := os.Chmod(p.Dir, 0o755); err != nil {
		return fmt.Errorf("chmod postgres dir %s: %w", p.Dir, err)
	}
	if err := os.Mkdir(p.dataDir, 0o700); err != nil {
		return fmt.Errorf("create postgres data dir %s: %w", p.dataDir, err)
	}
	if err := os.Chmod(p.dataDir, 0o700); err != nil { // in case of an odd umask
		return fmt.Errorf("chmod postgres data dir %s: %w", p.dataDir, err)
	}
	if p.cred != nil {
		for _, d := range []string{p.Dir, p.dataDir} {
			if err := os.Chown(d, int(p.cred.Uid), int(p.cred.Gid)); err != nil {
				return fmt.Errorf("chown postgres dir %s: %w", d, err)
			}
		}
	}
	cmd := exec.CommandContext(ctx, filepath.Join(p.binDir, "initdb"),
		"-D", p.dataDir, "-A", "trust", "-U", "postgres", "--no-sync",
		"--encoding=UTF8", "--locale=C")
	cmd.Dir = p.Dir
	cmd.Env = postgresEnv()
	cmd.SysProcAttr = &syscall.SysProcAttr{Credential: p.cred, Pdeathsig: syscall.SIGKILL}
	if out, err := cmd.CombinedOutput(); err != nil {
		return fmt.Errorf("initdb %s: %w\n%s", p.dataDir, err, out)
	}
	return nil
}

// start runs postgres on port and waits until it serves queries. On failure
// the process is killed; the error wraps errPortInUse if the port was taken.
func (p *Postgres) start(ctx context.Context, port int) error {
	logFile, err := os.OpenFile(p.logPath, os.O_CREATE|os.O_WRONLY|os.O_APPEND, 0o644)
	if err != nil {
		return fmt.Errorf("open postgres log %s: %w", p.logPath, err)
	}
	logStart, _ := logFile.Seek(0, io.SeekEnd)
	cmd := exec.Command(filepath.Join(p.binDir, "postgres"),
		"-D", p.dataDir,
		"-p", strconv.Itoa(port),
		"-k", p.dataDir,
		"-c", "listen_addresses=127.0.0.1",
		"-c", "max_connections=200")
	cmd.Dir = p.Dir
	cmd.Env = postgresEnv()
	cmd.Stdout = logFile
	cmd.Stderr = logFile
	cmd.SysProcAttr = &syscall.SysProcAttr{Credential: p.cred}
	proc, err := StartProcess(cmd)
	logFile.Close() // the child has its own descriptor
	if err != nil {
		return fmt.Errorf("start postgres on port %d: %w", port, err)
	}
	p.proc, p.Port = proc, port

	if err := p.waitReady(ctx, proc); err != nil {
		proc.Kill()
		p.proc = nil
		tail := p.logTail(logStart)
		if strings.Contains(tail, "could not bind") || strings.Contains(tail, "already in use") {
			err = fmt.Errorf("%w: %w", errPortInUse, err)
		}
		return fmt.Errorf("start postgres on port %d: %w\n--- %s ---\n%s", port, err, p.logPath, tail)
	}
	return nil
}

// waitReady polls with psql until the server on p.Port answers with our data
// directory, the process exits, ctx is done or the start timeout passes.
func (p *Postgres) waitReady(ctx context.Context, proc *Process) error {
	ctx, cancel := context.WithTimeout(ctx, postgresStartTimeout)
	defer cancel()
	for {
		select {
		case <-proc.Done():
			return fmt.Errorf("postgres exited during startup: %v", proc.Err())
		default:
		}
		out, err := p.psql(ctx, "postgres", "select current_setting('data_directory')")
		switch {
		case err == nil && out == p.dataDir:
			return nil
		case err == nil:
			return fmt.Errorf("%w: port %d is served by another PostgreSQL (data directory %s)",
				errPortInUse, p.Port, out)
		}
		select {
		case <-ctx.Done():
			return fmt.Errorf("postgres not ready: %w (last psql error: %v)", ctx.Err(), err)
		case <-proc.Done():
		case <-time.After(100 * time.Millisecond):
		}
	}
}

// psql runs one SQL command against database db as the superuser and returns
// its unaligned, tuples-only output without surrounding whitespace.
func (p *Postgres) psql(ctx context.Context, db, sql string) (string, error) {
	cmd := exec.CommandContext(ctx, p.psqlPath,
		"-X", "-w", "-q", "-v", "ON_ERROR_STOP=1",
		"-h", p.Host, "-p", strconv.Itoa(p.Port), "-U", "postgres", "-d", db,
		"-At", "-c", sql)
	cmd.Env = append(postgresEnv(), "PGCONNECT_TIMEOUT=2")
	var stdout, stderr bytes.Buffer
	cmd.Stdout, cmd.Stderr = &stdout, &stderr
	if err := cmd.Run(); err != nil {
		return "", fmt.Errorf("psql: %w: %s", err, strings.TrimSpace(stderr.String()))
	}
	return strings.TrimSpace(stdout.String()), nil
}

// logTail returns up to logTailBytes from the end of the server log, not
// reading before offset from.
func (p *Postgres) logTail(from int64) string {
	f, err := os.Open(p.logPath)
	if err != nil {
		return fmt.Sprintf("(no log: %v)", err)
	}
	defer f.Close()
	fi, err := f.Stat()
	if err != nil {
		return fmt.Sprintf("(no log: %v)", err)
	}
	from = max(from, fi.Size()-logTailBytes, 0)
	b, err := io.ReadAll(io.NewSectionReader(f, from, fi.Size()-from))
	if err != nil {
		return fmt.Sprintf("(read log: %v)", err)
	}
	return string(b)
}

// shutdown asks postgres for a fast shutdown and kills it if it is still
// running after timeout. It reports an error if the server had already exited
// on its own or had to be killed.
func shutdown(proc *Process, timeout time.Duration) error {
	select {
	case <-proc.Done():
		return fmt.Errorf("exited before Stop: %v", proc.Err())
	default:
	}
	if !proc.Stop(os.Interrupt, timeout) {
		return fmt.Errorf("still running %s after SIGINT; killed", timeout)
	}
	return nil
}

// serverCredential returns the credential initdb and postgres run with: the
// postgres system user when running as root (PostgreSQL refuses to run as
// root), otherwise nil for the current user.
func serverCredential() (*syscall.Credential, error) {
	if os.Getuid() != 0 {
		return nil, nil
	}
	u, err := user.Lookup("postgres")
	if err != nil {
		return nil, fmt.Errorf("look up user postgres to run PostgreSQL as (it refuses to run as root): %w", err)
	}
	uid, err := strconv.ParseUint(u.Uid, 10, 32)
	if err != nil {
		return nil, fmt.Errorf("parse uid %q of user postgres: %w", u.Uid, err)
	}
	gid, err := strconv.ParseUint(u.Gid, 10, 32)
	if err != nil {
		return nil, fmt.Errorf("parse gid %q of user postgres: %w", u.Gid, err)
	}
	return &syscall.Credential{Uid: uint32(uid), Gid: uint32(gid), Groups: []uint32{}}, nil
}

// findPsql returns psql from binDir, or else from PATH.
func findPsql(binDir string) (string, error) {
	if p := filepath.Join(binDir, "psql"); isExecutable(p) {
		return p, nil
	}
	p, err := exec.LookPath("psql")
	if err != nil {
		return "", fmt.Errorf("psql (package postgresql-client) in %s or PATH: %w", binDir, ErrNotInstalled)
	}
	return p, nil
}

// postgresEnv returns the environment without PG* variables, so that
// settings of the user running the tests do not leak into the server or psql.
func postgresEnv() []string {
	return slices.DeleteFunc(os.Environ(), func(kv string) bool {
		return strings.HasPrefix(kv, "PG")
	})
}

// freePort returns a TCP port of 127.0.0.1 that was free a moment ago.
func freePort() (int, error) {
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		return 0, fmt.Errorf("find free port on 127.0.0.1: %w", err)
	}
	defer l.Close()
	return l.Addr().(*net.TCPAddr).Port, nil
}

// parseVersion turns "15" or "9.6" into comparable numbers; parts that are
// not numbers sort first.
func parseVersion(s string) []int {
	var v []int
	for part := range strings.SplitSeq(s, ".") {
		n, err := strconv.Atoi(part)
		if err != nil {
			n = -1
		}
		v = append(v, n)
	}
	return v
}

func isExecutable(path string) bool {
	fi, err := os.Stat(path)
	return err == nil && fi.Mode().IsRegular() && fi.Mode()&0o111 != 0
}

// quoteIdent quotes a PostgreSQL identifier.
func quoteIdent(s string) string {
	return `"` + strings.ReplaceAll(s, `"`, `""`) + `"`
}
