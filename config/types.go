package config

import "time"

// Config is the whole rwproxy configuration. A *Config reached through a
// Store is immutable: build a new one with Clone and Apply it instead.
type Config struct {
	// ConfigSource says who owns the shared modules (servers, users, query
	// rules, variables): "admin" (rwproxy.db, seeded from the file on the
	// first start) or "file" (this file, watched); see authority.go.
	ConfigSource string `mapstructure:"config_source" reload:"restart"`
	// Listen is the client-facing MySQL address.
	Listen string `mapstructure:"listen" reload:"restart"`
	// MaxConnections caps concurrent client connections (error 1040 past it).
	MaxConnections int `mapstructure:"max_connections"`
	// ServerVersion is the version string announced to clients in the handshake.
	ServerVersion string `mapstructure:"server_version" reload:"restart"`
	// ShutdownTimeout bounds the graceful drain on SIGTERM.
	ShutdownTimeout time.Duration `mapstructure:"shutdown_timeout"`
	// Threads is how many OS threads run rwproxy's Go code at once
	// (GOMAXPROCS; ProxySQL's mysql-threads); 0 moves it by the load
	// between 1 and the CPUs the process may use (internal/threads).
	Threads int `mapstructure:"threads" reload:"restart"`

	Log                   Log                    `mapstructure:"log"`
	Admin                 Admin                  `mapstructure:"admin"`
	HTTP                  HTTP                   `mapstructure:"http"`
	Monitor               Monitor                `mapstructure:"monitor"`
	Pool                  Pool                   `mapstructure:"pool"`
	Users                 []User                 `mapstructure:"users"`
	Servers               []Server               `mapstructure:"servers"`
	ReplicationHostgroups []ReplicationHostgroup `mapstructure:"replication_hostgroups"`
	// GroupReplicationHostgroups place the members of MySQL Group
	// Replication clusters by the role each member reports.
	GroupReplicationHostgroups []GroupReplicationHostgroup `mapstructure:"group_replication_hostgroups"`
	QueryRules                 []QueryRule                 `mapstructure:"query_rules"`
	HostgroupAttributes        []HostgroupAttributes       `mapstructure:"hostgroup_attributes"`
	Cluster                    Cluster                     `mapstructure:"cluster"`
	// TLS configures TLS to clients and to backends (security.go).
	TLS TLS `mapstructure:"tls"`
	// Limits bound what one client can ask of the proxy (security.go).
	Limits Limits `mapstructure:"limits"`
	// Tracing configures OpenTelemetry statement traces (tracing.go).
	Tracing Tracing `mapstructure:"tracing"`

	// ReaderFallback says what a read does when its reader hostgroup has
	// no usable server: "writer" (run on the writer) or "error".
	ReaderFallback string `mapstructure:"reader_fallback"`

	// FailoverBuffer is how long a write waits for a usable writer to
	// appear in its hostgroup (a failover in progress) before it fails;
	// 0 disables the wait.
	FailoverBuffer time.Duration `mapstructure:"failover_buffer"`

	// TransactionReplay ("on" or "off") makes rwproxy re-run a
	// transaction on a new server when its server is lost mid-transaction
	// (session/txreplay.go): the client sees no error when the replayed
	// statements return the same results.
	TransactionReplay string `mapstructure:"transaction_replay"`
	// TransactionReplayMaxSize bounds, in bytes, what one transaction's
	// record holds (statements and parameters); past it the transaction
	// is not replayable.
	TransactionReplayMaxSize int `mapstructure:"transaction_replay_max_size"`
	// TransactionReplayAttempts is how many servers a replay tries before
	// the client gets its error.
	TransactionReplayAttempts int `mapstructure:"transaction_replay_attempts"`
	// TransactionReplayTimeout bounds one replay, waits for a new writer
	// included.
	TransactionReplayTimeout time.Duration `mapstructure:"transaction_replay_timeout"`
	// TransactionReplayCommitCheck ("schema.table", "" = off) is the
	// commit check's marker table: a COMMIT lost before its answer is
	// looked up there on the new writer instead of failing with 9020
	// (session/commitcheck.go).
	TransactionReplayCommitCheck string `mapstructure:"transaction_replay_commit_check"`

	// QueryTimeout is the default statement timeout: a statement (COM_QUERY
	// or COM_STMT_EXECUTE) still running after it is stopped with KILL
	// QUERY on its backend and the client gets error 3024. A user's or a
	// matching query rule's own timeout takes precedence; 0 = none.
	QueryTimeout time.Duration `mapstructure:"query_timeout"`

	// QueryCacheSizeMB is the query cache's memory budget in MiB, shared
	// by every rule's cache_ttl; past it the least recently used results
	// are evicted (ProxySQL's mysql-query_cache_size_MB).
	QueryCacheSizeMB int `mapstructure:"query_cache_size_mb"`

	// Scheduler are external scripts run every interval (ProxySQL's
	// scheduler table); node-local, left out of the cluster's JSON when empty.
	Scheduler []SchedulerJob `mapstructure:"scheduler" json:",omitempty"`

	// Firewall is the per-user allow-list of statement digests
	// (firewall.go); shared by the cluster with the variables module.
	Firewall Firewall `mapstructure:"firewall" json:",omitzero"`
}

