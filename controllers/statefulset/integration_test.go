package statefulset_test

import (
	"context"
	"fmt"
	"os/exec"
	"slices"
	"strings"
	"sync"
	"testing"
	"time"

	appsv1 "k8s.io/api/apps/v1"
	corev1 "k8s.io/api/core/v1"
	"k8s.io/apimachinery/pkg/api/resource"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/client-go/informers"
	"k8s.io/client-go/kubernetes"
	"k8s.io/client-go/tools/cache"
	"k8s.io/kubectl/pkg/util/podutils"

	"github.com/sqlkube/sqlkube/controllers/internal/controllertest"
	"github.com/sqlkube/sqlkube/controllers/reconcile"
	"github.com/sqlkube/sqlkube/controllers/statefulset"
	"github.com/sqlkube/sqlkube/internal/testserver"
)

// podState is a pod as one watch event showed it.
type podState struct {
	name     string
	uid      string
	ready    bool
	gone     bool // being deleted, or deleted
	revision string
	image    string
}

// podLog records, in the order the API server reports them, the changes
// of the pods in a namespace, so a test can tell what existed and was
// Ready when something happened.
type podLog struct {
	mu     sync.Mutex
	events []podState
}

// watchPods records the pods of namespace ns until the test ends.
func watchPods(t *testing.T, client kubernetes.Interface, ns string) *podLog {
	t.Helper()
	l := &podLog{}
	record := func(obj any, gone bool) {
		pod, ok := reconcile.ObjectOf[*corev1.Pod](obj)
		if !ok {
			return
		}
		l.mu.Lock()
		defer l.mu.Unlock()
		l.events = append(l.events, podState{
			name: pod.Name, uid: string(pod.UID),
			ready:    pod.Status.Phase == corev1.PodRunning && podutils.IsPodReady(pod),
			gone:     gone || pod.DeletionTimestamp != nil,
			revision: pod.Labels[appsv1.ControllerRevisionHashLabelKey],
			image:    pod.Spec.Containers[0].Image,
		})
	}
	ctx, cancel := context.WithCancel(context.Background())
	inf := informers.NewSharedInformerFactoryWithOptions(client, 0, informers.WithNamespace(ns))
	_, _ = inf.Core().V1().Pods().Informer().AddEventHandler(cache.ResourceEventHandlerFuncs{
		AddFunc:    func(obj any) { record(obj, false) },
		UpdateFunc: func(_, cur any) { record(cur, false) },
		DeleteFunc: func(obj any) { record(obj, true) },
	})
	inf.Start(ctx.Done())
	inf.WaitForCacheSync(ctx.Done())
	t.Cleanup(func() { cancel(); inf.Shutdown() })
	return l
}

// mark returns the number of events so far, to look only at later ones.
func (l *podLog) mark() int {
	l.mu.Lock()
	defer l.mu.Unlock()
	return len(l.events)
}

// firsts returns, for the events from from on, the state of every pod
// (by name) just before the first event of each pod that matches pick,
// with that event, in order.
func (l *podLog) firsts(from int, pick func(podState) bool) (hits []podState, before []map[string]podState) {
	l.mu.Lock()
	defer l.mu.Unlock()
	latest := map[string]podState{}
	seen := map[string]bool{}
	for i, e := range l.events {
		if i >= from && pick(e) && !seen[e.uid] {
			seen[e.uid] = true
			snapshot := make(map[string]podState, len(latest))
			for k, v := range latest {
				snapshot[k] = v
			}
			hits = append(hits, e)
			before = append(before, snapshot)
		}
		if e.gone {
			delete(latest, e.name)
		} else {
			latest[e.name] = e
		}
	}
	return hits, before
}

func names(states []podState) []string {
	var out []string
	for _, s := range states {
		out = append(out, s.name)
	}
	return out
}

func kubectl(t *testing.T, ts *testserver.Server, args ...string) string {
	t.Helper()
	out, err := exec.Command("kubectl", append([]string{"--kubeconfig", ts.Kubeconfig, "-n", "demo"}, args...)...).CombinedOutput()
	if err != nil {
		t.Fatalf("kubectl %s: %v\n%s", strings.Join(args, " "), err, out)
	}
	return string(out)
}

