package monitor

import (
	"context"
	"reflect"
	"slices"
	"sync"
	"sync/atomic"
	"time"

	"go.uber.org/zap"

	"github.com/rwproxy/rwproxy/config"
	"github.com/rwproxy/rwproxy/topology"
)

// Monitor checks the configured backends and publishes topology snapshots.
// Create it with New, start the checkers with Start, feed configuration
// changes to Update and stop it with Close.
type Monitor struct {
	lg     *zap.Logger
	ctx    context.Context
	cancel context.CancelFunc
	wg     sync.WaitGroup
	snap   atomic.Pointer[topology.Snapshot]
	logs   *checkLogs
	// tlsFor decides TLS for each monitor dial (tls.go); nil: plain.
	tlsFor atomic.Pointer[TLSFunc]
	// urgentUntil (unix ns) ends the frequent checks CheckNow asked for;
	// lastWake is when it last woke the checkers (urgent.go).
	urgentUntil, lastWake atomic.Int64
	wakeups               atomic.Uint64

	mu struct {
		sync.Mutex
		plan     *plan
		health   map[string]*health  // by addr
		checkers map[string]*checker // by addr, the live one
		subs     map[chan *topology.Snapshot]struct{}
		started  bool
		closed   bool
	}
}

// New builds a monitor for cfg (not nil; validated, or at least
// FillDefaults'd). It starts no goroutine: Snapshot returns the configured
// placement (nothing checked yet) until Start. lg may be nil.
func New(cfg *config.Config, lg *zap.Logger) *Monitor {
	if lg == nil {
		lg = zap.NewNop()
	}
	m := &Monitor{lg: lg.Named("monitor"), logs: newCheckLogs()}
	m.ctx, m.cancel = context.WithCancel(context.Background())
	m.mu.plan = newPlan(cfg)
	m.mu.health = make(map[string]*health)
	m.mu.checkers = make(map[string]*checker)
	m.mu.subs = make(map[chan *topology.Snapshot]struct{})
	snap, _ := place(m.mu.plan, nil, m.mu.health)
	m.snap.Store(snap)
	return m
}

// Start starts one checker goroutine per server. Calling it again, or
// after Close, does nothing.
func (m *Monitor) Start() {
	m.mu.Lock()
	defer m.mu.Unlock()
	if m.mu.started || m.mu.closed {
		return
	}
	m.mu.started = true
	for _, sp := range m.mu.plan.servers {
		m.startChecker(m.mu.plan.spec(sp))
	}
	m.lg.Info("monitor started", zap.Int("servers", len(m.mu.plan.servers)))
}

// startChecker starts a checker for spec. Called with mu held, not closed.
func (m *Monitor) startChecker(spec checkSpec) {
	c := newChecker(m, spec)
	ctx, cancel := context.WithCancel(m.ctx)
	c.cancel = cancel
	m.mu.checkers[spec.addr] = c
	m.wg.Go(func() { c.run(ctx) })
}

// Update applies a new configuration: checkers of removed servers stop,
// new servers get one, a server whose checks changed (credentials,
// timeout, intervals, check type, heartbeat table, use_tls or the
// tls.backend_* settings) gets a fresh one, and
// the snapshot is rebuilt at once (new servers appear as configured,
// removed ones disappear). Health already observed is kept for servers
// that stay.
func (m *Monitor) Update(cfg *config.Config) {
	p := newPlan(cfg)
	m.mu.Lock()
	defer m.mu.Unlock()
	if m.mu.closed {
		return
	}
	m.mu.plan = p
	stopped, started := 0, 0
	for addr, c := range m.mu.checkers {
		if sp := p.byAddr[addr]; sp == nil || p.spec(sp) != c.spec {
			c.cancel()
			delete(m.mu.checkers, addr)
			stopped++
		}
	}
	for addr, h := range m.mu.health {
		sp := p.byAddr[addr]
		switch {
		case sp == nil:
			delete(m.mu.health, addr)
		case len(sp.grs) == 0 && !p.wantsReplicaStatus(sp, h):
			h.clearLag()
		}
	}
	if m.mu.started {
		for _, sp := range p.servers {
			if m.mu.checkers[sp.addr] == nil {
				m.startChecker(p.spec(sp))
				started++
			}
		}
	}
	m.republish()
	if stopped+started > 0 {
		m.lg.Info("monitor configuration applied", zap.Int("servers", len(p.servers)),
			zap.Int("checkers_stopped", stopped), zap.Int("checkers_started", started))
	}
}

// Snapshot returns the current topology; never nil. The snapshot is
// immutable and shared: do not modify it.
func (m *Monitor) Snapshot() *topology.Snapshot { return m.snap.Load() }

