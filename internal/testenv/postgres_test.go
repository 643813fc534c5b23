package testenv

import (
	"context"
	"errors"
	"fmt"
	"net"
	"os"
	"os/exec"
	"slices"
	"strconv"
	"strings"
	"testing"
	"time"
)

// startPostgres starts a server for t, or reports PostgreSQL as missing.
func startPostgres(t *testing.T) *Postgres {
	t.Helper()
	pg, err := StartPostgres(t.Context())
	if errors.Is(err, ErrNotInstalled) {
		t.Log(err)
		Missing(t, "PostgreSQL")
	}
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() {
		if err := pg.Stop(); err != nil {
			t.Error(err)
		}
	})
	return pg
}

func TestPostgres(t *testing.T) {
	pg := startPostgres(t)
	ctx := t.Context()

	if fi, err := os.Stat(pg.Dir); err != nil || !fi.IsDir() {
		t.Fatalf("Dir %s: %v", pg.Dir, err)
	}
	urls := map[string]string{}
	for _, name := range []string{"alpha", "beta"} {
		u, err := pg.CreateDatabase(ctx, name)
		if err != nil {
			t.Fatal(err)
		}
		want := fmt.Sprintf("postgres://postgres@127.0.0.1:%d/%s?sslmode=disable", pg.Port, name)
		if u != want || pg.URL(name) != want {
			t.Fatalf("CreateDatabase(%q) = %q, URL = %q, want %q", name, u, pg.URL(name), want)
		}
		urls[name] = u
	}
	if _, err := pg.CreateDatabase(ctx, "alpha"); err == nil {
		t.Fatal("creating database alpha twice succeeded")
	}

	sql := "create table t (x int); insert into t values (41), (1); select current_database(), sum(x) from t"
	out, err := exec.CommandContext(ctx, pg.psqlPath, "-X", "-w", "-q", "-v", "ON_ERROR_STOP=1",
		"-At", "-c", sql, urls["beta"]).CombinedOutput()
	if err != nil {
		t.Fatalf("psql %s: %v\n%s", urls["beta"], err, out)
	}
	if got := strings.TrimSpace(string(out)); got != "beta|42" {
		t.Fatalf("psql %s printed %q, want %q", urls["beta"], got, "beta|42")
	}

	addr := net.JoinHostPort(pg.Host, strconv.Itoa(pg.Port))
	if err := pg.Stop(); err != nil {
		t.Fatalf("Stop: %v", err)
	}
	if err := pg.Stop(); err != nil {
		t.Fatalf("second Stop: %v", err)
	}
	if conn, err := net.DialTimeout("tcp", addr, time.Second); err == nil {
		conn.Close()
		t.Errorf("%s still accepts connections after Stop", addr)
	}
	if _, err := os.Stat(pg.Dir); !errors.Is(err, os.ErrNotExist) {
		t.Errorf("Dir %s still exists after Stop (stat: %v)", pg.Dir, err)
	}
}

// TestPostgresConcurrent starts two servers at once, as parallel test
// packages do, and checks they do not share a port or directory.
func TestPostgresConcurrent(t *testing.T) {
	pgs := make([]*Postgres, 2)
	errs := make(chan error, len(pgs))
	for i := range pgs {
		go func() {
			var err error
			pgs[i], err = StartPostgres(context.Background())
			errs <- err
		}()
	}
	var startErrs []error
	for range pgs {
		if err := <-errs; err != nil {
			startErrs = append(startErrs, err)
		}
	}
	for _, pg := range pgs {
		if pg != nil {
			t.Cleanup(func() { _ = pg.Stop() })
		}
	}
	if err := errors.Join(startErrs...); err != nil {
		if errors.Is(err, ErrNotInstalled) {
			t.Log(err)
			Missing(t, "PostgreSQL")
		}
		t.Fatal(err)
	}
	if pgs[0].Port == pgs[1].Port || pgs[0].Dir == pgs[1].Dir {
		t.Fatalf("servers share port or dir: %d %s, %d %s", pgs[0].Port, pgs[0].Dir, pgs[1].Port, pgs[1].Dir)
	}
	for _, pg := range pgs {
		if _, err := pg.CreateDatabase(t.Context(), "db"); err != nil {
			t.Error(err)
		}
	}
}

func TestPostgresBinDir(t *testing.T) {
	dir, err := PostgresBinDir()
	if errors.Is(err, ErrNotInstalled) {
		t.Log(err)
		Missing(t, "PostgreSQL")
	}
	if err != nil {
		t.Fatal(err)
	}
	for _, bin := range []string{"initdb", "postgres"} {
		if !isExecutable(dir + "/" + bin) {
			t.Errorf("%s/%s is not executable", dir, bin)
		}
	}
}

func TestParseVersion(t *testing.T) {
	tests := []struct {
		name         string
		older, newer string
	}{
		{name: "major", older: "15", newer: "16"},
		{name: "two digit beats one digit", older: "9", newer: "10"},
		{name: "old style minor", older: "9.6", newer: "10"},
		{name: "minor", older: "9.5", newer: "9.6"},
		{name: "non-numeric first", older: "devel", newer: "12"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			if slices.Compare(parseVersion(tt.older), parseVersion(tt.newer)) >= 0 {
				t.Errorf("version %q does not sort before %q", tt.older, tt.newer)
			}
		})
	}
}

func TestQuoteIdent(t *testing.T) {
	tests := []struct{ name, in, want string }{
		{name: "plain", in: "alpha", want: `"alpha"`},
		{name: "quote", in: `a"b`, want: `"a""b"`},
		{name: "mixed case", in: "Test_DB", want: `"Test_DB"`},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			if got := quoteIdent(tt.in); got != tt.want {
				t.Errorf("quoteIdent(%q) = %q, want %q", tt.in, got, tt.want)
			}
		})
	}
}
