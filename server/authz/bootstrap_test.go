package authz

import (
	"context"
	"strings"
	"testing"

	rbacv1 "k8s.io/api/rbac/v1"
)

// bootstrapWith returns the bootstrap policy's Source plus extra
// bindings.
func bootstrapWith(crbs []*rbacv1.ClusterRoleBinding, rbs []*rbacv1.RoleBinding) *StaticSource {
	s := BootstrapPolicy().Source()
	s.ClusterRoleBindings = append(s.ClusterRoleBindings, crbs...)
	s.RoleBindings = append(s.RoleBindings, rbs...)
	return s
}

func TestBootstrapPolicy(t *testing.T) {
	authenticated := func(name string, groups ...string) User {
		return User{Name: name, Groups: append([]string{GroupAuthenticated}, groups...)}
	}
	viewer := authenticated("viewer")
	editor := authenticated("editor")
	admin := authenticated("admin")
	anonymous := User{Name: "system:anonymous", Groups: []string{GroupUnauthenticated}}
	reader := authenticated("reader", GroupReadOnly)
	master := authenticated("root", GroupMasters)
	controller := func(name string) User { return authenticated(ControllerUserPrefix + name) }
	kcm := authenticated(UserKubeControllerManager)
	scheduler := authenticated(UserKubeScheduler)
	proxy := authenticated(UserKubeProxy)

	src := bootstrapWith(nil, []*rbacv1.RoleBinding{
		rb("a", "viewer", "ClusterRole", "view", userSubject("viewer")),
		rb("a", "editor", "ClusterRole", "edit", userSubject("editor")),
		rb("a", "admin", "ClusterRole", "admin", userSubject("admin")),
	})

	tests := []struct {
		name string
		a    Attributes
		want bool
	}{
		{"masters do anything", as(master, res("delete", "", "nodes", "", "", "n")), true},
		{"masters reach any path", as(master, path("post", "/anything")), true},

		{"view gets pods", as(viewer, res("get", "", "pods", "", "a", "p")), true},
		{"view lists pods", as(viewer, res("list", "", "pods", "", "a", "")), true},
		{"view lists configmaps", as(viewer, res("list", "", "configmaps", "", "a", "")), true},
		{"view gets configmaps", as(viewer, res("get", "", "configmaps", "", "a", "c")), true},
		{"view reads deployments", as(viewer, res("watch", "apps", "deployments", "", "a", "")), true},
		{"view reads pod logs", as(viewer, res("get", "", "pods", "log", "a", "p")), true},
		{"view does not get secrets", as(viewer, res("get", "", "secrets", "", "a", "s")), false},
		{"view does not list secrets", as(viewer, res("list", "", "secrets", "", "a", "")), false},
		{"view does not exec", as(viewer, res("create", "", "pods", "exec", "a", "p")), false},
		{"view does not write", as(viewer, res("delete", "", "pods", "", "a", "p")), false},
		{"view not in another namespace", as(viewer, res("get", "", "pods", "", "b", "p")), false},
		{"view not cluster-wide", as(viewer, res("list", "", "pods", "", "", "")), false},

		{"edit creates deployments", as(editor, res("create", "apps", "deployments", "", "a", "")), true},
		{"edit scales deployments", as(editor, res("update", "apps", "deployments", "scale", "a", "d")), true},
		{"edit reads secrets", as(editor, res("get", "", "secrets", "", "a", "s")), true},
		{"edit gets what view gets", as(editor, res("get", "", "pods", "", "a", "p")), true},
		{"edit does not create roles", as(editor, res("create", rbacGroup, "roles", "", "a", "")), false},
		{"edit does not create rolebindings", as(editor, res("create", rbacGroup, "rolebindings", "", "a", "")), false},
		{"edit not in another namespace", as(editor, res("create", "apps", "deployments", "", "b", "")), false},

		{"admin creates rolebindings", as(admin, res("create", rbacGroup, "rolebindings", "", "a", "")), true},
		{"admin creates roles", as(admin, res("create", rbacGroup, "roles", "", "a", "")), true},
		{"admin creates deployments", as(admin, res("create", "apps", "deployments", "", "a", "")), true},
		{"admin not in another namespace", as(admin, res("create", rbacGroup, "rolebindings", "", "b", "")), false},
		{"admin does not create clusterroles", as(admin, res("create", rbacGroup, "clusterroles", "", "", "")), false},

		{"authenticated self access review", as(viewer, res("create", authorizationGroup, "selfsubjectaccessreviews", "", "", "")), true},
		{"authenticated self rules review", as(viewer, res("create", authorizationGroup, "selfsubjectrulesreviews", "", "", "")), true},
		{"authenticated not subject access review", as(viewer, res("create", authorizationGroup, "subjectaccessreviews", "", "", "")), false},
		{"authenticated GET /version", as(viewer, path("get", "/version")), true},
		{"authenticated GET /apis/apps", as(viewer, path("get", "/apis/apps")), true},
		{"authenticated not /metrics", as(viewer, path("get", "/metrics")), false},

		{"unauthenticated GET /healthz", as(anonymous, path("get", "/healthz")), true},
		{"unauthenticated GET /version", as(anonymous, path("get", "/version")), true},
		{"unauthenticated GET /livez", as(anonymous, path("get", "/livez")), true},
		{"unauthenticated not /api", as(anonymous, path("get", "/api")), false},
		{"unauthenticated not /apis/apps", as(anonymous, path("get", "/apis/apps")), false},
		{"unauthenticated not POST /healthz", as(anonymous, path("post", "/healthz")), false},
		{"unauthenticated not self reviews", as(anonymous, res("create", authorizationGroup, "selfsubjectaccessreviews", "", "", "")), false},
		{"unauthenticated not pods", as(anonymous, res("list", "", "pods", "", "a", "")), false},
		{"unauthenticated not namespaces", as(anonymous, res("get", "", "namespaces", "", "", "a")), false},

		{"read-only lists deployments", as(reader, res("list", "apps", "deployments", "", "", "")), true},
		{"read-only gets pods anywhere", as(reader, res("get", "", "pods", "", "z", "p")), true},
		{"read-only does not get secrets", as(reader, res("get", "", "secrets", "", "z", "s")), false},
		{"read-only does not write", as(reader, res("update", "apps", "deployments", "", "z", "d")), false},

		{"replicaset creates pods", as(controller("replicaset"), res("create", "", "pods", "", "a", "")), true},
		{"replicaset deletes pods", as(controller("replicaset"), res("delete", "", "pods", "", "a", "p")), true},
		{"replicaset updates replicasets/status", as(controller("replicaset"), res("update", "apps", "replicasets", "status", "a", "r")), true},
		{"replicaset records events", as(controller("replicaset"), res("create", "", "events", "", "a", "")), true},
		{"replicaset does not delete deployments", as(controller("replicaset"), res("delete", "apps", "deployments", "", "a", "d")), false},
		{"replicaset does not read secrets", as(controller("replicaset"), res("get", "", "secrets", "", "a", "s")), false},
		{"deployment creates replicasets", as(controller("deployment"), res("create", "apps", "replicasets", "", "a", "")), true},
		{"deployment updates deployments/status", as(controller("deployment"), res("update", "apps", "deployments", "status", "a", "d")), true},
		{"deployment does not create pods", as(controller("deployment"), res("create", "", "pods", "", "a", "")), false},
		{"daemonset creates pods", as(controller("daemonset"), res("create", "", "pods", "", "a", "")), true},
		{"daemonset updates daemonsets/status", as(controller("daemonset"), res("update", "apps", "daemonsets", "status", "a", "d")), true},
		{"statefulset creates claims", as(controller("statefulset"), res("create", "", "persistentvolumeclaims", "", "a", "")), true},
		{"statefulset updates statefulsets/status", as(controller("statefulset"), res("update", "apps", "statefulsets", "status", "a", "s")), true},
		{"job creates pods", as(controller("job"), res("create", "", "pods", "", "a", "")), true},
		{"job updates jobs/status", as(controller("job"), res("update", "batch", "jobs", "status", "a", "j")), true},
		{"cronjob creates jobs", as(controller("cronjob"), res("create", "batch", "jobs", "", "a", "")), true},
		{"cronjob updates cronjobs/status", as(controller("cronjob"), res("update", "batch", "cronjobs", "status", "a", "c")), true},
		{"disruption updates pdb status", as(controller("disruption"), res("update", "policy", "poddisruptionbudgets", "status", "a", "p")), true},
		{"disruption gets scale", as(controller("disruption"), res("get", "apps", "deployments", "scale", "a", "d")), true},
		{"endpoints writes endpoints", as(controller("endpoints"), res("update", "", "endpoints", "", "a", "s")), true},
		{"endpoints creates endpointslices", as(controller("endpoints"), res("create", discoveryGroup, "endpointslices", "", "a", "")), true},
		{"endpoints deletes endpointslices", as(controller("endpoints"), res("delete", discoveryGroup, "endpointslices", "", "a", "s")), true},
		{"serviceaccount creates serviceaccounts", as(controller("serviceaccount"), res("create", "", "serviceaccounts", "", "a", "")), true},
		{"serviceaccount does not delete serviceaccounts", as(controller("serviceaccount"), res("delete", "", "serviceaccounts", "", "a", "default")), false},
		{"namespace deletecollection configmaps", as(controller("namespace"), res("deletecollection", "", "configmaps", "", "a", "")), true},
		{"namespace deletecollection deployments", as(controller("namespace"), res("deletecollection", "apps", "deployments", "", "a", "")), true},
		{"namespace finalizes namespaces", as(controller("namespace"), res("update", "", "namespaces", "finalize", "", "a")), true},
		{"namespace updates namespaces/status", as(controller("namespace"), res("update", "", "namespaces", "status", "", "a")), true},
		{"namespace does not create", as(controller("namespace"), res("create", "", "configmaps", "", "a", "")), false},
		{"garbagecollector deletes anything", as(controller("garbagecollector"), res("delete", "apps", "replicasets", "", "a", "r")), true},
		{"garbagecollector patches anything", as(controller("garbagecollector"), res("patch", "", "configmaps", "", "a", "c")), true},
		{"garbagecollector does not create", as(controller("garbagecollector"), res("create", "", "pods", "", "a", "")), false},
		{"nodelifecycle updates nodes/status", as(controller("nodelifecycle"), res("update", "", "nodes", "status", "", "n")), true},
		{"nodelifecycle taints nodes", as(controller("nodelifecycle"), res("update", "", "nodes", "", "", "n")), true},
		{"nodelifecycle evicts pods by delete", as(controller("nodelifecycle"), res("delete", "", "pods", "", "a", "p")), true},
		{"nodelifecycle updates pods/status", as(controller("nodelifecycle"), res("update", "", "pods", "status", "a", "p")), true},
		{"controllers are not service accounts", as(User{Name: ServiceAccountUser("kube-system", "replicaset-controller")}, res("create", "", "pods", "", "a", "")), false},

		{"scheduler binds pods", as(scheduler, res("create", "", "pods", "binding", "a", "p")), true},
		{"scheduler updates pods/status", as(scheduler, res("patch", "", "pods", "status", "a", "p")), true},
		{"scheduler records events", as(scheduler, res("create", eventsGroup, "events", "", "a", "")), true},
		{"scheduler does not create pods", as(scheduler, res("create", "", "pods", "", "a", "")), false},

		{"kcm updates its lease", as(kcm, res("update", coordinationGroup, "leases", "", "kube-system", ControllerManagerLease)), true},
		{"kcm gets its lease", as(kcm, res("get", coordinationGroup, "leases", "", "kube-system", ControllerManagerLease)), true},
		{"kcm creates leases", as(kcm, res("create", coordinationGroup, "leases", "", "kube-system", "")), true},
		{"kcm does not update other leases", as(kcm, res("update", coordinationGroup, "leases", "", "kube-system", "other")), false},
		{"kcm does not update its lease elsewhere", as(kcm, res("update", coordinationGroup, "leases", "", "default", ControllerManagerLease)), false},
		{"kcm lists and watches everything", as(kcm, res("watch", "apps", "deployments", "", "", "")), true},
		{"kcm does not delete pods", as(kcm, res("delete", "", "pods", "", "a", "p")), false},

		{"proxy watches endpointslices", as(proxy, res("watch", discoveryGroup, "endpointslices", "", "", "")), true},
		{"proxy lists services", as(proxy, res("list", "", "services", "", "", "")), true},
		{"proxy does not get secrets", as(proxy, res("get", "", "secrets", "", "a", "s")), false},

		// Nodes are authorized by the Node authorizer, not by RBAC.
		{"system:node is not bound", as(User{Name: "system:node:n1", Groups: []string{GroupNodes}}, res("get", "", "pods", "", "a", "p")), false},
	}
	r := NewRBAC(src)
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			d, reason, err := r.Authorize(context.Background(), tt.a)
			if err != nil {
				t.Fatalf("Authorize: %v", err)
			}
			if got := d == DecisionAllow; got != tt.want {
				t.Errorf("allowed %v, want %v (reason %q)", got, tt.want, reason)
			}
		})
	}
}