// TestStatefulSetOnRealServer runs the controller against the API server
// with a stand-in kubelet (every pod becomes Running and Ready at once;
// a pod being deleted is removed): a 3-pod StatefulSet comes up in
// order, rolls a new image out from the top, and scales down to one pod.
func TestStatefulSetOnRealServer(t *testing.T) {
	srv, ctx := controllertest.StartServer(t, 60*time.Second)
	client := srv.Client
	controllertest.CreateNamespace(ctx, t, client, "demo")
	log := watchPods(t, client, "demo")
	controllertest.Run(t, srv, statefulset.New, 2, controllertest.Quiet)
	controllertest.RunKubelet(t, client, nil)

	set := &appsv1.StatefulSet{
		ObjectMeta: metav1.ObjectMeta{Name: "web", Namespace: "demo"},
		Spec: appsv1.StatefulSetSpec{
			Replicas:    new(int32(3)),
			ServiceName: "web",
			Selector:    &metav1.LabelSelector{MatchLabels: map[string]string{"app": "web"}},
			Template: corev1.PodTemplateSpec{
				ObjectMeta: metav1.ObjectMeta{Labels: map[string]string{"app": "web"}},
				Spec: corev1.PodSpec{Containers: []corev1.Container{{
					Name: "c", Image: "registry.local/web:1",
					VolumeMounts: []corev1.VolumeMount{{Name: "data", MountPath: "/data"}},
				}}},
			},
			VolumeClaimTemplates: []corev1.PersistentVolumeClaim{{
				ObjectMeta: metav1.ObjectMeta{Name: "data"},
				Spec: corev1.PersistentVolumeClaimSpec{
					AccessModes: []corev1.PersistentVolumeAccessMode{corev1.ReadWriteOnce},
					Resources:   corev1.VolumeResourceRequirements{Requests: corev1.ResourceList{corev1.ResourceStorage: resource.MustParse("1Gi")}},
				},
			}},
		},
	}
	if _, err := client.AppsV1().StatefulSets("demo").Create(ctx, set, metav1.CreateOptions{}); err != nil {
		t.Fatalf("create statefulset: %v", err)
	}
	getSet := func() *appsv1.StatefulSet {
		t.Helper()
		s, err := client.AppsV1().StatefulSets("demo").Get(ctx, "web", metav1.GetOptions{})
		if err != nil {
			t.Fatal(err)
		}
		return s
	}

	// Up in order: each pod appears only once the one before is Ready.
	out := kubectl(t, srv, "rollout", "status", "statefulset/web", "--timeout=15s")
	if !strings.Contains(out, "roll out complete: 3 new pods") {
		t.Fatalf("rollout status: %s", out)
	}
	added, before := log.firsts(0, func(e podState) bool { return !e.gone })
	if got := names(added); !slices.Equal(got, []string{"web-0", "web-1", "web-2"}) {
		t.Fatalf("pods appeared in the order %q, want web-0, web-1, web-2", got)
	}
	for i := 1; i < len(added); i++ {
		if prev := before[i][added[i-1].name]; !prev.ready {
			t.Errorf("%s appeared while %s was not Ready", added[i].name, added[i-1].name)
		}
	}
	st := getSet().Status
	v1 := st.UpdateRevision
	if st.ReadyReplicas != 3 || st.Replicas != 3 || st.CurrentRevision != v1 || v1 == "" || st.UpdatedReplicas != 3 {
		t.Fatalf("status after scale-up = %+v", st)
	}
	claim, err := client.CoreV1().PersistentVolumeClaims("demo").Get(ctx, "data-web-0", metav1.GetOptions{})
	if err != nil {
		t.Fatalf("claim of web-0: %v", err)
	}
	if claim.Labels["app"] != "web" {
		t.Errorf("claim labels = %v", claim.Labels)
	}
	p0, err := client.CoreV1().Pods("demo").Get(ctx, "web-0", metav1.GetOptions{})
	if err != nil {
		t.Fatal(err)
	}
	if v := p0.Spec.Volumes[0]; v.Name != "data" || v.PersistentVolumeClaim == nil || v.PersistentVolumeClaim.ClaimName != "data-web-0" {
		t.Errorf("web-0 volumes = %+v", p0.Spec.Volumes)
	}
	if p0.Spec.Hostname != "web-0" || p0.Spec.Subdomain != "web" || p0.Labels[appsv1.StatefulSetPodNameLabel] != "web-0" {
		t.Errorf("web-0: hostname %q, subdomain %q, labels %v", p0.Spec.Hostname, p0.Spec.Subdomain, p0.Labels)
	}

	// kubectl set image: replaced from the top, each only once the one
	// above runs the new revision and is Ready.
	from := log.mark()
	kubectl(t, srv, "set", "image", "statefulset/web", "c=registry.local/web:2")
	out = kubectl(t, srv, "rollout", "status", "statefulset/web", "--timeout=15s")
	if !strings.Contains(out, "roll out complete: 3 new pods") {
		t.Fatalf("rollout status: %s", out)
	}
	st = getSet().Status
	v2 := st.UpdateRevision
	if v2 == v1 || st.CurrentRevision != v2 || st.UpdatedReplicas != 3 || st.CurrentReplicas != 3 || st.ReadyReplicas != 3 {
		t.Fatalf("status after the update = %+v (revision before %s)", st, v1)
	}
	deleted, before := log.firsts(from, func(e podState) bool { return e.gone })
	if got := names(deleted); !slices.Equal(got, []string{"web-2", "web-1", "web-0"}) {
		t.Fatalf("pods deleted in the order %q, want web-2, web-1, web-0", got)
	}
	for i := 1; i < len(deleted); i++ {
		above := before[i][deleted[i-1].name]
		if !above.ready || above.revision != v2 {
			t.Errorf("%s deleted while %s was %+v, not Ready at %s", deleted[i].name, deleted[i-1].name, above, v2)
		}
	}
	pods, err := client.CoreV1().Pods("demo").List(ctx, metav1.ListOptions{})
	if err != nil {
		t.Fatal(err)
	}
	for _, p := range pods.Items {
		if p.Spec.Containers[0].Image != "registry.local/web:2" || p.Labels[appsv1.ControllerRevisionHashLabelKey] != v2 {
			t.Errorf("pod %s: image %s, revision %s after the update", p.Name, p.Spec.Containers[0].Image, p.Labels[appsv1.ControllerRevisionHashLabelKey])
		}
	}

	// kubectl scale (the scale subresource): -2 goes, then -1.
	from = log.mark()
	kubectl(t, srv, "scale", "statefulset/web", "--replicas=1")
	var last string
	controllertest.Poll(ctx, t, 15*time.Second, "one pod left", func() (bool, error) {
		pods, err := client.CoreV1().Pods("demo").List(ctx, metav1.ListOptions{})
		if err != nil {
			return false, err
		}
		var left []string
		for _, p := range pods.Items {
			left = append(left, p.Name)
		}
		s := getSet()
		last = fmt.Sprintf("pods %v, status %+v", left, s.Status)
		return slices.Equal(left, []string{"web-0"}) && s.Status.Replicas == 1 && s.Status.ReadyReplicas == 1 && s.Status.ObservedGeneration == s.Generation, nil
	})
	deleted, _ = log.firsts(from, func(e podState) bool { return e.gone })
	if got := names(deleted); !slices.Equal(got, []string{"web-2", "web-1"}) {
		t.Errorf("scale-down deleted %q, want web-2 then web-1 (%s)", got, last)
	}
	// The claims stay (retention policy Retain).
	if _, err := client.CoreV1().PersistentVolumeClaims("demo").Get(ctx, "data-web-2", metav1.GetOptions{}); err != nil {
		t.Errorf("claim of the scaled-away web-2: %v", err)
	}
}

