package server_test

import (
	"context"
	"fmt"
	"testing"
	"time"

	corev1 "k8s.io/api/core/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/watch"
	"k8s.io/client-go/informers"
	"k8s.io/client-go/tools/cache"

	"github.com/sqlkube/sqlkube/server"
	"github.com/sqlkube/sqlkube/storage"
)

// TestInformer: a client-go shared informer lists, watches, and sees
// every add, update and delete, with its lister in step.
func TestInformer(t *testing.T) {
	eachStore(t, func(t *testing.T, ts *testServer) {
		ctx, cancel := context.WithCancel(context.Background())
		defer cancel()
		cms := ts.client.CoreV1().ConfigMaps("default")
		if _, err := cms.Create(ctx, &corev1.ConfigMap{ObjectMeta: metav1.ObjectMeta{Name: "before"}}, metav1.CreateOptions{}); err != nil {
			t.Fatal(err)
		}
		factory := informers.NewSharedInformerFactoryWithOptions(ts.client, 0, informers.WithNamespace("default"))
		inf := factory.Core().V1().ConfigMaps()
		events := make(chan string, 100)
		_, _ = inf.Informer().AddEventHandler(cache.ResourceEventHandlerFuncs{
			AddFunc: func(o any) { events <- "add " + o.(*corev1.ConfigMap).Name },
			UpdateFunc: func(_, o any) {
				events <- "update " + o.(*corev1.ConfigMap).Name + " " + o.(*corev1.ConfigMap).Data["v"]
			},
			DeleteFunc: func(o any) {
				if d, ok := o.(cache.DeletedFinalStateUnknown); ok {
					o = d.Obj
				}
				events <- "delete " + o.(*corev1.ConfigMap).Name
			},
		})
		factory.Start(ctx.Done())
		if !cache.WaitForCacheSync(ctx.Done(), inf.Informer().HasSynced) {
			t.Fatal("cache did not sync")
		}
		expect := func(want string) {
			t.Helper()
			select {
			case got := <-events:
				if got != want {
					t.Fatalf("event %q, want %q", got, want)
				}
			case <-time.After(10 * time.Second):
				t.Fatalf("no event, want %q", want)
			}
		}
		expect("add before")
		cm, err := cms.Create(ctx, &corev1.ConfigMap{ObjectMeta: metav1.ObjectMeta{Name: "x"}, Data: map[string]string{"v": "1"}}, metav1.CreateOptions{})
		if err != nil {
			t.Fatal(err)
		}
		expect("add x")
		cm.Data["v"] = "2"
		if _, err := cms.Update(ctx, cm, metav1.UpdateOptions{}); err != nil {
			t.Fatal(err)
		}
		expect("update x 2")
		if got, err := inf.Lister().ConfigMaps("default").Get("x"); err != nil || got.Data["v"] != "2" {
			t.Fatalf("lister: %v %v", got, err)
		}
		if err := cms.Delete(ctx, "x", metav1.DeleteOptions{}); err != nil {
			t.Fatal(err)
		}
		expect("delete x")
	})
}

