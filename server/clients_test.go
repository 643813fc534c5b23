package server_test

import (
	"bufio"
	"bytes"
	"context"
	"crypto/tls"
	"encoding/json"
	"fmt"
	"io"
	"net"
	"net/http"
	"os"
	"path/filepath"
	"runtime"
	"strings"
	"testing"
	"time"

	corev1 "k8s.io/api/core/v1"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/types"
	"k8s.io/apimachinery/pkg/util/version"

	"github.com/sqlkube/sqlkube/server"
)

// send makes a request with the admin token and the given headers, and
// returns the status, headers and body.
func (ts *testServer) send(t testing.TB, method, path string, body []byte, headers ...string) (int, http.Header, []byte) {
	t.Helper()
	req, err := http.NewRequest(method, ts.url+path, bytes.NewReader(body))
	if err != nil {
		t.Fatal(err)
	}
	req.Header.Set("Authorization", "Bearer "+ts.cfg.BearerToken)
	for i := 0; i+1 < len(headers); i += 2 {
		req.Header.Set(headers[i], headers[i+1])
	}
	resp, err := rawClient.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	b, _ := io.ReadAll(resp.Body)
	return resp.StatusCode, resp.Header, b
}

// TestUnconditionalUpdate: an update without resourceVersion applies to
// the current object, as kube-apiserver does for the built-in kinds; Helm
// stores its releases so.
func TestUnconditionalUpdate(t *testing.T) {
	eachStore(t, func(t *testing.T, ts *testServer) {
		ctx := context.Background()
		secrets := ts.client.CoreV1().Secrets("default")
		s, err := secrets.Create(ctx, &corev1.Secret{ObjectMeta: metav1.ObjectMeta{Name: "sh.helm.release.v1.web.v1"}, StringData: map[string]string{"release": "pending"}}, metav1.CreateOptions{})
		if err != nil {
			t.Fatal(err)
		}
		stale := s.ResourceVersion
		s.ResourceVersion = ""
		s.StringData = map[string]string{"release": "deployed"}
		got, err := secrets.Update(ctx, s, metav1.UpdateOptions{})
		if err != nil {
			t.Fatalf("update without resourceVersion: %v", err)
		}
		if string(got.Data["release"]) != "deployed" || got.ResourceVersion == stale || got.UID != s.UID {
			t.Fatalf("unconditional update stored %q at %s (uid %s), want deployed at a new revision", got.Data["release"], got.ResourceVersion, got.UID)
		}
		// A resourceVersion, when given, is still a precondition.
		s.ResourceVersion = stale
		if _, err := secrets.Update(ctx, s, metav1.UpdateOptions{}); !apierrors.IsConflict(err) {
			t.Fatalf("update at a stale resourceVersion: %v, want a conflict", err)
		}
	})
}

// TestVersionIsNotAPreRelease: charts constrain kubeVersion with semver
// ranges (">=1.23.0"), which exclude pre-releases.
func TestVersionIsNotAPreRelease(t *testing.T) {
	ts := start(t, "", func(c *server.Config) { c.Version = "31c3d33-dirty" })
	info, err := ts.client.Discovery().ServerVersion()
	if err != nil {
		t.Fatal(err)
	}
	v, err := version.ParseSemantic(info.GitVersion)
	if err != nil {
		t.Fatalf("version %q is not semver: %v", info.GitVersion, err)
	}
	if v.PreRelease() != "" || !v.AtLeast(version.MustParseSemantic("v1.23.0")) || !strings.Contains(v.BuildMetadata(), "31c3d33") {
		t.Fatalf("version %q: pre-release %q, build %q; want a release >= 1.23.0 with sqlkube's commit in the build metadata", info.GitVersion, v.PreRelease(), v.BuildMetadata())
	}
}

