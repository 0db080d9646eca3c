package integration

import (
	"database/sql"
	"net"
	"strconv"
	"sync"
	"testing"
	"time"

	"github.com/stretchr/testify/require"

	"github.com/rwproxy/rwproxy/config"
)

// TestBackendDown points hostgroup 10 at a port where nothing listens and at
// a listener that accepts and never speaks: queries must fail with error
// 9002 within the connect timeout, not hang.
func TestBackendDown(t *testing.T) {
	needSandbox(t)

	// A port with nothing behind it: bind, note the port, close.
	l, err := net.Listen("tcp", "127.0.0.1:0")
	require.NoError(t, err)
	closedPort := l.Addr().(*net.TCPAddr).Port
	require.NoError(t, l.Close())

	// A black hole: accepts connections and never sends the handshake.
	hole, err := net.Listen("tcp", "127.0.0.1:0")
	require.NoError(t, err)
	var held sync.WaitGroup
	holdConns := make(chan net.Conn, 64)
	held.Go(func() {
		for {
			c, err := hole.Accept()
			if err != nil {
				return
			}
			holdConns <- c // keep it open, say nothing
		}
	})
	t.Cleanup(func() {
		_ = hole.Close()
		held.Wait()
		close(holdConns)
		for c := range holdConns {
			_ = c.Close()
		}
	})
	holePort := hole.Addr().(*net.TCPAddr).Port

	for _, tc := range []struct {
		name   string
		port   int
		reason string
	}{
		{"nothing listening", closedPort, "connection refused"},
		{"listener never answers", holePort, "connect timed out"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			a := startProxy(t, func(c *config.Config) {
				c.Servers[0].Port = tc.port
				c.Pool.ConnectTimeout = time.Second
				// Without the failover buffer (writes waiting up to it for a
				// new writer): the error comes within the connect timeout.
				c.FailoverBuffer = 0
			})
			backend := "127.0.0.1:" + strconv.Itoa(tc.port)
			// No schema and the driver's default max_allowed_packet: the
			// login itself needs no backend.
			db, err := sql.Open("mysql", "app:app@tcp("+a.Addr()+")/")
			require.NoError(t, err)
			t.Cleanup(func() { _ = db.Close() })
			require.NoError(t, db.Ping(), "login to the proxy (COM_PING needs no backend)")

			for _, q := range []struct {
				name string
				run  func() error
			}{
				{"text query", func() error { var v int; return db.QueryRow("SELECT 1").Scan(&v) }},
				{"prepare", func() error { var v int; return db.QueryRow("SELECT ?", 1).Scan(&v) }},
				{"text query again", func() error { var v int; return db.QueryRow("SELECT 2").Scan(&v) }},
			} {
				start := time.Now()
				err := q.run()
				elapsed := time.Since(start)
				me := myErr(t, err)
				require.Equal(t, uint16(9002), me.Number, "%s: %v", q.name, me)
				require.Equal(t, "HY000", string(me.SQLState[:]))
				require.NotContains(t, me.Message, backend, "no backend address in a client error")
				require.Contains(t, me.Message, "cannot connect to a server of hostgroup 10: "+tc.reason)
				require.Less(t, elapsed, 3*time.Second, "%s took %v", q.name, elapsed)
			}

			// A schema in the DSN makes the proxy check it on a backend
			// before it answers the login: that fails the same way.
			withDB, err := sql.Open("mysql", "app:app@tcp("+a.Addr()+")/app")
			require.NoError(t, err)
			t.Cleanup(func() { _ = withDB.Close() })
			start := time.Now()
			err = withDB.Ping()
			require.Equal(t, uint16(9002), myErr(t, err).Number, "login with a schema: %v", err)
			require.Less(t, time.Since(start), 3*time.Second)

			st := a.Pools.Stats(backend)
			require.NotNil(t, st)
			require.GreaterOrEqual(t, st.ConnERR.Load(), uint64(4), "failed connects counted")
			require.Zero(t, st.ConnOK.Load())
			require.Zero(t, st.ConnUsed.Load())
		})
	}
}
