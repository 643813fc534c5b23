package garbagecollector

import (
	"reflect"
	"slices"
	"sync"

	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/runtime/schema"
	"k8s.io/apimachinery/pkg/types"
)

// node is one object of the graph. A node that is only referenced as an
// owner and not (or no longer) observed by an informer is virtual.
type node struct {
	uid        types.UID
	apiVersion string
	kind       string
	namespace  string // for a virtual node: the namespace of a dependent
	name       string
	gvr        schema.GroupVersionResource // observed nodes only

	observed        bool
	owners          []metav1.OwnerReference
	dependents      map[types.UID]*node
	deleting        bool // deletionTimestamp set
	finalizers      []string
	resourceVersion string
}

func (n *node) deletingDependents() bool {
	return n.observed && n.deleting && slices.Contains(n.finalizers, metav1.FinalizerDeleteDependents)
}

func (n *node) orphaning() bool {
	return n.observed && n.deleting && slices.Contains(n.finalizers, metav1.FinalizerOrphanDependents)
}

// ownerRef returns n's reference to owner, if any.
func (n *node) ownerRef(owner types.UID) (metav1.OwnerReference, bool) {
	for _, r := range n.owners {
		if r.UID == owner {
			return r, true
		}
	}
	return metav1.OwnerReference{}, false
}

// resourceInfo describes the resource an informer watches.
type resourceInfo struct {
	gvr  schema.GroupVersionResource
	kind string
}

// graph holds every observed object's owner references and, inverted,
// every owner's dependents. enqueue is called (with the lock held) for
// work the change implies; it must not block.
type graph struct {
	mu      sync.RWMutex
	nodes   map[types.UID]*node
	enqueue func(kind string, uid types.UID)
}

// Work kinds, the prefix of queue keys.
const (
	workDelete     = "delete"     // is this dependent's owner gone (or waiting)?
	workForeground = "foreground" // may this owner lose foregroundDeletion?
	workOrphan     = "orphan"     // orphan this owner's dependents
	workVirtual    = "virtual"    // does this referenced owner exist?
)

func newGraph(enqueue func(kind string, uid types.UID)) *graph {
	return &graph{nodes: map[types.UID]*node{}, enqueue: enqueue}
}

// observe records an added or updated object of resource res.
func (g *graph) observe(obj metav1.Object, res resourceInfo) {
	g.mu.Lock()
	defer g.mu.Unlock()
	uid := obj.GetUID()
	n := g.nodes[uid]
	if n == nil {
		n = &node{uid: uid, dependents: map[types.UID]*node{}}
		g.nodes[uid] = n
	}
	wasDeletingDependents, wasOrphaning := n.deletingDependents(), n.orphaning()
	oldOwners := n.owners

	n.apiVersion, n.kind = res.gvr.GroupVersion().String(), res.kind
	n.namespace, n.name, n.gvr = obj.GetNamespace(), obj.GetName(), res.gvr
	n.observed = true
	n.owners = obj.GetOwnerReferences()
	n.deleting = obj.GetDeletionTimestamp() != nil
	n.finalizers = obj.GetFinalizers()
	n.resourceVersion = obj.GetResourceVersion()

	ownersChanged := !reflect.DeepEqual(oldOwners, n.owners)
	for _, ref := range oldOwners {
		if _, still := n.ownerRef(ref.UID); still {
			continue
		}
		if o := g.nodes[ref.UID]; o != nil {
			delete(o.dependents, uid)
			g.ownerLostDependent(o)
		}
	}
	for _, ref := range n.owners {
		o := g.nodes[ref.UID]
		if o == nil {
			o = &node{uid: ref.UID, apiVersion: ref.APIVersion, kind: ref.Kind, name: ref.Name, namespace: n.namespace, dependents: map[types.UID]*node{}}
			g.nodes[ref.UID] = o
		}
		_, had := o.dependents[uid]
		o.dependents[uid] = n
		switch {
		case !o.observed && !had:
			g.enqueue(workVirtual, o.uid)
		case o.deletingDependents() && (!had || ownersChanged):
			// A new or changed dependent of an owner that waits for its
			// dependents: delete it, and let the owner recount.
			g.enqueue(workDelete, uid)
			g.enqueue(workForeground, o.uid)
		}
	}
	if n.deletingDependents() && !wasDeletingDependents {
		g.enqueue(workForeground, uid)
		for d := range n.dependents {
			g.enqueue(workDelete, d)
		}
	}
	if n.orphaning() && !wasOrphaning {
		g.enqueue(workOrphan, uid)
	}
}

// forget records that an object was deleted.
func (g *graph) forget(obj metav1.Object) {
	g.mu.Lock()
	defer g.mu.Unlock()
	uid := obj.GetUID()
	n := g.nodes[uid]
	if n == nil {
		return
	}
	for _, ref := range n.owners {
		if o := g.nodes[ref.UID]; o != nil {
			delete(o.dependents, uid)
			g.ownerLostDependent(o)
		}
	}
	n.owners = nil
	if len(n.dependents) == 0 {
		delete(g.nodes, uid)
		return
	}
	// Its dependents still reference it: keep it as a virtual node, and
	// check each of them.
	n.observed, n.deleting, n.finalizers = false, false, nil
	for d := range n.dependents {
		g.enqueue(workDelete, d)
	}
}

// ownerLostDependent reacts to o losing a dependent: a virtual owner with
// no dependents left is dropped; an owner waiting for its dependents
// recounts them.
func (g *graph) ownerLostDependent(o *node) {
	if !o.observed && len(o.dependents) == 0 {
		delete(g.nodes, o.uid)
		return
	}
	if o.deletingDependents() {
		g.enqueue(workForeground, o.uid)
	}
}

// snapshot is a copy of a node, safe to use without the lock.
type snapshot struct {
	node
	dependents []dependent
}

type dependent struct {
	uid      types.UID
	block    bool // its reference to the owner has blockOwnerDeletion=true
	deleting bool
}

// get returns a copy of the node uid and its dependents.
func (g *graph) get(uid types.UID) (snapshot, bool) {
	g.mu.RLock()
	defer g.mu.RUnlock()
	n := g.nodes[uid]
	if n == nil {
		return snapshot{}, false
	}
	s := snapshot{node: *n}
	s.node.dependents = nil
	s.owners = slices.Clone(n.owners)
	s.finalizers = slices.Clone(n.finalizers)
	for d, dn := range n.dependents {
		ref, _ := dn.ownerRef(uid)
		s.dependents = append(s.dependents, dependent{uid: d, block: ref.BlockOwnerDeletion != nil && *ref.BlockOwnerDeletion, deleting: dn.deleting})
	}
	slices.SortFunc(s.dependents, func(a, b dependent) int {
		switch {
		case a.uid < b.uid:
			return -1
		case a.uid > b.uid:
			return 1
		}
		return 0
	})
	return s, true
}

// len is the number of nodes, virtual ones included.
func (g *graph) len() int {
	g.mu.RLock()
	defer g.mu.RUnlock()
	return len(g.nodes)
}
