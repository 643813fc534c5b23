package deployment

import (
	"context"
	"os/exec"
	"strings"
	"sync"
	"testing"
	"time"

	appsv1 "k8s.io/api/apps/v1"
	corev1 "k8s.io/api/core/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/labels"
	"k8s.io/apimachinery/pkg/util/intstr"
	"k8s.io/apimachinery/pkg/util/wait"
	"k8s.io/client-go/informers"
	"k8s.io/client-go/kubernetes"
	"k8s.io/client-go/tools/cache"
	"k8s.io/kubectl/pkg/util/podutils"

	"github.com/sqlkube/sqlkube/controllers/internal/controllertest"
	"github.com/sqlkube/sqlkube/controllers/reconcile"
	"github.com/sqlkube/sqlkube/controllers/replicaset"
	"github.com/sqlkube/sqlkube/internal/testserver"
)

// stuckImage is an image whose pods the test kubelet never makes ready.
const stuckImage = "registry.invalid/never-ready"

// startControllers runs the ReplicaSet and Deployment controllers and a
// stand-in kubelet (pods become Running and Ready at once, except those
// of stuckImage; terminating pods are removed) until the test ends.
func startControllers(t *testing.T, ts *testserver.Server) {
	t.Helper()
	controllertest.StartAll(t, ts, 2, func(cfg *reconcile.Config) []controllertest.Controller {
		return []controllertest.Controller{replicaset.New(cfg), New(cfg)}
	})
	controllertest.RunKubelet(t, ts.Client, func(p *corev1.Pod) bool { return p.Spec.Containers[0].Image == stuckImage })
}

func kubectl(t *testing.T, ts *testserver.Server, args ...string) (string, error) {
	t.Helper()
	cmd := exec.Command("kubectl", append([]string{"--kubeconfig", ts.Kubeconfig, "-n", "default"}, args...)...)
	out, err := cmd.CombinedOutput()
	return string(out), err
}

func mustKubectl(t *testing.T, ts *testserver.Server, args ...string) string {
	t.Helper()
	out, err := kubectl(t, ts, args...)
	if err != nil {
		t.Fatalf("kubectl %s: %v\n%s", strings.Join(args, " "), err, out)
	}
	return out
}

// rolloutWatch records, while a rollout runs, the largest total of
// ReplicaSet replicas and the fewest ready pods seen.
type rolloutWatch struct {
	mu       sync.Mutex
	maxTotal int32
	minReady int
}

func watchRollout(t *testing.T, client kubernetes.Interface, app string) *rolloutWatch {
	ctx, cancel := context.WithCancel(context.Background())
	t.Cleanup(cancel)
	inf := informers.NewSharedInformerFactory(client, 0)
	rsLister := inf.Apps().V1().ReplicaSets().Lister()
	podLister := inf.Core().V1().Pods().Lister()
	w := &rolloutWatch{minReady: 1 << 30}
	sel := labels.SelectorFromSet(labels.Set{"app": app})
	check := func(any) {
		rss, _ := rsLister.ReplicaSets("default").List(sel)
		pods, _ := podLister.Pods("default").List(sel)
		var total int32
		for _, rs := range rss {
			total += *rs.Spec.Replicas
		}
		ready := 0
		for _, p := range pods {
			if p.DeletionTimestamp == nil && podutils.IsPodReady(p) {
				ready++
			}
		}
		w.mu.Lock()
		w.maxTotal = max(w.maxTotal, total)
		w.minReady = min(w.minReady, ready)
		w.mu.Unlock()
	}
	h := cache.ResourceEventHandlerFuncs{AddFunc: check, UpdateFunc: func(_, c any) { check(c) }, DeleteFunc: check}
	_, _ = inf.Apps().V1().ReplicaSets().Informer().AddEventHandler(h)
	_, _ = inf.Core().V1().Pods().Informer().AddEventHandler(h)
	inf.Start(ctx.Done())
	inf.WaitForCacheSync(ctx.Done())
	w.mu.Lock()
	w.minReady = 1 << 30
	w.mu.Unlock()
	return w
}

func deploymentRSes(t *testing.T, client kubernetes.Interface, d *appsv1.Deployment) []appsv1.ReplicaSet {
	t.Helper()
	list, err := client.AppsV1().ReplicaSets("default").List(context.Background(), metav1.ListOptions{})
	if err != nil {
		t.Fatal(err)
	}
	var out []appsv1.ReplicaSet
	for _, rs := range list.Items {
		if metav1.IsControlledBy(&rs, d) {
			out = append(out, rs)
		}
	}
	return out
}

