package server

import (
	"bytes"
	"errors"
	"strconv"
)

// Objects are stored without resourceVersion (it is the revision the store
// assigns). Serving them does not need a decode: withResourceVersion
// splices the revision into the stored JSON, which lists, gets and watch
// events without selectors use as is.

// withResourceVersion returns obj (a JSON object as stored) with
// metadata.resourceVersion set to rev. The stored object has no
// resourceVersion, so no key is duplicated.
func withResourceVersion(obj []byte, rev int64) ([]byte, error) {
	return appendWithResourceVersion(make([]byte, 0, len(obj)+44), obj, rev)
}

// appendWithResourceVersion appends withResourceVersion(obj, rev) to dst.
func appendWithResourceVersion(dst, obj []byte, rev int64) ([]byte, error) {
	at, err := metadataBrace(obj)
	if err != nil {
		return dst, err
	}
	dst = append(dst, obj[:at+1]...)
	dst = append(dst, `"resourceVersion":"`...)
	dst = strconv.AppendInt(dst, rev, 10)
	dst = append(dst, '"')
	rest := bytes.TrimLeft(obj[at+1:], " \t\r\n")
	if len(rest) > 0 && rest[0] != '}' {
		dst = append(dst, ',')
	}
	return append(dst, obj[at+1:]...), nil
}

var errNoMetadata = errors.New("stored object has no metadata object")

// metadataBrace returns the offset of the '{' that opens the value of the
// top-level "metadata" key.
func metadataBrace(b []byte) (int, error) {
	depth := 0
	for i := 0; i < len(b); i++ {
		switch b[i] {
		case '"':
			end := stringEnd(b, i)
			if end < 0 {
				return 0, errNoMetadata
			}
			if depth == 1 && string(b[i:end+1]) == `"metadata"` {
				j := skipSpace(b, end+1)
				if j < len(b) && b[j] == ':' {
					j = skipSpace(b, j+1)
					if j < len(b) && b[j] == '{' {
						return j, nil
					}
					return 0, errNoMetadata
				}
			}
			i = end
		case '{', '[':
			depth++
		case '}', ']':
			depth--
		}
	}
	return 0, errNoMetadata
}

// stringEnd returns the index of the quote closing the string that opens
// at b[i], or -1.
func stringEnd(b []byte, i int) int {
	for j := i + 1; j < len(b); j++ {
		switch b[j] {
		case '\\':
			j++
		case '"':
			return j
		}
	}
	return -1
}

func skipSpace(b []byte, i int) int {
	for i < len(b) && (b[i] == ' ' || b[i] == '\t' || b[i] == '\n' || b[i] == '\r') {
		i++
	}
	return i
}
