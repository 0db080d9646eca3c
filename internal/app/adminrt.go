package app

import (
	"context"
	"sort"
	"strconv"
	"sync"
	"time"

	"go.uber.org/zap"

	"github.com/rwproxy/rwproxy/admin"
	"github.com/rwproxy/rwproxy/config"
	"github.com/rwproxy/rwproxy/monitor"
	"github.com/rwproxy/rwproxy/router"
	"github.com/rwproxy/rwproxy/session"
	"github.com/rwproxy/rwproxy/topology"
)

// admins holds each App's admin server. TODO(lead): this can become an
// App field (admin *admin.Server); it lives here so that this file needs
// no change to app.go.
var admins sync.Map // *App → *admin.Server

// StartAdmin opens the admin interface on admin.listen, with its DISK
// layer in admin.datadir; configFile is the YAML file LOAD ... FROM CONFIG
// re-reads ("" disables that command). Call it after Start; a second call
// does nothing. App.Close stops it.
func (a *App) StartAdmin(configFile string) error {
	if _, ok := admins.Load(a); ok {
		return nil
	}
	// The admin port has its own instance of the client listener's login
	// limiter (limits.login_rate and login_burst, separate buckets).
	s, err := admin.New(admin.Options{Runtime: adminRuntime{a}, ConfigFile: configFile, Log: a.lg.Named("admin"),
		Logins: session.NewLoginLimiter()})
	if err != nil {
		return err
	}
	if _, loaded := admins.LoadOrStore(a, s); loaded {
		return s.Close()
	}
	s.Start()
	return nil
}

// AdminAddr is the admin listener's address, "" before StartAdmin.
func (a *App) AdminAddr() string {
	if v, ok := admins.Load(a); ok {
		return v.(*admin.Server).Addr()
	}
	return ""
}

// CloseAdmin stops the admin interface (idempotent).
func (a *App) CloseAdmin() error {
	v, ok := admins.LoadAndDelete(a)
	if !ok {
		return nil
	}
	return v.(*admin.Server).Close()
}

// adminRuntime is the running proxy as the admin interface sees it. It is
// a separate type so that App's own method set stays what it is.
type adminRuntime struct{ a *App }

var _ admin.Runtime = adminRuntime{}

// Config returns the running configuration.
func (r adminRuntime) Config() *config.Config { return r.a.Store.Current() }

// Apply validates c and swaps it in; the App's configuration loop applies
// it to the pools, picker, monitor and routing without touching client
// connections. Apply returns once that loop has applied it (bounded by
// applyWait), so that LOAD ... TO RUNTIME means "in effect".
func (r adminRuntime) Apply(ctx context.Context, c *config.Config) error {
	before := r.a.Store.Versioned().Version
	if err := r.a.Store.Apply(ctx, c, config.SourceAdmin); err != nil {
		return err
	}
	after := r.a.Store.Versioned().Version
	if after == before {
		return nil // nothing changed
	}
	r.a.waitApplied(ctx, after)
	return nil
}

// applyWait bounds how long Apply waits for the configuration loop.
const applyWait = 5 * time.Second

// waitApplied waits until the configuration loop has applied version v
// (or a later one) in full: routing, pools, the monitor's placement and the
// snapshot the picker and the runtime tables read.
func (a *App) waitApplied(ctx context.Context, v uint64) {
	ctx, cancel := context.WithTimeout(ctx, applyWait)
	defer cancel()
	tick := time.NewTicker(time.Millisecond)
	defer tick.Stop()
	for a.applied.Load() < v {
		select {
		case <-ctx.Done():
			a.lg.Warn("admin: the new configuration is accepted but not applied yet", zap.Duration("waited", applyWait))
			return
		case <-tick.C:
		}
	}
}

// ResetDigests clears the statement digest statistics.
func (r adminRuntime) ResetDigests() {
	if r.a.Digests != nil {
		r.a.Digests.Reset()
	}
}

