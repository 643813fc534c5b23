package server

import (
	"context"
	"errors"
	"fmt"
	"math/big"
	"math/rand/v2"
	"net"
	"strconv"

	corev1 "k8s.io/api/core/v1"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	"k8s.io/apimachinery/pkg/runtime"
	"k8s.io/apimachinery/pkg/util/validation/field"

	"github.com/sqlkube/sqlkube/storage"
)

// Service ClusterIPs and NodePorts are allocated by creating a row per
// address in the store: the create fails for the second claimant, so two
// servers on one database never hand out the same address.
const (
	ipAllocations   = "sqlkube.io.serviceips"
	portAllocations = "sqlkube.io.nodeports"
	nodePortMin     = 30000
	nodePortMax     = 32767
)

// beforeCreate allocates what an object needs from shared pools.
func (s *Server) beforeCreate(q *request, obj runtime.Object) error {
	svc, ok := obj.(*corev1.Service)
	if !ok {
		return nil
	}
	_, err := s.allocateService(q.ctx(), svc, nil)
	return err
}

// serviceHolds returns the pool entries a stored service holds: its
// cluster IPs and its node ports. A nil service holds nothing.
func serviceHolds(svc *corev1.Service) map[storage.Key]bool {
	held := map[storage.Key]bool{}
	if svc == nil {
		return held
	}
	for _, ip := range svc.Spec.ClusterIPs {
		if ip != "" && ip != corev1.ClusterIPNone {
			held[storage.Key{Resource: ipAllocations, Name: ip}] = true
		}
	}
	for _, p := range svc.Spec.Ports {
		if p.NodePort != 0 {
			held[storage.Key{Resource: portAllocations, Name: strconv.Itoa(int(p.NodePort))}] = true
		}
	}
	return held
}

// allocateService claims what svc needs and old (the stored service it
// updates; nil on create) does not hold yet: a cluster IP, given or
// allocated, unless headless or ExternalName, and a node port for each
// port of a NodePort or LoadBalancer service. It fills in what it
// allocated. On error it has released what it claimed; on success undo
// releases it, for a write that then fails.
func (s *Server) allocateService(ctx context.Context, svc, old *corev1.Service) (undo func(), err error) {
	owner := []byte(fmt.Sprintf(`{"service":%q}`, svc.Namespace+"/"+svc.Name))
	held := serviceHolds(old)
	var claimed []storage.Key
	release := func() {
		for _, k := range claimed {
			_, _ = s.store.Delete(context.WithoutCancel(ctx), k, 0)
		}
	}
	claim := func(k storage.Key) error {
		if held[k] {
			return nil
		}
		_, err := s.store.Create(ctx, k, owner)
		if err == nil {
			claimed = append(claimed, k)
		}
		return err
	}
	defer func() {
		if err != nil {
			release()
		}
	}()
	if svc.Spec.Type != corev1.ServiceTypeExternalName && svc.Spec.ClusterIP != corev1.ClusterIPNone {
		if svc.Spec.ClusterIP != "" {
			ip := net.ParseIP(svc.Spec.ClusterIP)
			if ip == nil || !s.serviceNet.Contains(ip) {
				return nil, invalidService(svc, field.Invalid(field.NewPath("spec", "clusterIP"), svc.Spec.ClusterIP, "must be an address in the service range "+s.serviceNet.String()))
			}
			if err := claim(storage.Key{Resource: ipAllocations, Name: ip.String()}); err != nil {
				if errors.Is(err, storage.ErrExists) {
					return nil, invalidService(svc, field.Invalid(field.NewPath("spec", "clusterIP"), svc.Spec.ClusterIP, "provided IP is already allocated"))
				}
				return nil, apierrors.NewInternalError(err)
			}
			svc.Spec.ClusterIP = ip.String()
		} else {
			ip, err := s.allocateFrom(ctx, claim, s.serviceIPCount(), func(i int64) string { return s.serviceIP(i).String() }, ipAllocations)
			if err != nil {
				return nil, err
			}
			svc.Spec.ClusterIP = ip
		}
		svc.Spec.ClusterIPs = []string{svc.Spec.ClusterIP}
	}
	if svc.Spec.Type == corev1.ServiceTypeNodePort || svc.Spec.Type == corev1.ServiceTypeLoadBalancer {
		for i := range svc.Spec.Ports {
			p := &svc.Spec.Ports[i]
			if p.NodePort != 0 {
				if err := claim(storage.Key{Resource: portAllocations, Name: strconv.Itoa(int(p.NodePort))}); err != nil {
					if errors.Is(err, storage.ErrExists) {
						return nil, invalidService(svc, field.Invalid(field.NewPath("spec", "ports").Index(i).Child("nodePort"), p.NodePort, "provided port is already allocated"))
					}
					return nil, apierrors.NewInternalError(err)
				}
				continue
			}
			port, err := s.allocateFrom(ctx, claim, nodePortMax-nodePortMin+1, func(i int64) string { return strconv.Itoa(nodePortMin + int(i)) }, portAllocations)
			if err != nil {
				return nil, err
			}
			n, _ := strconv.Atoi(port)
			p.NodePort = int32(n)
		}
	}
	return release, nil
}

