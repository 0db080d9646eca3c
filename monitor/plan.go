package monitor

import (
	"slices"
	"strings"
	"time"

	"github.com/rwproxy/rwproxy/config"
	"github.com/rwproxy/rwproxy/topology"
)

// settings are the monitor's scalar knobs, resolved from config.Monitor.
type settings struct {
	user, password                     string
	timeout                            time.Duration
	pingEvery, readOnlyEvery, lagEvery time.Duration
	shunAfter                          int
	lagShunAfter, lagUnshunAfter       int
	heartbeat                          string
	decay                              bool
}

func newSettings(m config.Monitor) settings {
	s := settings{
		user: m.Username, password: m.Password, timeout: m.Timeout,
		pingEvery: m.PingEvery(), readOnlyEvery: m.ReadOnlyEvery(), lagEvery: m.ReplicationLagEvery(),
		shunAfter: m.ShunAfterFailures, lagShunAfter: m.LagShunAfter, lagUnshunAfter: m.LagUnshunAfter,
		heartbeat: m.HeartbeatTable, decay: m.LagWeightDecay,
	}
	// A Config that skipped FillDefaults and Validate must not make the
	// monitor spin or shun on the first failure.
	if s.timeout <= 0 {
		s.timeout = config.DefaultMonitorTimeout
	}
	for _, d := range []*time.Duration{&s.pingEvery, &s.readOnlyEvery, &s.lagEvery} {
		if *d <= 0 {
			*d = time.Second
		}
	}
	for _, n := range []struct {
		p   *int
		def int
	}{{&s.shunAfter, config.DefaultShunAfterFailures}, {&s.lagShunAfter, config.DefaultLagShunAfter},
		{&s.lagUnshunAfter, config.DefaultLagUnshunAfter}} {
		if *n.p < 1 {
			*n.p = n.def
		}
	}
	return s
}

// serverPlan is everything the configuration says about one host:port.
type serverPlan struct {
	addr string
	// order is the index of the server's first servers[] item: snapshots
	// list backends in configuration order.
	order int
	// entries are the server's servers[] items in configuration order.
	entries []config.Server
	// plain are the entries in hostgroups that no replication pair or
	// active group replication entry owns: they stay where configured.
	plain []config.Server
	// pairs and grs index plan.pairs and plan.grs: the groups the server
	// is a member of.
	pairs, grs []int
	// roVars are the read-only variables to query (check types of its pairs).
	roVars []string
	// readerLimits maps each hostgroup where the server may serve reads
	// under a lag limit to that limit (max_replication_lag > 0).
	readerLimits map[int]int
	// useTLS is the server's use_tls (Validate keeps it equal across the
	// server's items).
	useTLS bool
}

// plan is the monitor's view of one configuration: which servers exist,
// which groups they form and what to check on each. It is immutable.
type plan struct {
	set settings
	// tls holds the tls.backend_* settings (use unset).
	tls     tlsKey
	servers []*serverPlan // configuration order
	byAddr  map[string]*serverPlan
	pairs   []config.ReplicationHostgroup
	grs     []config.GroupReplicationHostgroup // active entries only
}

// newPlan derives the plan of cfg.
func newPlan(cfg *config.Config) *plan {
	p := &plan{set: newSettings(cfg.Monitor), byAddr: make(map[string]*serverPlan), pairs: cfg.ReplicationHostgroups,
		tls: tlsKey{ca: cfg.TLS.BackendCA, verifyHost: cfg.TLS.BackendVerifyHostname, skipVerify: cfg.TLS.BackendInsecureSkipVerify}}
	for _, g := range cfg.GroupReplicationHostgroups {
		if g.IsActive() {
			g.MaxWriters = max(g.MaxWriters, 1) // not validated: never zero writers
			p.grs = append(p.grs, g)
		}
	}
	pairOf, grOf := make(map[int]int), make(map[int]int)
	for i, rh := range p.pairs {
		pairOf[rh.WriterHostgroup], pairOf[rh.ReaderHostgroup] = i, i
	}
	for i, g := range p.grs {
		for _, hg := range g.Hostgroups() {
			grOf[hg] = i
		}
	}
	for i, s := range cfg.Servers {
		addr := topology.Addr(s.Host, s.Port)
		sp := p.byAddr[addr]
		if sp == nil {
			sp = &serverPlan{addr: addr, order: i, readerLimits: make(map[int]int)}
			p.byAddr[addr] = sp
			p.servers = append(p.servers, sp)
		}
		sp.entries = append(sp.entries, s)
		sp.useTLS = sp.useTLS || s.UseTLS
		if pi, ok := pairOf[s.Hostgroup]; ok {
			if !slices.Contains(sp.pairs, pi) {
				sp.pairs = append(sp.pairs, pi)
			}
		} else if gi, ok := grOf[s.Hostgroup]; ok {
			if !slices.Contains(sp.grs, gi) {
				sp.grs = append(sp.grs, gi)
			}
		} else {
			sp.plain = append(sp.plain, s)
		}
	}
	for _, sp := range p.servers {
		p.fillLimits(sp)
	}
	return p
}