// TestQueryParameters: parameters are decoded as kube-apiserver decodes
// them, booleans included: the Python client sends watch=True.
func TestQueryParameters(t *testing.T) {
	ts := start(t, "")
	for _, watch := range []string{"True", "true", "1", "yes"} {
		t.Run("watch="+watch, func(t *testing.T) {
			req, _ := http.NewRequest("GET", ts.url+"/api/v1/namespaces?watch="+watch+"&timeoutSeconds=1", nil)
			req.Header.Set("Authorization", "Bearer "+ts.cfg.BearerToken)
			resp, err := rawClient.Do(req)
			if err != nil {
				t.Fatal(err)
			}
			defer resp.Body.Close()
			var ev metav1.WatchEvent
			if err := json.NewDecoder(bufio.NewReader(resp.Body)).Decode(&ev); err != nil || ev.Type != "ADDED" {
				t.Fatalf("watch=%s: first answer %+v (%v), want an ADDED watch event", watch, ev, err)
			}
		})
	}
	for _, watch := range []string{"false", "0", "False"} {
		code, _, body := ts.send(t, "GET", "/api/v1/namespaces?watch="+watch, nil)
		if code != 200 || !strings.Contains(string(body), `"kind":"NamespaceList"`) {
			t.Fatalf("watch=%s: %d %.200s, want a list", watch, code, body)
		}
	}
	// Values that do not parse are 400, options that do not go together
	// 422, as kube-apiserver answers them.
	for _, tc := range []struct {
		query string
		code  int
		want  string
	}{
		{"limit=abc", 400, `parsing \"abc\"`},
		{"labelSelector=a%20in%20(", 400, "unable to parse requirement"},
		{"timeoutSeconds=soon&watch=1", 400, `parsing \"soon\"`},
		{"resourceVersionMatch=Exact", 422, "resourceVersionMatch"},
	} {
		code, _, body := ts.send(t, "GET", "/api/v1/namespaces/default/configmaps?"+tc.query, nil)
		if code != tc.code || !strings.Contains(string(body), tc.want) {
			t.Errorf("?%s: %d %s, want %d with %s", tc.query, code, body, tc.code, tc.want)
		}
	}
}

// TestInvalidOptionsChangeNothing: an option value the API does not know
// is refused (422, as kube-apiserver validates options), never read as a
// default; the write is not made.
func TestInvalidOptionsChangeNothing(t *testing.T) {
	ts := start(t, "")
	ctx := context.Background()
	cm := []byte(`{"apiVersion":"v1","kind":"ConfigMap","metadata":{"name":"dry"}}`)
	code, _, body := ts.send(t, "POST", "/api/v1/namespaces/default/configmaps?dryRun=all", cm, "Content-Type", "application/json")
	if code != 422 || !strings.Contains(string(body), "dryRun") {
		t.Fatalf("dryRun=all: %d %s, want 422 naming dryRun", code, body)
	}
	if _, err := ts.client.CoreV1().ConfigMaps("default").Get(ctx, "dry", metav1.GetOptions{}); !apierrors.IsNotFound(err) {
		t.Fatalf("dryRun=all wrote the object: %v", err)
	}
	if code, _, body := ts.send(t, "POST", "/api/v1/namespaces/default/configmaps?dryRun=All", cm, "Content-Type", "application/json"); code != 201 {
		t.Fatalf("dryRun=All: %d %s", code, body)
	}
	if _, err := ts.client.CoreV1().ConfigMaps("default").Get(ctx, "dry", metav1.GetOptions{}); !apierrors.IsNotFound(err) {
		t.Fatalf("dryRun=All wrote the object: %v", err)
	}
	if _, err := ts.client.CoreV1().ConfigMaps("default").Create(ctx, &corev1.ConfigMap{ObjectMeta: metav1.ObjectMeta{Name: "kept"}}, metav1.CreateOptions{}); err != nil {
		t.Fatal(err)
	}
	code, _, body = ts.send(t, "DELETE", "/api/v1/namespaces/default/configmaps/kept?propagationPolicy=Bogus", nil)
	if code != 422 || !strings.Contains(string(body), "propagationPolicy") {
		t.Fatalf("propagationPolicy=Bogus: %d %s, want 422 naming propagationPolicy", code, body)
	}
	code, _, body = ts.send(t, "DELETE", "/api/v1/namespaces/default/configmaps/kept", []byte(`{"propagationPolicy":"Bogus"}`), "Content-Type", "application/json")
	if code != 422 {
		t.Fatalf("propagationPolicy Bogus in the body: %d %s, want 422", code, body)
	}
	if _, err := ts.client.CoreV1().ConfigMaps("default").Get(ctx, "kept", metav1.GetOptions{}); err != nil {
		t.Fatalf("a refused delete deleted: %v", err)
	}
	code, _, body = ts.send(t, "PATCH", "/api/v1/namespaces/default/configmaps/kept?fieldValidation=Loose", []byte(`{"data":{"a":"b"}}`), "Content-Type", "application/merge-patch+json")
	if code != 422 || !strings.Contains(string(body), "fieldValidation") {
		t.Fatalf("fieldValidation=Loose: %d %s, want 422", code, body)
	}
}

