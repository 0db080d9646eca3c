package router

import (
	"container/heap"
	"math"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/stretchr/testify/require"

	"github.com/rwproxy/rwproxy/topology"
)

// sim is a discrete-event simulation of clients sending requests through
// an Adaptive balancer to fake servers, on a fake clock. Each of the
// clients sends its next request as soon as the previous one is answered;
// a server answers after its current latency (±20% jitter from the seeded
// source). Everything is deterministic for a seed.
type sim struct {
	t        *testing.T
	cands    []topology.Backend
	latency  []time.Duration // per server, changeable between runs
	inflight []*atomic.Int64
	lat      []*LatencyEWMA
	bal      *Adaptive
	rnd      func() uint64
	now      int64 // fake clock, ns
	pending  events
	picks    []int // every pick, in order
}

type event struct {
	at     int64
	server int
	sent   int64
}

type events []event

func (e events) Len() int           { return len(e) }
func (e events) Less(i, j int) bool { return e[i].at < e[j].at }
func (e events) Swap(i, j int)      { e[i], e[j] = e[j], e[i] }
func (e *events) Push(x any)        { *e = append(*e, x.(event)) }
func (e *events) Pop() any {
	old := *e
	x := old[len(old)-1]
	*e = old[:len(old)-1]
	return x
}

func newSim(t *testing.T, seed uint64, clients int, weights []int, latency ...time.Duration) *sim {
	s := &sim{t: t, cands: backends(weights...), latency: latency, rnd: seeded(seed), now: 1}
	for range weights {
		s.inflight = append(s.inflight, new(atomic.Int64))
		s.lat = append(s.lat, NewLatencyEWMA(0))
	}
	s.bal = NewAdaptive(s.cands, s.inflight, s.lat, AdaptiveOptions{})
	for range clients {
		s.send()
	}
	return s
}

// send picks a server for one request and schedules its answer.
func (s *sim) send() {
	i, ok := s.bal.Pick(s.rnd)
	require.True(s.t, ok)
	s.picks = append(s.picks, i)
	s.inflight[i].Add(1)
	jitter := 0.8 + 0.4*uniform(s.rnd())
	d := int64(float64(s.latency[i]) * jitter)
	heap.Push(&s.pending, event{at: s.now + d, server: i, sent: s.now})
}

// run processes n answers (each client sends again at once) and returns
// the share of picks each server got during them.
func (s *sim) run(n int) []float64 {
	start := len(s.picks)
	for range n {
		e := heap.Pop(&s.pending).(event)
		s.now = e.at
		s.inflight[e.server].Add(-1)
		s.lat[e.server].Observe(s.now, time.Duration(e.at-e.sent))
		s.send()
	}
	shares := make([]float64, len(s.cands))
	for _, i := range s.picks[start:] {
		shares[i] += 1 / float64(len(s.picks)-start)
	}
	return shares
}

// runFor processes answers until d of fake time has passed.
func (s *sim) runFor(d time.Duration) []float64 {
	start, end := len(s.picks), s.now+int64(d)
	for s.pending[0].at <= end {
		s.run(1)
	}
	shares := make([]float64, len(s.cands))
	for _, i := range s.picks[start:] {
		shares[i] += 1 / float64(len(s.picks)-start)
	}
	return shares
}

const ms = time.Millisecond

// From a cold start (nothing measured), a server ten times slower loses
// most of its static share within a bounded number of requests.
func TestAdaptiveConvergesToFasterServer(t *testing.T) {
	s := newSim(t, 1, 8, []int{1, 1}, 1*ms, 10*ms)
	converged := -1
	for w := range 20 { // windows of 100 requests
		if sh := s.run(100); sh[1] < 0.2 {
			converged = (w + 1) * 100
			break
		}
	}
	require.Positive(t, converged, "the slow server still had ≥ 20%% after 2000 requests")
	require.LessOrEqual(t, converged, 300)
	sh := s.run(5000)
	require.Less(t, sh[1], 0.15, "steady state: the slow server's share (static share 0.5)")
	require.Greater(t, sh[1], 0.0)
}

