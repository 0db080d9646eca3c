package config

import (
	"errors"
	"reflect"
	"testing"
	"time"

	"github.com/stretchr/testify/require"
)

func TestDefaults(t *testing.T) {
	d := Defaults()
	require.Equal(t, "127.0.0.1:6033", d.Listen)
	require.Equal(t, 4096, d.MaxConnections)
	require.Equal(t, "", d.ServerVersion, "empty: announce the backend's own version")
	require.Equal(t, 30*time.Second, d.ShutdownTimeout)
	require.Equal(t, Log{Level: "info", Format: "auto"}, d.Log)
	require.Equal(t, Admin{Listen: "127.0.0.1:6032", Username: "admin", Password: "admin", Datadir: "./rwproxy-data"}, d.Admin)
	require.Equal(t, HTTP{Listen: "127.0.0.1:6070"}, d.HTTP)
	require.Equal(t, Monitor{Username: "monitor", Password: "monitor", Interval: time.Second,
		Timeout: 800 * time.Millisecond, ShunAfterFailures: 2, LagShunAfter: 2, LagUnshunAfter: 3}, d.Monitor)
	require.Equal(t, 5*time.Second, d.FailoverBuffer)
	require.Empty(t, d.GroupReplicationHostgroups)
	require.Equal(t, Pool{
		ConnectTimeout: 3 * time.Second, MinIdle: 0, MaxIdle: 64, IdleTimeout: 60 * time.Second,
		MaxLifetime: time.Hour, PingAfter: 5 * time.Second, WaitTimeout: 5 * time.Second,
	}, d.Pool)
	require.Equal(t, Cluster{Bind: "127.0.0.1:7946", Join: []string{}, SaveToDisk: true,
		GossipInterval: 200 * time.Millisecond, PushPullInterval: 10 * time.Second}, d.Cluster)
	require.Equal(t, ReaderFallbackWriter, d.ReaderFallback)
	require.Empty(t, d.HostgroupAttributes)

	// Each call returns an independent value.
	d.Cluster.Join = append(d.Cluster.Join, "x:1")
	require.Empty(t, Defaults().Cluster.Join)
}

// TestDefaultsAloneAreInvalid: users and servers have no sensible default.
func TestDefaultsAloneAreInvalid(t *testing.T) {
	err := Defaults().Validate()
	require.ErrorIs(t, err, ErrInvalid)
	require.ErrorContains(t, err, "users: at least one user is required")
}

// TestDefaultsScalarsAreValid: only the missing topology makes Defaults
// invalid; every scalar default passes validation.
func TestDefaultsScalarsAreValid(t *testing.T) {
	require.NoError(t, validConfig(t).Validate())
	for _, e := range unjoin(Defaults().Validate()) {
		var fe *FieldError
		require.True(t, errors.As(e, &fe))
		require.Equal(t, "users", fe.Path)
	}
}

// TestScalarDefaultsCoverEveryKey guards the env-override contract: every
// non-list field of Config must be registered with viper.
func TestScalarDefaultsCoverEveryKey(t *testing.T) {
	keys := scalarDefaults(Defaults())
	for _, k := range []string{
		"listen", "max_connections", "server_version", "shutdown_timeout",
		"log.level", "log.format", "log.slow_query_threshold",
		"http.listen", "http.pprof",
		"admin.listen", "admin.username", "admin.password", "admin.datadir",
		"monitor.username", "monitor.password", "monitor.interval",
		"monitor.timeout", "monitor.ping_interval", "monitor.read_only_interval",
		"monitor.replication_lag_interval", "monitor.shun_after_failures", "monitor.lag_shun_after",
		"monitor.lag_unshun_after", "monitor.heartbeat_table", "monitor.lag_weight_decay",
		"failover_buffer", "query_timeout",
		"pool.connect_timeout", "pool.min_idle", "pool.max_idle", "pool.idle_timeout",
		"pool.max_lifetime", "pool.ping_after", "pool.wait_timeout",
		"cluster.bind", "cluster.join", "cluster.node_name", "cluster.secret", "cluster.enabled",
		"cluster.advertise", "cluster.save_to_disk", "cluster.gossip_interval", "cluster.push_pull_interval",
		"reader_fallback", "config_source",
		"tls.cert", "tls.key", "tls.backend_ca", "tls.backend_verify_hostname", "tls.backend_insecure_skip_verify", "tls.rsa_key",
		"limits.max_allowed_packet", "limits.max_query_length", "limits.max_prepared_statements",
		"limits.login_rate", "limits.login_burst", "limits.net_write_timeout", "limits.wait_timeout", "limits.max_unauthenticated",
		"limits.max_unauthenticated_per_source", "limits.max_long_data", "limits.full_parse_max_length",
		"limits.max_login_failures", "limits.login_lock_time",
		"tracing.enabled", "tracing.endpoint", "tracing.protocol", "tracing.insecure", "tracing.sampling_ratio",
		"tracing.include_statement", "tracing.queue_size", "tracing.batch_size", "tracing.batch_timeout", "tracing.service_name",
		"transaction_replay", "transaction_replay_max_size", "transaction_replay_attempts", "transaction_replay_timeout",
		"transaction_replay_commit_check",
		"log.query_digests_track_hostname",
		"tracing.transaction_spans",
	} {
		require.Contains(t, keys, k)
	}
	require.NotContains(t, keys, "users")
	require.NotContains(t, keys, "servers")
	require.NotContains(t, keys, "hostgroup_attributes")
	require.NotContains(t, keys, "group_replication_hostgroups")
	require.Len(t, keys, 88, "a field was added to Config: update this test and docs/configuration.md")
	require.Equal(t, reflect.TypeFor[time.Duration](), reflect.TypeOf(keys["pool.ping_after"]))
}
