package logs

import (
	"bufio"
	"context"
	"errors"
	"fmt"
	"io"
	"io/fs"
	"os"
	"slices"
	"time"
)

// DefaultPollInterval is how often a following Read looks for new output
// when Options.PollInterval is zero.
const DefaultPollInterval = 100 * time.Millisecond

// Options select what Read writes; they mirror the kubelet's handling of
// PodLogOptions.
type Options struct {
	// Follow keeps reading after the end of the log, across rotations,
	// until ctx ends or Done is closed.
	Follow bool
	// TailLines, when set, starts at the TailLines-th last line (a line
	// being the records up to a full one) of the log, rotated files
	// included. Zero writes nothing old; with Follow only new lines.
	TailLines *int64
	// SinceTime, when set, skips lines whose first record is older.
	SinceTime *time.Time
	// Timestamps prefixes each line with its time in TimeFormat and a space.
	Timestamps bool
	// LimitBytes, when set, stops after writing that many bytes (the last
	// line may be cut); Read then returns nil.
	LimitBytes *int64
	// Done, when closed, makes a following Read write what the log holds
	// and return nil. The agent closes it once the container has exited and
	// its logger has finished (the shim waits for the logger when the task
	// is deleted), so that `kubectl logs -f` ends with the container.
	Done <-chan struct{}
	// PollInterval is how often a following Read checks for new output and
	// rotation; zero means DefaultPollInterval.
	PollInterval time.Duration
}

// errLimit stops a read once Options.LimitBytes have been written.
var errLimit = errors.New("log byte limit reached")

// Read writes the content of the log at path to w: the rotated files
// oldest first, then the live file, records of a line joined, both streams
// merged in the order they were written (as the kubelet serves them).
// Lines that are not in the CRI format are written unchanged. Read fails
// with an error wrapping fs.ErrNotExist when the log has no file, and
// returns ctx's error when ctx ends while following.
func Read(ctx context.Context, path string, opts Options, w io.Writer) error {
	files, err := openLog(path)
	if err != nil {
		return err
	}
	defer func() {
		for _, f := range files {
			f.Close()
		}
	}()
	if len(files) == 0 {
		return fmt.Errorf("read log %s: %w", path, fs.ErrNotExist)
	}
	start := position{}
	if opts.TailLines != nil {
		if start, err = tailStart(files, *opts.TailLines); err != nil {
			return fmt.Errorf("read log %s: %w", path, err)
		}
	}
	out := &output{w: w, timestamps: opts.Timestamps, since: opts.SinceTime, remaining: -1, stream: map[Stream]*lineState{}}
	if opts.LimitBytes != nil {
		out.remaining = max(*opts.LimitBytes, 0)
		if out.remaining == 0 {
			return nil
		}
	}
	err = read(ctx, path, files, start, opts, out)
	if errors.Is(err, errLimit) {
		return nil
	}
	return err
}

func read(ctx context.Context, path string, files []*os.File, start position, opts Options, out *output) error {
	for i := start.file; i < len(files); i++ {
		if err := ctx.Err(); err != nil {
			return err
		}
		off := int64(0)
		if i == start.file {
			off = start.off
		}
		if _, err := files[i].Seek(off, io.SeekStart); err != nil {
			return fmt.Errorf("read log %s: %w", files[i].Name(), err)
		}
		lr := newLineReader(files[i])
		if opts.Follow && i == len(files)-1 {
			return follow(ctx, path, files[i], lr, opts, out)
		}
		if err := drain(lr, out, true); err != nil {
			return err
		}
	}
	return nil
}

// follow reads f, the newest file, then waits for more and follows path
// to the next file when the writer rotates.
func follow(ctx context.Context, path string, f *os.File, lr *lineReader, opts Options, out *output) error {
	interval := opts.PollInterval
	if interval <= 0 {
		interval = DefaultPollInterval
	}
	ticker := time.NewTicker(interval)
	defer ticker.Stop()
	var opened *os.File // a file follow opened itself, to close
	defer func() {
		if opened != nil {
			opened.Close()
		}
	}()
	done := opts.Done
	exited := false
	for {
		if err := drain(lr, out, false); err != nil {
			return err
		}
		next, err := replaced(path, f)
		if err != nil {
			return err
		}
		if next != nil {
			// Lines written before the rename, then a torn tail as is.
			if err := drain(lr, out, true); err != nil {
				next.Close()
				return err
			}
			if opened != nil {
				opened.Close()
			}
			f, opened, lr = next, next, newLineReader(next)
			continue
		}
		if exited {
			return drain(lr, out, true)
		}
		select {
		case <-ctx.Done():
			return ctx.Err()
		case <-done:
			exited, done = true, nil // one more pass, then return
		case <-ticker.C:
		}
	}
}

