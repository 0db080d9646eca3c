package integration

import (
	"context"
	"errors"
	"strconv"
	"testing"
	"time"

	"github.com/go-mysql-org/go-mysql/client"
	"github.com/go-sql-driver/mysql"
	"github.com/stretchr/testify/require"

	"github.com/rwproxy/rwproxy/config"
	"github.com/rwproxy/rwproxy/internal/app"
	"github.com/rwproxy/rwproxy/topology"
)

const consSchema = "rwcons"

// consLagReplicas delays both replicas by secs (MASTER_DELAY) until the
// test ends, and waits until the proxy still reads from both (the delay is
// under their max_replication_lag).
func consLagReplicas(t *testing.T, a *app.App, secs int) {
	t.Helper()
	for _, n := range []string{"2", "3"} {
		_, err := sb.Run("lag", n, "delay", strconv.Itoa(secs))
		require.NoError(t, err)
	}
	t.Cleanup(func() {
		for _, n := range []string{"2", "3"} {
			_, err := sb.Run("lag", n, "clear")
			require.NoError(t, err)
		}
		_, err := sb.Run("sync")
		require.NoError(t, err)
	})
	require.Eventually(t, func() bool {
		online := 0
		for _, b := range a.Monitor.Snapshot().Hostgroups[20] {
			if b.State == topology.StateOnline {
				online++
			}
		}
		return online == 2
	}, 30*time.Second, 50*time.Millisecond, "the delayed replicas left the reader hostgroup")
}

// TestReadYourWritesUserScope: with the default configuration
// (read_your_writes, scope user), a row one connection of the application
// inserted is seen by a read on ANOTHER connection of the same user while
// both replicas are five seconds behind; with scope session that other
// connection reads a replica that has not applied it.
func TestReadYourWritesUserScope(t *testing.T) {
	needSandbox(t)
	createSchema(t, consSchema, []string{"CREATE TABLE tscope (id INT PRIMARY KEY)"})
	a := spProxy(t, nil)
	u := a.Store.Current().Users[0]
	require.Equal(t, config.ConsistencyReadYourWrites, u.Consistency, "the default")
	require.Equal(t, config.ScopeUser, u.ConsistencyScope, "the default")
	sess := spProxy(t, func(c *config.Config) {
		c.Users[0].ConsistencyScope = config.ScopeSession
		c.Users[0].ReadYourWritesTimeout = 200 * time.Millisecond
	})
	consLagReplicas(t, a, 5)
	consLagReplicas(t, sess, 5)

	db := openDB(t, dsn(a.Addr(), "app", consSchema))
	w, r := conn(t, db), conn(t, db) // two client sessions of one user
	waits, fallbacks := a.Stats.RYWWaits.Load(), a.Stats.RYWFallbacks.Load()
	for i := 1; i <= 5; i++ {
		spExec(t, w, "INSERT INTO tscope VALUES ("+strconv.Itoa(i)+")")
		vals, node := spRow(t, r, "SELECT COUNT(*), @@port FROM tscope WHERE id = "+strconv.Itoa(i))
		require.Equal(t, []string{"1"}, vals, "insert %d on one connection not seen by another (node%d)", i, node)
		require.Equal(t, 1, node, "the delayed replicas cannot have it: the read belongs on the writer")
	}
	require.Greater(t, a.Stats.RYWWaits.Load(), waits, "no replica was waited on")
	counts, sum := a.Stats.RYWWait.Snapshot()
	var n uint64
	for _, c := range counts {
		n += c
	}
	require.Equal(t, a.Stats.RYWWaits.Load(), n, "every wait is in the wait-time histogram")
	require.Positive(t, sum)
	require.GreaterOrEqual(t, a.Stats.RYWFallbacks.Load()-fallbacks, uint64(5), "reads sent to the writer for consistency")

	// Scope session: the writing session reads its own write, the other
	// one does not wait.
	sdb := openDB(t, dsn(sess.Addr(), "app", consSchema))
	w2, r2 := conn(t, sdb), conn(t, sdb)
	start := time.Now()
	spExec(t, w2, "INSERT INTO tscope VALUES (100)")
	vals, node := spRow(t, r2, "SELECT COUNT(*), @@port FROM tscope WHERE id = 100")
	if time.Since(start) < 3*time.Second { // else the replicas may have applied it: nothing to check
		require.Equal(t, []string{"0"}, vals, "scope session: another session waited for this one's write")
		require.Contains(t, []int{2, 3}, node)
	}
	vals, node = spRow(t, w2, "SELECT COUNT(*), @@port FROM tscope WHERE id = 100")
	require.Equal(t, []string{"1"}, vals, "scope session: own write not seen (node%d)", node)
}