func TestBootstrapPolicyMetadata(t *testing.T) {
	p := BootstrapPolicy()
	check := func(kind, name string, labels, annotations map[string]string) {
		t.Helper()
		if labels[BootstrapLabel] != BootstrapLabelValue {
			t.Errorf("%s %s: label %s=%q, want %q", kind, name, BootstrapLabel, labels[BootstrapLabel], BootstrapLabelValue)
		}
		if annotations[rbacv1.AutoUpdateAnnotationKey] != "true" {
			t.Errorf("%s %s: annotation %s=%q, want true", kind, name, rbacv1.AutoUpdateAnnotationKey, annotations[rbacv1.AutoUpdateAnnotationKey])
		}
	}
	roles := map[string]bool{}
	for _, o := range p.ClusterRoles {
		check("ClusterRole", o.Name, o.Labels, o.Annotations)
		if roles[o.Name] {
			t.Errorf("ClusterRole %s twice", o.Name)
		}
		roles[o.Name] = true
	}
	for _, o := range p.ClusterRoleBindings {
		check("ClusterRoleBinding", o.Name, o.Labels, o.Annotations)
		if !roles[o.RoleRef.Name] {
			t.Errorf("ClusterRoleBinding %s references missing ClusterRole %s", o.Name, o.RoleRef.Name)
		}
	}
	for _, o := range p.Roles {
		check("Role", o.Namespace+"/"+o.Name, o.Labels, o.Annotations)
	}
	for _, o := range p.RoleBindings {
		check("RoleBinding", o.Namespace+"/"+o.Name, o.Labels, o.Annotations)
	}
	// Every controller the manager runs has its role, bound to its user.
	for _, name := range []string{"nodelifecycle", "replicaset", "deployment", "daemonset", "statefulset", "job",
		"cronjob", "disruption", "endpoints", "serviceaccount", "namespace", "garbagecollector"} {
		found := false
		for _, b := range p.ClusterRoleBindings {
			if b.RoleRef.Name == ControllerUserPrefix+name && len(b.Subjects) == 1 &&
				b.Subjects[0].Kind == rbacv1.UserKind && b.Subjects[0].Name == ControllerUserPrefix+name {
				found = true
			}
		}
		if !found {
			t.Errorf("no ClusterRoleBinding of %s%s to its user", ControllerUserPrefix, name)
		}
	}
	// The aggregated roles are written empty; Source fills them.
	for _, o := range p.ClusterRoles {
		if o.AggregationRule != nil && len(o.Rules) > 0 {
			t.Errorf("aggregated ClusterRole %s written with rules", o.Name)
		}
	}
	// Source copies: changing it leaves a fresh policy alone.
	s := p.Source()
	view, _ := s.GetClusterRole("view")
	if len(view.Rules) == 0 {
		t.Fatalf("view has no rules after aggregation")
	}
	for _, o := range p.ClusterRoles {
		if o.Name == "view" && len(o.Rules) > 0 {
			t.Errorf("Source changed the policy's view role")
		}
	}
	for _, r := range view.Rules {
		for _, res := range r.Resources {
			if strings.HasPrefix(res, "secrets") {
				t.Errorf("view holds %v", r)
			}
		}
	}
}
