package metrics

import (
	"slices"
	"strconv"

	"github.com/prometheus/client_golang/prometheus"
)

// Metric names and help, one place for the docs (docs/observability.md)
// to follow.
var (
	lServer    = []string{"backend"}
	lPlacement = []string{"hostgroup", "backend"}

	dBackendQueries   = desc("backend_queries_total", "Requests (statements, prepares, USE) answered by the backend.", lServer)
	dBackendQueryTime = desc("backend_query_time_seconds_total", "Total time of those requests, from send to the last packet relayed.", lServer)
	dBackendSent      = desc("backend_sent_bytes_total", "Request payload bytes sent to the backend.", lServer)
	dBackendRecv      = desc("backend_received_bytes_total", "Response payload bytes relayed from the backend.", lServer)
	dBackendInFlight  = desc("backend_in_flight", "Requests sent to the backend and not answered yet, and statements waiting for a connection to it.", lServer)
	dPoolConns        = desc("pool_connections", "Backend connections held by sessions (state=used) or idle in the pool (state=free).", []string{"backend", "state"})
	dPoolCreated      = desc("pool_connections_created_total", "Backend connections opened successfully.", lServer)
	dPoolReuseWaits   = desc("pool_reuse_waits_total", "Statements that found no idle backend connection and, instead of opening one, took one that came back meanwhile.", lServer)
	dPoolStallWaits   = desc("pool_stall_waits_total", "Statements that waited for a backend connection to come back past the usual wait (up to 50 ms) because the server returned none meanwhile.", lServer)
	dPoolFailed       = desc("pool_connections_failed_total", "Backend connection attempts that failed (dial or login).", lServer)
	dPingSeconds      = desc("monitor_ping_seconds", "Round trip of the monitor's last successful ping.", lServer)
	dPingFailures     = desc("monitor_ping_failures", "Consecutive failed monitor pings (0 when the last one succeeded).", lServer)

	dBackendState     = desc("backend_state", "1 for the backend's current state in the hostgroup, 0 for the other states.", []string{"hostgroup", "backend", "state"})
	dBackendUp        = desc("backend_up", "1 when the backend is ONLINE in the hostgroup.", lPlacement)
	dBackendWeight    = desc("backend_weight", "The backend's balancing weight in the hostgroup (after lag decay).", lPlacement)
	dBackendEffWeight = desc("backend_effective_weight", "The weight the hostgroup's balancer uses now (adaptive: weight × lag factor × observed speed).", lPlacement)
	dBackendLatAvg    = desc("backend_latency_average_seconds", "The balancer's decaying average of the backend's response time.", lPlacement)
	dBackendMaxConns  = desc("backend_max_connections", "The backend's configured max_connections.", lPlacement)
	dBackendLag       = desc("backend_replication_lag_seconds", "Last measured replication lag; absent when unknown or not measured.", lPlacement)
	dBackendReadOnly  = desc("backend_read_only", "1 when the backend's last read_only check said ON.", lPlacement)
	dHostgroupInfo    = desc("hostgroup_info", "Always 1; the hostgroup's role (writer, backup_writer, reader, offline, other) and whether it is a user's default hostgroup.", []string{"hostgroup", "role", "default"})

	dClients         = desc("client_connections", "Client sessions currently open.", nil)
	dAuthFailures    = desc("client_auth_failures_total", "Client logins refused.", nil)
	dLoginFailures   = desc("client_login_failures_total", "Client logins refused, by reason (wrong_password, unknown_user, tls_required, limit_reached, backend_unavailable, bad_schema, protocol).", []string{"reason"})
	dBuildInfo       = desc("build_info", "Always 1; the running rwproxy's version, commit and Go version.", []string{"version", "commit", "go_version"})
	dPanics          = desc("session_panics_total", "Sessions closed after a recovered panic.", nil)
	dQueries         = desc("queries_total", "Requests sent to backends by all sessions.", nil)
	dSessionBackErrs = desc("session_backend_errors_total", "Backend connections that could not be obtained or were lost mid-request.", nil)
	dRoutes          = desc("route_decisions_total", "Routing decisions by reason.", []string{"reason"})
	dDestinations    = desc("route_destinations_total", "Statements by the role of the hostgroup they ran on (reader or writer).", []string{"role"})
	dReaderFallbacks = desc("reader_fallbacks_total", "Reads sent to the writer because no reader could take them.", nil)
	dRYWWaits        = desc("read_your_writes_waits_total", "Read-your-writes waits on a replica.", nil)
	dRYWFallbacks    = desc("read_your_writes_fallbacks_total", "Reads sent to the writer for read-your-writes (no replica had applied the user's writes in time).", nil)
	dRYWWait         = desc("read_your_writes_wait_seconds", "Time reads waited for a replica to apply the user's writes.", nil)
	dReadRetries     = desc("read_retries_total", "Autocommit reads re-run on another server after theirs failed before any byte of the reply was relayed.", nil)
	dReadRetryFails  = desc("read_retry_failures_total", "Retried reads whose second attempt failed too.", nil)
	dReplyCut        = desc("sessions_closed_reply_cut_total", "Client connections closed because their backend connection broke after part of a reply was relayed.", nil)
	dFailoverWaits   = desc("failover_waits_total", "Writes that waited for a writer to appear.", nil)
	dMonitorNow      = desc("monitor_immediate_checks_total", "Times sessions that lost their writer, or waited for one, made the monitor check every server at once.", nil)
	dReplays         = desc("transaction_replays_total", "Transactions replayed on a new server after theirs was lost (started).", nil)
	dReplaySuccesses = desc("transaction_replay_successes_total", "Replays after which the transaction went on without an error.", nil)
	dReplayMismatch  = desc("transaction_replay_checksum_mismatches_total", "Replays whose results differed from what the client got (error 1213).", nil)
	dReplayTooBig    = desc("transaction_replay_too_big_total", "Transactions whose record outgrew transaction_replay_max_size (not replayable).", nil)
	dIdemRetries     = desc("idempotent_retries_total", "Autocommit statements a query rule marks idempotent, re-run after their connection was lost before any reply.", nil)
	dCommitChecks    = desc("transaction_replay_commit_checks_total", "COMMITs lost before their answer, resolved by the commit check, by outcome; and marker statements that failed.", []string{"outcome"})
	dReplayFailures  = desc("transaction_replay_failures_total", "Lost transactions not replayed, by reason.", []string{"reason"})
	dQueryTimeouts   = desc("query_timeouts_total", "Statements whose query_timeout expired while they ran (rwproxy sent KILL QUERY).", nil)
	dPins            = desc("session_pins_total", "Times a session pinned its backend connection, by reason.", []string{"reason"})
	dCacheHits       = desc("classifier_cache_hits_total", "Statement classifications answered by the digest cache.", nil)
	dCacheMisses     = desc("classifier_cache_misses_total", "Statement classifications that missed the digest cache.", nil)
	dCacheEntries    = desc("classifier_cache_entries", "Entries in the classification cache.", nil)
	dParseErrors     = desc("classifier_parse_errors_total", "Statements the parser rejected (routed to the writer).", nil)
	dConfigVersion   = desc("config_version", "Version of the running configuration.", nil)
	dMembers         = desc("cluster_members", "Cluster members by state.", []string{"state"})
	dMemberVersion   = desc("cluster_member_config_version", "Configuration version each cluster member runs.", []string{"member"})
	dRejectedRecords = desc("cluster_records_rejected_total", "Configuration records refused for a version far above this node's clock.", nil)
	dReady           = desc("ready", "1 when some writer (or default) hostgroup has an ONLINE backend (/readyz).", nil)
)

