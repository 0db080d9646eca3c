package session

import (
	"encoding/binary"
	"sync/atomic"
	"testing"
	"time"

	"github.com/go-mysql-org/go-mysql/client"
	"github.com/stretchr/testify/require"

	"github.com/rwproxy/rwproxy/config"
)

// idleSession is a session whose configuration the test can swap (as a
// reload does) while the session runs.
func idleSession(t *testing.T, wait time.Duration) (*qp, *atomic.Pointer[config.Config], *client.Conn) {
	t.Helper()
	h := newQP(t)
	cfg := h.cfg.Clone()
	cfg.Limits.WaitTimeout = wait
	cur := &atomic.Pointer[config.Config]{}
	cur.Store(cfg)
	reserve(t, h, func(d *Deps) { d.Config = cur.Load })
	c := h.connect(t)
	return h, cur, c
}

// reserve makes h's sessions run with Deps changed by change, on a
// listener of their own: the one newQP started already shares h.d with
// its accept loop, so changing h.d in place would be a data race.
func reserve(t testing.TB, h *qp, change func(*Deps)) {
	t.Helper()
	d := *h.d
	change(&d)
	h.d = &d
	h.addr = serveSessions(t, h.d)
}

// awaitIdleError reads what the session sends a client that stays idle:
// error 4031, then the end of the connection. The read is bounded so that a
// session that never lets go fails the test instead of hanging it.
func awaitIdleError(t *testing.T, c *client.Conn) {
	t.Helper()
	require.NoError(t, c.Conn.SetReadDeadline(time.Now().Add(30*time.Second)))
	c.ResetSequence() // the error starts a new exchange
	p, err := c.ReadPacket()
	require.NoError(t, err, "the session sends an error before it closes")
	require.Equal(t, byte(0xff), p[0])
	require.Equal(t, uint16(4031), binary.LittleEndian.Uint16(p[1:3]))
	_, err = c.ReadPacket()
	require.Error(t, err, "then closes the connection")
}

// A client idle for limits.wait_timeout after busy use is told 4031 and
// disconnected, never before wait_timeout has passed since its last command
// (armIdle moves the deadline only now and then, always later).
func TestIdleTimeoutAfterBusySession(t *testing.T) {
	const wait = 400 * time.Millisecond
	_, _, c := idleSession(t, wait)
	for range 20 {
		_, err := c.Execute("SELECT 1")
		require.NoError(t, err)
	}
	last := time.Now()
	awaitIdleError(t, c)
	require.GreaterOrEqual(t, time.Since(last), wait, "not disconnected before wait_timeout")
}

// A reload that shortens limits.wait_timeout applies from the next command
// on, although the deadline armed for the old value is still far away.
func TestIdleTimeoutShortenedByReload(t *testing.T) {
	_, cur, c := idleSession(t, time.Hour)
	_, err := c.Execute("SELECT 1") // the session arms an hour's deadline after it
	require.NoError(t, err)
	cfg := cur.Load().Clone()
	cfg.Limits.WaitTimeout = 300 * time.Millisecond
	cur.Store(cfg)
	_, err = c.Execute("SELECT 1")
	require.NoError(t, err)
	awaitIdleError(t, c)
}