// replaced opens path when it is no longer the file f, i.e. the writer has
// rotated. It returns nil while path is f or does not exist yet.
func replaced(path string, f *os.File) (*os.File, error) {
	st, err := os.Stat(path)
	if errors.Is(err, os.ErrNotExist) {
		return nil, nil
	}
	if err != nil {
		return nil, fmt.Errorf("follow log %s: %w", path, err)
	}
	cur, err := f.Stat()
	if err != nil {
		return nil, fmt.Errorf("follow log %s: %w", path, err)
	}
	if os.SameFile(cur, st) {
		return nil, nil
	}
	next, err := os.Open(path)
	if errors.Is(err, os.ErrNotExist) {
		return nil, nil // rotated again in between: next poll
	}
	if err != nil {
		return nil, fmt.Errorf("follow log %s: %w", path, err)
	}
	return next, nil
}

// openLog opens the files of the log at path and returns them oldest
// first. It opens the newest first and skips a file already open under
// another name, so a rotation while opening does not repeat a file.
func openLog(path string) ([]*os.File, error) {
	paths, err := Paths(path)
	if err != nil {
		return nil, err
	}
	var (
		files []*os.File
		infos []os.FileInfo
	)
	closeAll := func() {
		for _, f := range files {
			f.Close()
		}
	}
	for _, p := range slices.Backward(paths) {
		f, err := os.Open(p)
		if errors.Is(err, os.ErrNotExist) {
			continue // rotated away since listing
		}
		if err != nil {
			closeAll()
			return nil, fmt.Errorf("open log %s: %w", p, err)
		}
		st, err := f.Stat()
		if err != nil {
			f.Close()
			closeAll()
			return nil, fmt.Errorf("stat log %s: %w", p, err)
		}
		if slices.ContainsFunc(infos, func(o os.FileInfo) bool { return os.SameFile(o, st) }) {
			f.Close()
			continue
		}
		files, infos = append(files, f), append(infos, st)
	}
	slices.Reverse(files)
	return files, nil
}

// drain writes the complete lines of lr up to the end of its file. With
// final set, the file will not grow any more and an unterminated last line
// is written too.
func drain(lr *lineReader, out *output, final bool) error {
	for {
		line, err := lr.next()
		if err == nil {
			if err := out.emit(parseRecord(line)); err != nil {
				return err
			}
			continue
		}
		if !errors.Is(err, io.EOF) {
			return fmt.Errorf("read log %s: %w", lr.name, err)
		}
		if rest := lr.rest(); final && len(rest) > 0 {
			return out.emit(parseRecord(rest))
		}
		return nil
	}
}

// lineReader reads the lines of a file that may still grow: an
// unterminated line at the end is kept until its newline arrives.
type lineReader struct {
	name    string
	r       *bufio.Reader
	pending []byte
}

func newLineReader(f *os.File) *lineReader {
	return &lineReader{name: f.Name(), r: bufio.NewReaderSize(f, 64*1024)}
}

// next returns the next complete line without its newline, valid until
// the next call, or io.EOF at the end of the file.
func (l *lineReader) next() ([]byte, error) {
	for {
		b, err := l.r.ReadSlice('\n')
		if err == nil {
			b = b[:len(b)-1]
			if len(l.pending) == 0 {
				return b, nil
			}
			line := append(l.pending, b...)
			l.pending = line[:0]
			return line, nil
		}
		l.pending = append(l.pending, b...)
		if !errors.Is(err, bufio.ErrBufferFull) {
			return nil, err
		}
	}
}

// rest returns and forgets the unterminated text read after the last line.
func (l *lineReader) rest() []byte {
	rest := l.pending
	l.pending = nil
	return rest
}

// lineState is what output remembers of a stream's current line.
type lineState struct {
	mid  bool // the last record was partial: the next continues its line
	skip bool // the line started before Options.SinceTime
}

// output writes records to the client as lines.
type output struct {
	w          io.Writer
	timestamps bool
	since      *time.Time
	remaining  int64 // bytes left to write; -1 is no limit
	stream     map[Stream]*lineState
	buf        []byte
}

func (o *output) emit(rec record) error {
	o.buf = o.buf[:0]
	if rec.raw {
		o.buf = append(append(o.buf, rec.content...), '\n')
		return o.write()
	}
	st := o.stream[rec.stream]
	if st == nil {
		st = &lineState{}
		o.stream[rec.stream] = st
	}
	start := !st.mid
	st.mid = rec.partial
	if start {
		st.skip = o.since != nil && rec.time.Before(*o.since)
		if o.timestamps && !st.skip {
			o.buf = rec.time.UTC().AppendFormat(o.buf, TimeFormat)
			o.buf = append(o.buf, ' ')
		}
	}
	if st.skip {
		return nil
	}
	o.buf = append(o.buf, rec.content...)
	if !rec.partial {
		o.buf = append(o.buf, '\n')
	}
	return o.write()
}

func (o *output) write() error {
	b := o.buf
	limited := o.remaining >= 0 && int64(len(b)) >= o.remaining
	if limited {
		b = b[:o.remaining]
	}
	if _, err := o.w.Write(b); err != nil {
		return fmt.Errorf("write log: %w", err)
	}
	if limited {
		o.remaining = 0
		return errLimit
	}
	if o.remaining > 0 {
		o.remaining -= int64(len(b))
	}
	return nil
}
