package integration

import (
	"context"
	"fmt"
	"strconv"
	"testing"
	"time"

	"github.com/stretchr/testify/require"

	"github.com/rwproxy/rwproxy/config"
	"github.com/rwproxy/rwproxy/internal/app"
)

const qcSchema = "rwqc"

// qcProxy is the split proxy (replicas read) with a rule caching every
// SELECT of table kv for an hour and the given cache size.
func qcProxy(t *testing.T, sizeMB int) *app.App {
	t.Helper()
	createSchema(t, qcSchema, []string{
		"CREATE TABLE kv (id INT PRIMARY KEY, v INT NOT NULL)",
		"INSERT INTO kv VALUES (1, 10), (2, 20)",
	})
	return spProxy(t, func(c *config.Config) {
		c.QueryCacheSizeMB = sizeMB
		c.QueryRules = []config.QueryRule{{RuleID: 1, Active: true, MatchPattern: `^SELECT .* FROM kv\b`,
			CacheTTL: time.Hour, Apply: true}}
	})
}

// qcInt runs a one-value query.
func qcInt(t *testing.T, q spQueryer, query string, args ...any) int {
	t.Helper()
	rows := spQuery(t, q, query, args...)
	require.Len(t, rows, 1, query)
	n, err := strconv.Atoi(rows[0][0])
	require.NoError(t, err)
	return n
}

// TestQueryCacheHitThenWriteInvalidates: a cached read is served from the
// cache (a change made directly on the primary, behind rwproxy's back, is
// not seen: the TTL bounds those), until a write through rwproxy from
// another session changes the table: the next read has the new value.
func TestQueryCacheHitThenWriteInvalidates(t *testing.T) {
	needSandbox(t)
	a := qcProxy(t, 16)
	db := openDB(t, dsn(a.Addr(), "app", qcSchema))
	reader, writer := conn(t, db), conn(t, db)
	direct := conn(t, openDB(t, dsn(primary(), "app", qcSchema)))
	const q = "SELECT v FROM kv WHERE id = 1"

	require.Equal(t, 10, qcInt(t, reader, q))
	s0 := a.QueryCacheStats()
	require.EqualValues(t, 1, s0.Stores)
	require.Equal(t, []string{"rwqc.kv"}, qcEntryTables(t, a))

	spExec(t, direct, "UPDATE kv SET v = 11 WHERE id = 1")
	_, err := sb.Run("sync")
	require.NoError(t, err)
	require.Equal(t, 10, qcInt(t, reader, q), "served from the cache: the direct write is invisible to it")
	require.Equal(t, 10, qcInt(t, writer, q), "another session of the user shares the entry")
	require.EqualValues(t, 2, a.QueryCacheStats().Hits-s0.Hits)

	// A write through rwproxy to another table leaves the entry alone.
	spExec(t, writer, "CREATE TABLE IF NOT EXISTS other (id INT PRIMARY KEY)")
	spExec(t, writer, "REPLACE INTO other VALUES (1)")
	require.Equal(t, 10, qcInt(t, reader, q))

	// The write: the next read, by another session of the same user
	// (read-your-writes at user scope), sees it at once, whatever the
	// replicas' lag, and its result is cached again for that user.
	spExec(t, writer, "UPDATE kv SET v = 12 WHERE id = 1")
	s1 := a.QueryCacheStats()
	require.Positive(t, s1.Invalidated-s0.Invalidated)
	require.Equal(t, 12, qcInt(t, reader, q))
	require.Equal(t, 12, qcInt(t, reader, q))
	s2 := a.QueryCacheStats()
	require.EqualValues(t, 1, s2.Hits-s1.Hits, "the writer's user uses the entry its own read-your-writes read filled")

	// A user that did not write shares nothing with app: its own entry.
	other := conn(t, openDB(t, dsn(a.Addr(), "app2", qcSchema)))
	require.Contains(t, []int{11, 12}, qcInt(t, other, q))
}

