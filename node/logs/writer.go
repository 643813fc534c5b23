package logs

import (
	"bytes"
	"errors"
	"fmt"
	"io"
	"maps"
	"os"
	"path/filepath"
	"slices"
	"sync"
	"time"
)

// Defaults of WriterConfig.
const (
	DefaultMaxSize  = 10 << 20 // bytes, the kubelet's containerLogMaxSize
	DefaultMaxFiles = 5        // files including the live one, the kubelet's containerLogMaxFiles
)

// WriterConfig configures a Writer.
type WriterConfig struct {
	// Path is the live log file; it is created (with its directory) or
	// appended to. Rotated files are Path.1 (newest) … Path.N (oldest).
	Path string
	// MaxSize is the size in bytes after which the file is rotated; zero
	// means DefaultMaxSize. A single record longer than MaxSize still goes
	// into one file.
	MaxSize int64
	// MaxFiles is how many files are kept, counting the live one; zero
	// means DefaultMaxFiles. With 1 the file is started afresh on rotation.
	MaxFiles int
	// Now stamps records; nil means time.Now.
	Now func() time.Time
}

// Writer turns a container's output streams into a CRI log file with
// size-based rotation. Copy may run once per stream concurrently; every
// record is written whole under one mutex, so records of the two streams
// interleave but never tear.
type Writer struct {
	cfg WriterConfig

	mu      sync.Mutex
	f       *os.File
	size    int64
	partial map[Stream][]byte // per stream: text after its last newline
	buf     []byte            // record being encoded
	err     error             // first write or rotation error
	closed  bool
}

// NewWriter opens cfg.Path for appending, creating it and its directory.
func NewWriter(cfg WriterConfig) (*Writer, error) {
	if cfg.Path == "" {
		return nil, errors.New("log writer: path is required")
	}
	if cfg.MaxSize < 0 || cfg.MaxFiles < 0 {
		return nil, fmt.Errorf("log writer for %s: negative max size %d or max files %d", cfg.Path, cfg.MaxSize, cfg.MaxFiles)
	}
	if cfg.MaxSize == 0 {
		cfg.MaxSize = DefaultMaxSize
	}
	if cfg.MaxFiles == 0 {
		cfg.MaxFiles = DefaultMaxFiles
	}
	if cfg.Now == nil {
		cfg.Now = time.Now
	}
	if err := os.MkdirAll(filepath.Dir(cfg.Path), 0o755); err != nil {
		return nil, fmt.Errorf("create directory of log file %s: %w", cfg.Path, err)
	}
	w := &Writer{cfg: cfg, partial: map[Stream][]byte{}}
	if err := w.open(); err != nil {
		return nil, err
	}
	return w, nil
}

func (w *Writer) open() error {
	f, err := os.OpenFile(w.cfg.Path, os.O_WRONLY|os.O_APPEND|os.O_CREATE, 0o640)
	if err != nil {
		return fmt.Errorf("open log file %s: %w", w.cfg.Path, err)
	}
	st, err := f.Stat()
	if err != nil {
		f.Close()
		return fmt.Errorf("stat log file %s: %w", w.cfg.Path, err)
	}
	w.f, w.size = f, st.Size()
	return nil
}

// Copy writes what r yields as stream until r ends, then writes the text
// after the last newline, if any, as a partial record (as containerd's CRI
// plugin does). It keeps reading when the file cannot be written, so a
// container never blocks on a full disk; Err reports such failures. Copy
// returns r's error other than io.EOF.
func (w *Writer) Copy(stream Stream, r io.Reader) error {
	buf := make([]byte, 32*1024)
	for {
		n, err := r.Read(buf)
		if n > 0 {
			w.write(stream, buf[:n])
		}
		if err != nil {
			w.flush(stream)
			if errors.Is(err, io.EOF) || errors.Is(err, os.ErrClosed) {
				return nil
			}
			return fmt.Errorf("read %s for log file %s: %w", stream, w.cfg.Path, err)
		}
	}
}

