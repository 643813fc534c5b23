package server_test

import (
	"bytes"
	"context"
	"crypto/tls"
	"errors"
	"fmt"
	"io"
	"net"
	"net/http"
	"os"
	"path/filepath"
	"strings"
	"sync/atomic"
	"testing"
	"time"

	corev1 "k8s.io/api/core/v1"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/types"
	"k8s.io/client-go/kubernetes"
	"k8s.io/client-go/rest"
	"k8s.io/client-go/tools/clientcmd"

	"github.com/sqlkube/sqlkube/cluster"
	"github.com/sqlkube/sqlkube/internal/testenv"
	"github.com/sqlkube/sqlkube/server"
	"github.com/sqlkube/sqlkube/storage"
)

var pg *testenv.Postgres

func TestMain(m *testing.M) {
	ctx, cancel := context.WithTimeout(context.Background(), 2*time.Minute)
	var err error
	pg, err = testenv.StartPostgres(ctx)
	cancel()
	if err != nil && !errors.Is(err, testenv.ErrNotInstalled) {
		fmt.Fprintln(os.Stderr, "start PostgreSQL:", err)
		os.Exit(1)
	}
	code := m.Run()
	if pg != nil {
		_ = pg.Stop()
	}
	os.Exit(code)
}

// testServer is a running server and a client of it.
type testServer struct {
	dir        string
	url        string
	kubeconfig string
	cfg        *rest.Config
	client     *kubernetes.Clientset
	cluster    *cluster.Cluster
}

func freePort(t testing.TB) int {
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	defer l.Close()
	return l.Addr().(*net.TCPAddr).Port
}

var dbSeq atomic.Int64

// start runs a server on datastore ("" for SQLite in its data dir) until
// the test ends.
func start(t testing.TB, datastore string, mods ...func(*server.Config)) *testServer {
	t.Helper()
	return startCluster(t, cluster.Config{Datastore: datastore}, mods...)
}

// startCluster opens the cluster cc names, in a data directory of its own,
// and serves it until the test ends, as `sqlkube server` does but without
// compaction (a test runs ts.cluster.RunCompaction if it wants it).
func startCluster(t testing.TB, cc cluster.Config, mods ...func(*server.Config)) *testServer {
	t.Helper()
	dir := t.TempDir()
	ctx, cancel := context.WithCancel(context.Background())
	cfg := server.Config{SecurePort: freePort(t), Version: "test"}
	for _, m := range mods {
		m(&cfg)
	}
	cc.DataDir = dir
	c, err := cluster.Open(ctx, cc)
	if err != nil {
		cancel()
		t.Fatalf("open the cluster: %v", err)
	}
	s, err := server.New(ctx, cfg, c)
	if err != nil {
		cancel()
		c.Close()
		t.Fatalf("new server: %v", err)
	}
	done := make(chan error, 1)
	go func() { done <- s.Run(ctx) }()
	t.Cleanup(func() {
		cancel()
		if err := <-done; err != nil {
			t.Errorf("server: %v", err)
		}
		c.Close()
	})
	ts := &testServer{dir: dir, url: s.URL(), kubeconfig: s.KubeconfigPath(), cluster: c}
	deadline := time.Now().Add(10 * time.Second)
	for {
		if _, err := os.Stat(ts.kubeconfig); err == nil {
			if ts.cfg, err = clientcmd.BuildConfigFromFlags("", ts.kubeconfig); err != nil {
				t.Fatal(err)
			}
			ts.client = kubernetes.NewForConfigOrDie(ts.cfg)
			if b, err := ts.client.RESTClient().Get().AbsPath("/readyz").DoRaw(context.Background()); err == nil && string(b) == "ok" {
				return ts
			}
		}
		if time.Now().After(deadline) {
			t.Fatal("server not ready in 10s")
		}
		time.Sleep(20 * time.Millisecond)
	}
}

// eachStore runs fn against a server on SQLite and one on PostgreSQL.
func eachStore(t *testing.T, fn func(t *testing.T, ts *testServer)) {
	for _, name := range []string{"sqlite", "postgres"} {
		t.Run(name, func(t *testing.T) {
			t.Parallel()
			ds := ""
			if name == "postgres" {
				if pg == nil {
					testenv.Missing(t, "PostgreSQL")
				}
				url, err := pg.CreateDatabase(context.Background(), fmt.Sprintf("%s_%d", strings.ToLower(strings.ReplaceAll(t.Name(), "/", "_")), dbSeq.Add(1)))
				if err != nil {
					t.Fatal(err)
				}
				ds = url
			}
			fn(t, start(t, ds))
		})
	}
}

