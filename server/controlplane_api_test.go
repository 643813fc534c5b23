package server_test

import (
	"context"
	"testing"
	"time"

	batchv1 "k8s.io/api/batch/v1"
	corev1 "k8s.io/api/core/v1"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/runtime/schema"
	"k8s.io/apimachinery/pkg/watch"
	"k8s.io/client-go/metadata"

	"github.com/sqlkube/sqlkube/server"
)

// What the control plane relies on from the API: jobs, namespace
// termination, default tolerations and metadata-only reads.

func TestJobDefaultsAndSelector(t *testing.T) {
	ts := start(t, "")
	ctx := context.Background()
	job := &batchv1.Job{
		ObjectMeta: metav1.ObjectMeta{Name: "once", Namespace: "default"},
		Spec: batchv1.JobSpec{Template: corev1.PodTemplateSpec{Spec: corev1.PodSpec{
			RestartPolicy: corev1.RestartPolicyNever,
			Containers:    []corev1.Container{{Name: "j", Image: "registry.local/job:1"}},
		}}},
	}
	got, err := ts.client.BatchV1().Jobs("default").Create(ctx, job, metav1.CreateOptions{})
	if err != nil {
		t.Fatalf("create job: %v", err)
	}
	if *got.Spec.Completions != 1 || *got.Spec.Parallelism != 1 || *got.Spec.BackoffLimit != 6 {
		t.Errorf("defaults: completions %d parallelism %d backoffLimit %d, want 1 1 6", *got.Spec.Completions, *got.Spec.Parallelism, *got.Spec.BackoffLimit)
	}
	uid := string(got.UID)
	if got.Spec.Selector == nil || got.Spec.Selector.MatchLabels["batch.kubernetes.io/controller-uid"] != uid {
		t.Errorf("selector %v, want batch.kubernetes.io/controller-uid=%s", got.Spec.Selector, uid)
	}
	if l := got.Spec.Template.Labels; l["batch.kubernetes.io/job-name"] != "once" || l["controller-uid"] != uid {
		t.Errorf("template labels %v lack the job's name and uid", l)
	}

	// A Job's pods must not restart forever.
	bad := job.DeepCopy()
	bad.Name = "always"
	bad.Spec.Template.Spec.RestartPolicy = corev1.RestartPolicyAlways
	if _, err := ts.client.BatchV1().Jobs("default").Create(ctx, bad, metav1.CreateOptions{}); !apierrors.IsInvalid(err) {
		t.Errorf("restartPolicy Always: got %v, want 422 Invalid", err)
	}

	// Status goes through /status and does not touch the spec.
	got.Status.Succeeded = 1
	got.Status.Conditions = []batchv1.JobCondition{{Type: batchv1.JobComplete, Status: corev1.ConditionTrue}}
	got.Spec.Parallelism = new(int32(5))
	st, err := ts.client.BatchV1().Jobs("default").UpdateStatus(ctx, got, metav1.UpdateOptions{})
	if err != nil {
		t.Fatalf("update status: %v", err)
	}
	if st.Status.Succeeded != 1 || *st.Spec.Parallelism != 1 {
		t.Errorf("after status update: succeeded %d parallelism %d, want 1 and 1", st.Status.Succeeded, *st.Spec.Parallelism)
	}
}

func TestNamespaceTerminatesUntilFinalized(t *testing.T) {
	ts := start(t, "")
	ctx := context.Background()
	nsc := ts.client.CoreV1().Namespaces()
	if _, err := nsc.Create(ctx, &corev1.Namespace{ObjectMeta: metav1.ObjectMeta{Name: "doomed"}}, metav1.CreateOptions{}); err != nil {
		t.Fatal(err)
	}
	if err := nsc.Delete(ctx, "doomed", metav1.DeleteOptions{}); err != nil {
		t.Fatalf("delete namespace: %v", err)
	}
	ns, err := nsc.Get(ctx, "doomed", metav1.GetOptions{})
	if err != nil {
		t.Fatalf("a deleted namespace stays until finalized: %v", err)
	}
	if ns.Status.Phase != corev1.NamespaceTerminating || ns.DeletionTimestamp == nil {
		t.Fatalf("phase %q deletionTimestamp %v, want Terminating and set", ns.Status.Phase, ns.DeletionTimestamp)
	}
	cm := &corev1.ConfigMap{ObjectMeta: metav1.ObjectMeta{Name: "late"}}
	if _, err := ts.client.CoreV1().ConfigMaps("doomed").Create(ctx, cm, metav1.CreateOptions{}); !apierrors.IsForbidden(err) {
		t.Errorf("create in a terminating namespace: got %v, want 403 Forbidden", err)
	}
	// A plain update may not drop the finalizer; only /finalize may.
	ns.Spec.Finalizers = nil
	if upd, err := nsc.Update(ctx, ns, metav1.UpdateOptions{}); err != nil || len(upd.Spec.Finalizers) != 1 {
		t.Fatalf("update without finalizers: %v, finalizers %v; want kept", err, upd.Spec.Finalizers)
	}
	ns, _ = nsc.Get(ctx, "doomed", metav1.GetOptions{})
	ns.Spec.Finalizers = nil
	if _, err := nsc.Finalize(ctx, ns, metav1.UpdateOptions{}); err != nil {
		t.Fatalf("finalize: %v", err)
	}
	if _, err := nsc.Get(ctx, "doomed", metav1.GetOptions{}); !apierrors.IsNotFound(err) {
		t.Errorf("after finalize: got %v, want 404", err)
	}
}

