package logs

import (
	"context"
	"errors"
	"io"
	"net/url"
	"os"
	"os/exec"
	"path/filepath"
	"runtime"
	"slices"
	"syscall"
	"testing"
	"time"
)

func TestParseDriverFlags(t *testing.T) {
	for _, tc := range []struct {
		name    string
		args    []string
		want    driverFlags
		wantErr bool
	}{
		{"defaults", []string{"--path", "/l/c.log"}, driverFlags{"/l/c.log", DefaultMaxSize, DefaultMaxFiles, DefaultDrainTimeout}, false},
		{"any order", []string{"--max-files", "3", "--drain-timeout", "1s", "--path", "/l/c.log", "--max-size", "1Mi"},
			driverFlags{"/l/c.log", 1 << 20, 3, time.Second}, false},
		{"plain bytes", []string{"--max-size", "4096", "--path", "/l/c.log"}, driverFlags{"/l/c.log", 4096, DefaultMaxFiles, DefaultDrainTimeout}, false},
		{"no path", []string{"--max-size", "1Mi"}, driverFlags{}, true},
		{"relative path", []string{"--path", "c.log"}, driverFlags{}, true},
		{"bad size", []string{"--path", "/l/c.log", "--max-size", "lots"}, driverFlags{}, true},
		{"zero size", []string{"--path", "/l/c.log", "--max-size", "0"}, driverFlags{}, true},
		{"zero files", []string{"--path", "/l/c.log", "--max-files", "0"}, driverFlags{}, true},
		{"unknown flag", []string{"--path", "/l/c.log", "--color", "red"}, driverFlags{}, true},
		{"stray argument", []string{"--path", "/l/c.log", "extra"}, driverFlags{}, true},
	} {
		t.Run(tc.name, func(t *testing.T) {
			got, err := parseDriverFlags(tc.args)
			if tc.wantErr {
				if err == nil {
					t.Errorf("parseDriverFlags(%q) = %+v, want an error", tc.args, got)
				}
				return
			}
			if err != nil || got != tc.want {
				t.Errorf("parseDriverFlags(%q) = %+v, %v, want %+v", tc.args, got, err, tc.want)
			}
		})
	}
}

func TestIsDriverInvocation(t *testing.T) {
	for argv0, want := range map[string]bool{
		"sqlkube-log-driver":                  true,
		"/usr/local/bin/sqlkube-log-driver":   true,
		"/usr/local/bin/sqlkube":              false,
		"/usr/local/bin/sqlkube-log-driver.1": false,
	} {
		if got := IsDriverInvocation(argv0); got != want {
			t.Errorf("IsDriverInvocation(%q) = %v, want %v", argv0, got, want)
		}
	}
}

// driverPipes are the pipes a shim gives a log driver, with the test's
// ends.
type driverPipes struct {
	outR, outW, errR, errW, readyR, readyW *os.File
}

func newDriverPipes(t *testing.T) *driverPipes {
	t.Helper()
	var files [6]*os.File
	for i := 0; i < 6; i += 2 {
		r, w, err := os.Pipe()
		if err != nil {
			t.Fatal(err)
		}
		files[i], files[i+1] = r, w
		t.Cleanup(func() { r.Close(); w.Close() })
	}
	return &driverPipes{files[0], files[1], files[2], files[3], files[4], files[5]}
}

// waitReady waits as the shim does: until the driver closes the ready pipe.
func (p *driverPipes) waitReady(t *testing.T) {
	t.Helper()
	if _, err := p.readyR.Read(make([]byte, 1)); !errors.Is(err, io.EOF) {
		t.Fatalf("ready pipe: %v, want EOF", err)
	}
}

func mustWrite(t *testing.T, f *os.File, s string) {
	t.Helper()
	if _, err := f.WriteString(s); err != nil {
		t.Fatal(err)
	}
}

func TestRunDriver(t *testing.T) {
	for _, tc := range []struct {
		name string
		// stop ends the container's output after the test wrote it.
		stop func(p *driverPipes, cancel context.CancelFunc)
		want []rec
	}{
		{
			name: "streams end",
			stop: func(p *driverPipes, _ context.CancelFunc) { p.outW.Close(); p.errW.Close() },
			want: []rec{{Stdout, false, "out 1"}, {Stderr, false, "err 1"}, {Stdout, true, "out tail"}},
		},
		{
			name: "SIGTERM after the streams end",
			stop: func(p *driverPipes, cancel context.CancelFunc) { cancel(); p.outW.Close(); p.errW.Close() },
			want: []rec{{Stdout, false, "out 1"}, {Stderr, false, "err 1"}, {Stdout, true, "out tail"}},
		},
		{
			name: "SIGTERM while a stream stays open",
			stop: func(p *driverPipes, cancel context.CancelFunc) { p.errW.Close(); cancel() },
			want: []rec{{Stdout, false, "out 1"}, {Stderr, false, "err 1"}, {Stdout, true, "out tail"}},
		},
	} {
		t.Run(tc.name, func(t *testing.T) {
			path := filepath.Join(t.TempDir(), "pod", "c.log")
			p := newDriverPipes(t)
			ctx, cancel := context.WithCancel(context.Background())
			defer cancel()
			errc := make(chan error, 1)
			go func() {
				errc <- runDriver(ctx, p.outR, p.errR, p.readyW,
					[]string{"--max-size", "1Mi", "--drain-timeout", "1s", "--path", path})
			}()
			p.waitReady(t)
			mustWrite(t, p.outW, "out 1\n")
			waitFor(t, func() string { return "stdout line in the file" }, func() bool {
				b, _ := os.ReadFile(path)
				return len(b) > 0
			})
			mustWrite(t, p.errW, "err 1\n")
			waitFor(t, func() string { return "stderr line in the file" }, func() bool {
				b, _ := os.ReadFile(path)
				return len(readRecordsOf(b)) == 2
			})
			mustWrite(t, p.outW, "out tail")
			tc.stop(p, cancel)
			select {
			case err := <-errc:
				if err != nil {
					t.Fatalf("runDriver: %v", err)
				}
			case <-time.After(10 * time.Second):
				t.Fatal("runDriver did not return")
			}
			if got := readRecords(t, path); !slices.Equal(got, tc.want) {
				t.Errorf("records = %+v, want %+v", got, tc.want)
			}
		})
	}
}