// podImages counts the live pods of app by image.
func podImages(t *testing.T, client kubernetes.Interface, app string) map[string]int {
	t.Helper()
	list, err := client.CoreV1().Pods("default").List(context.Background(), metav1.ListOptions{LabelSelector: "app=" + app})
	if err != nil {
		t.Fatal(err)
	}
	out := map[string]int{}
	for _, p := range list.Items {
		if p.DeletionTimestamp == nil {
			out[p.Spec.Containers[0].Image]++
		}
	}
	return out
}

func TestIntegrationRolloutWithKubectl(t *testing.T) {
	ts := testserver.Start(t)
	startControllers(t, ts)
	ctx := context.Background()
	client := ts.Client

	surge, unavail := intstr.FromInt32(2), intstr.FromInt32(1)
	d := &appsv1.Deployment{
		ObjectMeta: metav1.ObjectMeta{Name: "web", Namespace: "default", Annotations: map[string]string{changeCauseAnn: "first"}},
		Spec: appsv1.DeploymentSpec{
			Replicas: new(int32(8)),
			Selector: &metav1.LabelSelector{MatchLabels: map[string]string{"app": "web"}},
			Template: corev1.PodTemplateSpec{
				ObjectMeta: metav1.ObjectMeta{Labels: map[string]string{"app": "web"}},
				Spec:       corev1.PodSpec{Containers: []corev1.Container{{Name: "c", Image: "nginx:1"}}},
			},
			Strategy: appsv1.DeploymentStrategy{RollingUpdate: &appsv1.RollingUpdateDeployment{MaxSurge: &surge, MaxUnavailable: &unavail}},
		},
	}
	d, err := client.AppsV1().Deployments("default").Create(ctx, d, metav1.CreateOptions{})
	if err != nil {
		t.Fatal(err)
	}
	out := mustKubectl(t, ts, "rollout", "status", "deployment/web", "--timeout=60s")
	if !strings.Contains(out, `deployment "web" successfully rolled out`) {
		t.Fatalf("rollout status: %s", out)
	}
	got, _ := client.AppsV1().Deployments("default").Get(ctx, "web", metav1.GetOptions{})
	if got.Status.AvailableReplicas != 8 || got.Status.UpdatedReplicas != 8 || got.Annotations[revisionAnn] != "1" {
		t.Fatalf("after the first rollout: status %+v, revision %q", got.Status, got.Annotations[revisionAnn])
	}
	if c := condition(got.Status, appsv1.DeploymentAvailable); c == nil || c.Status != corev1.ConditionTrue {
		t.Errorf("Available condition = %+v", c)
	}

	// Roll out a new image as `kubectl set image` does.
	w := watchRollout(t, client, "web")
	mustKubectl(t, ts, "set", "image", "deployment/web", "c=nginx:2")
	mustKubectl(t, ts, "annotate", "deployment/web", changeCauseAnn+"=second", "--overwrite")
	out = mustKubectl(t, ts, "rollout", "status", "deployment/web", "--timeout=60s")
	if !strings.Contains(out, "successfully rolled out") {
		t.Fatalf("rollout status: %s", out)
	}
	if imgs := podImages(t, client, "web"); imgs["nginx:2"] != 8 || len(imgs) != 1 {
		t.Errorf("pods by image after the rollout: %v, want 8 of nginx:2", imgs)
	}
	if rss := deploymentRSes(t, client, d); len(rss) != 2 {
		t.Errorf("%d replica sets, want 2", len(rss))
	}
	w.mu.Lock()
	t.Logf("during the rollout: at most %d replicas wanted, at least %d pods ready", w.maxTotal, w.minReady)
	if w.maxTotal > 10 {
		t.Errorf("replica sets summed to %d replicas, more than 8 + maxSurge 2", w.maxTotal)
	}
	if w.minReady < 7 {
		t.Errorf("ready pods fell to %d, fewer than 8 - maxUnavailable 1", w.minReady)
	}
	w.mu.Unlock()

	out = mustKubectl(t, ts, "rollout", "history", "deployment/web")
	for _, want := range []string{"1         first", "2         second"} {
		if !strings.Contains(out, want) {
			t.Errorf("rollout history lacks %q:\n%s", want, out)
		}
	}

	// Undo: the first ReplicaSet is used again, as revision 3.
	first := ""
	for _, rs := range deploymentRSes(t, client, d) {
		if rs.Spec.Template.Spec.Containers[0].Image == "nginx:1" {
			first = rs.Name
		}
	}
	mustKubectl(t, ts, "rollout", "undo", "deployment/web")
	mustKubectl(t, ts, "rollout", "status", "deployment/web", "--timeout=60s")
	rss := deploymentRSes(t, client, d)
	if len(rss) != 2 {
		t.Fatalf("%d replica sets after undo, want 2", len(rss))
	}
	for _, rs := range rss {
		if rs.Name == first && rs.Annotations[revisionAnn] != "3" {
			t.Errorf("re-used replica set %s has revision %q, want 3", rs.Name, rs.Annotations[revisionAnn])
		}
	}
	got, _ = client.AppsV1().Deployments("default").Get(ctx, "web", metav1.GetOptions{})
	if got.Annotations[revisionAnn] != "3" {
		t.Errorf("deployment revision after undo = %q, want 3", got.Annotations[revisionAnn])
	}
	if imgs := podImages(t, client, "web"); imgs["nginx:1"] != 8 || len(imgs) != 1 {
		t.Errorf("pods by image after undo: %v, want 8 of nginx:1", imgs)
	}
	out = mustKubectl(t, ts, "rollout", "history", "deployment/web")
	t.Logf("kubectl rollout history after undo:\n%s", out)
	if !strings.Contains(out, "2         second") || !strings.Contains(out, "3         first") || strings.Contains(out, "1         first") {
		t.Errorf("rollout history after undo:\n%s", out)
	}

	// Scale with kubectl: the one active ReplicaSet follows.
	mustKubectl(t, ts, "scale", "deployment/web", "--replicas=3")
	mustKubectl(t, ts, "rollout", "status", "deployment/web", "--timeout=60s")
	err = wait.PollUntilContextTimeout(ctx, 50*time.Millisecond, 30*time.Second, true, func(ctx context.Context) (bool, error) {
		return podImages(t, client, "web")["nginx:1"] == 3, nil
	})
	if err != nil {
		t.Errorf("pods after scaling to 3: %v", podImages(t, client, "web"))
	}
}

