package metrics

import (
	"fmt"
	"slices"
	"time"
)

// Source gives one consistent-enough copy of the proxy's counters. It is
// called once per scrape (and once per dashboard poll), never on the query
// path.
type Source interface {
	Sample() Sample
}

// Hostgroup roles, from replication_hostgroups and
// group_replication_hostgroups.
const (
	RoleWriter       = "writer"
	RoleBackupWriter = "backup_writer"
	RoleReader       = "reader"
	RoleOffline      = "offline"
	RoleOther        = "other"
)

// StateOnline is the topology state of a backend that takes traffic.
const StateOnline = "ONLINE"

// States lists every backend state, in the order rwproxy_backend_state
// reports them.
var States = []string{"ONLINE", "SHUNNED", "SHUNNED_REPLICATION_LAG", "OFFLINE_SOFT", "OFFLINE_HARD"}

// Sample is the proxy's state at one instant, copied from its atomics.
type Sample struct {
	// Time is when the sample was taken.
	Time time.Time `json:"time"`
	// Hostgroups are the configured and placed hostgroups, by ID.
	Hostgroups []Hostgroup `json:"hostgroups"`
	// Backends are the placements of the current topology snapshot, one
	// per (hostgroup, server), sorted by hostgroup then address.
	Backends []Backend `json:"backends"`
	// Servers are the per-address pool counters and health, by address.
	Servers []Server `json:"servers"`
	// Proxy holds the process-wide counters.
	Proxy Proxy `json:"proxy"`
	// Routes counts routing decisions by reason; Pins counts pins taken by
	// reason.
	Routes []Count `json:"routes"`
	Pins   []Count `json:"pins"`
	// Rules are the query rules' actions, the mirror and the firewall.
	Rules RulesSample `json:"rules"`
	// LoginFailures counts refused client logins by reason
	// (wrong_password, unknown_user, ...).
	LoginFailures []Count `json:"login_failures"`
	// Build identifies the running rwproxy.
	Build Build `json:"build"`
	// ConfigVersion and ConfigOrigin identify the running configuration.
	ConfigVersion uint64 `json:"config_version"`
	ConfigOrigin  string `json:"config_origin"`
	// Paused: the proxy takes no new client connections (PROXYSQL PAUSE
	// on the admin interface); /readyz then answers 503.
	Paused bool `json:"paused,omitempty"`
	// Members are the cluster's members; nil when not clustered.
	Members []Member `json:"members"`
	// ClusterRejectedRecords counts configuration records this node
	// refused because their version was far above its clock
	// (docs/cluster.md); 0 when not clustered.
	ClusterRejectedRecords uint64 `json:"cluster_rejected_records"`
}

// Hostgroup is one hostgroup and what it is for.
type Hostgroup struct {
	ID int `json:"id"`
	// Role is one of the Role constants.
	Role string `json:"role"`
	// Default: some user's default_hostgroup (writes go there).
	Default bool `json:"default"`
}

// Backend is one server's placement in one hostgroup.
type Backend struct {
	Hostgroup      int    `json:"hostgroup"`
	Addr           string `json:"addr"`
	State          string `json:"state"`
	Weight         int    `json:"weight"`
	MaxConnections int    `json:"max_connections"`
	// LagSeconds is the last measured replication lag, -1 when unknown or
	// not measured.
	LagSeconds float64 `json:"lag_seconds"`
	ReadOnly   bool    `json:"read_only"`
	// EffectiveWeight is the weight the balancer uses now (adaptive:
	// weight × lag factor × observed speed).
	EffectiveWeight float64 `json:"effective_weight"`
	// LatencyAvgUs is the balancer's response-time average, 0 before the
	// first sample.
	LatencyAvgUs float64 `json:"latency_avg_us"`
}

// Server is one backend address: its pool counters (shared by every
// hostgroup it is in) and the monitor's view of it.
type Server struct {
	Addr        string `json:"addr"`
	ConnUsed    int64  `json:"conn_used"`
	ConnFree    int64  `json:"conn_free"`
	ConnCreated uint64 `json:"conn_created"`
	// ReuseWaits counts Gets that waited for a connection to come back
	// instead of opening one.
	ReuseWaits uint64 `json:"reuse_waits,omitempty"`
	// StallWaits counts Gets that waited on, up to the pool's ReuseWait,
	// while the server returned no connection.
	StallWaits uint64 `json:"stall_waits,omitempty"`
	ConnFailed uint64 `json:"conn_failed"`
	Queries    uint64 `json:"queries"`
	BytesSent  uint64 `json:"bytes_sent"`
	BytesRecv  uint64 `json:"bytes_recv"`
	// LatencyUs is the total time of Queries, in microseconds.
	LatencyUs uint64 `json:"latency_us"`
	InFlight  int64  `json:"in_flight"`
	// Checked: the monitor has pinged the server at least once; then
	// PingLatency is the last good ping's round trip, PingError the last
	// failure and PingFailures the consecutive failed pings.
	Checked      bool          `json:"checked"`
	PingLatency  time.Duration `json:"ping_latency_ns"`
	PingError    string        `json:"ping_error,omitempty"`
	PingFailures int           `json:"ping_failures"`
}

