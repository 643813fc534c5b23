package sim

import (
	"context"
	"math/rand/v2"
	"net/netip"
	"sync/atomic"
	"time"

	corev1 "k8s.io/api/core/v1"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/labels"
	"k8s.io/client-go/tools/cache"

	"github.com/sqlkube/sqlkube/node"
)

var labelsEverything = labels.Everything()

// simNode is one simulated node. name, cidr, ips and config are set before
// the queues start and never change; the heartbeat fields are used only by
// syncNode, which the queue never runs twice at once for a node.
type simNode struct {
	name   string
	cidr   netip.Prefix
	ips    *ipPool
	config *node.Config

	registered bool
	lease      *node.Lease
	nextRenew  time.Time
	nextStatus time.Time
	failing    bool

	// deleted is set when the node cache sees the Node deleted: the next
	// sync registers it again.
	deleted atomic.Bool
}

// retryNodeAfter is how soon a failed registration or renewal is tried
// again (jittered), well inside the lease duration.
const retryNodeAfter = 2 * time.Second

// transformNode keeps of a Node what the simulator reads: its name, pod
// range and, for its own nodes, the conditions.
func (s *Simulator) transformNode(obj any) (any, error) {
	n, ok := obj.(*corev1.Node)
	if !ok {
		return obj, nil
	}
	out := &corev1.Node{ObjectMeta: metav1.ObjectMeta{Name: n.Name, UID: n.UID, ResourceVersion: n.ResourceVersion}}
	out.Spec.PodCIDR = n.Spec.PodCIDR
	if _, ours := s.nodes[n.Name]; ours {
		out.Status.Conditions = n.Status.Conditions
	}
	return out, nil
}

// nodeHandler queues one of our nodes when it is seen not Ready (the node
// lifecycle controller marked it while the simulator was away or stalled)
// or deleted.
func (s *Simulator) nodeHandler() cache.ResourceEventHandler {
	check := func(obj any) {
		if n, ok := obj.(*corev1.Node); ok && s.nodes[n.Name] != nil && !node.IsReady(n) {
			s.nodeQueue.Add(n.Name)
		}
	}
	return cache.ResourceEventHandlerFuncs{
		AddFunc:    check,
		UpdateFunc: func(_, obj any) { check(obj) },
		DeleteFunc: func(obj any) {
			if d, ok := obj.(cache.DeletedFinalStateUnknown); ok {
				obj = d.Obj
			}
			if n, ok := obj.(*corev1.Node); ok && s.nodes[n.Name] != nil {
				s.nodes[n.Name].deleted.Store(true)
				s.nodeQueue.Add(n.Name)
			}
		},
	}
}

// syncNode does what is due for node name: register it (again, after it
// was deleted), renew its Lease every RenewInterval, and post its
// conditions every StatusInterval or at once when the cached Node is not
// Ready. It schedules its own next run and retries failures itself, so it
// always returns nil.
func (s *Simulator) syncNode(ctx context.Context, name string) error {
	n := s.nodes[name]
	if n == nil {
		return nil
	}
	now := s.clock.Now()
	if n.deleted.Swap(false) && n.registered {
		s.log.Info("node was deleted; registering it again", "node", name)
		n.registered = false
	}
	if !n.registered {
		got, err := node.Register(ctx, s.cfg.Client, n.config, now)
		if err != nil {
			s.retryNode(ctx, n, err)
			return nil
		}
		n.registered = true
		n.lease = node.NewLease(s.cfg.Client, got, s.cfg.LeaseDuration)
		n.nextRenew = now
		n.nextStatus = now.Add(jitterUp(s.cfg.StatusInterval))
	}
	if !now.Before(n.nextRenew) {
		if err := n.lease.Renew(ctx, now); err != nil {
			s.retryNode(ctx, n, err)
			return nil
		}
		n.nextRenew = now.Add(jitterDown(s.cfg.RenewInterval))
	}
	cached, err := s.nodeLister.Get(name)
	if !now.Before(n.nextStatus) || (err == nil && !node.IsReady(cached)) {
		var conds []corev1.NodeCondition
		if err == nil {
			conds = cached.Status.Conditions
		}
		if err := node.PatchConditions(ctx, s.cfg.Client, name, conds, now); err != nil {
			if apierrors.IsNotFound(err) {
				n.registered = false
			}
			s.retryNode(ctx, n, err)
			return nil
		}
		n.nextStatus = now.Add(jitterUp(s.cfg.StatusInterval))
	}
	if n.failing {
		s.log.Info("node is heartbeating again", "node", name)
		n.failing = false
	}
	next := n.nextRenew
	if n.nextStatus.Before(next) {
		next = n.nextStatus
	}
	s.nodeQueue.AddAfter(name, next.Sub(now))
	return nil
}

// retryNode logs err (once per streak of failures) and tries n again soon.
func (s *Simulator) retryNode(ctx context.Context, n *simNode, err error) {
	if ctx.Err() != nil {
		return
	}
	if !n.failing {
		s.log.Warn("simulated node heartbeat failed; retrying", "node", n.name, "err", err)
		n.failing = true
	} else {
		s.log.Debug("simulated node heartbeat failed; retrying", "node", n.name, "err", err)
	}
	s.nodeQueue.AddAfter(n.name, jitterUp(retryNodeAfter))
}

// jitterDown returns d less up to 10%, so that nodes started together
// spread their renewals while renewing at least every d.
func jitterDown(d time.Duration) time.Duration { return d - rand.N(d/10+1) }

// jitterUp returns d plus up to 10%.
func jitterUp(d time.Duration) time.Duration { return d + rand.N(d/10+1) }
