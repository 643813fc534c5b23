package registry

import (
	"reflect"
	"testing"

	"k8s.io/apimachinery/pkg/runtime/schema"
)

func TestBuiltin(t *testing.T) {
	reg := Builtin()

	t.Run("every resource builds objects of its kind", func(t *testing.T) {
		for _, r := range reg.Resources() {
			if !r.Stored() {
				// A review: created, answered, never listed.
				if r.Kind == "" || r.New == nil || r.NewList != nil || !r.Serves("create") || r.Serves("list") {
					t.Errorf("%s: Kind %q, New set %t, NewList set %t, verbs %v", r.GVR(), r.Kind, r.New != nil, r.NewList != nil, r.Verbs)
				} else if got := reflect.TypeOf(r.New()).Elem().Name(); got != r.Kind {
					t.Errorf("%s: New() is a %s, want %s", r.GVR(), got, r.Kind)
				}
				continue
			}
			if r.Kind == "" || r.ListKind == "" || r.New == nil || r.NewList == nil {
				t.Errorf("%s: Kind %q, ListKind %q, New set %t, NewList set %t", r.GVR(), r.Kind, r.ListKind, r.New != nil, r.NewList != nil)
				continue
			}
			if got := reflect.TypeOf(r.New()).Elem().Name(); got != r.Kind {
				t.Errorf("%s: New() is a %s, want %s", r.GVR(), got, r.Kind)
			}
			if got := reflect.TypeOf(r.NewList()).Elem().Name(); got != r.ListKind {
				t.Errorf("%s: NewList() is a %s, want %s", r.GVR(), got, r.ListKind)
			}
		}
	})

	t.Run("lookup and storage names", func(t *testing.T) {
		tests := []struct {
			group, version, resource string
			kind, storage            string
		}{
			{"apps", "v1", "deployments", "Deployment", "deployments.apps"},
			{"apps", "v1", "statefulsets", "StatefulSet", "statefulsets.apps"},
			{"coordination.k8s.io", "v1", "leases", "Lease", "leases.coordination.k8s.io"},
			{"discovery.k8s.io", "v1", "endpointslices", "EndpointSlice", "endpointslices.discovery.k8s.io"},
			{"", "v1", "pods", "Pod", "pods"},
		}
		for _, tt := range tests {
			r, ok := reg.Lookup(tt.group, tt.version, tt.resource)
			if !ok {
				t.Errorf("Lookup(%q, %q, %q) found nothing", tt.group, tt.version, tt.resource)
				continue
			}
			if r.Kind != tt.kind || r.StorageResource() != tt.storage {
				t.Errorf("%s: kind %s, storage %s; want %s, %s", tt.resource, r.Kind, r.StorageResource(), tt.kind, tt.storage)
			}
		}
		if _, ok := reg.Lookup("apps", "v1beta1", "deployments"); ok {
			t.Errorf("apps/v1beta1 deployments found; only v1 is served")
		}
	})

	t.Run("no resource, kind or short name is served twice", func(t *testing.T) {
		gvrs := map[schema.GroupVersionResource]bool{}
		gvks := map[schema.GroupVersionKind]bool{}
		shortNames := map[string]schema.GroupVersionResource{}
		for _, r := range reg.Resources() {
			if gvrs[r.GVR()] {
				t.Errorf("%s served twice", r.GVR())
			}
			gvrs[r.GVR()] = true
			if gvks[r.GVK()] {
				t.Errorf("kind %s served twice", r.GVK())
			}
			gvks[r.GVK()] = true
			for _, s := range r.ShortNames {
				if other, ok := shortNames[s]; ok {
					t.Errorf("short name %q names both %s and %s", s, other, r.GVR())
				}
				shortNames[s] = r.GVR()
			}
		}
	})

	t.Run("tables have a name column and fit a zero object", func(t *testing.T) {
		for _, r := range reg.Resources() {
			if !r.Stored() {
				continue // never listed, never printed as a table
			}
			if len(r.Columns) == 0 || r.Row == nil {
				t.Errorf("%s: no table (columns %d, Row set %t)", r.GVR(), len(r.Columns), r.Row != nil)
				continue
			}
			// kubectl finds the object's name by the "name" format. It is
			// the first column everywhere but in events, which kube lists
			// by LAST SEEN and shows NAME with -o wide only.
			var nameAt []int
			for i, c := range r.Columns {
				if c.Format == "name" {
					nameAt = append(nameAt, i)
					if c.Name != "Name" || c.Type != "string" {
						t.Errorf("%s: name column %+v, want Name of type string", r.GVR(), c)
					}
				}
			}
			wantAt := 0
			if r.Group == "" && r.Resource == "events" {
				wantAt = len(r.Columns) - 1
			}
			if len(nameAt) != 1 || nameAt[0] != wantAt {
				t.Errorf("%s: name columns at %v, want exactly one at %d", r.GVR(), nameAt, wantAt)
			}
			if got := len(r.Row(r.New())); got != len(r.Columns) {
				t.Errorf("%s: zero object row has %d cells for %d columns", r.GVR(), got, len(r.Columns))
			}
		}
	})

	t.Run("apps workloads are listed by kubectl get all", func(t *testing.T) {
		for _, name := range []string{"deployments", "replicasets", "daemonsets", "statefulsets"} {
			r, ok := reg.Lookup("apps", "v1", name)
			if !ok {
				t.Fatalf("apps/v1 %s missing", name)
			}
			if !r.Namespaced || !r.HasSubresource("status") || len(r.Categories) != 1 || r.Categories[0] != "all" {
				t.Errorf("%s: namespaced %t, status %t, categories %v", name, r.Namespaced, r.HasSubresource("status"), r.Categories)
			}
			if got, want := r.HasSubresource("scale"), name != "daemonsets"; got != want {
				t.Errorf("%s: scale subresource %t, want %t", name, got, want)
			}
		}
	})
}
