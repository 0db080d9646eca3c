package app

import (
	"cmp"
	"slices"
	"sync"
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

// recorders and httpServers hold each App's query recorder and HTTP
// listener. TODO(lead): these can become App fields (recorder
// *metrics.Recorder, http *web.Server); they live here so that this file
// needs no change to app.go.
var (
	recorders   sync.Map // *App → *metrics.Recorder
	httpServers sync.Map // *App → *web.Server
)

// Recorder returns the App's per-request recorder (latency histograms and
// error counts by hostgroup and backend, the slow query log), creating it
// on first use. The sessions feed it (session.Deps.Observer); StartHTTP
// exports it.
func (a *App) Recorder() *metrics.Recorder {
	if v, ok := recorders.Load(a); ok {
		return v.(*metrics.Recorder)
	}
	r := metrics.NewRecorder(metrics.RecorderOptions{
		SlowThreshold: func() time.Duration { return a.Store.Current().Log.SlowQueryThreshold },
		SlowLog:       a.lg.Named("slowlog"),
	})
	v, _ := recorders.LoadOrStore(a, r)
	return v.(*metrics.Recorder)
}

// HTTPOptions are the HTTP listener's optional parts.
type HTTPOptions struct {
	// Listen, when set, is used instead of http.listen (tests: "127.0.0.1:0").
	Listen string
	// Cluster lists the cluster's members for /metrics and the dashboard;
	// nil means not clustered.
	Cluster metrics.ClusterView
}

// StartHTTP opens the HTTP listener on http.listen (/metrics, /healthz,
// /readyz, /api/status, the dashboard, /debug/pprof/ while http.pprof is
// on) and serves it. An empty address does nothing. Call it after Start; a
// second call does nothing. CloseHTTP stops it.
func (a *App) StartHTTP(o HTTPOptions) error {
	if _, ok := httpServers.Load(a); ok {
		return nil
	}
	listen := cmp.Or(o.Listen, a.Store.Current().HTTP.Listen)
	if listen == "" {
		return nil
	}
	src := &obsSource{a: a, cluster: o.Cluster}
	reg := prometheus.NewRegistry()
	reg.MustRegister(metrics.NewCollector(src), a.Recorder(),
		collectors.NewGoCollector(), collectors.NewProcessCollector(collectors.ProcessCollectorOpts{}))
	if a.Tracer != nil {
		reg.MustRegister(a.Tracer)
	}
	reg.MustRegister(metrics.NewQueryCacheCollector(a.queryCacheMetrics))
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
	if _, loaded := httpServers.LoadOrStore(a, s); loaded {
		return s.Close()
	}
	s.Start()
	return nil
}

// HTTPAddr is the HTTP listener's address, "" before StartHTTP.
func (a *App) HTTPAddr() string {
	if v, ok := httpServers.Load(a); ok {
		return v.(*web.Server).Addr()
	}
	return ""
}

// CloseHTTP stops the HTTP listener and forgets the App's recorder
// (idempotent). App.Close calls it.
func (a *App) CloseHTTP() error {
	recorders.Delete(a)
	v, ok := httpServers.LoadAndDelete(a)
	if !ok {
		return nil
	}
	return v.(*web.Server).Close()
}

// healthSource is what the endpoints read of the monitor.
type healthSource interface {
	Servers() []monitor.ServerHealth
}

var _ healthSource = (*monitor.Monitor)(nil)

// obsSource is the App as the metrics and the dashboard see it.
type obsSource struct {
	a       *App
	cluster metrics.ClusterView
}

var _ web.Source = (*obsSource)(nil)

// Sample implements metrics.Source.
func (o *obsSource) Sample() metrics.Sample {
	a := o.a
	v := a.Store.Versioned()
	snap := a.topo.Load()
	if snap == nil {
		snap = topology.FromConfig(v.Config)
	}
	s := metrics.Sample{Time: time.Now(), ConfigVersion: v.Version, ConfigOrigin: v.Origin,
		Hostgroups: hostgroupRoles(v.Config, snap), Backends: placements(snap, a.BalanceStats())}
	var health []monitor.ServerHealth
	if a.Monitor != nil {
		health = healthSource(a.Monitor).Servers()
	}
	s.Servers = o.servers(v.Config, snap, health)
	s.Proxy = o.proxyCounters()
	s.Paused = a.listener.Paused()
	for i := range router.NumReasons {
		s.Routes = append(s.Routes, metrics.Count{Name: router.Reason(i).String(), Value: a.Stats.Routes[i].Load()})
	}
	for i, name := range session.LoginFailureNames() {
		s.LoginFailures = append(s.LoginFailures, metrics.Count{Name: name,
			Value: a.Stats.LoginFailureCount(session.LoginFailure(i))})
	}
	bi := buildinfo.Get()
	s.Build = metrics.Build{Version: bi.Version, Commit: bi.Commit, Date: bi.Date, GoVersion: bi.GoVersion}
	for i, name := range session.PinReasonNames() {
		s.Pins = append(s.Pins, metrics.Count{Name: name, Value: a.Stats.Pins[i].Load()})
	}
	s.Rules = a.rulesSample()
	if o.cluster != nil {
		s.Members = o.cluster.Members()
		s.ClusterRejectedRecords = o.cluster.RejectedRecords()
		if s.Members == nil {
			s.Members = []metrics.Member{}
		}
	}
	return s
}

func (o *obsSource) proxyCounters() metrics.Proxy {
	st := o.a.Stats
	p := metrics.Proxy{
		ClientConnections: st.Sessions.Load(), AuthFailures: st.AuthFailures.Load(), Panics: st.Panics.Load(),
		Queries: st.Queries.Load(), BackendErrors: st.BackendErrs.Load(),
		ToReader: st.ToReader.Load(), ToWriter: st.ToWriter.Load(), ReaderFallbacks: st.ReaderFallbacks.Load(),
		RYWWaits: st.RYWWaits.Load(), RYWFallbacks: st.RYWFallbacks.Load(), FailoverWaits: st.FailoverWaits.Load(),
		QueryTimeouts: st.QueryTimeouts.Load(),
		ReadRetries:   st.ReadRetries.Load(), ReadRetryFailures: st.ReadRetryFailures.Load(), ReplyCut: st.ReplyCut.Load(),
		ParseErrors: router.ParseErrors(),
		RYWWait:     rywWaitHistogram(st),
	}
	if c := o.a.Cache; c != nil {
		p.CacheHits, p.CacheMisses = c.Stats()
		p.CacheEntries = c.Len()
	}
	p.Replay = replayCounters(&st.Replay)
	return p
}

// servers copies the pool counters and monitor health of every server in
// the snapshot or the configuration, by address.
func (o *obsSource) servers(c *config.Config, snap *topology.Snapshot, health []monitor.ServerHealth) []metrics.Server {
	addrs := make(map[string]bool)
	for _, bs := range snap.Hostgroups {
		for _, b := range bs {
			addrs[b.Addr] = true
		}
	}
	for _, sv := range c.Servers {
		addrs[topology.Addr(sv.Host, sv.Port)] = true
	}
	byAddr := make(map[string]*monitor.ServerHealth, len(health))
	for i := range health {
		byAddr[health[i].Addr] = &health[i]
	}
	out := make([]metrics.Server, 0, len(addrs))
	for addr := range addrs {
		sv := metrics.Server{Addr: addr}
		if st := o.a.Pools.Stats(addr); st != nil {
			sv.ConnUsed, sv.ConnFree, sv.InFlight = st.ConnUsed.Load(), st.ConnFree.Load(), st.InFlight.Load()
			sv.ConnCreated, sv.ConnFailed, sv.Queries = st.ConnOK.Load(), st.ConnERR.Load(), st.Queries.Load()
			sv.BytesSent, sv.BytesRecv, sv.LatencyUs = st.BytesSent.Load(), st.BytesRecv.Load(), st.LatencyUs.Load()
		}
		if h := byAddr[addr]; h != nil && !h.LastPing.IsZero() {
			sv.Checked, sv.PingFailures, sv.PingError = true, h.ConsecutiveFailures, h.PingError
			sv.PingLatency = h.PingLatency
		}
		out = append(out, sv)
	}
	slices.SortFunc(out, func(x, y metrics.Server) int { return cmp.Compare(x.Addr, y.Addr) })
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

// rywWaitHistogram copies the read-your-writes wait histogram.
func rywWaitHistogram(st *session.Stats) metrics.Histogram {
	counts, sum := st.RYWWait.Snapshot()
	h := metrics.Histogram{Counts: counts, SumSeconds: sum.Seconds()}
	for _, b := range session.RYWWaitBounds {
		h.Bounds = append(h.Bounds, b.Seconds())
	}
	return h
}