// TestContentNegotiation: bodies in JSON, YAML and protobuf are read, any
// other type is refused with 415; an Accept the server cannot answer is
// refused with 406, one it can is answered.
func TestContentNegotiation(t *testing.T) {
	ts := start(t, "")
	yamlBody := []byte("apiVersion: v1\nkind: ConfigMap\nmetadata:\n  name: from-yaml\ndata:\n  k: v\n")
	if code, _, body := ts.send(t, "POST", "/api/v1/namespaces/default/configmaps", yamlBody, "Content-Type", "application/yaml"); code != 201 || !strings.Contains(string(body), `"from-yaml"`) {
		t.Fatalf("YAML create: %d %s", code, body)
	}
	for _, ct := range []string{"text/plain", "application/xml", "not a media type;;"} {
		code, _, body := ts.send(t, "POST", "/api/v1/namespaces/default/configmaps", []byte(`{"apiVersion":"v1","kind":"ConfigMap","metadata":{"name":"other"}}`), "Content-Type", ct)
		if code != 415 {
			t.Errorf("Content-Type %q: %d %s, want 415", ct, code, body)
		}
	}
	if _, err := ts.client.CoreV1().ConfigMaps("default").Get(context.Background(), "other", metav1.GetOptions{}); !apierrors.IsNotFound(err) {
		t.Fatalf("a refused body was stored: %v", err)
	}
	for _, tc := range []struct {
		accept string
		code   int
		kind   string
	}{
		{"application/json;as=Bogus;g=meta.k8s.io;v=v1", 406, ""},
		{"application/json;as=Table;g=example.com;v=v1", 406, ""},
		{"text/html", 406, ""},
		{"application/json;as=Bogus;g=meta.k8s.io;v=v1, application/json", 200, "ConfigMapList"},
		{"application/json;as=Table;g=meta.k8s.io;v=v1", 200, "Table"},
		{"*/*", 200, "ConfigMapList"},
	} {
		code, _, body := ts.send(t, "GET", "/api/v1/namespaces/default/configmaps", nil, "Accept", tc.accept)
		if code != tc.code || !strings.Contains(string(body), `"kind":"`+tc.kind) {
			t.Errorf("Accept %q: %d %.120s, want %d %s", tc.accept, code, body, tc.code, tc.kind)
		}
	}
	// The authorization scheme is case-insensitive.
	req, _ := http.NewRequest("GET", ts.url+"/api/v1/namespaces/default", nil)
	req.Header.Set("Authorization", "bearer "+ts.cfg.BearerToken)
	resp, err := rawClient.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	resp.Body.Close()
	if resp.StatusCode != 200 {
		t.Fatalf("lower-case bearer: %d, want 200", resp.StatusCode)
	}
}

// TestNulInNames: a name no object can have is not found, in Kubernetes'
// words, on PostgreSQL too (which cannot hold a NUL byte).
func TestNulInNames(t *testing.T) {
	eachStore(t, func(t *testing.T, ts *testServer) {
		for _, p := range []string{"/api/v1/namespaces/default/configmaps/a%00b", "/api/v1/namespaces/a%00b/configmaps/x", "/api/v1/namespaces/default/configmaps/%ff"} {
			for _, method := range []string{"GET", "DELETE"} {
				code, _, body := ts.send(t, method, p, nil)
				if code != 404 || !strings.Contains(string(body), `"reason":"NotFound"`) || strings.Contains(strings.ToLower(string(body)), "sqlstate") {
					t.Errorf("%s %s: %d %s, want a 404 NotFound Status", method, p, code, body)
				}
			}
		}
		code, _, body := ts.send(t, "GET", "/api/v1/namespaces/default/configmaps?fieldSelector=metadata.name%3Da%00b", nil)
		if code != 200 || strings.Contains(strings.ToLower(string(body)), "sqlstate") {
			t.Errorf("a NUL in a field selector: %d %s, want an empty list", code, body)
		}
	})
}

