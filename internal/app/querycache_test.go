package app

import (
	"context"
	"database/sql"
	"fmt"
	"net"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/go-mysql-org/go-mysql/mysql"
	mysqlserver "github.com/go-mysql-org/go-mysql/server"
	"github.com/stretchr/testify/require"
	"go.uber.org/zap/zaptest"

	"github.com/rwproxy/rwproxy/config"
	"github.com/rwproxy/rwproxy/internal/testkit/fakebackend"
)

// tableBackend is a fake backend holding one value per table: "SELECT v
// FROM shop.<t> [WHERE id = ?]" returns it (with the id when given, and
// padding rows for "pad=<n>"), "UPDATE shop.<t> SET v = <n>" sets it.
// It counts the SELECTs it answered by statement text.
type tableBackend struct {
	mu     sync.Mutex
	vals   map[string]int64
	counts map[string]int
	// hold, when set, is waited on by SELECTs containing "slow" before
	// they answer.
	hold chan struct{}
}

func newTableBackend() *tableBackend {
	return &tableBackend{vals: map[string]int64{}, counts: map[string]int{}}
}

func (b *tableBackend) count(q string) int {
	b.mu.Lock()
	defer b.mu.Unlock()
	return b.counts[q]
}

func (b *tableBackend) handler(net.Conn) mysqlserver.Handler { return &tableConn{b: b} }

type tableConn struct {
	mysqlserver.EmptyHandler
	b *tableBackend
}

func (c *tableConn) HandleOtherCommand(byte, []byte) error { return nil }

func (c *tableConn) answer(q string, args []any, binary bool) (*mysql.Result, error) {
	b := c.b
	b.mu.Lock()
	defer b.mu.Unlock()
	var table string
	var v int64
	switch {
	case fmtScan(q, "UPDATE shop.%s SET v = %d", &table, &v):
		b.vals[table] = v
		return &mysql.Result{AffectedRows: 1}, nil
	case strings.HasPrefix(q, "SELECT v FROM shop."):
		b.counts[q]++
		if hold := b.hold; hold != nil && strings.Contains(q, "slow") {
			b.mu.Unlock()
			<-hold
			b.mu.Lock()
		}
		table = strings.Fields(q[len("SELECT v FROM shop."):])[0]
		rows := [][]any{{b.vals[table], fmt.Sprint(args)}}
		var pad int
		if i := strings.Index(q, "pad="); i >= 0 {
			_, _ = fmt.Sscanf(q[i:], "pad=%d", &pad)
		}
		for range pad {
			rows = append(rows, []any{int64(0), strings.Repeat("x", 1000)})
		}
		if strings.Contains(q, "empty") {
			rows = nil
		}
		rs, err := mysql.BuildSimpleResultset([]string{"v", "args"}, rows, binary)
		if err != nil {
			return nil, err
		}
		return mysql.NewResult(rs), nil
	}
	return nil, nil
}

func fmtScan(q, format string, a ...any) bool {
	n, err := fmt.Sscanf(q, format, a...)
	return err == nil && n == len(a)
}

func (c *tableConn) HandleQuery(q string) (*mysql.Result, error) { return c.answer(q, nil, false) }

func (c *tableConn) HandleStmtPrepare(q string) (int, int, any, error) {
	return strings.Count(q, "?"), 2, nil, nil
}

func (c *tableConn) HandleStmtExecute(_ any, q string, args []any) (*mysql.Result, error) {
	return c.answer(q, args, true)
}

// startCachedProxy runs rwproxy with a caching rule for every SELECT in
// front of a tableBackend.
func startCachedProxy(t *testing.T, sizeMB int, rule config.QueryRule) (*App, *tableBackend) {
	t.Helper()
	b := newTableBackend()
	addr := fakebackend.Start(t, fakebackend.Options{Handler: b.handler})
	cfg := backendConfig(t, addr)
	cfg.QueryCacheSizeMB = sizeMB
	cfg.QueryRules = []config.QueryRule{rule}
	require.NoError(t, cfg.Validate())
	a, err := New(cfg, zaptest.NewLogger(t))
	require.NoError(t, err)
	a.Start()
	t.Cleanup(func() { _ = a.Close() })
	return a, b
}

var cacheSelects = config.QueryRule{RuleID: 1, Active: true, MatchDigest: "^SELECT", CacheTTL: time.Hour}

func queryV(t *testing.T, db *sql.DB, q string, args ...any) int64 {
	t.Helper()
	var v int64
	var s string
	require.NoError(t, db.QueryRow(q, args...).Scan(&v, &s))
	return v
}

func exec1(t *testing.T, db *sql.DB, q string) {
	t.Helper()
	_, err := db.Exec(q)
	require.NoError(t, err)
}

// A cached read is served without the backend until a write through the
// proxy, from another session, changes its table.
func TestQueryCacheHitThenInvalidation(t *testing.T) {
	a, b := startCachedProxy(t, 8, cacheSelects)
	reader, writer := openClient(t, a.Addr()), openClient(t, a.Addr())
	const q = "SELECT v FROM shop.t"
	exec1(t, writer, "UPDATE shop.t SET v = 1")
	require.EqualValues(t, 1, queryV(t, reader, q))
	require.EqualValues(t, 1, queryV(t, reader, q))
	require.EqualValues(t, 1, queryV(t, writer, q), "another session of the same user hits too")
	require.Equal(t, 1, b.count(q), "the backend answered once")
	s := a.QueryCacheStats()
	require.EqualValues(t, 2, s.Hits)
	require.EqualValues(t, 1, s.Stores)

	exec1(t, writer, "UPDATE shop.u SET v = 5") // another table: the entry stays
	require.EqualValues(t, 1, queryV(t, reader, q))
	require.Equal(t, 1, b.count(q))

	exec1(t, writer, "UPDATE shop.t SET v = 2")
	require.EqualValues(t, 2, queryV(t, reader, q), "the write invalidated the entry")
	require.Equal(t, 2, b.count(q))
	require.EqualValues(t, 1, a.QueryCacheStats().Invalidated)

	// (Transactions need a server that reports them: test/integration.)
}

