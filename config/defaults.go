package config

import (
	"strings"
	"time"
)

// Per-item defaults, applied by Load when a key is absent from a list item
// (a user, a server, a replication hostgroup or a hostgroup's attributes).
// They are exported so that other writers of Config (the admin interface)
// fill in missing columns the same way: Validate does not apply them, and
// rejects the zero value where it is not legal (an empty status,
// consistency or balance, a read_your_writes_timeout of 0; an empty
// consistency_scope means user).
const (
	// DefaultServerWeight is a server's weight when the key is absent.
	DefaultServerWeight = 1
	// DefaultServerStatus is a server's status when the key is absent.
	DefaultServerStatus = StatusOnline
	// DefaultServerMaxConnections is a server's connection cap when the key is absent.
	DefaultServerMaxConnections = 1000
	// DefaultCheckType is a replication hostgroup's check_type when it is empty.
	DefaultCheckType = CheckReadOnly
	// DefaultConsistency is a user's consistency when the key is absent.
	DefaultConsistency = ConsistencyReadYourWrites
	// DefaultConsistencyScope is a user's consistency_scope when the key is absent.
	DefaultConsistencyScope = ScopeUser
	// DefaultReadYourWritesTimeout is a user's read_your_writes_timeout
	// when the key is absent.
	DefaultReadYourWritesTimeout = time.Second
	// DefaultBalance is a hostgroup's balance when the key is absent.
	DefaultBalance = BalanceWeightedRoundRobin
	// DefaultAffinity is a hostgroup's affinity when the key is absent.
	DefaultAffinity = AffinityStatement
	// DefaultReaderFallback is the top-level reader_fallback default.
	DefaultReaderFallback = ReaderFallbackWriter
	// DefaultMaxWriters is a group replication hostgroup's max_writers
	// when the key is absent.
	DefaultMaxWriters = 1
)

// Monitor and failover defaults (scalar keys, set by Defaults).
const (
	// DefaultMonitorTimeout bounds a monitor connect and each check.
	DefaultMonitorTimeout = 800 * time.Millisecond
	// DefaultShunAfterFailures is monitor.shun_after_failures.
	DefaultShunAfterFailures = 2
	// DefaultLagShunAfter is monitor.lag_shun_after.
	DefaultLagShunAfter = 2
	// DefaultLagUnshunAfter is monitor.lag_unshun_after.
	DefaultLagUnshunAfter = 3
	// DefaultFailoverBuffer is the top-level failover_buffer.
	DefaultFailoverBuffer = 5 * time.Second
	// DefaultTransactionReplayMaxSize is transaction_replay_max_size (4 MiB).
	DefaultTransactionReplayMaxSize = 4 << 20
	// DefaultTransactionReplayAttempts is transaction_replay_attempts.
	DefaultTransactionReplayAttempts = 5
	// DefaultTransactionReplayTimeout is transaction_replay_timeout.
	DefaultTransactionReplayTimeout = 30 * time.Second
)

// DefaultQueryCacheSizeMB is query_cache_size_mb: memory is only used by
// rules with a cache_ttl.
const DefaultQueryCacheSizeMB = 64

// Cluster defaults (scalar keys, set by Defaults).
const (
	// DefaultGossipInterval is cluster.gossip_interval (also used for 0).
	DefaultGossipInterval = 200 * time.Millisecond
	// DefaultPushPullInterval is cluster.push_pull_interval (also used for 0).
	DefaultPushPullInterval = 10 * time.Second
	// MaxNodeNameLen bounds cluster.node_name, so that a change
	// announcement naming two nodes stays far below one UDP packet.
	MaxNodeNameLen = 128
	// MinSecretLen is the shortest accepted cluster.secret.
	MinSecretLen = 16
)

// MaxReadYourWritesTimeout is the largest users[].read_your_writes_timeout:
// a read should not wait longer than this for a replica to catch up.
const MaxReadYourWritesTimeout = time.Minute

// Replication hostgroup check types: the server variable whose value decides
// whether a server belongs to the reader (ON) or the writer (OFF) hostgroup.
const (
	CheckReadOnly       = "read_only"
	CheckSuperReadOnly  = "super_read_only"
	CheckInnodbReadOnly = "innodb_read_only"
	// ProxySQL's combinations: read-only when either variable is ON, or
	// only when both are.
	CheckReadOnlyOrInnodb  = "read_only|innodb_read_only"
	CheckReadOnlyAndInnodb = "read_only&innodb_read_only"
)

