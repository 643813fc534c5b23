package storage

import (
	"bytes"
	"encoding/json"
	"testing"
)

func TestCompactJSON(t *testing.T) {
	for _, tc := range []struct{ in, want string }{
		{`{"a": 1, "b": [2, 3], "c": {"d": null}}`, `{"a":1,"b":[2,3],"c":{"d":null}}`},
		{`{"s": "a b: c, d", "e": "quote \" and: space", "t": "back\\", "u": 1}`, `{"s":"a b: c, d","e":"quote \" and: space","t":"back\\","u":1}`},
		{"{\n\t\"a\" : [ ]\r\n}", `{"a":[]}`},
		{`"k8s:enc:aesgcm:v1:sqlkube:abc def"`, `"k8s:enc:aesgcm:v1:sqlkube:abc def"`},
		{`{"already":"compact"}`, `{"already":"compact"}`},
	} {
		got := compactJSON([]byte(tc.in))
		if string(got) != tc.want {
			t.Errorf("compactJSON(%s) = %s, want %s", tc.in, got, tc.want)
		}
		var std bytes.Buffer
		if err := json.Compact(&std, []byte(tc.in)); err != nil {
			t.Fatal(err)
		}
		if std.String() != string(got) {
			t.Errorf("compactJSON(%s) = %s, encoding/json compacts to %s", tc.in, got, std.String())
		}
	}
}
