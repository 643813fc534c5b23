package openapi

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"io"
	"net/http"
	"net/http/httptest"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"sync"
	"testing"
	"time"

	appsv1 "k8s.io/api/apps/v1"
	corev1 "k8s.io/api/core/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
)

// fakeServer is an API server that serves discovery and the documents,
// and, for apply, a deployments collection that stores nothing: GET of an
// object returns existing or NotFound, POST decodes strictly when asked to
// with fieldValidation=Strict, and PATCH answers with existing. It records
// every request and the content type and body of every PATCH.
type fakeServer struct {
	docs     *Documents
	existing []byte // the deployment "web" as JSON, or nil

	mu       sync.Mutex
	requests []string // "METHOD /path?query"
	patches  []string // "content-type body"
}

func (s *fakeServer) record(r *http.Request) {
	s.mu.Lock()
	defer s.mu.Unlock()
	s.requests = append(s.requests, r.Method+" "+r.URL.RequestURI())
}

// seen returns the recorded requests whose "METHOD /path?query" has the
// given prefix.
func (s *fakeServer) seen(prefix string) []string {
	s.mu.Lock()
	defer s.mu.Unlock()
	var out []string
	for _, r := range s.requests {
		if strings.HasPrefix(r, prefix) {
			out = append(out, r)
		}
	}
	return out
}

func (s *fakeServer) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	s.record(r)
	path := r.URL.Path
	switch {
	case path == "/version":
		writeJSON(w, http.StatusOK, map[string]string{"major": "1", "minor": "32", "gitVersion": "v1.32.0"})
	case path == "/api":
		// Plain APIVersions as application/json: client-go falls back
		// from aggregated discovery when the response is not
		// apidiscovery.k8s.io.
		writeJSON(w, http.StatusOK, metav1.APIVersions{
			TypeMeta: metav1.TypeMeta{Kind: "APIVersions"},
			Versions: []string{"v1"},
			ServerAddressByClientCIDRs: []metav1.ServerAddressByClientCIDR{
				{ClientCIDR: "0.0.0.0/0", ServerAddress: r.Host},
			},
		})
	case path == "/api/v1":
		writeJSON(w, http.StatusOK, metav1.APIResourceList{
			TypeMeta:     metav1.TypeMeta{Kind: "APIResourceList", APIVersion: "v1"},
			GroupVersion: "v1",
			APIResources: []metav1.APIResource{
				apiResource("configmaps", "ConfigMap", true, "cm"),
				apiResource("namespaces", "Namespace", false, "ns"),
				apiResource("pods", "Pod", true, "po"),
				apiResource("pods/status", "Pod", true),
			},
		})
	case path == "/apis":
		gv := metav1.GroupVersionForDiscovery{GroupVersion: "apps/v1", Version: "v1"}
		writeJSON(w, http.StatusOK, metav1.APIGroupList{
			TypeMeta: metav1.TypeMeta{Kind: "APIGroupList", APIVersion: "v1"},
			Groups:   []metav1.APIGroup{{Name: "apps", Versions: []metav1.GroupVersionForDiscovery{gv}, PreferredVersion: gv}},
		})
	case path == "/apis/apps/v1":
		writeJSON(w, http.StatusOK, metav1.APIResourceList{
			TypeMeta:     metav1.TypeMeta{Kind: "APIResourceList", APIVersion: "v1"},
			GroupVersion: "apps/v1",
			APIResources: []metav1.APIResource{
				apiResource("deployments", "Deployment", true, "deploy"),
				apiResource("deployments/scale", "Scale", true),
				apiResource("deployments/status", "Deployment", true),
			},
		})
	case strings.HasPrefix(path, "/openapi/"):
		if !s.docs.Serve(w, r) {
			http.NotFound(w, r)
		}
	case path == "/apis/apps/v1/namespaces/default/deployments" && r.Method == http.MethodPost:
		s.createDeployment(w, r)
	case path == "/apis/apps/v1/namespaces/default/deployments/web" && s.existing != nil &&
		(r.Method == http.MethodGet || r.Method == http.MethodPatch):
		if r.Method == http.MethodPatch {
			body, _ := io.ReadAll(r.Body)
			s.mu.Lock()
			s.patches = append(s.patches, r.Header.Get("Content-Type")+" "+string(body))
			s.mu.Unlock()
		}
		w.Header().Set("Content-Type", "application/json")
		_, _ = w.Write(s.existing)
	case strings.HasPrefix(path, "/apis/apps/v1/namespaces/default/deployments/") && r.Method == http.MethodGet:
		writeStatus(w, http.StatusNotFound, metav1.StatusReasonNotFound, "deployments.apps \""+filepath.Base(path)+"\" not found")
	default:
		writeStatus(w, http.StatusNotFound, metav1.StatusReasonNotFound, "the server could not find the requested resource")
	}
}

