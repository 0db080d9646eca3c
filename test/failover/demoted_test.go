package failover

import (
	"context"
	"database/sql"
	"strings"
	"testing"

	"github.com/stretchr/testify/require"

	"github.com/rwproxy/rwproxy/config"
	"github.com/rwproxy/rwproxy/internal/app"
	"github.com/rwproxy/rwproxy/internal/testkit"
)

// TestTransactionOnDemotedPrimary: a transaction open on the primary when it
// is demoted (switchover: read_only on the old primary, another promoted).
//   - With transaction replay (the default, issue #21 item 3): its next
//     write, answered 1290 by the demoted server, is not relayed; the
//     transaction is replayed on the new primary and goes on there, and its
//     COMMIT commits all of it there.
//   - Without: the write gets 1290, the COMMIT an error, never a success
//     for writes that cannot be committed, and once the client ends it the
//     session's next transaction commits on the new primary.
func TestTransactionOnDemotedPrimary(t *testing.T) {
	s := freshSandbox(t, base+30)
	createWriteTables(t, s, 1, "demoted")
	ctx := context.Background()
	begin := func(a *app.App, id string) *sql.Conn {
		t.Helper()
		db := openDB(t, proxyDSN(a, "demoted", true), 1)
		c, err := db.Conn(ctx)
		require.NoError(t, err)
		t.Cleanup(func() { _ = c.Close() })
		_, err = c.ExecContext(ctx, "BEGIN")
		require.NoError(t, err)
		_, err = c.ExecContext(ctx, "INSERT INTO acks (id, worker) VALUES ("+id+", 0)")
		require.NoError(t, err)
		return c
	}
	promote := func(a *app.App, n int) {
		t.Helper()
		out, err := s.Run("promote", string(rune('0'+n)))
		require.NoError(t, err, out)
		waitFor(t, 3*interval+2e9, func() bool { return usableIn(a, 10, s.Addr(n)) }, "node %d becomes the writer: %v", n, hostgroups(a))
	}
	portOf := func(c *sql.Conn) int {
		t.Helper()
		var port int
		require.NoError(t, c.QueryRowContext(ctx, "SELECT @@port").Scan(&port))
		return port
	}

	t.Run("replayed on the new primary", func(t *testing.T) {
		a := startProxy(t, s)
		c := begin(a, "1")
		promote(a, 2)
		_, err := c.ExecContext(ctx, "INSERT INTO acks (id, worker) VALUES (2, 0)")
		require.NoError(t, err, "the demoted primary's 1290 reached the client")
		require.Equal(t, s.Ports[1], portOf(c), "the transaction goes on on the new primary")
		_, err = c.ExecContext(ctx, "COMMIT")
		require.NoError(t, err)
		require.Equal(t, "1,2", strings.TrimSpace(rootSQL(t, s, 2, "SELECT GROUP_CONCAT(id ORDER BY id) FROM demoted.acks")),
			"the whole transaction, once")
		r := &a.Stats.Replay
		require.EqualValues(t, 1, r.Started.Load())
		require.EqualValues(t, 1, r.Succeeded.Load())
	})

	t.Run("replay off: failed, then the next transaction on the new primary", func(t *testing.T) {
		a := startProxyOnWriter(t, s, 2, func(c *config.Config) { c.TransactionReplay = config.TransactionReplayOff })
		c := begin(a, "3")
		promote(a, 1)
		_, err := c.ExecContext(ctx, "INSERT INTO acks (id, worker) VALUES (4, 0)")
		require.Equal(t, uint16(1290), mysqlErr(err).Number, "the write on the demoted primary: %v", err)
		_, err = c.ExecContext(ctx, "COMMIT")
		require.Error(t, err, "COMMIT of a transaction whose server turned read-only must not succeed")
		_, err = c.ExecContext(ctx, "ROLLBACK")
		require.NoError(t, err)

		_, err = c.ExecContext(ctx, "BEGIN")
		require.NoError(t, err)
		_, err = c.ExecContext(ctx, "INSERT INTO acks (id, worker) VALUES (5, 0)")
		require.NoError(t, err)
		require.Equal(t, s.Ports[0], portOf(c), "the new transaction runs on the new primary")
		_, err = c.ExecContext(ctx, "COMMIT")
		require.NoError(t, err)
		require.Equal(t, "1,2,5", strings.TrimSpace(rootSQL(t, s, 1, "SELECT GROUP_CONCAT(id ORDER BY id) FROM demoted.acks")),
			"only the committed rows")
	})
}

// startProxyOnWriter starts a proxy for s once node writer is the ONLINE
// writer (after a switchover), with the configuration changed by edit.
func startProxyOnWriter(t *testing.T, s *testkit.Sandbox, writer int, edit func(*config.Config)) *app.App {
	t.Helper()
	cfg := proxyConfig(s)
	edit(cfg)
	a := testkit.StartProxy(t, cfg)
	waitFor(t, 30e9, func() bool { return usableIn(a, 10, s.Addr(writer)) && len(a.Monitor.Snapshot().Hostgroups[10]) == 1 },
		"node %d the only writer: %v", writer, hostgroups(a))
	return a
}
