package sim

import (
	"context"
	"net/netip"
	"strings"
	"testing"
	"time"

	corev1 "k8s.io/api/core/v1"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/runtime"
	"k8s.io/apimachinery/pkg/types"
	"k8s.io/client-go/kubernetes/fake"
	clienttesting "k8s.io/client-go/testing"
	clocktesting "k8s.io/utils/clock/testing"
)

var t0 = time.Date(2026, 1, 2, 3, 4, 5, 0, time.UTC)

// testSim is a Simulator of nodes sim-0 and sim-1 on a fake clientset,
// with its pod ranges assigned and its queues not running: tests call
// syncPod themselves.
type testSim struct {
	*Simulator
	client *fake.Clientset
	clock  *clocktesting.FakePassiveClock
}

func newTestSim(t *testing.T, pods ...*corev1.Pod) *testSim {
	t.Helper()
	var objs []runtime.Object
	for _, p := range pods {
		objs = append(objs, p)
	}
	client := fake.NewClientset(objs...)
	clk := clocktesting.NewFakePassiveClock(t0)
	s, err := New(Config{Client: client, Prefix: "sim", Count: 2, JobDuration: time.Second, Clock: clk})
	if err != nil {
		t.Fatal(err)
	}
	if err := s.assignCIDRs(); err != nil {
		t.Fatal(err)
	}
	ts := &testSim{Simulator: s, client: client, clock: clk}
	for _, p := range pods {
		ts.cache(t, p)
	}
	client.ClearActions()
	return ts
}

// cache puts pod into the simulator's pod cache as the informer would.
func (ts *testSim) cache(t *testing.T, pod *corev1.Pod) {
	t.Helper()
	obj, err := ts.transformPod(pod.DeepCopy())
	if err != nil {
		t.Fatal(err)
	}
	if err := ts.podIndexer.Update(obj); err != nil {
		t.Fatal(err)
	}
}

// stored reads pod back from the fake API and caches it.
func (ts *testSim) stored(t *testing.T, name string) *corev1.Pod {
	t.Helper()
	pod, err := ts.client.CoreV1().Pods("default").Get(context.Background(), name, metav1.GetOptions{})
	if err != nil {
		t.Fatal(err)
	}
	ts.cache(t, pod)
	return pod
}

func (ts *testSim) sync(t *testing.T, name string) time.Duration {
	t.Helper()
	after, err := ts.syncPod(context.Background(), "default/"+name)
	if err != nil {
		t.Fatalf("sync %s: %v", name, err)
	}
	return after
}

func verbs(c *fake.Clientset) []string {
	var out []string
	for _, a := range c.Actions() {
		v := a.GetVerb()
		if r := a.GetSubresource(); r != "" {
			v += "/" + r
		}
		out = append(out, v)
	}
	return out
}

func testPod(name, nodeName string, policy corev1.RestartPolicy) *corev1.Pod {
	return &corev1.Pod{
		ObjectMeta: metav1.ObjectMeta{Name: name, Namespace: "default", UID: types.UID("uid-" + name), Labels: map[string]string{"app": "x"}},
		Spec: corev1.PodSpec{
			NodeName: nodeName, RestartPolicy: policy,
			InitContainers: []corev1.Container{{Name: "init", Image: "busybox:1"}},
			Containers:     []corev1.Container{{Name: "c", Image: "registry.local/web:1", Command: []string{"serve"}}},
		},
		Status: corev1.PodStatus{Phase: corev1.PodPending, QOSClass: corev1.PodQOSBestEffort},
	}
}

func podCondition(pod *corev1.Pod, t corev1.PodConditionType) corev1.ConditionStatus {
	for _, c := range pod.Status.Conditions {
		if c.Type == t {
			return c.Status
		}
	}
	return ""
}

