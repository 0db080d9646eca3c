package app

import (
	"runtime"
	"strconv"
	"time"

	"github.com/rwproxy/rwproxy/admin"
	"github.com/rwproxy/rwproxy/cluster"
	"github.com/rwproxy/rwproxy/router"
	"github.com/rwproxy/rwproxy/session"
)

// adminGather is what a Snapshot for want must gather beyond the core.
func adminGather(want admin.Want) gatherWhat {
	var what gatherWhat
	if want&(admin.WantSessions|admin.WantGlobal) != 0 {
		what |= gatherSessions // stats_mysql_global counts active transactions
	}
	if want&admin.WantDigests != 0 {
		what |= gatherDigests
	}
	return what
}

// adminStats projects st into the parts of admin.Stats that want names
// and the read model holds; Snapshot adds the admin-only parts.
func adminStats(st *runtimeState, want admin.Want) admin.Stats {
	var out admin.Stats
	if want&admin.WantTopology != 0 {
		out.Topology = st.Topology
	}
	if want&admin.WantPools != 0 {
		out.Pools = adminPools(st)
	}
	if want&admin.WantGlobal != 0 {
		out.Global = adminGlobals(st)
	}
	if want&admin.WantPins != 0 {
		for i, name := range session.PinReasonNames() {
			out.Pins = append(out.Pins, admin.Counter{Name: name, Value: int64(st.Counters.Pins[i])})
		}
	}
	if want&admin.WantDigests != 0 {
		for _, d := range st.Digests {
			out.Digests = append(out.Digests, admin.DigestStat{Hostgroup: d.Hostgroup, Schema: d.Schema, User: d.User,
				ClientAddress: d.ClientAddress, DigestText: d.Digest, Count: d.Count, FirstSeen: d.FirstSeen, LastSeen: d.LastSeen,
				SumTimeUs: d.SumTimeUs, MinTimeUs: d.MinTimeUs, MaxTimeUs: d.MaxTimeUs,
				SumRowsAffected: d.SumRowsAffected, SumRowsSent: d.SumRowsSent})
		}
	}
	if want&admin.WantBalance != 0 {
		for _, b := range st.Balance {
			out.Balance = append(out.Balance, admin.BalanceStat{Hostgroup: b.Hostgroup, Addr: b.Addr, Algorithm: b.Algorithm,
				Weight: b.Weight, EffectiveWeight: b.EffectiveWeight, Outstanding: b.Outstanding, LatencyUs: b.LatencyUs})
		}
	}
	if want&admin.WantCluster != 0 && st.Cluster != nil {
		adminCluster(st.Cluster, &out)
	}
	if want&admin.WantSessions != 0 {
		for _, p := range st.Processes {
			out.Processes = append(out.Processes, admin.Process{ID: p.ID, User: p.User, DB: p.DB,
				ClientHost: p.ClientHost, ClientPort: p.ClientPort, Hostgroup: p.Hostgroup, Backend: p.Backend, Local: p.Local,
				Command: p.Command, Time: p.Time, Info: p.Info, InTxn: p.InTxn})
		}
		out.UserConns = st.UserConns
	}
	if want&admin.WantChecksums != 0 {
		out.Checksums = adminChecksums(st)
	}
	return out
}

// adminPools are stats_mysql_connection_pool's counters, by address.
func adminPools(st *runtimeState) []admin.PoolStats {
	out := make([]admin.PoolStats, 0, len(st.Servers))
	for _, sv := range st.Servers {
		out = append(out, admin.PoolStats{Addr: sv.Addr, ConnUsed: sv.ConnUsed, ConnFree: sv.ConnFree,
			ConnOK: sv.ConnOK, ConnERR: sv.ConnERR, Queries: sv.Queries, BytesSent: sv.BytesSent,
			BytesRecv: sv.BytesRecv, LatencyUs: sv.LatUs, MaxConnUsed: sv.MaxConnUsed, GTIDSync: sv.GTIDSync})
	}
	return out
}

