package router

import (
	"math/rand/v2"
	"strings"
	"sync"
	"sync/atomic"
	"testing"

	"github.com/stretchr/testify/require"

	"github.com/rwproxy/rwproxy/topology"
)

// backends builds candidates named a, b, c, ... with the given weights,
// ONLINE, lag unknown.
func backends(weights ...int) []topology.Backend {
	out := make([]topology.Backend, len(weights))
	for i, w := range weights {
		out[i] = topology.Backend{Hostgroup: 20, Addr: string(rune('a' + i)), Weight: w,
			State: topology.StateOnline, LagSeconds: -1}
	}
	return out
}

// seeded returns a deterministic random source.
func seeded(seed uint64) func() uint64 {
	return rand.New(rand.NewPCG(seed, seed^0x9e3779b97f4a7c15)).Uint64
}

// mutexSWRR is the previous, mutex-guarded smooth weighted round-robin,
// kept as the reference the lock-free cycle must reproduce and as the
// "before" of the benchmarks.
type mutexSWRR struct {
	mu      sync.Mutex
	current map[string]int
}

func (b *mutexSWRR) Pick(cands []topology.Backend) (int, bool) {
	b.mu.Lock()
	defer b.mu.Unlock()
	total, best := 0, -1
	for i := range cands {
		c := &cands[i]
		if !c.Usable() {
			continue
		}
		b.current[c.Addr] += c.Weight
		total += c.Weight
		if best < 0 || b.current[c.Addr] > b.current[cands[best].Addr] {
			best = i
		}
	}
	if best < 0 {
		return 0, false
	}
	b.current[cands[best].Addr] -= total
	return best, true
}

func sequence(t *testing.T, pick func() (int, bool), cands []topology.Backend, n int) string {
	t.Helper()
	var sb strings.Builder
	for range n {
		i, ok := pick()
		require.True(t, ok)
		sb.WriteString(cands[i].Addr)
	}
	return sb.String()
}

// runs repeats each server of a cycle Run times: the sequence SWRR hands
// out.
func runs(cycle string) string {
	var sb strings.Builder
	for _, c := range cycle {
		sb.WriteString(strings.Repeat(string(c), Run))
	}
	return sb.String()
}

func TestSWRRSequence(t *testing.T) {
	tests := []struct {
		name    string
		cands   []topology.Backend
		want    string
		wantLen int
	}{
		{name: "nginx example", cands: backends(5, 1, 1), want: "aabacaa" + "aabacaa", wantLen: 7},
		{name: "equal", cands: backends(1, 1, 1), want: "abcabc", wantLen: 3},
		{name: "gcd reduced", cands: backends(20, 10), want: "abaaba", wantLen: 3},
		{name: "one server", cands: backends(7), want: "aaa", wantLen: 1},
		{name: "unusable skipped", cands: func() []topology.Backend {
			c := backends(1, 3, 1, 0)
			c[0].State = topology.StateShunned
			return c
		}(), want: "bbcbbbcb", wantLen: 4},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			s := NewSWRR(tc.cands, nil)
			require.Equal(t, tc.wantLen, s.Len())
			want := runs(tc.want)
			require.Equal(t, want, sequence(t, func() (int, bool) { return s.Pick(nil) }, tc.cands, len(want)))
		})
	}
}

func TestSWRRNoneUsable(t *testing.T) {
	c := backends(1, 0)
	c[0].State = topology.StateOfflineSoft
	_, ok := NewSWRR(c, nil).Pick(nil)
	require.False(t, ok)
	_, ok = NewSWRR(nil, nil).Pick(nil)
	require.False(t, ok)
}

// The precomputed cycle hands out exactly the sequence of the mutex
// version, for random weights.
func TestSWRRMatchesMutexVersion(t *testing.T) {
	rnd := rand.New(rand.NewPCG(1, 2))
	for round := range 200 {
		ws := make([]int, 1+rnd.IntN(6))
		for i := range ws {
			ws[i] = rnd.IntN(12) // 0 = not usable
		}
		ws[0]++ // at least one usable
		cands := backends(ws...)
		ref := &mutexSWRR{current: map[string]int{}}
		s := NewSWRR(cands, nil)
		n := 3 * s.Len()
		require.Equal(t,
			runs(sequence(t, func() (int, bool) { return ref.Pick(cands) }, cands, n)),
			sequence(t, func() (int, bool) { return s.Pick(nil) }, cands, n*Run), "round %d weights %v", round, ws)
	}
}

func TestSWRRLargeWeightsFit(t *testing.T) {
	cands := backends(1, 10000, 999999)
	s := NewSWRR(cands, nil)
	require.LessOrEqual(t, s.Len(), MaxCycle+len(cands))
	counts := make([]int, 3)
	for range s.Len() * Run {
		i, _ := s.Pick(nil)
		counts[i]++
	}
	require.Equal(t, Run, counts[0], "every usable server keeps a slot")
	require.InDelta(t, 100.0, float64(counts[2])/float64(counts[1]), 5)
}

