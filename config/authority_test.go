package config

import (
	"context"
	"testing"

	"github.com/stretchr/testify/require"
)

// TestEnvWinsEverywhere: with HonorEnv, an admin change to a key set by the
// environment is refused naming the variable, a peer's configuration gets
// the override, other keys change freely.
func TestEnvWinsEverywhere(t *testing.T) {
	t.Setenv("RWPROXY_MAX_CONNECTIONS", "77")
	t.Setenv("RWPROXY_POOL_MAX_IDLE", "5")
	t.Setenv("RWPROXY_NO_SUCH_KEY", "1")
	in, unknown := EnvOverrides()
	require.Equal(t, []string{"RWPROXY_NO_SUCH_KEY"}, unknown)
	require.Len(t, in, 2)
	require.Equal(t, "max_connections", in[0].Key)

	c := validConfig(t)
	_, err := ApplyEnv(c)
	require.NoError(t, err)
	require.Equal(t, 77, c.MaxConnections)
	require.Equal(t, 5, c.Pool.MaxIdle)
	require.Equal(t, Defaults().Pool.IdleTimeout, c.Pool.IdleTimeout, "other pool keys kept")

	s := NewStore(c, "a")
	s.HonorEnv()
	next := c.Clone()
	next.MaxConnections = 100
	err = s.Apply(context.Background(), next, SourceAdmin)
	require.ErrorIs(t, err, ErrEnvPinned)
	require.Contains(t, err.Error(), "max_connections is set by RWPROXY_MAX_CONNECTIONS")
	next.MaxConnections = 77
	next.FailoverBuffer = 0
	require.NoError(t, s.Apply(context.Background(), next, SourceAdmin))

	peer := c.Clone()
	peer.MaxConnections = 2000
	ok, err := s.Adopt(context.Background(), Versioned{Version: 10, Origin: "b", Config: peer})
	require.NoError(t, err)
	require.True(t, ok)
	require.Equal(t, 77, s.Current().MaxConnections, "the environment wins over a peer")
}

func TestNodeLocal(t *testing.T) {
	for _, k := range []string{"admin.password", "listen", "cluster.join", "tls.cert", "log.level", "config_source"} {
		require.True(t, IsNodeLocal(k), k)
	}
	for _, k := range []string{"max_connections", "pool.max_idle", "monitor.interval", "servers"} {
		require.False(t, IsNodeLocal(k), k)
	}
}
