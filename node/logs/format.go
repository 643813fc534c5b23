package logs

import (
	"bytes"
	"time"
)

// Stream names the container stream a log record came from, as written in
// the second field of a CRI log line.
type Stream string

const (
	// Stdout is the container's standard output.
	Stdout Stream = "stdout"
	// Stderr is the container's standard error.
	Stderr Stream = "stderr"
)

// Tags of the third field of a CRI log line.
const (
	tagFull    = 'F' // the record ends a line
	tagPartial = 'P' // the line continues in the next record of the stream
)

// TimeFormat is the timestamp format of the log file and of the prefix
// Read writes with Options.Timestamps: RFC 3339 with nanoseconds padded to a
// fixed width (the kubelet's RFC3339NanoFixed), always in UTC, so that
// timestamps sort as text.
const TimeFormat = "2006-01-02T15:04:05.000000000Z07:00"

// MaxLineSize is the longest content one record holds, as in containerd's
// CRI plugin (max_container_log_line_size): a longer line is split into
// partial records of this size followed by a full one.
const MaxLineSize = 16 * 1024

// record is one parsed line of a log file. content aliases the line it was
// parsed from.
type record struct {
	time    time.Time
	stream  Stream
	partial bool
	content []byte
	raw     bool // not a CRI line: content is the whole line, time is zero
}

// appendRecord appends one CRI log line for content to buf.
func appendRecord(buf []byte, now time.Time, stream Stream, partial bool, content []byte) []byte {
	buf = now.UTC().AppendFormat(buf, TimeFormat)
	buf = append(buf, ' ')
	buf = append(buf, stream...)
	buf = append(buf, ' ')
	if partial {
		buf = append(buf, tagPartial)
	} else {
		buf = append(buf, tagFull)
	}
	buf = append(buf, ' ')
	buf = append(buf, content...)
	return append(buf, '\n')
}

// parseRecord parses one line of a log file, without its newline. A line
// that is not in the CRI format (a raw file, a torn write) comes back with
// raw set and the whole line as content, so readers pass it through.
func parseRecord(line []byte) record {
	raw := record{raw: true, content: line}
	ts, rest, ok := bytes.Cut(line, []byte{' '})
	if !ok {
		return raw
	}
	t, err := time.Parse(time.RFC3339Nano, string(ts))
	if err != nil {
		return raw
	}
	stream, rest, ok := bytes.Cut(rest, []byte{' '})
	if !ok {
		return raw
	}
	var s Stream
	switch string(stream) {
	case string(Stdout):
		s = Stdout
	case string(Stderr):
		s = Stderr
	default:
		return raw
	}
	// The tag may carry more fields after a colon (P:x); only the first
	// one is defined. The content may be absent for an empty line written
	// by other writers ("... stdout F" without the trailing space).
	tags, content, _ := bytes.Cut(rest, []byte{' '})
	tag, _, _ := bytes.Cut(tags, []byte{':'})
	if len(tag) != 1 || (tag[0] != tagFull && tag[0] != tagPartial) {
		return raw
	}
	return record{time: t, stream: s, partial: tag[0] == tagPartial, content: content}
}
