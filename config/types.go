package config

import "time"

// Config is the whole rwproxy configuration. A *Config reached through a
// Store is immutable: build a new one with Clone and Apply it instead.
type Config struct {
	// Listen is the client-facing MySQL address.
	Listen string `mapstructure:"listen" reload:"restart"`
	// MaxConnections caps concurrent client connections (error 1040 past it).
	MaxConnections int `mapstructure:"max_connections"`
	// ServerVersion is the version string announced to clients in the handshake.
	ServerVersion string `mapstructure:"server_version" reload:"restart"`
	// ShutdownTimeout bounds the graceful drain on SIGTERM.
	ShutdownTimeout time.Duration `mapstructure:"shutdown_timeout"`

	Log                   Log                    `mapstructure:"log"`
	Admin                 Admin                  `mapstructure:"admin"`
	Monitor               Monitor                `mapstructure:"monitor"`
	Pool                  Pool                   `mapstructure:"pool"`
	Users                 []User                 `mapstructure:"users"`
	Servers               []Server               `mapstructure:"servers"`
	ReplicationHostgroups []ReplicationHostgroup `mapstructure:"replication_hostgroups"`
	QueryRules            []QueryRule            `mapstructure:"query_rules"`
	HostgroupAttributes   []HostgroupAttributes  `mapstructure:"hostgroup_attributes"`
	Cluster               Cluster                `mapstructure:"cluster"`

	// ReaderFallback says what a read does when its reader hostgroup has
	// no usable server: "writer" (run on the writer) or "error".
	ReaderFallback string `mapstructure:"reader_fallback"`
}

// Reader fallback policies.
const (
	ReaderFallbackWriter = "writer"
	ReaderFallbackError  = "error"
)

// Balancing algorithms for hostgroup_attributes[].balance.
const (
	BalanceWeightedRoundRobin = "weighted_round_robin"
	BalanceLeastOutstanding   = "least_outstanding"
)

// HostgroupAttributes are per-hostgroup settings (ProxySQL's
// mysql_hostgroup_attributes).
type HostgroupAttributes struct {
	HostgroupID int `mapstructure:"hostgroup_id"`
	// Balance is weighted_round_robin (default) or least_outstanding.
	Balance string `mapstructure:"balance"`
}

// Read consistency levels for users[].consistency.
const (
	ConsistencyEventual       = "eventual"
	ConsistencyReadYourWrites = "read_your_writes"
)

// Log configures the root zap logger.
type Log struct {
	// Level is debug, info, warn or error; hot-reloadable.
	Level string `mapstructure:"level"`
	// Format is auto (console on a terminal, JSON otherwise), console or json.
	Format string `mapstructure:"format" reload:"restart"`
}

// Admin configures the admin SQL interface.
type Admin struct {
	Listen   string `mapstructure:"listen" reload:"restart"`
	Username string `mapstructure:"username"`
	Password string `mapstructure:"password"`
	Datadir  string `mapstructure:"datadir" reload:"restart"`
}

// Monitor configures the backend health checks.
type Monitor struct {
	Username string        `mapstructure:"username"`
	Password string        `mapstructure:"password"`
	Interval time.Duration `mapstructure:"interval"`
}

// Pool configures every backend connection pool.
type Pool struct {
	// ConnectTimeout bounds dialing and authenticating to a backend.
	ConnectTimeout time.Duration `mapstructure:"connect_timeout"`
	// MinIdle connections are kept open per server and user once used.
	MinIdle int `mapstructure:"min_idle"`
	// MaxIdle caps idle connections kept per server and user.
	MaxIdle int `mapstructure:"max_idle"`
	// IdleTimeout closes connections idle longer than this.
	IdleTimeout time.Duration `mapstructure:"idle_timeout"`
	// MaxLifetime closes connections older than this when they are returned.
	MaxLifetime time.Duration `mapstructure:"max_lifetime"`
	// PingAfter: a connection idle longer than this is pinged at checkout.
	PingAfter time.Duration `mapstructure:"ping_after"`
	// WaitTimeout bounds how long a query waits for a free connection when
	// the server's max_connections is reached.
	WaitTimeout time.Duration `mapstructure:"wait_timeout"`
}

