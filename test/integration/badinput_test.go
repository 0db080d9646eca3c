package integration

import (
	"context"
	"database/sql"
	"fmt"
	"math/rand/v2"
	"net"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/stretchr/testify/require"

	"github.com/rwproxy/rwproxy/config"
)

// bystander runs `SELECT ?` round trips through the proxy until stopped and
// checks every answer, including that no other session's state leaked in.
type bystander struct {
	ok, failed atomic.Int64
	mu         sync.Mutex
	firstErr   error
	stop       chan struct{}
	done       chan struct{}
}

func startBystander(t *testing.T, db *sql.DB, sqlMode string) *bystander {
	b := &bystander{stop: make(chan struct{}), done: make(chan struct{})}
	go func() {
		defer close(b.done)
		for i := 0; ; i++ {
			select {
			case <-b.stop:
				return
			default:
			}
			n := rand.Int64()
			var got int64
			var mode string
			var inTrx int
			err := db.QueryRow("SELECT ?, @@sql_mode, @@in_transaction", n).Scan(&got, &mode, &inTrx)
			if err == nil && (got != n || mode != sqlMode || inTrx != 0) {
				err = fmt.Errorf("round %d: got (%d, %q, %d), want (%d, %q, 0)", i, got, mode, inTrx, n, sqlMode)
			}
			if err != nil {
				b.failed.Add(1)
				b.mu.Lock()
				if b.firstErr == nil {
					b.firstErr = err
				}
				b.mu.Unlock()
				continue
			}
			b.ok.Add(1)
		}
	}()
	return b
}

func (b *bystander) finish(t *testing.T) {
	t.Helper()
	close(b.stop)
	<-b.done
	b.mu.Lock()
	defer b.mu.Unlock()
	require.Zero(t, b.failed.Load(), "bystander failures; first: %v", b.firstErr)
	require.Greater(t, b.ok.Load(), int64(20), "the bystander ran")
}