// TestClusterNamespacesStay: default, kube-system and kube-public cannot
// be deleted, one by one or by collection.
func TestClusterNamespacesStay(t *testing.T) {
	ts := start(t, "")
	ctx := context.Background()
	for _, ns := range []string{"default", "kube-system", "kube-public"} {
		err := ts.client.CoreV1().Namespaces().Delete(ctx, ns, metav1.DeleteOptions{})
		if !apierrors.IsForbidden(err) || !strings.Contains(err.Error(), "may not be deleted") {
			t.Errorf("delete namespace %s: %v, want forbidden", ns, err)
		}
	}
	code, _, body := ts.send(t, "DELETE", "/api/v1/namespaces", nil)
	if code != 403 {
		t.Errorf("delete every namespace: %d %s, want 403", code, body)
	}
	for _, ns := range []string{"default", "kube-system", "kube-public"} {
		got, err := ts.client.CoreV1().Namespaces().Get(ctx, ns, metav1.GetOptions{})
		if err != nil || got.DeletionTimestamp != nil {
			t.Errorf("namespace %s after the refused deletes: %v, deleting since %v", ns, err, got.DeletionTimestamp)
		}
	}
	if _, err := ts.client.CoreV1().Namespaces().Create(ctx, &corev1.Namespace{ObjectMeta: metav1.ObjectMeta{Name: "scratch"}}, metav1.CreateOptions{}); err != nil {
		t.Fatal(err)
	}
	if err := ts.client.CoreV1().Namespaces().Delete(ctx, "scratch", metav1.DeleteOptions{}); err != nil {
		t.Fatalf("delete an ordinary namespace: %v", err)
	}
}

// TestJSONPatchCopiesAreBounded: a small JSON patch whose copies double
// the object is refused with 413 before it costs memory: 20 copies of a
// 1 KB value would make gigabytes.
func TestJSONPatchCopiesAreBounded(t *testing.T) {
	ts := start(t, "")
	ctx := context.Background()
	if _, err := ts.client.CoreV1().ConfigMaps("default").Create(ctx, &corev1.ConfigMap{ObjectMeta: metav1.ObjectMeta{Name: "bomb"}, Data: map[string]string{"a": strings.Repeat("x", 1024)}}, metav1.CreateOptions{}); err != nil {
		t.Fatal(err)
	}
	// Each copy puts the whole data map inside itself: the document
	// doubles with every operation.
	var ops []string
	for i := range 20 {
		ops = append(ops, fmt.Sprintf(`{"op":"copy","from":"/data","path":"/data/c%d"}`, i))
	}
	patch := []byte(`[` + strings.Join(ops, ",") + `]`)
	var before, after runtime.MemStats
	runtime.GC()
	runtime.ReadMemStats(&before)
	code, _, body := ts.send(t, "PATCH", "/api/v1/namespaces/default/configmaps/bomb", patch, "Content-Type", string(types.JSONPatchType))
	runtime.ReadMemStats(&after)
	if code != 413 {
		t.Fatalf("copy bomb: %d %.300s, want 413", code, body)
	}
	if allocated := after.TotalAlloc - before.TotalAlloc; allocated > 256<<20 {
		t.Fatalf("the refused patch allocated %d MB", allocated>>20)
	}
	// Copies that add up under the limit may still not make an object
	// larger than a body may be.
	big := strings.Repeat("y", 1<<20)
	if _, err := ts.client.CoreV1().ConfigMaps("default").Create(ctx, &corev1.ConfigMap{ObjectMeta: metav1.ObjectMeta{Name: "big"}, Data: map[string]string{"a": big}}, metav1.CreateOptions{}); err != nil {
		t.Fatal(err)
	}
	grow := []byte(`[{"op":"copy","from":"/data/a","path":"/data/b"},{"op":"copy","from":"/data/a","path":"/data/c"},{"op":"copy","from":"/data/a","path":"/data/d"}]`)
	code, _, body = ts.send(t, "PATCH", "/api/v1/namespaces/default/configmaps/big", grow, "Content-Type", string(types.JSONPatchType))
	if code != 413 {
		t.Fatalf("a patch making a 4 MB object: %d %.300s, want 413", code, body)
	}
	tooMany := make([]string, 10001)
	for i := range tooMany {
		tooMany[i] = `{"op":"test","path":"/kind","value":"ConfigMap"}`
	}
	code, _, body = ts.send(t, "PATCH", "/api/v1/namespaces/default/configmaps/bomb", []byte("["+strings.Join(tooMany, ",")+"]"), "Content-Type", string(types.JSONPatchType))
	if code != 413 {
		t.Fatalf("10,001 operations: %d %.300s, want 413", code, body)
	}
	cm, err := ts.client.CoreV1().ConfigMaps("default").Get(ctx, "bomb", metav1.GetOptions{})
	if err != nil || len(cm.Data) != 1 {
		t.Fatalf("after the refused patches: %v, %d data keys", err, len(cm.Data))
	}
}

