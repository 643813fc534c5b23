package authz

import (
	"context"
	"fmt"

	corev1 "k8s.io/api/core/v1"
	rbacv1 "k8s.io/api/rbac/v1"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
)

// NodeGraph is what the Node authorizer reads about pods and claims. The
// server backs it with its object cache.
type NodeGraph interface {
	// PodsOnNode returns the pods with spec.nodeName == node.
	PodsOnNode(node string) ([]*corev1.Pod, error)
	// GetPersistentVolumeClaim returns the claim, or a NotFound error.
	GetPersistentVolumeClaim(namespace, name string) (*corev1.PersistentVolumeClaim, error)
}

// Node is Kubernetes' Node authorizer for node agents: users named
// system:node:NAME in group system:nodes. Everyone else gets
// DecisionNoOpinion.
//
// A node may read a Secret, ConfigMap or PersistentVolumeClaim only when a
// pod bound to it references it, a PersistentVolume only when such a
// claim is bound to it, and create a token (serviceaccounts/token) only
// for a service account a pod bound to it runs as. Its own Lease (in
// kube-node-lease) and CSINode are the only ones it may change. Every
// other request is decided by the node rules given to NewNode (by default
// NodeRules, upstream's system:node role); which Node and Pod objects a
// node changes is checked by admission, not here.
//
// Node never denies: a request it does not allow gets DecisionNoOpinion
// with the reason, and a later authorizer (RBAC) may still allow it.
type Node struct {
	graph NodeGraph
	rules []rbacv1.PolicyRule
}

var _ Authorizer = (*Node)(nil)

// NewNode returns a Node authorizer over graph. rules are the rules every
// node holds beyond the graph checks; without any, NodeRules() is used.
func NewNode(graph NodeGraph, rules ...rbacv1.PolicyRule) *Node {
	if len(rules) == 0 {
		rules = NodeRules()
	}
	return &Node{graph: graph, rules: rules}
}

// Authorize implements Authorizer. err reports a graph that could not be
// read; the decision is then DecisionNoOpinion.
func (n *Node) Authorize(ctx context.Context, a Attributes) (Decision, string, error) {
	node, ok := a.User.NodeName()
	if !ok {
		return DecisionNoOpinion, "", nil
	}
	if a.ResourceRequest {
		switch a.APIGroup + "/" + a.Resource {
		case "/secrets":
			return n.readReferenced(node, a, secretRef)
		case "/configmaps":
			return n.readReferenced(node, a, configMapRef)
		case "/persistentvolumeclaims":
			return n.claim(node, a)
		case "/persistentvolumes":
			return n.volume(node, a)
		case "/serviceaccounts":
			return n.token(node, a)
		case "coordination.k8s.io/leases":
			if reason := ownObject(node, a, "kube-node-lease"); reason != "" {
				return DecisionNoOpinion, reason, nil
			}
		case "storage.k8s.io/csinodes":
			if reason := ownObject(node, a, ""); reason != "" {
				return DecisionNoOpinion, reason, nil
			}
		}
	}
	for i := range n.rules {
		if RuleAllows(a, &n.rules[i]) {
			return DecisionAllow, "node: allowed by the system:node rules", nil
		}
	}
	return DecisionNoOpinion, "", nil
}

// ownObject limits a node to its own object of a kind named after nodes
// (a Lease, a CSINode) in namespace: it returns why not, or "".
func ownObject(node string, a Attributes, namespace string) string {
	switch a.Verb {
	case "get", "create", "update", "patch", "delete":
	default:
		return fmt.Sprintf("node %q can only get, create, update, patch or delete its own %s", node, a.Resource)
	}
	if a.Namespace != namespace {
		return fmt.Sprintf("node %q can only access %s in namespace %q", node, a.Resource, namespace)
	}
	if a.Verb != "create" && a.Name != node {
		return fmt.Sprintf("node %q can only access its own %s", node, a.Resource)
	}
	return ""
}

// readReferenced allows get, and list and watch of one named object (a
// field selector on metadata.name, as the kubelet watches), of an object
// that a pod bound to node references.
func (n *Node) readReferenced(node string, a Attributes, refs func(*corev1.Pod, func(string) bool) bool) (Decision, string, error) {
	switch a.Verb {
	case "get", "list", "watch":
	default:
		return DecisionNoOpinion, fmt.Sprintf("node %q can only read %s", node, a.Resource), nil
	}
	if a.Subresource != "" {
		return DecisionNoOpinion, fmt.Sprintf("node %q cannot read subresource %s/%s", node, a.Resource, a.Subresource), nil
	}
	if a.Namespace == "" || a.Name == "" {
		return DecisionNoOpinion, fmt.Sprintf("node %q can only read individual %s", node, a.Resource), nil
	}
	pod, err := n.podReferencing(node, a.Namespace, func(p *corev1.Pod) bool {
		return refs(p, func(name string) bool { return name == a.Name })
	})
	if err != nil {
		return DecisionNoOpinion, "", err
	}
	if pod == nil {
		return DecisionNoOpinion, noRelationship(node, a), nil
	}
	return DecisionAllow, fmt.Sprintf("node: %s %s/%s is used by pod %s/%s on node %q", a.Resource, a.Namespace, a.Name, pod.Namespace, pod.Name, node), nil
}