func TestPodsGetDefaultTolerations(t *testing.T) {
	ts := start(t, "", func(c *server.Config) { c.NotReadyTolerationSeconds = 7 })
	ctx := context.Background()
	pod := &corev1.Pod{
		ObjectMeta: metav1.ObjectMeta{Name: "p"},
		Spec:       corev1.PodSpec{Containers: []corev1.Container{{Name: "c", Image: "busybox"}}},
	}
	got, err := ts.client.CoreV1().Pods("default").Create(ctx, pod, metav1.CreateOptions{})
	if err != nil {
		t.Fatal(err)
	}
	want := map[string]int64{corev1.TaintNodeNotReady: 7, corev1.TaintNodeUnreachable: 300}
	for _, tol := range got.Spec.Tolerations {
		if s, ok := want[tol.Key]; ok && tol.Effect == corev1.TaintEffectNoExecute && tol.TolerationSeconds != nil && *tol.TolerationSeconds == s {
			delete(want, tol.Key)
		}
	}
	if len(want) > 0 {
		t.Errorf("tolerations %v lack %v", got.Spec.Tolerations, want)
	}
	// A pod that tolerates everything gets nothing added.
	pod.Name = "tolerant"
	pod.Spec.Tolerations = []corev1.Toleration{{Operator: corev1.TolerationOpExists}}
	got, err = ts.client.CoreV1().Pods("default").Create(ctx, pod, metav1.CreateOptions{})
	if err != nil {
		t.Fatal(err)
	}
	if len(got.Spec.Tolerations) != 1 {
		t.Errorf("tolerations %v, want the pod's own only", got.Spec.Tolerations)
	}
}

func TestMetadataClient(t *testing.T) {
	ts := start(t, "")
	ctx, cancel := context.WithTimeout(context.Background(), 20*time.Second)
	defer cancel()
	mc, err := metadata.NewForConfig(ts.cfg)
	if err != nil {
		t.Fatal(err)
	}
	cms := mc.Resource(schema.GroupVersionResource{Version: "v1", Resource: "configmaps"}).Namespace("default")
	owner := metav1.OwnerReference{APIVersion: "v1", Kind: "ConfigMap", Name: "owner", UID: "u-1"}
	cm := &corev1.ConfigMap{
		ObjectMeta: metav1.ObjectMeta{Name: "dep", Labels: map[string]string{"a": "b"}, OwnerReferences: []metav1.OwnerReference{owner}},
		Data:       map[string]string{"big": "value"},
	}
	if _, err := ts.client.CoreV1().ConfigMaps("default").Create(ctx, cm, metav1.CreateOptions{}); err != nil {
		t.Fatal(err)
	}
	list, err := cms.List(ctx, metav1.ListOptions{})
	if err != nil {
		t.Fatalf("metadata list: %v", err)
	}
	if len(list.Items) != 1 || list.Items[0].Name != "dep" || len(list.Items[0].OwnerReferences) != 1 || list.Items[0].Kind != "PartialObjectMetadata" {
		t.Fatalf("metadata list: %+v", list.Items)
	}
	one, err := cms.Get(ctx, "dep", metav1.GetOptions{})
	if err != nil || one.Labels["a"] != "b" || one.UID == "" {
		t.Fatalf("metadata get: %+v, %v", one, err)
	}
	w, err := cms.Watch(ctx, metav1.ListOptions{ResourceVersion: list.ResourceVersion})
	if err != nil {
		t.Fatalf("metadata watch: %v", err)
	}
	defer w.Stop()
	if err := ts.client.CoreV1().ConfigMaps("default").Delete(ctx, "dep", metav1.DeleteOptions{}); err != nil {
		t.Fatal(err)
	}
	select {
	case ev := <-w.ResultChan():
		pm, ok := ev.Object.(*metav1.PartialObjectMetadata)
		if ev.Type != watch.Deleted || !ok || pm.Name != "dep" {
			t.Fatalf("watch event %s %T, want DELETED PartialObjectMetadata dep", ev.Type, ev.Object)
		}
	case <-ctx.Done():
		t.Fatal("no watch event")
	}
}

// TestNoOpUpdateKeepsRevision: an update that changes nothing writes
// nothing (heartbeats and controllers resend unchanged objects).
func TestNoOpUpdateKeepsRevision(t *testing.T) {
	ts := start(t, "")
	ctx := context.Background()
	cms := ts.client.CoreV1().ConfigMaps("default")
	cm, err := cms.Create(ctx, &corev1.ConfigMap{ObjectMeta: metav1.ObjectMeta{Name: "c", Labels: map[string]string{"b": "2", "a": "1"}}, Data: map[string]string{"k": "v"}}, metav1.CreateOptions{})
	if err != nil {
		t.Fatal(err)
	}
	same, err := cms.Update(ctx, cm, metav1.UpdateOptions{})
	if err != nil || same.ResourceVersion != cm.ResourceVersion {
		t.Fatalf("no-op update: rv %s -> %s, %v; want unchanged", cm.ResourceVersion, same.ResourceVersion, err)
	}
	same.Data["k"] = "w"
	changed, err := cms.Update(ctx, same, metav1.UpdateOptions{})
	if err != nil || changed.ResourceVersion == cm.ResourceVersion {
		t.Fatalf("real update: rv %s -> %s, %v; want a new one", cm.ResourceVersion, changed.ResourceVersion, err)
	}
}
