package config

import (
	"testing"
	"time"

	"github.com/stretchr/testify/require"
)

func TestRestartFields(t *testing.T) {
	tests := []struct {
		name   string
		mutate func(c *Config)
		want   []string
	}{
		{name: "hot-reloadable changes only", mutate: func(c *Config) {
			c.MaxConnections = 1
			c.Log.Level = "debug"
			c.Admin.Password = "new"
			c.Pool.MaxIdle = 1
			c.Servers = c.Servers[:1]
			c.Cluster.Join = []string{"10.0.0.1:7946"}
		}},
		{name: "every restart field", mutate: func(c *Config) {
			c.Listen = ":1"
			c.ServerVersion = "x"
			c.Log.Format = LogFormatJSON
			c.Admin.Listen = ":2"
			c.Admin.Datadir = "/tmp"
			c.HTTP.Listen = ":4"
			c.HTTP.PProf = true                    // hot-reloadable
			c.Log.SlowQueryThreshold = time.Second // hot-reloadable
			c.Cluster.Bind = ":3"
			c.Cluster.NodeName = "n"
			c.Cluster.Secret = "s"
			c.Cluster.Enabled = true
		}, want: []string{
			"listen", "server_version", "log.format", "admin.listen", "admin.datadir", "http.listen",
			"cluster.bind", "cluster.node_name", "cluster.secret", "cluster.enabled",
		}},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			a := validConfig(t)
			b := a.Clone()
			tc.mutate(b)
			require.Equal(t, tc.want, RestartFields(a, b))
		})
	}
}

func TestKeepRestartFields(t *testing.T) {
	local := validConfig(t)
	remote := validConfig(t)
	remote.Listen = "10.0.0.2:6033"
	remote.Cluster.NodeName = "b"
	remote.MaxConnections = 7
	keepRestartFields(remote, local)
	require.Empty(t, RestartFields(local, remote))
	require.Equal(t, 7, remote.MaxConnections, "other fields are untouched")
}

func TestRestartErrorHidesSecrets(t *testing.T) {
	a := validConfig(t)
	b := a.Clone()
	b.Cluster.Secret = "0123456789abcdef"
	err := restartError(a, b)
	require.ErrorIs(t, err, ErrRestartRequired)
	require.NotContains(t, err.Error(), "0123456789abcdef")
	require.NoError(t, restartError(a, a.Clone()))
}