// TestReadYourWritesEventualOptOut: consistency eventual reads a replica
// right after a write, without waiting.
func TestReadYourWritesEventualOptOut(t *testing.T) {
	needSandbox(t)
	createSchema(t, consSchema+"e", []string{"CREATE TABLE t (id INT PRIMARY KEY)"})
	a := spProxy(t, func(c *config.Config) { c.Users[0].Consistency = config.ConsistencyEventual })
	c := conn(t, openDB(t, dsn(a.Addr(), "app", consSchema+"e")))
	for i := 1; i <= 5; i++ {
		spExec(t, c, "INSERT INTO t VALUES ("+strconv.Itoa(i)+")")
		_, node := spRow(t, c, "SELECT COUNT(*), @@port FROM t")
		require.Contains(t, []int{2, 3}, node, "eventual: a read after a write ran on node%d", node)
	}
	require.Zero(t, a.Stats.RYWWaits.Load())
	require.Zero(t, a.Stats.RYWFallbacks.Load())
}

// TestLostBackendEndsTransaction: the backend connection of a transfer
// (debit, then credit) is killed between the two statements. The credit
// fails, the client connection is closed (COMMIT cannot answer OK), and
// neither row changed.
func TestLostBackendEndsTransaction(t *testing.T) {
	needSandbox(t)
	createSchema(t, consSchema+"t", []string{
		"CREATE TABLE acct (id INT PRIMARY KEY, bal INT NOT NULL)",
		"INSERT INTO acct VALUES (1, 100), (2, 0)",
	})
	// Without transaction replay (TestReplay* cover it with replay on).
	a := spProxy(t, func(c *config.Config) { c.TransactionReplay = config.TransactionReplayOff })
	direct := conn(t, openDB(t, dsn(primary(), "app", consSchema+"t")))
	kill := func(id string) {
		spExec(t, direct, "KILL CONNECTION "+id)
		require.Eventually(t, func() bool {
			n, _ := spRow(t, direct, "SELECT COUNT(*), @@port FROM information_schema.PROCESSLIST WHERE ID = "+id)
			return n[0] == "0"
		}, 30*time.Second, 20*time.Millisecond)
	}
	db := openDB(t, dsn(a.Addr(), "app", consSchema+"t"))
	c := conn(t, db)
	spExec(t, c, "BEGIN")
	spExec(t, c, "UPDATE acct SET bal = bal - 10 WHERE id = 1")
	id, node := spRow(t, c, "SELECT CONNECTION_ID(), @@port")
	require.Equal(t, 1, node)
	kill(id[0])
	_, err := c.ExecContext(context.Background(), "UPDATE acct SET bal = bal + 10 WHERE id = 2")
	require.Error(t, err, "the credit ran on another connection")
	var me *mysql.MySQLError
	require.True(t, errors.As(err, &me), "credit: %v", err)
	require.EqualValues(t, 9020, me.Number, "rwproxy's lost-backend error, never the client library's 2013 (libmariadb reports it as 2027)")
	_, err = c.ExecContext(context.Background(), "COMMIT")
	require.Error(t, err, "COMMIT answered OK for a lost transaction")
	require.Equal(t, [][]string{{"1", "100"}, {"2", "0"}}, spQuery(t, direct, "SELECT id, bal FROM acct ORDER BY id"))
	require.Equal(t, uint64(1), a.Stats.StateLost.Load())

	// The same with a temporary table as the pinned state: later
	// statements never run without it.
	c2 := conn(t, db)
	spExec(t, c2, "CREATE TEMPORARY TABLE tmp (v INT)")
	id, _ = spRow(t, c2, "SELECT CONNECTION_ID(), @@port")
	kill(id[0])
	_, err = c2.ExecContext(context.Background(), "INSERT INTO tmp VALUES (1)")
	require.Error(t, err)
	_, err = c2.ExecContext(context.Background(), "INSERT INTO acct VALUES (3, 0)")
	require.Error(t, err, "a statement ran after the session's state was lost")
	require.Equal(t, uint64(2), a.Stats.StateLost.Load())

	// A lost connection that held no state fails one statement only.
	c3 := conn(t, db)
	id, _ = spRow(t, c3, "SELECT CONNECTION_ID(), @@port FROM acct LIMIT 1 FOR UPDATE")
	kill(id[0])
	var errs int
	for range 2 { // the killed connection may be the pooled one the next statement gets
		if _, err := c3.ExecContext(context.Background(), "UPDATE acct SET bal = bal WHERE id = 1"); err != nil {
			errs++
		}
	}
	require.LessOrEqual(t, errs, 1)
	spExec(t, c3, "UPDATE acct SET bal = bal WHERE id = 1")
	require.Equal(t, uint64(2), a.Stats.StateLost.Load())
	require.Equal(t, [][]string{{"1", "100"}, {"2", "0"}}, spQuery(t, direct, "SELECT id, bal FROM acct ORDER BY id"))
}