// TestBadInput sends malformed, truncated, oversized and abandoned requests
// to the proxy while a well-behaved client runs alongside; the proxy must
// refuse or drop only the bad connections and leak nothing.
func TestBadInput(t *testing.T) {
	needSandbox(t)
	a := startProxy(t, nil)
	direct := openDB(t, dsn(primary(), "app", "app"))
	var defaultMode string
	require.NoError(t, direct.QueryRow("SELECT @@sql_mode").Scan(&defaultMode))
	require.NotEmpty(t, defaultMode)
	_, err := direct.Exec("CREATE TABLE IF NOT EXISTS app.bad_input (id INT PRIMARY KEY)")
	require.NoError(t, err)
	_, err = direct.Exec("DELETE FROM app.bad_input")
	require.NoError(t, err)

	by := startBystander(t, openDB(t, dsn(a.Addr(), "app", "")), defaultMode)
	stats := a.Pools.Stats(primary())
	require.NotNil(t, stats)

	dial := func(t *testing.T) net.Conn {
		nc, err := net.DialTimeout("tcp", a.Addr(), 5*time.Second)
		require.NoError(t, err)
		t.Cleanup(func() { _ = nc.Close() })
		return nc
	}
	// greeting reads the proxy's initial handshake packet.
	greeting := func(t *testing.T, nc net.Conn) {
		p, err := readRaw(nc, 5*time.Second)
		require.NoError(t, err)
		require.Equal(t, byte(10), p.payload[0], "protocol version 10 handshake: %v", p)
	}

	t.Run("garbage instead of the handshake response", func(t *testing.T) {
		for i, garbage := range [][]byte{
			[]byte("\x00\x00\x00\x00\xde\xad\xbe\xef garbage"), // framed: a short, senseless login packet
			{0xff, 0xff, 0xff, 0xff},                           // framed: error marker only
			randomBytes(300, 99),
		} {
			nc := dial(t)
			greeting(t, nc)
			require.NoError(t, writeRaw(nc, 1, garbage), "case %d", i)
			start := time.Now()
			expectErrOrClose(t, nc, 5*time.Second)
			require.Less(t, time.Since(start), 5*time.Second)
		}
		// Unframed garbage: the "length" is huge; once the client hangs up
		// the proxy must drop the connection, not wait for the rest.
		nc := dial(t)
		greeting(t, nc)
		_, err := nc.Write([]byte("GET / HTTP/1.1\r\nHost: rwproxy\r\n\r\n"))
		require.NoError(t, err)
		require.NoError(t, nc.(*net.TCPConn).CloseWrite())
		expectErrOrClose(t, nc, 5*time.Second)
	})

	t.Run("truncated packet", func(t *testing.T) {
		// as the handshake response
		nc := dial(t)
		greeting(t, nc)
		_, err := nc.Write(append([]byte{100, 0, 0, 1}, make([]byte, 10)...))
		require.NoError(t, err)
		require.NoError(t, nc.Close())
		// as a command after login
		_, raw := rawLogin(t, a.Addr(), "app", "app")
		_, err = raw.Write(append([]byte{100, 0, 0, 0, 0x03}, "SELECT 1"...))
		require.NoError(t, err)
		require.NoError(t, raw.Close())
	})

	t.Run("request over max_allowed_packet", func(t *testing.T) {
		// A proxy of its own with max_allowed_packet 20 MiB: the second
		// 16 MiB packet of one request passes the limit, so the limit is
		// checked across a multi-packet request, and the proxy reads 16 MiB
		// (not the default's 256 MiB) before it answers: a test that does not
		// depend on how fast this machine copies a quarter of a gigabyte.
		small := startProxy(t, func(c *config.Config) { c.Limits.MaxAllowedPacket = 20 << 20 })
		_, raw := rawLogin(t, small.Addr(), "app", "app")
		// A COM_QUERY of up to 17 full 16 MiB packets. The writer stops when
		// the proxy closes the connection.
		writeDone := make(chan error, 1)
		go func() {
			chunk := make([]byte, 1<<20)
			for i := range chunk {
				chunk[i] = ' '
			}
			for seq := 0; seq < 17; seq++ {
				if _, err := raw.Write([]byte{0xff, 0xff, 0xff, byte(seq)}); err != nil {
					writeDone <- err
					return
				}
				left := 0xffffff
				first := seq == 0
				for left > 0 {
					n := min(left, len(chunk))
					b := chunk[:n]
					if first {
						b = append([]byte{0x03}, chunk[:n-1]...) // COM_QUERY
						first = false
					}
					if _, err := raw.Write(b); err != nil {
						writeDone <- err
						return
					}
					left -= n
				}
			}
			writeDone <- nil
		}()
		p := expectErrOrClose(t, raw, 60*time.Second)
		if p != nil {
			require.Equal(t, uint16(1153), p.errCode(), "%v", p)
			require.Equal(t, "08S01", p.errState(), "%v", p)
		}
		_ = raw.Close()
		select {
		case <-writeDone:
		case <-time.After(30 * time.Second):
			t.Fatal("writer still blocked after the connection closed")
		}
	})

	t.Run("unknown command", func(t *testing.T) {
		c, raw := rawLogin(t, a.Addr(), "app", "app")
		// 0x60 and 0xee are no command; 0x1d (COM_DAEMON) is server-internal
		for _, cmd := range []byte{0x60, 0xee, 0x1d} {
			require.NoError(t, writeRaw(raw, 0, []byte{cmd, 1, 2, 3}))
			p, err := readRaw(raw, 5*time.Second)
			require.NoError(t, err)
			require.True(t, p.isErr(), "command 0x%x: %v", cmd, p)
			require.Equal(t, uint16(1047), p.errCode(), "command 0x%x: %v", cmd, p)
			require.Equal(t, "08S01", p.errState(), "command 0x%x: %v", cmd, p)
		}
		// the session goes on
		r, err := c.Execute("SELECT 6 * 7")
		require.NoError(t, err)
		v, err := r.GetInt(0, 0)
		require.NoError(t, err)
		require.Equal(t, int64(42), v)
	})

	t.Run("client gone mid-result", func(t *testing.T) {
		for _, readFirst := range []int{0, 3, 1000} {
			_, raw := rawLogin(t, a.Addr(), "app", "app")
			// 200 MB of rows from MariaDB's sequence engine
			require.NoError(t, writeRaw(raw, 0, append([]byte{0x03}, "SELECT REPEAT('x', 1000) FROM app.seq_1_to_200000"...)))
			for i := 0; i < readFirst; i++ {
				p, err := readRaw(raw, 10*time.Second)
				require.NoError(t, err, "packet %d", i)
				require.False(t, p.isErr(), "packet %d: %v", i, p)
			}
			require.NoError(t, raw.Close())
		}
	})

	t.Run("abandoned transaction", func(t *testing.T) {
		c, raw := rawLogin(t, a.Addr(), "app", "app")
		for _, q := range []string{"SET sql_mode = ''", "BEGIN", "INSERT INTO app.bad_input VALUES (1)", "SET @leak = 1"} {
			_, err := c.Execute(q)
			require.NoError(t, err, q)
		}
		require.NoError(t, raw.Close()) // no COM_QUIT, no COMMIT
	})

	by.finish(t)
	require.Zero(t, a.Stats.Panics.Load(), "panics")
	require.Eventually(t, func() bool { return stats.ConnUsed.Load() == 0 }, 30*time.Second, 20*time.Millisecond,
		"backend connections still in use after every bad client left: %d", stats.ConnUsed.Load())
	require.Eventually(t, func() bool { return a.Stats.Sessions.Load() <= 1 }, 30*time.Second, 20*time.Millisecond,
		"sessions still open: %d (the bystander's is the only one left)", a.Stats.Sessions.Load())

	t.Run("fresh sessions are clean", func(t *testing.T) {
		var n int
		require.NoError(t, direct.QueryRow("SELECT COUNT(*) FROM app.bad_input").Scan(&n))
		require.Zero(t, n, "the abandoned transaction was rolled back")
		for i := 0; i < 5; i++ {
			db, err := sql.Open("mysql", dsn(a.Addr(), "app", ""))
			require.NoError(t, err)
			c, err := db.Conn(context.Background())
			require.NoError(t, err)
			var mode string
			var inTrx int
			var leak sql.NullInt64
			require.NoError(t, c.QueryRowContext(context.Background(), "SELECT @@sql_mode, @@in_transaction, @leak").Scan(&mode, &inTrx, &leak))
			require.Equal(t, defaultMode, mode, "fresh session %d sql_mode", i)
			require.Zero(t, inTrx, "fresh session %d in a transaction", i)
			require.False(t, leak.Valid, "fresh session %d sees another session's user variable", i)
			require.NoError(t, c.Close())
			require.NoError(t, db.Close())
		}
	})
}