// TestWatchFromCompactedRevision: a watch from a compacted
// resourceVersion ends with a 410 Expired error event, on which
// informers re-list; and bookmarks arrive when allowed.
func TestWatchFromCompactedRevision(t *testing.T) {
	ts := start(t, "", func(c *server.Config) { c.BookmarkInterval = 100 * time.Millisecond })
	go ts.cluster.RunCompaction(t.Context(), storage.Retention{MinAge: time.Nanosecond, MinRevisions: 1}, 50*time.Millisecond)
	ctx := context.Background()
	cms := ts.client.CoreV1().ConfigMaps("default")
	first, err := cms.Create(ctx, &corev1.ConfigMap{ObjectMeta: metav1.ObjectMeta{Name: "a"}}, metav1.CreateOptions{})
	if err != nil {
		t.Fatal(err)
	}
	for i := 0; i < 5; i++ {
		if _, err := cms.Create(ctx, &corev1.ConfigMap{ObjectMeta: metav1.ObjectMeta{Name: fmt.Sprint("b", i)}}, metav1.CreateOptions{}); err != nil {
			t.Fatal(err)
		}
	}
	deadline := time.Now().Add(10 * time.Second)
	for {
		w, err := cms.Watch(ctx, metav1.ListOptions{ResourceVersion: first.ResourceVersion})
		if err != nil {
			t.Fatal(err)
		}
		e := <-w.ResultChan()
		w.Stop()
		if e.Type == watch.Error {
			if st, ok := e.Object.(*metav1.Status); !ok || st.Code != 410 || st.Reason != metav1.StatusReasonExpired {
				t.Fatalf("error event %+v, want 410 Expired", e.Object)
			}
			break
		}
		if time.Now().After(deadline) {
			t.Fatal("the old revision was never compacted")
		}
		time.Sleep(50 * time.Millisecond)
	}
	// A list then works, and a watch from its revision gets bookmarks.
	l, err := cms.List(ctx, metav1.ListOptions{})
	if err != nil || len(l.Items) != 6 {
		t.Fatalf("list after compaction: %d items, %v", len(l.Items), err)
	}
	w, err := cms.Watch(ctx, metav1.ListOptions{ResourceVersion: l.ResourceVersion, AllowWatchBookmarks: true})
	if err != nil {
		t.Fatal(err)
	}
	defer w.Stop()
	select {
	case e := <-w.ResultChan():
		if e.Type != watch.Bookmark {
			t.Fatalf("event %s, want a bookmark", e.Type)
		}
		if rv := e.Object.(*corev1.ConfigMap).ResourceVersion; rv != l.ResourceVersion {
			t.Fatalf("bookmark at %s, want %s", rv, l.ResourceVersion)
		}
	case <-time.After(5 * time.Second):
		t.Fatal("no bookmark")
	}
}

// TestWatchWithSelector: objects entering a label selector arrive as
// ADDED, leaving it as DELETED, as kube-apiserver sends them.
func TestWatchWithSelector(t *testing.T) {
	ts := start(t, "")
	ctx := context.Background()
	cms := ts.client.CoreV1().ConfigMaps("default")
	cm, err := cms.Create(ctx, &corev1.ConfigMap{ObjectMeta: metav1.ObjectMeta{Name: "c"}}, metav1.CreateOptions{})
	if err != nil {
		t.Fatal(err)
	}
	w, err := cms.Watch(ctx, metav1.ListOptions{LabelSelector: "tier=web", ResourceVersion: cm.ResourceVersion})
	if err != nil {
		t.Fatal(err)
	}
	defer w.Stop()
	for _, step := range []struct {
		labels map[string]string
		want   watch.EventType
	}{
		{map[string]string{"tier": "web"}, watch.Added},
		{map[string]string{"tier": "web", "x": "y"}, watch.Modified},
		{map[string]string{"tier": "db"}, watch.Deleted},
		{map[string]string{"tier": "db", "x": "z"}, ""}, // not selected: nothing
		{map[string]string{"tier": "web"}, watch.Added},
	} {
		cm.Labels = step.labels
		if cm, err = cms.Update(ctx, cm, metav1.UpdateOptions{}); err != nil {
			t.Fatal(err)
		}
		if step.want == "" {
			continue
		}
		select {
		case e := <-w.ResultChan():
			if e.Type != step.want {
				t.Fatalf("labels %v: event %s, want %s", step.labels, e.Type, step.want)
			}
		case <-time.After(5 * time.Second):
			t.Fatalf("labels %v: no %s event", step.labels, step.want)
		}
	}
	// A watch that starts while the object matches learns that it stops
	// matching from the object's previous state in the store.
	w2, err := cms.Watch(ctx, metav1.ListOptions{LabelSelector: "tier=web", ResourceVersion: cm.ResourceVersion})
	if err != nil {
		t.Fatal(err)
	}
	defer w2.Stop()
	cm.Labels = map[string]string{"tier": "db"}
	if _, err = cms.Update(ctx, cm, metav1.UpdateOptions{}); err != nil {
		t.Fatal(err)
	}
	select {
	case e := <-w2.ResultChan():
		if e.Type != watch.Deleted {
			t.Fatalf("leaving the selector: event %s, want DELETED", e.Type)
		}
	case <-time.After(5 * time.Second):
		t.Fatal("leaving the selector: no event")
	}
}
