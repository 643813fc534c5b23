package node

import (
	"context"
	"errors"
	"testing"
	"time"

	coordinationv1 "k8s.io/api/coordination/v1"
	corev1 "k8s.io/api/core/v1"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	"k8s.io/apimachinery/pkg/api/resource"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/runtime"
	"k8s.io/apimachinery/pkg/runtime/schema"
	"k8s.io/client-go/kubernetes/fake"
	clienttesting "k8s.io/client-go/testing"
)

var t0 = time.Date(2026, 1, 2, 3, 4, 5, 0, time.UTC)

func testConfig() *Config {
	return &Config{
		Name:   "n1",
		Labels: map[string]string{"pool": "a"},
		Capacity: corev1.ResourceList{
			corev1.ResourceCPU:    resource.MustParse("4"),
			corev1.ResourcePods:   resource.MustParse("110"),
			corev1.ResourceMemory: resource.MustParse("8Gi"),
		},
		PodCIDR:   "10.128.3.0/24",
		Addresses: []corev1.NodeAddress{{Type: corev1.NodeInternalIP, Address: "127.0.0.1"}},
		NodeInfo:  corev1.NodeSystemInfo{KubeletVersion: "v-test", OperatingSystem: "linux", Architecture: "amd64"},
	}
}

func condition(n *corev1.Node, t corev1.NodeConditionType) corev1.NodeCondition {
	for _, c := range n.Status.Conditions {
		if c.Type == t {
			return c
		}
	}
	return corev1.NodeCondition{}
}

func TestConfigNode(t *testing.T) {
	n := testConfig().Node(t0)
	for k, v := range map[string]string{
		corev1.LabelHostname: "n1", corev1.LabelOSStable: "linux", corev1.LabelArchStable: "amd64", "pool": "a",
	} {
		if n.Labels[k] != v {
			t.Errorf("label %s = %q, want %q", k, n.Labels[k], v)
		}
	}
	if n.Spec.PodCIDR != "10.128.3.0/24" || len(n.Spec.PodCIDRs) != 1 || n.Spec.PodCIDRs[0] != n.Spec.PodCIDR {
		t.Errorf("pod CIDRs = %q %v", n.Spec.PodCIDR, n.Spec.PodCIDRs)
	}
	if c := n.Status.Allocatable[corev1.ResourceCPU]; c.String() != "4" {
		t.Errorf("allocatable cpu = %s", c.String())
	}
	ready := condition(n, corev1.NodeReady)
	if ready.Status != corev1.ConditionTrue || !ready.LastHeartbeatTime.Time.Equal(t0) {
		t.Errorf("Ready = %+v", ready)
	}
	if !IsReady(n) {
		t.Error("IsReady = false")
	}
	if got := condition(n, corev1.NodeMemoryPressure).Status; got != corev1.ConditionFalse {
		t.Errorf("MemoryPressure = %s", got)
	}
}

func TestConditionsKeepTransitionTimes(t *testing.T) {
	earlier := metav1.NewTime(t0.Add(-time.Hour))
	existing := []corev1.NodeCondition{
		{Type: corev1.NodeReady, Status: corev1.ConditionUnknown, LastTransitionTime: earlier},
		{Type: corev1.NodeDiskPressure, Status: corev1.ConditionFalse, LastTransitionTime: earlier},
	}
	for _, c := range Conditions(t0, existing) {
		want := t0
		if c.Type == corev1.NodeDiskPressure {
			want = earlier.Time // same status: no transition
		}
		if !c.LastTransitionTime.Time.Equal(want) {
			t.Errorf("%s lastTransitionTime = %v, want %v", c.Type, c.LastTransitionTime, want)
		}
		if !c.LastHeartbeatTime.Time.Equal(t0) {
			t.Errorf("%s heartbeat = %v", c.Type, c.LastHeartbeatTime)
		}
	}
}