func TestIntegrationPauseAndDeadline(t *testing.T) {
	ts := testserver.Start(t)
	startControllers(t, ts)
	ctx := context.Background()
	client := ts.Client

	d := &appsv1.Deployment{
		ObjectMeta: metav1.ObjectMeta{Name: "api", Namespace: "default"},
		Spec: appsv1.DeploymentSpec{
			Replicas:                new(int32(2)),
			ProgressDeadlineSeconds: new(int32(2)),
			Selector:                &metav1.LabelSelector{MatchLabels: map[string]string{"app": "api"}},
			Template: corev1.PodTemplateSpec{
				ObjectMeta: metav1.ObjectMeta{Labels: map[string]string{"app": "api"}},
				Spec:       corev1.PodSpec{Containers: []corev1.Container{{Name: "c", Image: "nginx:1"}}},
			},
		},
	}
	d, err := client.AppsV1().Deployments("default").Create(ctx, d, metav1.CreateOptions{})
	if err != nil {
		t.Fatal(err)
	}
	mustKubectl(t, ts, "rollout", "status", "deployment/api", "--timeout=60s")

	// Paused: a template change does not roll out.
	mustKubectl(t, ts, "rollout", "pause", "deployment/api")
	mustKubectl(t, ts, "set", "image", "deployment/api", "c="+stuckImage)
	err = wait.PollUntilContextTimeout(ctx, 50*time.Millisecond, 20*time.Second, true, func(ctx context.Context) (bool, error) {
		got, err := client.AppsV1().Deployments("default").Get(ctx, "api", metav1.GetOptions{})
		return err == nil && got.Status.ObservedGeneration == got.Generation, nil
	})
	if err != nil {
		t.Fatal("paused deployment's generation not observed")
	}
	if rss := deploymentRSes(t, client, d); len(rss) != 1 {
		t.Fatalf("paused deployment has %d replica sets, want 1", len(rss))
	}

	// Resumed: it rolls out, the new pods never get ready, and the
	// progress deadline (2s) passes: kubectl rollout status fails.
	mustKubectl(t, ts, "rollout", "resume", "deployment/api")
	out, err := kubectl(t, ts, "rollout", "status", "deployment/api", "--timeout=60s")
	if err == nil || !strings.Contains(out, `deployment "api" exceeded its progress deadline`) {
		t.Fatalf("rollout status of a stuck rollout: err %v, output:\n%s", err, out)
	}
	if imgs := podImages(t, client, "api"); imgs["nginx:1"] < 1 {
		t.Errorf("old pods all gone during a stuck rollout: %v", imgs)
	}
}
