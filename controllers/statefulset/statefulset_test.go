package statefulset

import (
	"slices"
	"strings"
	"testing"
	"time"

	appsv1 "k8s.io/api/apps/v1"
	corev1 "k8s.io/api/core/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/util/intstr"
)

// TestSync runs one sync on a StatefulSet and its pods and compares the
// pod writes it makes.
func TestSync(t *testing.T) {
	v1 := newSet(3)
	v2 := newSet(3, image("web:2"))
	oldPod := func(n int, mods ...func(*corev1.Pod)) *corev1.Pod { return pod(v1, n, mods...) }
	tests := []struct {
		name string
		set  *appsv1.StatefulSet
		pods []*corev1.Pod
		want []string
	}{
		{
			name: "OrderedReady creates the first pod only",
			set:  v1,
			want: []string{"create pods web-0"},
		},
		{
			name: "OrderedReady waits for a pod that is not Ready",
			set:  v1,
			pods: []*corev1.Pod{pod(v1, 0, notReady)},
		},
		{
			name: "OrderedReady waits for a pending pod",
			set:  v1,
			pods: []*corev1.Pod{pod(v1, 0, pending)},
		},
		{
			name: "OrderedReady creates the next pod once the lower ones are Ready",
			set:  v1,
			pods: []*corev1.Pod{pod(v1, 0), pod(v1, 1)},
			want: []string{"create pods web-2"},
		},
		{
			name: "OrderedReady fills a gap before anything else",
			set:  v1,
			pods: []*corev1.Pod{pod(v1, 0), pod(v1, 2)},
			want: []string{"create pods web-1"},
		},
		{
			name: "OrderedReady waits for minReadySeconds",
			set:  newSet(3, func(s *appsv1.StatefulSet) { s.Spec.MinReadySeconds = 10 }),
			pods: []*corev1.Pod{pod(v1, 0, readySince(t0.Add(-5*time.Second)))},
		},
		{
			name: "OrderedReady goes on once minReadySeconds passed",
			set:  newSet(3, func(s *appsv1.StatefulSet) { s.Spec.MinReadySeconds = 10 }),
			pods: []*corev1.Pod{pod(v1, 0, readySince(t0.Add(-11*time.Second)))},
			want: []string{"create pods web-1"},
		},
		{
			name: "Parallel creates every pod",
			set:  newSet(3, parallel),
			want: []string{"create pods web-0", "create pods web-1", "create pods web-2"},
		},
		{
			name: "Parallel does not wait for a pod that is not Ready",
			set:  newSet(3, parallel),
			pods: []*corev1.Pod{pod(v1, 0, notReady)},
			want: []string{"create pods web-1", "create pods web-2"},
		},
		{
			name: "ordinals start at spec.ordinals.start",
			set:  newSet(2, func(s *appsv1.StatefulSet) { s.Spec.Ordinals = &appsv1.StatefulSetOrdinals{Start: 5} }),
			pods: []*corev1.Pod{pod(v1, 5)},
			want: []string{"create pods web-6"},
		},
		{
			name: "steady state writes nothing",
			set:  v1,
			pods: []*corev1.Pod{pod(v1, 0), pod(v1, 1), pod(v1, 2)},
		},
		{
			name: "a failed pod is deleted",
			set:  v1,
			pods: []*corev1.Pod{pod(v1, 0), pod(v1, 1, phase(corev1.PodFailed)), pod(v1, 2)},
			want: []string{"delete pods web-1"},
		},
		{
			name: "a succeeded pod is deleted too",
			set:  v1,
			pods: []*corev1.Pod{pod(v1, 0, phase(corev1.PodSucceeded)), pod(v1, 1), pod(v1, 2)},
			want: []string{"delete pods web-0"},
		},
		{
			name: "OrderedReady waits for a terminating pod to go",
			set:  v1,
			pods: []*corev1.Pod{pod(v1, 0, deleting)},
		},
		{
			name: "scale down deletes the highest ordinal only",
			set:  newSet(1),
			pods: []*corev1.Pod{pod(v1, 0), pod(v1, 1), pod(v1, 2)},
			want: []string{"delete pods web-2"},
		},
		{
			name: "scale down waits while a pod that stays is not Ready",
			set:  newSet(1),
			pods: []*corev1.Pod{pod(v1, 0, notReady), pod(v1, 1), pod(v1, 2)},
		},
		{
			name: "scale down waits for a pod being deleted",
			set:  newSet(1),
			pods: []*corev1.Pod{pod(v1, 0), pod(v1, 1), pod(v1, 2, deleting)},
		},
		{
			name: "scale down removes the lowest unhealthy pod without waiting",
			set:  newSet(1),
			pods: []*corev1.Pod{pod(v1, 0), pod(v1, 1, notReady)},
			want: []string{"delete pods web-1"},
		},
		{
			name: "scale down waits for an unhealthy pod above a healthy one",
			set:  newSet(1),
			pods: []*corev1.Pod{pod(v1, 0), pod(v1, 1, notReady), pod(v1, 2, notReady)},
		},
		{
			name: "Parallel scale down deletes every pod out of range",
			set:  newSet(1, parallel),
			pods: []*corev1.Pod{pod(v1, 0), pod(v1, 1), pod(v1, 2, notReady)},
			want: []string{"delete pods web-1", "delete pods web-2"},
		},
		{
			name: "rolling update deletes the highest old pod",
			set:  v2,
			pods: []*corev1.Pod{oldPod(0), oldPod(1), oldPod(2)},
			want: []string{"delete pods web-2"},
		},
		{
			name: "rolling update waits for the replacement to be Ready",
			set:  v2,
			pods: []*corev1.Pod{oldPod(0), oldPod(1), pod(v2, 2, notReady)},
		},
		{
			name: "rolling update goes on below a Ready replacement",
			set:  v2,
			pods: []*corev1.Pod{oldPod(0), oldPod(1), pod(v2, 2)},
			want: []string{"delete pods web-1"},
		},
		{
			name: "rolling update: pods below the partition stay",
			set:  newSet(3, image("web:2"), partition(2)),
			pods: []*corev1.Pod{oldPod(0), oldPod(1), pod(v2, 2)},
		},
		{
			name: "rolling update: pods at the partition are updated",
			set:  newSet(3, image("web:2"), partition(1)),
			pods: []*corev1.Pod{oldPod(0), oldPod(1), pod(v2, 2)},
			want: []string{"delete pods web-1"},
		},
		{
			name: "rolling update with maxUnavailable 2 deletes two",
			set: newSet(3, image("web:2"), func(s *appsv1.StatefulSet) {
				s.Spec.UpdateStrategy.RollingUpdate.MaxUnavailable = new(intstr.FromInt32(2))
			}),
			pods: []*corev1.Pod{oldPod(0), oldPod(1), oldPod(2)},
			want: []string{"delete pods web-2", "delete pods web-1"},
		},
		{
			name: "Parallel rolling update replaces an old unavailable pod beyond the budget",
			set:  newSet(3, image("web:2"), parallel),
			pods: []*corev1.Pod{oldPod(0, notReady), oldPod(1), pod(v2, 2, notReady)},
			want: []string{"delete pods web-0"},
		},
		{
			name: "OnDelete leaves old pods",
			set:  newSet(3, image("web:2"), onDelete),
			pods: []*corev1.Pod{oldPod(0), oldPod(1), oldPod(2)},
		},
		{
			name: "OnDelete recreates a deleted pod",
			set:  newSet(3, image("web:2"), onDelete),
			pods: []*corev1.Pod{oldPod(0), oldPod(2)},
			want: []string{"create pods web-1"},
		},
		{
			name: "a pod named for another set is not adopted",
			set:  v1,
			pods: []*corev1.Pod{orphan(pod(v1, 0), "webby-0"), orphan(pod(v1, 0), "web-01")},
			want: []string{"create pods web-0"},
		},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			f := newFixture(t, objects(tt.set, tt.pods...)...)
			if err := f.sync(); err != nil {
				t.Fatalf("sync: %v", err)
			}
			if got := f.podWrites(); !slices.Equal(sortedIfParallel(tt.set, got), sortedIfParallel(tt.set, tt.want)) {
				t.Errorf("writes = %q, want %q", got, tt.want)
			}
		})
	}
}