// write takes p as stream's output; a line is written once its newline
// arrives, or in MaxLineSize pieces as it grows beyond that.
func (w *Writer) write(stream Stream, p []byte) {
	w.mu.Lock()
	defer w.mu.Unlock()
	if w.closed {
		w.fail(fmt.Errorf("write %s to log file %s: %w", stream, w.cfg.Path, os.ErrClosed))
		return
	}
	part := w.partial[stream]
	for len(p) > 0 {
		i := bytes.IndexByte(p, '\n')
		if i < 0 {
			part = append(part, p...)
			for len(part) > MaxLineSize {
				w.record(stream, true, part[:MaxLineSize])
				part = append(part[:0], part[MaxLineSize:]...)
			}
			break
		}
		line := p[:i]
		p = p[i+1:]
		if len(part) > 0 {
			part = append(part, line...)
			line = part
		}
		line = bytes.TrimSuffix(line, []byte{'\r'})
		for len(line) > MaxLineSize {
			w.record(stream, true, line[:MaxLineSize])
			line = line[MaxLineSize:]
		}
		w.record(stream, false, line)
		part = part[:0]
	}
	w.partial[stream] = part
}

// flush writes stream's unterminated text as a partial record.
func (w *Writer) flush(stream Stream) {
	w.mu.Lock()
	defer w.mu.Unlock()
	w.flushLocked(stream)
}

func (w *Writer) flushLocked(stream Stream) {
	if part := w.partial[stream]; len(part) > 0 && !w.closed {
		w.record(stream, true, part)
		w.partial[stream] = part[:0]
	}
}

// record writes one CRI line, rotating first when it would overflow the
// file. Called with w.mu held.
func (w *Writer) record(stream Stream, partial bool, content []byte) {
	w.buf = appendRecord(w.buf[:0], w.cfg.Now(), stream, partial, content)
	if w.size > 0 && w.size+int64(len(w.buf)) > w.cfg.MaxSize {
		if err := w.rotate(); err != nil {
			w.fail(err)
		}
	}
	if w.f == nil {
		return
	}
	n, err := w.f.Write(w.buf)
	w.size += int64(n)
	if err != nil {
		w.fail(fmt.Errorf("write log file %s: %w", w.cfg.Path, err))
	}
}

// rotate shifts Path.i to Path.i+1, dropping the oldest, moves the live
// file to Path.1 and opens a new live file. Readers holding the old file
// keep reading it under its new name. Whatever fails, a live file is
// reopened so that logging goes on.
func (w *Writer) rotate() error {
	var errs []error
	if err := w.f.Close(); err != nil {
		errs = append(errs, err)
	}
	w.f = nil
	keep := w.cfg.MaxFiles - 1 // rotated files kept
	ignoreMissing := func(err error) {
		if err != nil && !errors.Is(err, os.ErrNotExist) {
			errs = append(errs, err)
		}
	}
	if keep == 0 {
		ignoreMissing(os.Remove(w.cfg.Path))
	} else {
		ignoreMissing(os.Remove(rotatedName(w.cfg.Path, keep)))
		for i := keep - 1; i >= 1; i-- {
			ignoreMissing(os.Rename(rotatedName(w.cfg.Path, i), rotatedName(w.cfg.Path, i+1)))
		}
		ignoreMissing(os.Rename(w.cfg.Path, rotatedName(w.cfg.Path, 1)))
	}
	if err := w.open(); err != nil {
		errs = append(errs, err)
	}
	if err := errors.Join(errs...); err != nil {
		return fmt.Errorf("rotate log file %s: %w", w.cfg.Path, err)
	}
	return nil
}

func (w *Writer) fail(err error) {
	if w.err == nil {
		w.err = err
	}
}

// Err returns the first error writing or rotating the file, if any.
func (w *Writer) Err() error {
	w.mu.Lock()
	defer w.mu.Unlock()
	return w.err
}

// Close writes the unterminated text of every stream as partial records
// and closes the file. Copy calls still blocked in a read are not
// interrupted; what they bring afterwards is dropped and counted in Err.
func (w *Writer) Close() error {
	w.mu.Lock()
	defer w.mu.Unlock()
	if w.closed {
		return nil
	}
	for _, s := range slices.Sorted(maps.Keys(w.partial)) {
		w.flushLocked(s)
	}
	w.closed = true
	if w.f == nil {
		return w.err
	}
	if err := w.f.Close(); err != nil {
		return fmt.Errorf("close log file %s: %w", w.cfg.Path, err)
	}
	return w.err
}
