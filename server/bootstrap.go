package server

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"net"
	"time"

	corev1 "k8s.io/api/core/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/runtime"
	"k8s.io/apimachinery/pkg/types"
	"k8s.io/apimachinery/pkg/util/intstr"
	"k8s.io/apimachinery/pkg/util/uuid"

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
	return s.createIfMissing(ctx, storage.Key{Resource: "endpoints", Namespace: "default", Name: "kubernetes"}, ep)
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
