package server_test

import (
	"context"
	"encoding/json"
	"strings"
	"testing"

	corev1 "k8s.io/api/core/v1"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/util/intstr"
	appsv1ac "k8s.io/client-go/applyconfigurations/apps/v1"
	corev1ac "k8s.io/client-go/applyconfigurations/core/v1"
	metav1ac "k8s.io/client-go/applyconfigurations/meta/v1"
)

// ownedFields returns the fieldsV1 manager owns through operation op as
// a tree of maps ("f:spec" -> "f:ports" -> `k:{"port":53,...}` -> ...).
func ownedFields(t *testing.T, entries []metav1.ManagedFieldsEntry, manager string, op metav1.ManagedFieldsOperationType) map[string]any {
	t.Helper()
	for _, e := range entries {
		if e.Manager != manager || e.Operation != op {
			continue
		}
		var tree map[string]any
		if err := json.Unmarshal(e.FieldsV1.Raw, &tree); err != nil {
			t.Fatalf("fieldsV1 of %s: %v", manager, err)
		}
		return tree
	}
	t.Fatalf("no %s entry for manager %s in %v", op, manager, entries)
	return nil
}

// keysAt returns the list-map keys ("k:{...}") found at path in tree.
func keysAt(t *testing.T, tree map[string]any, path ...string) []string {
	t.Helper()
	node := tree
	for _, p := range path {
		next, ok := node[p].(map[string]any)
		if !ok {
			t.Fatalf("%s not in the managed fields %v", strings.Join(path, "."), tree)
		}
		node = next
	}
	var keys []string
	for k := range node {
		if strings.HasPrefix(k, "k:") {
			keys = append(keys, k)
		}
	}
	return keys
}

func sameSet(a []string, b ...string) bool {
	if len(a) != len(b) {
		return false
	}
	seen := map[string]bool{}
	for _, s := range a {
		seen[s] = true
	}
	for _, s := range b {
		if !seen[s] {
			return false
		}
	}
	return true
}

const (
	keyTCP53 = `k:{"port":53,"protocol":"TCP"}`
	keyUDP53 = `k:{"port":53,"protocol":"UDP"}`
)

// dnsService is what every DNS chart applies: port 53 twice, over TCP
// and UDP. Server-side apply must key ServiceSpec.ports by (port,
// protocol), as kube-apiserver's schema does, not by port alone.
func dnsService(tcp bool) *corev1ac.ServiceApplyConfiguration {
	spec := corev1ac.ServiceSpec().WithSelector(map[string]string{"app": "dns"})
	if tcp {
		spec.WithPorts(corev1ac.ServicePort().WithName("dns-tcp").WithPort(53).WithProtocol(corev1.ProtocolTCP).WithTargetPort(intstr.FromInt32(53)))
	}
	spec.WithPorts(corev1ac.ServicePort().WithName("dns").WithPort(53).WithProtocol(corev1.ProtocolUDP).WithTargetPort(intstr.FromInt32(53)))
	return corev1ac.Service("dns", "default").WithSpec(spec)
}

func TestServerSideApplyServicePortsKeyedByPortAndProtocol(t *testing.T) {
	ts := start(t, "")
	ctx := context.Background()
	svcs := ts.client.CoreV1().Services("default")

	svc, err := svcs.Apply(ctx, dnsService(true), metav1.ApplyOptions{FieldManager: "chart"})
	if err != nil {
		t.Fatalf("apply of a Service with port 53 over TCP and UDP: %v", err)
	}
	if len(svc.Spec.Ports) != 2 || svc.Spec.Ports[0].Protocol != corev1.ProtocolTCP || svc.Spec.Ports[1].Protocol != corev1.ProtocolUDP {
		t.Fatalf("ports after the first apply: %+v", svc.Spec.Ports)
	}
	if keys := keysAt(t, ownedFields(t, svc.ManagedFields, "chart", metav1.ManagedFieldsOperationApply), "f:spec", "f:ports"); !sameSet(keys, keyTCP53, keyUDP53) {
		t.Fatalf("chart owns the ports %v, want %s and %s", keys, keyTCP53, keyUDP53)
	}

	// Another manager naming the TCP port differently conflicts on that
	// entry alone.
	_, err = svcs.Apply(ctx, corev1ac.Service("dns", "default").WithSpec(corev1ac.ServiceSpec().WithPorts(
		corev1ac.ServicePort().WithName("other").WithPort(53).WithProtocol(corev1.ProtocolTCP))), metav1.ApplyOptions{FieldManager: "other"})
	if !apierrors.IsConflict(err) || !strings.Contains(err.Error(), `.spec.ports[port=53,protocol="TCP"].name`) {
		t.Fatalf("apply renaming the TCP port: got %v, want a conflict on .spec.ports[port=53,protocol=\"TCP\"].name", err)
	}

	// Applying without the TCP port removes it, and only it.
	svc, err = svcs.Apply(ctx, dnsService(false), metav1.ApplyOptions{FieldManager: "chart"})
	if err != nil {
		t.Fatalf("re-apply without the TCP port: %v", err)
	}
	if len(svc.Spec.Ports) != 1 || svc.Spec.Ports[0].Name != "dns" || svc.Spec.Ports[0].Protocol != corev1.ProtocolUDP {
		t.Fatalf("ports after removing TCP: %+v", svc.Spec.Ports)
	}
	if keys := keysAt(t, ownedFields(t, svc.ManagedFields, "chart", metav1.ManagedFieldsOperationApply), "f:spec", "f:ports"); !sameSet(keys, keyUDP53) {
		t.Fatalf("chart owns the ports %v, want only %s", keys, keyUDP53)
	}
	if got, err := svcs.Get(ctx, "dns", metav1.GetOptions{}); err != nil || len(got.Spec.Ports) != 1 {
		t.Fatalf("stored service: %v, %v", got, err)
	}
}

