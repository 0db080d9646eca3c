package integration

import (
	"context"
	"database/sql"
	"testing"
	"time"

	"github.com/stretchr/testify/require"

	"github.com/rwproxy/rwproxy/internal/app"
)

// Transaction replay (issue #21) on the MariaDB sandbox. The backend
// connection holding a client's transaction is killed on the primary
// (KILL CONNECTION: the connection is lost as in a network cut, the
// server itself stays up); the next statement finds it broken and rwproxy
// replays the transaction on a new connection.

const replaySchema = "rwreplay"

// replaySetup creates the accounts table and returns a proxy, a direct
// connection to the primary, and a function that kills the backend
// connection holding the open transaction that locked rows of it.
func replaySetup(t *testing.T) (*app.App, *sql.Conn, func()) {
	t.Helper()
	needSandbox(t)
	createSchema(t, replaySchema, []string{
		"CREATE TABLE acct (id INT PRIMARY KEY, bal INT NOT NULL)",
		"INSERT INTO acct VALUES (1, 100), (2, 0)",
	})
	a := spProxy(t, nil)
	direct := conn(t, openDB(t, dsn(primary(), "app", replaySchema)))
	kill := func() {
		t.Helper()
		ids, _ := spRow(t, direct, "SELECT t.trx_mysql_thread_id, @@port FROM information_schema.INNODB_TRX t "+
			"JOIN information_schema.PROCESSLIST p ON p.ID = t.trx_mysql_thread_id WHERE p.DB = '"+replaySchema+"'")
		spExec(t, direct, "KILL CONNECTION "+ids[0])
		require.Eventually(t, func() bool {
			n, _ := spRow(t, direct, "SELECT COUNT(*), @@port FROM information_schema.PROCESSLIST WHERE ID = "+ids[0])
			return n[0] == "0"
		}, 30*time.Second, 20*time.Millisecond)
	}
	return a, direct, kill
}

// TestReplayLostConnection: a transaction whose backend connection is
// lost goes on without an error (text and prepared statements), commits
// once, and the session's variables and prepared statements are as
// before.
func TestReplayLostConnection(t *testing.T) {
	a, direct, kill := replaySetup(t)
	c := conn(t, openDB(t, dsn(a.Addr(), "app", replaySchema)))
	ctx := context.Background()
	spExec(t, c, "SET SESSION sql_mode = 'ANSI_QUOTES', SESSION lock_wait_timeout = 77")
	get, err := c.PrepareContext(ctx, "SELECT bal FROM acct WHERE id = ?")
	require.NoError(t, err)
	defer get.Close()

	spExec(t, c, "BEGIN")
	spExec(t, c, "UPDATE acct SET bal = bal - 10 WHERE id = 1")
	var bal int
	require.NoError(t, get.QueryRowContext(ctx, 1).Scan(&bal))
	require.Equal(t, 90, bal)
	kill()
	replays := a.Stats.Replay.Succeeded.Load()
	spExec(t, c, "UPDATE acct SET bal = bal + 10 WHERE id = 2")
	require.Equal(t, replays+1, a.Stats.Replay.Succeeded.Load(), "the transaction was replayed")
	require.NoError(t, get.QueryRowContext(ctx, 2).Scan(&bal), "the prepared statement survives")
	require.Equal(t, 10, bal)
	vars, _ := spRow(t, c, `SELECT @@session.sql_mode, @@session.lock_wait_timeout, @@port`)
	require.Equal(t, []string{"ANSI_QUOTES", "77"}, vars[:2], "the session's variables survive")
	spExec(t, c, "COMMIT")
	require.Equal(t, [][]string{{"1", "90"}, {"2", "10"}}, spQuery(t, direct, "SELECT id, bal FROM acct ORDER BY id"),
		"both updates committed, once")
	require.Zero(t, a.Stats.StateLost.Load())
}

// TestReplayChecksumMismatch: another client changed a row the lost
// transaction had read; the replay sees it, the client gets 1213 (40001),
// nothing of the transaction is committed, and its retry succeeds.
func TestReplayChecksumMismatch(t *testing.T) {
	a, direct, kill := replaySetup(t)
	c := conn(t, openDB(t, dsn(a.Addr(), "app", replaySchema)))
	spExec(t, c, "BEGIN")
	row, _ := spRow(t, c, "SELECT bal, @@port FROM acct WHERE id = 1 FOR UPDATE")
	require.Equal(t, "100", row[0])
	spExec(t, c, "UPDATE acct SET bal = bal - 10 WHERE id = 1")
	kill()
	spExec(t, direct, "UPDATE acct SET bal = bal + 1 WHERE id = 1") // the concurrent change
	_, err := c.ExecContext(context.Background(), "UPDATE acct SET bal = bal + 10 WHERE id = 2")
	me := myErr(t, err)
	require.EqualValues(t, 1213, me.Number, "%v", err)
	require.Equal(t, "40001", string(me.SQLState[:]))
	require.EqualValues(t, 1, a.Stats.Replay.Mismatches.Load())
	spExec(t, c, "ROLLBACK") // what a client does after a deadlock
	require.Equal(t, [][]string{{"1", "101"}, {"2", "0"}}, spQuery(t, direct, "SELECT id, bal FROM acct ORDER BY id"),
		"no part of the transaction committed")

	// The retry, on the same client connection.
	spExec(t, c, "BEGIN")
	row, _ = spRow(t, c, "SELECT bal, @@port FROM acct WHERE id = 1 FOR UPDATE")
	require.Equal(t, "101", row[0])
	spExec(t, c, "UPDATE acct SET bal = bal - 10 WHERE id = 1")
	spExec(t, c, "UPDATE acct SET bal = bal + 10 WHERE id = 2")
	spExec(t, c, "COMMIT")
	require.Equal(t, [][]string{{"1", "91"}, {"2", "10"}}, spQuery(t, direct, "SELECT id, bal FROM acct ORDER BY id"))
}