func desc(name, help string, labels []string) *prometheus.Desc {
	return prometheus.NewDesc("rwproxy_"+name, help, labels, nil)
}

// Collector is a prometheus.Collector over a Source.
type Collector struct {
	src Source
}

var _ prometheus.Collector = (*Collector)(nil)

// NewCollector returns a collector that samples src at each scrape.
func NewCollector(src Source) *Collector { return &Collector{src: src} }

// Describe implements prometheus.Collector.
func (c *Collector) Describe(ch chan<- *prometheus.Desc) {
	for _, d := range []*prometheus.Desc{
		dBackendQueries, dBackendQueryTime, dBackendSent, dBackendRecv, dBackendInFlight, dPoolConns,
		dPoolCreated, dPoolReuseWaits, dPoolStallWaits, dPoolFailed, dPingSeconds, dPingFailures,
		dBackendState, dBackendUp, dBackendWeight, dBackendEffWeight, dBackendLatAvg, dBackendMaxConns, dBackendLag, dBackendReadOnly, dHostgroupInfo,
		dClients, dAuthFailures, dLoginFailures, dBuildInfo, dPanics, dQueries, dSessionBackErrs, dRoutes, dDestinations,
		dReaderFallbacks, dReadRetries, dReadRetryFails, dReplyCut, dRYWWaits, dRYWFallbacks, dRYWWait, dFailoverWaits, dQueryTimeouts, dPins,
		dReplays, dReplaySuccesses, dReplayMismatch, dReplayTooBig, dReplayFailures, dIdemRetries,
		dCacheHits, dCacheMisses, dCacheEntries, dParseErrors, dConfigVersion, dMembers, dMemberVersion, dRejectedRecords, dReady,
		dMonitorNow,
	} {
		ch <- d
	}
	describeRules(ch)
}

