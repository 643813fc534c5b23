package storage_test

import (
	"bufio"
	"context"
	"fmt"
	"io"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/sqlkube/sqlkube/internal/testenv"
	"github.com/sqlkube/sqlkube/storage"
)

// helperProcess starts this test binary as a helper in mode.
func helperProcess(t *testing.T, mode string, env ...string) (*exec.Cmd, io.WriteCloser, *bufio.Scanner) {
	t.Helper()
	cmd := exec.Command(os.Args[0], "-test.run=^$")
	cmd.Env = append(os.Environ(), append([]string{helperEnv + "=" + mode}, env...)...)
	cmd.Stderr = os.Stderr
	cmd.SysProcAttr = &syscall.SysProcAttr{Pdeathsig: syscall.SIGKILL}
	stdin, err := cmd.StdinPipe()
	if err != nil {
		t.Fatal(err)
	}
	stdout, err := cmd.StdoutPipe()
	if err != nil {
		t.Fatal(err)
	}
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = cmd.Process.Kill(); _ = cmd.Wait() })
	return cmd, stdin, bufio.NewScanner(stdout)
}

// expectLine reads the helper's next line, which must start with prefix.
func expectLine(t *testing.T, out *bufio.Scanner, prefix string) string {
	t.Helper()
	if !out.Scan() {
		t.Fatalf("helper ended before saying %q: %v", prefix, out.Err())
	}
	if l := out.Text(); strings.HasPrefix(l, prefix) {
		return l
	}
	t.Fatalf("helper said %q, want %q", out.Text(), prefix)
	return ""
}

// TestTwoInstancesOnePostgres: two stores in two processes on one
// PostgreSQL, 8 concurrent writers each. A watcher on either store sees
// every revision exactly once, in order and without gaps, and every
// acknowledged write is stored.
func TestTwoInstancesOnePostgres(t *testing.T) {
	if pg == nil {
		testenv.Missing(t, "PostgreSQL")
	}
	ctx := context.Background()
	url := drivers[1].datastore(t)
	s := open(t, url)
	must(s.Create(ctx, key("items", "ns", "seed"), val(`{}`)))
	from, _ := s.CurrentRevision(ctx)
	const writes = 150 // per writer; 8 writers per store

	_, stdin, out := helperProcess(t, "writer-watcher",
		helperDatastore+"="+url, fmt.Sprintf("%s=%d", helperFrom, from),
		fmt.Sprintf("%s=%d", helperWrites, writes), helperPrefix+"=b")
	expectLine(t, out, "ready")
	w := must(s.Watch(ctx, storage.WatchOptions{Resource: "items", Revision: from}))
	col := collect(w)
	acked := runWriters(ctx, s, "a", 8, writes)
	expectLine(t, out, "written")
	final, _ := s.CurrentRevision(ctx)
	if want := from + 2*8*writes; final != want {
		t.Fatalf("revision %d after %d writes from %d, want %d", final, 2*8*writes, from, want)
	}
	fmt.Fprintf(stdin, "final %d\n", final)

	if len(acked) != 8*writes {
		t.Fatalf("%d of %d writes acknowledged", len(acked), 8*writes)
	}
	if err := checkStream(col.until(final, 60*time.Second), from, final, acked); err != nil {
		t.Fatalf("watcher on store A: %v", err)
	}
	if l := expectLine(t, out, "result"); l != fmt.Sprintf("result ok %d", final-from) {
		t.Fatalf("watcher on store B: %s", l)
	}
	// Every acknowledged write of either store is stored, and the
	// revisions are gap-free.
	raw := drivers[1].raw(t, url)
	var n, lo, hi int64
	if err := raw.QueryRow(`SELECT COUNT(*), MIN(revision), MAX(revision) FROM revisions`).Scan(&n, &lo, &hi); err != nil {
		t.Fatal(err)
	}
	if n != hi || lo != 1 || hi != final {
		t.Fatalf("revisions: %d rows from %d to %d, want 1..%d", n, lo, hi, final)
	}
	l := must(s.List(ctx, storage.ListOptions{Resource: "items"}))
	if len(l.Items) != int(final) {
		t.Fatalf("%d objects, want %d", len(l.Items), final)
	}
}

// TestSQLiteKilledWriter: a writer process killed with SIGKILL mid-stream
// loses no acknowledged write, and the database opens cleanly afterwards.
func TestSQLiteKilledWriter(t *testing.T) {
	path := filepath.Join(t.TempDir(), "state.db")
	url := "sqlite://" + path
	cmd, _, out := helperProcess(t, "sqlite-writer", helperDatastore+"="+url)
	acked := map[string]int64{}
	for len(acked) < 2000 && out.Scan() {
		var name string
		var rev int64
		if _, err := fmt.Sscanf(out.Text(), "ack %s %d", &name, &rev); err != nil {
			t.Fatalf("helper said %q", out.Text())
		}
		acked[name] = rev
	}
	if err := cmd.Process.Signal(syscall.SIGKILL); err != nil {
		t.Fatal(err)
	}
	_ = cmd.Wait()
	if len(acked) < 2000 {
		t.Fatalf("the writer died after %d acknowledged writes", len(acked))
	}

	raw := drivers[0].raw(t, url)
	var check string
	if err := raw.QueryRow(`PRAGMA integrity_check`).Scan(&check); err != nil || check != "ok" {
		t.Fatalf("integrity check: %q %v", check, err)
	}
	s := open(t, url)
	ctx := context.Background()
	for name, rev := range acked {
		o, err := s.Get(ctx, key("items", "ns", name))
		if err != nil || o.Revision != rev {
			t.Fatalf("acknowledged %s at %d: got %+v %v", name, rev, o.Key, err)
		}
	}
	cur, _ := s.CurrentRevision(ctx)
	var n int64
	if err := raw.QueryRow(`SELECT COUNT(*) FROM revisions`).Scan(&n); err != nil || n != cur {
		t.Fatalf("%d revisions rows, current revision %d: %v", n, cur, err)
	}
	// and it takes writes again
	must(s.Create(ctx, key("items", "ns", "after-crash"), val(`{}`)))
	t.Logf("%d writes acknowledged before the kill, %d committed", len(acked), cur)
}