// Transaction replay settings (transaction_replay).
const (
	TransactionReplayOn  = "on"
	TransactionReplayOff = "off"
)

// ReplayEnabled reports whether transaction_replay is on ("on", "true",
// "1" or "yes"; an empty value is the default, on).
func (c *Config) ReplayEnabled() bool {
	switch c.TransactionReplay {
	case "", TransactionReplayOn, "true", "1", "yes", "ON", "On":
		return true
	}
	return false
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
	// BalanceAdaptive weighs each server by weight × observed speed
	// (latency average and requests in flight) × a replication-lag
	// factor; see docs/balancing.md.
	BalanceAdaptive = "adaptive"
)

// HostgroupAttributes are per-hostgroup settings (ProxySQL's
// mysql_hostgroup_attributes).
type HostgroupAttributes struct {
	HostgroupID int `mapstructure:"hostgroup_id"`
	// Balance is weighted_round_robin (default), least_outstanding or
	// adaptive.
	Balance string `mapstructure:"balance"`
	// Affinity is statement (default: every statement picks a server) or
	// session (a session keeps the server it was given while that server
	// stays usable: monotonic reads, and warmer server threads, at the
	// price of weights that apply to sessions rather than statements).
	Affinity string `mapstructure:"affinity"`
}

// Hostgroup affinities for hostgroup_attributes[].affinity.
const (
	AffinityStatement = "statement"
	AffinitySession   = "session"
)

// Read consistency levels for users[].consistency.
const (
	ConsistencyEventual       = "eventual"
	ConsistencyReadYourWrites = "read_your_writes"
)

// Read-your-writes scopes for users[].consistency_scope: whose writes a
// read must see.
const (
	// ScopeSession: the session's own writes.
	ScopeSession = "session"
	// ScopeUser: every write any session of the user acknowledged on this
	// node (an application's connection pool).
	ScopeUser = "user"
)

// Log configures the root zap logger.
type Log struct {
	// Level is debug, info, warn or error; hot-reloadable.
	Level string `mapstructure:"level"`
	// Format is auto (console on a terminal, JSON otherwise), console or json.
	Format string `mapstructure:"format" reload:"restart"`
	// SlowQueryThreshold logs every request that takes at least this long
	// (digest, duration, backend, user); 0 turns the slow query log off.
	SlowQueryThreshold time.Duration `mapstructure:"slow_query_threshold"`
	// QueryDigestsTrackHostname keeps the statement digest statistics per
	// client host too (stats_mysql_query_digest.client_address; ProxySQL's
	// mysql-query_digests_track_hostname): more rows, within the same bound.
	QueryDigestsTrackHostname bool `mapstructure:"query_digests_track_hostname"`
}

// HTTP configures the observability listener: /metrics, /healthz,
// /readyz, the dashboard and, when enabled, /debug/pprof/.
type HTTP struct {
	// Listen is the HTTP address; empty turns the listener off.
	Listen string `mapstructure:"listen" reload:"restart"`
	// PProf serves net/http/pprof under /debug/pprof/ (hot-reloadable).
	PProf bool `mapstructure:"pprof"`
}

// Admin configures the admin SQL interface.
type Admin struct {
	Listen   string `mapstructure:"listen" reload:"restart"`
	Username string `mapstructure:"username"`
	Password string `mapstructure:"password"`
	Datadir  string `mapstructure:"datadir" reload:"restart"`
	// StatsUsername and StatsPassword are a read-only admin account
	// (ProxySQL's admin-stats_credentials): it may SELECT the stats,
	// monitor and runtime tables that hold no password, nothing else.
	// An empty StatsUsername means no such account.
	StatsUsername string `mapstructure:"stats_username"`
	StatsPassword string `mapstructure:"stats_password"`
	// TLSCert and TLSKey are PEM files; both set offers TLS on the admin
	// listener, as tls.cert and tls.key do on the client one.
	TLSCert string `mapstructure:"tls_cert" reload:"restart"`
	TLSKey  string `mapstructure:"tls_key" reload:"restart"`
}

