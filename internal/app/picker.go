package app

import (
	"errors"
	"math/rand/v2"
	"sort"
	"sync"
	"sync/atomic"
	"time"

	"github.com/rwproxy/rwproxy/config"
	"github.com/rwproxy/rwproxy/pool"
	"github.com/rwproxy/rwproxy/router"
	"github.com/rwproxy/rwproxy/session"
	"github.com/rwproxy/rwproxy/topology"
)

var errNoBackend = errors.New("app: no usable backend in hostgroup")

// balancer picks one of the candidates it was built from (router.SWRR,
// router.LeastOutstanding, router.Adaptive); see router/balancer.go.
type balancer interface {
	Pick(rnd func() uint64) (int, bool)
}

var (
	_ balancer = (*router.SWRR)(nil)
	_ balancer = (*router.LeastOutstanding)(nil)
	_ balancer = (*router.Adaptive)(nil)
)

// pickState is the immutable balancing view of one configuration and
// topology snapshot.
type pickState struct {
	groups map[int]*groupPick
	// servers holds every server of the snapshot by address.
	servers map[string]*serverLoad
}

// groupPick is one hostgroup's balancer and what Stats reports about it.
type groupPick struct {
	algorithm string // config.Balance*
	session   bool   // affinity: session (Keep)
	cands     []topology.Backend
	bal       balancer
	adaptive  *router.Adaptive // bal, when the algorithm is adaptive
	loads     []*serverLoad    // per candidate
}

// serverLoad is what the picker measures of one server. It outlives
// snapshots (the picker hands the same one to every new state).
type serverLoad struct {
	lat   router.LatencyEWMA
	stats atomic.Pointer[pool.ServerStats] // the pools' counters; nil until known
	// The fallback sampler's previous readings (under picker.sampleMu).
	prevStats            *pool.ServerStats
	prevQueries, prevLat uint64
}

// picker chooses a server of a hostgroup from the current topology. Pick
// and Observe run on every query, from any goroutine, without locks;
// update runs on topology and configuration changes.
type picker struct {
	state atomic.Pointer[pickState]
	clock func() int64  // monotonic ns, > 0
	rnd   func() uint64 // random source of the balancers

	// observed is set by the first Observe: from then on the latency
	// averages come from the sessions' per-response samples, and the
	// fallback sampler stops.
	observed   atomic.Bool
	nextSample atomic.Int64 // clock reading when the fallback sampler is next due
	sampleMu   sync.Mutex

	mu struct {
		sync.Mutex
		counters map[int]*router.Counter // round-robin positions by hostgroup
		servers  map[string]*serverLoad
	}
}

var (
	_ session.Picker           = (*picker)(nil)
	_ session.LastResortPicker = (*picker)(nil)
	_ session.AffinityPicker   = (*picker)(nil)
)

func newPicker() *picker {
	base := time.Now()
	return newPickerWith(func() int64 { return int64(time.Since(base)) + 1 }, rand.Uint64)
}

func newPickerWith(clock func() int64, rnd func() uint64) *picker {
	p := &picker{clock: clock, rnd: rnd}
	p.mu.counters = make(map[int]*router.Counter)
	p.mu.servers = make(map[string]*serverLoad)
	return p
}