// dnsDeployment runs one container "dns" listening on 53 over UDP and,
// when tcp, over TCP: containers are keyed by name and their ports by
// (containerPort, protocol).
func dnsDeployment(tcp bool) *appsv1ac.DeploymentApplyConfiguration {
	c := corev1ac.Container().WithName("dns").WithImage("registry.local/dns:1")
	c.WithPorts(corev1ac.ContainerPort().WithName("dns").WithContainerPort(53).WithProtocol(corev1.ProtocolUDP))
	if tcp {
		c.WithPorts(corev1ac.ContainerPort().WithName("dns-tcp").WithContainerPort(53).WithProtocol(corev1.ProtocolTCP))
	}
	return appsv1ac.Deployment("dns", "default").WithSpec(appsv1ac.DeploymentSpec().
		WithSelector(metav1ac.LabelSelector().WithMatchLabels(map[string]string{"app": "dns"})).
		WithTemplate(corev1ac.PodTemplateSpec().
			WithLabels(map[string]string{"app": "dns"}).
			WithSpec(corev1ac.PodSpec().WithContainers(c))))
}

func TestServerSideApplyContainerPortsKeyedByPortAndProtocol(t *testing.T) {
	ts := start(t, "")
	ctx := context.Background()
	deploys := ts.client.AppsV1().Deployments("default")
	portsPath := []string{"f:spec", "f:template", "f:spec", "f:containers", `k:{"name":"dns"}`, "f:ports"}
	const (
		udp = `k:{"containerPort":53,"protocol":"UDP"}`
		tcp = `k:{"containerPort":53,"protocol":"TCP"}`
	)

	d, err := deploys.Apply(ctx, dnsDeployment(true), metav1.ApplyOptions{FieldManager: "chart"})
	if err != nil {
		t.Fatalf("apply of a Deployment with containerPort 53 over UDP and TCP: %v", err)
	}
	if ports := d.Spec.Template.Spec.Containers[0].Ports; len(ports) != 2 {
		t.Fatalf("container ports after the first apply: %+v", ports)
	}
	if keys := keysAt(t, ownedFields(t, d.ManagedFields, "chart", metav1.ManagedFieldsOperationApply), portsPath...); !sameSet(keys, udp, tcp) {
		t.Fatalf("chart owns the container ports %v, want %s and %s", keys, udp, tcp)
	}

	d, err = deploys.Apply(ctx, dnsDeployment(false), metav1.ApplyOptions{FieldManager: "chart"})
	if err != nil {
		t.Fatalf("re-apply without the TCP port: %v", err)
	}
	ports := d.Spec.Template.Spec.Containers[0].Ports
	if len(ports) != 1 || ports[0].Name != "dns" || ports[0].Protocol != corev1.ProtocolUDP {
		t.Fatalf("container ports after removing TCP: %+v", ports)
	}
	if keys := keysAt(t, ownedFields(t, d.ManagedFields, "chart", metav1.ManagedFieldsOperationApply), portsPath...); !sameSet(keys, udp) {
		t.Fatalf("chart owns the container ports %v, want only %s", keys, udp)
	}
	if d.Generation != 2 {
		t.Errorf("generation after two applies that changed the spec: %d", d.Generation)
	}
}
