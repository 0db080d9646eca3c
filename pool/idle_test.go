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

// IdleConns lists exactly the connections on idle lists (not those in
// use), with their server thread id, and at most limit of them.
func TestIdleConns(t *testing.T) {
	t.Cleanup(func() { goleak.VerifyNone(t) })
	b := startBackend(t, nil, mysql.AUTH_NATIVE_PASSWORD)
	m := NewManager(Options{ConnectTimeout: 3 * time.Second, WaitTimeout: time.Second}, zaptest.NewLogger(t))
	defer func() { require.NoError(t, m.Close()) }()
	m.SetServer(b.addr, 10)
	key := Key{Addr: b.addr, User: "u", NoSchema: true}
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	var conns []*Conn
	for range 3 {
		c, err := m.Get(ctx, key, "pw")
		require.NoError(t, err)
		conns = append(conns, c)
	}
	require.Empty(t, m.IdleConns(0), "connections in use are not idle")
	conns[0].Recycle()
	conns[1].Recycle()
	idle := m.IdleConns(0)
	require.Len(t, idle, 2)
	ids := map[uint32]bool{}
	for _, ic := range idle {
		require.Equal(t, b.addr, ic.Addr)
		require.Equal(t, "u", ic.User)
		require.Empty(t, ic.Schema)
		require.NotZero(t, ic.ThreadID)
		require.GreaterOrEqual(t, ic.Age, ic.Idle)
		ids[ic.ThreadID] = true
	}
	require.Equal(t, map[uint32]bool{conns[0].GetConnectionID(): true, conns[1].GetConnectionID(): true}, ids)
	require.Len(t, m.IdleConns(1), 1, "bounded by limit")
	conns[2].Recycle()
	require.Len(t, m.IdleConns(0), 3)
}