// update builds the balancers for snapshot snap under configuration c and
// swaps them in.
func (p *picker) update(c *config.Config, snap *topology.Snapshot, pools *pool.Manager) {
	algo := make(map[int]string)
	sticky := make(map[int]bool)
	for _, a := range c.HostgroupAttributes {
		algo[a.HostgroupID] = a.Balance
		sticky[a.HostgroupID] = a.Affinity == config.AffinitySession
	}
	opts := router.AdaptiveOptions{NoLagFactor: c.Monitor.LagWeightDecay}
	p.mu.Lock()
	defer p.mu.Unlock()
	wasUsable := make(map[string]bool)
	if old := p.state.Load(); old != nil {
		for _, g := range old.groups {
			for i := range g.cands {
				wasUsable[g.cands[i].Addr] = wasUsable[g.cands[i].Addr] || g.cands[i].Usable()
			}
		}
	}
	ps := &pickState{groups: make(map[int]*groupPick, len(snap.Hostgroups)), servers: make(map[string]*serverLoad)}
	for hg, cands := range snap.Hostgroups {
		g := &groupPick{algorithm: algo[hg], session: sticky[hg], cands: cands, loads: make([]*serverLoad, len(cands))}
		if g.algorithm == "" {
			g.algorithm = config.DefaultBalance
		}
		inflight := make([]*atomic.Int64, len(cands))
		lat := make([]*router.LatencyEWMA, len(cands))
		for i := range cands {
			s := p.server(ps, cands[i].Addr, pools)
			g.loads[i], lat[i] = s, &s.lat
			if st := s.stats.Load(); st != nil {
				inflight[i] = &st.InFlight
			}
		}
		switch g.algorithm {
		case config.BalanceLeastOutstanding:
			g.bal = router.NewLeastOutstanding(cands, inflight)
		case config.BalanceAdaptive:
			g.adaptive = router.NewAdaptive(cands, inflight, lat, opts)
			g.bal = g.adaptive
		default:
			g.bal = router.NewSWRR(cands, p.counter(hg))
		}
		ps.groups[hg] = g
	}
	// A server that comes back starts afresh: what was measured while it
	// failed says nothing about it now.
	for addr, s := range ps.servers {
		if !wasUsable[addr] {
			s.lat.Reset()
		}
	}
	p.mu.servers = ps.servers
	p.state.Store(ps)
}

// server returns addr's serverLoad, carried over from the previous state
// (under p.mu).
func (p *picker) server(ps *pickState, addr string, pools *pool.Manager) *serverLoad {
	s := ps.servers[addr]
	if s == nil {
		if s = p.mu.servers[addr]; s == nil {
			s = new(serverLoad)
		}
		ps.servers[addr] = s
	}
	if s.stats.Load() == nil && pools != nil {
		if st := pools.Stats(addr); st != nil {
			s.stats.Store(st)
		}
	}
	return s
}

// counter returns hostgroup hg's round-robin position (under p.mu).
func (p *picker) counter(hg int) *router.Counter {
	c := p.mu.counters[hg]
	if c == nil {
		c = new(router.Counter)
		p.mu.counters[hg] = c
	}
	return c
}

// Pick implements session.Picker.
func (p *picker) Pick(hg int) (string, error) {
	addr, _, err := p.PickAffinity(hg)
	return addr, err
}

// PickAffinity implements session.AffinityPicker: Pick, and whether
// hostgroup hg has session affinity.
func (p *picker) PickAffinity(hg int) (addr string, keep bool, err error) {
	ps := p.state.Load()
	g := ps.groups[hg]
	if g == nil {
		return "", false, errNoBackend
	}
	if g.adaptive != nil && !p.observed.Load() {
		p.sample(ps)
	}
	i, ok := g.bal.Pick(p.rnd)
	if !ok {
		return "", false, errNoBackend
	}
	return g.cands[i].Addr, g.session, nil
}

// Keep implements session.AffinityPicker: hostgroup hg has session
// affinity and addr is one of its usable servers (ONLINE, weight above 0,
// not shunned for lag or failed checks) in the current snapshot.
func (p *picker) Keep(hg int, addr string) bool {
	g := p.state.Load().groups[hg]
	if g == nil || !g.session {
		return false
	}
	for i := range g.cands {
		if g.cands[i].Addr == addr {
			return g.cands[i].Usable()
		}
	}
	return false
}

// LastResort implements session.LastResortPicker: for a hostgroup with no
// usable server it names one the monitor shuns for failed checks (not
// for lag, not OFFLINE, not weight 0), the heaviest first, because the
// checks can fail on a live but loaded server and trying it beats failing
// at once.
func (p *picker) LastResort(hg int) (string, error) {
	g := p.state.Load().groups[hg]
	if g == nil {
		return "", errNoBackend
	}
	best := -1
	for i := range g.cands {
		c := &g.cands[i]
		if c.State == topology.StateShunned && c.Weight > 0 && (best < 0 || c.Weight > g.cands[best].Weight) {
			best = i
		}
	}
	if best < 0 {
		return "", errNoBackend
	}
	return g.cands[best].Addr, nil
}

