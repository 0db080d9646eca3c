package metrics

import "github.com/prometheus/client_golang/prometheus"

// Query cache metrics (docs/query-cache.md).
var (
	dQCLookups     = desc("query_cache_lookups_total", "Lookups of statements a query rule caches, by result (hit or miss).", []string{"result"})
	dQCStores      = desc("query_cache_stores_total", "Results stored in the query cache.", nil)
	dQCNotStored   = desc("query_cache_not_stored_total", "Results read for the cache but not kept (too large, or a write to one of their tables completed meanwhile).", nil)
	dQCRemoved     = desc("query_cache_removed_total", "Entries removed, by reason (evicted: LRU for room; invalidated: a write to a table they read; expired: past cache_ttl).", []string{"reason"})
	dQCWaits       = desc("query_cache_fill_waits_total", "Misses that found the same statement being read by another session (cache_timeout).", nil)
	dQCBytesStored = desc("query_cache_stored_bytes_total", "Packet bytes stored in the query cache.", nil)
	dQCBytesServed = desc("query_cache_served_bytes_total", "Packet bytes served from the query cache.", nil)
	dQCEntries     = desc("query_cache_entries", "Results held in the query cache.", nil)
	dQCBytes       = desc("query_cache_memory_bytes", "Memory the query cache's entries hold (estimated).", nil)
	dQCLimit       = desc("query_cache_limit_bytes", "The query cache's budget (query_cache_size_mb).", nil)
)

// QueryCache is the query cache's counters at one instant.
type QueryCache struct {
	Hits, Misses, Stores, NotStored, Evicted, Invalidated, Expired, Waits, BytesIn, BytesOut uint64
	Entries                                                                                  int
	Bytes, Limit                                                                             int64
}

// QueryCacheCollector exports the query cache's counters, read at each
// scrape from a function.
type QueryCacheCollector struct {
	read func() QueryCache
}

var _ prometheus.Collector = (*QueryCacheCollector)(nil)

// NewQueryCacheCollector returns a collector that calls read at each scrape.
func NewQueryCacheCollector(read func() QueryCache) *QueryCacheCollector {
	return &QueryCacheCollector{read: read}
}

// Describe implements prometheus.Collector.
func (c *QueryCacheCollector) Describe(ch chan<- *prometheus.Desc) {
	for _, d := range []*prometheus.Desc{dQCLookups, dQCStores, dQCNotStored, dQCRemoved, dQCWaits, dQCBytesStored,
		dQCBytesServed, dQCEntries, dQCBytes, dQCLimit} {
		ch <- d
	}
}

// Collect implements prometheus.Collector.
func (c *QueryCacheCollector) Collect(ch chan<- prometheus.Metric) {
	q := c.read()
	ch <- counter(dQCLookups, float64(q.Hits), "hit")
	ch <- counter(dQCLookups, float64(q.Misses), "miss")
	ch <- counter(dQCStores, float64(q.Stores))
	ch <- counter(dQCNotStored, float64(q.NotStored))
	ch <- counter(dQCRemoved, float64(q.Evicted), "evicted")
	ch <- counter(dQCRemoved, float64(q.Invalidated), "invalidated")
	ch <- counter(dQCRemoved, float64(q.Expired), "expired")
	ch <- counter(dQCWaits, float64(q.Waits))
	ch <- counter(dQCBytesStored, float64(q.BytesIn))
	ch <- counter(dQCBytesServed, float64(q.BytesOut))
	ch <- gauge(dQCEntries, float64(q.Entries))
	ch <- gauge(dQCBytes, float64(q.Bytes))
	ch <- gauge(dQCLimit, float64(q.Limit))
}
