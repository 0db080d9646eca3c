package balance

import (
	"math/rand/v2"
	"sync/atomic"
	"testing"
	"time"

	"github.com/stretchr/testify/require"
	"go.uber.org/zap"

	"github.com/rwproxy/rwproxy/config"
	"github.com/rwproxy/rwproxy/pool"
	"github.com/rwproxy/rwproxy/router"
	"github.com/rwproxy/rwproxy/topology"
)

// pickerFixture is a picker over hostgroup 20 with servers a, b, c on
// real pool counters, a fake clock and a seeded random source.
type pickerFixture struct {
	p     *Picker
	pools *pool.Manager
	snap  *topology.Snapshot
	cfg   *config.Config
	now   atomic.Int64
}

func newPickerFixture(tb testing.TB, balance string, weights ...int) *pickerFixture {
	tb.Helper()
	f := &pickerFixture{pools: pool.NewManager(pool.Options{}, zap.NewNop()), cfg: config.Defaults()}
	tb.Cleanup(func() { _ = f.pools.Close() })
	f.now.Store(1)
	// A seeded source (not safe for concurrent use: the benchmarks replace it).
	f.p = newWith(f.now.Load, rand.New(rand.NewPCG(1, 2)).Uint64)
	f.snap = &topology.Snapshot{Hostgroups: map[int][]topology.Backend{}}
	for i, w := range weights {
		addr := string(rune('a' + i))
		f.pools.SetServer(addr, 0)
		f.snap.Hostgroups[20] = append(f.snap.Hostgroups[20], topology.Backend{Hostgroup: 20, Addr: addr, Weight: w,
			State: topology.StateOnline, LagSeconds: -1})
	}
	f.cfg.HostgroupAttributes = []config.HostgroupAttributes{{HostgroupID: 20, Balance: balance}}
	f.p.Update(f.cfg, f.snap, f.pools)
	return f
}

func (f *pickerFixture) shares(tb testing.TB, n int) map[string]float64 {
	tb.Helper()
	out := map[string]float64{}
	for range n {
		addr, _, err := f.p.Pick(20)
		require.NoError(tb, err)
		out[addr] += 1 / float64(n)
	}
	return out
}

func TestPickerAlgorithms(t *testing.T) {
	for _, balance := range []string{config.BalanceWeightedRoundRobin, config.BalanceLeastOutstanding, config.BalanceAdaptive} {
		t.Run(balance, func(t *testing.T) {
			f := newPickerFixture(t, balance, 3, 1)
			sh := f.shares(t, 4000)
			require.InDelta(t, 0.75, sh["a"], 0.05, "shares %v", sh)
			st := f.p.Stats()
			require.Len(t, st, 2)
			require.Equal(t, Stat{Hostgroup: 20, Addr: "a", Algorithm: balance, Weight: 3, EffectiveWeight: 3}, st[0])

			_, _, err := f.p.Pick(99)
			require.ErrorIs(t, err, ErrNoBackend)
			f.snap.Hostgroups[20][0].State = topology.StateShunned
			f.snap.Hostgroups[20][1].Weight = 0
			f.p.Update(f.cfg, f.snap, f.pools)
			_, _, err = f.p.Pick(20)
			require.ErrorIs(t, err, ErrNoBackend)
		})
	}
}