// adminCluster fills cluster_nodes and cluster_checksums.
func adminCluster(c *clusterState, out *admin.Stats) {
	for _, m := range c.Members {
		out.ClusterNodes = append(out.ClusterNodes, admin.ClusterNode{Name: m.Name, Addr: m.Addr, State: m.State,
			LastSeen: m.LastSeen, Local: m.Local})
	}
	for _, m := range c.Modules {
		out.ClusterModules = append(out.ClusterModules, admin.ClusterModule{Node: m.Node, Module: m.Module,
			Origin: m.Origin, Checksum: m.Checksum, Status: m.Status, Reason: m.Reason, Version: m.Version,
			AppliedAt: m.AppliedAt})
	}
}

// adminChecksums are runtime_checksums_values' rows: the running
// configuration's module checksums under ProxySQL's names.
func adminChecksums(st *runtimeState) []admin.ModuleChecksum {
	sums := cluster.ModuleChecksums(st.Config)
	var out []admin.ModuleChecksum
	for _, m := range []struct{ proxysql, module string }{{"mysql_query_rules", cluster.ModuleQueryRules},
		{"mysql_servers", cluster.ModuleServers}, {"mysql_users", cluster.ModuleUsers},
		{"mysql_variables", cluster.ModuleVariables}} {
		out = append(out, admin.ModuleChecksum{Name: m.proxysql, Version: st.Version, Epoch: st.AppliedAt,
			Checksum: sums[m.module]})
	}
	return out
}

// adminGlobals are the rows of stats_mysql_global: ProxySQL's names where
// the counter means the same, rwproxy's own otherwise.
func adminGlobals(st *runtimeState) []admin.Counter {
	c := &st.Counters
	u := func(v uint64) int64 { return int64(v) }
	login := func(f session.LoginFailure) int64 { return int64(c.LoginFailures[f]) }
	out := []admin.Counter{
		{Name: "Client_Connections_connected", Value: c.Sessions},
		{Name: "Access_Denied_Wrong_Password", Value: login(session.LoginWrongPassword)},
		{Name: "Access_Denied_Unknown_User", Value: login(session.LoginUnknownUser)},
		{Name: "Access_Denied_TLS_Required", Value: login(session.LoginTLSRequired)},
		{Name: "Access_Denied_Max_User_Connections", Value: login(session.LoginLimitReached)},
		{Name: "Login_Failures_Backend_Unavailable", Value: login(session.LoginBackendUnavailable)},
		{Name: "Login_Failures_Bad_Schema", Value: login(session.LoginBadSchema)},
		{Name: "Login_Failures_Protocol", Value: login(session.LoginProtocol)},
		{Name: "Login_Failures_Total", Value: u(c.AuthFailures)},
		{Name: "Questions", Value: u(c.Queries)},
		{Name: "Backend_Query_Errors", Value: u(c.BackendErrs)},
		{Name: "Session_Panics", Value: u(c.Panics)},
		{Name: "Queries_To_Reader", Value: u(c.ToReader)},
		{Name: "Queries_To_Writer", Value: u(c.ToWriter)},
		{Name: "Reader_Fallbacks", Value: u(c.ReaderFallbacks)},
		{Name: "Read_Your_Writes_Waits", Value: u(c.RYWWaits)},
		{Name: "Read_Your_Writes_Fallbacks", Value: u(c.RYWFallbacks)},
		{Name: "Read_Your_Writes_Wait_Time_us", Value: c.RYWWaitSum.Microseconds()},
		{Name: "Failover_Waits", Value: u(c.FailoverWaits)},
		{Name: "Monitor_Immediate_Checks", Value: u(c.MonitorImmediateChecks)},
		{Name: "Backend_Connection_Limit_Errors", Value: u(c.ConnLimitErrs)},
		{Name: "Sessions_Closed_State_Lost", Value: u(c.StateLost)},
		{Name: "Sessions_Closed_Reply_Cut", Value: u(c.ReplyCut)},
		{Name: "Read_Retries", Value: u(c.ReadRetries)},
		{Name: "Read_Retry_Failures", Value: u(c.ReadRetryFailures)},
		{Name: "Query_Timeouts", Value: u(c.QueryTimeouts)},
	}
	var used, free, ok, errs, reused, stalled int64
	for _, sv := range st.Servers {
		used += sv.ConnUsed
		free += sv.ConnFree
		ok += int64(sv.ConnOK)
		errs += int64(sv.ConnERR)
		reused += int64(sv.ReuseWaits)
		stalled += int64(sv.StallWaits)
	}
	out = append(out,
		admin.Counter{Name: "Server_Connections_connected", Value: used + free},
		admin.Counter{Name: "Server_Connections_created", Value: ok},
		admin.Counter{Name: "Server_Connections_reused_after_wait", Value: reused},
		admin.Counter{Name: "Server_Connections_waited_on_stall", Value: stalled},
		admin.Counter{Name: "Server_Connections_aborted", Value: errs},
		admin.Counter{Name: "Config_Version", Value: int64(st.Version)},
	)
	out = append(out, rywWaitCounters(c)...)
	out = append(out, replayGlobals(c.Replay)...)
	out = append(out, proxysqlGlobals(st)...)
	for i := range router.NumReasons {
		out = append(out, admin.Counter{Name: "Route_" + router.Reason(i).String(), Value: u(c.Routes[i])})
	}
	return out
}

