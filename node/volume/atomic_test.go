package volume

import (
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"
)

func TestAtomicWriterPaths(t *testing.T) {
	cases := []struct {
		name    string
		paths   []string
		wantErr string
	}{
		{name: "nested and top-level", paths: []string{"a", "dir/b", "dir/sub/c"}},
		{name: "dot-dot element", paths: []string{"a/../../etc/passwd"}, wantErr: "invalid file path"},
		{name: "leading dot-dot name", paths: []string{"..data"}, wantErr: "must not start with '..'"},
		{name: "dot-dot", paths: []string{"../x"}, wantErr: "must not contain '..'"},
		{name: "absolute", paths: []string{"/etc/passwd"}, wantErr: "invalid file path"},
		{name: "unclean", paths: []string{"a//b"}, wantErr: "invalid file path"},
		{name: "file and directory", paths: []string{"a", "a/b"}, wantErr: `"a" is a file`},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			dir := filepath.Join(t.TempDir(), "vol")
			payload := map[string]file{}
			for _, p := range tc.paths {
				payload[p] = file{data: []byte(p), mode: 0o644}
			}
			w := atomicWriter{dir: dir, now: time.Date(2026, 12, 4, 10, 0, 0, 0, time.UTC)}
			changed, err := w.write(payload)
			if tc.wantErr != "" {
				if err == nil || !strings.Contains(err.Error(), tc.wantErr) {
					t.Fatalf("write = %v, want error %q", err, tc.wantErr)
				}
				return
			}
			if err != nil || !changed {
				t.Fatalf("write = %v, %v", changed, err)
			}
			for _, p := range tc.paths {
				if got := readFile(t, filepath.Join(dir, p)); got != p {
					t.Errorf("%s = %q", p, got)
				}
			}
			// A stale version left by a crash is removed by the next write.
			stale := filepath.Join(dir, "..2026_01_01_00_00_00.123")
			if err := os.Mkdir(stale, 0o755); err != nil {
				t.Fatal(err)
			}
			payload["new"] = file{data: []byte("n"), mode: 0o600}
			if changed, err := w.write(payload); err != nil || !changed {
				t.Fatalf("second write = %v, %v", changed, err)
			}
			if _, err := os.Stat(stale); !os.IsNotExist(err) {
				t.Errorf("stale version still there: %v", err)
			}
			if changed, err := w.write(payload); err != nil || changed {
				t.Errorf("unchanged write = %v, %v; want no change", changed, err)
			}
		})
	}
}