// Observe feeds the adaptive balancer: a server whose responses are ten
// times slower gets much less than its static share, and Stats shows why.
func TestPickerAdaptiveObserve(t *testing.T) {
	f := newPickerFixture(t, config.BalanceAdaptive, 1, 1)
	for range 50 {
		f.now.Add(int64(time.Millisecond))
		f.p.Observe("a", time.Millisecond)
		f.p.Observe("b", 10*time.Millisecond)
	}
	sh := f.shares(t, 4000)
	require.Less(t, sh["b"], 0.15, "shares %v", sh)
	require.Greater(t, sh["b"], 0.0)
	st := f.p.Stats()
	require.InDelta(t, 1000, st[0].LatencyUs, 1)
	require.InDelta(t, 10000, st[1].LatencyUs, 1)
	require.InDelta(t, 1, st[0].EffectiveWeight, 1e-9)
	require.InDelta(t, 0.1, st[1].EffectiveWeight, 1e-9)

	// In-flight requests show, and count.
	f.pools.Stats("a").InFlight.Store(30)
	st = f.p.Stats()
	require.Equal(t, int64(30), st[0].Outstanding)
	require.Less(t, st[0].EffectiveWeight, st[1].EffectiveWeight)
	f.pools.Stats("a").InFlight.Store(0)

	// A server that was shunned starts afresh when it returns.
	f.snap.Hostgroups[20][1].State = topology.StateShunned
	f.p.Update(f.cfg, f.snap, f.pools)
	f.snap.Hostgroups[20][1].State = topology.StateOnline
	f.p.Update(f.cfg, f.snap, f.pools)
	st = f.p.Stats()
	require.Zero(t, st[1].LatencyUs)
	require.InDelta(t, 1, st[1].EffectiveWeight, 1e-9)
}

// Until the sessions call Observe, latency comes from the pool counters,
// sampled at most every sampleEvery from inside Pick and Stats.
func TestPickerFallbackSampler(t *testing.T) {
	f := newPickerFixture(t, config.BalanceAdaptive, 1, 1)
	a, b := f.pools.Stats("a"), f.pools.Stats("b")
	serve := func(st *pool.ServerStats, n int, each time.Duration) {
		st.Queries.Add(uint64(n))
		st.LatencyUs.Add(uint64(n) * uint64(each.Microseconds()))
	}
	f.p.Stats() // baseline
	serve(a, 100, time.Millisecond)
	serve(b, 100, 8*time.Millisecond)
	f.p.Stats() // not due yet
	require.Zero(t, f.p.Stats()[0].LatencyUs)
	f.now.Add(int64(sampleEvery))
	_, _, _ = f.p.Pick(20) // due: samples
	st := f.p.Stats()
	require.InDelta(t, 1000, st[0].LatencyUs, 1)
	require.InDelta(t, 8000, st[1].LatencyUs, 1)

	// The first Observe turns the sampler off.
	f.p.Observe("a", 2*time.Millisecond)
	serve(b, 100, time.Millisecond)
	f.now.Add(int64(sampleEvery))
	require.InDelta(t, 8000, f.p.Stats()[1].LatencyUs, 1)
}

func TestPickerLastResort(t *testing.T) {
	f := newPickerFixture(t, config.BalanceWeightedRoundRobin, 1, 2, 3)
	_, err := f.p.LastResort(20)
	require.ErrorIs(t, err, ErrNoBackend, "no shunned server")
	hg := f.snap.Hostgroups[20]
	hg[0].State, hg[1].State, hg[2].State = topology.StateShunned, topology.StateShunned, topology.StateShunnedLag
	f.p.Update(f.cfg, f.snap, f.pools)
	_, _, err = f.p.Pick(20)
	require.ErrorIs(t, err, ErrNoBackend)
	addr, err := f.p.LastResort(20)
	require.NoError(t, err)
	require.Equal(t, "b", addr, "the heaviest server shunned for failed checks; c is lagging")
	_, err = f.p.LastResort(99)
	require.ErrorIs(t, err, ErrNoBackend)
}

// The round-robin position survives snapshot changes.
func TestPickerRoundRobinContinues(t *testing.T) {
	f := newPickerFixture(t, config.BalanceWeightedRoundRobin, 1, 1)
	counts := map[string]int{}
	for range 100 * router.Run {
		addr, _, err := f.p.Pick(20)
		require.NoError(t, err)
		counts[addr]++
		f.p.Update(f.cfg, f.snap, f.pools)
	}
	require.Equal(t, map[string]int{"a": 50 * router.Run, "b": 50 * router.Run}, counts)
}

func benchPick(b *testing.B, balance string) {
	f := newPickerFixture(b, balance, 1, 2, 1)
	f.p.rnd = New().rnd
	// The per-response hook is in use: the adaptive balancer does no
	// fallback sampling.
	f.p.Observe("a", time.Millisecond)
	b.ReportAllocs()
	b.RunParallel(func(pb *testing.PB) {
		for pb.Next() {
			if _, _, err := f.p.Pick(20); err != nil {
				b.Fatal(err)
			}
		}
	})
}