// rawClient is shared by every raw request, so that they reuse
// connections instead of leaving one open each.
var rawClient = &http.Client{Transport: &http.Transport{TLSClientConfig: &tls.Config{InsecureSkipVerify: true}}, Timeout: 10 * time.Second}

// raw sends a request with the admin token and returns the status and body.
func (ts *testServer) raw(t testing.TB, method, path, contentType string, body []byte, token string) (int, []byte) {
	t.Helper()
	req, err := http.NewRequest(method, ts.url+path, bytes.NewReader(body))
	if err != nil {
		t.Fatal(err)
	}
	if contentType != "" {
		req.Header.Set("Content-Type", contentType)
	}
	if token == "" {
		token = ts.cfg.BearerToken
	}
	if token != "-" {
		req.Header.Set("Authorization", "Bearer "+token)
	}
	resp, err := rawClient.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	b, _ := io.ReadAll(resp.Body)
	return resp.StatusCode, b
}

func TestBootstrapAndAuthentication(t *testing.T) {
	ts := start(t, "")
	ctx := context.Background()
	for _, ns := range []string{"default", "kube-system", "kube-public"} {
		if _, err := ts.client.CoreV1().Namespaces().Get(ctx, ns, metav1.GetOptions{}); err != nil {
			t.Errorf("namespace %s: %v", ns, err)
		}
	}
	svc, err := ts.client.CoreV1().Services("default").Get(ctx, "kubernetes", metav1.GetOptions{})
	if err != nil || svc.Spec.ClusterIP != "10.96.0.1" {
		t.Fatalf("kubernetes service: %v %v", svc.Spec.ClusterIP, err)
	}
	slice, err := ts.client.DiscoveryV1().EndpointSlices("default").Get(ctx, "kubernetes", metav1.GetOptions{})
	if err != nil || len(slice.Endpoints) != 1 || len(slice.Ports) != 1 || slice.Labels["kubernetes.io/service-name"] != "kubernetes" {
		t.Fatalf("kubernetes EndpointSlice: %+v %v", slice, err)
	}
	dns, err := ts.client.CoreV1().Services("kube-system").Get(ctx, "kube-dns", metav1.GetOptions{})
	if err != nil || dns.Spec.ClusterIP != "10.96.0.10" || len(dns.Spec.Ports) != 2 || dns.Spec.Selector != nil {
		t.Fatalf("kube-dns service: %+v %v", dns.Spec, err)
	}
	// The DNS address is reserved: a Service asking for it is refused.
	taken := &corev1.Service{ObjectMeta: metav1.ObjectMeta{Name: "squatter"}, Spec: corev1.ServiceSpec{ClusterIP: "10.96.0.10", Ports: []corev1.ServicePort{{Port: 53}}}}
	if _, err := ts.client.CoreV1().Services("default").Create(ctx, taken, metav1.CreateOptions{}); err == nil {
		t.Fatal("a Service took the cluster DNS address")
	}
	for _, tc := range []struct{ name, token string }{{"no token", "-"}, {"wrong token", "nope"}} {
		t.Run(tc.name, func(t *testing.T) {
			code, body := ts.raw(t, "GET", "/api/v1/namespaces", "", nil, tc.token)
			if code != 401 || !strings.Contains(string(body), `"kind":"Status"`) || strings.Contains(string(body), "kube-system") {
				t.Fatalf("got %d %s, want a 401 Status and no data", code, body)
			}
		})
	}
	if v, err := ts.client.Discovery().ServerVersion(); err != nil || v.Major != "1" {
		t.Fatalf("version: %+v %v", v, err)
	}
}

