package statefulset

import (
	"context"
	"errors"
	"slices"
	"testing"

	appsv1 "k8s.io/api/apps/v1"
	corev1 "k8s.io/api/core/v1"
	"k8s.io/apimachinery/pkg/api/resource"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/runtime"
	"k8s.io/apimachinery/pkg/types"
	k8stesting "k8s.io/client-go/testing"
)

// withClaims gives the set the claim template "data" and the pod
// template a volume "data" (replaced by the claim) and a volume "cfg"
// (kept).
func withClaims(set *appsv1.StatefulSet) {
	set.Spec.VolumeClaimTemplates = []corev1.PersistentVolumeClaim{{
		ObjectMeta: metav1.ObjectMeta{Name: "data", Labels: map[string]string{"app": "other", "disk": "ssd"}},
		Spec: corev1.PersistentVolumeClaimSpec{
			AccessModes: []corev1.PersistentVolumeAccessMode{corev1.ReadWriteOnce},
			Resources:   corev1.VolumeResourceRequirements{Requests: corev1.ResourceList{corev1.ResourceStorage: resource.MustParse("1Gi")}},
		},
	}}
	set.Spec.Template.Spec.Volumes = []corev1.Volume{
		{Name: "data", VolumeSource: corev1.VolumeSource{EmptyDir: &corev1.EmptyDirVolumeSource{}}},
		{Name: "cfg", VolumeSource: corev1.VolumeSource{ConfigMap: &corev1.ConfigMapVolumeSource{LocalObjectReference: corev1.LocalObjectReference{Name: "cfg"}}}},
	}
}

func policy(whenDeleted, whenScaled appsv1.PersistentVolumeClaimRetentionPolicyType) func(*appsv1.StatefulSet) {
	return func(set *appsv1.StatefulSet) {
		set.Spec.PersistentVolumeClaimRetentionPolicy = &appsv1.StatefulSetPersistentVolumeClaimRetentionPolicy{WhenDeleted: whenDeleted, WhenScaled: whenScaled}
	}
}

// claim returns the claim of set's pod n, owned by owners.
func claim(set *appsv1.StatefulSet, n int, owners ...metav1.OwnerReference) *corev1.PersistentVolumeClaim {
	c := newClaims(set, n)[0]
	c.UID = types.UID("uid-" + c.Name)
	c.OwnerReferences = owners
	return c
}

func setRef(set *appsv1.StatefulSet) metav1.OwnerReference {
	return *metav1.NewControllerRef(set, controllerKind)
}

func podRef(name string, uid types.UID) metav1.OwnerReference {
	return metav1.OwnerReference{APIVersion: "v1", Kind: "Pod", Name: name, UID: uid, Controller: new(true), BlockOwnerDeletion: new(true)}
}

func (f *fixture) claim(name string) *corev1.PersistentVolumeClaim {
	f.t.Helper()
	c, err := f.client.CoreV1().PersistentVolumeClaims("demo").Get(context.Background(), name, metav1.GetOptions{})
	if err != nil {
		f.t.Fatal(err)
	}
	return c
}

// TestClaimsBeforePod: the claim is created before the pod, named
// <template>-<set>-<ordinal>, labelled with the template's labels and the
// selector's over them, and the pod mounts it in place of the template's
// volume of that name.
func TestClaimsBeforePod(t *testing.T) {
	set := newSet(1, withClaims)
	f := newFixture(t, set)
	f.mustSync()
	if w := f.podWrites(); !slices.Equal(w, []string{"create persistentvolumeclaims data-web-0", "create pods web-0"}) {
		t.Fatalf("writes = %q", w)
	}
	c := f.claim("data-web-0")
	if !equalMaps(c.Labels, map[string]string{"app": "web", "disk": "ssd"}) {
		t.Errorf("claim labels = %v", c.Labels)
	}
	if q := c.Spec.Resources.Requests[corev1.ResourceStorage]; q.String() != "1Gi" || len(c.OwnerReferences) != 0 {
		t.Errorf("claim storage %s, owners %v; want 1Gi and none (Retain)", q.String(), c.OwnerReferences)
	}
	vols := f.getPod("web-0").Spec.Volumes
	if len(vols) != 2 || vols[0].Name != "data" || vols[0].PersistentVolumeClaim == nil || vols[0].PersistentVolumeClaim.ClaimName != "data-web-0" ||
		vols[1].Name != "cfg" || vols[1].ConfigMap == nil {
		t.Errorf("pod volumes = %+v", vols)
	}
	want := []string{
		"Normal SuccessfulCreate create Claim data-web-0 Pod web-0 in StatefulSet web success",
		"Normal SuccessfulCreate create Pod web-0 in StatefulSet web successful",
	}
	if ev := f.events(); !slices.Equal(ev, want) {
		t.Errorf("events = %q, want %q", ev, want)
	}
}

