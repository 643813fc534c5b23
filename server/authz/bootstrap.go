package authz

// The bootstrap policy: the ClusterRoles, ClusterRoleBindings, Roles and
// RoleBindings every sqlkube cluster starts with, taken from Kubernetes
// 1.32's bootstrap policy (plugin/pkg/auth/authorizer/rbac/bootstrappolicy:
// policy.go, controller_policy.go, namespace_policy.go). Every object is
// labelled kubernetes.io/bootstrapping=rbac-defaults and annotated
// rbac.authorization.kubernetes.io/autoupdate=true, as upstream.
//
// How it differs from Kubernetes':
//
//   - Controllers authenticate as users, not service accounts: the
//     ClusterRole system:controller:NAME is bound to User
//     system:controller:NAME (upstream binds ServiceAccount
//     kube-system/NAME-controller), and NAME is our controller's name.
//     Each role holds the rules of its upstream counterpart:
//     nodelifecycle and nodeipam (node-controller), replicaset (replicaset-controller),
//     deployment (deployment-controller), daemonset (daemon-set-controller),
//     statefulset (statefulset-controller), job (job-controller), cronjob
//     (cronjob-controller), disruption (disruption-controller), endpoints
//     (endpoint-controller and endpointslice-controller together: ours
//     writes both), serviceaccount (service-account-controller), namespace
//     (namespace-controller), garbagecollector (generic-garbage-collector).
//     Upstream controllers we do not run have no role: attachdetach,
//     clusterrole-aggregation, endpointslicemirroring, expand,
//     ephemeral-volume, resource-claim, horizontal-pod-autoscaler,
//     persistent-volume-binder, pod-garbage-collector,
//     replication-controller, resourcequota, route, service,
//     service-cidrs, ttl, certificate, pvc-protection, pv-protection,
//     ttl-after-finished, root-ca-cert-publisher,
//     validatingadmissionpolicy-status, legacy-service-account-token-
//     cleaner, bootstrap-signer, token-cleaner, cloud-provider and the
//     other feature-gated ones.
//   - Leader election: our controller manager holds the Lease
//     kube-system/sqlkube-controller-manager as User
//     system:kube-controller-manager. The kube-system Role
//     system::leader-locking-kube-controller-manager, bound to that user
//     as upstream, lets it get and update that Lease (upstream's grants
//     the kube-controller-manager ConfigMap, kept too); the ClusterRole
//     system:kube-controller-manager lets it create Leases, as upstream.
//     Upstream's binding of that Role to the ServiceAccount
//     kube-system/kube-controller-manager is left out (we have no such
//     account).
//   - Extra: the ClusterRoleBinding sqlkube:read-only binds Group
//     sqlkube:read-only to ClusterRole view (the group the server used to
//     let read everything; view does not read Secrets).
//   - Extra: system:node may get, list and watch EndpointSlices, for a
//     service proxy run with the node's credentials (upstream's kube-proxy
//     runs as system:kube-proxy, which system:node-proxier covers).
//   - Left out of system:node: get of storage.k8s.io volumeattachments
//     (upstream limits it by the node graph, which here knows no
//     VolumeAttachments; with the rule alone a node could read them all),
//     and the rules of features off by default in 1.32 (resource.k8s.io
//     resourceslices for DRA, certificates.k8s.io clustertrustbundles).
//     The Node authorizer here does not look at field selectors, so
//     upstream's AuthorizeNodeWithSelectors limits (a node lists only its
//     own pods and Node) are not applied: the rules alone decide.
//   - Left out of system:aggregate-to-edit: the coordination.k8s.io leases
//     rule that the upstream policy read for this port (a release newer
//     than 1.32) carries, because it could not be confirmed for 1.32; it
//     grants less, not more. The rest of edit follows that same reading.
//   - ClusterRoles left out, with their bindings: system:heapster,
//     system:kube-aggregator, system:kubelet-api-admin,
//     system:node-bootstrapper, system:node-problem-detector,
//     system:persistent-volume-provisioner, the
//     system:certificates.k8s.io:* approver and nodeclient roles,
//     system:service-account-issuer-discovery (we serve no OIDC
//     discovery). Roles left out: kube-system's
//     extension-apiserver-authentication-reader and
//     system::leader-locking-kube-scheduler (our scheduler runs under the
//     controller manager's lease), and the bootstrap-signer, cloud-provider
//     and token-cleaner roles of kube-system and kube-public.
//   - admin, edit and view are written with no rules, as upstream; the
//     aggregation controller (Aggregate) fills them. Policy.Source applies
//     the aggregation itself.

