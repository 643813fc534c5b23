package manager_test

import (
	"context"
	"slices"
	"strings"
	"testing"
	"time"

	corev1 "k8s.io/api/core/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/util/wait"
	"k8s.io/client-go/rest"

	"github.com/sqlkube/sqlkube/controllers/manager"
	"github.com/sqlkube/sqlkube/internal/testserver"
)

func TestEnabled(t *testing.T) {
	all := manager.Names()
	for _, tt := range []struct {
		selection []string
		want      []string
		err       string
	}{
		{nil, all, ""},
		{[]string{"*"}, all, ""},
		{[]string{}, nil, ""},
		{[]string{"job"}, []string{"job"}, ""},
		{[]string{"*", "-job", "-scheduler"}, without(all, "job", "scheduler"), ""},
		{[]string{"*", "-nope"}, nil, `unknown controller "nope"`},
	} {
		got, err := manager.Enabled(tt.selection)
		if tt.err != "" {
			if err == nil || !strings.Contains(err.Error(), tt.err) {
				t.Errorf("Enabled(%q): err %v, want %q", tt.selection, err, tt.err)
			}
			continue
		}
		if err != nil || !slices.Equal(got, tt.want) {
			t.Errorf("Enabled(%q) = %v, %v; want %v", tt.selection, got, err, tt.want)
		}
	}
}

func without(names []string, drop ...string) []string {
	var out []string
	for _, n := range names {
		if !slices.Contains(drop, n) {
			out = append(out, n)
		}
	}
	return out
}

// TestLeaderElection: of two managers on one API, one leads and runs the
// controllers; when it stops it hands the Lease back, and the other takes
// over at once rather than after the lease duration.
func TestLeaderElection(t *testing.T) {
	ts := testserver.Start(t)
	clientFor := func(string) (*rest.Config, error) { return rest.CopyConfig(ts.Config), nil }
	ctx := context.Background()
	run := func(id string) (context.CancelFunc, chan error) {
		c, cancel := context.WithCancel(ctx)
		done := make(chan error, 1)
		go func() {
			done <- manager.Run(c, clientFor, manager.Options{Controllers: []string{"serviceaccount"}, LeaderElection: true, Identity: id})
		}()
		return cancel, done
	}
	holder := func() string {
		l, err := ts.Client.CoordinationV1().Leases("kube-system").Get(ctx, "sqlkube-controller-manager", metav1.GetOptions{})
		if err != nil || l.Spec.HolderIdentity == nil {
			return ""
		}
		return *l.Spec.HolderIdentity
	}
	waitHolder := func(want string, within time.Duration) {
		t.Helper()
		if err := wait.PollUntilContextTimeout(ctx, 50*time.Millisecond, within, true, func(context.Context) (bool, error) {
			return holder() == want, nil
		}); err != nil {
			t.Fatalf("lease holder %q, want %q within %s", holder(), want, within)
		}
	}
	stopA, doneA := run("a")
	waitHolder("a", 10*time.Second)
	stopB, doneB := run("b")
	defer func() {
		stopB()
		<-doneB
	}()

	// The leader's controllers run: a new namespace gets its default
	// ServiceAccount.
	if _, err := ts.Client.CoreV1().Namespaces().Create(ctx, nsNamed("one"), metav1.CreateOptions{}); err != nil {
		t.Fatal(err)
	}
	waitServiceAccount(t, ts, "one")

	stopA()
	if err := <-doneA; err != nil {
		t.Fatalf("manager a: %v", err)
	}
	// Well under the 15 s lease duration: a released Lease is taken at
	// the next retry.
	waitHolder("b", 6*time.Second)
	if _, err := ts.Client.CoreV1().Namespaces().Create(ctx, nsNamed("two"), metav1.CreateOptions{}); err != nil {
		t.Fatal(err)
	}
	waitServiceAccount(t, ts, "two")
}

func nsNamed(name string) *corev1.Namespace {
	return &corev1.Namespace{ObjectMeta: metav1.ObjectMeta{Name: name}}
}

func waitServiceAccount(t *testing.T, ts *testserver.Server, ns string) {
	t.Helper()
	err := wait.PollUntilContextTimeout(context.Background(), 50*time.Millisecond, 10*time.Second, true, func(ctx context.Context) (bool, error) {
		_, err := ts.Client.CoreV1().ServiceAccounts(ns).Get(ctx, "default", metav1.GetOptions{})
		return err == nil, nil
	})
	if err != nil {
		t.Fatalf("no default ServiceAccount in %s: the leader's controllers do not run", ns)
	}
}