// Monitor configures the backend health checks.
type Monitor struct {
	Username string        `mapstructure:"username"`
	Password string        `mapstructure:"password"`
	Interval time.Duration `mapstructure:"interval"`
	// Timeout bounds connecting to a backend and each check's round trip.
	Timeout time.Duration `mapstructure:"timeout"`
	// PingInterval, ReadOnlyInterval and ReplicationLagInterval space the
	// three kinds of check; 0 means Interval.
	PingInterval           time.Duration `mapstructure:"ping_interval"`
	ReadOnlyInterval       time.Duration `mapstructure:"read_only_interval"`
	ReplicationLagInterval time.Duration `mapstructure:"replication_lag_interval"`
	// ShunAfterFailures consecutive failed pings shun a server.
	ShunAfterFailures int `mapstructure:"shun_after_failures"`
	// LagShunAfter consecutive lag checks over max_replication_lag (or with
	// the lag unknown) shun a replica; LagUnshunAfter good ones bring it back.
	LagShunAfter   int `mapstructure:"lag_shun_after"`
	LagUnshunAfter int `mapstructure:"lag_unshun_after"`
	// HeartbeatTable ("db.table", with a ts column the primary updates)
	// measures lag instead of Seconds_Behind_Master when set.
	HeartbeatTable string `mapstructure:"heartbeat_table"`
	// LagWeightDecay scales a replica's weight down as its lag approaches
	// max_replication_lag instead of only cutting it off above.
	LagWeightDecay bool `mapstructure:"lag_weight_decay"`
}

// PingEvery returns the effective ping interval.
func (m Monitor) PingEvery() time.Duration { return orInterval(m.PingInterval, m.Interval) }

// ReadOnlyEvery returns the effective read-only (and group replication)
// check interval.
func (m Monitor) ReadOnlyEvery() time.Duration { return orInterval(m.ReadOnlyInterval, m.Interval) }

// ReplicationLagEvery returns the effective replication lag check interval.
func (m Monitor) ReplicationLagEvery() time.Duration {
	return orInterval(m.ReplicationLagInterval, m.Interval)
}

func orInterval(d, interval time.Duration) time.Duration {
	if d > 0 {
		return d
	}
	return interval
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
	// Consistency is read_your_writes (default: after a write, reads go
	// where that write has been applied, waiting up to
	// ReadYourWritesTimeout, else the writer) or eventual (reads go to any
	// eligible replica, as ProxySQL and MaxScale do by default).
	Consistency string `mapstructure:"consistency"`
	// ConsistencyScope is whose writes a read_your_writes read sees: user
	// (default: any session of the user on this node) or session.
	ConsistencyScope string `mapstructure:"consistency_scope"`
	// ReadYourWritesTimeout bounds the wait on a replica (default 1s).
	ReadYourWritesTimeout time.Duration `mapstructure:"read_your_writes_timeout"`
	// RequireTLS refuses this user's logins without TLS (error 1045, as a
	// server does for an account created REQUIRE SSL).
	RequireTLS bool `mapstructure:"require_tls"`
	// BackendPassword, when set, is the password rwproxy logs into the
	// backends with; required when Password is a mysql_native_password
	// hash ("*" + 40 hex digits). See BackendSecret.
	BackendPassword string `mapstructure:"backend_password"`
	// QueryTimeout is this user's statement timeout (see
	// Config.QueryTimeout); 0 = the global query_timeout.
	QueryTimeout time.Duration `mapstructure:"query_timeout"`
	// AllowEmptyPassword accepts an empty Password (anyone who knows the
	// user name logs in); without it an empty password is refused. It is
	// left out of the cluster's JSON when false, so that nodes of the
	// previous version still read the users module.
	AllowEmptyPassword bool `mapstructure:"allow_empty_password" json:",omitempty"`
	// The fields below come from ProxySQL's mysql_users; each is left out
	// of the cluster's JSON at its default, so that nodes of the previous
	// version still read the users module.
	//
	// Frontend false makes this a backend-only user (ProxySQL's
	// frontend=0): its credentials log into the backends but no client
	// may log in with them. Nil means true.
	Frontend *bool `mapstructure:"frontend" json:",omitempty"`
	// DefaultSchema is the schema a client that names none at login
	// starts in ("" = none).
	DefaultSchema string `mapstructure:"default_schema" json:",omitempty"`
	// SchemaLocked refuses a change of schema (USE, COM_INIT_DB) away
	// from DefaultSchema.
	SchemaLocked bool `mapstructure:"schema_locked" json:",omitempty"`
	// TransactionPersistent false lets plain reads inside an explicit
	// transaction run outside it, routed as any read (ProxySQL's
	// transaction_persistent=0); writes never leave. Nil means true.
	TransactionPersistent *bool `mapstructure:"transaction_persistent" json:",omitempty"`
	// FastForward relays this user's statements unparsed to
	// DefaultHostgroup on one backend connection per session: no
	// read/write split, no query rules (replication clients, bulk loaders).
	FastForward bool `mapstructure:"fast_forward" json:",omitempty"`
	// Attributes is free JSON kept for the operator (ProxySQL's
	// mysql_users.attributes); "" or a JSON object.
	Attributes string `mapstructure:"attributes" json:",omitempty"`
	Comment    string `mapstructure:"comment" json:",omitempty"`
}