import (
	rbacv1 "k8s.io/api/rbac/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
)

// Labels and annotations of the bootstrap policy, as upstream.
const (
	BootstrapLabel      = "kubernetes.io/bootstrapping"
	BootstrapLabelValue = "rbac-defaults"
	AggregateToAdmin    = "rbac.authorization.k8s.io/aggregate-to-admin"
	AggregateToEdit     = "rbac.authorization.k8s.io/aggregate-to-edit"
	AggregateToView     = "rbac.authorization.k8s.io/aggregate-to-view"
)

// Users and groups the policy binds.
const (
	UserKubeControllerManager = "system:kube-controller-manager"
	UserKubeScheduler         = "system:kube-scheduler"
	UserKubeProxy             = "system:kube-proxy"
	// GroupReadOnly may read what ClusterRole view allows, everywhere.
	GroupReadOnly = "sqlkube:read-only"
	// ControllerUserPrefix prefixes our controllers' names in their user
	// names, and in the names of their ClusterRoles.
	ControllerUserPrefix = "system:controller:"
	// ControllerManagerLease is the Lease in kube-system the controller
	// manager holds to lead.
	ControllerManagerLease = "sqlkube-controller-manager"
)

const (
	legacyGroup         = ""
	appsGroup           = "apps"
	authenticationGroup = "authentication.k8s.io"
	authorizationGroup  = "authorization.k8s.io"
	autoscalingGroup    = "autoscaling"
	batchGroup          = "batch"
	certificatesGroup   = "certificates.k8s.io"
	coordinationGroup   = "coordination.k8s.io"
	discoveryGroup      = "discovery.k8s.io"
	eventsGroup         = "events.k8s.io"
	extensionsGroup     = "extensions"
	networkingGroup     = "networking.k8s.io"
	nodeGroup           = "node.k8s.io"
	policyGroup         = "policy"
	rbacGroup           = rbacv1.GroupName
	storageGroup        = "storage.k8s.io"
)

var (
	verbsRead      = []string{"get", "list", "watch"}
	verbsWrite     = []string{"create", "update", "patch", "delete", "deletecollection"}
	verbsReadWrite = []string{"get", "list", "watch", "create", "update", "patch", "delete", "deletecollection"}
)

// Policy is a set of RBAC objects to write at start-up.
type Policy struct {
	ClusterRoles        []*rbacv1.ClusterRole
	ClusterRoleBindings []*rbacv1.ClusterRoleBinding
	// Roles and RoleBindings are namespaced (kube-system).
	Roles        []*rbacv1.Role
	RoleBindings []*rbacv1.RoleBinding
}

// BootstrapPolicy returns the bootstrap policy, fresh objects on every
// call. Aggregated roles (admin, edit, view) have no rules: run Aggregate,
// or use Source.
func BootstrapPolicy() Policy {
	p := Policy{
		ClusterRoles:        clusterRoles(),
		ClusterRoleBindings: clusterRoleBindings(),
	}
	roles, bindings := controllerRoles()
	p.ClusterRoles = append(p.ClusterRoles, roles...)
	p.ClusterRoleBindings = append(p.ClusterRoleBindings, bindings...)
	p.Roles, p.RoleBindings = namespaceRoles()
	for _, o := range p.ClusterRoles {
		defaultMeta(&o.ObjectMeta)
	}
	for _, o := range p.ClusterRoleBindings {
		defaultMeta(&o.ObjectMeta)
	}
	for _, o := range p.Roles {
		defaultMeta(&o.ObjectMeta)
	}
	for _, o := range p.RoleBindings {
		defaultMeta(&o.ObjectMeta)
	}
	return p
}

// Source returns a Source over deep copies of p's objects, with the
// aggregated ClusterRoles holding their aggregated rules. It panics if an
// aggregation selector is invalid, which only a broken policy can cause.
func (p Policy) Source() *StaticSource {
	s := &StaticSource{}
	for _, o := range p.ClusterRoles {
		s.ClusterRoles = append(s.ClusterRoles, o.DeepCopy())
	}
	for _, o := range p.ClusterRoleBindings {
		s.ClusterRoleBindings = append(s.ClusterRoleBindings, o.DeepCopy())
	}
	for _, o := range p.Roles {
		s.Roles = append(s.Roles, o.DeepCopy())
	}
	for _, o := range p.RoleBindings {
		s.RoleBindings = append(s.RoleBindings, o.DeepCopy())
	}
	if err := AggregateAll(s.ClusterRoles); err != nil {
		panic(err)
	}
	return s
}