// Snapshot copies the live state want asks for.
func (r adminRuntime) Snapshot(want admin.Want) admin.Stats {
	a := r.a
	var st admin.Stats
	snap := a.topo.Load()
	if want&admin.WantTopology != 0 {
		st.Topology = snap
	}
	if want&(admin.WantPools|admin.WantGlobal) != 0 {
		st.Pools = a.poolStats(snap)
	}
	if want&admin.WantGlobal != 0 {
		st.Global = a.globalCounters(st.Pools)
	}
	if want&admin.WantPools == 0 {
		st.Pools = nil
	}
	if want&admin.WantPins != 0 {
		for i, name := range session.PinReasonNames() {
			st.Pins = append(st.Pins, admin.Counter{Name: name, Value: int64(a.Stats.Pins[i].Load())})
		}
	}
	if want&admin.WantDigests != 0 && a.Digests != nil {
		for _, d := range a.Digests.Snapshot() {
			st.Digests = append(st.Digests, admin.DigestStat{Hostgroup: d.Hostgroup, Schema: d.Schema, User: d.User,
				ClientAddress: d.ClientAddress,
				DigestText:    d.Digest, Count: d.Count, FirstSeen: d.FirstSeen, LastSeen: d.LastSeen,
				SumTimeUs: d.SumTimeUs, MinTimeUs: d.MinTimeUs, MaxTimeUs: d.MaxTimeUs,
				SumRowsAffected: d.SumRowsAffected, SumRowsSent: d.SumRowsSent})
		}
	}
	if want&admin.WantLogs != 0 {
		st.Logs = monitorLogs(a.adminMonitor())
	}
	if want&admin.WantBalance != 0 {
		for _, b := range a.BalanceStats() {
			st.Balance = append(st.Balance, admin.BalanceStat{Hostgroup: b.Hostgroup, Addr: b.Addr, Algorithm: b.Algorithm,
				Weight: b.Weight, EffectiveWeight: b.EffectiveWeight, Outstanding: b.Outstanding, LatencyUs: b.LatencyUs})
		}
	}
	if n := a.Cluster(); want&admin.WantCluster != 0 && n != nil {
		for _, m := range n.Members() {
			st.ClusterNodes = append(st.ClusterNodes, admin.ClusterNode{Name: m.Name, Addr: m.Addr, State: m.State,
				LastSeen: m.LastSeen, Local: m.Local})
		}
		for _, m := range n.Modules() {
			st.ClusterModules = append(st.ClusterModules, admin.ClusterModule{Node: m.Node, Module: m.Module,
				Origin: m.Origin, Checksum: m.Checksum, Status: m.Status, Reason: m.Reason, Version: m.Version,
				AppliedAt: m.AppliedAt})
		}
	}
	a.proxysqlSnapshot(want, &st)
	a.firewallSnapshot(want, &st)
	return st
}

// adminLogLimit is how many recent checks of each kind the monitor tables show.
const adminLogLimit = 1000

// monitorLogSource is what the admin reads of the monitor.
type monitorLogSource interface {
	Log(kind string, limit int) []monitor.LogEntry
}

// adminMonitor returns the App's monitor for the monitor.* tables.
func (a *App) adminMonitor() monitorLogSource {
	if a.Monitor == nil {
		return nil
	}
	return a.Monitor
}

// monitorLogs copies the monitor's recent checks of every kind.
func monitorLogs(m monitorLogSource) map[string][]admin.LogEntry {
	if m == nil {
		return nil
	}
	out := make(map[string][]admin.LogEntry)
	for kind, mk := range map[string]string{admin.LogPing: monitor.KindPing, admin.LogReadOnly: monitor.KindReadOnly,
		admin.LogReplicationLag: monitor.KindReplicationLag, admin.LogGroupReplication: monitor.KindGroupReplication,
		admin.LogConnect: monitor.KindConnect} {
		for _, e := range m.Log(mk, adminLogLimit) {
			out[kind] = append(out[kind], admin.LogEntry{Time: e.Time, Addr: e.Addr, Duration: e.Duration,
				Result: e.Result, Error: e.Error})
		}
	}
	return out
}

// poolStats copies the pool counters of every server in snap (or, before
// any snapshot, of every configured server).
func (a *App) poolStats(snap *topology.Snapshot) []admin.PoolStats {
	addrs := make(map[string]bool)
	if snap != nil {
		for _, bs := range snap.Hostgroups {
			for _, b := range bs {
				addrs[b.Addr] = true
			}
		}
	}
	for _, sv := range a.Store.Current().Servers {
		addrs[topology.Addr(sv.Host, sv.Port)] = true
	}
	sorted := make([]string, 0, len(addrs))
	for addr := range addrs {
		sorted = append(sorted, addr)
	}
	sort.Strings(sorted)
	out := make([]admin.PoolStats, 0, len(sorted))
	for _, addr := range sorted {
		p := admin.PoolStats{Addr: addr}
		if s := a.Pools.Stats(addr); s != nil {
			p.ConnUsed, p.ConnFree = s.ConnUsed.Load(), s.ConnFree.Load()
			p.ConnOK, p.ConnERR, p.Queries = s.ConnOK.Load(), s.ConnERR.Load(), s.Queries.Load()
			p.BytesSent, p.BytesRecv, p.LatencyUs = s.BytesSent.Load(), s.BytesRecv.Load(), s.LatencyUs.Load()
			p.MaxConnUsed, p.GTIDSync = s.MaxConnUsed.Load(), s.GTIDSync.Load()
		}
		out = append(out, p)
	}
	return out
}