// createDeployment answers a create like the API server: with
// fieldValidation=Strict an unknown field fails the request.
func (s *fakeServer) createDeployment(w http.ResponseWriter, r *http.Request) {
	body, err := io.ReadAll(r.Body)
	if err != nil {
		writeStatus(w, http.StatusBadRequest, metav1.StatusReasonBadRequest, err.Error())
		return
	}
	dec := json.NewDecoder(bytes.NewReader(body))
	if r.URL.Query().Get("fieldValidation") == "Strict" {
		dec.DisallowUnknownFields()
	}
	var d appsv1.Deployment
	if err := dec.Decode(&d); err != nil {
		writeStatus(w, http.StatusBadRequest, metav1.StatusReasonBadRequest, "strict decoding error: "+err.Error())
		return
	}
	d.UID = "0a6c2a52-2d0b-4d2c-9b6a-3c1b5b0a4c11"
	d.ResourceVersion = "1"
	writeJSON(w, http.StatusCreated, d)
}

func apiResource(name, kind string, namespaced bool, shortNames ...string) metav1.APIResource {
	verbs := metav1.Verbs{"create", "delete", "get", "list", "patch", "update", "watch"}
	if strings.Contains(name, "/") {
		verbs = metav1.Verbs{"get", "patch", "update"}
	}
	return metav1.APIResource{Name: name, Kind: kind, Namespaced: namespaced, ShortNames: shortNames, Verbs: verbs}
}

func writeJSON(w http.ResponseWriter, code int, v any) {
	w.Header().Set("Content-Type", "application/json")
	w.WriteHeader(code)
	_ = json.NewEncoder(w).Encode(v)
}

func writeStatus(w http.ResponseWriter, code int, reason metav1.StatusReason, msg string) {
	writeJSON(w, code, metav1.Status{
		TypeMeta: metav1.TypeMeta{Kind: "Status", APIVersion: "v1"},
		Status:   metav1.StatusFailure, Message: msg, Reason: reason, Code: int32(code),
	})
}

// kubectlPath returns the kubectl binary, skipping the test when there is
// none, or failing it under CI=true.
func kubectlPath(t *testing.T) string {
	t.Helper()
	path, err := exec.LookPath("kubectl")
	if err != nil {
		if os.Getenv("CI") == "true" {
			t.Fatalf("kubectl is required under CI=true: %v", err)
		}
		t.Skipf("kubectl not installed: %v", err)
	}
	return path
}

// kubectl runs kubectl against url with a fresh HOME and cache directory,
// and returns its combined output and error.
func kubectl(t *testing.T, bin, url, stdin string, args ...string) (string, error) {
	t.Helper()
	home := t.TempDir()
	ctx, cancel := context.WithTimeout(context.Background(), 60*time.Second)
	defer cancel()
	full := append([]string{
		"--server", url, "--insecure-skip-tls-verify", "--token", "x",
		"--cache-dir", filepath.Join(home, "cache"), "--namespace", "default",
	}, args...)
	cmd := exec.CommandContext(ctx, bin, full...)
	cmd.Env = []string{"HOME=" + home, "PATH=" + os.Getenv("PATH"), "KUBECONFIG=" + filepath.Join(home, "config")}
	cmd.Stdin = strings.NewReader(stdin)
	out, err := cmd.CombinedOutput()
	if errors.Is(ctx.Err(), context.DeadlineExceeded) {
		t.Fatalf("kubectl %s timed out; output:\n%s", strings.Join(args, " "), out)
	}
	return string(out), err
}