// TestQueryCacheTransactions: reads inside a transaction bypass the cache;
// a write inside one invalidates again at COMMIT, removing what another
// session cached between the write and the COMMIT (the old value, right
// until then).
func TestQueryCacheTransactions(t *testing.T) {
	needSandbox(t)
	a := qcProxy(t, 16)
	db := openDB(t, dsn(a.Addr(), "app", qcSchema))
	c := conn(t, db)
	const q = "SELECT v FROM kv WHERE id = 2"

	spExec(t, c, "BEGIN")
	require.Equal(t, 20, qcInt(t, c, q))
	require.Equal(t, 20, qcInt(t, c, q))
	spExec(t, c, "UPDATE kv SET v = 21 WHERE id = 2")
	require.Zero(t, a.QueryCacheStats().Stores+a.QueryCacheStats().Hits, "no read of a transaction touched the cache")

	// Another user reads (and caches) before the COMMIT: the old value.
	other := conn(t, openDB(t, dsn(a.Addr(), "app2", qcSchema)))
	require.Equal(t, 20, qcInt(t, other, q))
	before := a.QueryCacheStats()
	require.EqualValues(t, 1, before.Stores)
	spExec(t, c, "COMMIT")
	after := a.QueryCacheStats()
	require.EqualValues(t, 1, after.Invalidated-before.Invalidated, "COMMIT removed the entry filled during the transaction")
	require.Zero(t, after.Entries)
	require.Equal(t, 21, qcInt(t, c, q), "the writer reads its committed write")
}

// TestQueryCachePreparedStatements: binary-protocol results are cached by
// statement and parameters, and invalidated by a write.
func TestQueryCachePreparedStatements(t *testing.T) {
	needSandbox(t)
	a := qcProxy(t, 16)
	db := openDB(t, dsn(a.Addr(), "app", qcSchema)) // interpolateParams off: real prepared statements
	c := conn(t, db)
	direct := conn(t, openDB(t, dsn(primary(), "app", qcSchema)))
	ctx := context.Background()
	stmt, err := c.PrepareContext(ctx, "SELECT v, id FROM kv WHERE id = ?")
	require.NoError(t, err)
	defer stmt.Close()
	read := func(id int) int {
		var v, got int
		require.NoError(t, stmt.QueryRowContext(ctx, id).Scan(&v, &got))
		require.Equal(t, id, got)
		return v
	}
	require.Equal(t, 10, read(1))
	require.Equal(t, 20, read(2))
	require.EqualValues(t, 2, a.QueryCacheStats().Stores, "one entry per parameter value")

	spExec(t, direct, "UPDATE kv SET v = 13 WHERE id = 1")
	_, err = sb.Run("sync")
	require.NoError(t, err)
	require.Equal(t, 10, read(1), "the binary result came from the cache")
	require.EqualValues(t, 1, a.QueryCacheStats().Hits)

	spExec(t, c, "UPDATE kv SET v = 14 WHERE id = 1")
	require.Equal(t, 14, read(1), "a write through rwproxy invalidated it")
	require.Equal(t, 20, read(2))
}

// TestQueryCacheEviction: past query_cache_size_mb the least recently used
// results go; memory stays within the budget.
func TestQueryCacheEviction(t *testing.T) {
	needSandbox(t)
	a := qcProxy(t, 1) // 1 MiB, entries up to 128 KiB
	c := conn(t, openDB(t, dsn(a.Addr(), "app", qcSchema)))
	big := func(i int) string { return fmt.Sprintf("SELECT REPEAT('x', 60000), %d FROM kv WHERE id = 1", i) }
	run := func(q string) {
		var s string
		var n int
		require.NoError(t, c.QueryRowContext(context.Background(), q).Scan(&s, &n))
		require.Len(t, s, 60000)
	}
	for i := range 30 {
		run(big(i))
		require.LessOrEqual(t, a.QueryCacheStats().Bytes, int64(1<<20))
	}
	s := a.QueryCacheStats()
	require.EqualValues(t, 30, s.Stores)
	require.Positive(t, s.Evicted)
	require.Less(t, s.Entries, 30)
	run(big(29))
	require.EqualValues(t, s.Hits+1, a.QueryCacheStats().Hits, "the most recent entry stayed")
	run(big(0))
	require.EqualValues(t, s.Misses+1, a.QueryCacheStats().Misses, "the oldest was evicted")
}

// qcEntryTables returns the tables (from the parser) kept with the
// cache's only entry.
func qcEntryTables(t *testing.T, a *app.App) []string {
	t.Helper()
	tables := a.QueryCacheTables()
	require.Len(t, tables, 1)
	return tables[0]
}
