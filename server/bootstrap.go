package server

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"net"
	"strings"
	"time"

	corev1 "k8s.io/api/core/v1"
	discoveryv1 "k8s.io/api/discovery/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/runtime"
	"k8s.io/apimachinery/pkg/types"
	"k8s.io/apimachinery/pkg/util/intstr"
	"k8s.io/apimachinery/pkg/util/uuid"
	"k8s.io/utils/ptr"

	"github.com/sqlkube/sqlkube/storage"
)

// bootstrap creates what every cluster has from its first start: the
// default, kube-system and kube-public namespaces and, in default, the
// kubernetes Service and its Endpoints naming this server. Objects that
// exist are left alone (another server may have made them).
func (s *Server) bootstrap(ctx context.Context) error {
	ctx = storage.WithActor(ctx, "system:apiserver")
	now := metav1.NewTime(time.Now().Truncate(time.Second))
	meta := func(name, ns string) metav1.ObjectMeta {
		return metav1.ObjectMeta{Name: name, Namespace: ns, UID: types.UID(uuid.NewUUID()), CreationTimestamp: now, Generation: 1}
	}
	for _, ns := range []string{"default", "kube-system", "kube-public", "kube-node-lease"} {
		obj := &corev1.Namespace{
			TypeMeta:   metav1.TypeMeta{Kind: "Namespace", APIVersion: "v1"},
			ObjectMeta: meta(ns, ""),
			Spec:       corev1.NamespaceSpec{Finalizers: []corev1.FinalizerName{corev1.FinalizerKubernetes}},
			Status:     corev1.NamespaceStatus{Phase: corev1.NamespaceActive},
		}
		if err := s.createIfMissing(ctx, storage.Key{Resource: "namespaces", Name: ns}, obj); err != nil {
			return err
		}
	}
	ip := s.kubernetesServiceIP().String()
	if _, err := s.store.Create(ctx, storage.Key{Resource: ipAllocations, Name: ip}, []byte(`{"service":"default/kubernetes"}`)); err != nil && !errors.Is(err, storage.ErrExists) {
		return fmt.Errorf("bootstrap: reserve %s: %w", ip, err)
	}
	svc := &corev1.Service{
		TypeMeta:   metav1.TypeMeta{Kind: "Service", APIVersion: "v1"},
		ObjectMeta: meta("kubernetes", "default"),
		Spec: corev1.ServiceSpec{
			Type: corev1.ServiceTypeClusterIP, ClusterIP: ip, ClusterIPs: []string{ip}, SessionAffinity: corev1.ServiceAffinityNone,
			Ports: []corev1.ServicePort{{Name: "https", Protocol: corev1.ProtocolTCP, Port: 443, TargetPort: intstr.FromInt32(int32(s.cfg.SecurePort))}},
		},
	}
	svc.Labels = map[string]string{"component": "apiserver", "provider": "kubernetes"}
	if err := s.createIfMissing(ctx, storage.Key{Resource: "services", Namespace: "default", Name: "kubernetes"}, svc); err != nil {
		return err
	}
	addr := s.cfg.BindAddress
	if ip := net.ParseIP(addr); ip == nil || ip.IsUnspecified() {
		addr = "127.0.0.1"
	}
	ep := &corev1.Endpoints{
		TypeMeta:   metav1.TypeMeta{Kind: "Endpoints", APIVersion: "v1"},
		ObjectMeta: meta("kubernetes", "default"),
		Subsets: []corev1.EndpointSubset{{
			Addresses: []corev1.EndpointAddress{{IP: addr}},
			Ports:     []corev1.EndpointPort{{Name: "https", Port: int32(s.cfg.SecurePort), Protocol: corev1.ProtocolTCP}},
		}},
	}
	if err := s.createIfMissing(ctx, storage.Key{Resource: "endpoints", Namespace: "default", Name: "kubernetes"}, ep); err != nil {
		return err
	}
	// The proxy reads EndpointSlices: the kubernetes Service has one too,
	// as kube-apiserver writes it.
	slice := &discoveryv1.EndpointSlice{
		TypeMeta:    metav1.TypeMeta{Kind: "EndpointSlice", APIVersion: "discovery.k8s.io/v1"},
		ObjectMeta:  meta("kubernetes", "default"),
		AddressType: discoveryv1.AddressTypeIPv4,
		Endpoints:   []discoveryv1.Endpoint{{Addresses: []string{addr}, Conditions: discoveryv1.EndpointConditions{Ready: ptr.To(true)}}},
		Ports:       []discoveryv1.EndpointPort{{Name: ptr.To("https"), Port: ptr.To(int32(s.cfg.SecurePort)), Protocol: ptr.To(corev1.ProtocolTCP)}},
	}
	slice.Labels = map[string]string{discoveryv1.LabelServiceName: "kubernetes", discoveryv1.LabelManagedBy: "endpointslice-controller.k8s.io"}
	if net.ParseIP(addr).To4() == nil {
		slice.AddressType = discoveryv1.AddressTypeIPv6
	}
	if err := s.createIfMissing(ctx, storage.Key{Resource: "endpointslices.discovery.k8s.io", Namespace: "default", Name: "kubernetes"}, slice); err != nil {
		return err
	}
	return s.bootstrapClusterDNS(ctx, meta)
}