// TestRetentionPolicyOnRealServer: with whenDeleted and whenScaled
// Delete the set controls its claims, and a claim whose pod is scaled
// away passes to the pod, for the garbage collector to delete with it.
func TestRetentionPolicyOnRealServer(t *testing.T) {
	srv, ctx := controllertest.StartServer(t, 30*time.Second)
	client := srv.Client
	controllertest.CreateNamespace(ctx, t, client, "demo")
	controllertest.Run(t, srv, statefulset.New, 2, controllertest.Quiet)
	controllertest.RunKubelet(t, client, nil)
	set := &appsv1.StatefulSet{
		ObjectMeta: metav1.ObjectMeta{Name: "db", Namespace: "demo"},
		Spec: appsv1.StatefulSetSpec{
			Replicas: new(int32(2)),
			Selector: &metav1.LabelSelector{MatchLabels: map[string]string{"app": "db"}},
			Template: corev1.PodTemplateSpec{
				ObjectMeta: metav1.ObjectMeta{Labels: map[string]string{"app": "db"}},
				Spec:       corev1.PodSpec{Containers: []corev1.Container{{Name: "c", Image: "registry.local/db:1"}}},
			},
			VolumeClaimTemplates: []corev1.PersistentVolumeClaim{{
				ObjectMeta: metav1.ObjectMeta{Name: "data"},
				Spec: corev1.PersistentVolumeClaimSpec{
					AccessModes: []corev1.PersistentVolumeAccessMode{corev1.ReadWriteOnce},
					Resources:   corev1.VolumeResourceRequirements{Requests: corev1.ResourceList{corev1.ResourceStorage: resource.MustParse("1Gi")}},
				},
			}},
			PersistentVolumeClaimRetentionPolicy: &appsv1.StatefulSetPersistentVolumeClaimRetentionPolicy{
				WhenDeleted: appsv1.DeletePersistentVolumeClaimRetentionPolicyType,
				WhenScaled:  appsv1.DeletePersistentVolumeClaimRetentionPolicyType,
			},
		},
	}
	created, err := client.AppsV1().StatefulSets("demo").Create(ctx, set, metav1.CreateOptions{})
	if err != nil {
		t.Fatalf("create statefulset: %v", err)
	}
	controlledBy := func(claim string) (metav1.OwnerReference, bool) {
		c, err := client.CoreV1().PersistentVolumeClaims("demo").Get(ctx, claim, metav1.GetOptions{})
		if err != nil {
			return metav1.OwnerReference{}, false
		}
		if ref := metav1.GetControllerOf(c); ref != nil && len(c.OwnerReferences) == 1 {
			return *ref, true
		}
		return metav1.OwnerReference{}, false
	}
	controllertest.Poll(ctx, t, 10*time.Second, "two Ready pods whose claims the set controls", func() (bool, error) {
		s, err := client.AppsV1().StatefulSets("demo").Get(ctx, "db", metav1.GetOptions{})
		if err != nil || s.Status.ReadyReplicas != 2 {
			return false, err
		}
		r0, ok0 := controlledBy("data-db-0")
		r1, ok1 := controlledBy("data-db-1")
		return ok0 && ok1 && r0.UID == created.UID && r1.UID == created.UID, nil
	})
	pod1, err := client.CoreV1().Pods("demo").Get(ctx, "db-1", metav1.GetOptions{})
	if err != nil {
		t.Fatal(err)
	}
	kubectl(t, srv, "scale", "statefulset/db", "--replicas=1")
	controllertest.Poll(ctx, t, 10*time.Second, "db-1 gone, its claim passed to it", func() (bool, error) {
		if _, err := client.CoreV1().Pods("demo").Get(ctx, "db-1", metav1.GetOptions{}); err == nil {
			return false, nil
		}
		ref, ok := controlledBy("data-db-1")
		return ok && ref.Kind == "Pod" && ref.UID == pod1.UID, nil
	})
	if ref, ok := controlledBy("data-db-0"); !ok || ref.UID != created.UID {
		t.Errorf("claim of the remaining db-0 is controlled by %+v, want the set", ref)
	}
}
