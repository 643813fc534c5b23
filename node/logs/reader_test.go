package logs

import (
	"context"
	"errors"
	"fmt"
	"io/fs"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"testing"
	"time"
)

// writeFiles writes the files of a log at dir/c.log: files[0] is the
// oldest rotated one, the last is the live file.
func writeFiles(t *testing.T, files ...string) string {
	t.Helper()
	path := filepath.Join(t.TempDir(), "c.log")
	for i, content := range files {
		name := path
		if n := len(files) - 1 - i; n > 0 {
			name = rotatedName(path, n)
		}
		if err := os.WriteFile(name, []byte(content), 0o644); err != nil {
			t.Fatal(err)
		}
	}
	return path
}

func ptr[T any](v T) *T { return &v }

func TestRead(t *testing.T) {
	// Two rotated files and the live one; line n is written at second n.
	files := []string{
		criLine(1, Stdout, false, "one") + criLine(2, Stderr, false, "two"),
		criLine(3, Stdout, true, "thr") + criLine(4, Stdout, false, "ee"),
		criLine(5, Stdout, false, "four") + criLine(6, Stderr, false, "five"),
	}
	all := "one\ntwo\nthree\nfour\nfive\n"
	for _, tc := range []struct {
		name  string
		files []string
		opts  Options
		want  string
	}{
		{"everything oldest first", files, Options{}, all},
		{"tail within the live file", files, Options{TailLines: ptr[int64](2)}, "four\nfive\n"},
		{"tail across rotated files", files, Options{TailLines: ptr[int64](3)}, "three\nfour\nfive\n"},
		{"tail across a split line", files, Options{TailLines: ptr[int64](4)}, "two\nthree\nfour\nfive\n"},
		{"tail beyond the start", files, Options{TailLines: ptr[int64](100)}, all},
		{"tail zero", files, Options{TailLines: ptr[int64](0)}, ""},
		{"since", files, Options{SinceTime: ptr(testTime.Add(3 * time.Second))}, "three\nfour\nfive\n"},
		{"since skips a line started before", files, Options{SinceTime: ptr(testTime.Add(4 * time.Second))}, "four\nfive\n"},
		{"tail then since", files, Options{TailLines: ptr[int64](4), SinceTime: ptr(testTime.Add(5 * time.Second))}, "four\nfive\n"},
		{"timestamps once per line", files, Options{TailLines: ptr[int64](2), Timestamps: true},
			"2026-12-04T17:00:05.000000000Z four\n2026-12-04T17:00:06.000000000Z five\n"},
		{"timestamps on a split line", files, Options{TailLines: ptr[int64](3), LimitBytes: ptr[int64](37), Timestamps: true},
			"2026-12-04T17:00:03.000000000Z three\n"},
		{"limit cuts a line", files, Options{LimitBytes: ptr[int64](6)}, "one\ntw"},
		{"limit beyond the end", files, Options{LimitBytes: ptr[int64](1000)}, all},
		{"limit zero", files, Options{LimitBytes: ptr[int64](0)}, ""},
		{"raw lines pass through", []string{"plain text\n" + criLine(1, Stdout, false, "cri") + "no newline at end"}, Options{},
			"plain text\ncri\nno newline at end\n"},
		{"raw lines count for tail", []string{"a\nb\nc\n"}, Options{TailLines: ptr[int64](2)}, "b\nc\n"},
		{"trailing partial is the last line", []string{criLine(1, Stdout, false, "a") + criLine(2, Stdout, true, "b")},
			Options{TailLines: ptr[int64](1)}, "b"},
		{"empty live file", []string{criLine(1, Stdout, false, "old"), ""}, Options{TailLines: ptr[int64](1)}, "old\n"},
		{"partial lines of two streams", []string{
			criLine(1, Stdout, true, "a") + criLine(2, Stderr, false, "err") + criLine(3, Stdout, false, "b"),
		}, Options{Timestamps: true}, "2026-12-04T17:00:01.000000000Z a2026-12-04T17:00:02.000000000Z err\nb\n"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			path := writeFiles(t, tc.files...)
			var out strings.Builder
			if err := Read(context.Background(), path, tc.opts, &out); err != nil {
				t.Fatal(err)
			}
			if out.String() != tc.want {
				t.Errorf("Read wrote %q, want %q", out.String(), tc.want)
			}
		})
	}
}

func TestReadTailLargeFile(t *testing.T) {
	// Lines longer than a scan block and many blocks of them.
	var b strings.Builder
	var lines []string
	for i := range 300 {
		line := fmt.Sprintf("%d %s", i, strings.Repeat("y", i*97%(MaxLineSize)))
		lines = append(lines, line)
		b.WriteString(criLine(i, Stdout, false, line))
	}
	path := writeFiles(t, b.String())
	for _, n := range []int64{1, 7, 150, 299, 300} {
		t.Run(fmt.Sprint(n), func(t *testing.T) {
			var out strings.Builder
			if err := Read(context.Background(), path, Options{TailLines: &n}, &out); err != nil {
				t.Fatal(err)
			}
			want := strings.Join(lines[len(lines)-int(n):], "\n") + "\n"
			if out.String() != want {
				t.Errorf("tail %d: got %d bytes, want %d", n, out.Len(), len(want))
			}
		})
	}
}