// ClusterDNSService is the Service of the cluster DNS, in kube-system, at
// the tenth address of the Service range (10.96.0.10 by default), as in
// kubeadm's clusters. Node agents answer it; the clusterdns controller
// lists them in its EndpointSlice.
const ClusterDNSService = "kube-dns"

// ClusterDNSIP is the address of the cluster DNS Service in serviceNet.
func ClusterDNSIP(serviceNet *net.IPNet) net.IP { return serviceIPIn(serviceNet, 8) }

// bootstrapClusterDNS creates the kube-dns Service, without a selector:
// its endpoints are the node agents' DNS servers. When its address went to
// another Service already (a cluster older than the cluster DNS), it is
// left out with a log line.
func (s *Server) bootstrapClusterDNS(ctx context.Context, meta func(name, ns string) metav1.ObjectMeta) error {
	key := storage.Key{Resource: "services", Namespace: metav1.NamespaceSystem, Name: ClusterDNSService}
	if _, err := s.store.Get(ctx, key); err == nil {
		return nil
	}
	ip := ClusterDNSIP(s.serviceNet).String()
	if _, err := s.store.Create(ctx, storage.Key{Resource: ipAllocations, Name: ip}, []byte(`{"service":"kube-system/kube-dns"}`)); err != nil {
		if !errors.Is(err, storage.ErrExists) {
			return fmt.Errorf("bootstrap: reserve %s: %w", ip, err)
		}
		if cur, gerr := s.store.Get(ctx, storage.Key{Resource: ipAllocations, Name: ip}); gerr != nil || !strings.Contains(string(cur.Value), "kube-system/kube-dns") {
			s.log.Warn("cluster DNS Service not created: its address belongs to another Service", "ip", ip)
			return nil
		}
	}
	udp, tcp := corev1.ProtocolUDP, corev1.ProtocolTCP
	svc := &corev1.Service{
		TypeMeta:   metav1.TypeMeta{Kind: "Service", APIVersion: "v1"},
		ObjectMeta: meta(ClusterDNSService, metav1.NamespaceSystem),
		Spec: corev1.ServiceSpec{
			Type: corev1.ServiceTypeClusterIP, ClusterIP: ip, ClusterIPs: []string{ip}, SessionAffinity: corev1.ServiceAffinityNone,
			IPFamilies: []corev1.IPFamily{corev1.IPv4Protocol}, IPFamilyPolicy: ptr.To(corev1.IPFamilyPolicySingleStack),
			InternalTrafficPolicy: ptr.To(corev1.ServiceInternalTrafficPolicyCluster),
			TrafficDistribution:   ptr.To(corev1.ServiceTrafficDistributionPreferClose),
			Ports: []corev1.ServicePort{
				{Name: "dns", Protocol: udp, Port: 53, TargetPort: intstr.FromInt32(53)},
				{Name: "dns-tcp", Protocol: tcp, Port: 53, TargetPort: intstr.FromInt32(53)},
			},
		},
	}
	if net.ParseIP(ip).To4() == nil {
		svc.Spec.IPFamilies = []corev1.IPFamily{corev1.IPv6Protocol}
	}
	svc.Labels = map[string]string{"k8s-app": "kube-dns", "kubernetes.io/cluster-service": "true", "kubernetes.io/name": "sqlkube-dns"}
	return s.createIfMissing(ctx, key, svc)
}

func (s *Server) createIfMissing(ctx context.Context, key storage.Key, obj runtime.Object) error {
	value, err := json.Marshal(obj)
	if err != nil {
		return fmt.Errorf("bootstrap %s: %w", key, err)
	}
	if _, err := s.store.Create(ctx, key, value); err != nil && !errors.Is(err, storage.ErrExists) {
		return fmt.Errorf("bootstrap %s: %w", key, err)
	}
	return nil
}