// deploymentJSON returns the deployment of validDeployment with another
// image, as kubectl would send it, or, with lastApplied, as the server
// would return it after a kubectl apply of that.
func deploymentJSON(t *testing.T, image string, lastApplied bool) []byte {
	t.Helper()
	replicas := int32(2)
	labels := map[string]string{"app": "web"}
	d := appsv1.Deployment{
		TypeMeta:   metav1.TypeMeta{APIVersion: "apps/v1", Kind: "Deployment"},
		ObjectMeta: metav1.ObjectMeta{Name: "web", Namespace: "default"},
		Spec: appsv1.DeploymentSpec{
			Replicas: &replicas,
			Selector: &metav1.LabelSelector{MatchLabels: labels},
			Template: corev1.PodTemplateSpec{
				ObjectMeta: metav1.ObjectMeta{Labels: labels},
				Spec: corev1.PodSpec{Containers: []corev1.Container{
					{Name: "web", Image: image}, {Name: "sidecar", Image: "busybox"},
				}},
			},
		},
	}
	b, err := json.Marshal(d)
	if err != nil {
		t.Fatal(err)
	}
	if !lastApplied {
		return b
	}
	d.Annotations = map[string]string{"kubectl.kubernetes.io/last-applied-configuration": string(b)}
	d.UID, d.ResourceVersion = "0a6c2a52-2d0b-4d2c-9b6a-3c1b5b0a4c11", "1"
	if b, err = json.Marshal(d); err != nil {
		t.Fatal(err)
	}
	return b
}

const validDeployment = `apiVersion: apps/v1
kind: Deployment
metadata:
  name: web
spec:
  replicas: 2
  selector:
    matchLabels: {app: web}
  template:
    metadata:
      labels: {app: web}
    spec:
      containers:
      - name: web
        image: nginx
        resources:
          limits: {cpu: 500m, memory: 128Mi}
        ports:
        - containerPort: 80
`

