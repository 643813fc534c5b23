package server

import (
	"bytes"
	"encoding/json"
	"slices"
	"strings"

	"k8s.io/apimachinery/pkg/fields"
	"k8s.io/apimachinery/pkg/labels"

	"github.com/sqlkube/sqlkube/server/registry"
	"github.com/sqlkube/sqlkube/storage"
)

// Selectors on stored JSON. A watch with a field selector (every node
// agent watches its pods by spec.nodeName) sees every change of the
// resource; decoding each to evaluate the selector made the selector the
// costliest part of serving it. Labels and plain string fields are read
// from the stored JSON instead; other fields still decode the object.

// rawMatch evaluates sel on a stored object without decoding it. ok is
// false when a field of sel is not plain (registry.Resource.PlainFields):
// the caller must decode.
func (sel selector) rawMatch(res *registry.Resource, value []byte) (match, ok bool) {
	if !sel.fields.Empty() {
		set := fields.Set{}
		for _, r := range sel.fields.Requirements() {
			if r.Field != "metadata.name" && r.Field != "metadata.namespace" && !slices.Contains(res.PlainFields, r.Field) {
				return false, false
			}
			v, ok := jsonString(value, strings.Split(r.Field, ".")...)
			if !ok {
				return false, false
			}
			set[r.Field] = v
		}
		if !sel.fields.Matches(set) {
			return false, true
		}
	}
	if sel.labels.Empty() {
		return true, true
	}
	at, found, ok := jsonLookup(value, "metadata", "labels")
	if !ok {
		return false, false
	}
	var m map[string]string
	if found {
		if end := valueEnd(value, at); end < 0 || json.Unmarshal(value[at:end], &m) != nil {
			return false, false
		}
	}
	return sel.labels.Matches(labels.Set(m)), true
}

// matcher returns a test of stored objects against sel: on the stored
// JSON when sel allows it, else on the decoded object.
func (s *Server) matcher(res *registry.Resource, sel selector) func(storage.Object) bool {
	return func(o storage.Object) bool {
		if m, ok := sel.rawMatch(res, o.Value); ok {
			return m
		}
		obj, err := s.decodeStored(res, o)
		return err == nil && sel.matches(res, obj)
	}
}

// jsonString returns the string at path in the JSON object b: "" when
// the path is absent or null. ok is false when the value there is not a
// string or b is not valid JSON along the path.
func jsonString(b []byte, path ...string) (string, bool) {
	at, found, ok := jsonLookup(b, path...)
	if !ok || !found {
		return "", ok
	}
	switch b[at] {
	case 'n':
		return "", bytes.HasPrefix(b[at:], []byte("null"))
	case '"':
		end := stringEnd(b, at)
		if end < 0 {
			return "", false
		}
		if bytes.IndexByte(b[at+1:end], '\\') < 0 {
			return string(b[at+1 : end]), true
		}
		var s string
		if err := json.Unmarshal(b[at:end+1], &s); err != nil {
			return "", false
		}
		return s, true
	}
	return "", false
}

// jsonLookup finds the value at path in the JSON object b and returns its
// offset. found is false when a key along the path is absent (or an
// intermediate value is null); ok is false when b is not valid JSON
// along the path, or an intermediate value is not an object.
func jsonLookup(b []byte, path ...string) (at int, found, ok bool) {
	at = skipSpace(b, 0)
	for _, key := range path {
		if at >= len(b) {
			return 0, false, false
		}
		switch b[at] {
		case 'n':
			return 0, false, bytes.HasPrefix(b[at:], []byte("null"))
		case '{':
		default:
			return 0, false, false
		}
		v, found, ok := objectField(b, at, key)
		if !ok || !found {
			return 0, found, ok
		}
		at = v
	}
	return at, true, true
}

// objectField returns the offset of the value of key in the object that
// opens at b[at].
func objectField(b []byte, at int, key string) (v int, found, ok bool) {
	i := skipSpace(b, at+1)
	if i < len(b) && b[i] == '}' {
		return 0, false, true
	}
	for i < len(b) {
		if b[i] != '"' {
			return 0, false, false
		}
		end := stringEnd(b, i)
		if end < 0 {
			return 0, false, false
		}
		name := b[i+1 : end]
		i = skipSpace(b, end+1)
		if i >= len(b) || b[i] != ':' {
			return 0, false, false
		}
		i = skipSpace(b, i+1)
		if i >= len(b) {
			return 0, false, false
		}
		if string(name) == key {
			return i, true, true
		}
		if i = valueEnd(b, i); i < 0 {
			return 0, false, false
		}
		i = skipSpace(b, i)
		switch {
		case i < len(b) && b[i] == ',':
			i = skipSpace(b, i+1)
		case i < len(b) && b[i] == '}':
			return 0, false, true
		default:
			return 0, false, false
		}
	}
	return 0, false, false
}

// valueEnd returns the offset just past the JSON value at b[i], or -1.
func valueEnd(b []byte, i int) int {
	if i >= len(b) {
		return -1
	}
	switch b[i] {
	case '{', '[':
		if end := objectEnd(b, i); end >= 0 {
			return end + 1
		}
		return -1
	case '"':
		if end := stringEnd(b, i); end >= 0 {
			return end + 1
		}
		return -1
	}
	j := i
	for j < len(b) && !strings.ContainsRune(",}] \t\r\n", rune(b[j])) {
		j++
	}
	if j == i {
		return -1
	}
	return j
}
