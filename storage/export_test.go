package storage

// ListsFromMemory counts the lists s answered from its list cache.
func ListsFromMemory(s *Store) int64 { return s.lists.served.Load() }
