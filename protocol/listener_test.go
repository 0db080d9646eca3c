package protocol_test

import (
	"context"
	"io"
	"net"
	"sync/atomic"
	"testing"
	"time"

	"github.com/go-mysql-org/go-mysql/mysql"
	"github.com/stretchr/testify/require"
	"go.uber.org/goleak"
	"go.uber.org/zap"

	"github.com/rwproxy/rwproxy/protocol"
)

// holdHandler keeps each connection until it is closed (by the client or
// by Listener.Close), lingers a little, and counts the handlers that ended.
type holdHandler struct {
	started, ended atomic.Int32
	linger         time.Duration
}

func (h *holdHandler) serve(_ context.Context, nc net.Conn) {
	h.started.Add(1)
	_, _ = io.Copy(io.Discard, nc)
	time.Sleep(h.linger)
	h.ended.Add(1)
}

func startListener(t *testing.T, max int, h *holdHandler) (*protocol.Listener, chan error) {
	t.Helper()
	l, err := protocol.Listen("127.0.0.1:0", max, h.serve, zap.NewNop())
	require.NoError(t, err)
	served := make(chan error, 1)
	go func() { served <- l.Serve() }()
	return l, served
}

func dial(t *testing.T, l *protocol.Listener) net.Conn {
	t.Helper()
	c, err := net.DialTimeout("tcp", l.Addr().String(), 2*time.Second)
	require.NoError(t, err)
	t.Cleanup(func() { _ = c.Close() })
	return c
}

// requireRefused reads what a refused client gets: one ERR packet with
// sequence 0 in place of the greeting (1040, SQLSTATE 08004), then EOF.
func requireRefused(t *testing.T, c net.Conn) {
	t.Helper()
	e := readRefusal(t, c)
	require.Equal(t, uint16(mysql.ER_CON_COUNT_ERROR), e.Code)
	require.Equal(t, "08004", e.State)
	require.Equal(t, "Too many connections", e.Message)
}

// readRefusal reads the one ERR packet (sequence 0) a refused client gets
// in place of the greeting, and the end of the connection after it.
func readRefusal(t *testing.T, c net.Conn) *mysql.MyError {
	t.Helper()
	require.NoError(t, c.SetReadDeadline(time.Now().Add(2*time.Second)))
	all, err := io.ReadAll(c)
	require.NoError(t, err, "the server closes the connection after the error")
	require.GreaterOrEqual(t, len(all), 4)
	n := int(all[0]) | int(all[1])<<8 | int(all[2])<<16
	require.Equal(t, byte(0), all[3], "sequence id")
	require.Len(t, all, 4+n, "exactly one packet")
	pl := all[4:]
	require.True(t, protocol.IsErr(pl))
	return protocol.ParseErr(pl)
}

// requireHeld checks that c was accepted: nothing arrives (the handler
// does not write) and the connection stays open.
func requireHeld(t *testing.T, c net.Conn) {
	t.Helper()
	require.NoError(t, c.SetReadDeadline(time.Now().Add(100*time.Millisecond)))
	_, err := c.Read(make([]byte, 1))
	var ne net.Error
	require.ErrorAs(t, err, &ne)
	require.True(t, ne.Timeout(), "want a timeout, got %v", err)
}

func TestListenerMaxConnections(t *testing.T) {
	defer goleak.VerifyNone(t, goleak.IgnoreCurrent())
	const max = 2
	h := &holdHandler{linger: 50 * time.Millisecond}
	l, served := startListener(t, max, h)

	var held []net.Conn
	for i := 0; i < max; i++ {
		held = append(held, dial(t, l))
		require.Eventually(t, func() bool { return l.Active() == int64(i+1) }, 30*time.Second, 5*time.Millisecond)
	}
	for _, c := range held {
		requireHeld(t, c)
	}

	t.Run("the connection over the limit gets ERR 1040", func(t *testing.T) {
		requireRefused(t, dial(t, l))
		require.Equal(t, int64(max), l.Active(), "a refused connection does not count")
		require.Equal(t, int32(max), h.started.Load(), "no handler for a refused connection")
	})

	outer := t
	t.Run("a closed connection frees its slot", func(t *testing.T) {
		require.NoError(t, held[0].Close())
		require.Eventually(t, func() bool { return l.Active() == max-1 }, 30*time.Second, 5*time.Millisecond)
		held[0] = dial(outer, l) // lives until the end of the outer test
		require.Eventually(t, func() bool { return l.Active() == max }, 30*time.Second, 5*time.Millisecond)
		requireHeld(t, held[0])
	})

	t.Run("a lowered limit refuses new connections", func(t *testing.T) {
		l.SetMaxConnections(1)
		requireRefused(t, dial(t, l))
		l.SetMaxConnections(max)
	})

	// Close closes the open connections and returns only once every
	// handler goroutine has ended (each lingers 50ms after its socket
	// closes).
	require.NoError(t, l.Close())
	require.Equal(t, h.started.Load(), h.ended.Load(), "Close returned before its handlers ended")
	require.Zero(t, l.Active())
	require.NoError(t, <-served)
	for _, c := range held {
		require.NoError(t, c.SetReadDeadline(time.Now().Add(2*time.Second)))
		_, err := c.Read(make([]byte, 1))
		require.ErrorIs(t, err, io.EOF, "Close closes client connections")
	}
}

// Handlers get a context that Close cancels.
func TestListenerCloseCancelsContext(t *testing.T) {
	defer goleak.VerifyNone(t, goleak.IgnoreCurrent())
	var sawCancel atomic.Bool
	entered := make(chan struct{})
	l, err := protocol.Listen("127.0.0.1:0", 10, func(ctx context.Context, nc net.Conn) {
		close(entered)
		<-ctx.Done()
		sawCancel.Store(true)
	}, zap.NewNop())
	require.NoError(t, err)
	served := make(chan error, 1)
	go func() { served <- l.Serve() }()
	dial(t, l)
	<-entered
	require.NoError(t, l.Close())
	require.True(t, sawCancel.Load())
	require.NoError(t, <-served)
}

// StopAccepting leaves open connections alone.
func TestListenerStopAccepting(t *testing.T) {
	defer goleak.VerifyNone(t, goleak.IgnoreCurrent())
	h := &holdHandler{}
	l, served := startListener(t, 10, h)
	c := dial(t, l)
	require.Eventually(t, func() bool { return l.Active() == 1 }, 30*time.Second, 5*time.Millisecond)
	require.NoError(t, l.StopAccepting())
	require.NoError(t, <-served)
	requireHeld(t, c)
	_, err := net.DialTimeout("tcp", l.Addr().String(), time.Second)
	require.Error(t, err, "no longer accepting")
	ctx, cancel := context.WithTimeout(context.Background(), 50*time.Millisecond)
	defer cancel()
	require.ErrorIs(t, l.Wait(ctx), context.DeadlineExceeded, "the connection is still served")
	require.NoError(t, c.Close())
	require.NoError(t, l.Wait(context.Background()))
	require.NoError(t, l.Close())
}