func TestRegister(t *testing.T) {
	unreachable := corev1.Taint{Key: corev1.TaintNodeUnreachable, Effect: corev1.TaintEffectNoExecute}
	tests := []struct {
		name     string
		existing *corev1.Node
		wantCIDR string
		wantVerb []string
	}{
		{name: "new node is created", wantCIDR: "10.128.3.0/24", wantVerb: []string{"create"}},
		{
			name: "existing node marked unknown is made Ready again and keeps its range and taints",
			existing: &corev1.Node{
				ObjectMeta: metav1.ObjectMeta{Name: "n1", Labels: map[string]string{"team": "x"}},
				Spec:       corev1.NodeSpec{PodCIDR: "10.128.9.0/24", PodCIDRs: []string{"10.128.9.0/24"}, Taints: []corev1.Taint{unreachable}},
				Status: corev1.NodeStatus{Conditions: []corev1.NodeCondition{
					{Type: corev1.NodeReady, Status: corev1.ConditionUnknown, Reason: "NodeStatusUnknown"},
				}},
			},
			wantCIDR: "10.128.9.0/24",
			wantVerb: []string{"create", "get", "update", "update"},
		},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			var objs []runtime.Object
			if tt.existing != nil {
				objs = append(objs, tt.existing)
			}
			client := fake.NewClientset(objs...)
			got, err := Register(context.Background(), client, testConfig(), t0)
			if err != nil {
				t.Fatal(err)
			}
			var verbs []string
			for _, a := range client.Actions() {
				verbs = append(verbs, a.GetVerb())
			}
			if len(verbs) != len(tt.wantVerb) {
				t.Fatalf("actions = %v, want %v", verbs, tt.wantVerb)
			}
			for i := range verbs {
				if verbs[i] != tt.wantVerb[i] {
					t.Fatalf("actions = %v, want %v", verbs, tt.wantVerb)
				}
			}
			stored, err := client.CoreV1().Nodes().Get(context.Background(), "n1", metav1.GetOptions{})
			if err != nil {
				t.Fatal(err)
			}
			if stored.UID != got.UID || stored.Spec.PodCIDR != tt.wantCIDR {
				t.Errorf("stored podCIDR = %q, want %q", stored.Spec.PodCIDR, tt.wantCIDR)
			}
			if !IsReady(stored) || stored.Labels["pool"] != "a" || stored.Labels[corev1.LabelHostname] != "n1" {
				t.Errorf("stored node not Ready or without labels: %+v", stored)
			}
			if tt.existing != nil {
				if stored.Labels["team"] != "x" || len(stored.Spec.Taints) != 1 {
					t.Errorf("labels %v / taints %v of the existing node were lost", stored.Labels, stored.Spec.Taints)
				}
			}
		})
	}
}

func TestPatchConditions(t *testing.T) {
	earlier := metav1.NewTime(t0.Add(-time.Hour))
	existing := &corev1.Node{
		ObjectMeta: metav1.ObjectMeta{Name: "n1", Labels: map[string]string{"keep": "me"}},
		Status: corev1.NodeStatus{Conditions: []corev1.NodeCondition{
			{Type: corev1.NodeReady, Status: corev1.ConditionUnknown, LastTransitionTime: earlier},
			{Type: "NetworkUnavailable", Status: corev1.ConditionFalse, LastTransitionTime: earlier},
		}},
	}
	client := fake.NewClientset(existing)
	if err := PatchConditions(context.Background(), client, "n1", existing.Status.Conditions, t0); err != nil {
		t.Fatal(err)
	}
	a := client.Actions()
	if len(a) != 1 || a[0].GetVerb() != "patch" || a[0].GetSubresource() != "status" {
		t.Fatalf("actions = %v, want one patch of status", a)
	}
	got, _ := client.CoreV1().Nodes().Get(context.Background(), "n1", metav1.GetOptions{})
	if !IsReady(got) || got.Labels["keep"] != "me" {
		t.Errorf("node after patch: %+v", got)
	}
	if c := condition(got, "NetworkUnavailable"); c.Status != corev1.ConditionFalse {
		t.Errorf("a condition the node does not own was dropped: %+v", got.Status.Conditions)
	}
	if err := PatchConditions(context.Background(), fake.NewClientset(), "gone", nil, t0); !apierrors.IsNotFound(err) {
		t.Errorf("patch of a missing node: err = %v, want NotFound", err)
	}
}