// TestKubectl runs the real kubectl against a server that serves only
// discovery, these documents and a stub deployments collection.
func TestKubectl(t *testing.T) {
	bin := kubectlPath(t)
	docs, err := Build(testResources())
	if err != nil {
		t.Fatalf("Build: %v", err)
	}
	replicasDoc := testSwaggerDoc(t, "DeploymentSpec", "replicas")
	tests := []struct {
		name     string
		args     []string
		stdin    string
		existing []byte // the deployment the server holds, or nil
		// wantErr is whether kubectl must fail.
		wantErr bool
		want    []string // substrings of the output
		// check inspects the requests kubectl made.
		check func(t *testing.T, s *fakeServer)
	}{
		{
			name: "explain field",
			args: []string{"explain", "deployment.spec.replicas"},
			want: []string{"KIND:       Deployment", "VERSION:    v1", "FIELD: replicas <integer>", replicasDoc[:40]},
			check: func(t *testing.T, s *fakeServer) {
				if got := s.seen("GET /openapi/v3/apis/apps/v1?hash="); len(got) == 0 {
					t.Errorf("kubectl did not fetch the apps/v1 document by hash")
				}
			},
		},
		{
			name: "explain from the v2 document",
			args: []string{"explain", "deployment.spec.replicas", "--output", "plaintext-openapiv2"},
			want: []string{"KIND:     Deployment", "FIELD:    replicas <integer>", replicasDoc[:40]},
			check: func(t *testing.T, s *fakeServer) {
				if got := s.seen("GET /openapi/v2"); len(got) == 0 {
					t.Errorf("kubectl did not fetch the v2 document")
				}
			},
		},
		{
			name: "explain object lists fields",
			args: []string{"explain", "deployment.spec"},
			want: []string{"FIELD: spec <DeploymentSpec>", "replicas\t<integer>", "selector\t<LabelSelector> -required-", "template\t<PodTemplateSpec> -required-"},
		},
		{
			name: "explain core kind through a map of quantities",
			args: []string{"explain", "pods.spec.containers.resources.limits"},
			want: []string{"KIND:       Pod", "FIELD: limits <map[string]Quantity>"},
		},
		{
			name:  "apply leaves strict validation to the server",
			args:  []string{"apply", "-f", "-"},
			stdin: validDeployment,
			want:  []string{"deployment.apps/web created"},
			check: func(t *testing.T, s *fakeServer) {
				posts := s.seen("POST /apis/apps/v1/namespaces/default/deployments")
				if len(posts) != 1 || !strings.Contains(posts[0], "fieldValidation=Strict") {
					t.Errorf("creates = %q, want one with fieldValidation=Strict", posts)
				}
				if got := s.seen("GET /openapi/v2"); len(got) != 0 {
					t.Errorf("kubectl fetched the v2 document (%q): it did not trust the v3 fieldValidation parameter", got)
				}
			},
		},
		{
			name:    "apply with an unknown field fails on the server",
			args:    []string{"apply", "-f", "-"},
			stdin:   strings.Replace(validDeployment, "replicas: 2", "replicaz: 2", 1),
			wantErr: true,
			want:    []string{"unknown field", "replicaz"},
			check: func(t *testing.T, s *fakeServer) {
				if got := s.seen("POST /apis/apps/v1/namespaces/default/deployments?"); len(got) != 1 {
					t.Errorf("creates = %q, want the server to reject one", got)
				}
			},
		},
		{
			name:     "apply to an existing object patches with the v3 patch metadata",
			args:     []string{"apply", "-f", "-"},
			stdin:    string(deploymentJSON(t, "nginx:2", false)),
			existing: deploymentJSON(t, "nginx", true),
			want:     []string{"deployment.apps/web configured"},
			check: func(t *testing.T, s *fakeServer) {
				if got := s.seen("PATCH /apis/apps/v1/namespaces/default/deployments/web?"); len(got) != 1 || !strings.Contains(got[0], "fieldValidation=Strict") {
					t.Errorf("patches = %q, want one with fieldValidation=Strict", got)
				}
				// A strategic merge patch that merges containers by name
				// comes from the patch metadata of the v3 schema: had that
				// failed kubectl would have warned and fetched v2.
				if len(s.patches) != 1 || !strings.HasPrefix(s.patches[0], "application/strategic-merge-patch+json ") ||
					!strings.Contains(s.patches[0], `"$setElementOrder/containers":[{"name":"web"},{"name":"sidecar"}]`) {
					t.Errorf("patch = %q, want a strategic merge patch of containers by name", s.patches)
				}
				if got := s.seen("GET /openapi/v2"); len(got) != 0 {
					t.Errorf("kubectl fetched the v2 document (%q)", got)
				}
			},
		},
		{
			name:    "apply of a List validates on the client with the v2 document",
			args:    []string{"apply", "-f", "-"},
			stdin:   "apiVersion: v1\nkind: List\nitems:\n- " + strings.ReplaceAll(strings.Replace(validDeployment, "replicas: 2", "replicaz: 2", 1), "\n", "\n  "),
			wantErr: true,
			want:    []string{`unknown field "replicaz" in io.k8s.api.apps.v1.DeploymentSpec`},
			check: func(t *testing.T, s *fakeServer) {
				if got := s.seen("GET /openapi/v2"); len(got) == 0 {
					t.Errorf("kubectl did not fetch the v2 document")
				}
				if got := s.seen("POST "); len(got) != 0 {
					t.Errorf("kubectl sent %q after client-side validation failed", got)
				}
			},
		},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			s := &fakeServer{docs: docs, existing: tc.existing}
			srv := httptest.NewTLSServer(s)
			defer srv.Close()
			out, err := kubectl(t, bin, srv.URL, tc.stdin, tc.args...)
			if (err != nil) != tc.wantErr {
				t.Fatalf("kubectl %s: err = %v, wantErr %v; output:\n%s\nrequests:\n%s",
					strings.Join(tc.args, " "), err, tc.wantErr, out, strings.Join(s.seen(""), "\n"))
			}
			for _, want := range tc.want {
				if !strings.Contains(out, want) {
					t.Errorf("output lacks %q:\n%s", want, out)
				}
			}
			if tc.check != nil {
				tc.check(t, s)
			}
			if t.Failed() || testing.Verbose() {
				t.Logf("output:\n%s\nrequests:\n%s", out, strings.Join(s.seen(""), "\n"))
			}
		})
	}
}
