package storage

import "time"

// ListsFromMemory counts the lists s answered from its list cache.
func ListsFromMemory(s *Store) int64 { return s.lists.served.Load() }

// AfterGetRead makes s's Get call fn between its database read and its
// offer to the cache, to race it deterministically. Set it before use.
func AfterGetRead(s *Store, fn func(Key)) { s.afterGetRead = fn }

// SetCacheClock replaces the clock of s's cache tombstones.
func SetCacheClock(s *Store, now func() time.Time) { s.lists.clock.Store(&now) }

// TombstoneTTL is how long the cache remembers a deletion.
const TombstoneTTL = tombstoneTTL

// SparseEntries counts the entries (tombstones included) the cache keeps
// for resource while it is not loaded.
func SparseEntries(s *Store, resource string) int {
	s.lists.mu.RLock()
	defer s.lists.mu.RUnlock()
	return len(s.lists.sparse[resource])
}

// ResetCache does what the hub does when it skips revisions it cannot
// read: the cache forgets everything.
func ResetCache(s *Store) {
	s.hub.mu.Lock()
	defer s.hub.mu.Unlock()
	s.lists.reset(s.hub.last)
}