func TestConfigMapLifecycle(t *testing.T) {
	eachStore(t, func(t *testing.T, ts *testServer) {
		ctx := context.Background()
		cms := ts.client.CoreV1().ConfigMaps("default")
		cm, err := cms.Create(ctx, &corev1.ConfigMap{ObjectMeta: metav1.ObjectMeta{Name: "app", Labels: map[string]string{"tier": "web"}}, Data: map[string]string{"k": "v"}}, metav1.CreateOptions{})
		if err != nil {
			t.Fatal(err)
		}
		if cm.UID == "" || cm.ResourceVersion == "" || cm.CreationTimestamp.IsZero() {
			t.Fatalf("created object lacks server fields: %+v", cm.ObjectMeta)
		}
		if _, err := cms.Create(ctx, cm, metav1.CreateOptions{}); !apierrors.IsAlreadyExists(err) {
			t.Fatalf("second create: %v", err)
		}
		got, err := cms.Get(ctx, "app", metav1.GetOptions{})
		if err != nil || got.Data["k"] != "v" || got.ResourceVersion != cm.ResourceVersion {
			t.Fatalf("get: %+v %v", got, err)
		}
		// update, then a stale update is a conflict
		got.Data["k"] = "v2"
		upd, err := cms.Update(ctx, got, metav1.UpdateOptions{})
		if err != nil || upd.ResourceVersion == cm.ResourceVersion {
			t.Fatalf("update: %v", err)
		}
		cm.Data["k"] = "stale"
		if _, err := cms.Update(ctx, cm, metav1.UpdateOptions{}); !apierrors.IsConflict(err) || !strings.Contains(err.Error(), "the object has been modified") {
			t.Fatalf("stale update: %v", err)
		}
		// patches of the three kinds
		for _, p := range []struct {
			typ  types.PatchType
			body string
		}{
			{types.MergePatchType, `{"data":{"merge":"1"}}`},
			{types.JSONPatchType, `[{"op":"add","path":"/data/json","value":"2"}]`},
			{types.StrategicMergePatchType, `{"metadata":{"labels":{"smp":"3"}}}`},
		} {
			if _, err := cms.Patch(ctx, "app", p.typ, []byte(p.body), metav1.PatchOptions{}); err != nil {
				t.Fatalf("%s patch: %v", p.typ, err)
			}
		}
		got, _ = cms.Get(ctx, "app", metav1.GetOptions{})
		if got.Data["k"] != "v2" || got.Data["merge"] != "1" || got.Data["json"] != "2" || got.Labels["smp"] != "3" || got.Labels["tier"] != "web" {
			t.Fatalf("after patches: %+v %+v", got.Data, got.Labels)
		}
		// label selector, list
		for i := 0; i < 5; i++ {
			if _, err := cms.Create(ctx, &corev1.ConfigMap{ObjectMeta: metav1.ObjectMeta{Name: fmt.Sprint("other-", i)}}, metav1.CreateOptions{}); err != nil {
				t.Fatal(err)
			}
		}
		l, err := cms.List(ctx, metav1.ListOptions{LabelSelector: "tier=web"})
		if err != nil || len(l.Items) != 1 || l.Items[0].Name != "app" {
			t.Fatalf("list by label: %v %v", l, err)
		}
		// pagination
		var names []string
		opts := metav1.ListOptions{Limit: 2}
		for {
			page, err := cms.List(ctx, opts)
			if err != nil {
				t.Fatal(err)
			}
			for _, c := range page.Items {
				names = append(names, c.Name)
			}
			if page.Continue == "" {
				break
			}
			opts.Continue = page.Continue
		}
		if len(names) != 6 {
			t.Fatalf("paged list: %v", names)
		}
		// dry run stores nothing
		if _, err := cms.Create(ctx, &corev1.ConfigMap{ObjectMeta: metav1.ObjectMeta{Name: "dry"}}, metav1.CreateOptions{DryRun: []string{metav1.DryRunAll}}); err != nil {
			t.Fatal(err)
		}
		if _, err := cms.Get(ctx, "dry", metav1.GetOptions{}); !apierrors.IsNotFound(err) {
			t.Fatalf("dry-run object stored: %v", err)
		}
		if err := cms.Delete(ctx, "app", metav1.DeleteOptions{}); err != nil {
			t.Fatal(err)
		}
		if _, err := cms.Get(ctx, "app", metav1.GetOptions{}); !apierrors.IsNotFound(err) {
			t.Fatalf("after delete: %v", err)
		}
	})
}

