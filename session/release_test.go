package session

import (
	"context"
	"testing"
	"time"

	"github.com/go-mysql-org/go-mysql/mysql"
	"github.com/stretchr/testify/require"
	"go.uber.org/zap/zaptest"

	"github.com/rwproxy/rwproxy/protocol"
)

// TestFailedRollbackReleasesOnce: when the ROLLBACK of a transaction
// whose server turned read-only fails, the connection is discarded once
// and not recycled as well; the session reports the transaction aborted.
func TestFailedRollbackReleasesOnce(t *testing.T) {
	b := startFakeBackend(t)
	m := newPools(t, b.addr, 1, 300*time.Millisecond)
	c := getConn(t, m, b.addr)
	s := &Session{d: &Deps{Pools: m, Stats: &Stats{}, Log: zaptest.NewLogger(t), Picker: onePicker(b.addr)}, inTxn: true}
	s.st.vars = map[string]string{}
	res := protocol.Response{Err: &mysql.MyError{Code: mysql.ER_OPTION_PREVENTS_STATEMENT, State: "HY000",
		Message: "The MariaDB server is running with the --read-only option so it cannot execute this statement"}}
	require.NoError(t, s.finish(&request{cmd: -1}, c, res, nil, time.Now()))

	st := m.Stats(b.addr)
	require.Equal(t, int64(0), st.ConnUsed.Load(), "in use")
	require.Equal(t, int64(0), st.ConnFree.Load(), "the discarded connection is on the idle list")
	require.Zero(t, st.DoubleReleases.Load(), "the connection was released twice")
	require.Nil(t, s.pinned)
	require.False(t, s.inTxn)
	require.True(t, s.txnAborted, "the client's transaction must not go on silently in autocommit")

	// The one slot is free: the next session gets a live connection.
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	c2, err := m.Get(ctx, c.Key(), "pw")
	require.NoError(t, err)
	require.NoError(t, c2.Ping())
	c2.Recycle()
}

// TestDropBackendDiscardsEachConnOnce: after a panic the session discards
// its connections; one that is both current and pinned is discarded once.
func TestDropBackendDiscardsEachConnOnce(t *testing.T) {
	b := startFakeBackend(t)
	m := newPools(t, b.addr, 2, 300*time.Millisecond)
	c := getConn(t, m, b.addr)
	h := getConn(t, m, b.addr)
	s := &Session{d: &Deps{Pools: m, Stats: &Stats{}}}
	s.relayConn, s.pinned = c, c
	s.held.Store(h)
	s.dropBackend()
	st := m.Stats(b.addr)
	require.Equal(t, int64(0), st.ConnUsed.Load())
	require.Zero(t, st.DoubleReleases.Load(), "a connection was discarded twice")
	require.Nil(t, s.relayConn)
	require.Nil(t, s.pinned)
}