// Subscribe returns a channel of snapshots and a function that unsubscribes
// (and closes the channel; safe to call more than once, also after Close).
// The channel is buffered(1) and latest-wins: a slow reader skips
// intermediate snapshots but always gets the newest. It starts out holding
// the current snapshot. Close closes every subscribed channel.
func (m *Monitor) Subscribe() (<-chan *topology.Snapshot, func()) {
	ch := make(chan *topology.Snapshot, 1)
	m.mu.Lock()
	ch <- m.snap.Load()
	if m.mu.closed {
		close(ch)
	} else {
		m.mu.subs[ch] = struct{}{}
	}
	m.mu.Unlock()
	var once sync.Once
	return ch, func() {
		once.Do(func() {
			m.mu.Lock()
			defer m.mu.Unlock()
			if _, ok := m.mu.subs[ch]; ok {
				delete(m.mu.subs, ch)
				close(ch)
			}
		})
	}
}

// Close stops every checker, waits for them and closes the subscribed
// channels. The last snapshot stays readable. It always returns nil.
func (m *Monitor) Close() error {
	m.mu.Lock()
	if !m.mu.closed {
		m.mu.closed = true
		m.cancel()
		for ch := range m.mu.subs {
			delete(m.mu.subs, ch)
			close(ch)
		}
	}
	m.mu.Unlock()
	m.wg.Wait()
	return nil
}

// Log returns up to limit recent checks of one kind (KindPing,
// KindReadOnly, KindReplicationLag, KindGroupReplication), newest first;
// limit <= 0 returns all that are kept (LogCapacity). An unknown kind
// returns nil.
func (m *Monitor) Log(kind string, limit int) []LogEntry { return m.logs.newest(kind, limit) }

func (m *Monitor) record(kind string, e LogEntry) { m.logs.add(kind, e) }

// current reports whether c is its server's live checker. Called by c.
func (m *Monitor) current(c *checker) bool {
	m.mu.Lock()
	defer m.mu.Unlock()
	return m.isCurrent(c)
}

func (m *Monitor) isCurrent(c *checker) bool {
	return !m.mu.closed && m.mu.checkers[c.spec.addr] == c
}

// healthOf returns the server's health, creating it. Called with mu held.
func (m *Monitor) healthOf(addr string) *health {
	h := m.mu.health[addr]
	if h == nil {
		h = newHealth()
		m.mu.health[addr] = h
	}
	return h
}

// wantsLag reports whether c's server is in a reader role under a lag
// limit now, so that its lag must be checked.
func (m *Monitor) wantsLag(c *checker) bool {
	m.mu.Lock()
	defer m.mu.Unlock()
	sp := m.mu.plan.byAddr[c.spec.addr]
	return m.isCurrent(c) && sp != nil && m.mu.plan.wantsReplicaStatus(sp, m.healthOf(sp.addr))
}

// observePing applies a ping result and returns the consecutive failures.
func (m *Monitor) observePing(c *checker, err error, latency time.Duration, at time.Time) int {
	m.mu.Lock()
	defer m.mu.Unlock()
	if !m.isCurrent(c) {
		return 0
	}
	h := m.healthOf(c.spec.addr)
	h.observePing(err, latency, at, m.mu.plan.set.shunAfter)
	m.republish()
	return h.pingFails
}

// observeReadOnly applies a read-only check (err: the server's error).
func (m *Monitor) observeReadOnly(c *checker, vals map[string]bool, err error) {
	m.mu.Lock()
	defer m.mu.Unlock()
	sp := m.mu.plan.byAddr[c.spec.addr]
	if !m.isCurrent(c) || sp == nil {
		return
	}
	h := m.healthOf(sp.addr)
	h.observeReadOnly(vals, err)
	if len(sp.grs) == 0 && !m.mu.plan.wantsReplicaStatus(sp, h) {
		h.clearLag() // now a writer: its old lag state must not follow it back
	}
	m.republish()
}

// observeLag applies a lag sample, unless the server left its reader role
// while the check ran.
func (m *Monitor) observeLag(c *checker, s lagSample, at time.Time) {
	m.mu.Lock()
	defer m.mu.Unlock()
	p := m.mu.plan
	sp := p.byAddr[c.spec.addr]
	if !m.isCurrent(c) || sp == nil {
		return
	}
	h := m.healthOf(sp.addr)
	if !p.wantsReplicaStatus(sp, h) {
		return
	}
	if s.notReplica && len(sp.pairs) == 0 && len(sp.grs) == 0 {
		// A server outside any replication pair that replicates from
		// nothing (a standalone primary with max_replication_lag set)
		// cannot lag: as in ProxySQL, no lag is no reason to shun it.
		s = lagSample{lag: 0}
	}
	h.observeLag(s, at, sp.readerLimits, p.set.lagShunAfter, p.set.lagUnshunAfter)
	m.republish()
}

