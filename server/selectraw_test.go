package server

import (
	"encoding/json"
	"testing"

	corev1 "k8s.io/api/core/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/fields"
	"k8s.io/apimachinery/pkg/labels"
	"k8s.io/apimachinery/pkg/runtime"

	"github.com/sqlkube/sqlkube/server/registry"
)

// jsonbForm renders v as PostgreSQL's jsonb would: keys by length, then
// bytes, with spaces. Enough to check that nothing depends on key order
// or spacing.
func jsonbForm(t *testing.T, b []byte) []byte {
	t.Helper()
	var v any
	if err := json.Unmarshal(b, &v); err != nil {
		t.Fatal(err)
	}
	out, err := json.MarshalIndent(v, "", " ")
	if err != nil {
		t.Fatal(err)
	}
	return out
}

// TestRawMatchAgreesWithDecoding: selectors evaluated on the stored JSON
// give what they give on the decoded object, for every plain field, on
// objects with and without the fields, in both stored forms.
func TestRawMatchAgreesWithDecoding(t *testing.T) {
	reg := registry.Builtin()
	pods, _ := reg.Lookup("", "v1", "pods")
	events, _ := reg.Lookup("", "v1", "events")
	objects := []struct {
		res *registry.Resource
		obj runtime.Object
	}{
		{pods, &corev1.Pod{ObjectMeta: metav1.ObjectMeta{Name: "a", Namespace: "ns", Labels: map[string]string{"app": "web", "tier": "x"}},
			Spec:   corev1.PodSpec{NodeName: "n1", RestartPolicy: corev1.RestartPolicyAlways, SchedulerName: "default-scheduler"},
			Status: corev1.PodStatus{Phase: corev1.PodRunning, PodIP: "10.0.0.1", PodIPs: []corev1.PodIP{{IP: "10.0.0.1"}}}}},
		{pods, &corev1.Pod{ObjectMeta: metav1.ObjectMeta{Name: "b", Namespace: "ns"}}},
		{pods, &corev1.Pod{ObjectMeta: metav1.ObjectMeta{Name: `q"uote`, Namespace: "ns", Labels: map[string]string{"app": `we"b`}},
			Spec: corev1.PodSpec{NodeName: `n\1`}, Status: corev1.PodStatus{Phase: corev1.PodPending, NominatedNodeName: "n2"}}},
		{events, &corev1.Event{ObjectMeta: metav1.ObjectMeta{Name: "e", Namespace: "ns"}, Reason: "Scheduled", Type: "Normal",
			InvolvedObject: corev1.ObjectReference{Kind: "Pod", Namespace: "ns", Name: "a", UID: "u1"}, ReportingController: "sched"}},
		{events, &corev1.Event{ObjectMeta: metav1.ObjectMeta{Name: "f", Namespace: "ns"}}},
	}
	var selectors []string
	for _, res := range []*registry.Resource{pods, events} {
		for _, f := range append([]string{"metadata.name", "metadata.namespace"}, res.PlainFields...) {
			selectors = append(selectors, f+"=", f+"!=", f+"=n1", f+"!=n1", f+"=Running", f+"=Scheduled", f+"=a", f+"=ns", f+`=n\1`)
		}
	}
	labelSelectors := []string{"", "app=web", "app!=web", "tier", "!tier", "app in (web,api)"}
	checked := 0
	for _, o := range objects {
		o.obj.GetObjectKind().SetGroupVersionKind(o.res.GVK())
		stored, err := json.Marshal(o.obj)
		if err != nil {
			t.Fatal(err)
		}
		for _, form := range [][]byte{stored, jsonbForm(t, stored)} {
			for _, fs := range selectors {
				fsel, err := fields.ParseSelector(fs)
				if err != nil {
					continue // a value the selector syntax refuses
				}
				for _, ls := range labelSelectors {
					lsel, err := labels.Parse(ls)
					if err != nil {
						t.Fatal(err)
					}
					sel := selector{labels: lsel, fields: fsel}
					if !fieldSupported(o.res, fsel.Requirements()[0].Field) {
						continue
					}
					got, ok := sel.rawMatch(o.res, form)
					if !ok {
						t.Fatalf("%s on %s: not evaluated raw", fs, form)
					}
					if want := sel.matches(o.res, o.obj); got != want {
						t.Fatalf("%s,%s on %s: raw %v, decoded %v", fs, ls, form, got, want)
					}
					checked++
				}
			}
		}
	}
	if checked < 500 {
		t.Fatalf("only %d cases checked", checked)
	}

	// A field that is not plain is left to the decoded object.
	nodes, _ := reg.Lookup("", "v1", "nodes")
	sel := selector{labels: labels.Everything(), fields: fields.OneTermEqualSelector("spec.unschedulable", "true")}
	if _, ok := sel.rawMatch(nodes, []byte(`{"metadata":{"name":"n"},"spec":{"unschedulable":true}}`)); ok {
		t.Fatal("spec.unschedulable, a bool, was evaluated raw")
	}
}

func TestJSONLookup(t *testing.T) {
	doc := []byte(`{"a": {"b": "x\"y", "n": null, "num": 3, "arr": [1, {"b": "no"}]}, "c": null, "s": "v"}`)
	for _, tc := range []struct {
		path    []string
		want    string
		wantOK  bool
		comment string
	}{
		{[]string{"a", "b"}, `x"y`, true, "escaped string"},
		{[]string{"a", "n"}, "", true, "null"},
		{[]string{"a", "missing"}, "", true, "absent key"},
		{[]string{"c", "b"}, "", true, "null parent"},
		{[]string{"a", "num"}, "", false, "a number"},
		{[]string{"a", "arr"}, "", false, "an array"},
		{[]string{"s", "x"}, "", false, "a string parent"},
		{[]string{"s"}, "v", true, "top level"},
	} {
		got, ok := jsonString(doc, tc.path...)
		if got != tc.want || ok != tc.wantOK {
			t.Errorf("%s %v: got %q %v, want %q %v", tc.comment, tc.path, got, ok, tc.want, tc.wantOK)
		}
	}
	for _, bad := range []string{`{"a": `, `{"a" 1}`, `{"a": "x", "b"`, `[1]`} {
		if _, ok := jsonString([]byte(bad), "b", "c"); ok {
			t.Errorf("%s: accepted", bad)
		}
	}
}
