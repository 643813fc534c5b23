package registry

import (
	"testing"

	corev1 "k8s.io/api/core/v1"
	"k8s.io/apimachinery/pkg/api/resource"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
)

func TestPersistentVolumeClaimRules(t *testing.T) {
	r := persistentVolumeClaimResource()
	claim := func(mods ...func(*corev1.PersistentVolumeClaim)) *corev1.PersistentVolumeClaim {
		c := &corev1.PersistentVolumeClaim{
			ObjectMeta: metav1.ObjectMeta{Name: "data-db-0", Namespace: "demo"},
			Spec: corev1.PersistentVolumeClaimSpec{
				AccessModes: []corev1.PersistentVolumeAccessMode{corev1.ReadWriteOnce},
				Resources:   corev1.VolumeResourceRequirements{Requests: corev1.ResourceList{corev1.ResourceStorage: resource.MustParse("1Gi")}},
			},
		}
		for _, m := range mods {
			m(c)
		}
		r.Default(c)
		r.PrepareForCreate(c)
		return c
	}
	c := claim()
	if errs := r.Validate(c); len(errs) > 0 {
		t.Fatalf("valid claim: %v", errs)
	}
	if c.Status.Phase != corev1.ClaimPending || *c.Spec.VolumeMode != corev1.PersistentVolumeFilesystem {
		t.Errorf("new claim: phase %q mode %v, want Pending and Filesystem", c.Status.Phase, *c.Spec.VolumeMode)
	}
	for _, tt := range []struct {
		name  string
		mod   func(*corev1.PersistentVolumeClaim)
		field string
	}{
		{"no access mode", func(c *corev1.PersistentVolumeClaim) { c.Spec.AccessModes = nil }, "spec.accessModes"},
		{"unknown access mode", func(c *corev1.PersistentVolumeClaim) {
			c.Spec.AccessModes = []corev1.PersistentVolumeAccessMode{"WriteSometimes"}
		}, "spec.accessModes"},
		{"no storage request", func(c *corev1.PersistentVolumeClaim) { c.Spec.Resources.Requests = nil }, "spec.resources.requests[storage]"},
		{"zero storage", func(c *corev1.PersistentVolumeClaim) {
			c.Spec.Resources.Requests[corev1.ResourceStorage] = resource.MustParse("0")
		}, "spec.resources.requests[storage]"},
		{"bad class", func(c *corev1.PersistentVolumeClaim) { c.Spec.StorageClassName = new("Fast_SSD") }, "spec.storageClassName"},
	} {
		t.Run(tt.name, func(t *testing.T) {
			if errs := r.Validate(claim(tt.mod)); len(errs) != 1 || errs[0].Field != tt.field {
				t.Errorf("errors %v, want one on %s", errs, tt.field)
			}
		})
	}

	grown := c.DeepCopy()
	grown.Spec.Resources.Requests[corev1.ResourceStorage] = resource.MustParse("2Gi")
	if errs := r.ValidateUpdate(grown, c); len(errs) > 0 {
		t.Errorf("growing a claim: %v", errs)
	}
	shrunk := c.DeepCopy()
	shrunk.Spec.Resources.Requests[corev1.ResourceStorage] = resource.MustParse("512Mi")
	if errs := r.ValidateUpdate(shrunk, c); len(errs) != 1 {
		t.Errorf("shrinking a claim: %v, want one error", errs)
	}
	changed := c.DeepCopy()
	changed.Spec.AccessModes = []corev1.PersistentVolumeAccessMode{corev1.ReadWriteMany}
	if errs := r.ValidateUpdate(changed, c); len(errs) != 1 || errs[0].Field != "spec" {
		t.Errorf("changing access modes: %v, want spec immutable", errs)
	}
	row := r.Row(c)
	if len(row) != len(r.Columns) || row[1] != "Pending" || row[3] != "" || row[5] != "" || row[6] != "<unset>" {
		t.Errorf("row %v, want Pending, no capacity, no class, <unset> attributes class", row)
	}
}

func TestPersistentVolumeRules(t *testing.T) {
	r := persistentVolumeResource()
	pv := &corev1.PersistentVolume{
		ObjectMeta: metav1.ObjectMeta{Name: "pv-1"},
		Spec: corev1.PersistentVolumeSpec{
			Capacity:               corev1.ResourceList{corev1.ResourceStorage: resource.MustParse("5Gi")},
			AccessModes:            []corev1.PersistentVolumeAccessMode{corev1.ReadWriteOnce, corev1.ReadOnlyMany},
			PersistentVolumeSource: corev1.PersistentVolumeSource{HostPath: &corev1.HostPathVolumeSource{Path: "/srv/pv-1"}},
		},
	}
	r.Default(pv)
	r.PrepareForCreate(pv)
	if errs := r.Validate(pv); len(errs) > 0 {
		t.Fatalf("valid volume: %v", errs)
	}
	if pv.Spec.PersistentVolumeReclaimPolicy != corev1.PersistentVolumeReclaimRetain || pv.Status.Phase != corev1.VolumePending {
		t.Errorf("defaults: policy %q phase %q", pv.Spec.PersistentVolumeReclaimPolicy, pv.Status.Phase)
	}
	none := pv.DeepCopy()
	none.Spec.HostPath = nil
	if errs := r.Validate(none); len(errs) != 1 || errs[0].Detail != "must specify a volume type" {
		t.Errorf("no volume source: %v", errs)
	}
	two := pv.DeepCopy()
	two.Spec.Local = &corev1.LocalVolumeSource{Path: "/mnt"}
	if errs := r.Validate(two); len(errs) != 1 {
		t.Errorf("two volume sources: %v", errs)
	}
	moved := pv.DeepCopy()
	moved.Spec.HostPath.Path = "/elsewhere"
	if errs := r.ValidateUpdate(moved, pv); len(errs) != 1 {
		t.Errorf("changing the volume source: %v, want forbidden", errs)
	}
	row := r.Row(pv)
	if len(row) != len(r.Columns) || row[1] != "5Gi" || row[2] != "RWO,ROX" || row[3] != "Retain" || row[4] != "Pending" {
		t.Errorf("row %v", row)
	}
}
