package admin

import (
	"context"
	"time"

	"github.com/rwproxy/rwproxy/config"
	"github.com/rwproxy/rwproxy/topology"
)

// Runtime is the running proxy as the admin interface sees it. It is
// implemented by internal/app. All methods must be safe for concurrent use.
type Runtime interface {
	// Config returns the running configuration; it is shared and immutable.
	Config() *config.Config
	// Apply validates c and makes it the running configuration in one swap
	// (config.Store.Apply with config.SourceAdmin). On error nothing changed.
	Apply(ctx context.Context, c *config.Config) error
	// Snapshot returns the parts of the live state named by want; the
	// others may be left empty.
	Snapshot(want Want) Stats
	// ResetDigests clears the statement digest statistics
	// (stats_mysql_query_digest_reset).
	ResetDigests()
}

// Want selects the parts of Stats a Snapshot must fill.
type Want uint32

// Parts of Stats.
const (
	WantTopology Want = 1 << iota
	WantPools
	WantGlobal
	WantPins
	WantDigests
	WantLogs
	WantCluster
	WantBalance
	// WantSessions: the client sessions (processlist, per-user counts).
	WantSessions
	// WantMemory: the process's memory figures.
	WantMemory
	// WantRuleHits: the query rules' hit counts.
	WantRuleHits
	// WantCommands: the statement counters by command.
	WantCommands
	// WantChecksums: the running configuration's module checksums.
	WantChecksums
	// WantErrors: the backends' errors by origin.
	WantErrors
	// WantFreeConns: the idle pooled backend connections.
	WantFreeConns
	// WantQueryCache: the query cache's counters.
	WantQueryCache
	// WantFirewall: the firewall's counters and digests.
	WantFirewall
)

// Stats is a point-in-time copy of the proxy's live state.
type Stats struct {
	// Topology is what the router uses now: each server's hostgroup, state
	// (as the monitor last decided) and weight. Nil means "as configured".
	Topology *topology.Snapshot
	// Pools are the backend connection counters, one per server address.
	Pools []PoolStats
	// Global are the process-wide counters of stats_mysql_global.
	Global []Counter
	// Pins counts how often sessions were pinned, by reason.
	Pins []Counter
	// Digests are the per-statement-digest statistics.
	Digests []DigestStat
	// Logs are the monitor's recent checks by kind (LogPing, LogReadOnly,
	// LogReplicationLag, LogGroupReplication), newest first.
	Logs map[string][]LogEntry
	// ClusterNodes and ClusterModules describe the gossip cluster (empty
	// when the node is not clustered).
	ClusterNodes   []ClusterNode
	ClusterModules []ClusterModule
	// Balance is what the balancers see of each server of each hostgroup.
	Balance []BalanceStat
	// Processes are the client sessions (stats_mysql_processlist).
	Processes []Process
	// UserConns are the client sessions per user (stats_mysql_users).
	UserConns map[string]int
	// Memory are stats_memory_metrics' rows.
	Memory []Counter
	// RuleHits are the running query rules' hits by rule_id
	// (stats_mysql_query_rules), in rule_id order.
	RuleHits []RuleHit
	// Commands are stats_mysql_commands_counters' rows.
	Commands []CommandCount
	// Checksums are runtime_checksums_values' rows.
	Checksums []ModuleChecksum
	// Errors are stats_mysql_errors' rows.
	Errors []ErrorStat
	// FirewallUsers and FirewallDigests are the firewall's state
	// (stats_mysql_firewall_users, stats_mysql_firewall_digests).
	FirewallUsers   []FirewallUserStat
	FirewallDigests []FirewallDigest
	// QueryCache are stats_mysql_query_cache's rows.
	QueryCache []Counter
	// FreeConns are the idle pooled backend connections
	// (stats_mysql_free_connections), at most MaxFreeConns of them.
	FreeConns []FreeConn
}

// MaxFreeConns bounds the rows of stats_mysql_free_connections.
const MaxFreeConns = 10000

// FreeConn is one idle pooled backend connection.
type FreeConn struct {
	Addr, User, Schema string
	// ThreadID is the connection's id on the server.
	ThreadID uint32
	// Vars are the session variables set on it that differ from the
	// server's defaults.
	Vars          map[string]string
	Idle, Age     time.Duration
	Stmts         int
	ServerVersion string
}