// TestNoSchemaNotInherited: a session that logged in without a schema
// gets error 1046 for an unqualified table, as directly, even when the
// pooled connections last served a session that used a schema.
func TestNoSchemaNotInherited(t *testing.T) {
	needSandbox(t)
	createSchema(t, consSchema+"s", []string{"CREATE TABLE t (id INT)", "INSERT INTO t VALUES (1)"})
	a := startProxy(t, nil)
	_, directErr := openDB(t, dsn(primary(), "app", "")).Exec("INSERT INTO t VALUES (2)")
	require.Error(t, directErr)
	for i := range 5 {
		with := openDB(t, dsn(a.Addr(), "app", consSchema+"s"))
		spExec(t, with, "INSERT INTO t VALUES (2)")
		spExec(t, with, "DELETE FROM t WHERE id = 2")
		require.NoError(t, with.Close()) // its backend connections go back to the pool

		without := openDB(t, dsn(a.Addr(), "app", ""))
		_, err := without.Exec("INSERT INTO t VALUES (2)")
		require.Error(t, err, "round %d: a session without a schema wrote into %s", i, consSchema+"s")
		sameError(t, directErr, err)
		require.EqualValues(t, 1046, myErr(t, err).Number)
		require.Equal(t, [][]string{{"NULL"}}, spQuery(t, without, "SELECT DATABASE()"))
		require.NoError(t, without.Close())
	}
	require.Equal(t, [][]string{{"1"}}, spQuery(t, openDB(t, dsn(primary(), "app", consSchema+"s")), "SELECT COUNT(*) FROM t"))
}

// TestInitDBLatencyFromRequest: COM_INIT_DB latency is measured from the
// request: a round trip to a server takes at least a microsecond, so N of
// them add at least N µs to the server's latency total (measured from the
// response, as before, each one added 0).
func TestInitDBLatencyFromRequest(t *testing.T) {
	needSandbox(t)
	createSchema(t, consSchema+"i", nil)
	a := startProxy(t, nil)
	c, err := client.Connect(a.Addr(), "app", "app", "")
	require.NoError(t, err)
	defer c.Close()
	require.NoError(t, c.UseDB(consSchema+"i")) // the session now has a schema: one pool from here on
	st := a.Pools.Stats(primary())
	q0, lat0 := st.Queries.Load(), st.LatencyUs.Load()
	const n = 20
	for range n {
		require.NoError(t, c.UseDB(consSchema+"i"))
	}
	require.Equal(t, uint64(n), st.Queries.Load()-q0)
	require.GreaterOrEqual(t, st.LatencyUs.Load()-lat0, uint64(n), "COM_INIT_DB recorded as taking no time")
}