// TestExistingClaimReused: a claim that exists (the pod was deleted, the
// claim stays) is mounted, not created again.
func TestExistingClaimReused(t *testing.T) {
	set := newSet(1, withClaims)
	f := newFixture(t, set, claim(set, 0))
	f.mustSync()
	if w := f.podWrites(); !slices.Equal(w, []string{"create pods web-0"}) {
		t.Fatalf("writes = %q", w)
	}
}

// TestClaimCreateFails: without its claim the pod is not created, and
// the events say why.
func TestClaimCreateFails(t *testing.T) {
	f := newFixture(t, newSet(2, withClaims, parallel))
	f.client.PrependReactor("create", "persistentvolumeclaims", func(k8stesting.Action) (bool, runtime.Object, error) {
		return true, nil, errors.New("quota exceeded")
	})
	if err := f.sync(); err == nil {
		t.Fatal("sync succeeded")
	}
	for _, w := range f.podWrites() {
		if w == "create pods web-0" || w == "create pods web-1" {
			t.Errorf("pod created without its claim: %q", f.podWrites())
		}
	}
	ev := f.events()
	for _, want := range []string{
		"Warning FailedCreate create Claim data-web-0 for Pod web-0 in StatefulSet web failed error: quota exceeded",
		"Warning FailedCreate create Pod web-0 in StatefulSet web failed error: create claim data-web-0: quota exceeded",
	} {
		if !slices.Contains(ev, want) {
			t.Errorf("events %q lack %q", ev, want)
		}
	}
}

// TestClaimBeingDeleted: a pod does not start on a claim that is going
// away.
func TestClaimBeingDeleted(t *testing.T) {
	set := newSet(1, withClaims)
	c := claim(set, 0)
	c.DeletionTimestamp = &metav1.Time{Time: t0}
	c.Finalizers = []string{"kubernetes.io/pvc-protection"}
	f := newFixture(t, set, c)
	if err := f.sync(); err == nil {
		t.Fatal("sync succeeded")
	}
	if w := f.podWrites(); len(w) != 0 {
		t.Errorf("writes = %q", w)
	}
}

// TestRetentionPolicy follows spec.persistentVolumeClaimRetentionPolicy
// where the controller applies it: on claims it creates or finds for a
// new pod, and on the claims of a pod it scales away.
func TestRetentionPolicy(t *testing.T) {
	t.Run("whenDeleted Delete: the set controls new claims", func(t *testing.T) {
		f := newFixture(t, newSet(1, withClaims, policy(deleteClaims, retain)))
		f.mustSync()
		refs := f.claim("data-web-0").OwnerReferences
		if len(refs) != 1 || refs[0].UID != "set-uid" || refs[0].Controller == nil || !*refs[0].Controller {
			t.Errorf("claim owners = %+v", refs)
		}
	})
	t.Run("whenDeleted Delete: an existing claim gets the set", func(t *testing.T) {
		set := newSet(1, withClaims, policy(deleteClaims, retain))
		f := newFixture(t, set, claim(set, 0))
		f.mustSync()
		if w := f.podWrites(); !slices.Equal(w, []string{"update persistentvolumeclaims data-web-0", "create pods web-0"}) {
			t.Errorf("writes = %q", w)
		}
	})
	t.Run("whenScaled Delete: a scaled-away pod takes its claims", func(t *testing.T) {
		set := newSet(1, withClaims, policy(deleteClaims, deleteClaims))
		f := newFixture(t, set, pod(set, 0), pod(set, 1), claim(set, 0, setRef(set)), claim(set, 1, setRef(set)))
		f.mustSync()
		if w := f.podWrites(); !slices.Equal(w, []string{"update persistentvolumeclaims data-web-1", "delete pods web-1"}) {
			t.Fatalf("writes = %q", w)
		}
		refs := f.claim("data-web-1").OwnerReferences
		if len(refs) != 1 || refs[0].Kind != "Pod" || refs[0].UID != "uid-web-1" {
			t.Errorf("scaled-away claim owners = %+v, want pod web-1 only", refs)
		}
		if refs := f.claim("data-web-0").OwnerReferences; len(refs) != 1 || refs[0].UID != "set-uid" {
			t.Errorf("kept claim owners = %+v, want the set", refs)
		}
	})
	t.Run("whenScaled Delete: a new pod waits for the claim of an earlier one", func(t *testing.T) {
		set := newSet(2, withClaims, policy(retain, deleteClaims))
		f := newFixture(t, set, pod(set, 0), claim(set, 1, podRef("web-1", "uid-earlier")))
		if err := f.sync(); err == nil {
			t.Error("sync succeeded")
		}
		if w := f.podWrites(); len(w) != 0 {
			t.Errorf("writes = %q", w)
		}
	})
	t.Run("Retain: scale-down leaves claims alone", func(t *testing.T) {
		set := newSet(1, withClaims)
		f := newFixture(t, set, pod(set, 0), pod(set, 1), claim(set, 1))
		f.mustSync()
		if w := f.podWrites(); !slices.Equal(w, []string{"delete pods web-1"}) {
			t.Errorf("writes = %q", w)
		}
	})
}