// observeGR applies a group replication check (m nil: no member row).
func (m *Monitor) observeGR(c *checker, mem *grMember, err error, at time.Time) {
	m.mu.Lock()
	defer m.mu.Unlock()
	p := m.mu.plan
	sp := p.byAddr[c.spec.addr]
	if !m.isCurrent(c) || sp == nil || len(sp.grs) == 0 {
		return
	}
	pol := grPolicy{
		maxTxBehind: p.grs[sp.grs[0]].MaxTransactionsBehind, limits: sp.readerLimits,
		lagShunAfter: p.set.lagShunAfter, lagUnshunAfter: p.set.lagUnshunAfter,
	}
	m.healthOf(sp.addr).observeGR(mem, err, at, pol)
	m.republish()
}

// republish rebuilds the snapshot and, when it changed, logs the
// transitions, swaps it in and notifies subscribers. Called with mu held.
func (m *Monitor) republish() {
	cur := m.snap.Load()
	next, whys := place(m.mu.plan, cur, m.mu.health)
	if reflect.DeepEqual(cur.Hostgroups, next.Hostgroups) {
		return
	}
	m.logTransitions(cur, next, whys)
	m.snap.Store(next)
	for ch := range m.mu.subs {
		select { // latest wins: drop the unread older snapshot
		case <-ch:
		default:
		}
		ch <- next // cannot block: buffer 1, only sender, under mu
	}
}

// logTransitions writes one line per server that moved between hostgroups
// and one per backend whose state changed: Warn when it left ONLINE, Info
// when it came back.
func (m *Monitor) logTransitions(old, next *topology.Snapshot, whys map[bkey]why) {
	oldBy, newBy := byAddr(old), byAddr(next)
	for _, sp := range m.mu.plan.servers {
		ob, nb := oldBy[sp.addr], newBy[sp.addr]
		ohgs, nhgs := sortedKeys(ob), sortedKeys(nb)
		if len(ohgs) > 0 && len(nhgs) > 0 && !slices.Equal(ohgs, nhgs) {
			m.lg.Info("backend moved", zap.String("backend_addr", sp.addr),
				zap.Ints("old_hostgroups", ohgs), zap.Ints("new_hostgroups", nhgs),
				zap.String("reason", whys[bkey{nhgs[0], sp.addr}].where))
		}
		if len(ohgs) == 0 {
			continue // new server: nothing to compare with
		}
		for _, hg := range nhgs {
			b := nb[hg]
			was, ok := ob[hg]
			if !ok {
				was = worst(ob)
			}
			if was.State == b.State {
				continue
			}
			w := whys[bkey{hg, sp.addr}]
			fields := []zap.Field{zap.String("backend_addr", sp.addr), zap.Int("hostgroup", hg),
				zap.String("old_state", string(was.State)), zap.String("new_state", string(b.State))}
			if b.State == topology.StateOnline {
				m.lg.Info("backend state changed", append(fields, zap.String("reason", "checks passed; "+w.where))...)
			} else {
				m.lg.Warn("backend state changed", append(fields, zap.String("reason", w.state))...)
			}
		}
	}
}

// byAddr indexes a snapshot: addr → hostgroup → backend.
func byAddr(s *topology.Snapshot) map[string]map[int]topology.Backend {
	out := make(map[string]map[int]topology.Backend)
	for hg, bs := range s.Hostgroups {
		for _, b := range bs {
			if out[b.Addr] == nil {
				out[b.Addr] = make(map[int]topology.Backend)
			}
			out[b.Addr][hg] = b
		}
	}
	return out
}

func sortedKeys(m map[int]topology.Backend) []int {
	out := make([]int, 0, len(m))
	for k := range m {
		out = append(out, k)
	}
	slices.Sort(out)
	return out
}

// severity orders states from usable to cut off.
func severity(s topology.State) int {
	switch s {
	case topology.StateOnline:
		return 0
	case topology.StateShunnedLag:
		return 1
	case topology.StateShunned:
		return 2
	case topology.StateOfflineSoft:
		return 3
	}
	return 4
}

// worst returns the placement with the most severe state.
func worst(bs map[int]topology.Backend) topology.Backend {
	var out topology.Backend
	first := true
	for _, hg := range sortedKeys(bs) {
		if b := bs[hg]; first || severity(b.State) > severity(out.State) {
			out, first = b, false
		}
	}
	return out
}