func TestBadRequests(t *testing.T) {
	ts := start(t, "")
	ctx := context.Background()
	if _, err := ts.client.CoreV1().ConfigMaps("nope").Create(ctx, &corev1.ConfigMap{ObjectMeta: metav1.ObjectMeta{Name: "x"}}, metav1.CreateOptions{}); !apierrors.IsNotFound(err) || !strings.Contains(err.Error(), `namespaces "nope" not found`) {
		t.Fatalf("create in a missing namespace: %v", err)
	}
	_, err := ts.client.CoreV1().ConfigMaps("default").Create(ctx, &corev1.ConfigMap{ObjectMeta: metav1.ObjectMeta{Name: "Bad_Name"}}, metav1.CreateOptions{})
	if !apierrors.IsInvalid(err) || !strings.Contains(err.Error(), "metadata.name: Invalid value") {
		t.Fatalf("bad name: %v", err)
	}
	big := []byte(`{"apiVersion":"v1","kind":"ConfigMap","metadata":{"name":"big"},"data":{"x":"` + strings.Repeat("a", 4<<20) + `"}}`)
	for _, tc := range []struct {
		name, method, path, ct string
		body                   []byte
		code                   int
		want                   string
	}{
		{"malformed JSON", "POST", "/api/v1/namespaces/default/configmaps", "application/json", []byte(`{"kind":`), 400, "BadRequest"},
		{"wrong kind", "POST", "/api/v1/namespaces/default/configmaps", "application/json", []byte(`{"apiVersion":"v1","kind":"Secret","metadata":{"name":"s"}}`), 400, "does not match"},
		{"name mismatch", "PUT", "/api/v1/namespaces/default/configmaps/a", "application/json", []byte(`{"apiVersion":"v1","kind":"ConfigMap","metadata":{"name":"b"}}`), 400, "does not match"},
		{"unknown field, strict", "POST", "/api/v1/namespaces/default/configmaps?fieldValidation=Strict", "application/json", []byte(`{"apiVersion":"v1","kind":"ConfigMap","metadata":{"name":"u"},"dataz":{}}`), 400, "unknown field"},
		{"oversized", "POST", "/api/v1/namespaces/default/configmaps", "application/json", big, 413, "RequestEntityTooLarge"},
		{"unknown resource", "GET", "/api/v1/widgets", "", nil, 404, "NotFound"},
		{"unknown group", "GET", "/apis/nope.io/v1/things", "", nil, 404, "NotFound"},
		{"unsupported patch", "PATCH", "/api/v1/namespaces/default/configmaps/x", "text/plain", []byte(`x`), 415, "UnsupportedMediaType"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			code, body := ts.raw(t, tc.method, tc.path, tc.ct, tc.body, "")
			if code != tc.code || !strings.Contains(string(body), tc.want) || !strings.Contains(string(body), `"kind":"Status"`) {
				t.Fatalf("got %d %.300s, want %d with %q", code, body, tc.code, tc.want)
			}
		})
	}
	if n, _ := ts.client.CoreV1().ConfigMaps("default").List(ctx, metav1.ListOptions{}); len(n.Items) != 0 {
		t.Fatalf("bad requests stored %d objects", len(n.Items))
	}
}

func TestServiceClusterIPs(t *testing.T) {
	ts := start(t, "")
	ctx := context.Background()
	seen := map[string]bool{"10.96.0.1": true}
	for i := 0; i < 10; i++ {
		svc, err := ts.client.CoreV1().Services("default").Create(ctx, &corev1.Service{
			ObjectMeta: metav1.ObjectMeta{Name: fmt.Sprint("s", i)},
			Spec:       corev1.ServiceSpec{Type: corev1.ServiceTypeNodePort, Ports: []corev1.ServicePort{{Port: 80}}},
		}, metav1.CreateOptions{})
		if err != nil {
			t.Fatal(err)
		}
		ip := svc.Spec.ClusterIP
		if !strings.HasPrefix(ip, "10.96.") || seen[ip] {
			t.Fatalf("service %d got ClusterIP %q (seen: %v)", i, ip, seen)
		}
		seen[ip] = true
		if np := svc.Spec.Ports[0].NodePort; np < 30000 || np > 32767 {
			t.Fatalf("node port %d", np)
		}
	}
	_, err := ts.client.CoreV1().Services("default").Create(ctx, &corev1.Service{
		ObjectMeta: metav1.ObjectMeta{Name: "taken"},
		Spec:       corev1.ServiceSpec{ClusterIP: "10.96.0.1", Ports: []corev1.ServicePort{{Port: 80}}},
	}, metav1.CreateOptions{})
	if !apierrors.IsInvalid(err) || !strings.Contains(err.Error(), "already allocated") {
		t.Fatalf("taking the kubernetes service's IP: %v", err)
	}
}

