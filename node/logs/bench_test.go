package logs

import (
	"context"
	"io"
	"path/filepath"
	"strings"
	"testing"
)

// BenchmarkWriter writes 100-byte lines, one per write as a
// line-buffered program does, with rotation at the default size.
func BenchmarkWriter(b *testing.B) {
	w, err := NewWriter(WriterConfig{Path: filepath.Join(b.TempDir(), "c.log")})
	if err != nil {
		b.Fatal(err)
	}
	defer w.Close()
	line := []byte(strings.Repeat("x", 99) + "\n")
	b.SetBytes(int64(len(line)))
	b.ResetTimer()
	for b.Loop() {
		w.write(Stdout, line)
	}
	b.ReportMetric(float64(b.N)/b.Elapsed().Seconds(), "lines/s")
}

// BenchmarkReadTail reads the last 100 lines of a 10 MiB log file.
func BenchmarkReadTail(b *testing.B) {
	path := filepath.Join(b.TempDir(), "c.log")
	w, err := NewWriter(WriterConfig{Path: path, MaxSize: 20 << 20})
	if err != nil {
		b.Fatal(err)
	}
	line := []byte(strings.Repeat("x", 99) + "\n")
	for written := 0; written < 10<<20; written += len(line) + 40 {
		w.write(Stdout, line)
	}
	if err := w.Close(); err != nil {
		b.Fatal(err)
	}
	tail := int64(100)
	for b.Loop() {
		if err := Read(context.Background(), path, Options{TailLines: &tail}, io.Discard); err != nil {
			b.Fatal(err)
		}
	}
}
