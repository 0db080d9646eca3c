package integration

import (
	"context"
	"encoding/binary"
	"errors"
	"fmt"
	"io"
	"net"
	"syscall"
	"testing"
	"time"

	"github.com/go-mysql-org/go-mysql/client"
	"github.com/go-mysql-org/go-mysql/mysql"
	"github.com/stretchr/testify/require"

	"github.com/rwproxy/rwproxy/config"
	"github.com/rwproxy/rwproxy/protocol"
)

// TestStalledReaderReleasesBackend: a client that asks for a large result
// and never reads it (a tiny receive buffer, no reads) is disconnected
// after limits.net_write_timeout, and the backend connection that was
// sending the result is closed, not kept and not recycled mid-result.
func TestStalledReaderReleasesBackend(t *testing.T) {
	needSandbox(t)
	a := startProxy(t, func(c *config.Config) { c.Limits.NetWriteTimeout = time.Second })
	st := a.Pools.Stats(primary())
	require.NotNil(t, st)

	cc, err := stalledReader(a.Addr(), 100000)
	require.NoError(t, err)
	defer cc.Close()
	require.Equal(t, int64(1), a.Stats.Sessions.Load())
	require.Eventually(t, func() bool { return st.ConnOK.Load() >= 1 }, 30*time.Second, time.Millisecond,
		"the statement never reached the backend")
	require.Eventually(t, func() bool { return st.ConnUsed.Load() == 0 && a.Stats.Sessions.Load() == 0 },
		60*time.Second, 5*time.Millisecond, "the stalled client still holds its backend connection")
	require.Greater(t, st.BytesRecv.Load(), uint64(1<<20), "the result was not streaming when the client was cut")
	require.Zero(t, st.ConnFree.Load(), "the connection cut mid-result went back to the pool")
	require.Zero(t, st.DoubleReleases.Load())
}

// TestIdleClientDisconnected: a client idle past limits.wait_timeout gets
// error 4031, as from MySQL 8, and is disconnected.
func TestIdleClientDisconnected(t *testing.T) {
	needSandbox(t)
	a := startProxy(t, func(c *config.Config) { c.Limits.WaitTimeout = time.Second })
	cc, err := client.Connect(a.Addr(), "app", "app", "")
	require.NoError(t, err)
	defer cc.Close()
	r, err := cc.Execute("SELECT @@port")
	require.NoError(t, err)
	port, err := r.GetInt(0, 0)
	require.NoError(t, err)
	require.Equal(t, int64(sb.Ports[0]), port)

	// Send nothing; read what the proxy says before it closes.
	nc := cc.Conn.Conn
	require.NoError(t, nc.SetReadDeadline(time.Now().Add(60*time.Second)))
	got, err := io.ReadAll(nc)
	require.NoError(t, err, "the proxy did not close the idle connection")
	require.GreaterOrEqual(t, len(got), 7)
	require.Equal(t, byte(mysql.ERR_HEADER), got[4])
	require.Equal(t, uint16(4031), binary.LittleEndian.Uint16(got[5:7]))
	require.Contains(t, string(got), "disconnected by the server because of inactivity")
	require.Eventually(t, func() bool { return a.Stats.Sessions.Load() == 0 }, 30*time.Second, 5*time.Millisecond)
}

// TestConnLimitIsNotAFailover: with the primary's connection limit taken
// by a transaction, a statement of another client fails with error 9010
// after pool.wait_timeout, and is not buffered as a failover.
func TestConnLimitIsNotAFailover(t *testing.T) {
	needSandbox(t)
	a := startProxy(t, func(c *config.Config) {
		c.Servers[0].MaxConnections = 1
		c.Pool.WaitTimeout = 200 * time.Millisecond
		c.FailoverBuffer = 5 * time.Second
	})
	db := openDB(t, dsn(a.Addr(), "app", ""))
	holder, other := conn(t, db), conn(t, db) // the driver runs a query as it connects
	_, err := holder.ExecContext(context.Background(), "BEGIN")
	require.NoError(t, err)
	var p int
	require.NoError(t, holder.QueryRowContext(context.Background(), "SELECT @@port").Scan(&p))
	require.Equal(t, sb.Ports[0], p)

	err = other.QueryRowContext(context.Background(), "SELECT @@port").Scan(&p)
	me := myErr(t, err)
	require.Equal(t, protocol.ErrCodeConnLimit, me.Number, me.Message)
	require.Equal(t, "HY000", string(me.SQLState[:]))
	require.Equal(t, "rwproxy: backend connection limit reached for hostgroup 10 (waited 0.2s)", me.Message)
	require.Zero(t, a.Stats.FailoverWaits.Load(), "a full pool was buffered as a failover")
	require.Equal(t, uint64(1), a.Stats.ConnLimitErrs.Load())

	_, err = holder.ExecContext(context.Background(), "COMMIT")
	require.NoError(t, err)
	require.NoError(t, other.QueryRowContext(context.Background(), "SELECT @@port").Scan(&p))
}

// stalledReader logs in to addr with a 4 KiB receive buffer and asks for
// rows of 8 KiB (100000 rows: about 800 MB, far more than the socket
// buffers between the backend and the client hold), and reads nothing.
func stalledReader(addr string, rows int) (*client.Conn, error) {
	d := net.Dialer{Control: func(_, _ string, rc syscall.RawConn) error {
		var serr error
		err := rc.Control(func(fd uintptr) {
			serr = syscall.SetsockoptInt(int(fd), syscall.SOL_SOCKET, syscall.SO_RCVBUF, 4096)
		})
		return errors.Join(err, serr)
	}}
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	cc, err := client.ConnectWithDialer(ctx, "tcp", addr, "app", "app", "", d.DialContext)
	if err != nil {
		return nil, err
	}
	cc.ResetSequence()
	q := fmt.Sprintf("WITH RECURSIVE r(n) AS (SELECT 1 UNION ALL SELECT n + 1 FROM r WHERE n < %d) "+
		"SELECT REPEAT('x', 8192) FROM r", rows)
	if err := cc.WritePacket(append([]byte{0, 0, 0, 0, mysql.COM_QUERY}, q...)); err != nil {
		_ = cc.Close()
		return nil, err
	}
	return cc, nil
}

// hostileStalledReaders starts n stalled readers (TestHostileClients)
// and returns the function that closes them, at the end of the test: the
// proxy must cut them itself.
func hostileStalledReaders(t *testing.T, addr string, n int, c *hostileCounts) func() {
	var conns []*client.Conn
	for range n {
		cc, err := stalledReader(addr, 20000)
		if err != nil {
			t.Errorf("stalled reader: %v", err)
			continue
		}
		c.stalled.Add(1)
		conns = append(conns, cc)
	}
	return func() {
		for _, cc := range conns {
			_ = cc.Close()
		}
	}
}