func TestLeaseRenew(t *testing.T) {
	n := &corev1.Node{ObjectMeta: metav1.ObjectMeta{Name: "n1", UID: "uid-1"}}
	client := fake.NewClientset()
	l := NewLease(client, n, 40*time.Second)
	ctx := context.Background()

	get := func() *coordinationv1.Lease {
		t.Helper()
		lease, err := client.CoordinationV1().Leases(LeaseNamespace).Get(ctx, "n1", metav1.GetOptions{})
		if err != nil {
			t.Fatal(err)
		}
		return lease
	}
	if err := l.Renew(ctx, t0); err != nil {
		t.Fatal(err)
	}
	lease := get()
	if *lease.Spec.HolderIdentity != "n1" || *lease.Spec.LeaseDurationSeconds != 40 || !lease.Spec.RenewTime.Time.Equal(t0) {
		t.Errorf("created lease spec = %+v", lease.Spec)
	}
	if len(lease.OwnerReferences) != 1 || lease.OwnerReferences[0].UID != "uid-1" || lease.OwnerReferences[0].Kind != "Node" {
		t.Errorf("owner references = %+v", lease.OwnerReferences)
	}

	// A renewal is one update of the lease it remembers.
	client.ClearActions()
	if err := l.Renew(ctx, t0.Add(10*time.Second)); err != nil {
		t.Fatal(err)
	}
	if a := client.Actions(); len(a) != 1 || a[0].GetVerb() != "update" {
		t.Errorf("renewal actions = %v, want one update", a)
	}
	if got := get().Spec.RenewTime.Time; !got.Equal(t0.Add(10 * time.Second)) {
		t.Errorf("renewTime = %v", got)
	}

	// A conflict makes it read the lease again and retry.
	conflicts := 1
	client.PrependReactor("update", "leases", func(clienttesting.Action) (bool, runtime.Object, error) {
		if conflicts > 0 {
			conflicts--
			return true, nil, apierrors.NewConflict(schema.GroupResource{Group: "coordination.k8s.io", Resource: "leases"}, "n1", nil)
		}
		return false, nil, nil
	})
	client.ClearActions()
	if err := l.Renew(ctx, t0.Add(20*time.Second)); err != nil {
		t.Fatal(err)
	}
	var verbs []string
	for _, a := range client.Actions() {
		verbs = append(verbs, a.GetVerb())
	}
	if len(verbs) != 3 || verbs[0] != "update" || verbs[1] != "get" || verbs[2] != "update" {
		t.Errorf("actions after a conflict = %v, want update get update", verbs)
	}
	if got := get().Spec.RenewTime.Time; !got.Equal(t0.Add(20 * time.Second)) {
		t.Errorf("renewTime after conflict = %v", got)
	}
}

func TestConditionsWithHealth(t *testing.T) {
	now := time.Date(2026, 12, 4, 12, 0, 0, 0, time.UTC)
	healthy := Conditions(now.Add(-time.Minute), nil)
	got := ConditionsWith(now, healthy, Health{NotReady: errors.New("container runtime is down: connection refused"), MemoryPressure: true})
	byType := map[corev1.NodeConditionType]corev1.NodeCondition{}
	for _, c := range got {
		byType[c.Type] = c
	}
	if r := byType[corev1.NodeReady]; r.Status != corev1.ConditionFalse || r.Reason != "KubeletNotReady" || !r.LastTransitionTime.Time.Equal(now) {
		t.Errorf("Ready = %+v, want False KubeletNotReady since now", r)
	}
	if m := byType[corev1.NodeMemoryPressure]; m.Status != corev1.ConditionTrue || m.Reason != "KubeletHasInsufficientMemory" {
		t.Errorf("MemoryPressure = %+v, want True KubeletHasInsufficientMemory", m)
	}
	if d := byType[corev1.NodeDiskPressure]; d.Status != corev1.ConditionFalse || !d.LastTransitionTime.Time.Equal(now.Add(-time.Minute)) {
		t.Errorf("DiskPressure = %+v, want False, unchanged since a minute ago", d)
	}
}

func TestSameHealth(t *testing.T) {
	now := time.Now()
	down := Health{NotReady: errors.New("container runtime is down")}
	for _, tc := range []struct {
		name  string
		conds []corev1.NodeCondition
		h     Health
		want  bool
	}{
		{"healthy as posted", Conditions(now, nil), Health{}, true},
		{"runtime went down", Conditions(now, nil), down, false},
		{"back up", ConditionsWith(now, nil, down), Health{}, false},
		{"memory short now", Conditions(now, nil), Health{MemoryPressure: true}, false},
		{"no conditions yet", nil, Health{}, false},
	} {
		t.Run(tc.name, func(t *testing.T) {
			if got := SameHealth(tc.conds, tc.h); got != tc.want {
				t.Fatalf("SameHealth = %v, want %v", got, tc.want)
			}
		})
	}
}
