package config

import (
	"strings"
	"testing"
	"time"

	"github.com/stretchr/testify/require"
)

// grEntry is a valid group replication entry on hostgroups 30-33.
func grEntry() GroupReplicationHostgroup {
	return GroupReplicationHostgroup{WriterHostgroup: 30, BackupWriterHostgroup: 31,
		ReaderHostgroup: 32, OfflineHostgroup: 33, MaxWriters: 1}
}

func TestValidateMonitorKeys(t *testing.T) {
	tests := []struct {
		name   string
		mutate func(c *Config)
		want   []string
	}{
		{name: "per-check intervals and heartbeat",
			mutate: func(c *Config) {
				c.Monitor.PingInterval = 200 * time.Millisecond
				c.Monitor.ReadOnlyInterval = time.Second
				c.Monitor.ReplicationLagInterval = 0
				c.Monitor.HeartbeatTable = "heartbeat.heartbeat"
				c.Monitor.LagWeightDecay = true
				c.FailoverBuffer = 0
			}},
		{name: "heartbeat table without schema", mutate: func(c *Config) { c.Monitor.HeartbeatTable = "hb_$1" }},
		{name: "monitor problems",
			mutate: func(c *Config) {
				c.Monitor.Timeout = 0
				c.Monitor.PingInterval = -time.Second
				c.Monitor.ReadOnlyInterval = -1
				c.Monitor.ReplicationLagInterval = -time.Millisecond
				c.Monitor.ShunAfterFailures = 0
				c.Monitor.LagShunAfter = -1
				c.Monitor.LagUnshunAfter = 0
				c.Monitor.HeartbeatTable = "hb.t; DROP TABLE x"
				c.FailoverBuffer = -time.Second
			},
			want: []string{
				"failover_buffer: -1s must be >= 0 (0 disables the wait)",
				"monitor.timeout: 0s must be > 0 (write it with a unit, e.g. 1s)",
				"monitor.ping_interval: -1s must be >= 0 (0 = monitor.interval)",
				"monitor.read_only_interval: -1ns must be >= 0 (0 = monitor.interval)",
				"monitor.replication_lag_interval: -1ms must be >= 0 (0 = monitor.interval)",
				"monitor.shun_after_failures: 0 must be >= 1",
				"monitor.lag_shun_after: -1 must be >= 1",
				"monitor.lag_unshun_after: 0 must be >= 1",
				`monitor.heartbeat_table: "hb.t; DROP TABLE x" is not a table name such as heartbeat.heartbeat (letters, digits, _ and $; at most one dot)`,
			}},
		{name: "group replication entry",
			mutate: func(c *Config) {
				c.Servers = append(c.Servers, Server{Hostgroup: 30, Host: "10.0.0.1", Port: 3306, Weight: 1,
					Status: StatusOnline, MaxConnections: 10})
				g := grEntry()
				g.WriterIsAlsoReader = 2
				g.MaxTransactionsBehind = 100
				g.Active = ptr(false)
				c.GroupReplicationHostgroups = []GroupReplicationHostgroup{g}
				// Every GR hostgroup is a known routing destination.
				c.QueryRules = []QueryRule{{RuleID: 1, DestinationHostgroup: ptr(33)}}
			}},
		{name: "group replication problems",
			mutate: func(c *Config) {
				a := grEntry()
				a.OfflineHostgroup = 31
				a.MaxWriters = 0
				a.WriterIsAlsoReader = 3
				a.MaxTransactionsBehind = -1
				b := GroupReplicationHostgroup{WriterHostgroup: 32, BackupWriterHostgroup: 20,
					ReaderHostgroup: -1, OfflineHostgroup: 40, MaxWriters: 2}
				c.GroupReplicationHostgroups = []GroupReplicationHostgroup{a, b}
			},
			want: []string{
				"group_replication_hostgroups[0].offline_hostgroup: hostgroup 31 is already this entry's backup_writer_hostgroup",
				"group_replication_hostgroups[0].max_writers: 0 must be >= 1",
				"group_replication_hostgroups[0].writer_is_also_reader: 3 is not one of 0, 1, 2",
				"group_replication_hostgroups[0].max_transactions_behind: -1 must be >= 0 (0 disables the check)",
				"group_replication_hostgroups[1].writer_hostgroup: hostgroup 32 is already used by group_replication_hostgroups[0]",
				"group_replication_hostgroups[1].backup_writer_hostgroup: hostgroup 20 is already used by replication_hostgroups",
				"group_replication_hostgroups[1].reader_hostgroup: -1 must be >= 0",
			}},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			c := validConfig(t)
			tc.mutate(c)
			err := c.Validate()
			if len(tc.want) == 0 {
				require.NoError(t, err)
				return
			}
			require.ErrorIs(t, err, ErrInvalid)
			lines := strings.Split(err.Error(), "\n")
			for _, w := range tc.want {
				require.Contains(t, lines, w)
			}
			require.Len(t, lines, len(tc.want), "unexpected extra problems:\n%v", err)
		})
	}
}