// Collect implements prometheus.Collector: one Sample per scrape.
func (c *Collector) Collect(ch chan<- prometheus.Metric) {
	s := c.src.Sample()
	collectServers(ch, s.Servers)
	collectPlacements(ch, s.Hostgroups, s.Backends)
	collectProxy(ch, &s)
	collectCluster(ch, s.ConfigVersion, s.Members)
	collectRules(ch, s.Rules)
	if s.Members != nil {
		ch <- counter(dRejectedRecords, float64(s.ClusterRejectedRecords))
	}
	ready, _ := s.Ready()
	ch <- gauge(dReady, b2f(ready))
}

func collectServers(ch chan<- prometheus.Metric, servers []Server) {
	seen := make(map[string]bool, len(servers))
	for _, sv := range servers {
		a := sv.Addr
		if seen[a] { // a duplicate series would fail the whole scrape
			continue
		}
		seen[a] = true
		ch <- counter(dBackendQueries, float64(sv.Queries), a)
		ch <- counter(dBackendQueryTime, float64(sv.LatencyUs)/1e6, a)
		ch <- counter(dBackendSent, float64(sv.BytesSent), a)
		ch <- counter(dBackendRecv, float64(sv.BytesRecv), a)
		ch <- gauge(dBackendInFlight, float64(sv.InFlight), a)
		ch <- gauge(dPoolConns, float64(sv.ConnUsed), a, "used")
		ch <- gauge(dPoolConns, float64(sv.ConnFree), a, "free")
		ch <- counter(dPoolCreated, float64(sv.ConnCreated), a)
		ch <- counter(dPoolReuseWaits, float64(sv.ReuseWaits), a)
		ch <- counter(dPoolStallWaits, float64(sv.StallWaits), a)
		ch <- counter(dPoolFailed, float64(sv.ConnFailed), a)
		if sv.Checked {
			if sv.PingLatency > 0 {
				ch <- gauge(dPingSeconds, sv.PingLatency.Seconds(), a)
			}
			ch <- gauge(dPingFailures, float64(sv.PingFailures), a)
		}
	}
}

func collectPlacements(ch chan<- prometheus.Metric, hgs []Hostgroup, backends []Backend) {
	seenHG := make(map[int]bool, len(hgs))
	for _, hg := range hgs {
		if seenHG[hg.ID] {
			continue
		}
		seenHG[hg.ID] = true
		ch <- gauge(dHostgroupInfo, 1, strconv.Itoa(hg.ID), hg.Role, strconv.FormatBool(hg.Default))
	}
	type key struct {
		hg   int
		addr string
	}
	seen := make(map[key]bool, len(backends))
	for _, b := range backends {
		if seen[key{b.Hostgroup, b.Addr}] {
			continue
		}
		seen[key{b.Hostgroup, b.Addr}] = true
		hg := strconv.Itoa(b.Hostgroup)
		for _, st := range States {
			ch <- gauge(dBackendState, b2f(b.State == st), hg, b.Addr, st)
		}
		if !slices.Contains(States, b.State) { // a state newer than this list
			ch <- gauge(dBackendState, 1, hg, b.Addr, b.State)
		}
		ch <- gauge(dBackendUp, b2f(b.State == StateOnline), hg, b.Addr)
		ch <- gauge(dBackendWeight, float64(b.Weight), hg, b.Addr)
		ch <- gauge(dBackendEffWeight, b.EffectiveWeight, hg, b.Addr)
		ch <- gauge(dBackendLatAvg, b.LatencyAvgUs/1e6, hg, b.Addr)
		ch <- gauge(dBackendMaxConns, float64(b.MaxConnections), hg, b.Addr)
		if b.LagSeconds >= 0 {
			ch <- gauge(dBackendLag, b.LagSeconds, hg, b.Addr)
		}
		ch <- gauge(dBackendReadOnly, b2f(b.ReadOnly), hg, b.Addr)
	}
}

