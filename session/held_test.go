package session

import (
	"testing"
	"time"

	"github.com/stretchr/testify/require"

	"github.com/rwproxy/rwproxy/router"
)

// TestHeldConnReleasedWhenIdle: a connection held after a statement with
// warnings goes back to the pool when the client sends nothing for
// heldIdleTimeout; one the next statement asks for stays the session's.
func TestHeldConnReleasedWhenIdle(t *testing.T) {
	old := heldIdleTimeout
	t.Cleanup(func() { heldIdleTimeout = old })
	b := startFakeBackend(t)
	m := newPools(t, b.addr, 2, 300*time.Millisecond)
	st := m.Stats(b.addr)
	s := &Session{d: &Deps{Pools: m, Stats: &Stats{}}}

	heldIdleTimeout = 20 * time.Millisecond
	c := getConn(t, m, b.addr)
	s.keepOrRelease(c, true)
	require.Same(t, c, s.held.Load())
	require.Eventually(t, func() bool { return st.ConnUsed.Load() == 0 }, 30*time.Second, time.Millisecond,
		"the held connection was never returned")
	require.Nil(t, s.held.Load())
	require.Equal(t, int64(1), st.ConnFree.Load())
	s.takeHeld(&router.Stmt{Flags: router.FlagPrevStmtInfo}) // too late: nothing to take
	require.Nil(t, s.pinned)

	heldIdleTimeout = time.Hour
	c = getConn(t, m, b.addr)
	s.keepOrRelease(c, true)
	s.takeHeld(&router.Stmt{Flags: router.FlagPrevStmtInfo}) // SHOW WARNINGS
	require.Same(t, c, s.pinned)
	require.Equal(t, int64(1), st.ConnUsed.Load())
	s.pinned = nil
	c.Recycle()

	// The session ending returns what it holds.
	c = getConn(t, m, b.addr)
	s.keepOrRelease(c, true)
	s.close()
	require.Equal(t, int64(0), st.ConnUsed.Load())
	require.Zero(t, st.DoubleReleases.Load())
}