func TestMonitorEffectiveIntervals(t *testing.T) {
	m := Defaults().Monitor
	require.Equal(t, time.Second, m.PingEvery())
	require.Equal(t, time.Second, m.ReadOnlyEvery())
	require.Equal(t, time.Second, m.ReplicationLagEvery())
	m.PingInterval = 100 * time.Millisecond
	m.ReadOnlyInterval = 200 * time.Millisecond
	m.ReplicationLagInterval = 300 * time.Millisecond
	require.Equal(t, 100*time.Millisecond, m.PingEvery())
	require.Equal(t, 200*time.Millisecond, m.ReadOnlyEvery())
	require.Equal(t, 300*time.Millisecond, m.ReplicationLagEvery())
}

func TestFillDefaultsMonitorKeys(t *testing.T) {
	c := validConfig(t)
	c.Monitor = Monitor{Username: "monitor", Interval: time.Second}
	c.GroupReplicationHostgroups = []GroupReplicationHostgroup{{WriterHostgroup: 30, BackupWriterHostgroup: 31,
		ReaderHostgroup: 32, OfflineHostgroup: 33}}
	c.FillDefaults()
	require.NoError(t, c.Validate())
	require.Equal(t, DefaultMonitorTimeout, c.Monitor.Timeout)
	require.Equal(t, DefaultShunAfterFailures, c.Monitor.ShunAfterFailures)
	require.Equal(t, DefaultLagShunAfter, c.Monitor.LagShunAfter)
	require.Equal(t, DefaultLagUnshunAfter, c.Monitor.LagUnshunAfter)
	require.Equal(t, time.Duration(0), c.Monitor.PingInterval, "0 means monitor.interval and is kept")
	require.Equal(t, DefaultMaxWriters, c.GroupReplicationHostgroups[0].MaxWriters)
	require.True(t, c.GroupReplicationHostgroups[0].IsActive())
}

func TestLoadMonitorKeys(t *testing.T) {
	clearEnv(t)
	t.Run("defaults and values", func(t *testing.T) {
		yaml := `
failover_buffer: 2s
monitor: { timeout: 500ms, ping_interval: 200ms, lag_shun_after: 4, heartbeat_table: heartbeat.heartbeat, lag_weight_decay: true }
group_replication_hostgroups:
  - { writer_hostgroup: 30, backup_writer_hostgroup: 31, reader_hostgroup: 32, offline_hostgroup: 33 }
  - { writer_hostgroup: 40, backup_writer_hostgroup: 41, reader_hostgroup: 42, offline_hostgroup: 43,
      max_writers: 2, writer_is_also_reader: 1, max_transactions_behind: 50, active: false, comment: b }
` + minimalYAML
		c, err := Load(writeConfig(t, "x.yaml", yaml))
		require.NoError(t, err)
		require.Equal(t, 2*time.Second, c.FailoverBuffer)
		require.Equal(t, 500*time.Millisecond, c.Monitor.Timeout)
		require.Equal(t, 200*time.Millisecond, c.Monitor.PingEvery())
		require.Equal(t, time.Second, c.Monitor.ReadOnlyEvery())
		require.Equal(t, 4, c.Monitor.LagShunAfter)
		require.Equal(t, DefaultLagUnshunAfter, c.Monitor.LagUnshunAfter)
		require.Equal(t, DefaultShunAfterFailures, c.Monitor.ShunAfterFailures)
		require.Equal(t, "heartbeat.heartbeat", c.Monitor.HeartbeatTable)
		require.True(t, c.Monitor.LagWeightDecay)
		require.Equal(t, []GroupReplicationHostgroup{
			{WriterHostgroup: 30, BackupWriterHostgroup: 31, ReaderHostgroup: 32, OfflineHostgroup: 33, MaxWriters: 1},
			{WriterHostgroup: 40, BackupWriterHostgroup: 41, ReaderHostgroup: 42, OfflineHostgroup: 43, MaxWriters: 2,
				WriterIsAlsoReader: 1, MaxTransactionsBehind: 50, Active: ptr(false), Comment: "b"},
		}, c.GroupReplicationHostgroups)
		require.True(t, c.GroupReplicationHostgroups[0].IsActive())
		require.False(t, c.GroupReplicationHostgroups[1].IsActive())
	})
	t.Run("environment", func(t *testing.T) {
		t.Setenv("RWPROXY_MONITOR_TIMEOUT", "1s")
		t.Setenv("RWPROXY_FAILOVER_BUFFER", "0")
		c, err := Load(writeConfig(t, "x.yaml", minimalYAML))
		require.NoError(t, err)
		require.Equal(t, time.Second, c.Monitor.Timeout)
		require.Equal(t, time.Duration(0), c.FailoverBuffer)
	})
	t.Run("hostgroups must be written out", func(t *testing.T) {
		yaml := "group_replication_hostgroups: [ { writer_hostgroup: 30, reader_hostgroup: 32 } ]\n" + minimalYAML
		path := writeConfig(t, "x.yaml", yaml)
		_, err := Load(path)
		require.ErrorIs(t, err, ErrInvalid)
		require.Equal(t, []string{
			"config " + path + " is invalid:",
			"group_replication_hostgroups[0].backup_writer_hostgroup: is required",
			"group_replication_hostgroups[0].offline_hostgroup: is required",
		}, strings.Split(err.Error(), "\n"))
	})
}