func TestStartPod(t *testing.T) {
	ts := newTestSim(t, testPod("web", "sim-1", corev1.RestartPolicyAlways))
	if after := ts.sync(t, "web"); after != 0 {
		t.Errorf("requeue after %s, want none for a long-running pod", after)
	}
	if v := verbs(ts.client); len(v) != 1 || v[0] != "patch/status" {
		t.Fatalf("actions = %v, want one status patch", v)
	}
	pod := ts.stored(t, "web")
	st := pod.Status
	if st.Phase != corev1.PodRunning || st.HostIP != DefaultNodeIP || !st.StartTime.Time.Equal(t0) {
		t.Errorf("phase %s hostIP %s startTime %v", st.Phase, st.HostIP, st.StartTime)
	}
	if ip, err := netip.ParseAddr(st.PodIP); err != nil || !netip.MustParsePrefix("10.128.1.0/24").Contains(ip) || len(st.PodIPs) != 1 {
		t.Errorf("pod IP %q %v not in sim-1's range 10.128.1.0/24", st.PodIP, st.PodIPs)
	}
	for _, c := range []corev1.PodConditionType{corev1.PodScheduled, corev1.PodInitialized, corev1.ContainersReady, corev1.PodReady} {
		if got := podCondition(pod, c); got != corev1.ConditionTrue {
			t.Errorf("%s = %q", c, got)
		}
	}
	if len(st.ContainerStatuses) != 1 {
		t.Fatalf("container statuses = %+v", st.ContainerStatuses)
	}
	cs := st.ContainerStatuses[0]
	if cs.State.Running == nil || !cs.Ready || cs.Started == nil || !*cs.Started || cs.Image != "registry.local/web:1" ||
		!strings.HasPrefix(cs.ContainerID, "sim://") || !strings.HasPrefix(cs.ImageID, "sha256:") {
		t.Errorf("container status = %+v", cs)
	}
	if len(st.InitContainerStatuses) != 1 || st.InitContainerStatuses[0].State.Terminated == nil {
		t.Errorf("init container statuses = %+v", st.InitContainerStatuses)
	}
	if pod.Labels["app"] != "x" || len(pod.Spec.Containers[0].Command) != 1 {
		t.Errorf("the status patch changed more than the status: %+v", pod.ObjectMeta)
	}

	// Seeing its own update changes nothing.
	ts.client.ClearActions()
	if after := ts.sync(t, "web"); after != 0 || len(ts.client.Actions()) != 0 {
		t.Errorf("sync of the running pod: after %s, actions %v", after, verbs(ts.client))
	}
}

func TestJobPodCompletes(t *testing.T) {
	for _, policy := range []corev1.RestartPolicy{corev1.RestartPolicyNever, corev1.RestartPolicyOnFailure} {
		t.Run(string(policy), func(t *testing.T) {
			ts := newTestSim(t, testPod("job", "sim-0", policy))
			if after := ts.sync(t, "job"); after != time.Second {
				t.Errorf("requeue after %s, want the job duration 1s", after)
			}
			if ts.stored(t, "job").Status.Phase != corev1.PodRunning {
				t.Fatal("not Running")
			}
			ts.client.ClearActions()
			ts.clock.SetTime(t0.Add(400 * time.Millisecond))
			if after := ts.sync(t, "job"); after != 600*time.Millisecond || len(ts.client.Actions()) != 0 {
				t.Errorf("early sync: after %s, actions %v; want 600ms and none", after, verbs(ts.client))
			}
			ts.clock.SetTime(t0.Add(time.Second))
			if after := ts.sync(t, "job"); after != 0 {
				t.Errorf("requeue after %s", after)
			}
			pod := ts.stored(t, "job")
			if pod.Status.Phase != corev1.PodSucceeded {
				t.Fatalf("phase = %s, want Succeeded", pod.Status.Phase)
			}
			term := pod.Status.ContainerStatuses[0].State.Terminated
			if term == nil || term.ExitCode != 0 || term.Reason != "Completed" || !term.FinishedAt.Time.Equal(t0.Add(time.Second)) {
				t.Errorf("container state = %+v", pod.Status.ContainerStatuses[0].State)
			}
			if podCondition(pod, corev1.PodReady) != corev1.ConditionFalse || pod.Status.ContainerStatuses[0].Ready {
				t.Error("a completed pod is still Ready")
			}
			if n := ts.nodes["sim-0"].ips.len(); n != 0 {
				t.Errorf("%d IPs still held after completion", n)
			}
			ts.client.ClearActions()
			ts.sync(t, "job")
			if len(ts.client.Actions()) != 0 {
				t.Errorf("sync of a finished pod: %v", verbs(ts.client))
			}
		})
	}
}

func TestDeletePod(t *testing.T) {
	pod := testPod("web", "sim-0", corev1.RestartPolicyAlways)
	ts := newTestSim(t, pod)
	ts.sync(t, "web")
	running := ts.stored(t, "web")
	ts.client.ClearActions()

	now := metav1.NewTime(t0)
	running.DeletionTimestamp = &now
	ts.cache(t, running)
	ts.sync(t, "web")
	a := ts.client.Actions()
	if len(a) != 1 || a[0].GetVerb() != "delete" {
		t.Fatalf("actions = %v, want one delete", verbs(ts.client))
	}
	opts := a[0].(clienttesting.DeleteActionImpl).DeleteOptions
	if opts.GracePeriodSeconds == nil || *opts.GracePeriodSeconds != 0 || opts.Preconditions == nil || *opts.Preconditions.UID != pod.UID {
		t.Errorf("delete options = %+v, want grace 0 and the pod's UID", opts)
	}
	if _, err := ts.client.CoreV1().Pods("default").Get(context.Background(), "web", metav1.GetOptions{}); !apierrors.IsNotFound(err) {
		t.Errorf("pod still there: %v", err)
	}
	if n := ts.nodes["sim-0"].ips.len(); n != 0 {
		t.Errorf("%d IPs still held", n)
	}
}

