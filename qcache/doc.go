// Package qcache is rwproxy's query cache: the relayed packets of read
// results (text and binary protocol), stored under a key of user, schema,
// statement (and execute parameters) and the session state that shapes a
// result, kept for a query rule's cache_ttl within a memory budget
// (query_cache_size_mb, LRU eviction).
//
// Unlike a TTL-only cache it never serves a result older than a write made
// through this proxy node that could have changed it:
//
//   - every entry keeps the set of tables it read (from the parser); a
//     write to a table, when its reply has arrived and before the client
//     can see it, removes every entry that read that table (at the end of
//     the transaction too, for writes inside one);
//   - a result whose read started before such a write completed is not
//     stored (a sequence number taken at the start of the read is compared
//     with the tables' last write when it is stored);
//   - a session (or user, with read_your_writes at user scope) that wrote a
//     table only gets entries of that table filled after its write, on the
//     writer or by a read-your-writes read of its own scope, so never one
//     that a lagging replica answered from before the write.
//
// Writes that do not go through this node (another node of a cluster, a
// client connected to the database directly, triggers, events) are bounded
// by cache_ttl only. See docs/query-cache.md.
//
// Concurrency: a *Cache is safe for concurrent use; one mutex guards the
// index, and an entry's packets are immutable once stored, so a hit replays
// them without the lock. A Fill belongs to the session goroutine that
// started it.
package qcache
