package pool

import (
	"context"
	"errors"
	"net"
	"sync/atomic"
	"testing"
	"time"

	"github.com/go-mysql-org/go-mysql/mysql"
	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
	"go.uber.org/goleak"
	"go.uber.org/zap/zaptest"

	"github.com/rwproxy/rwproxy/internal/testkit/fakemysql"
)

// Unit tests of Manager on an in-process fake server (fakemysql) and an
// injected dial function: no MariaDB needed.

// poolFixture is a Manager in front of one fake server, dialing through a
// counting (and optionally failing) dial function.
type poolFixture struct {
	m     *Manager
	srv   *fakemysql.Server
	key   Key
	dials atomic.Int64
	fail  atomic.Bool
	// hold, when set, holds every dial until the channel is closed.
	hold atomic.Pointer[chan struct{}]
}

func newPoolFixture(t *testing.T, maxConns int, opts Options) *poolFixture {
	t.Helper()
	t.Cleanup(func() { goleak.VerifyNone(t) }) // registered first: runs after the server's cleanup
	f := &poolFixture{srv: fakemysql.Start(t)}
	if opts.ConnectTimeout == 0 {
		opts.ConnectTimeout = 5 * time.Second
	}
	if opts.WaitTimeout == 0 {
		opts.WaitTimeout = 50 * time.Millisecond
	}
	opts.Dial = func(ctx context.Context, network, addr string) (net.Conn, error) {
		f.dials.Add(1)
		if h := f.hold.Load(); h != nil {
			<-*h
		}
		if f.fail.Load() {
			return nil, errors.New("injected dial failure")
		}
		return (&net.Dialer{}).DialContext(ctx, network, addr)
	}
	f.m = NewManager(opts, zaptest.NewLogger(t))
	t.Cleanup(func() { require.NoError(t, f.m.Close()) })
	f.m.SetServer(f.srv.Addr, maxConns)
	// No schema: the connections stay in this key's pool when recycled.
	f.key = Key{Addr: f.srv.Addr, User: fakemysql.User, NoSchema: true}
	return f
}

func (f *poolFixture) get(t *testing.T) (*Conn, error) {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	return f.m.Get(ctx, f.key, fakemysql.Password)
}

func (f *poolFixture) mustGet(t *testing.T) *Conn {
	t.Helper()
	c, err := f.get(t)
	require.NoError(t, err)
	return c
}

func connID(t *testing.T, c *Conn) int64 {
	t.Helper()
	r, err := c.Execute("SELECT CONNECTION_ID()")
	require.NoError(t, err)
	id, err := r.GetInt(0, 0)
	require.NoError(t, err)
	return id
}

// A recycled connection is reused (one login, the same server
// connection); the accounting comes back to zero in use, one idle.
func TestManagerReusesRecycled(t *testing.T) {
	f := newPoolFixture(t, 10, Options{})
	c := f.mustGet(t)
	id := connID(t, c)
	c.Recycle()
	for range 5 {
		c = f.mustGet(t)
		require.Equal(t, id, connID(t, c), "a recycled connection is handed out again")
		c.Recycle()
	}
	st := f.m.Stats(f.srv.Addr)
	require.EqualValues(t, 1, f.dials.Load())
	require.Equal(t, 1, f.srv.Logins())
	require.EqualValues(t, 0, st.ConnUsed.Load())
	require.EqualValues(t, 1, st.ConnFree.Load())
	require.EqualValues(t, 1, st.ConnOK.Load())
	require.EqualValues(t, 1, st.MaxConnUsed.Load())
	// Every new connection ran the session-tracker init first.
	require.Equal(t, 1, f.srv.Count(mysql.COM_QUERY, "SET SESSION session_track_system_variables"))
}

