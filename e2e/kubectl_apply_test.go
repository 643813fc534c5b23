package e2e

import (
	"bytes"
	"context"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"sync"
	"testing"
	"time"
)

const deployment = `apiVersion: apps/v1
kind: Deployment
metadata: {name: web, namespace: demo, labels: {app: web}}
spec:
  replicas: 3
  selector: {matchLabels: {app: web}}
  template:
    metadata: {labels: {app: web}}
    spec:
      containers:
      - name: web
        image: registry.local/web:1
        ports: [{containerPort: 8080}]
---
apiVersion: v1
kind: Service
metadata: {name: web, namespace: demo}
spec:
  selector: {app: web}
  ports: [{port: 80, targetPort: 8080}]
`

const typo = `apiVersion: apps/v1
kind: Deployment
metadata: {name: typo, namespace: demo}
spec:
  replicaz: 2
  selector: {matchLabels: {app: typo}}
  template:
    metadata: {labels: {app: typo}}
    spec: {containers: [{name: c, image: registry.local/web:1}]}
`

// TestKubectlApplyScaleExplain: kubectl apply with its default (strict)
// validation, apply again, scale, patch, tables and explain, as a user
// deploying an application does.
func TestKubectlApplyScaleExplain(t *testing.T) {
	c := startServer(t)
	dir := t.TempDir()
	app, bad := filepath.Join(dir, "app.yaml"), filepath.Join(dir, "typo.yaml")
	if err := os.WriteFile(app, []byte(deployment), 0o644); err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(bad, []byte(typo), 0o644); err != nil {
		t.Fatal(err)
	}
	c.steps(t, []kubectlStep{
		{"namespace", []string{"create", "namespace", "demo"}, `created`, false},
		{"apply", []string{"apply", "-f", app}, `(?s)deployment.apps/web created.*service/web created`, false},
		{"apply again changes nothing", []string{"apply", "-f", app}, `(?s)deployment.apps/web unchanged.*service/web unchanged`, false},
		{"defaults", []string{"get", "deploy", "web", "-n", "demo", "-o", "jsonpath={.spec.strategy.type}/{.spec.template.spec.restartPolicy}"}, `^RollingUpdate/Always$`, false},
		{"scale", []string{"scale", "deploy", "web", "-n", "demo", "--replicas=5"}, `scaled`, false},
		{"scaled, generation 2", []string{"get", "deploy", "web", "-n", "demo", "-o", "jsonpath={.spec.replicas}/{.metadata.generation}"}, `^5/2$`, false},
		{"strategic merge patch keeps the image", []string{"patch", "deploy", "web", "-n", "demo", "-p", `{"spec":{"template":{"spec":{"containers":[{"name":"web","env":[{"name":"MODE","value":"prod"}]}]}}}}`}, `patched`, false},
		{"image kept", []string{"get", "deploy", "web", "-n", "demo", "-o", "jsonpath={.spec.template.spec.containers[0].image}"}, `^registry.local/web:1$`, false},
		{"unknown field is refused", []string{"apply", "-f", bad}, `unknown field "spec.replicaz"`, true},
		{"deployment table", []string{"get", "deploy", "-n", "demo"}, `NAME +READY +UP-TO-DATE +AVAILABLE +AGE`, false},
		{"service table", []string{"get", "svc", "web", "-n", "demo", "-o", "wide"}, `NAME +TYPE +CLUSTER-IP +EXTERNAL-IP +PORT\(S\) +AGE +SELECTOR`, false},
		{"explain", []string{"explain", "deployment.spec.replicas"}, `(?i)replicas.*integer`, false},
		{"paged list", []string{"get", "ns", "--chunk-size=2", "-o", "name"}, `(?s)namespace/default.*namespace/demo.*namespace/kube-system`, false},
		{"delete -f", []string{"delete", "-f", app}, `(?s)deployment.apps "web" deleted.*service "web" deleted`, false},
	})
}

