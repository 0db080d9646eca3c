package failover

import (
	"context"
	"strings"
	"testing"

	"github.com/stretchr/testify/require"
)

// TestTransactionOnDemotedPrimary: a transaction open on the primary when it
// is demoted (read_only flip) gets clear errors — its next write 1290, its
// COMMIT an error, never a success for writes that cannot be committed —
// and once the client ends it, the session's next transaction commits on
// the new primary.
func TestTransactionOnDemotedPrimary(t *testing.T) {
	s := freshSandbox(t, base+30)
	a := startProxy(t, s)
	createWriteTables(t, s, 1, "demoted")
	ctx := context.Background()
	db := openDB(t, proxyDSN(a, "demoted", true), 1)
	c, err := db.Conn(ctx)
	require.NoError(t, err)
	defer c.Close()

	_, err = c.ExecContext(ctx, "BEGIN")
	require.NoError(t, err)
	_, err = c.ExecContext(ctx, "INSERT INTO acks (id, worker) VALUES (1, 0)")
	require.NoError(t, err)
	out, err := s.Run("promote", "2")
	require.NoError(t, err, out)
	waitFor(t, 3*interval+2e9, func() bool { return usableIn(a, 10, s.Addr(2)) }, "node 2 becomes the writer: %v", hostgroups(a))

	_, err = c.ExecContext(ctx, "INSERT INTO acks (id, worker) VALUES (2, 0)")
	require.Equal(t, uint16(1290), mysqlErr(err).Number, "the write on the demoted primary: %v", err)
	_, err = c.ExecContext(ctx, "COMMIT")
	require.Error(t, err, "COMMIT of a transaction whose server turned read-only must not succeed")
	_, err = c.ExecContext(ctx, "ROLLBACK")
	require.NoError(t, err)

	_, err = c.ExecContext(ctx, "BEGIN")
	require.NoError(t, err)
	_, err = c.ExecContext(ctx, "INSERT INTO acks (id, worker) VALUES (3, 0)")
	require.NoError(t, err)
	var port int
	require.NoError(t, c.QueryRowContext(ctx, "SELECT @@port").Scan(&port))
	require.Equal(t, s.Ports[1], port, "the new transaction runs on the new primary")
	_, err = c.ExecContext(ctx, "COMMIT")
	require.NoError(t, err)
	require.Equal(t, "3", strings.TrimSpace(rootSQL(t, s, 2, "SELECT GROUP_CONCAT(id) FROM demoted.acks")), "only the committed row")
}