// TestServiceAllocationsFollowUpdates: an update that changes a service's
// type or node ports claims what the service now needs and frees what it
// no longer uses, so that another service can take it, and never hands
// out a port another service holds.
func TestServiceAllocationsFollowUpdates(t *testing.T) {
	ts := start(t, "")
	ctx := context.Background()
	svcs := ts.client.CoreV1().Services("default")
	create := func(name string, spec corev1.ServiceSpec) (*corev1.Service, error) {
		return svcs.Create(ctx, &corev1.Service{ObjectMeta: metav1.ObjectMeta{Name: name}, Spec: spec}, metav1.CreateOptions{})
	}
	patch := func(name, body string) (*corev1.Service, error) {
		return svcs.Patch(ctx, name, types.MergePatchType, []byte(body), metav1.PatchOptions{})
	}
	port := func(n int32) corev1.ServiceSpec {
		return corev1.ServiceSpec{Type: corev1.ServiceTypeNodePort, Ports: []corev1.ServicePort{{Port: 80, NodePort: n}}}
	}

	// ClusterIP -> NodePort allocates a node port.
	web, err := create("web", corev1.ServiceSpec{Ports: []corev1.ServicePort{{Port: 80}}})
	if err != nil {
		t.Fatal(err)
	}
	web, err = patch("web", `{"spec":{"type":"NodePort"}}`)
	if err != nil {
		t.Fatal(err)
	}
	if np := web.Spec.Ports[0].NodePort; np < 30000 || np > 32767 {
		t.Fatalf("ClusterIP -> NodePort: node port %d, want one allocated", np)
	}

	// Changing a node port frees the old one and holds the new one.
	if _, err := create("a", port(30080)); err != nil {
		t.Fatal(err)
	}
	if _, err := patch("a", `{"spec":{"ports":[{"port":80,"nodePort":30081}]}}`); err != nil {
		t.Fatal(err)
	}
	if _, err := create("b", port(30080)); err != nil {
		t.Fatalf("30080 after service a moved to 30081: %v", err)
	}
	if _, err := create("c", port(30081)); !apierrors.IsInvalid(err) || !strings.Contains(err.Error(), "already allocated") {
		t.Fatalf("30081, held by service a since its update: %v", err)
	}
	if _, err := patch("b", `{"spec":{"ports":[{"port":80,"nodePort":30081}]}}`); !apierrors.IsInvalid(err) || !strings.Contains(err.Error(), "already allocated") {
		t.Fatalf("updating b to service a's node port: %v", err)
	}

	// NodePort -> ClusterIP frees the node port.
	if _, err := patch("a", `{"spec":{"type":"ClusterIP","ports":[{"port":80,"nodePort":null}]}}`); err != nil {
		t.Fatal(err)
	}
	if _, err := create("c", port(30081)); err != nil {
		t.Fatalf("30081 after service a became ClusterIP: %v", err)
	}

	// ClusterIP -> ExternalName frees the cluster IP; back to ClusterIP
	// allocates one again.
	ip := web.Spec.ClusterIP
	if _, err := patch("web", `{"spec":{"type":"ExternalName","externalName":"example.test","ports":[{"port":80,"nodePort":null}]}}`); err != nil {
		t.Fatal(err)
	}
	if _, err := create("same-ip", corev1.ServiceSpec{ClusterIP: ip, Ports: []corev1.ServicePort{{Port: 80}}}); err != nil {
		t.Fatalf("%s after web became ExternalName: %v", ip, err)
	}
	web, err = patch("web", `{"spec":{"type":"ClusterIP","externalName":null}}`)
	if err != nil {
		t.Fatal(err)
	}
	if web.Spec.ClusterIP == "" || web.Spec.ClusterIP == ip {
		t.Fatalf("ExternalName -> ClusterIP: cluster IP %q, want a new one (%s is taken)", web.Spec.ClusterIP, ip)
	}

	// Deleting through a finalizer frees what the service held.
	if _, err := patch("c", `{"metadata":{"finalizers":["example.test/hold"]}}`); err != nil {
		t.Fatal(err)
	}
	if err := svcs.Delete(ctx, "c", metav1.DeleteOptions{}); err != nil {
		t.Fatal(err)
	}
	if _, err := patch("c", `{"metadata":{"finalizers":null}}`); err != nil {
		t.Fatal(err)
	}
	if _, err := create("d", port(30081)); err != nil {
		t.Fatalf("30081 after service c's deletion completed: %v", err)
	}
}

