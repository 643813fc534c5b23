package authz

import (
	rbacv1 "k8s.io/api/rbac/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
)

// controllerRoles returns one ClusterRole per controller sqlkube runs,
// named system:controller:NAME after our controller, holding the rules of
// its upstream counterpart in controller_policy.go (named in each
// comment), and a ClusterRoleBinding of it to User system:controller:NAME,
// the user the controller manager runs that controller as.
func controllerRoles() ([]*rbacv1.ClusterRole, []*rbacv1.ClusterRoleBinding) {
	roles := []*rbacv1.ClusterRole{
		// node-controller
		controllerRole("nodelifecycle",
			rule("get", "list", "watch", "update", "delete", "patch").groups(legacyGroup).resources("nodes").build(),
			rule("patch", "update").groups(legacyGroup).resources("nodes/status").build(),
			rule("patch", "update").groups(legacyGroup).resources("pods/status").build(),
			rule("list", "watch", "get", "delete").groups(legacyGroup).resources("pods").build(),
			eventsRule(),
		),
		// node-controller (upstream's node IPAM runs as it): the pod
		// ranges of Nodes.
		controllerRole("nodeipam",
			rule("get", "list", "watch", "update", "patch").groups(legacyGroup).resources("nodes").build(),
			eventsRule(),
		),
		// sqlkube's own: the kube-dns EndpointSlice, from the Nodes.
		controllerRole("clusterdns",
			rule("get", "list", "watch").groups(legacyGroup).resources("nodes", "services").build(),
			rule("get", "list", "watch", "create", "update").groups(discoveryGroup).resources("endpointslices").build(),
			eventsRule(),
		),
		// replicaset-controller
		controllerRole("replicaset",
			rule("get", "list", "watch", "update").groups(appsGroup, extensionsGroup).resources("replicasets").build(),
			rule("update").groups(appsGroup, extensionsGroup).resources("replicasets/status").build(),
			rule("update").groups(appsGroup, extensionsGroup).resources("replicasets/finalizers").build(),
			rule("list", "watch", "patch", "create", "delete").groups(legacyGroup).resources("pods").build(),
			eventsRule(),
		),
		// deployment-controller
		controllerRole("deployment",
			rule("get", "list", "watch", "update").groups(extensionsGroup, appsGroup).resources("deployments").build(),
			rule("update").groups(extensionsGroup, appsGroup).resources("deployments/status").build(),
			rule("update").groups(extensionsGroup, appsGroup).resources("deployments/finalizers").build(),
			rule("get", "list", "watch", "create", "update", "patch", "delete").groups(appsGroup, extensionsGroup).resources("replicasets").build(),
			rule("get", "list", "watch", "update").groups(legacyGroup).resources("pods").build(),
			eventsRule(),
		),
		// daemon-set-controller
		controllerRole("daemonset",
			rule("get", "list", "watch").groups(extensionsGroup, appsGroup).resources("daemonsets").build(),
			rule("update").groups(extensionsGroup, appsGroup).resources("daemonsets/status").build(),
			rule("update").groups(extensionsGroup, appsGroup).resources("daemonsets/finalizers").build(),
			rule("list", "watch").groups(legacyGroup).resources("nodes").build(),
			rule("list", "watch", "create", "delete", "patch").groups(legacyGroup).resources("pods").build(),
			rule("create").groups(legacyGroup).resources("pods/binding").build(),
			rule("get", "list", "watch", "create", "delete", "update", "patch").groups(appsGroup).resources("controllerrevisions").build(),
			eventsRule(),
		),
		// statefulset-controller
		controllerRole("statefulset",
			rule("list", "watch").groups(legacyGroup).resources("pods").build(),
			rule("get", "list", "watch").groups(appsGroup).resources("statefulsets").build(),
			rule("update").groups(appsGroup).resources("statefulsets/status").build(),
			rule("update").groups(appsGroup).resources("statefulsets/finalizers").build(),
			rule("get", "create", "delete", "update", "patch").groups(legacyGroup).resources("pods").build(),
			rule("get", "create", "delete", "update", "patch", "list", "watch").groups(appsGroup).resources("controllerrevisions").build(),
			rule("get", "create", "list", "watch").groups(legacyGroup).resources("persistentvolumeclaims").build(),
			rule("update", "delete").groups(legacyGroup).resources("persistentvolumeclaims").build(),
			rule("update").groups(legacyGroup).resources("pods/finalizers").build(),
			eventsRule(),
		),
		// job-controller
		controllerRole("job",
			rule("get", "list", "watch", "update", "patch").groups(batchGroup).resources("jobs").build(),
			rule("update").groups(batchGroup).resources("jobs/status").build(),
			rule("update").groups(batchGroup).resources("jobs/finalizers").build(),
			rule("list", "watch", "create", "delete", "patch").groups(legacyGroup).resources("pods").build(),
			eventsRule(),
		),
		// cronjob-controller
		controllerRole("cronjob",
			rule("get", "list", "watch", "update").groups(batchGroup).resources("cronjobs").build(),
			rule("get", "list", "watch", "create", "update", "delete", "patch").groups(batchGroup).resources("jobs").build(),
			rule("update").groups(batchGroup).resources("cronjobs/status").build(),
			rule("update").groups(batchGroup).resources("cronjobs/finalizers").build(),
			rule("list", "watch", "delete").groups(legacyGroup).resources("pods").build(),
			eventsRule(),
		),
		// disruption-controller
		controllerRole("disruption",
			rule(verbsRead...).groups(extensionsGroup, appsGroup).resources("deployments").build(),
			rule(verbsRead...).groups(appsGroup, extensionsGroup).resources("replicasets").build(),
			rule(verbsRead...).groups(legacyGroup).resources("replicationcontrollers").build(),
			rule(verbsRead...).groups(policyGroup).resources("poddisruptionbudgets").build(),
			rule(verbsRead...).groups(appsGroup).resources("statefulsets").build(),
			rule("update").groups(policyGroup).resources("poddisruptionbudgets/status").build(),
			rule("patch", "update").groups(legacyGroup).resources("pods/status").build(),
			rule("get").groups("*").resources("*/scale").build(),
			eventsRule(),
		),
		// endpoint-controller and endpointslice-controller: ours writes
		// both Endpoints and EndpointSlices.
		controllerRole("endpoints",
			rule(verbsRead...).groups(legacyGroup).resources("services", "pods", "nodes").build(),
			rule("get", "list", "watch", "create", "update", "delete").groups(legacyGroup).resources("endpoints").build(),
			rule("create").groups(legacyGroup).resources("endpoints/restricted").build(),
			rule("update").groups(legacyGroup).resources("services/finalizers").build(),
			rule("get", "list", "watch", "create", "update", "delete").groups(discoveryGroup).resources("endpointslices").build(),
			eventsRule(),
		),
		// service-account-controller and root-ca-cert-publisher: ours
		// keeps both the default ServiceAccount and kube-root-ca.crt.
		controllerRole("serviceaccount",
			rule("create").groups(legacyGroup).resources("serviceaccounts").build(),
			rule("create", "update").groups(legacyGroup).resources("configmaps").build(),
			eventsRule(),
		),
		// namespace-controller: lists and deletes everything in a
		// namespace being deleted.
		controllerRole("namespace",
			rule("get", "list", "watch", "delete").groups(legacyGroup).resources("namespaces").build(),
			rule("update").groups(legacyGroup).resources("namespaces/finalize", "namespaces/status").build(),
			rule("get", "list", "watch", "delete", "deletecollection").groups("*").resources("*").build(),
		),
		// generic-garbage-collector: reads, patches and deletes anything.
		controllerRole("garbagecollector",
			rule("get", "list", "watch", "patch", "update", "delete").groups("*").resources("*").build(),
			eventsRule(),
		),
	}
	var bindings []*rbacv1.ClusterRoleBinding
	for _, r := range roles {
		bindings = append(bindings, clusterBinding(r.Name, userSubject(r.Name)))
	}
	return roles, bindings
}

func controllerRole(name string, rules ...rbacv1.PolicyRule) *rbacv1.ClusterRole {
	return &rbacv1.ClusterRole{
		ObjectMeta: metav1.ObjectMeta{Name: ControllerUserPrefix + name},
		Rules:      rules,
	}
}