func defaultMeta(m *metav1.ObjectMeta) {
	if m.Labels == nil {
		m.Labels = map[string]string{}
	}
	m.Labels[BootstrapLabel] = BootstrapLabelValue
	if m.Annotations == nil {
		m.Annotations = map[string]string{}
	}
	m.Annotations[rbacv1.AutoUpdateAnnotationKey] = "true"
}

func eventsRule() rbacv1.PolicyRule {
	return rule("create", "update", "patch").groups(legacyGroup, eventsGroup).resources("events").build()
}

func clusterRole(name string, labels map[string]string, rules ...rbacv1.PolicyRule) *rbacv1.ClusterRole {
	return &rbacv1.ClusterRole{ObjectMeta: metav1.ObjectMeta{Name: name, Labels: labels}, Rules: rules}
}

func aggregated(name string, labels map[string]string, selectLabel string) *rbacv1.ClusterRole {
	r := clusterRole(name, labels)
	r.AggregationRule = &rbacv1.AggregationRule{ClusterRoleSelectors: []metav1.LabelSelector{
		{MatchLabels: map[string]string{selectLabel: "true"}},
	}}
	return r
}

func clusterBinding(role string, subjects ...rbacv1.Subject) *rbacv1.ClusterRoleBinding {
	return &rbacv1.ClusterRoleBinding{
		ObjectMeta: metav1.ObjectMeta{Name: role},
		RoleRef:    rbacv1.RoleRef{APIGroup: rbacGroup, Kind: "ClusterRole", Name: role},
		Subjects:   subjects,
	}
}

func userSubject(name string) rbacv1.Subject {
	return rbacv1.Subject{Kind: rbacv1.UserKind, APIGroup: rbacGroup, Name: name}
}

func groupSubject(name string) rbacv1.Subject {
	return rbacv1.Subject{Kind: rbacv1.GroupKind, APIGroup: rbacGroup, Name: name}
}

func saSubject(namespace, name string) rbacv1.Subject {
	return rbacv1.Subject{Kind: rbacv1.ServiceAccountKind, Namespace: namespace, Name: name}
}

// NodeRules returns the rules of upstream's system:node role (NodeRules in
// bootstrappolicy, Kubernetes 1.32, default feature gates), less the
// volumeattachments rule and plus EndpointSlice reads (see the top of
// bootstrap.go). The Node authorizer narrows the secret, configmap,
// claim, volume, token, lease and csinode rules to the node's own.
func NodeRules() []rbacv1.PolicyRule {
	return []rbacv1.PolicyRule{
		// API access checks; these creates change nothing.
		rule("create").groups(authenticationGroup).resources("tokenreviews").build(),
		rule("create").groups(authorizationGroup).resources("subjectaccessreviews", "localsubjectaccessreviews").build(),
		// Service environment variables.
		rule(verbsRead...).groups(legacyGroup).resources("services").build(),
		// Register and report the Node (admission limits it to its own).
		rule("create", "get", "list", "watch").groups(legacyGroup).resources("nodes").build(),
		rule("update", "patch").groups(legacyGroup).resources("nodes/status").build(),
		rule("update", "patch").groups(legacyGroup).resources("nodes").build(),
		rule("create", "update", "patch").groups(legacyGroup).resources("events").build(),
		// Pods: read, mirror pods, status, evictions (admission limits
		// writes to pods bound to the node).
		rule(verbsRead...).groups(legacyGroup).resources("pods").build(),
		rule("create", "delete").groups(legacyGroup).resources("pods").build(),
		rule("update", "patch").groups(legacyGroup).resources("pods/status").build(),
		rule("create").groups(legacyGroup).resources("pods/eviction").build(),
		// Narrowed by the Node authorizer to what the node's pods use.
		rule(verbsRead...).groups(legacyGroup).resources("secrets", "configmaps").build(),
		rule("get").groups(legacyGroup).resources("persistentvolumeclaims", "persistentvolumes").build(),
		rule("get").groups(legacyGroup).resources("endpoints").build(),
		rule("create", "get", "list", "watch").groups(certificatesGroup).resources("certificatesigningrequests").build(),
		// Narrowed by the Node authorizer to the node's own Lease.
		rule("get", "create", "update", "patch", "delete").groups(coordinationGroup).resources("leases").build(),
		rule("create").groups(legacyGroup).resources("serviceaccounts/token").build(),
		rule("get", "update", "patch").groups(legacyGroup).resources("persistentvolumeclaims/status").build(),
		rule(verbsRead...).groups(storageGroup).resources("csidrivers").build(),
		rule("get", "create", "update", "patch", "delete").groups(storageGroup).resources("csinodes").build(),
		rule(verbsRead...).groups(nodeGroup).resources("runtimeclasses").build(),
		// sqlkube: a service proxy run with the node's credentials.
		rule(verbsRead...).groups(discoveryGroup).resources("endpointslices").build(),
	}
}