func TestIgnoresOtherNodes(t *testing.T) {
	ts := newTestSim(t, testPod("elsewhere", "real-node", corev1.RestartPolicyAlways), testPod("sim-10", "sim-10", corev1.RestartPolicyAlways))
	ts.sync(t, "elsewhere")
	ts.sync(t, "sim-10")
	if len(ts.client.Actions()) != 0 {
		t.Errorf("actions for pods of other nodes: %v", verbs(ts.client))
	}
	obj, _, _ := ts.podIndexer.GetByKey("default/elsewhere")
	if p := obj.(*corev1.Pod); len(p.Spec.Containers) != 0 || p.Spec.NodeName != "real-node" {
		t.Errorf("pod of another node cached with more than needed: %+v", p)
	}
}

func TestAdoptAfterRestart(t *testing.T) {
	started := metav1.NewTime(t0.Add(-time.Minute))
	web := testPod("web", "sim-0", corev1.RestartPolicyAlways)
	ready := []corev1.PodCondition{{Type: corev1.PodReady, Status: corev1.ConditionTrue}}
	web.Status = corev1.PodStatus{Phase: corev1.PodRunning, PodIP: "10.128.0.2", StartTime: &started, Conditions: ready}
	job := testPod("job", "sim-0", corev1.RestartPolicyNever)
	job.Status = corev1.PodStatus{Phase: corev1.PodRunning, PodIP: "10.128.0.3", StartTime: &started}
	ts := newTestSim(t, web, job, testPod("new", "sim-0", corev1.RestartPolicyAlways))

	if after := ts.sync(t, "web"); after != 0 || len(ts.client.Actions()) != 0 {
		t.Errorf("adopting a running pod: after %s, actions %v", after, verbs(ts.client))
	}
	ts.sync(t, "job") // its time is long up
	if got := ts.stored(t, "job").Status.Phase; got != corev1.PodSucceeded {
		t.Errorf("job pod = %s, want Succeeded", got)
	}
	ts.sync(t, "new")
	if ip := ts.stored(t, "new").Status.PodIP; ip == "10.128.0.2" || ip == "" {
		t.Errorf("new pod got IP %q, the adopted pod's", ip)
	}
}

// TestReadyAgain: a running pod someone marked not ready (the node
// lifecycle controller, while the node looked dead) is reported Ready
// again, as a kubelet's status sync would.
func TestReadyAgain(t *testing.T) {
	started := metav1.NewTime(t0.Add(-time.Minute))
	web := testPod("web", "sim-0", corev1.RestartPolicyAlways)
	web.Status = corev1.PodStatus{Phase: corev1.PodRunning, PodIP: "10.128.0.2", StartTime: &started,
		Conditions: []corev1.PodCondition{{Type: corev1.PodReady, Status: corev1.ConditionFalse, Reason: "NodeNotReady"}}}
	ts := newTestSim(t, web)
	ts.sync(t, "web")
	got := ts.stored(t, "web")
	if !podReady(got) || got.Status.PodIP != "10.128.0.2" {
		t.Errorf("after sync: ready %v, IP %q; want Ready again on its IP 10.128.0.2", podReady(got), got.Status.PodIP)
	}
}

func TestReplacedPod(t *testing.T) {
	old := testPod("web", "sim-0", corev1.RestartPolicyAlways)
	ts := newTestSim(t, old)
	// The API now holds another pod of the same name; the status patch's
	// UID test fails.
	replacement := old.DeepCopy()
	replacement.UID = "uid-new"
	if _, err := ts.client.CoreV1().Pods("default").Update(context.Background(), replacement, metav1.UpdateOptions{}); err != nil {
		t.Fatal(err)
	}
	ts.client.PrependReactor("patch", "pods", func(clienttesting.Action) (bool, runtime.Object, error) {
		return true, nil, apierrors.NewBadRequest("the patch cannot be applied: testing value /metadata/uid failed")
	})
	ts.sync(t, "web")
	if n := ts.nodes["sim-0"].ips.len(); n != 0 {
		t.Errorf("%d IPs held for a replaced pod", n)
	}
}

func TestRangeFull(t *testing.T) {
	ts := newTestSim(t, testPod("web", "sim-0", corev1.RestartPolicyAlways))
	ts.nodes["sim-0"].ips = newIPPool(netip.MustParsePrefix("10.128.0.0/30"))
	if _, err := ts.nodes["sim-0"].ips.allocate("other", t0); err != nil {
		t.Fatal(err)
	}
	if _, err := ts.syncPod(context.Background(), "default/web"); err == nil || !strings.Contains(err.Error(), "no free pod IP") {
		t.Errorf("err = %v, want no free pod IP", err)
	}
}