func TestClaimOwners(t *testing.T) {
	set := newSet(1, withClaims)
	other := metav1.OwnerReference{APIVersion: "example.com/v1", Kind: "Backup", Name: "b", UID: "backup-uid", Controller: new(true)}
	tests := []struct {
		name       string
		policy     [2]appsv1.PersistentVolumeClaimRetentionPolicyType // whenDeleted, whenScaled
		have       []metav1.OwnerReference
		scaledDown bool
		want       []metav1.OwnerReference
		conflict   bool
	}{
		{name: "Retain/Retain: none", policy: [2]appsv1.PersistentVolumeClaimRetentionPolicyType{retain, retain}},
		{name: "Retain/Retain drops the set", policy: [2]appsv1.PersistentVolumeClaimRetentionPolicyType{retain, retain}, have: []metav1.OwnerReference{setRef(set)}},
		{name: "Delete/Retain: the set", policy: [2]appsv1.PersistentVolumeClaimRetentionPolicyType{deleteClaims, retain}, want: []metav1.OwnerReference{setRef(set)}},
		{name: "Delete/Retain scaled down: still the set", policy: [2]appsv1.PersistentVolumeClaimRetentionPolicyType{deleteClaims, retain}, scaledDown: true, want: []metav1.OwnerReference{setRef(set)}},
		{name: "Retain/Delete: nothing while in range", policy: [2]appsv1.PersistentVolumeClaimRetentionPolicyType{retain, deleteClaims}},
		{name: "Retain/Delete scaled down: the pod", policy: [2]appsv1.PersistentVolumeClaimRetentionPolicyType{retain, deleteClaims}, scaledDown: true, want: []metav1.OwnerReference{podRef("web-0", "pod-uid")}},
		{name: "Delete/Delete: the set", policy: [2]appsv1.PersistentVolumeClaimRetentionPolicyType{deleteClaims, deleteClaims}, want: []metav1.OwnerReference{setRef(set)}},
		{name: "Delete/Delete scaled down: the pod, not the set", policy: [2]appsv1.PersistentVolumeClaimRetentionPolicyType{deleteClaims, deleteClaims}, have: []metav1.OwnerReference{setRef(set)}, scaledDown: true, want: []metav1.OwnerReference{podRef("web-0", "pod-uid")}},
		{name: "other owners are kept", policy: [2]appsv1.PersistentVolumeClaimRetentionPolicyType{deleteClaims, retain}, have: []metav1.OwnerReference{{APIVersion: "v1", Kind: "ConfigMap", Name: "x", UID: "x"}}, want: []metav1.OwnerReference{{APIVersion: "v1", Kind: "ConfigMap", Name: "x", UID: "x"}, setRef(set)}},
		{name: "another controller wins", policy: [2]appsv1.PersistentVolumeClaimRetentionPolicyType{deleteClaims, retain}, have: []metav1.OwnerReference{other, setRef(set)}, want: []metav1.OwnerReference{other}, conflict: true},
		{name: "an earlier set's claim is left alone", policy: [2]appsv1.PersistentVolumeClaimRetentionPolicyType{retain, retain}, have: []metav1.OwnerReference{{APIVersion: "apps/v1", Kind: "StatefulSet", Name: "web", UID: "old"}}, want: []metav1.OwnerReference{{APIVersion: "apps/v1", Kind: "StatefulSet", Name: "web", UID: "old"}}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			s := set.DeepCopy()
			policy(tt.policy[0], tt.policy[1])(s)
			c := claim(s, 0, tt.have...)
			got, changed, conflict := claimOwners(s, c, "web-0", "pod-uid", tt.scaledDown)
			if !sameRefs(got, tt.want) || conflict != tt.conflict {
				t.Errorf("claimOwners = %+v, conflict %v; want %+v, %v", got, conflict, tt.want, tt.conflict)
			}
			if changed != !sameRefs(tt.have, tt.want) {
				t.Errorf("changed = %v", changed)
			}
		})
	}
}
