package e2e

import (
	"path/filepath"
	"testing"
)

// TestKubectlAuth drives RBAC, impersonation and the reviews through the
// installed kubectl: what `kubectl --as`, `auth can-i`, `auth can-i
// --list` and `auth reconcile` print against Kubernetes.
func TestKubectlAuth(t *testing.T) {
	c := startServer(t)
	manifest, err := filepath.Abs("testdata/rbac-reconcile.yaml")
	if err != nil {
		t.Fatal(err)
	}
	c.steps(t, []kubectlStep{
		{"namespace", []string{"create", "namespace", "team"}, `namespace/team created`, false},
		{"configmap", []string{"create", "configmap", "cfg", "-n", "team", "--from-literal=a=b"}, `created`, false},
		{"secret", []string{"create", "secret", "generic", "pw", "-n", "team", "--from-literal=p=q"}, `created`, false},
		// --as: the admin acts as alice, who is bound to nothing yet.
		{"whoami as alice", []string{"auth", "whoami", "--as", "alice"}, `(?s)Username +alice.*system:authenticated`, false},
		{"alice may not read", []string{"get", "configmaps", "-n", "team", "--as", "alice"}, `User "alice" cannot list resource "configmaps" in API group "" in the namespace "team"`, true},
		{"can-i as alice", []string{"auth", "can-i", "list", "configmaps", "-n", "team", "--as", "alice"}, `^no`, true},
		{"reconcile", []string{"auth", "reconcile", "-f", manifest}, `(?s)role.rbac.authorization.k8s.io/cm-reader reconciled.*rolebinding.rbac.authorization.k8s.io/alice-reads reconciled`, false},
		{"reconcile again", []string{"auth", "reconcile", "-f", manifest}, `cm-reader reconciled`, false},
		{"alice reads", []string{"get", "configmaps", "-n", "team", "--as", "alice", "-o", "name"}, `configmap/cfg`, false},
		{"alice may not read secrets", []string{"get", "secrets", "-n", "team", "--as", "alice"}, `forbidden`, true},
		{"can-i --list as alice", []string{"auth", "can-i", "--list", "-n", "team", "--as", "alice"}, `(?m)^configmaps +\[\] +\[\] +\[get list\]`, false},
		{"a group by --as-group", []string{"get", "secrets", "-n", "team", "--as", "bob", "--as-group", "system:masters", "-o", "name"}, `secret/pw`, false},
		{"bindings", []string{"get", "rolebindings", "-n", "team", "-o", "wide"}, `(?s)alice-reads +Role/cm-reader .* alice`, false},
		{"default roles", []string{"get", "clusterroles", "view", "edit", "admin", "cluster-admin", "-o", "name"}, `(?s)clusterrole.rbac.authorization.k8s.io/view.*cluster-admin`, false},
		{"view reads no secrets", []string{"auth", "can-i", "get", "secrets", "-n", "team", "--as", "viewer", "--as-group", "sqlkube:read-only"}, `^no`, true},
	})
}
