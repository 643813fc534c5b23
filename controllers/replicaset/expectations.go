package replicaset

import (
	"sync"
	"time"
)

// expectationsTTL is how long an unmet expectation blocks a ReplicaSet.
// After it the controller assumes the events were lost and syncs anyway.
const expectationsTTL = 5 * time.Minute

// expectations records, per ReplicaSet key, how many pod creations and
// which pod deletions the controller issued but has not yet seen in its
// informer. While a ReplicaSet has unmet expectations its sync does not
// create or delete pods: the cache would under-count pods in flight and
// the controller would overshoot. Safe for concurrent use.
//
// It differs from controllers.PendingPods, which the daemonset and job
// controllers use, on purpose: a ReplicaSet records a whole batch (up to
// burstReplicas pods with generated names) before it writes it, and its
// pod event handlers count the pods off as they appear, so an event that
// arrives before Create returns is not missed and a sync never has to look
// pods up by name. PendingPods records each write by name after the API
// accepted it and checks the names against the lister.
type expectations struct {
	mu  sync.Mutex
	now func() time.Time
	m   map[string]*expectation
}

type expectation struct {
	adds      int
	deletes   map[string]bool // pod keys whose deletion is not yet observed
	timestamp time.Time
}

func newExpectations(now func() time.Time) *expectations {
	if now == nil {
		now = time.Now
	}
	return &expectations{now: now, m: map[string]*expectation{}}
}

// satisfied reports whether the ReplicaSet may create or delete pods: it
// has no record, its record is met, or its record expired.
func (e *expectations) satisfied(key string) bool {
	e.mu.Lock()
	defer e.mu.Unlock()
	x, ok := e.m[key]
	if !ok {
		return true
	}
	if x.adds <= 0 && len(x.deletes) == 0 {
		return true
	}
	return e.now().Sub(x.timestamp) > expectationsTTL
}

// expectCreations replaces key's record with n pending creations.
func (e *expectations) expectCreations(key string, n int) {
	e.mu.Lock()
	defer e.mu.Unlock()
	e.m[key] = &expectation{adds: n, deletes: map[string]bool{}, timestamp: e.now()}
}

// expectDeletions replaces key's record with the given pending deletions.
func (e *expectations) expectDeletions(key string, podKeys []string) {
	e.mu.Lock()
	defer e.mu.Unlock()
	d := make(map[string]bool, len(podKeys))
	for _, k := range podKeys {
		d[k] = true
	}
	e.m[key] = &expectation{deletes: d, timestamp: e.now()}
}

// creationObserved lowers key's pending creations by one: a pod it created
// appeared in the cache, or a creation failed or was skipped.
func (e *expectations) creationObserved(key string) {
	e.mu.Lock()
	defer e.mu.Unlock()
	if x, ok := e.m[key]; ok && x.adds > 0 {
		x.adds--
	}
}

// deletionObserved marks the deletion of podKey as seen. A pod is counted
// once however many events report its deletion.
func (e *expectations) deletionObserved(key, podKey string) {
	e.mu.Lock()
	defer e.mu.Unlock()
	if x, ok := e.m[key]; ok {
		delete(x.deletes, podKey)
	}
}

// forget drops key's record (the ReplicaSet is gone).
func (e *expectations) forget(key string) {
	e.mu.Lock()
	defer e.mu.Unlock()
	delete(e.m, key)
}

// pending returns key's outstanding creations and deletions, for tests and
// logs.
func (e *expectations) pending(key string) (adds, deletes int) {
	e.mu.Lock()
	defer e.mu.Unlock()
	if x, ok := e.m[key]; ok {
		return x.adds, len(x.deletes)
	}
	return 0, 0
}