// BalanceStat is one row of stats_mysql_balance.
type BalanceStat struct {
	Hostgroup       int
	Addr, Algorithm string
	Weight          int
	EffectiveWeight float64
	Outstanding     int64
	LatencyUs       float64
}

// ClusterNode is one row of cluster_nodes.
type ClusterNode struct {
	Name, Addr, State string
	LastSeen          time.Time
	Local             bool
}

// ClusterModule is one row of cluster_checksums: one shared module as one
// node runs it.
type ClusterModule struct {
	Node, Module, Origin, Checksum, Status, Reason string
	Version                                        uint64
	AppliedAt                                      time.Time
}

// Counter is one named value.
type Counter struct {
	Name  string
	Value int64
}

// Process is one client session (stats_mysql_processlist, SHOW
// PROCESSLIST on the admin port).
type Process struct {
	ID         uint32
	User, DB   string
	ClientHost string
	ClientPort int
	Hostgroup  int // -1 before the first statement
	Backend    string
	Local      string // the proxy's end of the backend connection
	Command    string // Query or Sleep
	Time       time.Duration
	Info       string
	InTxn      bool
}

// CommandCount counts the statements of one command class: their number,
// total time, and how many took at most 100us, 500us, 1ms, 5ms, 10ms,
// 50ms, 100ms, 500ms, 1s, 5s, 10s, and longer (Buckets, 12 of them).
type CommandCount struct {
	Command     string
	TotalTimeUs uint64
	Count       uint64
	Buckets     []uint64
}

// ModuleChecksum is the running configuration's checksum of one module
// under ProxySQL's name (mysql_servers, mysql_users, ...).
type ModuleChecksum struct {
	Name     string
	Version  uint64
	Epoch    time.Time // when that configuration version was applied
	Checksum string
}

// ErrorStat counts one kind of backend error relayed to clients.
type ErrorStat struct {
	Hostgroup           int
	Addr                string // host:port
	User, Client        string
	Schema              string
	Errno               uint16
	Count               uint64
	FirstSeen, LastSeen time.Time
	LastError           string
}

// RuleHit is how many statements one query rule matched.
type RuleHit struct {
	RuleID int
	Hits   uint64
}

// Killer is implemented by a Runtime whose client sessions KILL on the
// admin port can end (KILL QUERY: the running statement only).
type Killer interface {
	Kill(id uint32, query bool) bool
}

// PoolStats are the counters of one backend server's connection pools.
type PoolStats struct {
	Addr      string // host:port
	ConnUsed  int64
	ConnFree  int64
	ConnOK    uint64
	ConnERR   uint64
	Queries   uint64
	BytesSent uint64
	BytesRecv uint64
	// LatencyUs is the total time spent in queries, in microseconds.
	LatencyUs uint64
	// MaxConnUsed is the highest ConnUsed seen.
	MaxConnUsed int64
	// GTIDSync counts reads served after a read-your-writes GTID check.
	GTIDSync uint64
}

// DigestStat is one row of stats_mysql_query_digest.
type DigestStat struct {
	Hostgroup int
	Schema    string
	User      string
	// ClientAddress is the client's host when log.query_digests_track_hostname
	// is on, else "".
	ClientAddress string
	DigestText    string
	Count         uint64
	FirstSeen     time.Time
	LastSeen      time.Time
	SumTimeUs     uint64
	MinTimeUs     uint64
	MaxTimeUs     uint64
	// SumRowsAffected / SumRowsSent: affected rows and rows sent, summed.
	SumRowsAffected uint64
	SumRowsSent     uint64
}

// Monitor log kinds (Stats.Logs keys).
const (
	LogPing             = "ping"
	LogReadOnly         = "read_only"
	LogReplicationLag   = "replication_lag"
	LogGroupReplication = "group_replication"
	// LogConnect: the monitor's connects (mysql_server_connect_log).
	LogConnect = "connect"
)

// LogEntry is one monitor check of one server.
type LogEntry struct {
	Time     time.Time // when the check started
	Addr     string    // host:port
	Duration time.Duration
	// Result is what the check read ("read_only=ON", "lag=0.412s", ...);
	// empty when it failed.
	Result string
	// Error is the failure; empty on success.
	Error string
}
