package node

import (
	"context"
	"fmt"
	"time"

	coordinationv1 "k8s.io/api/coordination/v1"
	corev1 "k8s.io/api/core/v1"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/client-go/kubernetes"
)

// LeaseNamespace is where node Leases live.
const LeaseNamespace = corev1.NamespaceNodeLease

// Lease keeps one node's Lease renewed: holder = the node's name,
// leaseDurationSeconds = the duration given, renewTime = the time of the
// last Renew, owned by the Node so that deleting the Node deletes it.
//
// It remembers the Lease it last wrote and updates that (one request per
// renewal, like the kubelet); it reads the Lease again only after a
// conflict. A Lease is not safe for concurrent use.
type Lease struct {
	client   kubernetes.Interface
	node     string
	owner    *metav1.OwnerReference
	duration int32
	last     *coordinationv1.Lease
}

// NewLease returns the Lease of node, with the given duration (40s for a
// kubelet). node needs a name; its UID, when known, makes the Node the
// Lease's owner.
func NewLease(client kubernetes.Interface, node *corev1.Node, duration time.Duration) *Lease {
	l := &Lease{client: client, node: node.Name, duration: int32(duration / time.Second)}
	if node.UID != "" {
		l.owner = &metav1.OwnerReference{APIVersion: "v1", Kind: "Node", Name: node.Name, UID: node.UID}
	}
	return l
}

// Renew sets the Lease's renewTime to now, creating the Lease if it does
// not exist. A write that lost a race with another one is retried once on
// a fresh read.
func (l *Lease) Renew(ctx context.Context, now time.Time) error {
	var err error
	for range 2 {
		if err = l.renew(ctx, now); err == nil || !(apierrors.IsConflict(err) || apierrors.IsNotFound(err)) {
			break
		}
		l.last = nil
	}
	if err != nil {
		return fmt.Errorf("renew lease of node %s: %w", l.node, err)
	}
	return nil
}

func (l *Lease) renew(ctx context.Context, now time.Time) error {
	leases := l.client.CoordinationV1().Leases(LeaseNamespace)
	if l.last == nil {
		cur, err := leases.Get(ctx, l.node, metav1.GetOptions{})
		switch {
		case apierrors.IsNotFound(err):
			created, err := leases.Create(ctx, l.desired(&coordinationv1.Lease{
				ObjectMeta: metav1.ObjectMeta{Name: l.node, Namespace: LeaseNamespace},
			}, now), metav1.CreateOptions{})
			if err != nil {
				return err
			}
			l.last = created
			return nil
		case err != nil:
			return err
		}
		l.last = cur
	}
	updated, err := leases.Update(ctx, l.desired(l.last.DeepCopy(), now), metav1.UpdateOptions{})
	if err != nil {
		return err
	}
	l.last = updated
	return nil
}

// desired sets what the node owns in lease at now.
func (l *Lease) desired(lease *coordinationv1.Lease, now time.Time) *coordinationv1.Lease {
	holder := l.node
	renew := metav1.NewMicroTime(now)
	lease.Spec.HolderIdentity = &holder
	lease.Spec.LeaseDurationSeconds = &l.duration
	lease.Spec.RenewTime = &renew
	if l.owner != nil && len(lease.OwnerReferences) == 0 {
		lease.OwnerReferences = []metav1.OwnerReference{*l.owner}
	}
	return lease
}
