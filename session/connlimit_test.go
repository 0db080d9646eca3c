package session

import (
	"context"
	"testing"
	"time"

	"github.com/stretchr/testify/require"
	"go.uber.org/zap/zaptest"

	"github.com/rwproxy/rwproxy/config"
	"github.com/rwproxy/rwproxy/protocol"
)

// TestConnLimitIsNotAFailover: a writer whose connection limit is reached
// answers error 9010 after pool.wait_timeout, without also waiting the
// failover buffer.
func TestConnLimitIsNotAFailover(t *testing.T) {
	b := startFakeBackend(t)
	m := newPools(t, b.addr, 1, 200*time.Millisecond)
	busy := getConn(t, m, b.addr) // another session holds the only slot
	defer busy.Recycle()
	rt := &Routing{FailoverBuffer: 3 * time.Second}
	s := &Session{ctx: context.Background(), user: config.User{Username: "u", Password: "pw", DefaultHostgroup: 10},
		d: &Deps{Pools: m, Picker: onePicker(b.addr), Routing: func() *Routing { return rt }, Stats: &Stats{},
			Log: zaptest.NewLogger(t)}}
	s.st.vars = map[string]string{}

	c, me := s.acquireWriter(10)
	require.Nil(t, c)
	require.NotNil(t, me)
	require.Equal(t, protocol.ErrCodeConnLimit, me.Code, me.Message)
	require.Equal(t, "HY000", me.State)
	require.Equal(t, "rwproxy: backend connection limit reached for hostgroup 10 (waited 0.2s)", me.Message)
	require.Zero(t, s.d.Stats.FailoverWaits.Load(), "a full pool was buffered as a failover")
	require.Equal(t, uint64(1), s.d.Stats.ConnLimitErrs.Load())
	require.Zero(t, s.d.Stats.BackendErrs.Load(), "a busy server is not a backend error")
}