// TestKubectlServerSideApply: kubectl apply --server-side creates and
// updates, reports a conflict with the manager that changed a field since
// (kubectl scale), takes it with --force-conflicts, and takes over objects
// that client-side apply created.
func TestKubectlServerSideApply(t *testing.T) {
	c := startServer(t)
	dir := t.TempDir()
	app, scaled, bad := filepath.Join(dir, "app.yaml"), filepath.Join(dir, "scaled.yaml"), filepath.Join(dir, "typo.yaml")
	for file, content := range map[string]string{app: deployment, scaled: strings.Replace(deployment, "replicas: 3", "replicas: 4", 1), bad: typo} {
		if err := os.WriteFile(file, []byte(content), 0o644); err != nil {
			t.Fatal(err)
		}
	}
	c.steps(t, []kubectlStep{
		{"namespace", []string{"create", "namespace", "demo"}, `created`, false},
		{"client-side apply first", []string{"apply", "-f", app}, `(?s)deployment.apps/web created.*service/web created`, false},
		{"server-side apply takes over", []string{"apply", "--server-side", "-f", app}, `(?s)deployment.apps/web serverside-applied.*service/web serverside-applied`, false},
		{"kubectl is the manager", []string{"get", "deploy", "web", "-n", "demo", "--show-managed-fields", "-o", `jsonpath={range .metadata.managedFields[*]}{.manager}:{.operation} {end}`}, `kubectl:Apply`, false},
		{"scale", []string{"scale", "deploy", "web", "-n", "demo", "--replicas=5"}, `scaled`, false},
		{"apply over the scaled replicas conflicts", []string{"apply", "--server-side", "-f", scaled}, `(?s)conflict with "kubectl.*\.spec\.replicas.*--force-conflicts`, true},
		{"the conflict changed nothing", []string{"get", "deploy", "web", "-n", "demo", "-o", "jsonpath={.spec.replicas}"}, `^5$`, false},
		{"forced", []string{"apply", "--server-side", "--force-conflicts", "-f", scaled}, `deployment.apps/web serverside-applied`, false},
		{"forced replicas", []string{"get", "deploy", "web", "-n", "demo", "-o", "jsonpath={.spec.replicas}"}, `^4$`, false},
		{"server dry run", []string{"apply", "--server-side", "--dry-run=server", "-f", app}, `deployment.apps/web serverside-applied \(server dry run\)`, false},
		{"dry run changed nothing", []string{"get", "deploy", "web", "-n", "demo", "-o", "jsonpath={.spec.replicas}"}, `^4$`, false},
		{"unknown field is refused", []string{"apply", "--server-side", "-f", bad}, `unknown field`, true},
	})
}

// TestKubectlWatch: kubectl get -w sees an object created while it watches.
func TestKubectlWatch(t *testing.T) {
	c := startServer(t)
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	if _, err := c.kubectl("create", "configmap", "before", "-n", "default"); err != nil {
		t.Fatal(err)
	}
	var out bytes.Buffer
	w := exec.CommandContext(ctx, "kubectl", "--kubeconfig", c.kubeconfig, "--cache-dir", filepath.Join(c.dir, "kubectl-cache"),
		"get", "cm", "-n", "default", "-w", "--output-watch-events", "-o", "name")
	w.Stdout, w.Stderr = &syncWriter{w: &out}, &syncWriter{w: &out}
	if err := w.Start(); err != nil {
		t.Fatal(err)
	}
	defer func() { cancel(); _ = w.Wait() }()
	// "before" exists before the watch starts: once kubectl printed it,
	// its initial list is done, and "watched" can only come as an event.
	waitFor := func(name string) bool {
		for deadline := time.Now().Add(20 * time.Second); time.Now().Before(deadline); time.Sleep(100 * time.Millisecond) {
			if strings.Contains(readSync(&out), name) {
				return true
			}
		}
		return false
	}
	if !waitFor("configmap/before") {
		t.Fatalf("kubectl get -w did not list the existing configmap; it printed:\n%s", readSync(&out))
	}
	if _, err := c.kubectl("create", "configmap", "watched", "-n", "default"); err != nil {
		t.Fatal(err)
	}
	if waitFor("configmap/watched") {
		return
	}
	t.Fatalf("kubectl get -w did not show the new configmap; it printed:\n%s", readSync(&out))
}

var outMu sync.Mutex

type syncWriter struct{ w *bytes.Buffer }

func (s *syncWriter) Write(b []byte) (int, error) {
	outMu.Lock()
	defer outMu.Unlock()
	return s.w.Write(b)
}

func readSync(b *bytes.Buffer) string {
	outMu.Lock()
	defer outMu.Unlock()
	return b.String()
}
