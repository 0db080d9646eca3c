package session

import (
	"testing"
	"time"

	"github.com/stretchr/testify/require"

	"github.com/rwproxy/rwproxy/pool"
)

// A client's KILL QUERY that is being sent when the statement ends holds
// the session back until it is over, so the connection cannot serve
// another statement (of this session or, back in the pool, of another)
// while the KILL is on its way.
func TestKillRunningHoldsTheConnection(t *testing.T) {
	s := &Session{}
	c := &pool.Conn{}
	s.running.Store(c)
	sending, release := make(chan *pool.Conn), make(chan struct{})
	killed := make(chan error)
	go func() {
		killed <- s.killRunning(func(_ *Session, k *pool.Conn) error {
			sending <- k
			<-release
			return nil
		})
	}()
	require.Same(t, c, <-sending, "the KILL is for the running statement's connection")

	ended := make(chan struct{})
	go func() { s.endRunning(); close(ended) }()
	select {
	case <-ended:
		t.Fatal("endRunning returned while the KILL was being sent")
	case <-time.After(100 * time.Millisecond):
	}
	close(release)
	require.NoError(t, <-killed)
	select {
	case <-ended:
	case <-time.After(5 * time.Second):
		t.Fatal("endRunning still waiting after the KILL was over")
	}
	require.Nil(t, s.running.Load())

	// Nothing running: nothing is killed.
	called := false
	require.NoError(t, s.killRunning(func(*Session, *pool.Conn) error { called = true; return nil }))
	require.False(t, called)
}