// TestNewPod checks what a created pod looks like.
func TestNewPod(t *testing.T) {
	set := newSet(3)
	f := newFixture(t, set)
	f.mustSync()
	p := f.getPod("web-0")
	rev := revisionName(set)
	want := map[string]string{
		"app": "web", "tier": "db",
		appsv1.StatefulSetPodNameLabel:        "web-0",
		appsv1.PodIndexLabel:                  "0",
		appsv1.ControllerRevisionHashLabelKey: rev,
	}
	if !equalMaps(p.Labels, want) {
		t.Errorf("labels = %v, want %v", p.Labels, want)
	}
	if !strings.HasPrefix(rev, "web-") || len(rev) <= len("web-") {
		t.Errorf("revision name %q is not web-<hash>", rev)
	}
	if p.Spec.Hostname != "web-0" || p.Spec.Subdomain != "web-svc" {
		t.Errorf("hostname %q, subdomain %q; want web-0, web-svc", p.Spec.Hostname, p.Spec.Subdomain)
	}
	if ref := metav1.GetControllerOf(p); ref == nil || ref.UID != set.UID || ref.Kind != "StatefulSet" || ref.BlockOwnerDeletion == nil || !*ref.BlockOwnerDeletion {
		t.Errorf("controller = %+v", ref)
	}
	if p.GenerateName != "" || p.Spec.Containers[0].Image != "web:1" {
		t.Errorf("generateName %q, image %q", p.GenerateName, p.Spec.Containers[0].Image)
	}
	if ev := f.events(); len(ev) != 1 || ev[0] != "Normal SuccessfulCreate create Pod web-0 in StatefulSet web successful" {
		t.Errorf("events = %q", ev)
	}
}

