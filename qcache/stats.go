package qcache

// Stats are the cache's counters (stats_mysql_query_cache, metrics).
type Stats struct {
	// Hits and Misses count lookups of cacheable statements.
	Hits, Misses uint64
	// Stores counts results kept; NotStored results read but not kept
	// (too large, or a write to one of their tables completed meanwhile).
	Stores, NotStored uint64
	// Evicted: entries dropped for room (LRU); Invalidated: by a write to
	// a table they read; Expired: found past their TTL.
	Evicted, Invalidated, Expired uint64
	// Waits counts misses that found the same statement being filled by
	// another session (cache_timeout).
	Waits uint64
	// BytesIn and BytesOut are the packet bytes stored and served.
	BytesIn, BytesOut uint64
	// Entries and Bytes are the cache's content now; Limit its budget.
	Entries       int
	Bytes, Limit  int64
	TrackedTables int
}

// Stats returns a snapshot of the counters.
func (c *Cache) Stats() Stats {
	c.mu.Lock()
	s := Stats{Entries: len(c.mu.entries), Bytes: c.mu.bytes, Limit: c.mu.limit, TrackedTables: len(c.mu.lastWrite)}
	c.mu.Unlock()
	s.Hits, s.Misses = c.stats.hits.Load(), c.stats.misses.Load()
	s.Stores, s.NotStored = c.stats.stores.Load(), c.stats.notStored.Load()
	s.Evicted, s.Invalidated, s.Expired = c.stats.evicted.Load(), c.stats.invalidated.Load(), c.stats.expired.Load()
	s.Waits = c.stats.waits.Load()
	s.BytesIn, s.BytesOut = c.stats.bytesIn.Load(), c.stats.bytesOut.Load()
	return s
}

// EntryTables returns the table sets of the entries held, most recently
// used first (tests and diagnostics).
func (c *Cache) EntryTables() [][]string {
	c.mu.Lock()
	defer c.mu.Unlock()
	out := make([][]string, 0, len(c.mu.entries))
	for e := c.mu.head; e != nil; e = e.next {
		out = append(out, e.tables)
	}
	return out
}
