package app

import (
	"github.com/rwproxy/rwproxy/admin"
	"github.com/rwproxy/rwproxy/config"
	"github.com/rwproxy/rwproxy/metrics"
	"github.com/rwproxy/rwproxy/qcache"
	"github.com/rwproxy/rwproxy/router"
	"github.com/rwproxy/rwproxy/session"
)

// applyQueryCache sizes the query cache for c and hands it to the
// sessions while some rule caches; when none does any more it is emptied,
// since writes stop invalidating it (docs/query-cache.md).
func (a *App) applyQueryCache(c *config.Config, rules *router.Rules, rt *session.Routing) {
	if a.QueryCache == nil {
		a.QueryCache = qcache.New(int64(c.QueryCacheSizeMB) << 20)
	}
	a.QueryCache.SetLimit(int64(c.QueryCacheSizeMB) << 20)
	if rules.HasCache() {
		rt.QueryCache = a.QueryCache
		return
	}
	a.QueryCache.Purge()
}

// QueryCacheStats returns the query cache's counters.
func (a *App) QueryCacheStats() qcache.Stats {
	if a.QueryCache == nil {
		return qcache.Stats{}
	}
	return a.QueryCache.Stats()
}

// QueryCacheTables returns the table sets kept with the query cache's
// entries, most recently used first.
func (a *App) QueryCacheTables() [][]string {
	if a.QueryCache == nil {
		return nil
	}
	return a.QueryCache.EntryTables()
}

// queryCacheMetrics is QueryCacheStats for the metrics collector.
func (a *App) queryCacheMetrics() metrics.QueryCache {
	s := a.QueryCacheStats()
	return metrics.QueryCache{Hits: s.Hits, Misses: s.Misses, Stores: s.Stores, NotStored: s.NotStored,
		Evicted: s.Evicted, Invalidated: s.Invalidated, Expired: s.Expired, Waits: s.Waits, BytesIn: s.BytesIn,
		BytesOut: s.BytesOut, Entries: s.Entries, Bytes: s.Bytes, Limit: s.Limit}
}

// queryCacheRows are stats_mysql_query_cache's rows: ProxySQL's names,
// then rwproxy's.
func (a *App) queryCacheRows() []admin.Counter {
	s := a.QueryCacheStats()
	i := func(v uint64) int64 { return int64(v) }
	return []admin.Counter{
		{Name: "Query_Cache_Memory_bytes", Value: s.Bytes},
		{Name: "Query_Cache_count_GET", Value: i(s.Hits + s.Misses)},
		{Name: "Query_Cache_count_GET_OK", Value: i(s.Hits)},
		{Name: "Query_Cache_count_SET", Value: i(s.Stores)},
		{Name: "Query_Cache_bytes_IN", Value: i(s.BytesIn)},
		{Name: "Query_Cache_bytes_OUT", Value: i(s.BytesOut)},
		{Name: "Query_Cache_Purged", Value: i(s.Evicted + s.Invalidated + s.Expired)},
		{Name: "Query_Cache_Entries", Value: int64(s.Entries)},
		{Name: "Query_Cache_Misses", Value: i(s.Misses)},
		{Name: "Query_Cache_Evicted", Value: i(s.Evicted)},
		{Name: "Query_Cache_Invalidated", Value: i(s.Invalidated)},
		{Name: "Query_Cache_Expired", Value: i(s.Expired)},
		{Name: "Query_Cache_Not_Stored", Value: i(s.NotStored)},
		{Name: "Query_Cache_Fill_Waits", Value: i(s.Waits)},
		{Name: "Query_Cache_Tracked_Tables", Value: int64(s.TrackedTables)},
		{Name: "Query_Cache_Limit_bytes", Value: s.Limit},
	}
}