// IsFrontend reports whether clients may log in as the user (default true).
func (u User) IsFrontend() bool { return u.Frontend == nil || *u.Frontend }

// CanLogin reports whether a client may log in as the user: active and
// not backend-only.
func (u User) CanLogin() bool { return u.IsActive() && u.IsFrontend() }

// IsTransactionPersistent reports the transaction_persistent setting (default true).
func (u User) IsTransactionPersistent() bool {
	return u.TransactionPersistent == nil || *u.TransactionPersistent
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
	// UseTLS makes rwproxy's connections to this server (pools, monitor,
	// start-up version probe) use TLS, verified as tls.backend_* say.
	UseTLS bool `mapstructure:"use_tls"`
	// GTIDPort is ProxySQL's port of a binlog reader on the server; kept
	// for its tools, unused (rwproxy reads GTIDs over the MySQL protocol).
	GTIDPort int `mapstructure:"gtid_port" json:",omitempty"`
	// MaxLatency shuns the server (no new reads) while the monitor's ping
	// takes longer; 0 disables the check.
	MaxLatency time.Duration `mapstructure:"max_latency" json:",omitempty"`
}

// ReplicationHostgroup pairs a writer and a reader hostgroup.
type ReplicationHostgroup struct {
	WriterHostgroup int `mapstructure:"writer_hostgroup"`
	ReaderHostgroup int `mapstructure:"reader_hostgroup"`
	// CheckType is read_only, super_read_only or innodb_read_only.
	CheckType string `mapstructure:"check_type"`
	Comment   string `mapstructure:"comment"`
}

// GroupReplicationHostgroup maps one MySQL Group Replication cluster onto
// hostgroups (ProxySQL's mysql_group_replication_hostgroups): the monitor
// puts each member configured in any of the four hostgroups where its
// reported role and state say it belongs.
type GroupReplicationHostgroup struct {
	WriterHostgroup       int `mapstructure:"writer_hostgroup"`
	BackupWriterHostgroup int `mapstructure:"backup_writer_hostgroup"`
	ReaderHostgroup       int `mapstructure:"reader_hostgroup"`
	OfflineHostgroup      int `mapstructure:"offline_hostgroup"`
	// Active false leaves the servers where they are configured.
	Active *bool `mapstructure:"active"`
	// MaxWriters caps the writer hostgroup; further primaries go to the
	// backup writer hostgroup.
	MaxWriters int `mapstructure:"max_writers"`
	// WriterIsAlsoReader: 0 writers serve no reads; 1 writers and backup
	// writers are also in the reader hostgroup; 2 backup writers are, and
	// the writer only while no other reader is usable.
	WriterIsAlsoReader int `mapstructure:"writer_is_also_reader"`
	// MaxTransactionsBehind shuns a secondary whose applier queue is longer
	// (for monitor.lag_shun_after checks); 0 disables.
	MaxTransactionsBehind int    `mapstructure:"max_transactions_behind"`
	Comment               string `mapstructure:"comment"`
}

// IsActive reports whether the entry is active (default true).
func (g GroupReplicationHostgroup) IsActive() bool { return g.Active == nil || *g.Active }

