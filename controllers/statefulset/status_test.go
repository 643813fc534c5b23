package statefulset

import (
	"testing"
	"time"

	appsv1 "k8s.io/api/apps/v1"
	corev1 "k8s.io/api/core/v1"
	apiequality "k8s.io/apimachinery/pkg/api/equality"
)

// rolloutDone reports whether `kubectl rollout status statefulset/web`
// says set's rollout is complete. It follows kubectl's
// StatefulSetStatusViewer (k8s.io/kubectl/pkg/polymorphichelpers,
// rollout_status.go), which this module cannot import: that package
// needs cli-runtime's printers and their dependencies. The integration
// test runs the real kubectl.
func rolloutDone(set *appsv1.StatefulSet) bool {
	st := set.Status
	if st.ObservedGeneration == 0 || set.Generation > st.ObservedGeneration {
		return false
	}
	if set.Spec.Replicas != nil && st.ReadyReplicas < *set.Spec.Replicas {
		return false
	}
	if ru := set.Spec.UpdateStrategy.RollingUpdate; ru != nil {
		if set.Spec.Replicas != nil && ru.Partition != nil && st.UpdatedReplicas < *set.Spec.Replicas-*ru.Partition {
			return false
		}
		return true
	}
	return st.UpdateRevision == st.CurrentRevision
}

func TestStatus(t *testing.T) {
	v1 := newSet(3)
	v2 := newSet(3, image("web:2"))
	v2.Status = appsv1.StatefulSetStatus{CurrentRevision: revisionName(v1), UpdateRevision: revisionName(v1), ObservedGeneration: 1}
	minReady := func(s *appsv1.StatefulSet) { s.Spec.MinReadySeconds = 30 }
	tests := []struct {
		name string
		set  *appsv1.StatefulSet
		pods []*corev1.Pod
		want appsv1.StatefulSetStatus // CollisionCount and ObservedGeneration aside
		done bool                     // kubectl rollout status says complete
	}{
		{
			name: "new set",
			set:  v1,
			want: appsv1.StatefulSetStatus{CurrentRevision: revisionName(v1), UpdateRevision: revisionName(v1)},
		},
		{
			name: "two of three pods, one Ready",
			set:  v1,
			pods: []*corev1.Pod{pod(v1, 0), pod(v1, 1, notReady)},
			want: appsv1.StatefulSetStatus{Replicas: 2, ReadyReplicas: 1, AvailableReplicas: 1, CurrentReplicas: 2, UpdatedReplicas: 2,
				CurrentRevision: revisionName(v1), UpdateRevision: revisionName(v1)},
		},
		{
			name: "all Ready",
			set:  v1,
			pods: []*corev1.Pod{pod(v1, 0), pod(v1, 1), pod(v1, 2)},
			want: appsv1.StatefulSetStatus{Replicas: 3, ReadyReplicas: 3, AvailableReplicas: 3, CurrentReplicas: 3, UpdatedReplicas: 3,
				CurrentRevision: revisionName(v1), UpdateRevision: revisionName(v1)},
			done: true,
		},
		{
			name: "Ready but not yet available",
			set:  newSet(3, minReady),
			pods: []*corev1.Pod{pod(v1, 0), pod(v1, 1), pod(v1, 2, readySince(t0.Add(-10*time.Second)))},
			want: appsv1.StatefulSetStatus{Replicas: 3, ReadyReplicas: 3, AvailableReplicas: 2, CurrentReplicas: 3, UpdatedReplicas: 3,
				CurrentRevision: revisionName(v1), UpdateRevision: revisionName(v1)},
			done: true,
		},
		{
			name: "rolling update in progress",
			set:  v2,
			pods: []*corev1.Pod{pod(v1, 0), pod(v1, 1), pod(v2, 2)},
			want: appsv1.StatefulSetStatus{Replicas: 3, ReadyReplicas: 3, AvailableReplicas: 3, CurrentReplicas: 2, UpdatedReplicas: 1,
				CurrentRevision: revisionName(v1), UpdateRevision: revisionName(v2)},
		},
		{
			name: "a terminating pod counts as a replica but not at a revision",
			set:  v2,
			pods: []*corev1.Pod{pod(v1, 0), pod(v1, 1), pod(v1, 2, deleting, notReady)},
			want: appsv1.StatefulSetStatus{Replicas: 3, ReadyReplicas: 2, AvailableReplicas: 2, CurrentReplicas: 2,
				CurrentRevision: revisionName(v1), UpdateRevision: revisionName(v2)},
		},
		{
			name: "last pod updated but not Ready: not complete",
			set:  v2,
			pods: []*corev1.Pod{pod(v2, 0, notReady), pod(v2, 1), pod(v2, 2)},
			want: appsv1.StatefulSetStatus{Replicas: 3, ReadyReplicas: 2, AvailableReplicas: 2, UpdatedReplicas: 3,
				CurrentRevision: revisionName(v1), UpdateRevision: revisionName(v2)},
		},
		{
			name: "rolling update complete",
			set:  v2,
			pods: []*corev1.Pod{pod(v2, 0), pod(v2, 1), pod(v2, 2)},
			want: appsv1.StatefulSetStatus{Replicas: 3, ReadyReplicas: 3, AvailableReplicas: 3, CurrentReplicas: 3, UpdatedReplicas: 3,
				CurrentRevision: revisionName(v2), UpdateRevision: revisionName(v2)},
			done: true,
		},
		{
			name: "partitioned rollout done at the partition",
			set:  newSet(3, image("web:2"), partition(2), func(s *appsv1.StatefulSet) { s.Status = v2.Status }),
			pods: []*corev1.Pod{pod(v1, 0), pod(v1, 1), pod(v2, 2)},
			want: appsv1.StatefulSetStatus{Replicas: 3, ReadyReplicas: 3, AvailableReplicas: 3, CurrentReplicas: 2, UpdatedReplicas: 1,
				CurrentRevision: revisionName(v1), UpdateRevision: revisionName(v2)},
			done: true,
		},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			st, _ := newState("demo/web", tt.set, tt.pods, t0).status()
			got := tt.set.DeepCopy()
			got.Status = st
			if st.ObservedGeneration != tt.set.Generation || st.CollisionCount == nil || *st.CollisionCount != 0 {
				t.Errorf("observedGeneration %d, collisionCount %v; want %d, 0", st.ObservedGeneration, st.CollisionCount, tt.set.Generation)
			}
			st.ObservedGeneration, st.CollisionCount = 0, nil
			if !apiequality.Semantic.DeepEqual(st, tt.want) {
				t.Errorf("status =\n%+v\nwant\n%+v", st, tt.want)
			}
			if done := rolloutDone(got); done != tt.done {
				t.Errorf("kubectl rollout status: done %v, want %v", done, tt.done)
			}
		})
	}
}

