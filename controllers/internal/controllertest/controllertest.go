// Package controllertest is test support for the controllers' tests.
//
// For unit tests, in the fixture pattern of sample-controller: NewConfig
// makes a reconcile.Config over a fake clientset whose informers are not
// started, and Cache fills their stores by hand, so that a test runs
// exactly one sync and reads the client's actions.
//
// For integration tests against a real API server (internal/testserver):
// Run and StartAll run controllers until the test ends, RunKubelet stands
// in for the nodes, and Poll waits for a condition.
//
// Only _test.go files import it.
package controllertest

import (
	"fmt"
	"io"
	"log/slog"
	"sync/atomic"
	"testing"

	"k8s.io/apimachinery/pkg/api/meta"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/runtime"
	"k8s.io/client-go/informers"
	"k8s.io/client-go/kubernetes/fake"
	"k8s.io/client-go/kubernetes/scheme"
	clienttesting "k8s.io/client-go/testing"
	"k8s.io/client-go/tools/record"

	"github.com/sqlkube/sqlkube/controllers/reconcile"
)

// NewConfig returns a fake clientset holding objs and a controller Config
// over it with an informer factory that is never started and a logger
// that discards. The clientset names created objects that have only a
// generateName, "<generateName>00001", "<generateName>00002", ..., as the
// API server would (with random suffixes). The Config's event broadcaster
// is shut down when the test ends.
func NewConfig(t testing.TB, objs ...runtime.Object) (*fake.Clientset, *reconcile.Config) {
	t.Helper()
	client := fake.NewClientset(objs...)
	var n atomic.Int32
	client.PrependReactor("create", "*", func(a clienttesting.Action) (bool, runtime.Object, error) {
		create, ok := a.(clienttesting.CreateAction)
		if !ok {
			return false, nil, nil
		}
		if o, ok := create.GetObject().(metav1.Object); ok && o.GetName() == "" && o.GetGenerateName() != "" {
			o.SetName(fmt.Sprintf("%s%05d", o.GetGenerateName(), n.Add(1)))
		}
		return false, nil, nil
	})
	cfg := &reconcile.Config{
		Client:    client,
		Informers: informers.NewSharedInformerFactory(client, 0),
		Logger:    discard,
	}
	t.Cleanup(cfg.Shutdown)
	return client, cfg
}

// discard is a logger that discards.
var discard = slog.New(slog.NewTextHandler(io.Discard, nil))

// Cache adds objs to the stores of their informers in inf, as the
// informers would after listing them. It fails the test for an object of
// a type the client-go scheme does not know.
func Cache(t testing.TB, inf informers.SharedInformerFactory, objs ...runtime.Object) {
	t.Helper()
	for _, o := range objs {
		gvks, _, err := scheme.Scheme.ObjectKinds(o)
		if err != nil {
			t.Fatalf("cache %T: %v", o, err)
		}
		gvr, _ := meta.UnsafeGuessKindToResource(gvks[0])
		gi, err := inf.ForResource(gvr)
		if err != nil {
			t.Fatalf("cache %T: %v", o, err)
		}
		if err := gi.Informer().GetIndexer().Add(o); err != nil {
			t.Fatalf("cache %T: %v", o, err)
		}
	}
}

// Events drains the events r recorded so far, each "Type Reason message".
func Events(r *record.FakeRecorder) []string {
	var out []string
	for {
		select {
		case e := <-r.Events:
			out = append(out, e)
		default:
			return out
		}
	}
}