// rywWaitCounters are the read-your-writes wait histogram's buckets as
// stats_mysql_global rows: Read_Your_Writes_Wait_le_<ms>ms (non-cumulative
// counts) and Read_Your_Writes_Wait_gt_<ms>ms for the waits beyond the
// last bound.
func rywWaitCounters(c *counters) []admin.Counter {
	counts := c.RYWWaitCounts
	out := make([]admin.Counter, 0, len(counts))
	for i, b := range session.RYWWaitBounds {
		out = append(out, admin.Counter{Name: "Read_Your_Writes_Wait_le_" + strconv.FormatInt(b.Milliseconds(), 10) + "ms",
			Value: int64(counts[i])})
	}
	last := session.RYWWaitBounds[len(session.RYWWaitBounds)-1]
	return append(out, admin.Counter{Name: "Read_Your_Writes_Wait_gt_" + strconv.FormatInt(last.Milliseconds(), 10) + "ms",
		Value: int64(counts[len(counts)-1])})
}

// proxysqlGlobals are stats_mysql_global rows under ProxySQL's names
// that its exporters and dashboards read.
func proxysqlGlobals(st *runtimeState) []admin.Counter {
	var active, nonIdle int64
	for _, p := range st.Processes {
		if p.InTxn {
			active++
		}
		if p.Command != "Sleep" {
			nonIdle++
		}
	}
	return []admin.Counter{
		{Name: "ProxySQL_Uptime", Value: int64(st.At.Sub(st.Created) / time.Second)},
		{Name: "Client_Connections_created", Value: int64(st.Counters.SessionsCreated)},
		{Name: "Client_Connections_aborted", Value: int64(st.Counters.AuthFailures)},
		{Name: "Client_Connections_non_idle", Value: nonIdle},
		{Name: "Active_Transactions", Value: active},
		{Name: "Slow_queries", Value: int64(st.Counters.SlowQueries)},
		{Name: "Reads_Outside_Transaction", Value: int64(st.Counters.TxnDetached)},
		// ProxySQL's worker threads; rwproxy's are GOMAXPROCS, which
		// threads: 0 moves with the load (internal/threads).
		{Name: "MySQL_Thread_Workers", Value: int64(runtime.GOMAXPROCS(0))},
	}
}
