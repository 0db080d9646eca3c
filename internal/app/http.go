package app

import (
	"cmp"
	"slices"
	"time"

	"github.com/prometheus/client_golang/prometheus"
	"github.com/prometheus/client_golang/prometheus/collectors"

	"github.com/rwproxy/rwproxy/config"
	"github.com/rwproxy/rwproxy/internal/buildinfo"
	"github.com/rwproxy/rwproxy/metrics"
	"github.com/rwproxy/rwproxy/monitor"
	"github.com/rwproxy/rwproxy/router"
	"github.com/rwproxy/rwproxy/session"
	"github.com/rwproxy/rwproxy/topology"
	"github.com/rwproxy/rwproxy/web"
)

// Recorder returns the App's per-request recorder (latency histograms and
// error counts by hostgroup and backend, the slow query log). The sessions
// feed it (session.Deps.Observer); the HTTP listener exports it.
func (a *App) Recorder() *metrics.Recorder { return a.recorder }

// newRecorder makes the recorder New keeps: its slow query threshold
// follows log.slow_query_threshold.
func (a *App) newRecorder() *metrics.Recorder {
	return metrics.NewRecorder(metrics.RecorderOptions{
		SlowThreshold: func() time.Duration { return a.Store.Current().Log.SlowQueryThreshold },
		SlowLog:       a.lg.Named("slowlog"),
	})
}

// HTTPOptions are the HTTP listener's optional parts.
type HTTPOptions struct {
	// Listen, when set, is used instead of http.listen (tests: "127.0.0.1:0").
	Listen string
	// Extra collectors are exported beside the proxy's (the upgrade
	// counters of cmd/rwproxy).
	Extra []prometheus.Collector
}

// StartHTTP opens the HTTP listener on http.listen (/metrics, /healthz,
// /readyz, /api/status, the dashboard, /debug/pprof/ while http.pprof is
// on) and serves it. An empty address does nothing. Start calls it for
// WithHTTP; a test may add the listener to a running App. A second call
// does nothing; Close (or CloseHTTP) stops it.
func (a *App) StartHTTP(o HTTPOptions) error {
	if a.http.Load() != nil {
		return nil
	}
	listen := cmp.Or(o.Listen, a.Store.Current().HTTP.Listen)
	if listen == "" {
		return nil
	}
	src := &obsSource{a: a}
	reg := prometheus.NewRegistry()
	reg.MustRegister(metrics.NewCollector(src), a.Recorder(),
		collectors.NewGoCollector(), collectors.NewProcessCollector(collectors.ProcessCollectorOpts{}))
	if a.Tracer != nil {
		reg.MustRegister(a.Tracer)
	}
	reg.MustRegister(metrics.NewQueryCacheCollector(a.queryCacheMetrics))
	reg.MustRegister(o.Extra...)
	s, err := web.New(web.Options{
		Listen: listen, Source: src, Gatherer: reg, Log: a.lg.Named("http"),
		PProf:   func() bool { return a.Store.Current().HTTP.PProf },
		Capture: adminRuntime{a: a},
		Credentials: func() (string, string) {
			ad := a.Store.Current().Admin
			return ad.Username, ad.Password
		},
	})
	if err != nil {
		return err
	}
	if !a.http.CompareAndSwap(nil, s) {
		return s.Close()
	}
	s.Start()
	return nil
}

// HTTPAddr is the HTTP listener's address, "" before StartHTTP.
func (a *App) HTTPAddr() string {
	if s := a.http.Load(); s != nil {
		return s.Addr()
	}
	return ""
}

// CloseHTTP stops the HTTP listener (idempotent). App.Close calls it.
func (a *App) CloseHTTP() error {
	if s := a.http.Swap(nil); s != nil {
		return s.Close()
	}
	return nil
}

// healthSource is what the endpoints read of the monitor.
type healthSource interface {
	Servers() []monitor.ServerHealth
}

var _ healthSource = (*monitor.Monitor)(nil)

// obsSource is the App as the metrics and the dashboard see it.
type obsSource struct{ a *App }

var _ web.Source = (*obsSource)(nil)

// Sample implements metrics.Source: the read model, gathered once,
// projected by sample.
func (o *obsSource) Sample() metrics.Sample {
	s := sample(o.a.gather(0))
	s.Rules = o.a.rulesSample() // the rules' actions, mirror and firewall (rules24.go)
	return s
}