// TestRevisionName: the revision depends on the template only, and a
// template changed back is the revision it was.
func TestRevisionName(t *testing.T) {
	a, b := newSet(3), newSet(5, image("web:2"))
	if revisionName(a) == revisionName(b) {
		t.Errorf("two templates, one revision %q", revisionName(a))
	}
	back := newSet(7, image("web:1"))
	if revisionName(a) != revisionName(back) {
		t.Errorf("same template: revisions %q and %q", revisionName(a), revisionName(back))
	}
	long := newSet(1, func(s *appsv1.StatefulSet) { s.Name = strings.Repeat("a", 63) })
	if r := revisionName(long); len(r) > 63 {
		t.Errorf("revision %q is %d characters, more than a label value may have", r, len(r))
	}
}

// TestAdoptAndRelease: a matching orphan named as a member is adopted
// and given its identity labels; an owned pod that stopped matching is
// released.
func TestAdoptAndRelease(t *testing.T) {
	set := newSet(2)
	stray := orphan(pod(set, 0), "web-0")
	delete(stray.Labels, appsv1.StatefulSetPodNameLabel)
	delete(stray.Labels, appsv1.PodIndexLabel)
	relabelled := pod(set, 1)
	relabelled.Labels["app"] = "debug"
	f := newFixture(t, objects(set, stray, relabelled)...)
	err := f.sync()
	// web-1 is released but keeps its name, so its replacement cannot
	// be created until someone deletes it.
	if err == nil {
		t.Error("sync succeeded although web-1's name is taken")
	}
	w := f.podWrites()
	for _, want := range []string{"patch pods web-0", "update pods web-0", "patch pods web-1"} {
		if !slices.Contains(w, want) {
			t.Errorf("writes %q lack %q", w, want)
		}
	}
	p := f.getPod("web-0")
	if ref := metav1.GetControllerOf(p); ref == nil || ref.UID != set.UID {
		t.Errorf("web-0 controller = %+v, want the set", ref)
	}
	if p.Labels[appsv1.StatefulSetPodNameLabel] != "web-0" || p.Labels[appsv1.PodIndexLabel] != "0" {
		t.Errorf("web-0 labels = %v", p.Labels)
	}
	if ref := metav1.GetControllerOf(f.getPod("web-1")); ref != nil {
		t.Errorf("web-1 still controlled by %+v", ref)
	}
}

// TestInvalidSelector: an empty selector is reported and not retried.
func TestInvalidSelector(t *testing.T) {
	set := newSet(1, func(s *appsv1.StatefulSet) { s.Spec.Selector = &metav1.LabelSelector{} })
	f := newFixture(t, set)
	if err := f.sync(); err == nil {
		t.Fatal("sync succeeded")
	}
	if len(f.podWrites()) != 0 {
		t.Errorf("writes = %q", f.podWrites())
	}
	if ev := f.events(); len(ev) != 1 || !strings.Contains(ev[0], "InvalidSelector") {
		t.Errorf("events = %q", ev)
	}
}