// Observe records that a request to the server at addr took d (from
// sending it to the end of the response). The sessions call it once per
// backend response; it is lock-free: a map read and an atomic update.
func (p *picker) Observe(addr string, d time.Duration) {
	if !p.observed.Load() {
		p.observed.Store(true)
	}
	ps := p.state.Load()
	if ps == nil {
		return
	}
	if s := ps.servers[addr]; s != nil {
		s.lat.Observe(p.clock(), d)
	}
}

// sampleEvery is the fallback sampler's period.
const sampleEvery = 100 * time.Millisecond

// sample is the fallback used until the sessions call Observe: at most
// every sampleEvery, the goroutine that wins a compare-and-swap turns each
// server's pool counters (queries and total latency since the previous
// reading) into one latency sample, the period's average. It runs inside
// Pick for adaptive hostgroups and inside Stats, so it needs no goroutine.
func (p *picker) sample(ps *pickState) {
	now := p.clock()
	next := p.nextSample.Load()
	if now < next || !p.nextSample.CompareAndSwap(next, now+int64(sampleEvery)) {
		return
	}
	if !p.sampleMu.TryLock() {
		return
	}
	defer p.sampleMu.Unlock()
	for _, s := range ps.servers {
		st := s.stats.Load()
		if st == nil {
			continue
		}
		q, l := st.Queries.Load(), st.LatencyUs.Load()
		if st == s.prevStats && q > s.prevQueries && l >= s.prevLat {
			avg := time.Duration(l-s.prevLat) * time.Microsecond / time.Duration(q-s.prevQueries)
			s.lat.Observe(now, avg)
		}
		s.prevStats, s.prevQueries, s.prevLat = st, q, l
	}
}

// BalanceStat is one server of one hostgroup as the balancer sees it, for
// the admin interface and /metrics.
type BalanceStat struct {
	Hostgroup int
	Addr      string
	// Algorithm is the hostgroup's balance (config.Balance*).
	Algorithm string
	// Weight is the server's weight in the topology snapshot (the
	// configured weight, less the monitor's lag decay when enabled).
	Weight int
	// EffectiveWeight is the weight the algorithm uses now: Weight for
	// weighted_round_robin and least_outstanding, weight × lag factor ×
	// speed for adaptive; 0 for a server that takes no traffic (not
	// ONLINE, or weight 0).
	EffectiveWeight float64
	// Outstanding is the number of requests in flight to the server
	// (all hostgroups).
	Outstanding int64
	// LatencyUs is the server's response-time average in microseconds
	// (router.LatencyEWMA); 0 before the first sample.
	LatencyUs float64
}

// BalanceStats returns what the balancers see of every server of every
// hostgroup (picker.Stats), for the admin interface and /metrics.
func (a *App) BalanceStats() []BalanceStat { return a.picker.Stats() }

// Stats returns every server of every hostgroup, ordered by hostgroup,
// then as in the snapshot.
func (p *picker) Stats() []BalanceStat {
	ps := p.state.Load()
	if ps == nil {
		return nil
	}
	if !p.observed.Load() {
		p.sample(ps)
	}
	hgs := make([]int, 0, len(ps.groups))
	for hg := range ps.groups {
		hgs = append(hgs, hg)
	}
	sort.Ints(hgs)
	var out []BalanceStat
	for _, hg := range hgs {
		g := ps.groups[hg]
		var eff []float64
		if g.adaptive != nil {
			eff = g.adaptive.Weights(nil)
		}
		for i := range g.cands {
			b := &g.cands[i]
			st := BalanceStat{Hostgroup: hg, Addr: b.Addr, Algorithm: g.algorithm, Weight: b.Weight}
			switch {
			case eff != nil:
				st.EffectiveWeight = eff[i]
			case b.Usable():
				st.EffectiveWeight = float64(b.Weight)
			}
			if s := g.loads[i].stats.Load(); s != nil {
				st.Outstanding = s.InFlight.Load()
			}
			if avg, ok := g.loads[i].lat.Average(); ok {
				st.LatencyUs = float64(avg) / float64(time.Microsecond)
			}
			out = append(out, st)
		}
	}
	return out
}