// TestConnectionLimits: connections that send nothing, and request bodies
// that trickle, are closed by the server.
func TestConnectionLimits(t *testing.T) {
	ts := start(t, "", func(c *server.Config) {
		c.ReadHeaderTimeout, c.IdleTimeout, c.BodyTimeout = time.Second, time.Second, time.Second
	})
	addr := strings.TrimPrefix(ts.url, "https://")
	// closedWithin reports whether the server closes conn within d.
	closedWithin := func(t *testing.T, conn net.Conn, d time.Duration) {
		t.Helper()
		_ = conn.SetReadDeadline(time.Now().Add(d))
		_, err := io.Copy(io.Discard, conn)
		if ne, ok := err.(net.Error); ok && ne.Timeout() {
			t.Fatalf("the connection is still open after %v", d)
		}
	}
	t.Run("no TLS handshake", func(t *testing.T) {
		t.Parallel()
		conn, err := net.Dial("tcp", addr)
		if err != nil {
			t.Fatal(err)
		}
		defer conn.Close()
		closedWithin(t, conn, 10*time.Second)
	})
	for _, proto := range []string{"h2", "http/1.1"} {
		t.Run("idle "+proto, func(t *testing.T) {
			t.Parallel()
			conn, err := tls.Dial("tcp", addr, &tls.Config{InsecureSkipVerify: true, NextProtos: []string{proto}})
			if err != nil {
				t.Fatal(err)
			}
			defer conn.Close()
			if proto == "h2" {
				// The client preface and empty settings: an HTTP/2
				// connection with no stream.
				if _, err := conn.Write([]byte("PRI * HTTP/2.0\r\n\r\nSM\r\n\r\n\x00\x00\x00\x04\x00\x00\x00\x00\x00")); err != nil {
					t.Fatal(err)
				}
			}
			closedWithin(t, conn, 10*time.Second)
		})
	}
	t.Run("slow body", func(t *testing.T) {
		t.Parallel()
		conn, err := tls.Dial("tcp", addr, &tls.Config{InsecureSkipVerify: true, NextProtos: []string{"http/1.1"}})
		if err != nil {
			t.Fatal(err)
		}
		defer conn.Close()
		fmt.Fprintf(conn, "POST /api/v1/namespaces/default/configmaps HTTP/1.1\r\nHost: x\r\nAuthorization: Bearer %s\r\nContent-Type: application/json\r\nContent-Length: 1000\r\n\r\n{", ts.cfg.BearerToken)
		closedWithin(t, conn, 10*time.Second)
	})
}

