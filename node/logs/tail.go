package logs

import (
	"bytes"
	"fmt"
	"io"
	"os"
)

// position is a place in the files of a log: an index into the files
// oldest first and a byte offset in that file.
type position struct {
	file int
	off  int64
}

// tailStart finds where the last n lines of the log begin, scanning the
// files backwards from the end of the newest one. A line ends with a full
// record (or a line not in the CRI format); records after the last full
// one count as a line of their own.
func tailStart(files []*os.File, n int64) (position, error) {
	if n <= 0 {
		last := len(files) - 1
		st, err := files[last].Stat()
		if err != nil {
			return position{}, err
		}
		return position{last, st.Size()}, nil
	}
	var (
		count   int64
		pending *position // the record after the current one
	)
	for fi := len(files) - 1; fi >= 0; fi-- {
		st, err := files[fi].Stat()
		if err != nil {
			return position{}, err
		}
		bs, err := newBackScanner(files[fi], st.Size())
		if err != nil {
			return position{}, fmt.Errorf("scan %s: %w", files[fi].Name(), err)
		}
		for {
			line, off, ok, err := bs.prev()
			if err != nil {
				return position{}, fmt.Errorf("scan %s: %w", files[fi].Name(), err)
			}
			if !ok {
				break
			}
			if rec := parseRecord(line); (rec.raw || !rec.partial) && pending != nil {
				// The record after this one starts a line.
				if count++; count == n {
					return *pending, nil
				}
			}
			pending = &position{fi, off}
		}
	}
	return position{}, nil
}

// backScanner yields the lines of a file from the last to the first.
type backScanner struct {
	r    io.ReaderAt
	pos  int64  // file offset of buf[0]
	buf  []byte // the unscanned text before the lines already returned
	done bool
}

const backBlock = 64 * 1024

func newBackScanner(r io.ReaderAt, size int64) (*backScanner, error) {
	b := &backScanner{r: r, pos: size, done: size == 0}
	if size > 0 {
		last := make([]byte, 1)
		if _, err := r.ReadAt(last, size-1); err != nil {
			return nil, err
		}
		if last[0] == '\n' {
			b.pos-- // the newline ends the last line; it does not start another
		}
	}
	return b, nil
}

// prev returns the line before the ones returned so far, without its
// newline and valid until the next call, and its offset; ok is false at
// the start of the file.
func (b *backScanner) prev() (line []byte, off int64, ok bool, err error) {
	for {
		if i := bytes.LastIndexByte(b.buf, '\n'); i >= 0 {
			line, off = b.buf[i+1:], b.pos+int64(i)+1
			b.buf = b.buf[:i]
			return line, off, true, nil
		}
		if b.pos == 0 {
			if b.done {
				return nil, 0, false, nil
			}
			b.done = true
			return b.buf, 0, true, nil
		}
		n := min(backBlock, b.pos)
		chunk := make([]byte, n+int64(len(b.buf)))
		if _, err := b.r.ReadAt(chunk[:n], b.pos-n); err != nil {
			return nil, 0, false, err
		}
		copy(chunk[n:], b.buf)
		b.buf, b.pos = chunk, b.pos-n
	}
}
