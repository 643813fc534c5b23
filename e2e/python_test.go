package e2e

import (
	"context"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/sqlkube/sqlkube/internal/testenv"
)

// debianPython is Debian's interpreter, the one python3-kubernetes installs
// under; a python3 earlier on PATH (pyenv, a virtualenv) would not have it.
const debianPython = "/usr/bin/python3"

// TestPythonClient drives the server with a second real client, the
// official Python one (Debian's python3-kubernetes), through
// testdata/pyclient.py: namespaces, configmaps, label selectors, the three
// patch types, deployments, a watch and a foreground delete, as Python
// users write them. The script prints one line per check and stops at the
// first failure; run it by hand with --keep-going --debug to see every
// request and answer.
func TestPythonClient(t *testing.T) {
	if out, err := exec.Command(debianPython, "-c", "import kubernetes").CombinedOutput(); err != nil {
		t.Logf("%s -c 'import kubernetes': %v\n%s", debianPython, err, out)
		testenv.Missing(t, "python3-kubernetes (Debian's "+debianPython+" with the kubernetes package)")
	}
	script, err := filepath.Abs(filepath.Join("testdata", "pyclient.py"))
	if err != nil {
		t.Fatal(err)
	}
	c := startServer(t)
	ctx, cancel := context.WithTimeout(context.Background(), 2*time.Minute)
	defer cancel()
	cmd := exec.CommandContext(ctx, debianPython, script, c.kubeconfig)
	cmd.Dir = c.dir
	out, err := cmd.CombinedOutput()
	if err != nil {
		t.Fatalf("%s %s %s: %v\n%s", debianPython, filepath.Base(script), c.kubeconfig, err, strings.TrimSpace(string(out)))
	}
	t.Logf("%s", strings.TrimSpace(string(out)))
}