// TestStatusWrittenOnlyWhenChanged: a second sync over the same pods
// writes nothing.
func TestStatusWrittenOnlyWhenChanged(t *testing.T) {
	set := newSet(2)
	f := newFixture(t, objects(set, pod(set, 0), pod(set, 1))...)
	f.mustSync()
	if w := f.writes(); len(w) != 1 || w[0] != "update statefulsets/status web" {
		t.Fatalf("first sync writes = %q", w)
	}
	f.refresh()
	f.mustSync()
	if w := f.writes(); len(w) != 0 {
		t.Errorf("second sync writes = %q", w)
	}
}

// TestRequeueForAvailability: a set waiting for a pod to be Ready for
// minReadySeconds is synced again when it is.
func TestRequeueForAvailability(t *testing.T) {
	set := newSet(2, func(s *appsv1.StatefulSet) { s.Spec.MinReadySeconds = 1 })
	f := newFixture(t, objects(set, pod(set, 0, readySince(time.Now())))...)
	f.c.now = time.Now
	f.mustSync()
	if w := f.podWrites(); len(w) != 0 {
		t.Fatalf("writes = %q before web-0 is available", w)
	}
	if n := f.c.queue.Len(); n != 0 {
		t.Fatalf("queue holds %d keys at once", n)
	}
	deadline := time.Now().Add(3 * time.Second)
	for f.c.queue.Len() == 0 && time.Now().Before(deadline) {
		time.Sleep(20 * time.Millisecond)
	}
	if f.c.queue.Len() != 1 {
		t.Fatal("the set was not requeued once web-0 became available")
	}
}