// Hostgroups returns the entry's four hostgroups: writer, backup writer,
// reader, offline.
func (g GroupReplicationHostgroup) Hostgroups() [4]int {
	return [4]int{g.WriterHostgroup, g.BackupWriterHostgroup, g.ReaderHostgroup, g.OfflineHostgroup}
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
	// Timeout is the statement timeout of matching statements, ahead of
	// the user's and the global one (ProxySQL's mysql_query_rules.timeout);
	// 0 = not set by this rule.
	Timeout time.Duration `mapstructure:"timeout"`
	// Idempotent marks matching statements as safe to run twice: an
	// autocommit write whose backend connection is lost before any byte
	// of its reply reached the client is re-run once (on the new writer
	// after a failover) instead of failing with 9020. Only for statements
	// whose second run changes nothing (UPDATE t SET a = 5 WHERE id = 1,
	// INSERT ... ON DUPLICATE KEY UPDATE with constant values, DELETE by key).
	Idempotent bool `mapstructure:"idempotent"`

	// The keys below (issue 24: ProxySQL's rule chains, rewriting,
	// mirroring and per-rule session controls) are kept together in one
	// block. Every one of them is optional: a rule without them behaves
	// as before, and encodes for the cluster as before (omitempty), so
	// that nodes of the previous version keep accepting the module.
	// See docs/configuration.md, query_rules[].

	// FlagIN is the chain a rule belongs to: it is evaluated only while
	// the statement's current flag equals it (a statement starts at 0).
	FlagIN int `mapstructure:"flag_in" json:",omitempty"`
	// FlagOUT, when set, becomes the statement's flag once the rule
	// matches: later rules of that chain are evaluated next.
	FlagOUT *int `mapstructure:"flag_out" json:",omitempty"`
	// NegateMatchPattern inverts match_pattern (and only it).
	NegateMatchPattern bool `mapstructure:"negate_match_pattern" json:",omitempty"`
	// ReModifiers are the regexp modifiers, comma separated: CASELESS
	// (case-insensitive match_digest, match_pattern) and GLOBAL
	// (replace_pattern replaces every match). nil means CASELESS, as in
	// ProxySQL; "" means none (case-sensitive, first match only).
	ReModifiers *string `mapstructure:"re_modifiers" json:",omitempty"`
	// Digest matches the statement's digest hash, as stats_mysql_query_digest
	// shows it (0x followed by 16 hex digits).
	Digest string `mapstructure:"digest" json:",omitempty"`
	// ClientAddr matches the client's IP address: an address, a CIDR
	// subnet (10.0.0.0/8) or a prefix ending in % (ProxySQL's wildcard).
	ClientAddr string `mapstructure:"client_addr" json:",omitempty"`
	// ProxyAddr and ProxyPort match the local address and port the client
	// connected to (a proxy listening on several addresses).
	ProxyAddr string `mapstructure:"proxy_addr" json:",omitempty"`
	ProxyPort int    `mapstructure:"proxy_port" json:",omitempty"`
	// ReplacePattern rewrites the text matched by match_pattern (capture
	// groups as \1 or ${1}); the backend receives the rewritten statement,
	// and a prepared statement is rewritten once, at PREPARE.
	ReplacePattern string `mapstructure:"replace_pattern" json:",omitempty"`
	// Multiplex 0 keeps the backend connection for the rest of the session
	// (ProxySQL's multiplex=0); 1 and 2 change nothing; nil = not set.
	Multiplex *int `mapstructure:"multiplex" json:",omitempty"`
	// StickyConn sends the session's later reads that no rule routes to
	// the hostgroup this statement went to, until the session ends.
	StickyConn bool `mapstructure:"sticky_conn" json:",omitempty"`
	// Log writes one Info line per matching statement (digest and the
	// first 256 bytes of its text).
	Log bool `mapstructure:"log" json:",omitempty"`
	// OKMsg answers a match with an OK packet carrying this message,
	// without running the statement.
	OKMsg string `mapstructure:"ok_msg" json:",omitempty"`
	// Retries is how many times a read that failed on a replica before
	// any reply is re-run on another server (nil = the default, once; 0 =
	// never).
	Retries *int `mapstructure:"retries" json:",omitempty"`
	// Delay holds matching statements this long before they run.
	Delay time.Duration `mapstructure:"delay" json:",omitempty"`
	// MirrorHostgroup, when set, sends a copy of each matching statement
	// (prepared statements included) to this hostgroup asynchronously;
	// its result is discarded and it never slows or fails the client.
	MirrorHostgroup *int `mapstructure:"mirror_hostgroup" json:",omitempty"`
	// MirrorFlagOUT, when set, evaluates the rules once more for the copy,
	// starting at this flag (the copy can be rewritten or routed apart).
	MirrorFlagOUT *int `mapstructure:"mirror_flag_out" json:",omitempty"`
	// Query cache (docs/query-cache.md). CacheTTL keeps the results of
	// matching reads for this long (ProxySQL's cache_ttl, in ms in the
	// admin table); 0 = not cached by this rule.
	// The cache keys are left out of the cluster's JSON when unset, so that
	// a node of the previous version still accepts rules without them.
	CacheTTL time.Duration `mapstructure:"cache_ttl" json:",omitempty"`
	// CacheEmptyResult: results without rows are cached too; nil means true
	// (ProxySQL's cache_empty_result, NULL = the default).
	CacheEmptyResult *bool `mapstructure:"cache_empty_result" json:",omitempty"`
	// CacheTimeout is how long a miss waits for the same statement being
	// read by another session to be stored, instead of reading it again;
	// 0 = no wait (admin column cache_timeout, in ms; rwproxy's meaning).
	CacheTimeout time.Duration `mapstructure:"cache_timeout" json:",omitempty"`
}

