package e2e

import (
	"regexp"
	"testing"
)

// TestKubectlBasics drives the installed kubectl through what a user does
// first with a cluster: namespaces, configmaps, labels, patches, deletes.
func TestKubectlBasics(t *testing.T) {
	c := startServer(t)
	c.steps(t, []kubectlStep{
		{"version", []string{"version", "-o", "json"}, `"gitVersion"`, false},
		{"whoami", []string{"auth", "whoami"}, `(?s)Username +admin.*system:masters`, false},
		{"can-i", []string{"auth", "can-i", "create", "deployments", "-n", "default"}, `^yes$`, false},
		{"can-i --list", []string{"auth", "can-i", "--list"}, `\*\.\* +\[\] +\[\] +\[\*\]`, false},
		{"namespaces exist", []string{"get", "namespace", "kube-system", "-o", "name"}, `^namespace/kube-system$`, false},
		{"create namespace", []string{"create", "namespace", "demo"}, `namespace/demo created`, false},
		{"create configmap", []string{"create", "configmap", "web", "-n", "demo", "--from-literal=greeting=hello"}, `configmap/web created`, false},
		{"read back", []string{"get", "cm", "web", "-n", "demo", "-o", "jsonpath={.data.greeting}"}, `^hello$`, false},
		{"label", []string{"label", "cm", "web", "-n", "demo", "tier=frontend"}, `labeled`, false},
		{"label selector", []string{"get", "cm", "-n", "demo", "-l", "tier=frontend", "-o", "name"}, `^configmap/web$`, false},
		{"merge patch", []string{"patch", "cm", "web", "-n", "demo", "--type=merge", "-p", `{"data":{"greeting":"hi"}}`}, `patched`, false},
		{"patched", []string{"get", "cm", "web", "-n", "demo", "-o", "jsonpath={.data.greeting}"}, `^hi$`, false},
		{"missing namespace", []string{"create", "configmap", "x", "-n", "nope"}, `namespaces "nope" not found`, true},
		{"invalid name", []string{"create", "configmap", "Bad_Name", "-n", "demo"}, `Invalid value`, true},
		{"dry run", []string{"create", "configmap", "dry", "-n", "demo", "--dry-run=server"}, `created \(server dry run\)`, false},
		{"dry run stored nothing", []string{"get", "configmap", "dry", "-n", "demo"}, `not found`, true},
		{"service gets a ClusterIP", []string{"create", "service", "clusterip", "web", "-n", "demo", "--tcp=80:8080"}, `service/web created`, false},
		{"ClusterIP in range", []string{"get", "svc", "web", "-n", "demo", "-o", "jsonpath={.spec.clusterIP}"}, `^10\.96\.\d+\.\d+$`, false},
		{"delete", []string{"delete", "cm", "web", "-n", "demo"}, `configmap "web" deleted`, false},
		{"gone", []string{"get", "cm", "web", "-n", "demo"}, `not found`, true},
	})
}

// kubectlStep is one kubectl command of a scenario and what it must print.
type kubectlStep struct {
	name string
	args []string
	want string // regexp the output must match
	fail bool   // the command must fail
}

// steps runs the steps in order, failing the test at the first whose
// outcome or output is not what it wants.
func (c *cluster) steps(t *testing.T, steps []kubectlStep) {
	t.Helper()
	for _, step := range steps {
		out, err := c.kubectl(step.args...)
		if (err != nil) != step.fail || !regexp.MustCompile(step.want).MatchString(out) {
			t.Fatalf("%s: kubectl %v: err=%v, output:\n%s\nwant /%s/", step.name, step.args, err, out, step.want)
		}
	}
}
