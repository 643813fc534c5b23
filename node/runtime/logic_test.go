package runtime

import (
	"errors"
	"fmt"
	"io/fs"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"syscall"
	"testing"

	"github.com/containerd/containerd/errdefs"
	remoteserrors "github.com/containerd/containerd/remotes/errors"
)

func TestProcessArgs(t *testing.T) {
	ep, cmd := []string{"/entry"}, []string{"default"}
	cases := []struct {
		name          string
		command, args []string
		want          []string
	}{
		{"image defaults", nil, nil, []string{"/entry", "default"}},
		{"args replace cmd", nil, []string{"a"}, []string{"/entry", "a"}},
		{"command drops image cmd", []string{"/bin/x"}, nil, []string{"/bin/x"}},
		{"command and args", []string{"/bin/x"}, []string{"a"}, []string{"/bin/x", "a"}},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			if got := processArgs(ep, cmd, tc.command, tc.args); !slices.Equal(got, tc.want) {
				t.Fatalf("got %v, want %v", got, tc.want)
			}
		})
	}
}

func TestMergeEnv(t *testing.T) {
	cases := []struct {
		name       string
		image, pod []string
		want       []string
	}{
		{"pod overrides image", []string{"PATH=/bin", "A=1"}, []string{"A=2", "B=3"}, []string{"PATH=/bin", "A=2", "B=3"}},
		{"default PATH", nil, []string{"A=1"}, []string{defaultPath, "A=1"}},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			if got := mergeEnv(tc.image, tc.pod); !slices.Equal(got, tc.want) {
				t.Fatalf("got %v, want %v", got, tc.want)
			}
		})
	}
}

func TestCapabilities(t *testing.T) {
	cases := []struct {
		name    string
		cfg     ContainerConfig
		has     []string
		hasNot  []string
		exactly int
	}{
		{"default", ContainerConfig{}, []string{"CAP_CHOWN", "CAP_NET_BIND_SERVICE"}, []string{"CAP_NET_ADMIN", "CAP_SYS_ADMIN"}, len(defaultCaps)},
		{"add without prefix", ContainerConfig{CapAdd: []string{"NET_ADMIN"}}, []string{"CAP_NET_ADMIN"}, nil, len(defaultCaps) + 1},
		{"drop with prefix", ContainerConfig{CapDrop: []string{"CAP_CHOWN"}}, nil, []string{"CAP_CHOWN"}, len(defaultCaps) - 1},
		{"drop all, add one", ContainerConfig{CapDrop: []string{"ALL"}, CapAdd: []string{"kill"}}, []string{"CAP_KILL"}, []string{"CAP_CHOWN"}, 1},
		{"privileged", ContainerConfig{Privileged: true}, []string{"CAP_SYS_ADMIN"}, nil, len(allCaps())},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			got := capabilities(tc.cfg)
			for _, c := range tc.has {
				if !slices.Contains(got, c) {
					t.Errorf("missing %s in %v", c, got)
				}
			}
			for _, c := range tc.hasNot {
				if slices.Contains(got, c) {
					t.Errorf("unexpected %s in %v", c, got)
				}
			}
			if len(got) != tc.exactly {
				t.Errorf("%d capabilities, want %d: %v", len(got), tc.exactly, got)
			}
		})
	}
}

func TestContainerID(t *testing.T) {
	uid := "0b5c3a7e-8d7f-4a52-9a43-3c2f7d6a1e10"
	cases := []struct {
		name, cname string
		plain       bool
	}{
		{"short name", "web", true},
		{"double dash", "a--b", false},
		{"long name", strings.Repeat("n", 63), false},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			id := ContainerID(uid, tc.cname, 2)
			if !validID.MatchString(id) || len(id) > maxIDLength {
				t.Fatalf("invalid id %q", id)
			}
			if plain := id == uid+"-"+tc.cname+"-2"; plain != tc.plain {
				t.Fatalf("id %q: plain = %v", id, plain)
			}
		})
	}
}

func TestClassifyPullError(t *testing.T) {
	cases := []struct {
		name string
		err  error
		want error
	}{
		{"not found", fmt.Errorf("resolve: %w", errdefs.ErrNotFound), ErrImageNotFound},
		{"401", remoteserrors.ErrUnexpectedStatus{StatusCode: 401, Status: "401 Unauthorized"}, ErrImageUnauthorized},
		{"403", remoteserrors.ErrUnexpectedStatus{StatusCode: 403, Status: "403 Forbidden"}, ErrImageUnauthorized},
		{"503", remoteserrors.ErrUnexpectedStatus{StatusCode: 503, Status: "503"}, ErrRegistryUnavailable},
		{"refused", fmt.Errorf("dial: %w", syscall.ECONNREFUSED), ErrRegistryUnavailable},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			if got := classifyPullError(tc.err); !errors.Is(got, tc.want) {
				t.Fatalf("classifyPullError(%v) = %v, want %v", tc.err, got, tc.want)
			}
		})
	}
}

func TestHostMatches(t *testing.T) {
	cases := []struct {
		cred, host string
		want       bool
	}{
		{"127.0.0.1:5000", "127.0.0.1:5000", true},
		{"https://index.docker.io/v1/", "registry-1.docker.io", true},
		{"https://ghcr.io", "ghcr.io", true},
		{"ghcr.io", "quay.io", false},
	}
	for _, tc := range cases {
		t.Run(tc.cred+"→"+tc.host, func(t *testing.T) {
			if got := hostMatches(tc.cred, tc.host); got != tc.want {
				t.Fatalf("got %v", got)
			}
		})
	}
}

func TestRemovePodCgroups(t *testing.T) {
	const uid = "u1"
	cases := []struct {
		name string
		dirs []string // under the cgroup root before
		want []string // left after
	}{
		{"v1 controllers", []string{"memory/sqlkube/podu1", "cpu/sqlkube/podu1", "pids/sqlkube/podu1"},
			[]string{"cpu/sqlkube", "memory/sqlkube", "pids/sqlkube"}},
		{"v2", []string{"sqlkube/podu1"}, []string{"sqlkube"}},
		{"a container's cgroup left", []string{"memory/sqlkube/podu1/u1-c-0"}, []string{"memory/sqlkube"}},
		{"other pods stay", []string{"memory/sqlkube/podu1", "memory/sqlkube/podu2"},
			[]string{"memory/sqlkube", "memory/sqlkube/podu2"}},
		{"nothing there", nil, nil},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			root := t.TempDir()
			for _, d := range tc.dirs {
				if err := os.MkdirAll(filepath.Join(root, d), 0o755); err != nil {
					t.Fatal(err)
				}
			}
			if err := removePodCgroups(root, uid); err != nil {
				t.Fatal(err)
			}
			var left []string
			_ = filepath.WalkDir(root, func(p string, d fs.DirEntry, err error) error {
				if err == nil && d.IsDir() && strings.Contains(p, "sqlkube") {
					rel, _ := filepath.Rel(root, p)
					left = append(left, rel)
				}
				return nil
			})
			if !slices.Equal(left, tc.want) {
				t.Fatalf("left %v, want %v", left, tc.want)
			}
		})
	}
}