// The server's max_connections bounds the connections in use: the next
// Get waits, then fails with ErrWaitTimeout (the session's 9010); a
// release lets it through. A discarded connection is closed on the
// server and never handed out again.
func TestManagerLimitAndDiscard(t *testing.T) {
	f := newPoolFixture(t, 2, Options{})
	a, b := f.mustGet(t), f.mustGet(t)
	_, err := f.get(t)
	require.ErrorIs(t, err, ErrWaitTimeout)
	st := f.m.Stats(f.srv.Addr)
	require.EqualValues(t, 2, st.ConnUsed.Load())

	idA := connID(t, a)
	a.Discard()
	require.EqualValues(t, 1, st.ConnUsed.Load())
	require.EqualValues(t, 0, st.ConnFree.Load(), "a discarded connection never goes idle")
	require.Eventually(t, func() bool { return f.srv.Open() == 1 }, 10*time.Second, 5*time.Millisecond,
		"the discarded connection is closed on the server")
	c := f.mustGet(t) // the freed slot: a new connection
	require.NotEqual(t, idA, connID(t, c))
	require.EqualValues(t, 3, f.dials.Load())
	_, err = f.get(t)
	require.ErrorIs(t, err, ErrWaitTimeout, "the discard freed exactly one slot")
	b.Recycle()
	c.Recycle()
	require.EqualValues(t, 0, st.ConnUsed.Load())
	require.EqualValues(t, 2, st.ConnFree.Load())
	require.EqualValues(t, 2, st.MaxConnUsed.Load())
}

// A failed dial gives its slot back and counts ConnERR; a refused login
// is an error too; neither leaves a slot taken.
func TestManagerDialFailureFreesSlot(t *testing.T) {
	f := newPoolFixture(t, 1, Options{})
	f.fail.Store(true)
	for range 3 {
		_, err := f.get(t)
		require.ErrorContains(t, err, "injected dial failure")
	}
	f.fail.Store(false)
	f.srv.RejectLogins(mysql.NewDefaultError(mysql.ER_CON_COUNT_ERROR))
	_, err := f.get(t)
	require.ErrorContains(t, err, "Too many connections")
	f.srv.RejectLogins(nil)
	st := f.m.Stats(f.srv.Addr)
	require.EqualValues(t, 4, st.ConnERR.Load())
	require.EqualValues(t, 0, st.ConnUsed.Load())
	c := f.mustGet(t) // the one slot is free
	require.NoError(t, c.Ping())
	c.Recycle()
}

// A connection that died while idle (its server closed it) is never
// handed out: the ping before reuse fails, it is closed, and a new one is
// dialed. Its slot is freed, so the limit of one still lets the new one
// through.
func TestManagerDeadIdleNotHandedOut(t *testing.T) {
	f := newPoolFixture(t, 1, Options{PingAfter: time.Nanosecond})
	c := f.mustGet(t)
	id := connID(t, c)
	c.Recycle()
	f.srv.CloseAll()
	require.Eventually(t, func() bool { return f.srv.Open() == 0 }, 10*time.Second, 5*time.Millisecond)
	c = f.mustGet(t)
	require.NotEqual(t, id, connID(t, c))
	require.NoError(t, c.Ping())
	c.Recycle()
	st := f.m.Stats(f.srv.Addr)
	require.EqualValues(t, 0, st.ConnUsed.Load())
	require.EqualValues(t, 1, st.ConnFree.Load())
}

// Idle expiry: reap closes connections idle longer than IdleTimeout,
// keeping MinIdle of them; a connection past MaxLifetime is closed
// instead of being handed out.
func TestManagerIdleExpiry(t *testing.T) {
	f := newPoolFixture(t, 10, Options{IdleTimeout: time.Hour, MinIdle: 1, MaxLifetime: time.Hour})
	conns := []*Conn{f.mustGet(t), f.mustGet(t), f.mustGet(t)}
	for _, c := range conns {
		c.Recycle()
	}
	st := f.m.Stats(f.srv.Addr)
	require.EqualValues(t, 3, st.ConnFree.Load())
	p, err := f.m.pool(f.key, fakemysql.Password)
	require.NoError(t, err)
	p.reap(time.Now().Add(30 * time.Minute))
	require.EqualValues(t, 3, st.ConnFree.Load(), "not idle long enough")
	p.reap(time.Now().Add(2 * time.Hour))
	require.EqualValues(t, 1, st.ConnFree.Load(), "MinIdle is kept")
	require.Eventually(t, func() bool { return f.srv.Open() == 1 }, 10*time.Second, 5*time.Millisecond)

	p.mu.Lock()
	p.mu.idle[0].created = time.Now().Add(-2 * time.Hour)
	p.mu.Unlock()
	c := f.mustGet(t)
	require.EqualValues(t, 4, f.dials.Load(), "the connection past its lifetime was replaced")
	c.Recycle()
}