// TestAggregatedDiscovery: client-go's discovery gets every resource from
// the aggregated documents, and the legacy documents agree.
func TestAggregatedDiscovery(t *testing.T) {
	ts := start(t, "")
	_, lists, err := ts.client.Discovery().ServerGroupsAndResources()
	if err != nil {
		t.Fatal(err)
	}
	found := map[string]bool{}
	for _, l := range lists {
		for _, r := range l.APIResources {
			found[l.GroupVersion+" "+r.Name] = true
		}
	}
	for _, want := range []string{"v1 pods", "v1 pods/status", "v1 namespaces", "apps/v1 deployments", "apps/v1 deployments/scale", "coordination.k8s.io/v1 leases", "discovery.k8s.io/v1 endpointslices"} {
		if !found[want] {
			t.Errorf("discovery lacks %s", want)
		}
	}
	req, _ := http.NewRequest("GET", ts.url+"/apis", nil)
	req.Header.Set("Accept", "application/json;g=apidiscovery.k8s.io;v=v2;as=APIGroupDiscoveryList,application/json")
	req.Header.Set("Authorization", "Bearer "+ts.cfg.BearerToken)
	resp, err := (&http.Client{Transport: &http.Transport{TLSClientConfig: &tls.Config{InsecureSkipVerify: true}}}).Do(req)
	if err != nil {
		t.Fatal(err)
	}
	resp.Body.Close()
	if ct := resp.Header.Get("Content-Type"); !strings.Contains(ct, "as=APIGroupDiscoveryList") {
		t.Fatalf("aggregated discovery answered %q", ct)
	}
}

// TestDeletionWithFinalizersAndGrace: an object with finalizers stays,
// marked, until they are removed; a pod on a node is deleted gracefully;
// an unscheduled pod goes at once.
func TestDeletionWithFinalizersAndGrace(t *testing.T) {
	eachStore(t, func(t *testing.T, ts *testServer) {
		ctx := context.Background()
		cms := ts.client.CoreV1().ConfigMaps("default")
		if _, err := cms.Create(ctx, &corev1.ConfigMap{ObjectMeta: metav1.ObjectMeta{Name: "held", Finalizers: []string{"example.com/hold"}}}, metav1.CreateOptions{}); err != nil {
			t.Fatal(err)
		}
		if err := cms.Delete(ctx, "held", metav1.DeleteOptions{}); err != nil {
			t.Fatal(err)
		}
		held, err := cms.Get(ctx, "held", metav1.GetOptions{})
		if err != nil || held.DeletionTimestamp == nil {
			t.Fatalf("object with a finalizer after delete: %v %v", held, err)
		}
		held.Finalizers = nil
		if _, err := cms.Update(ctx, held, metav1.UpdateOptions{}); err != nil {
			t.Fatal(err)
		}
		if _, err := cms.Get(ctx, "held", metav1.GetOptions{}); !apierrors.IsNotFound(err) {
			t.Fatalf("after its last finalizer was removed: %v", err)
		}

		pods := ts.client.CoreV1().Pods("default")
		spec := corev1.PodSpec{Containers: []corev1.Container{{Name: "c", Image: "busybox"}}}
		if _, err := pods.Create(ctx, &corev1.Pod{ObjectMeta: metav1.ObjectMeta{Name: "pending"}, Spec: spec}, metav1.CreateOptions{}); err != nil {
			t.Fatal(err)
		}
		if err := pods.Delete(ctx, "pending", metav1.DeleteOptions{}); err != nil {
			t.Fatal(err)
		}
		if _, err := pods.Get(ctx, "pending", metav1.GetOptions{}); !apierrors.IsNotFound(err) {
			t.Fatalf("an unscheduled pod must go at once: %v", err)
		}
		spec.NodeName = "node-1"
		if _, err := pods.Create(ctx, &corev1.Pod{ObjectMeta: metav1.ObjectMeta{Name: "running"}, Spec: spec}, metav1.CreateOptions{}); err != nil {
			t.Fatal(err)
		}
		if err := pods.Delete(ctx, "running", metav1.DeleteOptions{}); err != nil {
			t.Fatal(err)
		}
		p, err := pods.Get(ctx, "running", metav1.GetOptions{})
		if err != nil || p.DeletionTimestamp == nil || p.DeletionGracePeriodSeconds == nil || *p.DeletionGracePeriodSeconds != 30 {
			t.Fatalf("a pod on a node must be deleted gracefully: %+v %v", p.ObjectMeta, err)
		}
		zero := int64(0)
		if err := pods.Delete(ctx, "running", metav1.DeleteOptions{GracePeriodSeconds: &zero}); err != nil {
			t.Fatal(err)
		}
		if _, err := pods.Get(ctx, "running", metav1.GetOptions{}); !apierrors.IsNotFound(err) {
			t.Fatalf("after the node's delete with grace 0: %v", err)
		}
		// a precondition on a stale UID is a conflict and deletes nothing
		if _, err := cms.Create(ctx, &corev1.ConfigMap{ObjectMeta: metav1.ObjectMeta{Name: "pre"}}, metav1.CreateOptions{}); err != nil {
			t.Fatal(err)
		}
		stale := types.UID("not-the-uid")
		if err := cms.Delete(ctx, "pre", metav1.DeleteOptions{Preconditions: &metav1.Preconditions{UID: &stale}}); !apierrors.IsConflict(err) {
			t.Fatalf("delete with a stale UID: %v", err)
		}
		if _, err := cms.Get(ctx, "pre", metav1.GetOptions{}); err != nil {
			t.Fatalf("the conflicting delete removed the object: %v", err)
		}
	})
}

