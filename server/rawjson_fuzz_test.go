package server

import (
	"bytes"
	"encoding/json"
	"reflect"
	"testing"
)

// FuzzRawJSON checks the stored-JSON helpers against encoding/json: on
// any input they must not panic, and on a valid document (in Go's
// compact form and in PostgreSQL's spaced form) they must agree with what
// decoding the document gives. `go test -fuzz FuzzRawJSON ./server` runs
// it beyond the seeds.
func FuzzRawJSON(f *testing.F) {
	for _, seed := range []struct{ doc, k1, k2 string }{
		{`{"kind":"Pod","metadata":{"name":"a","labels":{"app":"web"}},"spec":{"nodeName":"n1"}}`, "spec", "nodeName"},
		{`{"metadata":{},"status":{"phase":null}}`, "status", "phase"},
		{`{"kind":"metadata","metadata":{"name":"q\"uote"},"x":[1,{"metadata":2}]}`, "metadata", "name"},
		{`{"metadata":"nope","spec":{"nodeName":3}}`, "spec", "nodeName"},
		{`{"a":`, "a", ""},
		{`{"metadata":{"name":"a\\"}}`, "metadata", "name"},
		{`[{"metadata":{}}]`, "metadata", "name"},
	} {
		f.Add([]byte(seed.doc), seed.k1, seed.k2)
	}
	f.Fuzz(func(t *testing.T, doc []byte, k1, k2 string) {
		// Any input: no panic.
		_, _ = jsonString(doc, k1)
		_, _ = jsonString(doc, k1, k2)
		_, _ = appendWithResourceVersion(nil, doc, 7)
		_, _ = appendPartialMetadata(nil, doc, 7)

		var v any
		if json.Unmarshal(doc, &v) != nil {
			return
		}
		top, isObject := v.(map[string]any)
		if !isObject {
			return
		}
		if meta, ok := top["metadata"].(map[string]any); ok {
			delete(meta, "resourceVersion") // stored objects never have one
		}
		compact, err := json.Marshal(top)
		if err != nil {
			t.Fatal(err)
		}
		spaced, err := json.MarshalIndent(top, "", " ")
		if err != nil {
			t.Fatal(err)
		}
		for _, form := range [][]byte{compact, spaced} {
			if plainKey(k1) && plainKey(k2) {
				got, gotOK := jsonString(form, k1, k2)
				want, wantOK := stringAt(top, k1, k2)
				if got != want || gotOK != wantOK {
					t.Fatalf("jsonString(%s, %q, %q) = %q %v, decoding gives %q %v", form, k1, k2, got, gotOK, want, wantOK)
				}
			}

			meta, hasMeta := top["metadata"].(map[string]any)
			withRV, err := appendWithResourceVersion(nil, form, 7)
			if !hasMeta {
				if err == nil {
					t.Fatalf("%s: no metadata object, yet spliced: %s", form, withRV)
				}
				continue
			}
			if err != nil {
				t.Fatalf("%s: %v", form, err)
			}
			wantObj := cloneJSON(t, top)
			wantObj["metadata"].(map[string]any)["resourceVersion"] = "7"
			if got := decodeJSON(t, withRV); !reflect.DeepEqual(got, wantObj) {
				t.Fatalf("resourceVersion spliced into %s gives %s", form, withRV)
			}

			partial, err := appendPartialMetadata(nil, form, 7)
			if err != nil {
				t.Fatalf("%s: %v", form, err)
			}
			wantMeta := cloneJSON(t, meta)
			wantMeta["resourceVersion"] = "7"
			wantPartial := map[string]any{"kind": "PartialObjectMetadata", "apiVersion": "meta.k8s.io/v1", "metadata": wantMeta}
			if got := decodeJSON(t, partial); !reflect.DeepEqual(got, wantPartial) {
				t.Fatalf("metadata of %s gives %s", form, partial)
			}
		}
	})
}

// plainKey reports whether k is written in JSON without escapes, as every
// field name the server looks up is.
func plainKey(k string) bool {
	b, err := json.Marshal(k)
	return err == nil && bytes.Equal(b[1:len(b)-1], []byte(k))
}

// stringAt is what jsonString promises, computed on the decoded document:
// the string at path; "" when absent or null; not ok when an intermediate
// value is neither an object nor null, or the value is not a string.
func stringAt(v any, path ...string) (string, bool) {
	for _, k := range path {
		switch o := v.(type) {
		case nil:
			return "", true
		case map[string]any:
			var found bool
			if v, found = o[k]; !found {
				return "", true
			}
		default:
			return "", false
		}
	}
	switch s := v.(type) {
	case nil:
		return "", true
	case string:
		return s, true
	}
	return "", false
}

func cloneJSON(t *testing.T, m map[string]any) map[string]any {
	b, err := json.Marshal(m)
	if err != nil {
		t.Fatal(err)
	}
	return decodeJSON(t, b)
}

func decodeJSON(t *testing.T, b []byte) map[string]any {
	t.Helper()
	var m map[string]any
	if err := json.Unmarshal(b, &m); err != nil {
		t.Fatalf("%s: %v", b, err)
	}
	return m
}