func clusterRoles() []*rbacv1.ClusterRole {
	return []*rbacv1.ClusterRole{
		clusterRole("cluster-admin", nil,
			rule("*").groups("*").resources("*").build(),
			rule("*").urls("*").build(),
		),
		clusterRole("system:discovery", nil,
			rule("get").urls("/livez", "/readyz", "/healthz", "/version", "/version/",
				"/openapi", "/openapi/*", "/api", "/api/*", "/apis", "/apis/*").build(),
		),
		clusterRole("system:monitoring", nil,
			rule("get").urls("/metrics", "/metrics/slis", "/livez", "/readyz", "/healthz",
				"/livez/*", "/readyz/*", "/healthz/*").build(),
		),
		clusterRole("system:basic-user", nil,
			rule("create").groups(authorizationGroup).resources("selfsubjectaccessreviews", "selfsubjectrulesreviews").build(),
			rule("create").groups(authenticationGroup).resources("selfsubjectreviews").build(),
		),
		clusterRole("system:public-info-viewer", nil,
			rule("get").urls("/livez", "/readyz", "/healthz", "/version", "/version/").build(),
		),
		aggregated("admin", nil, AggregateToAdmin),
		aggregated("edit", map[string]string{AggregateToAdmin: "true"}, AggregateToEdit),
		aggregated("view", map[string]string{AggregateToEdit: "true"}, AggregateToView),
		clusterRole("system:aggregate-to-admin", map[string]string{AggregateToAdmin: "true"},
			rule("create").groups(authorizationGroup).resources("localsubjectaccessreviews").build(),
			rule(verbsReadWrite...).groups(rbacGroup).resources("roles", "rolebindings").build(),
		),
		clusterRole("system:aggregate-to-edit", map[string]string{AggregateToEdit: "true"},
			// Reads of resources that let one act as others: edit only.
			rule(verbsRead...).groups(legacyGroup).resources("pods/attach", "pods/proxy", "pods/exec", "pods/portforward", "secrets", "services/proxy").build(),
			rule("impersonate").groups(legacyGroup).resources("serviceaccounts").build(),
			rule(verbsWrite...).groups(legacyGroup).resources("pods", "pods/attach", "pods/proxy", "pods/exec", "pods/portforward").build(),
			rule("create").groups(legacyGroup).resources("pods/eviction").build(),
			rule(verbsWrite...).groups(legacyGroup).resources("replicationcontrollers", "replicationcontrollers/scale", "serviceaccounts",
				"services", "services/proxy", "persistentvolumeclaims", "configmaps", "secrets", "events").build(),
			rule("create").groups(legacyGroup).resources("serviceaccounts/token").build(),
			rule(verbsWrite...).groups(appsGroup).resources("statefulsets", "statefulsets/scale", "daemonsets",
				"deployments", "deployments/scale", "deployments/rollback", "replicasets", "replicasets/scale").build(),
			rule(verbsWrite...).groups(autoscalingGroup).resources("horizontalpodautoscalers").build(),
			rule(verbsWrite...).groups(batchGroup).resources("jobs", "cronjobs").build(),
			rule(verbsWrite...).groups(extensionsGroup).resources("daemonsets", "deployments", "deployments/scale", "deployments/rollback",
				"ingresses", "replicasets", "replicasets/scale", "replicationcontrollers/scale", "networkpolicies").build(),
			rule(verbsWrite...).groups(policyGroup).resources("poddisruptionbudgets").build(),
			rule(verbsWrite...).groups(networkingGroup).resources("networkpolicies", "ingresses").build(),
		),
		clusterRole("system:aggregate-to-view", map[string]string{AggregateToView: "true"},
			rule(verbsRead...).groups(legacyGroup).resources("pods", "replicationcontrollers", "replicationcontrollers/scale", "serviceaccounts",
				"services", "services/status", "endpoints", "persistentvolumeclaims", "persistentvolumeclaims/status", "configmaps").build(),
			rule(verbsRead...).groups(legacyGroup).resources("limitranges", "resourcequotas", "bindings", "events",
				"pods/status", "resourcequotas/status", "namespaces/status", "replicationcontrollers/status", "pods/log").build(),
			// Reading namespaces in a namespace means reading that one.
			rule(verbsRead...).groups(legacyGroup).resources("namespaces").build(),
			rule(verbsRead...).groups(discoveryGroup).resources("endpointslices").build(),
			rule(verbsRead...).groups(appsGroup).resources("controllerrevisions",
				"statefulsets", "statefulsets/status", "statefulsets/scale",
				"daemonsets", "daemonsets/status",
				"deployments", "deployments/status", "deployments/scale",
				"replicasets", "replicasets/status", "replicasets/scale").build(),
			rule(verbsRead...).groups(autoscalingGroup).resources("horizontalpodautoscalers", "horizontalpodautoscalers/status").build(),
			rule(verbsRead...).groups(batchGroup).resources("jobs", "cronjobs", "cronjobs/status", "jobs/status").build(),
			rule(verbsRead...).groups(extensionsGroup).resources("daemonsets", "daemonsets/status", "deployments", "deployments/scale", "deployments/status",
				"ingresses", "ingresses/status", "replicasets", "replicasets/scale", "replicasets/status", "replicationcontrollers/scale",
				"networkpolicies").build(),
			rule(verbsRead...).groups(policyGroup).resources("poddisruptionbudgets", "poddisruptionbudgets/status").build(),
			rule(verbsRead...).groups(networkingGroup).resources("networkpolicies", "ingresses", "ingresses/status").build(),
		),
		clusterRole("system:node", nil, NodeRules()...),
		clusterRole("system:node-proxier", nil,
			rule("list", "watch").groups(legacyGroup).resources("services", "endpoints").build(),
			rule(verbsRead...).groups(legacyGroup).resources("nodes").build(),
			eventsRule(),
			rule("list", "watch").groups(discoveryGroup).resources("endpointslices").build(),
		),
		clusterRole("system:auth-delegator", nil,
			rule("create").groups(authenticationGroup).resources("tokenreviews").build(),
			rule("create").groups(authorizationGroup).resources("subjectaccessreviews").build(),
		),
		clusterRole("system:kube-controller-manager", nil,
			eventsRule(),
			// Leader election: any Lease may be created, only its own
			// updated (ours by the kube-system Role below).
			rule("create").groups(coordinationGroup).resources("leases").build(),
			rule("get", "update").groups(coordinationGroup).resources("leases").names("kube-controller-manager").build(),
			// Service account token controller and bootstrapping.
			rule("create").groups(legacyGroup).resources("secrets", "serviceaccounts").build(),
			rule("delete").groups(legacyGroup).resources("secrets").build(),
			rule("get").groups(legacyGroup).resources("namespaces", "secrets", "serviceaccounts", "configmaps").build(),
			rule("update").groups(legacyGroup).resources("secrets", "serviceaccounts").build(),
			// Delegated authentication and authorization.
			rule("create").groups(authenticationGroup).resources("tokenreviews").build(),
			rule("create").groups(authorizationGroup).resources("subjectaccessreviews").build(),
			// The shared informers of every controller.
			rule("list", "watch").groups("*").resources("*").build(),
			rule("create").groups(legacyGroup).resources("serviceaccounts/token").build(),
		),
		clusterRole("system:kube-dns", nil,
			rule("list", "watch").groups(legacyGroup).resources("endpoints", "services").build(),
		),
		clusterRole("system:kube-scheduler", nil,
			eventsRule(),
			rule("create").groups(coordinationGroup).resources("leases").build(),
			rule("get", "update").groups(coordinationGroup).resources("leases").names("kube-scheduler").build(),
			rule(verbsRead...).groups(legacyGroup).resources("nodes").build(),
			rule("get", "list", "watch", "delete").groups(legacyGroup).resources("pods").build(),
			rule("create").groups(legacyGroup).resources("pods/binding", "bindings").build(),
			rule("patch", "update").groups(legacyGroup).resources("pods/status").build(),
			rule(verbsRead...).groups(legacyGroup).resources("replicationcontrollers", "services").build(),
			rule(verbsRead...).groups(appsGroup, extensionsGroup).resources("replicasets").build(),
			rule(verbsRead...).groups(appsGroup).resources("statefulsets").build(),
			rule(verbsRead...).groups(policyGroup).resources("poddisruptionbudgets").build(),
			rule(verbsRead...).groups(legacyGroup).resources("persistentvolumeclaims", "persistentvolumes").build(),
			rule("create").groups(authenticationGroup).resources("tokenreviews").build(),
			rule("create").groups(authorizationGroup).resources("subjectaccessreviews").build(),
			rule(verbsRead...).groups(storageGroup).resources("csinodes").build(),
			rule(verbsRead...).groups(legacyGroup).resources("namespaces").build(),
			rule(verbsRead...).groups(storageGroup).resources("csidrivers").build(),
			rule(verbsRead...).groups(storageGroup).resources("csistoragecapacities").build(),
		),
		clusterRole("system:volume-scheduler", nil,
			rule("get", "list", "watch", "update", "patch").groups(legacyGroup).resources("persistentvolumes").build(),
			rule(verbsRead...).groups(storageGroup).resources("storageclasses").build(),
			rule("get", "list", "watch", "update", "patch").groups(legacyGroup).resources("persistentvolumeclaims").build(),
		),
	}
}