// TestBinding: a scheduler binds a pod once; a second binding is a
// conflict; every write is recorded with its actor.
func TestBinding(t *testing.T) {
	ts := start(t, "")
	ctx := context.Background()
	pods := ts.client.CoreV1().Pods("default")
	if _, err := pods.Create(ctx, &corev1.Pod{ObjectMeta: metav1.ObjectMeta{Name: "p"}, Spec: corev1.PodSpec{Containers: []corev1.Container{{Name: "c", Image: "busybox"}}}}, metav1.CreateOptions{}); err != nil {
		t.Fatal(err)
	}
	bind := func(node string) error {
		return pods.Bind(ctx, &corev1.Binding{ObjectMeta: metav1.ObjectMeta{Name: "p"}, Target: corev1.ObjectReference{Kind: "Node", Name: node}}, metav1.CreateOptions{})
	}
	if err := bind("n1"); err != nil {
		t.Fatal(err)
	}
	p, _ := pods.Get(ctx, "p", metav1.GetOptions{})
	if p.Spec.NodeName != "n1" {
		t.Fatalf("bound to %q", p.Spec.NodeName)
	}
	if err := bind("n2"); !apierrors.IsConflict(err) {
		t.Fatalf("second binding: %v", err)
	}
}

// TestAuthorization: a read-only user may only read; a node may change
// only its own Node and Lease and the pods bound to it.
// startWithUsers starts a server on SQLite that also knows a read-only
// user ("viewer", token "ro-token") and node n1 ("node-token"), and
// returns a client factory by token.
func startWithUsers(t *testing.T) (*testServer, func(token string) *kubernetes.Clientset) {
	t.Helper()
	tokens := filepath.Join(t.TempDir(), "tokens.csv")
	if err := os.WriteFile(tokens, []byte("ro-token,viewer,u1,sqlkube:read-only\nnode-token,system:node:n1,u2,system:nodes\n"), 0o600); err != nil {
		t.Fatal(err)
	}
	ts := start(t, "", func(c *server.Config) { c.TokenAuthFile = tokens })
	return ts, func(token string) *kubernetes.Clientset {
		cfg := rest.CopyConfig(ts.cfg)
		cfg.BearerToken = token
		return kubernetes.NewForConfigOrDie(cfg)
	}
}

