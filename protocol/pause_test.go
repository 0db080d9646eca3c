package protocol_test

import (
	"testing"
	"time"

	"github.com/stretchr/testify/require"
	"go.uber.org/goleak"

	"github.com/rwproxy/rwproxy/protocol"
)

// A paused listener (PROXYSQL PAUSE) refuses new clients with 9040 in
// place of the greeting and runs no handler for them, while an open
// connection goes on; resumed, it takes clients again.
func TestListenerPause(t *testing.T) {
	defer goleak.VerifyNone(t, goleak.IgnoreCurrent())
	h := &holdHandler{}
	l, served := startListener(t, 10, h)
	open := dial(t, l)
	require.Eventually(t, func() bool { return l.Active() == 1 }, 30*time.Second, 5*time.Millisecond)

	l.SetPaused(true)
	require.True(t, l.Paused())
	e := readRefusal(t, dial(t, l))
	require.Equal(t, protocol.ErrCodePaused, e.Code)
	require.Equal(t, "08004", e.State)
	require.Contains(t, e.Message, "PROXYSQL PAUSE")
	require.EqualValues(t, 1, h.started.Load(), "no handler for a client refused while paused")
	requireHeld(t, open)

	l.SetPaused(false)
	c := dial(t, l)
	require.Eventually(t, func() bool { return h.started.Load() == 2 }, 30*time.Second, 5*time.Millisecond)
	requireHeld(t, c)
	require.NoError(t, l.Close())
	require.NoError(t, <-served)
}