// Weights still count: with the same speed, shares follow the weights.
func TestAdaptiveEqualSpeedFollowsWeights(t *testing.T) {
	s := newSim(t, 2, 8, []int{3, 1}, 2*ms, 2*ms)
	s.run(2000)
	sh := s.run(20000)
	require.InDelta(t, 0.75, sh[0], 0.05, "shares %v", sh)
}

// When the slow server recovers, the probe traffic the floor keeps
// sending there measures it, and its share returns to the static weights
// within a few decay times.
func TestAdaptiveReturnsTrafficToRecoveredServer(t *testing.T) {
	s := newSim(t, 3, 8, []int{1, 1}, 1*ms, 20*ms)
	s.runFor(3 * time.Second)
	require.Less(t, s.runFor(time.Second)[1], 0.1)

	s.latency[1] = 1 * ms // recovered
	back := time.Duration(-1)
	for sec := 1; sec <= 10; sec++ {
		if sh := s.runFor(time.Second); sh[1] > 0.4 {
			back = time.Duration(sec) * time.Second
			break
		}
	}
	require.Positive(t, back, "share not back above 0.4 within 10 s (decay %v)", DefaultDecay)
	require.LessOrEqual(t, back, 5*DefaultDecay)
	sh := s.runFor(5 * time.Second)
	require.InDelta(t, 0.5, sh[1], 0.05, "steady state after recovery: %v", sh)
}

// However slow a server is, it keeps at least about the floor times its
// static share: it is never starved, so it is never forgotten.
func TestAdaptiveNeverStarves(t *testing.T) {
	s := newSim(t, 4, 4, []int{1, 1}, 100*time.Microsecond, 200*ms)
	s.runFor(2 * time.Second)
	for range 5 {
		sh := s.runFor(time.Second)
		require.Positive(t, sh[1], "the slow server got nothing for a second")
	}
	// Sequential picks see only latency: the slow one keeps ≈ floor × share.
	eff := s.bal.Weights(nil)
	require.InDelta(t, DefaultFloor, eff[1]/eff[0], 0.02, "effective weights %v", eff)
}

// The same seed gives the same decisions.
func TestAdaptiveDeterministic(t *testing.T) {
	run := func(seed uint64) []int {
		s := newSim(t, seed, 8, []int{2, 1, 1}, 1*ms, 3*ms, 5*ms)
		s.run(3000)
		return s.picks
	}
	require.Equal(t, run(7), run(7))
	require.NotEqual(t, run(7), run(8))
}

// A server without a sample is treated as fast as the fastest measured
// one; with nothing measured, the in-flight requests alone decide.
func TestAdaptiveUnmeasured(t *testing.T) {
	cands := backends(1, 1)
	lat := []*LatencyEWMA{NewLatencyEWMA(0), NewLatencyEWMA(0)}
	infl := []*atomic.Int64{new(atomic.Int64), new(atomic.Int64)}
	a := NewAdaptive(cands, infl, lat, AdaptiveOptions{})
	require.Equal(t, []float64{1, 1}, a.Weights(nil))
	infl[0].Store(3)
	require.InDeltaSlice(t, []float64{0.25, 1}, a.Weights(nil), 1e-9)
	infl[0].Store(0)
	lat[0].Observe(1, 5*ms)
	require.InDeltaSlice(t, []float64{1, 1}, a.Weights(nil), 1e-9)
	lat[1].Observe(1, 10*ms)
	require.InDeltaSlice(t, []float64{1, 0.5}, a.Weights(nil), 1e-9)
}