func TestAuthorization(t *testing.T) {
	ts, as := startWithUsers(t)
	ctx := context.Background()
	ro, node := as("ro-token"), as("node-token")
	if _, err := ro.CoreV1().Namespaces().List(ctx, metav1.ListOptions{}); err != nil {
		t.Fatalf("read-only list: %v", err)
	}
	if _, err := ro.CoreV1().ConfigMaps("default").Create(ctx, &corev1.ConfigMap{ObjectMeta: metav1.ObjectMeta{Name: "x"}}, metav1.CreateOptions{}); !apierrors.IsForbidden(err) {
		t.Fatalf("read-only create: %v", err)
	}
	for _, n := range []string{"n1", "n2"} {
		_, err := node.CoreV1().Nodes().Create(ctx, &corev1.Node{ObjectMeta: metav1.ObjectMeta{Name: n}}, metav1.CreateOptions{})
		if (n == "n1") != (err == nil) {
			t.Fatalf("node n1 creating node %s: %v", n, err)
		}
	}
	spec := func(nodeName string) corev1.PodSpec {
		return corev1.PodSpec{NodeName: nodeName, Containers: []corev1.Container{{Name: "c", Image: "busybox"}}}
	}
	for _, p := range []struct{ name, node string }{{"mine", "n1"}, {"theirs", "n2"}} {
		if _, err := ts.client.CoreV1().Pods("default").Create(ctx, &corev1.Pod{ObjectMeta: metav1.ObjectMeta{Name: p.name}, Spec: spec(p.node)}, metav1.CreateOptions{}); err != nil {
			t.Fatal(err)
		}
	}
	for _, p := range []string{"mine", "theirs"} {
		pod, _ := node.CoreV1().Pods("default").Get(ctx, p, metav1.GetOptions{})
		pod.Status.Phase = corev1.PodRunning
		_, err := node.CoreV1().Pods("default").UpdateStatus(ctx, pod, metav1.UpdateOptions{})
		if (p == "mine") != (err == nil) {
			t.Fatalf("node n1 updating the status of pod %s: %v", p, err)
		}
	}
	if _, err := node.CoreV1().ConfigMaps("default").Create(ctx, &corev1.ConfigMap{ObjectMeta: metav1.ObjectMeta{Name: "x"}}, metav1.CreateOptions{}); !apierrors.IsForbidden(err) {
		t.Fatalf("node creating a configmap: %v", err)
	}
}

// TestHistoryRecordsTheActor: every write's history row names the user
// who made it.
func TestHistoryRecordsTheActor(t *testing.T) {
	dir := t.TempDir()
	tokens := filepath.Join(dir, "tokens.csv")
	if err := os.WriteFile(tokens, []byte("alice-token,alice,u1,system:masters\n"), 0o600); err != nil {
		t.Fatal(err)
	}
	ts := start(t, "", func(c *server.Config) { c.TokenAuthFile = tokens })
	cfg := rest.CopyConfig(ts.cfg)
	cfg.BearerToken = "alice-token"
	alice := kubernetes.NewForConfigOrDie(cfg)
	ctx := context.Background()
	cm, err := alice.CoreV1().ConfigMaps("default").Create(ctx, &corev1.ConfigMap{ObjectMeta: metav1.ObjectMeta{Name: "audited"}}, metav1.CreateOptions{})
	if err != nil {
		t.Fatal(err)
	}
	cm.Data = map[string]string{"k": "v"}
	if _, err := ts.client.CoreV1().ConfigMaps("default").Update(ctx, cm, metav1.UpdateOptions{}); err != nil {
		t.Fatal(err)
	}
	st, err := storage.Open(ctx, storage.Config{Datastore: "sqlite://" + filepath.Join(ts.dir, "state.db")})
	if err != nil {
		t.Fatal(err)
	}
	defer st.Close()
	h, err := st.History(ctx, storage.Key{Resource: "configmaps", Namespace: "default", Name: "audited"})
	if err != nil {
		t.Fatal(err)
	}
	if len(h) != 2 || h[0].Actor != "alice" || h[1].Actor != "admin" || h[0].Op != storage.OpCreate || h[1].Op != storage.OpUpdate {
		t.Fatalf("history: %+v", h)
	}
}

// TestMetricsAndProfiling: /metrics and /debug/pprof need a token; the
// metrics count requests by verb and resource.
func TestMetricsAndProfiling(t *testing.T) {
	ts := start(t, "")
	if _, err := ts.client.CoreV1().Namespaces().Get(context.Background(), "default", metav1.GetOptions{}); err != nil {
		t.Fatal(err)
	}
	code, body := ts.raw(t, "GET", "/metrics", "", nil, "")
	if code != 200 || !strings.Contains(string(body), `apiserver_request_total{code="200",group="",resource="namespaces",subresource="",verb="get"}`) ||
		!strings.Contains(string(body), "sqlkube_storage_revision") {
		t.Fatalf("metrics: %d\n%.2000s", code, body)
	}
	if code, _ := ts.raw(t, "GET", "/metrics", "", nil, "-"); code != 401 {
		t.Fatalf("metrics without a token: %d", code)
	}
	if code, body := ts.raw(t, "GET", "/debug/pprof/goroutine?debug=1", "", nil, ""); code != 200 || !strings.Contains(string(body), "goroutine profile") {
		t.Fatalf("pprof for the admin: %d %.200s", code, body)
	}
	if code, _ := ts.raw(t, "GET", "/debug/pprof/goroutine?debug=1", "", nil, "-"); code != 401 {
		t.Fatalf("pprof without a token: %d", code)
	}
}
