package pool

import (
	"context"
	"testing"
	"time"

	"github.com/go-mysql-org/go-mysql/mysql"
	"github.com/stretchr/testify/require"
	"go.uber.org/goleak"
	"go.uber.org/zap/zaptest"
)

// TestReleaseTwiceCountsOnce: a connection released twice for one
// checkout (Discard then Recycle, as a failed ROLLBACK did in the session)
// is counted once, never lands on the idle list closed, and the next Get
// neither hangs nor gets a dead connection.
func TestReleaseTwiceCountsOnce(t *testing.T) {
	t.Cleanup(func() { goleak.VerifyNone(t) }) // registered first: runs after the backend stops
	b := startBackend(t, nil, mysql.AUTH_NATIVE_PASSWORD)
	for _, order := range []string{"discard then recycle", "recycle then discard", "discard twice"} {
		t.Run(order, func(t *testing.T) {
			m := NewManager(Options{ConnectTimeout: 3 * time.Second, WaitTimeout: 300 * time.Millisecond}, zaptest.NewLogger(t))
			defer func() { require.NoError(t, m.Close()) }()
			m.SetServer(b.addr, 1)                              // one slot: a slot freed twice shows at once
			key := Key{Addr: b.addr, User: "u", NoSchema: true} // its connections have no schema: they stay in this pool
			ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
			defer cancel()
			c, err := m.Get(ctx, key, "pw")
			require.NoError(t, err)
			st := m.Stats(b.addr)
			require.Equal(t, int64(1), st.ConnUsed.Load())
			switch order {
			case "discard then recycle":
				c.Discard()
				c.Recycle()
			case "recycle then discard":
				c.Recycle()
				c.Discard()
			case "discard twice":
				c.Discard()
				c.Discard()
			}
			require.Equal(t, int64(0), st.ConnUsed.Load(), "in use")
			require.Equal(t, uint64(1), st.DoubleReleases.Load())
			wantFree := int64(0)
			if order == "recycle then discard" {
				wantFree = 1
			}
			require.Equal(t, wantFree, st.ConnFree.Load(), "idle")

			// The next checkout gets a live connection, and the one slot
			// is really held by it: a second Get times out, it does not
			// find a slot freed twice.
			c2, err := m.Get(ctx, key, "pw")
			require.NoError(t, err)
			require.NoError(t, c2.Ping(), "a closed connection was handed out")
			_, err = m.Get(ctx, key, "pw")
			require.ErrorIs(t, err, ErrWaitTimeout)
			c2.Recycle()
			require.Equal(t, int64(0), st.ConnUsed.Load())
			require.Equal(t, int64(1), st.ConnFree.Load())

			// A connection from the idle list can be released again.
			c3, err := m.Get(ctx, key, "pw")
			require.NoError(t, err)
			require.Same(t, c2, c3)
			c3.Recycle()
			require.Equal(t, int64(0), st.ConnUsed.Load())
			require.Equal(t, uint64(1), st.DoubleReleases.Load())
		})
	}
}

// TestReleaseNeverBlocks: freeing a slot that is not held returns at
// once instead of waiting for one.
func TestReleaseNeverBlocks(t *testing.T) {
	s := newServer("x", &ServerStats{}, 1)
	done := make(chan struct{})
	go func() { s.release(); close(done) }()
	select {
	case <-done:
	case <-time.After(10 * time.Second):
		t.Fatal("release blocked on an empty semaphore")
	}
	require.True(t, s.tryAcquire())
	require.False(t, s.tryAcquire())
}
