package app

import (
	"cmp"
	"slices"
	"time"

	"github.com/rwproxy/rwproxy/cluster"
	"github.com/rwproxy/rwproxy/config"
	"github.com/rwproxy/rwproxy/metrics"
	"github.com/rwproxy/rwproxy/monitor"
	"github.com/rwproxy/rwproxy/router"
	"github.com/rwproxy/rwproxy/session"
	"github.com/rwproxy/rwproxy/topology"
)

// runtimeState is the proxy's live state at one instant, the one read
// model of what the admin interface, /metrics, /api/status and the
// dashboard show. App.gather copies it from the atomics once; thin
// adapters project it: adminStats (adminrt.go) into the admin's stats_*
// tables, sample (http.go) into metrics.Sample for /metrics and the
// dashboard. A number shown by two of them comes from the same field of
// the same gathering, so they cannot drift (TestReadModelViewsAgree).
// What only one view shows and is costly (the monitor's check logs,
// per-command histograms, memory figures) is read by that view itself.
type runtimeState struct {
	At      time.Time
	Created time.Time // when New made the App (uptime)
	// Config is the running configuration, Version and Origin its
	// identity, AppliedAt when the configuration loop applied it.
	Config    *config.Config
	Version   uint64
	Origin    string
	AppliedAt time.Time
	// Topology is the snapshot statements are placed by; nil before the
	// first (the views then show the configuration).
	Topology *topology.Snapshot
	// Servers are every address of Topology or of the configuration, by
	// address.
	Servers  []serverState
	Counters counters
	// Balance is what the balancers see of each server of each hostgroup.
	Balance []BalanceStat
	// Cluster is the gossip cluster; nil when cluster.enabled is off.
	Cluster *clusterState
	// Processes and UserConns are the client sessions (gathered with
	// gatherSessions), Digests the statement digests (gatherDigests).
	Processes []session.Process
	UserConns map[string]int
	Digests   []session.DigestStat
	// Paused: PROXYSQL PAUSE holds new client connections off.
	Paused bool
}

// serverState is one backend server: its pool's counters and what the
// monitor knows of its health.
type serverState struct {
	Addr                                                  string
	ConnUsed, ConnFree, InFlight, MaxConnUsed             int64
	ConnOK, ConnERR, Queries, BytesSent, BytesRecv, LatUs uint64
	// GTIDSync: reads served after a read-your-writes GTID check.
	GTIDSync uint64
	// ReuseWaits: Gets that took a connection that came back instead of
	// opening one.
	ReuseWaits uint64
	// StallWaits: Gets that waited on while the server returned nothing.
	StallWaits uint64
	// Health is nil when the monitor has no record of the server.
	Health *monitor.ServerHealth
}

// counters are the process-wide counters (session.Stats and the
// classifier's), copied.
type counters struct {
	Sessions                                                    int64
	SessionsCreated, AuthFailures, Panics, Queries, BackendErrs uint64
	ToReader, ToWriter, ReaderFallbacks                         uint64
	RYWWaits, RYWFallbacks                                      uint64
	StateLost, ReplyCut, ReadRetries, ReadRetryFailures         uint64
	FailoverWaits, ConnLimitErrs, QueryTimeouts                 uint64
	// RYWWaitCounts are the read-your-writes wait histogram's buckets
	// (session.RYWWaitBounds, then the overflow), RYWWaitSum their total.
	RYWWaitCounts []uint64
	RYWWaitSum    time.Duration
	// LoginFailures are by session.LoginFailure, Pins by pin reason
	// (session.PinReasonNames), Routes by router.Reason.
	LoginFailures, Pins, Routes []uint64
	CacheHits, CacheMisses      uint64
	CacheEntries                int
	ParseErrors, SlowQueries    uint64
	// TxnDetached: reads of transaction_persistent=0 users run outside
	// their transaction.
	TxnDetached uint64
	// MonitorImmediateChecks: the times sessions made the monitor check
	// every server at once (monitor.Monitor.Wakeups).
	MonitorImmediateChecks uint64
	// Replay are the transaction replay counters.
	Replay metrics.Replay
}

// clusterState is the gossip cluster as this node sees it.
type clusterState struct {
	// Members and Modules are empty while the node is not running.
	Members  []cluster.Member
	Modules  []cluster.ModuleState
	Rejected uint64
}

// gatherWhat selects the costlier parts of a runtimeState.
type gatherWhat uint8

const (
	gatherSessions gatherWhat = 1 << iota // Processes, UserConns
	gatherDigests                         // Digests
)

