package cluster

import (
	"context"
	"log/slog"
	"os"
	"path/filepath"
	"strings"
	"testing"
)

func TestParseNodeToken(t *testing.T) {
	hash := strings.Repeat("ab", 32)
	for _, tt := range []struct {
		name, token, wantHash, wantSecret, wantErr string
	}{
		{name: "full", token: "K10" + hash + "::node:s3cret\n", wantHash: hash, wantSecret: "s3cret"},
		{name: "upper-case hash", token: "K10" + strings.ToUpper(hash) + "::node:s", wantHash: hash, wantSecret: "s"},
		{name: "no prefix", token: "node:s3cret", wantErr: "want K10"},
		{name: "no separator", token: "K10" + hash, wantErr: "no ::"},
		{name: "short hash", token: "K10abcd::node:s", wantErr: "not a hex SHA-256"},
		{name: "no node: part", token: "K10" + hash + "::server:s", wantErr: "want node:"},
		{name: "empty secret", token: "K10" + hash + "::node:", wantErr: "want node:"},
	} {
		t.Run(tt.name, func(t *testing.T) {
			h, s, err := ParseNodeToken(tt.token)
			if tt.wantErr != "" {
				if err == nil || !strings.Contains(err.Error(), tt.wantErr) {
					t.Fatalf("error = %v, want one containing %q", err, tt.wantErr)
				}
				return
			}
			if err != nil || h != tt.wantHash || s != tt.wantSecret {
				t.Fatalf("= %q, %q, %v; want %q, %q", h, s, err, tt.wantHash, tt.wantSecret)
			}
		})
	}
}

// TestNodeTokenSharedByServers: two servers of one cluster (one
// datastore, one token, data directories of their own) write the same
// node token, private to its owner, pinning the cluster's CA; a restart
// keeps it.
func TestNodeTokenSharedByServers(t *testing.T) {
	ctx := context.Background()
	ds := "sqlite://" + filepath.Join(t.TempDir(), "state.db")
	open := func(dir string) *Cluster {
		t.Helper()
		c, err := Open(ctx, Config{DataDir: dir, Datastore: ds, Token: "cluster-token"})
		if err != nil {
			t.Fatal(err)
		}
		t.Cleanup(func() { c.Close() })
		return c
	}
	dirA, dirB := t.TempDir(), t.TempDir()
	a := open(dirA)
	b := open(dirB)
	if a.NodeToken == "" || a.NodeToken != b.NodeToken || a.NodeJoinSecret != b.NodeJoinSecret {
		t.Fatalf("node tokens differ: %q and %q", a.NodeToken, b.NodeToken)
	}
	hash, secret, err := ParseNodeToken(a.NodeToken)
	if err != nil {
		t.Fatal(err)
	}
	if hash != CAHash(a.CA.Raw) || secret != a.NodeJoinSecret {
		t.Fatalf("token %q does not pin the CA or hold the secret", a.NodeToken)
	}
	for _, c := range []*Cluster{a, b} {
		fi, err := os.Stat(c.NodeTokenPath())
		if err != nil {
			t.Fatal(err)
		}
		if fi.Mode().Perm() != 0o600 {
			t.Errorf("%s: mode %v, want 0600", c.NodeTokenPath(), fi.Mode().Perm())
		}
		if got, _ := os.ReadFile(c.NodeTokenPath()); strings.TrimSpace(string(got)) != a.NodeToken {
			t.Errorf("%s holds %q, want %q", c.NodeTokenPath(), got, a.NodeToken)
		}
	}
	a.Close()
	if again := open(dirA); again.NodeToken != a.NodeToken {
		t.Fatalf("after a restart the node token is %q, was %q", again.NodeToken, a.NodeToken)
	}
}

// TestIdentityGetsNodeJoinSecret: a record sealed before node join tokens
// gets the first server's secret and is resealed; later servers take it.
func TestIdentityGetsNodeJoinSecret(t *testing.T) {
	ctx := context.Background()
	const token = "pre-join-cluster"
	origin := newIdentityFixture(t)
	old := localIdentity(t, origin.dir)
	old.NodeJoinSecret = ""
	value, err := sealIdentity(token, old)
	if err != nil {
		t.Fatal(err)
	}
	if _, err := origin.st.Create(ctx, identityKey, value); err != nil {
		t.Fatal(err)
	}
	first, later := t.TempDir(), t.TempDir()
	for _, dir := range []string{first, later} {
		if _, _, _, err := loadOrCreateCA(dir); err != nil {
			t.Fatal(err)
		}
		if err := shareIdentity(ctx, origin.st, dir, token, slog.New(slog.DiscardHandler)); err != nil {
			t.Fatal(err)
		}
	}
	_, o := storedIdentity(t, origin.st)
	id, _, err := openIdentity(token, o.Value)
	if err != nil || id.NodeJoinSecret == "" {
		t.Fatalf("resealed record: %v, secret %q", err, id.NodeJoinSecret)
	}
	for _, dir := range []string{first, later} {
		if got := localIdentity(t, dir).NodeJoinSecret; got != id.NodeJoinSecret {
			t.Errorf("%s: secret %q, want the cluster's %q", dir, got, id.NodeJoinSecret)
		}
	}
}