// BenchmarkPick* measure what a session pays per query to choose a
// server, GOMAXPROCS goroutines in parallel (vary with -cpu).
func BenchmarkPickWeightedRoundRobin(b *testing.B) { benchPick(b, config.BalanceWeightedRoundRobin) }
func BenchmarkPickLeastOutstanding(b *testing.B)   { benchPick(b, config.BalanceLeastOutstanding) }
func BenchmarkPickAdaptive(b *testing.B)           { benchPick(b, config.BalanceAdaptive) }

// BenchmarkObserve is the per-response latency hook.
func BenchmarkObserve(b *testing.B) {
	f := newPickerFixture(b, config.BalanceAdaptive, 1, 2, 1)
	f.p.clock = New().clock
	b.ReportAllocs()
	b.RunParallel(func(pb *testing.PB) {
		for pb.Next() {
			f.p.Observe("b", time.Millisecond)
		}
	})
}

func TestPickerKeep(t *testing.T) {
	f := newPickerFixture(t, config.BalanceWeightedRoundRobin, 1, 1, 0)
	require.False(t, f.p.Keep(20, "a"), "affinity statement (the default): nothing is kept")
	_, keep, err := f.p.Pick(20)
	require.NoError(t, err)
	require.False(t, keep)
	f.cfg.HostgroupAttributes[0].Affinity = config.AffinitySession
	f.p.Update(f.cfg, f.snap, f.pools)
	_, keep, err = f.p.Pick(20)
	require.NoError(t, err)
	require.True(t, keep)
	require.True(t, f.p.Keep(20, "a"))
	require.True(t, f.p.Keep(20, "b"))
	require.False(t, f.p.Keep(20, "c"), "weight 0")
	require.False(t, f.p.Keep(20, "x"), "not in the hostgroup")
	require.False(t, f.p.Keep(10, "a"), "no such hostgroup")
	hg := f.snap.Hostgroups[20]
	hg[0].State, hg[1].State = topology.StateShunnedLag, topology.StateOfflineSoft
	f.p.Update(f.cfg, f.snap, f.pools)
	require.False(t, f.p.Keep(20, "a"), "shunned for lag")
	require.False(t, f.p.Keep(20, "b"), "OFFLINE_SOFT")
}

// Before the first Update (no topology yet) every hostgroup is empty: an
// error, never a panic.
func TestPickerBeforeUpdate(t *testing.T) {
	p := New()
	_, _, err := p.Pick(10)
	require.ErrorIs(t, err, ErrNoBackend)
	_, err = p.LastResort(10)
	require.ErrorIs(t, err, ErrNoBackend)
	require.False(t, p.Keep(10, "a"))
	p.Observe("a", time.Millisecond) // no server known: ignored
	require.Empty(t, p.Stats())
}

// Pick says which hostgroups have session affinity; a server no longer
// usable in the next snapshot is not kept.
func TestPickerAffinityFollowsSnapshot(t *testing.T) {
	f := newPickerFixture(t, config.BalanceWeightedRoundRobin, 1, 1)
	f.cfg.HostgroupAttributes[0].Affinity = config.AffinitySession
	f.p.Update(f.cfg, f.snap, f.pools)
	addr, keep, err := f.p.Pick(20)
	require.NoError(t, err)
	require.True(t, keep)
	require.True(t, f.p.Keep(20, addr))
	for i := range f.snap.Hostgroups[20] {
		if f.snap.Hostgroups[20][i].Addr == addr {
			f.snap.Hostgroups[20][i].State = topology.StateShunned
		}
	}
	f.p.Update(f.cfg, f.snap, f.pools)
	require.False(t, f.p.Keep(20, addr), "a shunned server is given up")
	other, _, err := f.p.Pick(20)
	require.NoError(t, err)
	require.NotEqual(t, addr, other)
}