// Drain closes idle connections at once and busy ones when returned.
func TestManagerDrain(t *testing.T) {
	f := newPoolFixture(t, 10, Options{})
	busy, idle := f.mustGet(t), f.mustGet(t)
	idle.Recycle()
	f.m.Drain(f.srv.Addr)
	st := f.m.Stats(f.srv.Addr)
	require.EqualValues(t, 0, st.ConnFree.Load())
	busy.Recycle()
	require.EqualValues(t, 0, st.ConnFree.Load(), "a connection returned to a draining server is closed")
	require.EqualValues(t, 0, st.ConnUsed.Load())
	require.Eventually(t, func() bool { return f.srv.Open() == 0 }, 10*time.Second, 5*time.Millisecond)
}

// A Get that dials counts as work in flight on the server until it
// returns (least_outstanding and adaptive weigh it); a Get served from
// the idle list adds nothing.
func TestManagerDialCountsInFlight(t *testing.T) {
	t.Cleanup(func() { goleak.VerifyNone(t) })
	srv := fakemysql.Start(t)
	dialing, release := make(chan struct{}), make(chan struct{})
	m := NewManager(Options{ConnectTimeout: 10 * time.Second, WaitTimeout: time.Second,
		Dial: func(ctx context.Context, network, addr string) (net.Conn, error) {
			dialing <- struct{}{}
			<-release
			return (&net.Dialer{}).DialContext(ctx, network, addr)
		}}, zaptest.NewLogger(t))
	t.Cleanup(func() { require.NoError(t, m.Close()) })
	m.SetServer(srv.Addr, 10)
	key := Key{Addr: srv.Addr, User: fakemysql.User, NoSchema: true}
	st := m.Stats(srv.Addr)
	got := make(chan *Conn, 1)
	go func() {
		c, err := m.Get(context.Background(), key, fakemysql.Password)
		assert.NoError(t, err)
		got <- c
	}()
	<-dialing
	require.EqualValues(t, 1, st.InFlight.Load(), "a Get dialing the server counts")
	close(release)
	c := <-got
	require.NotNil(t, c)
	require.EqualValues(t, 0, st.InFlight.Load(), "the Get returned")
	c.Recycle()
	c, err := m.Get(context.Background(), key, fakemysql.Password)
	require.NoError(t, err)
	require.EqualValues(t, 0, st.InFlight.Load(), "an idle connection is handed out without counting")
	c.Recycle()
}

// After a connection is found closed by its server, the server's idle
// connections are checked before use however briefly they idled: the
// next Get does not hand out another dead one (a killed server closes
// all of them at once).
func TestManagerServerClosedMakesIdleSuspect(t *testing.T) {
	f := newPoolFixture(t, 3, Options{})
	c1, c2 := f.mustGet(t), f.mustGet(t)
	id2 := connID(t, c2)
	c2.Recycle()
	// As if c2 had idled for no time at all: only the suspicion can
	// make the pool check it.
	p := c2.pool
	p.mu.Lock()
	p.mu.idle[0].lastUsed = time.Now().Add(time.Hour)
	p.mu.Unlock()
	require.False(t, p.srv.suspect(time.Now()))

	f.srv.CloseAll()
	require.Eventually(t, func() bool { return f.srv.Open() == 0 }, 10*time.Second, 5*time.Millisecond)
	c1.Discard() // its server closed it
	require.True(t, p.srv.suspect(time.Now()))

	c := f.mustGet(t)
	require.NotEqual(t, id2, connID(t, c), "a new connection, not the dead idle one")
	c.Recycle()
	require.EqualValues(t, 3, f.dials.Load())
}

// Discarding a connection the server did not close (a reply left unread)
// suspects nothing.
func TestManagerDiscardHealthyNotSuspect(t *testing.T) {
	f := newPoolFixture(t, 2, Options{})
	c := f.mustGet(t)
	require.NoError(t, c.Ping())
	c.Discard()
	require.False(t, c.pool.srv.suspect(time.Now()))
}
