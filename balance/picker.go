package balance

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
	"github.com/rwproxy/rwproxy/topology"
)

// ErrNoBackend is Pick's and LastResort's error for a hostgroup with no
// server to give.
var ErrNoBackend = errors.New("balance: no usable backend in hostgroup")

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

// group is hostgroup hg's balancer; nil for an unknown hostgroup, or
// before the first Update.
func (ps *pickState) group(hg int) *groupPick {
	if ps == nil {
		return nil
	}
	return ps.groups[hg]
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

// Picker chooses the server of each statement in a hostgroup from the
// current topology: the hostgroup's balancing algorithm, session affinity,
// the last-resort choice of a shunned server, and the latency samples the
// adaptive algorithm learns from. Pick, Keep, LastResort and Observe run
// on every statement, from any goroutine, without locks; Update runs on
// topology and configuration changes.
type Picker struct {
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

// New returns a Picker on the monotonic clock and the process's random
// source; it picks nothing until the first Update.
func New() *Picker {
	base := time.Now()
	return newWith(func() int64 { return int64(time.Since(base)) + 1 }, rand.Uint64)
}

func newWith(clock func() int64, rnd func() uint64) *Picker {
	p := &Picker{clock: clock, rnd: rnd}
	p.mu.counters = make(map[int]*router.Counter)
	p.mu.servers = make(map[string]*serverLoad)
	return p
}

// Update builds the balancers for snapshot snap under configuration c and
// swaps them in; pools gives each server's counters (in flight requests,
// the fallback latency sampler).
func (p *Picker) Update(c *config.Config, snap *topology.Snapshot, pools *pool.Manager) {
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
func (p *Picker) server(ps *pickState, addr string, pools *pool.Manager) *serverLoad {
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
func (p *Picker) counter(hg int) *router.Counter {
	c := p.mu.counters[hg]
	if c == nil {
		c = new(router.Counter)
		p.mu.counters[hg] = c
	}
	return c
}

// Pick chooses a server of hostgroup hg, and says whether hg has session
// affinity (the session keeps the server it got, see Keep).
func (p *Picker) Pick(hg int) (addr string, keep bool, err error) {
	ps := p.state.Load()
	g := ps.group(hg)
	if g == nil {
		return "", false, ErrNoBackend
	}
	if g.adaptive != nil && !p.observed.Load() {
		p.sample(ps)
	}
	i, ok := g.bal.Pick(p.rnd)
	if !ok {
		return "", false, ErrNoBackend
	}
	return g.cands[i].Addr, g.session, nil
}

// Keep reports whether hostgroup hg has session affinity and addr is one of its usable servers (ONLINE, weight above 0,
// not shunned for lag or failed checks) in the current snapshot.
func (p *Picker) Keep(hg int, addr string) bool {
	g := p.state.Load().group(hg)
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

// LastResort is for a hostgroup with no
// usable server it names one the monitor shuns for failed checks (not
// for lag, not OFFLINE, not weight 0), the heaviest first, because the
// checks can fail on a live but loaded server and trying it beats failing
// at once.
func (p *Picker) LastResort(hg int) (string, error) {
	g := p.state.Load().group(hg)
	if g == nil {
		return "", ErrNoBackend
	}
	best := -1
	for i := range g.cands {
		c := &g.cands[i]
		if c.State == topology.StateShunned && c.Weight > 0 && (best < 0 || c.Weight > g.cands[best].Weight) {
			best = i
		}
	}
	if best < 0 {
		return "", ErrNoBackend
	}
	return g.cands[best].Addr, nil
}

// Observe records that a request to the server at addr took d (from
// sending it to the end of the response). The sessions call it once per
// backend response; it is lock-free: a map read and an atomic update.
func (p *Picker) Observe(addr string, d time.Duration) {
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
func (p *Picker) sample(ps *pickState) {
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

// Stat is one server of one hostgroup as the balancer sees it, for
// the admin interface and /metrics.
type Stat struct {
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

// Stats returns every server of every hostgroup, ordered by hostgroup,
// then as in the snapshot.
func (p *Picker) Stats() []Stat {
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
	var out []Stat
	for _, hg := range hgs {
		g := ps.groups[hg]
		var eff []float64
		if g.adaptive != nil {
			eff = g.adaptive.Weights(nil)
		}
		for i := range g.cands {
			b := &g.cands[i]
			st := Stat{Hostgroup: hg, Addr: b.Addr, Algorithm: g.algorithm, Weight: b.Weight}
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