// gather copies the live state once.
func (a *App) gather(what gatherWhat) *runtimeState {
	v := a.Store.Versioned()
	st := &runtimeState{At: time.Now(), Created: a.created, Config: v.Config, Version: v.Version, Origin: v.Origin,
		AppliedAt: a.created, Topology: a.topo.Load(), Balance: a.BalanceStats()}
	if t, ok := a.appliedAt.Load().(time.Time); ok {
		st.AppliedAt = t
	}
	if a.listener != nil {
		st.Paused = a.listener.Paused()
	}
	st.Servers = a.gatherServers(st.Config, st.Topology)
	st.Counters = a.gatherCounters()
	if v.Config.Cluster.Enabled {
		st.Cluster = &clusterState{}
		if n := a.Cluster(); n != nil {
			st.Cluster.Members, st.Cluster.Modules, st.Cluster.Rejected = n.Members(), n.Modules(), n.RejectedVersions()
		}
	}
	if what&gatherSessions != 0 {
		st.Processes, st.UserConns = a.Sessions.Processlist(), a.Sessions.UserConnections()
	}
	if what&gatherDigests != 0 && a.Digests != nil {
		st.Digests = a.Digests.Snapshot()
	}
	return st
}

// gatherServers copies the pool counters and the monitor's health of
// every server of snap (or, before any, of c), by address.
func (a *App) gatherServers(c *config.Config, snap *topology.Snapshot) []serverState {
	addrs := make(map[string]bool)
	if snap != nil {
		for _, bs := range snap.Hostgroups {
			for _, b := range bs {
				addrs[b.Addr] = true
			}
		}
	}
	for _, sv := range c.Servers {
		addrs[topology.Addr(sv.Host, sv.Port)] = true
	}
	var health []monitor.ServerHealth
	if a.Monitor != nil {
		health = healthSource(a.Monitor).Servers()
	}
	byAddr := make(map[string]*monitor.ServerHealth, len(health))
	for i := range health {
		byAddr[health[i].Addr] = &health[i]
	}
	out := make([]serverState, 0, len(addrs))
	for addr := range addrs {
		sv := serverState{Addr: addr, Health: byAddr[addr]}
		if s := a.Pools.Stats(addr); s != nil {
			sv.ConnUsed, sv.ConnFree, sv.InFlight, sv.MaxConnUsed = s.ConnUsed.Load(), s.ConnFree.Load(),
				s.InFlight.Load(), s.MaxConnUsed.Load()
			sv.ConnOK, sv.ConnERR, sv.Queries = s.ConnOK.Load(), s.ConnERR.Load(), s.Queries.Load()
			sv.BytesSent, sv.BytesRecv, sv.LatUs = s.BytesSent.Load(), s.BytesRecv.Load(), s.LatencyUs.Load()
			sv.GTIDSync, sv.ReuseWaits, sv.StallWaits = s.GTIDSync.Load(), s.ReuseWaits.Load(), s.StallWaits.Load()
		}
		out = append(out, sv)
	}
	slices.SortFunc(out, func(x, y serverState) int { return cmp.Compare(x.Addr, y.Addr) })
	return out
}

// gatherCounters copies the process-wide counters.
func (a *App) gatherCounters() counters {
	s := a.Stats
	c := counters{Sessions: s.Sessions.Load(), SessionsCreated: s.SessionsCreated.Load(),
		AuthFailures: s.AuthFailures.Load(), Panics: s.Panics.Load(), Queries: s.Queries.Load(),
		BackendErrs: s.BackendErrs.Load(), ToReader: s.ToReader.Load(), ToWriter: s.ToWriter.Load(),
		ReaderFallbacks: s.ReaderFallbacks.Load(), RYWWaits: s.RYWWaits.Load(), RYWFallbacks: s.RYWFallbacks.Load(),
		StateLost: s.StateLost.Load(), ReplyCut: s.ReplyCut.Load(), ReadRetries: s.ReadRetries.Load(),
		ReadRetryFailures: s.ReadRetryFailures.Load(), FailoverWaits: s.FailoverWaits.Load(),
		ConnLimitErrs: s.ConnLimitErrs.Load(), QueryTimeouts: s.QueryTimeouts.Load(),
		ParseErrors: router.ParseErrors(), SlowQueries: a.recorder.SlowQueries(),
		TxnDetached: s.TxnDetached.Load(), Replay: replayCounters(&s.Replay)}
	c.RYWWaitCounts, c.RYWWaitSum = s.RYWWait.Snapshot()
	for i := range session.LoginFailureNames() {
		c.LoginFailures = append(c.LoginFailures, s.LoginFailureCount(session.LoginFailure(i)))
	}
	for i := range session.PinReasonNames() {
		c.Pins = append(c.Pins, s.Pins[i].Load())
	}
	for i := range router.NumReasons {
		c.Routes = append(c.Routes, s.Routes[i].Load())
	}
	if a.Monitor != nil {
		c.MonitorImmediateChecks = a.Monitor.Wakeups()
	}
	if a.Cache != nil {
		c.CacheHits, c.CacheMisses = a.Cache.Stats()
		c.CacheEntries = a.Cache.Len()
	}
	return c
}