// Prepared statements: the binary result is cached by statement and
// parameter values.
func TestQueryCacheBinaryProtocol(t *testing.T) {
	a, b := startCachedProxy(t, 8, cacheSelects)
	db := openClient(t, a.Addr())
	const q = "SELECT v FROM shop.t WHERE id = ?"
	exec1(t, db, "UPDATE shop.t SET v = 4")
	stmt, err := db.Prepare(q)
	require.NoError(t, err)
	defer stmt.Close()
	read := func(id int) (int64, string) {
		var v int64
		var args string
		require.NoError(t, stmt.QueryRow(id).Scan(&v, &args))
		return v, args
	}
	v, args := read(1)
	require.EqualValues(t, 4, v)
	require.Equal(t, "[1]", args)
	v, args = read(1)
	require.EqualValues(t, 4, v)
	require.Equal(t, "[1]", args, "the cached binary result decodes the same")
	require.Equal(t, 1, b.count(q))
	_, args = read(2)
	require.Equal(t, "[2]", args, "other parameter values are another entry")
	require.Equal(t, 2, b.count(q))
	require.EqualValues(t, 1, a.QueryCacheStats().Hits)

	exec1(t, db, "UPDATE shop.t SET v = 5")
	v, _ = read(1)
	require.EqualValues(t, 5, v)
	require.Equal(t, 3, b.count(q))
}

// Locking reads never use the cache; cache_empty_result=0 keeps empty
// results out.
func TestQueryCacheBypass(t *testing.T) {
	f := false
	rule := cacheSelects
	rule.CacheEmptyResult = &f
	a, b := startCachedProxy(t, 8, rule)
	db := openClient(t, a.Addr())
	// A locking read is never cached (a fake backend reports no
	// transactions: test/integration checks reads in one).
	const q = "SELECT v FROM shop.t FOR UPDATE"
	require.EqualValues(t, 0, queryV(t, db, q))
	require.EqualValues(t, 0, queryV(t, db, q))
	require.Equal(t, 2, b.count(q))
	require.Zero(t, a.QueryCacheStats().Stores)

	const empty = "SELECT v FROM shop.t /* empty */"
	for range 2 {
		rows, err := db.Query(empty)
		require.NoError(t, err)
		require.False(t, rows.Next())
		require.NoError(t, rows.Close())
	}
	require.Equal(t, 2, b.count(empty))
}

// The cache stays within query_cache_size_mb, evicting the least recently
// used results.
func TestQueryCacheEviction(t *testing.T) {
	a, b := startCachedProxy(t, 1, cacheSelects) // 1 MiB: entries up to 128 KiB
	db := openClient(t, a.Addr())
	ctx := context.Background()
	for i := range 30 {
		q := fmt.Sprintf("SELECT v FROM shop.t WHERE %d > 0 /* pad=60 */", i) // ~62 KB each
		rows, err := db.QueryContext(ctx, q)
		require.NoError(t, err)
		for rows.Next() {
		}
		require.NoError(t, rows.Close())
	}
	s := a.QueryCacheStats()
	require.EqualValues(t, 30, s.Stores)
	require.Positive(t, s.Evicted)
	require.LessOrEqual(t, s.Bytes, int64(1<<20))
	require.Less(t, s.Entries, 30)
	// The oldest went first: the first statement misses, the last hits.
	last := "SELECT v FROM shop.t WHERE 29 > 0 /* pad=60 */"
	first := "SELECT v FROM shop.t WHERE 0 > 0 /* pad=60 */"
	for _, q := range []string{last, first} {
		rows, err := db.QueryContext(ctx, q)
		require.NoError(t, err)
		for rows.Next() {
		}
		require.NoError(t, rows.Close())
	}
	require.Equal(t, 1, b.count(last))
	require.Equal(t, 2, b.count(first))
}

// cache_timeout: a miss that finds the same statement being read by
// another session waits for that result instead of reading it again.
func TestQueryCacheTimeoutWaitsForTheFill(t *testing.T) {
	rule := cacheSelects
	rule.CacheTimeout = time.Minute
	a, b := startCachedProxy(t, 8, rule)
	b.hold = make(chan struct{})
	first, second := openClient(t, a.Addr()), openClient(t, a.Addr())
	const q = "SELECT v FROM shop.t /* slow */"
	done := make(chan int64, 2)
	read := func(db *sql.DB) { // no require off the test goroutine
		var v int64
		var s string
		if err := db.QueryRow(q).Scan(&v, &s); err != nil {
			v = -1
		}
		done <- v
	}
	go read(first)
	require.Eventually(t, func() bool { return b.count(q) == 1 }, 10*time.Second, 5*time.Millisecond)
	go read(second)
	require.Eventually(t, func() bool { return a.QueryCacheStats().Waits == 1 }, 10*time.Second, 5*time.Millisecond)
	close(b.hold) // the first read answers; the waiting one is served its result
	require.EqualValues(t, 0, <-done)
	require.EqualValues(t, 0, <-done)
	require.Equal(t, 1, b.count(q), "one read reached the backend")
	require.EqualValues(t, 1, a.QueryCacheStats().Hits)
}