func TestReadMissingLog(t *testing.T) {
	err := Read(context.Background(), filepath.Join(t.TempDir(), "none.log"), Options{}, &strings.Builder{})
	if !errors.Is(err, fs.ErrNotExist) {
		t.Errorf("Read of a missing log = %v, want fs.ErrNotExist", err)
	}
}

// follower runs a following Read in the background.
type follower struct {
	out  syncBuffer
	done chan struct{} // closed as Options.Done
	err  chan error
}

func startFollow(t *testing.T, ctx context.Context, path string, opts Options) *follower {
	t.Helper()
	f := &follower{done: make(chan struct{}), err: make(chan error, 1)}
	opts.Follow, opts.Done, opts.PollInterval = true, f.done, 5*time.Millisecond
	go func() { f.err <- Read(ctx, path, opts, &f.out) }()
	return f
}

func (f *follower) wait(t *testing.T) error {
	t.Helper()
	select {
	case err := <-f.err:
		return err
	case <-time.After(10 * time.Second):
		t.Fatal("following Read did not return")
		return nil
	}
}

func TestReadFollow(t *testing.T) {
	for _, tc := range []struct {
		name     string
		maxSize  int64
		maxFiles int
		tail     *int64
	}{
		{"without rotation", 0, 0, nil},
		{"across rotations", 200, 3, nil},
		{"across rotations keeping one file", 200, 1, nil},
		{"from a tail", 200, 3, ptr[int64](1)},
	} {
		t.Run(tc.name, func(t *testing.T) {
			path := filepath.Join(t.TempDir(), "c.log")
			w, err := NewWriter(WriterConfig{Path: path, MaxSize: tc.maxSize, MaxFiles: tc.maxFiles})
			if err != nil {
				t.Fatal(err)
			}
			defer w.Close()
			want := ""
			if tc.tail == nil {
				w.write(Stdout, []byte("before\n"))
				want = "before\n"
			} else {
				w.write(Stdout, []byte("skipped by tail\nkept\n"))
				want = "kept\n"
			}
			f := startFollow(t, context.Background(), path, Options{TailLines: tc.tail})
			waitFor(t, func() string { return "the old lines" }, func() bool { return f.out.String() == want })
			for i := range 30 {
				line := fmt.Sprintf("line %02d %s\n", i, strings.Repeat("z", 40))
				want += line
				w.write(Stdout, []byte(line))
				// Wait for each line so that no two rotations fall
				// between two polls of the reader.
				waitFor(t, func() string { return fmt.Sprintf("line %d: have %q, want %q", i, f.out.String(), want) }, func() bool { return f.out.String() == want })
			}
			w.write(Stderr, []byte("last words, unterminated"))
			if err := w.Close(); err != nil {
				t.Fatal(err)
			}
			close(f.done)
			if err := f.wait(t); err != nil {
				t.Fatalf("Read: %v", err)
			}
			if want += "last words, unterminated"; f.out.String() != want {
				t.Errorf("Read wrote %q\nwant %q", f.out.String(), want)
			}
		})
	}
}

func TestReadFollowEndsWithContext(t *testing.T) {
	path := writeFiles(t, criLine(1, Stdout, false, "a"))
	ctx, cancel := context.WithCancel(context.Background())
	f := startFollow(t, ctx, path, Options{})
	waitFor(t, func() string { return "first line" }, func() bool { return f.out.String() == "a\n" })
	cancel()
	if err := f.wait(t); !errors.Is(err, context.Canceled) {
		t.Errorf("Read = %v, want context.Canceled", err)
	}
}

func TestReadFollowStopsAtLimit(t *testing.T) {
	path := writeFiles(t, criLine(1, Stdout, false, "a"))
	f := startFollow(t, context.Background(), path, Options{LimitBytes: ptr[int64](4)})
	file, err := os.OpenFile(path, os.O_APPEND|os.O_WRONLY, 0)
	if err != nil {
		t.Fatal(err)
	}
	defer file.Close()
	if _, err := file.WriteString(criLine(2, Stdout, false, "bcd")); err != nil {
		t.Fatal(err)
	}
	if err := f.wait(t); err != nil {
		t.Fatal(err)
	}
	if got := f.out.String(); got != "a\nbc" {
		t.Errorf("Read wrote %q, want %q", got, "a\nbc")
	}
}

func TestPathsAndRemove(t *testing.T) {
	path := writeFiles(t, "3", "2", "1", "live")
	dir := filepath.Dir(path)
	for _, other := range []string{"c.log.x", "c.log.01", "c.log2", "d.log"} {
		if err := os.WriteFile(filepath.Join(dir, other), nil, 0o644); err != nil {
			t.Fatal(err)
		}
	}
	paths, err := Paths(path)
	if err != nil {
		t.Fatal(err)
	}
	if want := []string{path + ".3", path + ".2", path + ".1", path}; !slices.Equal(paths, want) {
		t.Errorf("Paths = %q, want %q", paths, want)
	}
	if err := Remove(path); err != nil {
		t.Fatal(err)
	}
	if paths, err := Paths(path); err != nil || len(paths) != 0 {
		t.Errorf("after Remove, Paths = %q, %v", paths, err)
	}
	entries, _ := os.ReadDir(dir)
	if len(entries) != 4 {
		t.Errorf("Remove touched other files: %d left, want 4", len(entries))
	}
	if err := Remove(filepath.Join(t.TempDir(), "missing", "c.log")); err != nil {
		t.Errorf("Remove of a missing log: %v", err)
	}
}
