package controllertest

import (
	"context"
	"sync"
	"testing"
	"time"

	corev1 "k8s.io/api/core/v1"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/util/wait"
	"k8s.io/client-go/informers"
	"k8s.io/client-go/kubernetes"
	"k8s.io/client-go/tools/cache"

	"github.com/sqlkube/sqlkube/controllers/reconcile"
	"github.com/sqlkube/sqlkube/internal/testserver"
	"github.com/sqlkube/sqlkube/server"
)

// StartServer starts an API server until the test ends (testserver.Start
// with mods) and returns it with a context that is done after timeout or
// when the test ends.
func StartServer(t testing.TB, timeout time.Duration, mods ...func(*server.Config)) (*testserver.Server, context.Context) {
	t.Helper()
	srv := testserver.Start(t, mods...)
	ctx, cancel := context.WithTimeout(context.Background(), timeout)
	t.Cleanup(cancel)
	return srv, ctx
}

// Controller is what a controller package's New returns.
type Controller interface {
	Run(ctx context.Context, workers int)
}

// Quiet is a Config option for Run and StartAll that discards the
// controllers' logs.
func Quiet(cfg *reconcile.Config) { cfg.Logger = discard }

// Run builds a controller with newC from a Config over the server ts (its
// client and REST configuration, a shared informer factory, adjusted by
// opts), starts the factory, and runs the controller with workers
// goroutines until the test ends. It returns the controller.
func Run[C Controller](t testing.TB, ts *testserver.Server, newC func(*reconcile.Config) C, workers int, opts ...func(*reconcile.Config)) C {
	t.Helper()
	var c C
	StartAll(t, ts, workers, func(cfg *reconcile.Config) []Controller {
		c = newC(cfg)
		return []Controller{c}
	}, opts...)
	return c
}

// StartAll is Run for several controllers sharing one Config: build makes
// them, then the informer factory is started and each controller runs
// with workers goroutines. When the test ends the controllers are stopped
// and waited for, then the factory and the Config's event broadcaster are
// shut down.
func StartAll(t testing.TB, ts *testserver.Server, workers int, build func(*reconcile.Config) []Controller, opts ...func(*reconcile.Config)) {
	t.Helper()
	ctx, cancel := context.WithCancel(context.Background())
	inf := informers.NewSharedInformerFactory(ts.Client, 0)
	cfg := &reconcile.Config{Client: ts.Client, Informers: inf, RESTConfig: ts.Config}
	for _, o := range opts {
		o(cfg)
	}
	cs := build(cfg)
	inf.Start(ctx.Done())
	var wg sync.WaitGroup
	for _, c := range cs {
		wg.Go(func() { c.Run(ctx, workers) })
	}
	t.Cleanup(func() { cancel(); wg.Wait(); inf.Shutdown(); cfg.Shutdown() })
}

// RunKubelet stands in for the nodes until the test ends: every pod it
// sees becomes Running and Ready, except those pending (if not nil)
// reports, and a terminating pod is removed.
func RunKubelet(t testing.TB, client kubernetes.Interface, pending func(*corev1.Pod) bool) {
	t.Helper()
	ctx, cancel := context.WithCancel(context.Background())
	inf := informers.NewSharedInformerFactory(client, 0)
	handle := func(obj any) {
		pod, ok := obj.(*corev1.Pod)
		if !ok {
			return
		}
		if pod.DeletionTimestamp != nil {
			_ = client.CoreV1().Pods(pod.Namespace).Delete(ctx, pod.Name, metav1.DeleteOptions{GracePeriodSeconds: new(int64)})
			return
		}
		if pod.Status.Phase == corev1.PodRunning || pending != nil && pending(pod) {
			return
		}
		p := pod.DeepCopy()
		p.Status.Phase = corev1.PodRunning
		p.Status.Conditions = []corev1.PodCondition{{Type: corev1.PodReady, Status: corev1.ConditionTrue, LastTransitionTime: metav1.Now()}}
		if _, err := client.CoreV1().Pods(p.Namespace).UpdateStatus(ctx, p, metav1.UpdateOptions{}); err != nil && !apierrors.IsNotFound(err) && !apierrors.IsConflict(err) && ctx.Err() == nil {
			t.Logf("kubelet: update status of %s: %v", p.Name, err)
		}
	}
	_, _ = inf.Core().V1().Pods().Informer().AddEventHandler(cache.ResourceEventHandlerFuncs{
		AddFunc:    handle,
		UpdateFunc: func(_, cur any) { handle(cur) },
	})
	inf.Start(ctx.Done())
	t.Cleanup(func() { cancel(); inf.Shutdown() })
}

// Every calls f every interval, in a goroutine of its own, until ctx is
// done.
func Every(ctx context.Context, interval time.Duration, f func()) {
	go func() {
		tick := time.NewTicker(interval)
		defer tick.Stop()
		for {
			select {
			case <-ctx.Done():
				return
			case <-tick.C:
			}
			f()
		}
	}()
}

// CreateNamespace creates the namespace name, failing the test if it
// cannot.
func CreateNamespace(ctx context.Context, t testing.TB, client kubernetes.Interface, name string) {
	t.Helper()
	if _, err := client.CoreV1().Namespaces().Create(ctx, &corev1.Namespace{ObjectMeta: metav1.ObjectMeta{Name: name}}, metav1.CreateOptions{}); err != nil {
		t.Fatal(err)
	}
}

// Poll checks cond every 50 ms until it holds, for at most timeout, and
// fails the test, naming what it waited for, if it does not hold in time
// or returns an error.
func Poll(ctx context.Context, t testing.TB, timeout time.Duration, what string, cond func() (bool, error)) {
	t.Helper()
	err := wait.PollUntilContextTimeout(ctx, 50*time.Millisecond, timeout, true, func(context.Context) (bool, error) { return cond() })
	if err != nil {
		t.Fatalf("waiting for %s: %v", what, err)
	}
}
