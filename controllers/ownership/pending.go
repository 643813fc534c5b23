package ownership

import (
	"strings"
	"sync"
	"time"

	apierrors "k8s.io/apimachinery/pkg/api/errors"
	"k8s.io/apimachinery/pkg/types"
	corelisters "k8s.io/client-go/listers/core/v1"
)

// pendingTTL is how long unobserved writes hold back an owner in
// PendingPods. After it the controller assumes the events were lost and
// acts on the cache again.
const pendingTTL = time.Minute

// PendingPods remembers, per owner key, the pods a controller created or
// deleted that its pod informer has not shown yet. While an owner has such
// writes in flight its sync should not create or delete pods: the cache
// would under- or over-count them and the controller would act twice.
//
// Writes are recorded by name after the API accepted them, and Settled
// checks them against the pod lister, so no event handler has to report
// them. (The replicaset controller keeps counted expectations instead:
// it records a batch before writing it and lowers the counts from its
// event handlers, because its pods' names are generated and a batch may
// be hundreds of pods.)
//
// The zero value is not usable; make one with NewPendingPods. Safe for
// concurrent use.
type PendingPods struct {
	mu sync.Mutex
	m  map[string]*inflight
}

type inflight struct {
	created map[string]bool      // "namespace/name" of pods created
	deleted map[string]types.UID // "namespace/name" of pods deleted, with their uid
	since   time.Time
}

// NewPendingPods returns an empty PendingPods.
func NewPendingPods() *PendingPods { return &PendingPods{m: map[string]*inflight{}} }

func (p *PendingPods) entry(key string, now time.Time) *inflight {
	x, ok := p.m[key]
	if !ok {
		x = &inflight{created: map[string]bool{}, deleted: map[string]types.UID{}, since: now}
		p.m[key] = x
	}
	if len(x.created) == 0 && len(x.deleted) == 0 {
		x.since = now
	}
	return x
}

// Created records that owner key created the pod namespace/name at now.
func (p *PendingPods) Created(key, namespace, name string, now time.Time) {
	p.mu.Lock()
	defer p.mu.Unlock()
	p.entry(key, now).created[namespace+"/"+name] = true
}

// Deleted records that owner key deleted the pod namespace/name with uid
// at now.
func (p *PendingPods) Deleted(key, namespace, name string, uid types.UID, now time.Time) {
	p.mu.Lock()
	defer p.mu.Unlock()
	p.entry(key, now).deleted[namespace+"/"+name] = uid
}

// Forget drops what is recorded for key (the owner is gone).
func (p *PendingPods) Forget(key string) {
	p.mu.Lock()
	defer p.mu.Unlock()
	delete(p.m, key)
}

// Settled reports whether every write recorded for key shows in pods: the
// created pods are there and the deleted ones are gone, terminating or
// replaced by a pod of another uid. Observed writes are forgotten. It also
// reports true, and forgets everything recorded for key, once the oldest
// unobserved write is older than a minute
// (the events were lost; act on the cache again).
func (p *PendingPods) Settled(key string, pods corelisters.PodLister, now time.Time) bool {
	p.mu.Lock()
	defer p.mu.Unlock()
	x, ok := p.m[key]
	if !ok {
		return true
	}
	for k := range x.created {
		ns, name, _ := strings.Cut(k, "/")
		if _, err := pods.Pods(ns).Get(name); err == nil {
			delete(x.created, k)
		}
	}
	for k, uid := range x.deleted {
		ns, name, _ := strings.Cut(k, "/")
		pod, err := pods.Pods(ns).Get(name)
		if apierrors.IsNotFound(err) || (err == nil && (pod.UID != uid || pod.DeletionTimestamp != nil)) {
			delete(x.deleted, k)
		}
	}
	if len(x.created) == 0 && len(x.deleted) == 0 {
		delete(p.m, key)
		return true
	}
	if now.Sub(x.since) > pendingTTL {
		delete(p.m, key)
		return true
	}
	return false
}
