package server

import (
	"encoding/json"
	"testing"
)

func TestWithResourceVersion(t *testing.T) {
	for _, tc := range []struct{ name, in string }{
		{"compact", `{"kind":"ConfigMap","apiVersion":"v1","metadata":{"name":"a","labels":{"x":"y"}},"data":{"metadata":"{\"no\":1}"}}`},
		{"postgres jsonb spacing and order", `{"data": {"k": "v"}, "kind": "ConfigMap", "metadata": {"name": "a"}, "apiVersion": "v1"}`},
		{"empty metadata", `{"metadata":{},"kind":"X"}`},
		{"nested metadata key first", `{"spec":{"metadata":{"name":"inner"}},"metadata":{"name":"outer"}}`},
		{"escaped quotes", `{"a":"\"metadata\":{","metadata":{"name":"n"}}`},
	} {
		t.Run(tc.name, func(t *testing.T) {
			out, err := withResourceVersion([]byte(tc.in), 42)
			if err != nil {
				t.Fatal(err)
			}
			var v struct {
				Metadata map[string]any `json:"metadata"`
				Spec     struct {
					Metadata map[string]any `json:"metadata"`
				} `json:"spec"`
			}
			if err := json.Unmarshal(out, &v); err != nil {
				t.Fatalf("not JSON: %s: %v", out, err)
			}
			if v.Metadata["resourceVersion"] != "42" {
				t.Fatalf("resourceVersion not set at the top: %s", out)
			}
			if v.Spec.Metadata != nil && v.Spec.Metadata["resourceVersion"] != nil {
				t.Fatalf("set in a nested metadata: %s", out)
			}
		})
	}
	if _, err := withResourceVersion([]byte(`{"kind":"X"}`), 1); err == nil {
		t.Fatal("an object without metadata was accepted")
	}
}