// Lag lowers the effective weight before the hard cut, unless the monitor
// already decays weights.
func TestAdaptiveLag(t *testing.T) {
	cands := backends(1, 1)
	for i := range cands {
		cands[i].MaxReplicationLag = 10
		cands[i].LagSeconds = 0
	}
	cands[1].LagSeconds = 5
	a := NewAdaptive(cands, nil, nil, AdaptiveOptions{})
	require.InDeltaSlice(t, []float64{1, 0.55}, a.Weights(nil), 1e-9)
	a = NewAdaptive(cands, nil, nil, AdaptiveOptions{NoLagFactor: true})
	require.InDeltaSlice(t, []float64{1, 1}, a.Weights(nil), 1e-9)

	cands[0].State = topology.StateShunnedLag
	a = NewAdaptive(cands, nil, nil, AdaptiveOptions{})
	require.InDeltaSlice(t, []float64{0, 0.55}, a.Weights(nil), 1e-9)
	for range 10 {
		i, ok := a.Pick(seeded(1))
		require.True(t, ok)
		require.Equal(t, 1, i)
	}
	cands[1].State = topology.StateShunned
	_, ok := NewAdaptive(cands, nil, nil, AdaptiveOptions{}).Pick(seeded(1))
	require.False(t, ok)
}

// More than stackCands servers work (the slice is allocated then).
func TestAdaptiveManyServers(t *testing.T) {
	ws := make([]int, 40)
	lat := make([]time.Duration, 40)
	for i := range ws {
		ws[i], lat[i] = 1, ms
	}
	lat[39] = 50 * ms
	s := newSim(t, 5, 16, ws, lat...)
	s.runFor(1500 * ms)
	sh := s.runFor(time.Second)
	require.Less(t, sh[39], 0.5/40, "shares %v", sh)
	require.Positive(t, sh[39])
}

func TestLatencyEWMA(t *testing.T) {
	var e LatencyEWMA
	_, ok := e.Average()
	require.False(t, ok)
	e.Observe(100, 10*ms)
	avg, ok := e.Average()
	require.True(t, ok)
	require.InDelta(t, float64(10*ms), float64(avg), 2, "the first sample is the average")

	// One decay time later, a sample moves the average 1 − 1/e of the way
	// in log scale: 10 ms → 20 ms gives 10 ms × 2^0.632.
	e.Observe(100+int64(DefaultDecay), 20*ms)
	avg, _ = e.Average()
	require.InDelta(t, float64(10*ms)*math.Exp2(1-math.Exp(-1)), float64(avg), float64(time.Microsecond))

	// Many tiny steps are not rounded away: 10000 samples of 1 ms spread
	// over one decay time move it 63% of the way from 10 ms (in log scale).
	e.Reset()
	e.Observe(1, 10*ms)
	for i := range 10000 {
		e.Observe(1+int64(i+1)*int64(DefaultDecay/10000), ms)
	}
	avg, _ = e.Average()
	require.InDelta(t, float64(10*ms)*math.Pow(0.1, 1-math.Exp(-1)), float64(avg), float64(20*time.Microsecond))

	e.Reset()
	_, ok = e.Average()
	require.False(t, ok)
}

// One response a thousand times slower than the others (a stalled client,
// a hiccup) barely moves the geometric average; a server whose responses
// are all slower moves it all the way.
func TestLatencyEWMAOutlier(t *testing.T) {
	e := NewLatencyEWMA(0)
	now := int64(1)
	for range 1000 {
		now += int64(time.Millisecond)
		e.Observe(now, time.Millisecond)
	}
	now += int64(time.Millisecond)
	e.Observe(now, time.Second)
	avg, _ := e.Average()
	require.Less(t, avg, 1100*time.Microsecond, "one outlier")
	for range 2000 { // 2 s = 4 decay times of 10 ms responses
		now += int64(time.Millisecond)
		e.Observe(now, 10*time.Millisecond)
	}
	avg, _ = e.Average()
	require.InDelta(t, float64(10*time.Millisecond), float64(avg), float64(500*time.Microsecond))
}

// Concurrent observers race on the average with compare-and-swap; every
// sample is the same, so the average must be exactly it.
func TestLatencyEWMAConcurrent(t *testing.T) {
	e := NewLatencyEWMA(10 * ms)
	var clock atomic.Int64
	var wg sync.WaitGroup
	for range 8 {
		wg.Go(func() {
			for range 2000 {
				e.Observe(clock.Add(1000), 3*ms)
			}
		})
	}
	wg.Wait()
	avg, ok := e.Average()
	require.True(t, ok)
	require.InDelta(t, float64(3*ms), float64(avg), 2)
}