func collectProxy(ch chan<- prometheus.Metric, s *Sample) {
	p := &s.Proxy
	ch <- gauge(dClients, float64(p.ClientConnections))
	ch <- counter(dAuthFailures, float64(p.AuthFailures))
	for _, r := range s.LoginFailures {
		ch <- counter(dLoginFailures, float64(r.Value), r.Name)
	}
	ch <- gauge(dBuildInfo, 1, s.Build.Version, s.Build.Commit, s.Build.GoVersion)
	ch <- counter(dPanics, float64(p.Panics))
	ch <- counter(dQueries, float64(p.Queries))
	ch <- counter(dSessionBackErrs, float64(p.BackendErrors))
	for _, r := range s.Routes {
		ch <- counter(dRoutes, float64(r.Value), r.Name)
	}
	ch <- counter(dDestinations, float64(p.ToReader), RoleReader)
	ch <- counter(dDestinations, float64(p.ToWriter), RoleWriter)
	ch <- counter(dReaderFallbacks, float64(p.ReaderFallbacks))
	ch <- counter(dReadRetries, float64(p.ReadRetries))
	ch <- counter(dReadRetryFails, float64(p.ReadRetryFailures))
	ch <- counter(dReplyCut, float64(p.ReplyCut))
	ch <- counter(dReplays, float64(p.Replay.Started))
	ch <- counter(dReplaySuccesses, float64(p.Replay.Succeeded))
	ch <- counter(dReplayMismatch, float64(p.Replay.Mismatches))
	ch <- counter(dReplayTooBig, float64(p.Replay.TooBig))
	ch <- counter(dIdemRetries, float64(p.Replay.IdempotentRetries))
	for _, f := range p.Replay.Failed {
		ch <- counter(dReplayFailures, float64(f.Value), f.Name)
	}
	for _, f := range p.Replay.CommitChecks {
		ch <- counter(dCommitChecks, float64(f.Value), f.Name)
	}
	ch <- counter(dRYWWaits, float64(p.RYWWaits))
	ch <- counter(dRYWFallbacks, float64(p.RYWFallbacks))
	if h := p.RYWWait; len(h.Counts) == len(h.Bounds)+1 {
		cum := make(map[float64]uint64, len(h.Bounds))
		var n uint64
		for i, b := range h.Bounds {
			n += h.Counts[i]
			cum[b] = n
		}
		n += h.Counts[len(h.Bounds)]
		ch <- prometheus.MustNewConstHistogram(dRYWWait, n, h.SumSeconds, cum)
	}
	ch <- counter(dFailoverWaits, float64(p.FailoverWaits))
	ch <- counter(dMonitorNow, float64(p.MonitorImmediateChecks))
	ch <- counter(dQueryTimeouts, float64(p.QueryTimeouts))
	for _, r := range s.Pins {
		ch <- counter(dPins, float64(r.Value), r.Name)
	}
	ch <- counter(dCacheHits, float64(p.CacheHits))
	ch <- counter(dCacheMisses, float64(p.CacheMisses))
	ch <- gauge(dCacheEntries, float64(p.CacheEntries))
	ch <- counter(dParseErrors, float64(p.ParseErrors))
}

func collectCluster(ch chan<- prometheus.Metric, version uint64, members []Member) {
	ch <- gauge(dConfigVersion, float64(version))
	if members == nil {
		return
	}
	byState := make(map[string]int)
	seen := make(map[string]bool, len(members))
	for _, m := range members {
		byState[m.State]++
		if !seen[m.Name] {
			seen[m.Name] = true
			ch <- gauge(dMemberVersion, float64(m.ConfigVersion), m.Name)
		}
	}
	for st, n := range byState {
		ch <- gauge(dMembers, float64(n), st)
	}
}

func counter(d *prometheus.Desc, v float64, labels ...string) prometheus.Metric {
	return constMetric(d, prometheus.CounterValue, v, labels)
}

func gauge(d *prometheus.Desc, v float64, labels ...string) prometheus.Metric {
	return constMetric(d, prometheus.GaugeValue, v, labels)
}

// constMetric builds one sample; a label value that is not valid UTF-8
// (a member name from a peer, say) fails that series' scrape, not the
// process.
func constMetric(d *prometheus.Desc, t prometheus.ValueType, v float64, labels []string) prometheus.Metric {
	m, err := prometheus.NewConstMetric(d, t, v, labels...)
	if err != nil {
		return prometheus.NewInvalidMetric(d, err)
	}
	return m
}

func b2f(b bool) float64 {
	if b {
		return 1
	}
	return 0
}
