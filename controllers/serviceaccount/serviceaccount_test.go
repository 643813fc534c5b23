package serviceaccount

import (
	"context"
	"fmt"
	"testing"
	"time"

	corev1 "k8s.io/api/core/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/runtime"
	"k8s.io/apimachinery/pkg/util/wait"
	"k8s.io/client-go/informers"
	"k8s.io/client-go/kubernetes/fake"

	"github.com/sqlkube/sqlkube/controllers/internal/controllertest"
	"github.com/sqlkube/sqlkube/controllers/reconcile"
)

func namespace(name string, terminating bool) *corev1.Namespace {
	ns := &corev1.Namespace{ObjectMeta: metav1.ObjectMeta{Name: name}, Status: corev1.NamespaceStatus{Phase: corev1.NamespaceActive}}
	if terminating {
		ns.DeletionTimestamp = &metav1.Time{Time: time.Now()}
		ns.Status.Phase = corev1.NamespaceTerminating
	}
	return ns
}

func TestSync(t *testing.T) {
	const ca = "-----BEGIN CERTIFICATE-----\nMIIB\n-----END CERTIFICATE-----\n"
	rootCA := func(data map[string]string) *corev1.ConfigMap {
		return &corev1.ConfigMap{ObjectMeta: metav1.ObjectMeta{Name: RootCAName, Namespace: "a"}, Data: data}
	}
	sa := &corev1.ServiceAccount{ObjectMeta: metav1.ObjectMeta{Name: "default", Namespace: "a"}}
	tests := []struct {
		name   string
		ca     string
		objs   []runtime.Object
		writes []string
	}{
		{"new namespace", "", []runtime.Object{namespace("a", false)}, []string{"create serviceaccounts"}},
		{"already there", "", []runtime.Object{namespace("a", false), sa}, nil},
		{"other accounts only", "", []runtime.Object{namespace("a", false), &corev1.ServiceAccount{ObjectMeta: metav1.ObjectMeta{Name: "robot", Namespace: "a"}}}, []string{"create serviceaccounts"}},
		{"terminating", ca, []runtime.Object{namespace("a", true)}, nil},
		{"gone", ca, nil, nil},
		{"new namespace with a CA", ca, []runtime.Object{namespace("a", false)}, []string{"create serviceaccounts", "create configmaps"}},
		{"root CA there", ca, []runtime.Object{namespace("a", false), sa, rootCA(map[string]string{"ca.crt": ca})}, nil},
		{"root CA changed", ca, []runtime.Object{namespace("a", false), sa, rootCA(map[string]string{"ca.crt": "other"})}, []string{"update configmaps"}},
		{"root CA with more keys", ca, []runtime.Object{namespace("a", false), sa, rootCA(map[string]string{"ca.crt": ca, "x": "y"})}, []string{"update configmaps"}},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			client := fake.NewClientset(tc.objs...)
			factory := informers.NewSharedInformerFactory(client, 0)
			c := New(&reconcile.Config{Client: client, Informers: factory, RootCA: []byte(tc.ca)})
			ctx, cancel := context.WithCancel(context.Background())
			defer cancel()
			factory.Start(ctx.Done())
			factory.WaitForCacheSync(ctx.Done())
			client.ClearActions()
			if err := c.sync(ctx, "a"); err != nil {
				t.Fatal(err)
			}
			var writes []string
			for _, a := range client.Actions() {
				if a.GetVerb() != "list" && a.GetVerb() != "watch" {
					writes = append(writes, a.GetVerb()+" "+a.GetResource().Resource)
				}
			}
			if fmt.Sprint(writes) != fmt.Sprint(tc.writes) {
				t.Errorf("writes %v, want %v", writes, tc.writes)
			}
		})
	}
}

// TestIntegration: a new namespace gets its default ServiceAccount, and
// gets it back after it is deleted.
func TestIntegration(t *testing.T) {
	srv, ctx := controllertest.StartServer(t, 30*time.Second)
	cs := srv.Client
	controllertest.Run(t, srv, New, 1)

	if _, err := cs.CoreV1().Namespaces().Create(ctx, namespace("team-a", false), metav1.CreateOptions{}); err != nil {
		t.Fatal(err)
	}
	var uid string
	waitFor := func(what string) {
		t.Helper()
		err := wait.PollUntilContextTimeout(ctx, 50*time.Millisecond, 10*time.Second, true, func(ctx context.Context) (bool, error) {
			sa, err := cs.CoreV1().ServiceAccounts("team-a").Get(ctx, "default", metav1.GetOptions{})
			if err != nil || string(sa.UID) == uid {
				return false, nil
			}
			uid = string(sa.UID)
			return true, nil
		})
		if err != nil {
			t.Fatalf("waiting for %s: %v", what, err)
		}
	}
	waitFor("default ServiceAccount in a new namespace")
	if err := cs.CoreV1().ServiceAccounts("team-a").Delete(ctx, "default", metav1.DeleteOptions{}); err != nil {
		t.Fatal(err)
	}
	waitFor("default ServiceAccount recreated")
	// The cluster CA is published in kube-root-ca.crt, and put back.
	ca := string(srv.Config.CAData)
	waitForCA := func(what string) {
		t.Helper()
		err := wait.PollUntilContextTimeout(ctx, 50*time.Millisecond, 10*time.Second, true, func(ctx context.Context) (bool, error) {
			cm, err := cs.CoreV1().ConfigMaps("team-a").Get(ctx, RootCAName, metav1.GetOptions{})
			return err == nil && cm.Data[RootCAKey] == ca, nil
		})
		if err != nil {
			t.Fatalf("waiting for %s: %v", what, err)
		}
	}
	if ca == "" {
		t.Fatal("the test server's client has no CA data")
	}
	waitForCA("kube-root-ca.crt in a new namespace")
	if err := cs.CoreV1().ConfigMaps("team-a").Delete(ctx, RootCAName, metav1.DeleteOptions{}); err != nil {
		t.Fatal(err)
	}
	waitForCA("kube-root-ca.crt recreated")
	// Existing namespaces get one too.
	for _, ns := range []string{"default", "kube-system"} {
		err := wait.PollUntilContextTimeout(ctx, 50*time.Millisecond, 10*time.Second, true, func(ctx context.Context) (bool, error) {
			_, err := cs.CoreV1().ServiceAccounts(ns).Get(ctx, "default", metav1.GetOptions{})
			return err == nil, nil
		})
		if err != nil {
			t.Errorf("no default ServiceAccount in %s: %v", ns, err)
		}
	}
}