// CachesEmpty reports whether the rule caches results without rows.
func (r QueryRule) CachesEmpty() bool { return r.CacheEmptyResult == nil || *r.CacheEmptyResult }

// Cluster configures the gossip cluster (see docs/cluster.md). Every
// cluster key is node-local: none of them is shared between nodes.
type Cluster struct {
	// Bind is the gossip address, host:port, used for both UDP and TCP.
	Bind string `mapstructure:"bind" reload:"restart"`
	// Join lists peers (host:port) to contact at start and whenever this
	// node finds itself alone.
	Join []string `mapstructure:"join"`
	// NodeName is this node's unique name; empty means "<hostname>-<bind port>".
	NodeName string `mapstructure:"node_name" reload:"restart"`
	// Secret, when set, encrypts and authenticates gossip: the AES-256
	// key is derived from it with HKDF-SHA256 (see docs/cluster.md).
	// Required unless Bind is a loopback address.
	Secret  string `mapstructure:"secret" reload:"restart"`
	Enabled bool   `mapstructure:"enabled" reload:"restart"`
	// LegacyKeyPrimary encrypts gossip with the key earlier rwproxy
	// versions derived (the bare SHA-256 of Secret) instead of the HKDF
	// one; both are accepted either way. Set it while a cluster of the
	// previous version is upgraded node by node, then turn it off.
	LegacyKeyPrimary bool `mapstructure:"legacy_key_primary" reload:"restart"`
	// Advertise is the host:port peers use to reach this node (an IP
	// address); empty means the bound address (a private IP for 0.0.0.0).
	Advertise string `mapstructure:"advertise" reload:"restart"`
	// SaveToDisk also writes configuration adopted from a peer to this
	// node's DISK layer (<admin.datadir>/rwproxy.db).
	SaveToDisk bool `mapstructure:"save_to_disk"`
	// GossipInterval spaces the rounds that send change announcements to
	// a few random peers; 0 means 200ms.
	GossipInterval time.Duration `mapstructure:"gossip_interval" reload:"restart"`
	// PushPullInterval spaces the full-state exchanges with one random
	// peer (anti-entropy); 0 means 10s.
	PushPullInterval time.Duration `mapstructure:"push_pull_interval" reload:"restart"`
}

// SchedulerJob runs Filename with Args every Interval (ProxySQL's
// scheduler): a run still going when the next is due makes that one skip.
type SchedulerJob struct {
	ID int `mapstructure:"id"`
	// Active false keeps the job without running it. Nil means true.
	Active   *bool         `mapstructure:"active"`
	Interval time.Duration `mapstructure:"interval"`
	// Filename is the executable's absolute path.
	Filename string `mapstructure:"filename"`
	// Args are its arguments (ProxySQL's arg1 .. arg5).
	Args    []string `mapstructure:"args"`
	Comment string   `mapstructure:"comment"`
}

// IsActive reports whether the job runs (default true).
func (j SchedulerJob) IsActive() bool { return j.Active == nil || *j.Active }