// User is a frontend user; backends are logged into with the same
// credentials (as ProxySQL's mysql_users).
type User struct {
	Username         string `mapstructure:"username"`
	Password         string `mapstructure:"password"`
	DefaultHostgroup int    `mapstructure:"default_hostgroup"`
	// MaxConnections caps this user's concurrent client connections (0 = no cap).
	MaxConnections int `mapstructure:"max_connections"`
	// Active false refuses logins.
	Active *bool `mapstructure:"active"`
	// AuthPlugin is the frontend authentication plugin for this user:
	// mysql_native_password (default) or caching_sha2_password.
	AuthPlugin string `mapstructure:"auth_plugin"`
	// Consistency is eventual (default: reads go to any eligible replica)
	// or read_your_writes (after a write, reads go where that write has
	// been applied, waiting up to ReadYourWritesTimeout, else the writer).
	Consistency string `mapstructure:"consistency"`
	// ReadYourWritesTimeout bounds the wait on a replica (default 1s).
	ReadYourWritesTimeout time.Duration `mapstructure:"read_your_writes_timeout"`
}

// IsActive reports whether the user may log in (default true).
func (u User) IsActive() bool { return u.Active == nil || *u.Active }

// Server statuses, as in ProxySQL's mysql_servers.status.
const (
	StatusOnline      = "ONLINE"
	StatusOfflineSoft = "OFFLINE_SOFT"
	StatusOfflineHard = "OFFLINE_HARD"
)

// Server is one backend in one hostgroup.
type Server struct {
	Hostgroup int    `mapstructure:"hostgroup"`
	Host      string `mapstructure:"host"`
	Port      int    `mapstructure:"port"`
	Weight    int    `mapstructure:"weight"`
	// Status is ONLINE, OFFLINE_SOFT or OFFLINE_HARD (default ONLINE).
	Status string `mapstructure:"status"`
	// MaxConnections caps backend connections to this server (all users).
	MaxConnections int `mapstructure:"max_connections"`
	// MaxReplicationLag in seconds; 0 disables the lag check.
	MaxReplicationLag int    `mapstructure:"max_replication_lag"`
	Comment           string `mapstructure:"comment"`
}

// ReplicationHostgroup pairs a writer and a reader hostgroup.
type ReplicationHostgroup struct {
	WriterHostgroup int `mapstructure:"writer_hostgroup"`
	ReaderHostgroup int `mapstructure:"reader_hostgroup"`
	// CheckType is read_only, super_read_only or innodb_read_only.
	CheckType string `mapstructure:"check_type"`
	Comment   string `mapstructure:"comment"`
}

// QueryRule routes matching statements, as ProxySQL's mysql_query_rules.
type QueryRule struct {
	RuleID               int    `mapstructure:"rule_id"`
	Active               bool   `mapstructure:"active"`
	Username             string `mapstructure:"username"`
	Schemaname           string `mapstructure:"schemaname"`
	MatchDigest          string `mapstructure:"match_digest"`
	MatchPattern         string `mapstructure:"match_pattern"`
	DestinationHostgroup *int   `mapstructure:"destination_hostgroup"`
	Apply                bool   `mapstructure:"apply"`
	ErrorMsg             string `mapstructure:"error_msg"`
	Comment              string `mapstructure:"comment"`
}

// Cluster configures the gossip cluster.
type Cluster struct {
	Bind     string   `mapstructure:"bind" reload:"restart"`
	Join     []string `mapstructure:"join"`
	NodeName string   `mapstructure:"node_name" reload:"restart"`
	Secret   string   `mapstructure:"secret" reload:"restart"`
	Enabled  bool     `mapstructure:"enabled" reload:"restart"`
}
