package logs

import (
	"bytes"
	"os"
	"strings"
	"sync"
	"testing"
	"time"
)

// testTime is the clock of test writers: records are one second apart.
var testTime = time.Date(2026, 12, 4, 17, 0, 0, 0, time.UTC)

func fakeClock() func() time.Time {
	var mu sync.Mutex
	n := 0
	return func() time.Time {
		mu.Lock()
		defer mu.Unlock()
		n++
		return testTime.Add(time.Duration(n) * time.Second)
	}
}

// rec is a record as tests write and expect it.
type rec struct {
	stream  Stream
	partial bool
	content string
}

// readRecords parses the records of one file.
func readRecords(t *testing.T, path string) []rec {
	t.Helper()
	b, err := os.ReadFile(path)
	if err != nil {
		t.Fatal(err)
	}
	var out []rec
	for _, line := range bytes.SplitAfter(b, []byte{'\n'}) {
		if len(line) == 0 {
			continue
		}
		if line[len(line)-1] != '\n' {
			t.Fatalf("%s: unterminated record %q", path, line)
		}
		r := parseRecord(line[:len(line)-1])
		if r.raw {
			t.Fatalf("%s: not a CRI record: %q", path, line)
		}
		out = append(out, rec{r.stream, r.partial, string(r.content)})
	}
	return out
}

// criLine is one record at second sec after testTime.
func criLine(sec int, stream Stream, partial bool, content string) string {
	return string(appendRecord(nil, testTime.Add(time.Duration(sec)*time.Second), stream, partial, []byte(content)))
}

// syncBuffer is a bytes.Buffer safe for a writer and a polling reader.
type syncBuffer struct {
	mu sync.Mutex
	b  bytes.Buffer
}

func (s *syncBuffer) Write(p []byte) (int, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.b.Write(p)
}

func (s *syncBuffer) String() string {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.b.String()
}

// waitFor polls cond until it holds or the deadline passes.
func waitFor(t *testing.T, what func() string, cond func() bool) {
	t.Helper()
	deadline := time.Now().Add(10 * time.Second)
	for !cond() {
		if time.Now().After(deadline) {
			t.Fatalf("timed out waiting for %s", what())
		}
		time.Sleep(5 * time.Millisecond)
	}
}

func TestParseRecord(t *testing.T) {
	for _, tc := range []struct {
		name string
		line string
		want record
	}{
		{"full", "2026-12-04T17:00:01.000000000Z stdout F hello world", record{time: testTime.Add(time.Second), stream: Stdout, content: []byte("hello world")}},
		{"partial stderr", "2026-12-04T17:00:01.5Z stderr P part", record{time: testTime.Add(1500 * time.Millisecond), stream: Stderr, partial: true, content: []byte("part")}},
		{"empty content", "2026-12-04T17:00:01Z stdout F ", record{time: testTime.Add(time.Second), stream: Stdout, content: []byte{}}},
		{"no content field", "2026-12-04T17:00:01Z stdout F", record{time: testTime.Add(time.Second), stream: Stdout}},
		{"tag with attributes", "2026-12-04T17:00:01Z stdout P:x y", record{time: testTime.Add(time.Second), stream: Stdout, partial: true, content: []byte("y")}},
		{"raw text", "just some text", record{raw: true, content: []byte("just some text")}},
		{"bad stream", "2026-12-04T17:00:01Z stdin F x", record{raw: true, content: []byte("2026-12-04T17:00:01Z stdin F x")}},
		{"bad tag", "2026-12-04T17:00:01Z stdout X x", record{raw: true, content: []byte("2026-12-04T17:00:01Z stdout X x")}},
		{"empty", "", record{raw: true, content: []byte{}}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			got := parseRecord([]byte(tc.line))
			if !got.time.Equal(tc.want.time) || got.stream != tc.want.stream || got.partial != tc.want.partial ||
				got.raw != tc.want.raw || !bytes.Equal(got.content, tc.want.content) {
				t.Errorf("parseRecord(%q) = %+v, want %+v", tc.line, got, tc.want)
			}
		})
	}
}

func TestAppendRecordFormat(t *testing.T) {
	got := criLine(1, Stderr, true, "x")
	if want := "2026-12-04T17:00:01.000000000Z stderr P x\n"; got != want {
		t.Errorf("record = %q, want %q", got, want)
	}
	if !strings.HasSuffix(criLine(0, Stdout, false, ""), " stdout F \n") {
		t.Errorf("empty line record = %q", criLine(0, Stdout, false, ""))
	}
}