// Build is the running binary's identity (internal/buildinfo).
type Build struct {
	Version   string `json:"version"`
	Commit    string `json:"commit"`
	Date      string `json:"date,omitempty"`
	GoVersion string `json:"go_version"`
}

// Proxy holds the process-wide counters.
type Proxy struct {
	ClientConnections int64  `json:"client_connections"`
	AuthFailures      uint64 `json:"auth_failures"`
	Panics            uint64 `json:"panics"`
	Queries           uint64 `json:"queries"`
	BackendErrors     uint64 `json:"backend_errors"`
	ToReader          uint64 `json:"to_reader"`
	ToWriter          uint64 `json:"to_writer"`
	ReaderFallbacks   uint64 `json:"reader_fallbacks"`
	ReadRetries       uint64 `json:"read_retries"`
	ReadRetryFailures uint64 `json:"read_retry_failures"`
	ReplyCut          uint64 `json:"reply_cut"`
	RYWWaits          uint64 `json:"ryw_waits"`
	RYWFallbacks      uint64 `json:"ryw_fallbacks"`
	// RYWWait is the histogram of read-your-writes wait times.
	RYWWait       Histogram `json:"ryw_wait"`
	FailoverWaits uint64    `json:"failover_waits"`
	QueryTimeouts uint64    `json:"query_timeouts"`
	CacheHits     uint64    `json:"cache_hits"`
	CacheMisses   uint64    `json:"cache_misses"`
	CacheEntries  int       `json:"cache_entries"`
	ParseErrors   uint64    `json:"parse_errors"`
	// Replay counts transaction replays.
	Replay Replay `json:"transaction_replay"`

	// MonitorImmediateChecks counts the times sessions that lost their
	// writer, or waited for one, made the monitor check every server at
	// once (requests coalesced into an earlier one not counted).
	MonitorImmediateChecks uint64 `json:"monitor_immediate_checks"`
}

// Replay counts transaction replays (transaction_replay).
type Replay struct {
	Started    uint64 `json:"started"`
	Succeeded  uint64 `json:"succeeded"`
	Mismatches uint64 `json:"checksum_mismatches"`
	TooBig     uint64 `json:"too_big"`
	// Failed counts lost transactions not replayed, by reason.
	Failed []Count `json:"failed"`
	// IdempotentRetries counts idempotent autocommit statements re-run.
	IdempotentRetries uint64 `json:"idempotent_retries"`
	// CommitChecks counts the commit check's outcomes
	// (transaction_replay_commit_check): committed, replayed,
	// marker_error.
	CommitChecks []Count `json:"commit_checks,omitempty"`
}

// Count is one named counter.
type Count struct {
	Name  string `json:"name"`
	Value uint64 `json:"value"`
}

// Member is one cluster node.
type Member struct {
	Name  string `json:"name"`
	Addr  string `json:"addr"`
	State string `json:"state"`
	// ConfigVersion is the configuration version the node runs.
	ConfigVersion uint64 `json:"config_version"`
	Self          bool   `json:"self"`
}

// Ready reports whether the proxy can take writes: some backend is ONLINE
// in a hostgroup that is a writer hostgroup or a user's default hostgroup.
// When not, reason says why.
func (s *Sample) Ready() (ok bool, reason string) {
	if s.Paused {
		return false, "paused (PROXYSQL PAUSE): not taking new connections"
	}
	var writers []int
	for _, hg := range s.Hostgroups {
		if hg.Role == RoleWriter || hg.Default {
			writers = append(writers, hg.ID)
		}
	}
	if len(writers) == 0 {
		return false, "no writer hostgroup: no replication hostgroup and no user's default hostgroup"
	}
	for _, b := range s.Backends {
		if b.State == StateOnline && slices.Contains(writers, b.Hostgroup) {
			return true, ""
		}
	}
	return false, fmt.Sprintf("no ONLINE server in writer hostgroups %v", writers)
}

// Histogram is a cumulative-free histogram: Counts[i] observations at most
// Bounds[i] seconds (and above Bounds[i-1]); the last count is beyond the
// last bound.
type Histogram struct {
	Bounds     []float64 `json:"bounds"`
	Counts     []uint64  `json:"counts"`
	SumSeconds float64   `json:"sum_seconds"`
}