// fillLimits sets the server's read-only variables and reader lag limits.
func (p *plan) fillLimits(sp *serverPlan) {
	add := func(hg int, e config.Server) {
		if e.MaxReplicationLag > 0 {
			sp.readerLimits[hg] = e.MaxReplicationLag
		}
	}
	for _, e := range sp.plain {
		add(e.Hostgroup, e)
	}
	for _, pi := range sp.pairs {
		rh := p.pairs[pi]
		add(rh.ReaderHostgroup, sp.entryFor(rh.ReaderHostgroup, rh.WriterHostgroup, rh.ReaderHostgroup))
		vars, _ := config.CheckTypeVars(rh.CheckType)
		for _, v := range vars {
			if !slices.Contains(sp.roVars, v) {
				sp.roVars = append(sp.roVars, v)
			}
		}
	}
	for _, gi := range sp.grs {
		g := p.grs[gi]
		hgs := g.Hostgroups()
		add(g.ReaderHostgroup, sp.entryFor(g.ReaderHostgroup, hgs[:]...))
	}
}

// entryFor returns the server's item to place it in hostgroup hg: its own
// item in hg if configured there, else its first item in one of the
// group's hostgroups (ProxySQL copies the row when it moves a server).
func (sp *serverPlan) entryFor(hg int, group ...int) config.Server {
	for _, e := range sp.entries {
		if e.Hostgroup == hg {
			return e
		}
	}
	for _, e := range sp.entries {
		if slices.Contains(group, e.Hostgroup) {
			return e
		}
	}
	return sp.entries[0]
}

// configuredIn reports whether the server has an item in hostgroup hg.
func (sp *serverPlan) configuredIn(hg int) bool {
	return slices.ContainsFunc(sp.entries, func(e config.Server) bool { return e.Hostgroup == hg })
}

// wantsReplicaStatus reports whether the server is in a reader role under a
// lag limit, so that SHOW REPLICA STATUS (and the heartbeat) must be
// checked: a plain item with max_replication_lag, or a pair member that
// reports read_only ON (or, not known yet, is configured as a reader).
// Group replication members get their lag from the group replication check.
func (p *plan) wantsReplicaStatus(sp *serverPlan, h *health) bool {
	for _, e := range sp.plain {
		if e.MaxReplicationLag > 0 {
			return true
		}
	}
	for _, pi := range sp.pairs {
		rh := p.pairs[pi]
		if sp.readerLimits[rh.ReaderHostgroup] == 0 {
			continue
		}
		ro, known := h.readOnly(rh.CheckType)
		if (known && ro) || (!known && sp.configuredIn(rh.ReaderHostgroup)) {
			return true
		}
	}
	return false
}

// checkSpec is what a checker goroutine needs to know about its server;
// a checker is restarted when its spec changes.
type checkSpec struct {
	addr           string
	user, password string
	timeout        time.Duration
	pingEvery      time.Duration
	readOnlyEvery  time.Duration
	lagEvery       time.Duration
	shunAfter      int
	roVars         string // comma-separated; empty: no read-only check
	gr             bool   // run the group replication check
	heartbeat      string
	tls            tlsKey
}

func (p *plan) spec(sp *serverPlan) checkSpec {
	var tk tlsKey
	if sp.useTLS {
		tk, tk.use = p.tls, true
	}
	return checkSpec{
		addr: sp.addr, user: p.set.user, password: p.set.password, timeout: p.set.timeout,
		pingEvery: p.set.pingEvery, readOnlyEvery: p.set.readOnlyEvery, lagEvery: p.set.lagEvery,
		shunAfter: p.set.shunAfter, roVars: strings.Join(sp.roVars, ","), gr: len(sp.grs) > 0,
		heartbeat: p.set.heartbeat, tls: tk,
	}
}