// CheckTypeVars returns the server variables check type ct reads and
// whether the server is read-only when all of them are ON (ProxySQL's
// "&") rather than when any is ("|", or a single variable).
func CheckTypeVars(ct string) (vars []string, all bool) {
	if ct == "" {
		ct = DefaultCheckType
	}
	if strings.Contains(ct, "&") {
		return strings.Split(ct, "&"), true
	}
	return strings.Split(ct, "|"), false
}

// Frontend authentication plugins accepted in users[].auth_plugin; empty
// means AuthNativePassword.
const (
	AuthNativePassword = "mysql_native_password"
	AuthCachingSha2    = "caching_sha2_password"
)

// DefaultHTTPListen is http.listen: the metrics, health and dashboard
// listener, loopback only.
const DefaultHTTPListen = "127.0.0.1:6070"

// Log formats accepted in log.format.
const (
	LogFormatAuto    = "auto"
	LogFormatConsole = "console"
	LogFormatJSON    = "json"
)

// Defaults returns a fully populated Config holding every scalar default.
// Users, servers, replication hostgroups, query rules and hostgroup
// attributes are empty: a configuration needs at least one user and one
// server to validate, so Defaults().Validate() fails on purpose.
func Defaults() *Config {
	return &Config{
		ConfigSource:    ConfigSourceAdmin,
		Listen:          "127.0.0.1:6033",
		MaxConnections:  4096,
		ServerVersion:   "",
		ShutdownTimeout: 30 * time.Second,
		Log: Log{
			Level:  "info",
			Format: LogFormatAuto,
		},
		HTTP: HTTP{
			Listen: DefaultHTTPListen,
		},
		Admin: Admin{
			Listen:   "127.0.0.1:6032",
			Username: "admin",
			Password: "admin",
			Datadir:  "./rwproxy-data",
		},
		Monitor: Monitor{
			Username:          "monitor",
			Password:          "monitor",
			Interval:          time.Second,
			Timeout:           DefaultMonitorTimeout,
			ShunAfterFailures: DefaultShunAfterFailures,
			LagShunAfter:      DefaultLagShunAfter,
			LagUnshunAfter:    DefaultLagUnshunAfter,
		},
		Pool: Pool{
			ConnectTimeout: 3 * time.Second,
			MinIdle:        0,
			MaxIdle:        64,
			IdleTimeout:    60 * time.Second,
			MaxLifetime:    time.Hour,
			PingAfter:      5 * time.Second,
			WaitTimeout:    5 * time.Second,
		},
		Users:                      []User{},
		Servers:                    []Server{},
		ReplicationHostgroups:      []ReplicationHostgroup{},
		GroupReplicationHostgroups: []GroupReplicationHostgroup{},
		QueryRules:                 []QueryRule{},
		HostgroupAttributes:        []HostgroupAttributes{},
		Cluster: Cluster{
			Bind:             "127.0.0.1:7946",
			Join:             []string{},
			SaveToDisk:       true,
			GossipInterval:   DefaultGossipInterval,
			PushPullInterval: DefaultPushPullInterval,
		},
		ReaderFallback: DefaultReaderFallback,
		FailoverBuffer: DefaultFailoverBuffer,

		TransactionReplay:         TransactionReplayOn,
		TransactionReplayMaxSize:  DefaultTransactionReplayMaxSize,
		TransactionReplayAttempts: DefaultTransactionReplayAttempts,
		TransactionReplayTimeout:  DefaultTransactionReplayTimeout,
		QueryCacheSizeMB:          DefaultQueryCacheSizeMB,
		TLS:                       TLS{BackendVerifyHostname: true},
		Tracing:                   DefaultTracing(),
		Limits: Limits{
			MaxAllowedPacket:      DefaultMaxAllowedPacket,
			MaxPreparedStatements: DefaultMaxPreparedStatements,
			LoginRate:             DefaultLoginRate,
			LoginBurst:            DefaultLoginBurst,
			NetWriteTimeout:       DefaultNetWriteTimeout,
			WaitTimeout:           DefaultWaitTimeout,

			MaxQueryLength:              DefaultMaxQueryLength,
			MaxUnauthenticated:          DefaultMaxUnauthenticated,
			MaxUnauthenticatedPerSource: DefaultMaxUnauthenticatedPerSource,
			MaxLongData:                 DefaultMaxLongData,
			FullParseMaxLength:          DefaultFullParseMaxLength,
			LoginLockTime:               DefaultLoginLockTime,
		},
	}
}