func clusterRoleBindings() []*rbacv1.ClusterRoleBinding {
	return []*rbacv1.ClusterRoleBinding{
		clusterBinding("cluster-admin", groupSubject(GroupMasters)),
		clusterBinding("system:monitoring", groupSubject("system:monitoring")),
		clusterBinding("system:discovery", groupSubject(GroupAuthenticated)),
		clusterBinding("system:basic-user", groupSubject(GroupAuthenticated)),
		clusterBinding("system:public-info-viewer", groupSubject(GroupAuthenticated), groupSubject(GroupUnauthenticated)),
		// As upstream: the binding exists with no subjects; nodes are
		// authorized by the Node authorizer.
		clusterBinding("system:node"),
		clusterBinding("system:node-proxier", userSubject(UserKubeProxy)),
		clusterBinding("system:kube-controller-manager", userSubject(UserKubeControllerManager)),
		clusterBinding("system:kube-dns", saSubject("kube-system", "kube-dns")),
		clusterBinding("system:kube-scheduler", userSubject(UserKubeScheduler)),
		clusterBinding("system:volume-scheduler", userSubject(UserKubeScheduler)),
		// sqlkube: the read-only group reads what view allows, everywhere.
		{
			ObjectMeta: metav1.ObjectMeta{Name: GroupReadOnly},
			RoleRef:    rbacv1.RoleRef{APIGroup: rbacGroup, Kind: "ClusterRole", Name: "view"},
			Subjects:   []rbacv1.Subject{groupSubject(GroupReadOnly)},
		},
	}
}

func namespaceRoles() ([]*rbacv1.Role, []*rbacv1.RoleBinding) {
	const ns = metav1.NamespaceSystem
	const name = "system::leader-locking-kube-controller-manager"
	role := &rbacv1.Role{
		ObjectMeta: metav1.ObjectMeta{Namespace: ns, Name: name},
		Rules: []rbacv1.PolicyRule{
			rule("watch").groups(legacyGroup).resources("configmaps").build(),
			rule("get", "update").groups(legacyGroup).resources("configmaps").names("kube-controller-manager").build(),
			// sqlkube: the controller manager's leader Lease.
			rule("get", "update").groups(coordinationGroup).resources("leases").names(ControllerManagerLease).build(),
		},
	}
	binding := &rbacv1.RoleBinding{
		ObjectMeta: metav1.ObjectMeta{Namespace: ns, Name: name},
		RoleRef:    rbacv1.RoleRef{APIGroup: rbacGroup, Kind: "Role", Name: name},
		Subjects:   []rbacv1.Subject{userSubject(UserKubeControllerManager)},
	}
	return []*rbacv1.Role{role}, []*rbacv1.RoleBinding{binding}
}