// allocateFrom claims the first free entry of a pool of n, from a random
// start so that concurrent servers rarely collide.
func (s *Server) allocateFrom(ctx context.Context, claim func(storage.Key) error, n int64, name func(int64) string, pool string) (string, error) {
	start := rand.Int64N(n)
	for i := int64(0); i < n; i++ {
		v := name((start + i) % n)
		err := claim(storage.Key{Resource: pool, Name: v})
		if err == nil {
			return v, nil
		}
		if !errors.Is(err, storage.ErrExists) {
			return "", apierrors.NewInternalError(err)
		}
	}
	return "", apierrors.NewInternalError(fmt.Errorf("the %s pool is exhausted", pool))
}

// releaseService frees what a deleted service held.
func (s *Server) releaseService(ctx context.Context, svc *corev1.Service) {
	s.releaseDropped(ctx, svc, nil)
}

// releaseDropped frees what old held and svc, which replaced it, does not
// (nil: nothing): a cluster IP given up by becoming ExternalName, a node
// port changed or given up by becoming ClusterIP.
func (s *Server) releaseDropped(ctx context.Context, old, svc *corev1.Service) {
	kept := serviceHolds(svc)
	for k := range serviceHolds(old) {
		if !kept[k] {
			_, _ = s.store.Delete(ctx, k, 0)
		}
	}
}

func invalidService(svc *corev1.Service, err *field.Error) error {
	return apierrors.NewInvalid(corev1.SchemeGroupVersion.WithKind("Service").GroupKind(), svc.Name, field.ErrorList{err})
}

// serviceIPCount is how many addresses the service range offers, without
// the network address, the first (the kubernetes service's) and the
// broadcast address.
func (s *Server) serviceIPCount() int64 {
	ones, bits := s.serviceNet.Mask.Size()
	size := int64(1) << min(bits-ones, 30)
	return size - 3
}

// serviceIP returns the i-th allocatable address: network + 2 + i.
func (s *Server) serviceIP(i int64) net.IP { return serviceIPIn(s.serviceNet, i) }

// serviceIPIn returns the i-th allocatable address of serviceNet.
func serviceIPIn(serviceNet *net.IPNet, i int64) net.IP {
	base := new(big.Int).SetBytes(serviceNet.IP.To16())
	base.Add(base, big.NewInt(2+i))
	b := base.Bytes()
	ip := make(net.IP, 16)
	copy(ip[16-len(b):], b)
	if v4 := ip.To4(); v4 != nil && serviceNet.IP.To4() != nil {
		return v4
	}
	return ip
}

// kubernetesServiceIP is the first address of the range.
func (s *Server) kubernetesServiceIP() net.IP {
	ip := s.serviceIP(-1)
	return ip
}