// Concurrent picks take consecutive positions: over whole cycles the
// counts are exact.
func TestSWRRConcurrentExactShares(t *testing.T) {
	cands := backends(3, 2, 1)
	s := NewSWRR(cands, nil)
	const workers, per = 8, 6 * 500
	var counts [3]atomic.Int64
	var wg sync.WaitGroup
	for range workers {
		wg.Go(func() {
			for range per {
				i, ok := s.Pick(nil)
				if ok {
					counts[i].Add(1)
				}
			}
		})
	}
	wg.Wait()
	total := int64(workers * per)
	require.Equal(t, total*3/6, counts[0].Load())
	require.Equal(t, total*2/6, counts[1].Load())
	require.Equal(t, total*1/6, counts[2].Load())
}

// A rebuilt balancer continues the cycle from the shared counter rather
// than starting over at the first server.
func TestSWRRCounterOutlivesSnapshots(t *testing.T) {
	cands := backends(1, 1)
	var c Counter
	counts := make([]int, 2)
	for range 100 * Run {
		i, _ := NewSWRR(cands, &c).Pick(nil) // a new snapshot for every pick
		counts[i]++
	}
	require.Equal(t, []int{50 * Run, 50 * Run}, counts)
}

// Consecutive picks stay on one server for Run picks (a server that has
// just answered answers sooner), then move on: a single client's reads
// over two equal replicas go a a a a b b b b ..., never more than Run in a
// row, and each replica gets half of every 2 × Run.
func TestSWRRRuns(t *testing.T) {
	require.Greater(t, Run, 1)
	cands := backends(1, 1)
	s := NewSWRR(cands, nil)
	seq := sequence(t, func() (int, bool) { return s.Pick(nil) }, cands, 40*Run)
	require.Equal(t, strings.Repeat(strings.Repeat("a", Run)+strings.Repeat("b", Run), 20), seq)
	require.NotContains(t, seq, strings.Repeat("a", Run+1))
	require.NotContains(t, seq, strings.Repeat("b", Run+1))
}

func TestLeastOutstanding(t *testing.T) {
	cands := backends(1, 1, 1)
	infl := []*atomic.Int64{new(atomic.Int64), new(atomic.Int64), new(atomic.Int64)}
	infl[0].Store(5)
	infl[1].Store(0)
	infl[2].Store(5)
	b := NewLeastOutstanding(cands, infl)
	rnd := seeded(1)
	counts := make([]int, 3)
	for range 3000 {
		i, ok := b.Pick(rnd)
		require.True(t, ok)
		counts[i]++
	}
	// b wins whenever it is drawn (2/3 of the pairs); a and c tie otherwise.
	require.InDelta(t, 2000, counts[1], 150)

	t.Run("idle servers share by weight", func(t *testing.T) {
		cands := backends(3, 1)
		b := NewLeastOutstanding(cands, nil)
		counts := make([]int, 2)
		for range 4000 {
			i, _ := b.Pick(rnd)
			counts[i]++
		}
		// Distinct pairs: the first drawn wins ties, a is first 3/4 of the time.
		require.InDelta(t, 3000, counts[0], 200)
	})
	t.Run("load per unit of weight", func(t *testing.T) {
		cands := backends(4, 1)
		infl := []*atomic.Int64{new(atomic.Int64), new(atomic.Int64)}
		infl[0].Store(3) // 3/4 < 1/1
		infl[1].Store(1)
		b := NewLeastOutstanding(cands, infl)
		for range 100 {
			i, _ := b.Pick(rnd)
			require.Equal(t, 0, i)
		}
	})
	t.Run("one or none usable", func(t *testing.T) {
		c := backends(1, 1)
		c[1].State = topology.StateShunned
		i, ok := NewLeastOutstanding(c, nil).Pick(rnd)
		require.True(t, ok)
		require.Equal(t, 0, i)
		c[0].Weight = 0
		_, ok = NewLeastOutstanding(c, nil).Pick(rnd)
		require.False(t, ok)
	})
}

func TestLagFactor(t *testing.T) {
	b := topology.Backend{MaxReplicationLag: 10, LagSeconds: -1}
	require.Equal(t, 1.0, LagFactor(&b))
	b.LagSeconds = 0
	require.Equal(t, 1.0, LagFactor(&b))
	b.LagSeconds = 5
	require.InDelta(t, 0.55, LagFactor(&b), 1e-9)
	b.LagSeconds = 10
	require.InDelta(t, LagFloor, LagFactor(&b), 1e-9)
	b.LagSeconds = 30
	require.InDelta(t, LagFloor, LagFactor(&b), 1e-9)
	b.MaxReplicationLag = 0 // no limit: no penalty
	require.Equal(t, 1.0, LagFactor(&b))
}

func TestBelow(t *testing.T) {
	require.Equal(t, 0, below(0, 7))
	require.Equal(t, 6, below(^uint64(0), 7))
	rnd := seeded(3)
	for range 1000 {
		v := below(rnd(), 5)
		require.True(t, v >= 0 && v < 5)
	}
}