// globalCounters are the rows of stats_mysql_global: ProxySQL's names
// where the counter means the same, rwproxy's own otherwise.
func (a *App) globalCounters(pools []admin.PoolStats) []admin.Counter {
	s := a.Stats
	u := func(v uint64) int64 { return int64(v) }
	out := []admin.Counter{
		{Name: "Client_Connections_connected", Value: s.Sessions.Load()},
		{Name: "Access_Denied_Wrong_Password", Value: u(s.LoginFailureCount(session.LoginWrongPassword))},
		{Name: "Access_Denied_Unknown_User", Value: u(s.LoginFailureCount(session.LoginUnknownUser))},
		{Name: "Access_Denied_TLS_Required", Value: u(s.LoginFailureCount(session.LoginTLSRequired))},
		{Name: "Access_Denied_Max_User_Connections", Value: u(s.LoginFailureCount(session.LoginLimitReached))},
		{Name: "Login_Failures_Backend_Unavailable", Value: u(s.LoginFailureCount(session.LoginBackendUnavailable))},
		{Name: "Login_Failures_Bad_Schema", Value: u(s.LoginFailureCount(session.LoginBadSchema))},
		{Name: "Login_Failures_Protocol", Value: u(s.LoginFailureCount(session.LoginProtocol))},
		{Name: "Login_Failures_Total", Value: u(s.AuthFailures.Load())},
		{Name: "Questions", Value: u(s.Queries.Load())},
		{Name: "Backend_Query_Errors", Value: u(s.BackendErrs.Load())},
		{Name: "Session_Panics", Value: u(s.Panics.Load())},
		{Name: "Queries_To_Reader", Value: u(s.ToReader.Load())},
		{Name: "Queries_To_Writer", Value: u(s.ToWriter.Load())},
		{Name: "Reader_Fallbacks", Value: u(s.ReaderFallbacks.Load())},
		{Name: "Read_Your_Writes_Waits", Value: u(s.RYWWaits.Load())},
		{Name: "Read_Your_Writes_Fallbacks", Value: u(s.RYWFallbacks.Load())},
		{Name: "Read_Your_Writes_Wait_Time_us", Value: rywWaitTotal(s).Microseconds()},
		{Name: "Failover_Waits", Value: u(s.FailoverWaits.Load())},
		{Name: "Backend_Connection_Limit_Errors", Value: u(s.ConnLimitErrs.Load())},
		{Name: "Sessions_Closed_State_Lost", Value: u(s.StateLost.Load())},
		{Name: "Sessions_Closed_Reply_Cut", Value: u(s.ReplyCut.Load())},
		{Name: "Read_Retries", Value: u(s.ReadRetries.Load())},
		{Name: "Read_Retry_Failures", Value: u(s.ReadRetryFailures.Load())},
		{Name: "Query_Timeouts", Value: u(s.QueryTimeouts.Load())},
	}
	var used, free, ok, errs int64
	for _, p := range pools {
		used += p.ConnUsed
		free += p.ConnFree
		ok += int64(p.ConnOK)
		errs += int64(p.ConnERR)
	}
	out = append(out,
		admin.Counter{Name: "Server_Connections_connected", Value: used + free},
		admin.Counter{Name: "Server_Connections_created", Value: ok},
		admin.Counter{Name: "Server_Connections_aborted", Value: errs},
		admin.Counter{Name: "Config_Version", Value: int64(a.Store.Versioned().Version)},
	)
	out = append(out, rywWaitCounters(s)...)
	out = append(out, a.ruleCounters()...)
	out = append(out, replayGlobals(&s.Replay)...)
	out = append(out, a.proxysqlGlobals()...)
	for i := range router.NumReasons {
		out = append(out, admin.Counter{Name: "Route_" + router.Reason(i).String(), Value: u(s.Routes[i].Load())})
	}
	return out
}

// RefreshAdminMemory rewrites the admin interface's MEMORY tables from the
// running configuration (config_source: file, after a file change), so
// that MEMORY, RUNTIME and the file agree. It does nothing before
// StartAdmin.
func (a *App) RefreshAdminMemory(ctx context.Context) error {
	if v, ok := admins.Load(a); ok {
		return v.(*admin.Server).RefreshMemory(ctx)
	}
	return nil
}

// rywWaitTotal is the total time reads waited for read-your-writes.
func rywWaitTotal(s *session.Stats) time.Duration {
	_, sum := s.RYWWait.Snapshot()
	return sum
}

// rywWaitCounters are the read-your-writes wait histogram's buckets as
// stats_mysql_global rows: Read_Your_Writes_Wait_le_<ms>ms (non-cumulative
// counts) and Read_Your_Writes_Wait_gt_<ms>ms for the waits beyond the
// last bound.
func rywWaitCounters(s *session.Stats) []admin.Counter {
	counts, _ := s.RYWWait.Snapshot()
	out := make([]admin.Counter, 0, len(counts))
	for i, b := range session.RYWWaitBounds {
		out = append(out, admin.Counter{Name: "Read_Your_Writes_Wait_le_" + strconv.FormatInt(b.Milliseconds(), 10) + "ms",
			Value: int64(counts[i])})
	}
	last := session.RYWWaitBounds[len(session.RYWWaitBounds)-1]
	return append(out, admin.Counter{Name: "Read_Your_Writes_Wait_gt_" + strconv.FormatInt(last.Milliseconds(), 10) + "ms",
		Value: int64(counts[len(counts)-1])})
}
