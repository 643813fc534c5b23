package logs

import (
	"fmt"
	"path/filepath"
	"slices"
	"strings"
	"sync"
	"testing"
)

// chunk is one piece of output a test feeds to a Writer.
type chunk struct {
	stream Stream
	data   string
}

func TestWriterLines(t *testing.T) {
	long := strings.Repeat("x", MaxLineSize)
	for _, tc := range []struct {
		name   string
		chunks []chunk
		want   []rec
	}{
		{"full lines", []chunk{{Stdout, "a\nb\n"}}, []rec{{Stdout, false, "a"}, {Stdout, false, "b"}}},
		{"line across writes", []chunk{{Stdout, "hel"}, {Stdout, "lo\nwor"}, {Stdout, "ld\n"}}, []rec{{Stdout, false, "hello"}, {Stdout, false, "world"}}},
		{"crlf", []chunk{{Stdout, "x\r\n"}, {Stdout, "y\r"}, {Stdout, "\n"}}, []rec{{Stdout, false, "x"}, {Stdout, false, "y"}}},
		{"lone cr kept", []chunk{{Stdout, "a\rb\n"}}, []rec{{Stdout, false, "a\rb"}}},
		{"empty line", []chunk{{Stderr, "\n"}}, []rec{{Stderr, false, ""}}},
		{"streams interleaved", []chunk{{Stdout, "a"}, {Stderr, "b\n"}, {Stdout, "c\n"}, {Stderr, "d\n"}},
			[]rec{{Stderr, false, "b"}, {Stdout, false, "ac"}, {Stderr, false, "d"}}},
		{"exactly max line", []chunk{{Stdout, long + "\n"}}, []rec{{Stdout, false, long}}},
		{"long line split", []chunk{{Stdout, long + long + "tail\n"}},
			[]rec{{Stdout, true, long}, {Stdout, true, long}, {Stdout, false, "tail"}}},
		{"long line split across writes", []chunk{{Stdout, long[:100]}, {Stdout, long[100:] + "ab"}, {Stdout, "c\n"}},
			[]rec{{Stdout, true, long}, {Stdout, false, "abc"}}},
		{"unterminated at close is partial", []chunk{{Stdout, "done\nno newline"}, {Stderr, "err tail"}},
			[]rec{{Stdout, false, "done"}, {Stderr, true, "err tail"}, {Stdout, true, "no newline"}}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			path := filepath.Join(t.TempDir(), "c.log")
			w, err := NewWriter(WriterConfig{Path: path, Now: fakeClock()})
			if err != nil {
				t.Fatal(err)
			}
			for _, c := range tc.chunks {
				w.write(c.stream, []byte(c.data))
			}
			if err := w.Close(); err != nil {
				t.Fatal(err)
			}
			if got := readRecords(t, path); !slices.Equal(got, tc.want) {
				t.Errorf("records = %+v\nwant %+v", got, tc.want)
			}
		})
	}
}

func TestWriterCopyConcurrent(t *testing.T) {
	path := filepath.Join(t.TempDir(), "c.log")
	w, err := NewWriter(WriterConfig{Path: path})
	if err != nil {
		t.Fatal(err)
	}
	const n = 2000
	input := func(s Stream) string {
		var b strings.Builder
		for i := range n {
			fmt.Fprintf(&b, "%s line %d %s\n", s, i, strings.Repeat("=", i%200))
		}
		b.WriteString(string(s) + " tail")
		return b.String()
	}
	var wg sync.WaitGroup
	for _, s := range []Stream{Stdout, Stderr} {
		wg.Go(func() {
			if err := w.Copy(s, strings.NewReader(input(s))); err != nil {
				t.Error(err)
			}
		})
	}
	wg.Wait()
	if err := w.Close(); err != nil {
		t.Fatal(err)
	}
	got := map[Stream][]string{}
	for _, r := range readRecords(t, path) {
		got[r.stream] = append(got[r.stream], r.content)
	}
	for _, s := range []Stream{Stdout, Stderr} {
		want := strings.Split(input(s), "\n")
		if !slices.Equal(got[s], want) {
			t.Errorf("%s: %d records, want %d in order", s, len(got[s]), len(want))
		}
	}
}

func TestWriterRotation(t *testing.T) {
	for _, tc := range []struct {
		name     string
		maxFiles int
	}{
		{"keeps three files", 3},
		{"keeps only the live file", 1},
		{"default count", 0},
	} {
		t.Run(tc.name, func(t *testing.T) {
			path := filepath.Join(t.TempDir(), "c.log")
			const maxSize = 300
			w, err := NewWriter(WriterConfig{Path: path, MaxSize: maxSize, MaxFiles: tc.maxFiles, Now: fakeClock()})
			if err != nil {
				t.Fatal(err)
			}
			var lines []string
			for i := range 100 {
				lines = append(lines, fmt.Sprintf("line %03d", i))
				w.write(Stdout, []byte(lines[i]+"\n"))
			}
			if err := w.Close(); err != nil {
				t.Fatal(err)
			}
			paths, err := Paths(path)
			if err != nil {
				t.Fatal(err)
			}
			wantFiles := tc.maxFiles
			if wantFiles == 0 {
				wantFiles = DefaultMaxFiles
			}
			wantPaths := []string{path}
			for i := 1; i < wantFiles; i++ {
				wantPaths = slices.Insert(wantPaths, 0, rotatedName(path, i))
			}
			if !slices.Equal(paths, wantPaths) {
				t.Fatalf("Paths = %q, want %q", paths, wantPaths)
			}
			// The files hold the newest lines, in order, none above maxSize.
			var got []string
			for _, p := range paths {
				recs := readRecords(t, p)
				if size := len(recs) * len(criLine(0, Stdout, false, "line 000")); size > maxSize {
					t.Errorf("%s holds %d bytes, above %d", p, size, maxSize)
				}
				for _, r := range recs {
					got = append(got, r.content)
				}
			}
			if len(got) == 0 || !slices.Equal(got, lines[len(lines)-len(got):]) {
				t.Errorf("files hold %q, want a suffix of what was written", got)
			}
		})
	}
}

func TestWriterAppendsToExistingFile(t *testing.T) {
	path := filepath.Join(t.TempDir(), "sub", "c.log")
	for _, line := range []string{"first", "second"} {
		w, err := NewWriter(WriterConfig{Path: path})
		if err != nil {
			t.Fatal(err)
		}
		w.write(Stdout, []byte(line+"\n"))
		if err := w.Close(); err != nil {
			t.Fatal(err)
		}
	}
	if got := readRecords(t, path); !slices.Equal(got, []rec{{Stdout, false, "first"}, {Stdout, false, "second"}}) {
		t.Errorf("records = %+v", got)
	}
}

func TestNewWriterRejectsBadConfig(t *testing.T) {
	for _, tc := range []struct {
		name string
		cfg  WriterConfig
	}{
		{"no path", WriterConfig{}},
		{"negative size", WriterConfig{Path: "/tmp/x.log", MaxSize: -1}},
		{"negative files", WriterConfig{Path: "/tmp/x.log", MaxFiles: -1}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			if _, err := NewWriter(tc.cfg); err == nil {
				t.Error("NewWriter succeeded")
			}
		})
	}
}