// TestInflightLimits: beyond the in-flight bounds a request is answered
// 429 with Retry-After; long-running requests have a bound of their own,
// and masters are not counted.
func TestInflightLimits(t *testing.T) {
	tokens := filepath.Join(t.TempDir(), "tokens.csv")
	if err := os.WriteFile(tokens, []byte("ro-token,viewer,u1,sqlkube:read-only\nnode-token,system:node:n1,u2,system:nodes\n"), 0o600); err != nil {
		t.Fatal(err)
	}
	ts := start(t, "", func(c *server.Config) {
		c.TokenAuthFile = tokens
		c.MaxMutatingRequestsInFlight, c.MaxLongRunningInFlight = 1, 1
		c.BodyTimeout = 30 * time.Second
	})
	addr := strings.TrimPrefix(ts.url, "https://")
	request := func(method, path, token string, body []byte) (*http.Response, []byte) {
		t.Helper()
		req, _ := http.NewRequest(method, ts.url+path, bytes.NewReader(body))
		req.Header.Set("Authorization", "Bearer "+token)
		req.Header.Set("Content-Type", "application/json")
		resp, err := rawClient.Do(req)
		if err != nil {
			t.Fatal(err)
		}
		defer resp.Body.Close()
		b, _ := io.ReadAll(resp.Body)
		return resp, b
	}
	// A node's write whose body has not arrived holds the one mutating
	// slot.
	conn, err := tls.Dial("tcp", addr, &tls.Config{InsecureSkipVerify: true, NextProtos: []string{"http/1.1"}})
	if err != nil {
		t.Fatal(err)
	}
	defer conn.Close()
	fmt.Fprintf(conn, "POST /api/v1/namespaces/default/events HTTP/1.1\r\nHost: x\r\nAuthorization: Bearer node-token\r\nContent-Type: application/json\r\nContent-Length: 1000\r\n\r\n{")
	event := []byte(`{"apiVersion":"v1","kind":"Event","metadata":{"name":"e1"},"involvedObject":{"kind":"Node","name":"n1"},"reason":"Test"}`)
	deadline := time.Now().Add(10 * time.Second)
	for {
		resp, body := request("POST", "/api/v1/namespaces/default/events", "node-token", event)
		if resp.StatusCode == 429 {
			if resp.Header.Get("Retry-After") == "" || !strings.Contains(string(body), "TooManyRequests") {
				t.Fatalf("429 without Retry-After or a TooManyRequests Status: %v %s", resp.Header, body)
			}
			break
		}
		if resp.StatusCode != 201 || time.Now().After(deadline) {
			t.Fatalf("a second write while the first holds the slot: %d %s, want 429", resp.StatusCode, body)
		}
		// The first request has not reached the server yet; the
		// event was written: try another name.
		event = bytes.Replace(event, []byte(`"e1"`), []byte(`"e2"`), 1)
	}
	if resp, body := request("GET", "/api/v1/namespaces/default/events", "ro-token", nil); resp.StatusCode != 200 {
		t.Fatalf("a read while writes are full: %d %s", resp.StatusCode, body)
	}
	if _, err := ts.client.CoreV1().ConfigMaps("default").Create(context.Background(), &corev1.ConfigMap{ObjectMeta: metav1.ObjectMeta{Name: "admin"}}, metav1.CreateOptions{}); err != nil {
		t.Fatalf("the admin (system:masters) is not counted: %v", err)
	}
	// One watch holds the long-running slot; a second is refused, a list
	// still served.
	req, _ := http.NewRequest("GET", ts.url+"/api/v1/namespaces/default/configmaps?watch=1", nil)
	req.Header.Set("Authorization", "Bearer ro-token")
	resp, err := rawClient.Do(req)
	if err != nil || resp.StatusCode != 200 {
		t.Fatalf("first watch: %v %v", resp, err)
	}
	defer resp.Body.Close()
	if resp, body := request("GET", "/api/v1/namespaces/default/configmaps?watch=1&timeoutSeconds=1", "ro-token", nil); resp.StatusCode != 429 {
		t.Fatalf("second watch: %d %s, want 429", resp.StatusCode, body)
	}
	if resp, body := request("GET", "/api/v1/namespaces/default/configmaps", "ro-token", nil); resp.StatusCode != 200 {
		t.Fatalf("a list beside the watch: %d %s", resp.StatusCode, body)
	}
}

// TestYAMLAliasBomb: YAML aliases cannot blow a small body up into a
// large object (a "billion laughs"), in a create or in an apply.
func TestYAMLAliasBomb(t *testing.T) {
	ts := start(t, "")
	var b strings.Builder
	b.WriteString("apiVersion: v1\nkind: ConfigMap\nmetadata:\n  name: laughs\n  annotations:\n    a0: &a0 \"lol\"\n")
	for i := 1; i < 10; i++ {
		fmt.Fprintf(&b, "    a%d: &a%d [", i, i)
		for j := range 10 {
			if j > 0 {
				b.WriteString(",")
			}
			fmt.Fprintf(&b, "*a%d", i-1)
		}
		b.WriteString("]\n")
	}
	body := []byte(b.String())
	var before, after runtime.MemStats
	runtime.GC()
	runtime.ReadMemStats(&before)
	createCode, _, createBody := ts.send(t, "POST", "/api/v1/namespaces/default/configmaps", body, "Content-Type", "application/yaml")
	applyCode, _, applyBody := ts.send(t, "PATCH", "/api/v1/namespaces/default/configmaps/laughs?fieldManager=t", body, "Content-Type", "application/apply-patch+yaml")
	runtime.ReadMemStats(&after)
	if createCode != 400 || applyCode != 400 || !strings.Contains(string(createBody), "excessive aliasing") || !strings.Contains(string(applyBody), "excessive aliasing") {
		t.Fatalf("alias bomb: create %d %.200s, apply %d %.200s; want 400 for excessive aliasing", createCode, createBody, applyCode, applyBody)
	}
	if allocated := after.TotalAlloc - before.TotalAlloc; allocated > 256<<20 {
		t.Fatalf("the refused bodies allocated %d MB", allocated>>20)
	}
}
