package storage_test

import (
	"bytes"
	"encoding/json"
)

// jsonEq compares JSON documents, ignoring formatting (PostgreSQL's JSONB
// does not keep it).
func jsonEq(got []byte, want string) bool {
	var a, b any
	if json.Unmarshal(got, &a) != nil || json.Unmarshal([]byte(want), &b) != nil {
		return false
	}
	x, _ := json.Marshal(a)
	y, _ := json.Marshal(b)
	return bytes.Equal(x, y)
}

// compact returns a JSON document without insignificant spaces.
func compact(v []byte) string {
	var b bytes.Buffer
	if json.Compact(&b, v) != nil {
		return string(v)
	}
	return b.String()
}
