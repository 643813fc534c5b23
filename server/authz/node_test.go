package authz

import (
	"context"
	"errors"
	"testing"

	corev1 "k8s.io/api/core/v1"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
)

type fakeGraph struct {
	pods   []*corev1.Pod
	claims []*corev1.PersistentVolumeClaim
	err    error
}

func (g *fakeGraph) PodsOnNode(node string) ([]*corev1.Pod, error) {
	if g.err != nil {
		return nil, g.err
	}
	var out []*corev1.Pod
	for _, p := range g.pods {
		if p.Spec.NodeName == node {
			out = append(out, p)
		}
	}
	return out, nil
}

func (g *fakeGraph) GetPersistentVolumeClaim(namespace, name string) (*corev1.PersistentVolumeClaim, error) {
	for _, c := range g.claims {
		if c.Namespace == namespace && c.Name == name {
			return c, nil
		}
	}
	return nil, apierrors.NewNotFound(corev1.Resource("persistentvolumeclaims"), name)
}

func pod(ns, name, node string, spec corev1.PodSpec) *corev1.Pod {
	spec.NodeName = node
	return &corev1.Pod{ObjectMeta: metav1.ObjectMeta{Namespace: ns, Name: name}, Spec: spec}
}

func TestNodeAuthorizer(t *testing.T) {
	graph := &fakeGraph{
		pods: []*corev1.Pod{
			pod("a", "web", "A", corev1.PodSpec{
				ServiceAccountName: "web-sa",
				ImagePullSecrets:   []corev1.LocalObjectReference{{Name: "pull"}},
				Volumes: []corev1.Volume{
					{Name: "certs", VolumeSource: corev1.VolumeSource{Secret: &corev1.SecretVolumeSource{SecretName: "vol-secret"}}},
					{Name: "proj", VolumeSource: corev1.VolumeSource{Projected: &corev1.ProjectedVolumeSource{Sources: []corev1.VolumeProjection{
						{ConfigMap: &corev1.ConfigMapProjection{LocalObjectReference: corev1.LocalObjectReference{Name: "proj-cm"}}},
						{Secret: &corev1.SecretProjection{LocalObjectReference: corev1.LocalObjectReference{Name: "proj-secret"}}},
					}}}},
					{Name: "data", VolumeSource: corev1.VolumeSource{PersistentVolumeClaim: &corev1.PersistentVolumeClaimVolumeSource{ClaimName: "data"}}},
					{Name: "scratch", VolumeSource: corev1.VolumeSource{Ephemeral: &corev1.EphemeralVolumeSource{}}},
				},
				Containers: []corev1.Container{{
					Name: "app",
					Env: []corev1.EnvVar{{Name: "PW", ValueFrom: &corev1.EnvVarSource{
						SecretKeyRef: &corev1.SecretKeySelector{LocalObjectReference: corev1.LocalObjectReference{Name: "env-secret"}, Key: "pw"},
					}}},
					EnvFrom: []corev1.EnvFromSource{{ConfigMapRef: &corev1.ConfigMapEnvSource{LocalObjectReference: corev1.LocalObjectReference{Name: "envfrom-cm"}}}},
				}},
				InitContainers: []corev1.Container{{
					Name:    "init",
					EnvFrom: []corev1.EnvFromSource{{SecretRef: &corev1.SecretEnvSource{LocalObjectReference: corev1.LocalObjectReference{Name: "init-secret"}}}},
				}},
				EphemeralContainers: []corev1.EphemeralContainer{{EphemeralContainerCommon: corev1.EphemeralContainerCommon{
					Name: "debug",
					Env: []corev1.EnvVar{{Name: "X", ValueFrom: &corev1.EnvVarSource{
						ConfigMapKeyRef: &corev1.ConfigMapKeySelector{LocalObjectReference: corev1.LocalObjectReference{Name: "debug-cm"}, Key: "x"},
					}}},
				}}},
			}),
			pod("a", "db", "B", corev1.PodSpec{
				ServiceAccountName: "db-sa",
				Volumes: []corev1.Volume{
					{Name: "s", VolumeSource: corev1.VolumeSource{Secret: &corev1.SecretVolumeSource{SecretName: "b-secret"}}},
					{Name: "d", VolumeSource: corev1.VolumeSource{PersistentVolumeClaim: &corev1.PersistentVolumeClaimVolumeSource{ClaimName: "b-data"}}},
				},
			}),
		},
		claims: []*corev1.PersistentVolumeClaim{
			{ObjectMeta: metav1.ObjectMeta{Namespace: "a", Name: "data"}, Spec: corev1.PersistentVolumeClaimSpec{VolumeName: "pv-data"}},
			{ObjectMeta: metav1.ObjectMeta{Namespace: "a", Name: "web-scratch"}, Spec: corev1.PersistentVolumeClaimSpec{VolumeName: "pv-scratch"}},
			{ObjectMeta: metav1.ObjectMeta{Namespace: "a", Name: "b-data"}, Spec: corev1.PersistentVolumeClaimSpec{VolumeName: "pv-b"}},
		},
	}
	nodeA := User{Name: "system:node:A", Groups: []string{GroupNodes, GroupAuthenticated}}
	notInGroup := User{Name: "system:node:A", Groups: []string{GroupAuthenticated}}
	admin := User{Name: "admin", Groups: []string{GroupMasters}}

	tests := []struct {
		name string
		a    Attributes
		want Decision
	}{
		{"secret via volume", as(nodeA, res("get", "", "secrets", "", "a", "vol-secret")), DecisionAllow},
		{"secret via env secretKeyRef", as(nodeA, res("get", "", "secrets", "", "a", "env-secret")), DecisionAllow},
		{"secret via imagePullSecrets", as(nodeA, res("get", "", "secrets", "", "a", "pull")), DecisionAllow},
		{"secret via projected volume", as(nodeA, res("get", "", "secrets", "", "a", "proj-secret")), DecisionAllow},
		{"secret via init container envFrom", as(nodeA, res("get", "", "secrets", "", "a", "init-secret")), DecisionAllow},
		{"secret watched by name", as(nodeA, res("watch", "", "secrets", "", "a", "vol-secret")), DecisionAllow},
		{"secret of a pod on another node", as(nodeA, res("get", "", "secrets", "", "a", "b-secret")), DecisionNoOpinion},
		{"secret in another namespace", as(nodeA, res("get", "", "secrets", "", "b", "vol-secret")), DecisionNoOpinion},
		{"secret nobody uses", as(nodeA, res("get", "", "secrets", "", "a", "other")), DecisionNoOpinion},
		{"list of secrets", as(nodeA, res("list", "", "secrets", "", "a", "")), DecisionNoOpinion},
		{"list of secrets everywhere", as(nodeA, res("list", "", "secrets", "", "", "")), DecisionNoOpinion},
		{"update of a used secret", as(nodeA, res("update", "", "secrets", "", "a", "vol-secret")), DecisionNoOpinion},
		{"configmap via projected volume", as(nodeA, res("get", "", "configmaps", "", "a", "proj-cm")), DecisionAllow},
		{"configmap via envFrom", as(nodeA, res("get", "", "configmaps", "", "a", "envfrom-cm")), DecisionAllow},
		{"configmap via ephemeral container env", as(nodeA, res("get", "", "configmaps", "", "a", "debug-cm")), DecisionAllow},
		{"configmap nobody uses", as(nodeA, res("get", "", "configmaps", "", "a", "other")), DecisionNoOpinion},
		{"list of configmaps", as(nodeA, res("list", "", "configmaps", "", "a", "")), DecisionNoOpinion},
		{"claim used by its pod", as(nodeA, res("get", "", "persistentvolumeclaims", "", "a", "data")), DecisionAllow},
		{"ephemeral claim of its pod", as(nodeA, res("get", "", "persistentvolumeclaims", "", "a", "web-scratch")), DecisionAllow},
		{"claim status update", as(nodeA, res("patch", "", "persistentvolumeclaims", "status", "a", "data")), DecisionAllow},
		{"claim list", as(nodeA, res("list", "", "persistentvolumeclaims", "", "a", "")), DecisionNoOpinion},
		{"claim of another node", as(nodeA, res("get", "", "persistentvolumeclaims", "", "a", "b-data")), DecisionNoOpinion},
		{"claim delete", as(nodeA, res("delete", "", "persistentvolumeclaims", "", "a", "data")), DecisionNoOpinion},
		{"volume bound to its claim", as(nodeA, res("get", "", "persistentvolumes", "", "", "pv-data")), DecisionAllow},
		{"volume bound to its ephemeral claim", as(nodeA, res("get", "", "persistentvolumes", "", "", "pv-scratch")), DecisionAllow},
		{"volume of another node", as(nodeA, res("get", "", "persistentvolumes", "", "", "pv-b")), DecisionNoOpinion},
		{"token for its pod's service account", as(nodeA, res("create", "", "serviceaccounts", "token", "a", "web-sa")), DecisionAllow},
		{"token for another node's service account", as(nodeA, res("create", "", "serviceaccounts", "token", "a", "db-sa")), DecisionNoOpinion},
		{"token for its service account in another namespace", as(nodeA, res("create", "", "serviceaccounts", "token", "b", "web-sa")), DecisionNoOpinion},
		{"get of its service account", as(nodeA, res("get", "", "serviceaccounts", "", "a", "web-sa")), DecisionNoOpinion},
		{"get pods", as(nodeA, res("get", "", "pods", "", "a", "db")), DecisionAllow},
		{"list pods", as(nodeA, res("list", "", "pods", "", "", "")), DecisionAllow},
		{"watch pods", as(nodeA, res("watch", "", "pods", "", "", "")), DecisionAllow},
		{"update pod status", as(nodeA, res("update", "", "pods", "status", "a", "web")), DecisionAllow},
		{"create eviction", as(nodeA, res("create", "", "pods", "eviction", "a", "web")), DecisionAllow},
		{"update pods", as(nodeA, res("update", "", "pods", "", "a", "web")), DecisionNoOpinion},
		{"bind pods", as(nodeA, res("create", "", "pods", "binding", "a", "web")), DecisionNoOpinion},
		{"create node", as(nodeA, res("create", "", "nodes", "", "", "")), DecisionAllow},
		{"update node status", as(nodeA, res("patch", "", "nodes", "status", "", "A")), DecisionAllow},
		{"delete node", as(nodeA, res("delete", "", "nodes", "", "", "A")), DecisionNoOpinion},
		{"create events", as(nodeA, res("create", "", "events", "", "a", "")), DecisionAllow},
		{"own lease", as(nodeA, res("update", coordinationGroup, "leases", "", "kube-node-lease", "A")), DecisionAllow},
		{"create lease", as(nodeA, res("create", coordinationGroup, "leases", "", "kube-node-lease", "")), DecisionAllow},
		{"another node's lease", as(nodeA, res("update", coordinationGroup, "leases", "", "kube-node-lease", "B")), DecisionNoOpinion},
		{"lease elsewhere", as(nodeA, res("update", coordinationGroup, "leases", "", "kube-system", "A")), DecisionNoOpinion},
		{"list leases", as(nodeA, res("list", coordinationGroup, "leases", "", "kube-node-lease", "")), DecisionNoOpinion},
		{"own csinode", as(nodeA, res("update", storageGroup, "csinodes", "", "", "A")), DecisionAllow},
		{"another csinode", as(nodeA, res("update", storageGroup, "csinodes", "", "", "B")), DecisionNoOpinion},
		{"token review", as(nodeA, res("create", authenticationGroup, "tokenreviews", "", "", "")), DecisionAllow},
		{"subject access review", as(nodeA, res("create", authorizationGroup, "subjectaccessreviews", "", "", "")), DecisionAllow},
		{"endpointslices", as(nodeA, res("watch", discoveryGroup, "endpointslices", "", "", "")), DecisionAllow},
		{"runtimeclasses", as(nodeA, res("list", nodeGroup, "runtimeclasses", "", "", "")), DecisionAllow},
		{"services", as(nodeA, res("list", "", "services", "", "", "")), DecisionAllow},
		{"deployments", as(nodeA, res("get", "apps", "deployments", "", "a", "d")), DecisionNoOpinion},
		{"volumeattachments are left out", as(nodeA, res("get", storageGroup, "volumeattachments", "", "", "va")), DecisionNoOpinion},
		{"non-resource", as(nodeA, path("get", "/healthz")), DecisionNoOpinion},
		{"node name without the nodes group", as(notInGroup, res("get", "", "pods", "", "a", "web")), DecisionNoOpinion},
		{"empty node name", as(User{Name: "system:node:", Groups: []string{GroupNodes}}, res("get", "", "pods", "", "a", "web")), DecisionNoOpinion},
		{"not a node", as(admin, res("get", "", "secrets", "", "a", "vol-secret")), DecisionNoOpinion},
	}
	n := NewNode(graph)
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			d, reason, err := n.Authorize(context.Background(), tt.a)
			if err != nil {
				t.Fatalf("Authorize: %v", err)
			}
			if d != tt.want {
				t.Errorf("decision %v, want %v (reason %q)", d, tt.want, reason)
			}
		})
	}
}

func TestNodeAuthorizerGraphError(t *testing.T) {
	boom := errors.New("boom")
	n := NewNode(&fakeGraph{err: boom})
	nodeA := User{Name: "system:node:A", Groups: []string{GroupNodes}}
	d, _, err := n.Authorize(context.Background(), as(nodeA, res("get", "", "secrets", "", "a", "s")))
	if d != DecisionNoOpinion || !errors.Is(err, boom) {
		t.Errorf("got %v, %v; want no opinion and the graph's error", d, err)
	}
}
