package statefulset

import (
	"slices"
	"strings"
	"testing"

	corev1 "k8s.io/api/core/v1"
)

// TestOrderedScaleUp scales a StatefulSet to 3 step by step: -0 first,
// -1 only once -0 is Ready, and no pod twice while the cache lags.
func TestOrderedScaleUp(t *testing.T) {
	f := newFixture(t, newSet(3))
	var created []string
	for step := 0; step < 3; step++ {
		f.mustSync()
		w := f.podWrites()
		if len(w) != 1 || !strings.HasPrefix(w[0], "create pods ") {
			t.Fatalf("step %d: writes %q, want one pod created", step, w)
		}
		created = append(created, strings.TrimPrefix(w[0], "create pods "))

		// The informer has not shown the pod yet: nothing is done twice.
		f.mustSync()
		if w := f.podWrites(); len(w) != 0 {
			t.Fatalf("step %d: sync before the cache caught up wrote %q", step, w)
		}
		// It shows the pod, not Ready yet: the next one waits.
		f.refresh()
		f.mustSync()
		if w := f.podWrites(); len(w) != 0 {
			t.Fatalf("step %d: wrote %q while the new pod is not Ready", step, w)
		}
		f.kubelet()
	}
	if !slices.Equal(created, []string{"web-0", "web-1", "web-2"}) {
		t.Errorf("created %q, want web-0, web-1, web-2", created)
	}
	f.mustSync()
	if w := f.podWrites(); len(w) != 0 {
		t.Errorf("writes after scale-up = %q", w)
	}
	st := f.set().Status
	if st.Replicas != 3 || st.ReadyReplicas != 3 || st.AvailableReplicas != 3 || st.UpdatedReplicas != 3 || st.CurrentReplicas != 3 ||
		st.CurrentRevision != revisionName(newSet(3)) || st.UpdateRevision != st.CurrentRevision {
		t.Errorf("status = %+v", st)
	}
}

// TestScaleDownOneAtATime scales 3 to 1: -2 goes, then -1.
func TestScaleDownOneAtATime(t *testing.T) {
	v1 := newSet(3)
	f := newFixture(t, objects(newSet(1), pod(v1, 0), pod(v1, 1), pod(v1, 2))...)
	var deleted []string
	for range 4 {
		f.mustSync()
		deleted = append(deleted, f.podWrites()...)
		f.mustSync() // before the informer shows the deletion
		if w := f.podWrites(); len(w) != 0 {
			t.Fatalf("sync before the cache caught up wrote %q", w)
		}
		f.refresh()
	}
	if !slices.Equal(deleted, []string{"delete pods web-2", "delete pods web-1"}) {
		t.Errorf("writes = %q, want web-2 then web-1 deleted", deleted)
	}
}

// TestRollingUpdate changes the image of a 3-pod set and lets the nodes
// run every pod: the pods are replaced -2, -1, -0, each only after the
// one before was replaced and Ready, and the status ends at the new
// revision.
func TestRollingUpdate(t *testing.T) {
	v1 := newSet(3)
	f := newFixture(t, objects(v1, pod(v1, 0), pod(v1, 1), pod(v1, 2))...)
	f.mustSync() // records the status at v1
	f.refresh()
	v2 := newSet(3, image("web:2"))
	f.update(v2)

	var writes []string
	for range 12 {
		f.mustSync()
		w := f.podWrites()
		writes = append(writes, w...)
		f.refresh()
		if len(w) > 0 && strings.HasPrefix(w[0], "create") {
			// The replacement is not Ready yet: nothing else happens.
			f.mustSync()
			if w := f.podWrites(); len(w) != 0 {
				t.Fatalf("wrote %q before the replacement was Ready", w)
			}
		}
		f.kubelet()
	}
	want := []string{
		"delete pods web-2", "create pods web-2",
		"delete pods web-1", "create pods web-1",
		"delete pods web-0", "create pods web-0",
	}
	if !slices.Equal(writes, want) {
		t.Errorf("writes = %q, want %q", writes, want)
	}
	for _, name := range []string{"web-0", "web-1", "web-2"} {
		if p := f.getPod(name); p.Spec.Containers[0].Image != "web:2" || revisionOf(p) != revisionName(v2) {
			t.Errorf("pod %s: image %s, revision %s; want web:2, %s", name, p.Spec.Containers[0].Image, revisionOf(p), revisionName(v2))
		}
	}
	st := f.set().Status
	if st.CurrentRevision != revisionName(v2) || st.UpdateRevision != revisionName(v2) || st.UpdatedReplicas != 3 || st.CurrentReplicas != 3 || st.ObservedGeneration != v2.Generation {
		t.Errorf("status = %+v", st)
	}
}

// TestOnDeleteRecreatesAtUpdateRevision: with OnDelete a pod someone
// deleted comes back from the current template.
func TestOnDeleteRecreatesAtUpdateRevision(t *testing.T) {
	v1 := newSet(2, onDelete)
	v2 := newSet(2, onDelete, image("web:2"))
	f := newFixture(t, objects(v2, pod(v1, 0))...)
	f.mustSync()
	if w := f.podWrites(); !slices.Equal(w, []string{"create pods web-1"}) {
		t.Fatalf("writes = %q", w)
	}
	if p := f.getPod("web-1"); revisionOf(p) != revisionName(v2) || p.Spec.Containers[0].Image != "web:2" {
		t.Errorf("recreated pod: revision %s, image %s", revisionOf(p), p.Spec.Containers[0].Image)
	}
	if p := f.getPod("web-0"); revisionOf(p) != revisionName(v1) {
		t.Errorf("web-0 was replaced: revision %s", revisionOf(p))
	}
}

// TestFailedPodRecreated: a failed pod is deleted, and created again
// once it is gone.
func TestFailedPodRecreated(t *testing.T) {
	set := newSet(2)
	f := newFixture(t, objects(set, pod(set, 0), pod(set, 1, phase(corev1.PodFailed)))...)
	f.mustSync()
	if w := f.podWrites(); !slices.Equal(w, []string{"delete pods web-1"}) {
		t.Fatalf("first sync writes = %q", w)
	}
	f.refresh()
	f.mustSync()
	if w := f.podWrites(); !slices.Equal(w, []string{"create pods web-1"}) {
		t.Fatalf("second sync writes = %q", w)
	}
	if p := f.getPod("web-1"); p.Status.Phase == corev1.PodFailed {
		t.Error("web-1 is still the failed pod")
	}
}