// sample projects st into metrics.Sample (/metrics, /api/status, the
// dashboard).
func sample(st *runtimeState) metrics.Sample {
	snap := st.Topology
	if snap == nil {
		snap = topology.FromConfig(st.Config)
	}
	s := metrics.Sample{Time: st.At, ConfigVersion: st.Version, ConfigOrigin: st.Origin,
		Hostgroups: hostgroupRoles(st.Config, snap), Backends: placements(snap, st.Balance),
		Servers: sampleServers(st.Servers), Proxy: sampleProxy(&st.Counters)}
	s.Paused = st.Paused
	c := &st.Counters
	for i := range router.NumReasons {
		s.Routes = append(s.Routes, metrics.Count{Name: router.Reason(i).String(), Value: c.Routes[i]})
	}
	for i, name := range session.LoginFailureNames() {
		s.LoginFailures = append(s.LoginFailures, metrics.Count{Name: name, Value: c.LoginFailures[i]})
	}
	bi := buildinfo.Get()
	s.Build = metrics.Build{Version: bi.Version, Commit: bi.Commit, Date: bi.Date, GoVersion: bi.GoVersion}
	for i, name := range session.PinReasonNames() {
		s.Pins = append(s.Pins, metrics.Count{Name: name, Value: c.Pins[i]})
	}
	if st.Cluster != nil {
		s.Members, s.ClusterRejectedRecords = sampleMembers(st.Cluster), st.Cluster.Rejected
	}
	return s
}

// sampleMembers lists the cluster's members, each with the highest module
// version it runs; empty, not nil, while the node is not running.
func sampleMembers(c *clusterState) []metrics.Member {
	versions := map[string]uint64{}
	for _, m := range c.Modules {
		versions[m.Node] = max(versions[m.Node], m.Version)
	}
	out := []metrics.Member{}
	for _, m := range c.Members {
		out = append(out, metrics.Member{Name: m.Name, Addr: m.Addr, State: m.State,
			ConfigVersion: versions[m.Name], Self: m.Local})
	}
	return out
}

func sampleProxy(c *counters) metrics.Proxy {
	p := metrics.Proxy{
		ClientConnections: c.Sessions, AuthFailures: c.AuthFailures, Panics: c.Panics,
		Queries: c.Queries, BackendErrors: c.BackendErrs,
		ToReader: c.ToReader, ToWriter: c.ToWriter, ReaderFallbacks: c.ReaderFallbacks,
		RYWWaits: c.RYWWaits, RYWFallbacks: c.RYWFallbacks, FailoverWaits: c.FailoverWaits,
		QueryTimeouts: c.QueryTimeouts,
		ReadRetries:   c.ReadRetries, ReadRetryFailures: c.ReadRetryFailures, ReplyCut: c.ReplyCut,
		ParseErrors: c.ParseErrors, CacheHits: c.CacheHits, CacheMisses: c.CacheMisses, CacheEntries: c.CacheEntries,
		RYWWait: metrics.Histogram{Counts: c.RYWWaitCounts, SumSeconds: c.RYWWaitSum.Seconds()},
	}
	for _, b := range session.RYWWaitBounds {
		p.RYWWait.Bounds = append(p.RYWWait.Bounds, b.Seconds())
	}
	p.Replay = c.Replay
	p.MonitorImmediateChecks = c.MonitorImmediateChecks
	return p
}

// sampleServers projects the servers' pool counters and health; a server
// the monitor has not pinged yet is not Checked.
func sampleServers(servers []serverState) []metrics.Server {
	out := make([]metrics.Server, 0, len(servers))
	for _, sv := range servers {
		m := metrics.Server{Addr: sv.Addr, ConnUsed: sv.ConnUsed, ConnFree: sv.ConnFree, InFlight: sv.InFlight,
			ConnCreated: sv.ConnOK, ConnFailed: sv.ConnERR, Queries: sv.Queries, ReuseWaits: sv.ReuseWaits, StallWaits: sv.StallWaits,
			BytesSent: sv.BytesSent, BytesRecv: sv.BytesRecv, LatencyUs: sv.LatUs}
		if h := sv.Health; h != nil && !h.LastPing.IsZero() {
			m.Checked, m.PingFailures, m.PingError, m.PingLatency = true, h.ConsecutiveFailures, h.PingError, h.PingLatency
		}
		out = append(out, m)
	}
	return out
}