// readRecordsOf counts the complete records in b.
func readRecordsOf(b []byte) []string {
	var out []string
	for len(b) > 0 {
		i := slices.Index(b, '\n')
		if i < 0 {
			break
		}
		out = append(out, string(b[:i]))
		b = b[i+1:]
	}
	return out
}

func TestRunDriverRejectsBadFlags(t *testing.T) {
	p := newDriverPipes(t)
	if err := runDriver(context.Background(), p.outR, p.errR, p.readyW, []string{"--max-files", "2"}); err == nil {
		t.Fatal("runDriver without --path succeeded")
	}
}

func TestRunDriverWithoutShimFDs(t *testing.T) {
	// Run in a child whose fds 3 to 5 are closed.
	if os.Getenv("LOGS_TEST_NO_FDS") == "1" {
		err := RunDriver(context.Background(), []string{"--path", "/nonexistent/c.log"})
		if err == nil {
			os.Exit(0)
		}
		os.Stderr.WriteString(err.Error())
		os.Exit(3)
	}
	cmd := exec.Command(os.Args[0], "-test.run=^TestRunDriverWithoutShimFDs$")
	cmd.Env = append(os.Environ(), "LOGS_TEST_NO_FDS=1")
	out, err := cmd.CombinedOutput()
	var exit *exec.ExitError
	if !errors.As(err, &exit) || exit.ExitCode() != 3 {
		t.Fatalf("child: %v, output %s", err, out)
	}
}

// TestDriverBinary starts a built driver exactly as containerd's shim
// does: a binary given by a URI whose query becomes the arguments, the
// pipes as fds 3 to 5, only CONTAINER_ID and CONTAINER_NAMESPACE in the
// environment, SIGTERM when the task is deleted.
func TestDriverBinary(t *testing.T) {
	if testing.Short() {
		t.Skip("builds a binary")
	}
	goBin := filepath.Join(runtime.GOROOT(), "bin", "go")
	dir := t.TempDir()
	bin := filepath.Join(dir, DriverName)
	build := exec.Command(goBin, "build", "-o", bin, "./internal/logdriver")
	if out, err := build.CombinedOutput(); err != nil {
		t.Fatalf("build log driver: %v\n%s", err, out)
	}
	path := filepath.Join(dir, "logs", "c.log")
	// What cio.BinaryIO(bin, args) produces and NewBinaryCmd turns into argv.
	uri := url.URL{Scheme: "binary", Path: bin, RawQuery: url.Values{
		"--path": {path}, "--max-size": {"300"}, "--max-files": {"2"},
	}.Encode()}
	parsed, err := url.Parse(uri.String())
	if err != nil {
		t.Fatal(err)
	}
	var args []string
	for k, vs := range parsed.Query() {
		args = append(args, k, vs[0])
	}
	p := newDriverPipes(t)
	cmd := exec.Command(parsed.Path, args...)
	cmd.Env = []string{"CONTAINER_ID=c1", "CONTAINER_NAMESPACE=sqlkube"}
	cmd.ExtraFiles = []*os.File{p.outR, p.errR, p.readyW}
	stderr := &syncBuffer{}
	cmd.Stderr = stderr
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	exited := make(chan error, 1)
	go func() { exited <- cmd.Wait() }()
	defer func() {
		cmd.Process.Kill()
		<-exited
	}()
	// The shim closes its copies after starting the driver.
	p.readyW.Close()
	p.outR.Close()
	p.errR.Close()
	p.waitReady(t)

	var want []string
	for i := range 20 {
		line := "line " + string(rune('a'+i)) + " of the container"
		want = append(want, line)
		mustWrite(t, p.outW, line+"\n")
	}
	mustWrite(t, p.errW, "bye\n")
	want = append(want, "bye")
	// Task delete: the shim closes the pipes, then sends SIGTERM.
	p.outW.Close()
	p.errW.Close()
	if err := cmd.Process.Signal(syscall.SIGTERM); err != nil {
		t.Fatal(err)
	}
	select {
	case err := <-exited:
		exited <- err
		if err != nil {
			t.Fatalf("driver: %v, stderr %s", err, stderr.String())
		}
	case <-time.After(10 * time.Second):
		t.Fatal("driver did not exit after SIGTERM")
	}
	// Rotation at 300 bytes keeping 2 files: the newest lines survive.
	var got []string
	paths, err := Paths(path)
	if err != nil || len(paths) != 2 {
		t.Fatalf("Paths = %q, %v, want 2 files", paths, err)
	}
	for _, p := range paths {
		for _, r := range readRecords(t, p) {
			got = append(got, r.content)
		}
	}
	if len(got) == 0 || !slices.Equal(got, want[len(want)-len(got):]) {
		t.Errorf("files hold %q, want a suffix of %q", got, want)
	}
}
