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
	dst = append(dst, obj[:at]...)
	return appendMetadata(dst, obj[at:], rev), nil
}

// appendMetadata appends meta, which starts with the '{' of an object's
// metadata, with "resourceVersion" added as its first key.
func appendMetadata(dst, meta []byte, rev int64) []byte {
	dst = append(dst, `{"resourceVersion":"`...)
	dst = strconv.AppendInt(dst, rev, 10)
	dst = append(dst, '"')
	rest := bytes.TrimLeft(meta[1:], " \t\r\n")
	if len(rest) > 0 && rest[0] != '}' {
		dst = append(dst, ',')
	}
	return append(dst, meta[1:]...)
}

// partialMetadataPrefix opens a PartialObjectMetadata up to its metadata.
const partialMetadataPrefix = `{"kind":"PartialObjectMetadata","apiVersion":"meta.k8s.io/v1","metadata":`

// appendPartialMetadata appends obj (a JSON object as stored) as the
// PartialObjectMetadata that metadata clients ask for: its metadata, with
// resourceVersion set to rev, without decoding it.
func appendPartialMetadata(dst, obj []byte, rev int64) ([]byte, error) {
	at, err := metadataBrace(obj)
	if err != nil {
		return dst, err
	}
	end := objectEnd(obj, at)
	if end < 0 {
		return dst, errNoMetadata
	}
	dst = append(dst, partialMetadataPrefix...)
	dst = appendMetadata(dst, obj[at:end+1], rev)
	return append(dst, '}'), nil
}

// objectEnd returns the index of the '}' closing the object that opens
// at b[i], or -1.
func objectEnd(b []byte, i int) int {
	depth := 0
	for j := i; j < len(b); j++ {
		switch b[j] {
		case '"':
			if j = stringEnd(b, j); j < 0 {
				return -1
			}
		case '{', '[':
			depth++
		case '}', ']':
			if depth--; depth == 0 {
				return j
			}
		}
	}
	return -1
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