// placements lists the snapshot's backends by hostgroup, then address.
func placements(snap *topology.Snapshot, bal []BalanceStat) []metrics.Backend {
	type key struct {
		hg   int
		addr string
	}
	byKey := make(map[key]BalanceStat, len(bal))
	for _, b := range bal {
		byKey[key{b.Hostgroup, b.Addr}] = b
	}
	var out []metrics.Backend
	for _, bs := range snap.Hostgroups {
		for _, b := range bs {
			bs := byKey[key{b.Hostgroup, b.Addr}]
			out = append(out, metrics.Backend{Hostgroup: b.Hostgroup, Addr: b.Addr, State: string(b.State),
				Weight: b.Weight, MaxConnections: b.MaxConnections, LagSeconds: b.LagSeconds, ReadOnly: b.ReadOnly,
				EffectiveWeight: bs.EffectiveWeight, LatencyAvgUs: bs.LatencyUs})
		}
	}
	slices.SortFunc(out, func(x, y metrics.Backend) int {
		return cmp.Or(cmp.Compare(x.Hostgroup, y.Hostgroup), cmp.Compare(x.Addr, y.Addr))
	})
	return out
}

// hostgroupRoles names what each hostgroup of c or snap is for. A
// hostgroup named in several places takes the first role of writer,
// backup_writer, reader, offline.
func hostgroupRoles(c *config.Config, snap *topology.Snapshot) []metrics.Hostgroup {
	rank := map[string]int{metrics.RoleWriter: 4, metrics.RoleBackupWriter: 3, metrics.RoleReader: 2, metrics.RoleOffline: 1}
	hgs := make(map[int]*metrics.Hostgroup)
	get := func(id int) *metrics.Hostgroup {
		if h := hgs[id]; h != nil {
			return h
		}
		h := &metrics.Hostgroup{ID: id, Role: metrics.RoleOther}
		hgs[id] = h
		return h
	}
	set := func(id int, role string) {
		if h := get(id); rank[role] > rank[h.Role] {
			h.Role = role
		}
	}
	for _, rh := range c.ReplicationHostgroups {
		set(rh.WriterHostgroup, metrics.RoleWriter)
		set(rh.ReaderHostgroup, metrics.RoleReader)
	}
	for _, g := range c.GroupReplicationHostgroups {
		if g.IsActive() {
			set(g.WriterHostgroup, metrics.RoleWriter)
			set(g.BackupWriterHostgroup, metrics.RoleBackupWriter)
			set(g.ReaderHostgroup, metrics.RoleReader)
			set(g.OfflineHostgroup, metrics.RoleOffline)
		}
	}
	for _, u := range c.Users {
		if u.IsActive() {
			get(u.DefaultHostgroup).Default = true
		}
	}
	for _, sv := range c.Servers {
		get(sv.Hostgroup)
	}
	for id := range snap.Hostgroups {
		get(id)
	}
	out := make([]metrics.Hostgroup, 0, len(hgs))
	for _, h := range hgs {
		out = append(out, *h)
	}
	slices.SortFunc(out, func(x, y metrics.Hostgroup) int { return cmp.Compare(x.ID, y.ID) })
	return out
}

// TopDigests implements web.Source: the n most executed digests.
func (o *obsSource) TopDigests(n int) []web.Digest {
	if o.a.Digests == nil {
		return nil
	}
	all := o.a.Digests.Snapshot()
	slices.SortFunc(all, func(x, y session.DigestStat) int {
		return cmp.Or(cmp.Compare(y.Count, x.Count), cmp.Compare(y.SumTimeUs, x.SumTimeUs), cmp.Compare(x.Digest, y.Digest))
	})
	out := make([]web.Digest, 0, min(n, len(all)))
	for _, d := range all[:min(n, len(all))] {
		out = append(out, web.Digest{Hostgroup: d.Hostgroup, Schema: d.Schema, User: d.User, Digest: d.Digest,
			Count: d.Count, SumTimeUs: d.SumTimeUs, MinTimeUs: d.MinTimeUs, MaxTimeUs: d.MaxTimeUs, LastSeen: d.LastSeen})
	}
	return out
}