// claim allows get of a claim a pod bound to node uses, and get, update
// and patch of its status.
func (n *Node) claim(node string, a Attributes) (Decision, string, error) {
	switch {
	case a.Subresource == "" && a.Verb == "get":
	case a.Subresource == "status" && (a.Verb == "get" || a.Verb == "update" || a.Verb == "patch"):
	default:
		return DecisionNoOpinion, fmt.Sprintf("node %q can only get persistentvolumeclaims and get, update or patch their status", node), nil
	}
	if a.Namespace == "" || a.Name == "" {
		return DecisionNoOpinion, fmt.Sprintf("node %q can only access individual persistentvolumeclaims", node), nil
	}
	pod, err := n.podReferencing(node, a.Namespace, func(p *corev1.Pod) bool {
		return claimRef(p, func(name string) bool { return name == a.Name })
	})
	if err != nil {
		return DecisionNoOpinion, "", err
	}
	if pod == nil {
		return DecisionNoOpinion, noRelationship(node, a), nil
	}
	return DecisionAllow, fmt.Sprintf("node: persistentvolumeclaim %s/%s is used by pod %s/%s on node %q", a.Namespace, a.Name, pod.Namespace, pod.Name, node), nil
}

// volume allows get of a PersistentVolume bound to a claim that a pod
// bound to node uses.
func (n *Node) volume(node string, a Attributes) (Decision, string, error) {
	if a.Verb != "get" || a.Subresource != "" {
		return DecisionNoOpinion, fmt.Sprintf("node %q can only get persistentvolumes", node), nil
	}
	if a.Name == "" {
		return DecisionNoOpinion, fmt.Sprintf("node %q can only get individual persistentvolumes", node), nil
	}
	pods, err := n.graph.PodsOnNode(node)
	if err != nil {
		return DecisionNoOpinion, "", fmt.Errorf("pods on node %s: %w", node, err)
	}
	for _, p := range pods {
		var names []string
		claimRef(p, func(name string) bool { names = append(names, name); return false })
		for _, name := range names {
			claim, err := n.graph.GetPersistentVolumeClaim(p.Namespace, name)
			if apierrors.IsNotFound(err) {
				continue
			}
			if err != nil {
				return DecisionNoOpinion, "", fmt.Errorf("persistentvolumeclaim %s/%s: %w", p.Namespace, name, err)
			}
			if claim.Spec.VolumeName == a.Name {
				return DecisionAllow, fmt.Sprintf("node: persistentvolume %s is bound to claim %s/%s of pod %s/%s on node %q", a.Name, p.Namespace, name, p.Namespace, p.Name, node), nil
			}
		}
	}
	return DecisionNoOpinion, noRelationship(node, a), nil
}

// token allows create of serviceaccounts/token for a service account a
// pod bound to node runs as; nothing else on service accounts.
func (n *Node) token(node string, a Attributes) (Decision, string, error) {
	if a.Subresource != "token" || a.Verb != "create" {
		return DecisionNoOpinion, fmt.Sprintf("node %q can only create tokens for individual service accounts", node), nil
	}
	if a.Namespace == "" || a.Name == "" {
		return DecisionNoOpinion, fmt.Sprintf("node %q can only create tokens for individual service accounts", node), nil
	}
	pod, err := n.podReferencing(node, a.Namespace, func(p *corev1.Pod) bool {
		return p.Spec.ServiceAccountName == a.Name
	})
	if err != nil {
		return DecisionNoOpinion, "", err
	}
	if pod == nil {
		return DecisionNoOpinion, noRelationship(node, a), nil
	}
	return DecisionAllow, fmt.Sprintf("node: service account %s/%s runs pod %s/%s on node %q", a.Namespace, a.Name, pod.Namespace, pod.Name, node), nil
}

// podReferencing returns the first pod bound to node in namespace for
// which uses is true, or nil.
func (n *Node) podReferencing(node, namespace string, uses func(*corev1.Pod) bool) (*corev1.Pod, error) {
	pods, err := n.graph.PodsOnNode(node)
	if err != nil {
		return nil, fmt.Errorf("pods on node %s: %w", node, err)
	}
	for _, p := range pods {
		if p.Namespace == namespace && p.Spec.NodeName == node && uses(p) {
			return p, nil
		}
	}
	return nil, nil
}

func noRelationship(node string, a Attributes) string {
	return fmt.Sprintf("no relationship found between node %q and this object (%s %s/%s)", node, a.Resource, a.Namespace, a.Name)
}
