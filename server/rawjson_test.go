package server

import (
	"encoding/json"
	"reflect"
	"testing"

	corev1 "k8s.io/api/core/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
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

// TestAppendPartialMetadata: the metadata cut from the stored JSON is the
// PartialObjectMetadata the typed path would encode.
func TestAppendPartialMetadata(t *testing.T) {
	pod := &corev1.Pod{
		ObjectMeta: metav1.ObjectMeta{Name: "p", Namespace: "ns", UID: "u1", Labels: map[string]string{"app": "a}b"},
			Annotations:     map[string]string{"note": `"metadata":{"x"}`},
			OwnerReferences: []metav1.OwnerReference{{APIVersion: "apps/v1", Kind: "ReplicaSet", Name: "rs", UID: "u2"}}},
		Spec: corev1.PodSpec{NodeName: "n1", Containers: []corev1.Container{{Name: "c", Image: "i"}}},
	}
	pod.TypeMeta = metav1.TypeMeta{Kind: "Pod", APIVersion: "v1"}
	stored, err := json.Marshal(pod)
	if err != nil {
		t.Fatal(err)
	}
	got, err := appendPartialMetadata(nil, stored, 7)
	if err != nil {
		t.Fatal(err)
	}
	pm, err := objectMetadata(nil, pod)
	if err != nil {
		t.Fatal(err)
	}
	pm.ResourceVersion = "7"
	want, _ := json.Marshal(pm)
	var g, w any
	if err := json.Unmarshal(got, &g); err != nil {
		t.Fatalf("not JSON: %s", got)
	}
	_ = json.Unmarshal(want, &w)
	if !reflect.DeepEqual(g, w) {
		t.Fatalf("raw metadata\n%s\ntyped\n%s", got, want)
	}
	if _, err := appendPartialMetadata(nil, []byte(`{"metadata":{"name":"x"`), 1); err == nil {
		t.Fatal("a truncated object was accepted")
	}
}
