package session

import (
	"io"
	"net"
	"runtime"
	"testing"
	"time"

	"github.com/go-mysql-org/go-mysql/mysql"
	"github.com/stretchr/testify/require"
	"go.uber.org/zap"

	"github.com/rwproxy/rwproxy/config"
	"github.com/rwproxy/rwproxy/protocol"
)

// loginDeps is the part of Deps a login needs, over a listener on
// 127.0.0.1:0 running Serve; users app/app.
func loginDeps(t *testing.T, cfg *config.Config) (*Deps, string) {
	t.Helper()
	auth := protocol.NewAuth(func(user string) (string, string, bool) { return "app", "", user == "app" })
	srv, err := protocol.NewSecureServer("8.0.36-test", nil, auth)
	require.NoError(t, err)
	d := &Deps{Server: srv, Auth: auth, Config: func() *config.Config { return cfg }, Log: zap.NewNop(),
		Stats: &Stats{}, HandshakeTimeout: time.Minute, Registry: NewRegistry(), PreLogin: NewPreLogin()}
	return d, serveSessions(t, d)
}

// readGreeting reads one packet (the greeting, or an error in its place)
// and returns its payload.
func readGreeting(t *testing.T, c net.Conn) []byte {
	t.Helper()
	require.NoError(t, c.SetReadDeadline(time.Now().Add(10*time.Second)))
	var h [4]byte
	_, err := io.ReadFull(c, h[:])
	require.NoError(t, err)
	p := make([]byte, int(h[0])|int(h[1])<<8|int(h[2])<<16)
	_, err = io.ReadFull(c, p)
	require.NoError(t, err)
	return p
}

// TestHalfOpenConnectionMemory opens half-open connections that answer the
// greeting with a bare header announcing 16 MiB, the cheapest way to make
// go-mysql's reader allocate before any login, and measures the proxy's
// heap per connection while they are held open (the figure in
// docs/security.md). Before the bounded handshake reader each one cost
// 16 MiB; the bound here is generous. The next connection past
// limits.max_unauthenticated_per_source is refused with 1040.
func TestHalfOpenConnectionMemory(t *testing.T) {
	const n = 300
	cfg := config.Defaults()
	cfg.Limits.MaxUnauthenticatedPerSource = n
	d, addr := loginDeps(t, cfg)
	var before, after runtime.MemStats
	conns := make([]net.Conn, 0, n)
	defer func() {
		for _, c := range conns {
			_ = c.Close()
		}
	}()
	for range n {
		c, err := net.Dial("tcp", addr)
		require.NoError(t, err)
		conns = append(conns, c)
		require.Equal(t, byte(10), readGreeting(t, c)[0], "a greeting")
		_, err = c.Write([]byte{0xff, 0xff, 0xff, 1})
		require.NoError(t, err)
		// One at a time: the old reader waited for the 16 MiB (this read
		// timed out) instead of refusing the header.
		p := readGreeting(t, c)
		require.Equal(t, byte(mysql.ERR_HEADER), p[0])
		require.Equal(t, uint16(mysql.ER_NET_PACKET_TOO_LARGE), uint16(p[1])|uint16(p[2])<<8)
	}
	require.Eventually(t, func() bool { return d.PreLogin.Unauthenticated() == 0 }, 30*time.Second, 5*time.Millisecond)

	// Now half-open connections that send nothing, held together.
	for _, c := range conns {
		_ = c.Close()
	}
	conns = conns[:0]
	runtime.GC()
	runtime.ReadMemStats(&before)
	for range n {
		c, err := net.Dial("tcp", addr)
		require.NoError(t, err)
		conns = append(conns, c)
		require.Equal(t, byte(10), readGreeting(t, c)[0])
	}
	require.Eventually(t, func() bool { return d.PreLogin.Unauthenticated() == n }, 30*time.Second, 5*time.Millisecond)
	runtime.GC()
	runtime.ReadMemStats(&after)
	per := (int64(after.HeapInuse) - int64(before.HeapInuse)) / n
	stack := (int64(after.StackInuse) - int64(before.StackInuse)) / n
	t.Logf("half-open connection: heap in use %d B, goroutine stacks %d B (client side included: ~1 KiB)", per, stack)
	require.Less(t, per+stack, int64(256<<10), "bytes per half-open connection")

	c, err := net.Dial("tcp", addr)
	require.NoError(t, err)
	defer c.Close()
	p := readGreeting(t, c)
	require.Equal(t, byte(mysql.ERR_HEADER), p[0], "past the per-source cap")
	require.Equal(t, uint16(mysql.ER_CON_COUNT_ERROR), uint16(p[1])|uint16(p[2])<<8)
	require.Equal(t, uint64(1), d.PreLogin.Refused())
}
