package cli

import (
	"bytes"
	"context"
	"errors"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/sqlkube/sqlkube/cluster"
)

var errStop = errors.New("stop before serving")

// clusterConfig runs `sqlkube server args...` up to cluster.Open and
// returns the configuration it would have opened the cluster with.
func clusterConfig(t *testing.T, args ...string) (cluster.Config, error) {
	t.Helper()
	var got cluster.Config
	orig := openCluster
	openCluster = func(_ context.Context, cfg cluster.Config) (*cluster.Cluster, error) {
		got = cfg
		return nil, errStop
	}
	t.Cleanup(func() { openCluster = orig })
	cmd := NewRootCommand(&bytes.Buffer{})
	cmd.SetOut(&bytes.Buffer{})
	cmd.SetErr(&bytes.Buffer{})
	cmd.SetArgs(append([]string{"server", "--data-dir", t.TempDir()}, args...))
	err := cmd.Execute()
	if errors.Is(err, errStop) {
		err = nil
	}
	return got, err
}

func writeFile(t *testing.T, content string) string {
	t.Helper()
	p := filepath.Join(t.TempDir(), "secret")
	if err := os.WriteFile(p, []byte(content), 0o600); err != nil {
		t.Fatal(err)
	}
	return p
}

func TestServerToken(t *testing.T) {
	file := writeFile(t, "  from-file\n")
	for _, tt := range []struct {
		name    string
		args    []string
		env     string
		want    string
		wantErr string
	}{
		{name: "none", want: ""},
		{name: "flag", args: []string{"--token", "from-flag"}, want: "from-flag"},
		{name: "file, trimmed", args: []string{"--token-file", file}, want: "from-file"},
		{name: "env", env: "from-env", want: "from-env"},
		{name: "flag over env", args: []string{"--token", "from-flag"}, env: "from-env", want: "from-flag"},
		{name: "file over env", args: []string{"--token-file", file}, env: "from-env", want: "from-file"},
		{name: "flag and file", args: []string{"--token", "x", "--token-file", file}, wantErr: "[token token-file]"},
		{name: "missing file", args: []string{"--token-file", filepath.Join(t.TempDir(), "none")}, wantErr: "--token-file"},
		{name: "empty file", args: []string{"--token-file", writeFile(t, " \n")}, wantErr: "is empty"},
	} {
		t.Run(tt.name, func(t *testing.T) {
			t.Setenv(envToken, tt.env)
			cfg, err := clusterConfig(t, tt.args...)
			if tt.wantErr != "" {
				if err == nil || !strings.Contains(err.Error(), tt.wantErr) {
					t.Fatalf("error = %v, want one containing %q", err, tt.wantErr)
				}
				return
			}
			if err != nil {
				t.Fatal(err)
			}
			if cfg.Token != tt.want {
				t.Fatalf("token = %q, want %q", cfg.Token, tt.want)
			}
		})
	}
}

func TestServerDatastorePassword(t *testing.T) {
	file := writeFile(t, " pa ss\n")
	const pgURL = "postgres://kube@db:5432/kube?sslmode=disable"
	for _, tt := range []struct {
		name    string
		args    []string
		env     string
		want    string
		wantErr string
	}{
		{name: "none", args: []string{"--datastore", pgURL}, want: ""},
		{name: "file", args: []string{"--datastore", pgURL, "--datastore-password-file", file}, want: " pa ss"},
		{name: "env", args: []string{"--datastore", pgURL}, env: "from-env", want: "from-env"},
		{name: "file over env", args: []string{"--datastore", pgURL, "--datastore-password-file", file}, env: "from-env", want: " pa ss"},
		{name: "URL over env", args: []string{"--datastore", "postgres://kube:in-url@db/kube"}, env: "from-env", want: ""},
		{name: "URL and file", args: []string{"--datastore", "postgres://kube:in-url@db/kube", "--datastore-password-file", file}, wantErr: "in one place"},
		{name: "SQLite ignores env", env: "from-env", want: ""},
		{name: "SQLite and file", args: []string{"--datastore-password-file", file}, wantErr: "only a postgres://"},
		{name: "empty file", args: []string{"--datastore", pgURL, "--datastore-password-file", writeFile(t, "\n")}, wantErr: "is empty"},
	} {
		t.Run(tt.name, func(t *testing.T) {
			t.Setenv(envDatastorePassword, tt.env)
			cfg, err := clusterConfig(t, tt.args...)
			if tt.wantErr != "" {
				if err == nil || !strings.Contains(err.Error(), tt.wantErr) {
					t.Fatalf("error = %v, want one containing %q", err, tt.wantErr)
				}
				return
			}
			if err != nil {
				t.Fatal(err)
			}
			if cfg.DatastorePassword != tt.want {
				t.Fatalf("password = %q, want %q", cfg.DatastorePassword, tt.want)
			}
		})
	}
}

func TestServerPodRanges(t *testing.T) {
	for _, tt := range []struct {
		name    string
		args    []string
		wantErr string
	}{
		{name: "defaults"},
		{name: "given", args: []string{"--cluster-cidr", "10.42.0.0/16", "--node-cidr-mask-size", "25"}},
		{name: "not a CIDR", args: []string{"--cluster-cidr", "10.42.0.0"}, wantErr: "--cluster-cidr"},
		{name: "IPv6", args: []string{"--cluster-cidr", "fd00::/48"}, wantErr: "only IPv4"},
		{name: "mask shorter than the range", args: []string{"--cluster-cidr", "10.42.0.0/16", "--node-cidr-mask-size", "8"}, wantErr: "mask size"},
	} {
		t.Run(tt.name, func(t *testing.T) {
			_, err := clusterConfig(t, tt.args...)
			if tt.wantErr == "" && err != nil || tt.wantErr != "" && (err == nil || !strings.Contains(err.Error(), tt.wantErr)) {
				t.Fatalf("error = %v, want %q", err, tt.wantErr)
			}
		})
	}
}
