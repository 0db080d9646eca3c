package router

import (
	"math/rand/v2"
	"sync/atomic"
	"testing"
	"time"

	"github.com/rwproxy/rwproxy/topology"
)

// The balancers' Pick, run in parallel by GOMAXPROCS goroutines (vary it
// with -cpu 1,2,...), with allocations. The picker adds a map lookup and
// an interface call on top (internal/app BenchmarkPick*).

func benchCands() []topology.Backend { return backends(1, 2, 1) }

func benchPick(b *testing.B, pick func(func() uint64) (int, bool)) {
	b.ReportAllocs()
	b.RunParallel(func(pb *testing.PB) {
		for pb.Next() {
			if _, ok := pick(rand.Uint64); !ok {
				b.Fatal("no pick")
			}
		}
	})
}

// BenchmarkPickSWRRMutex is the previous mutex-guarded SWRR: the "before".
func BenchmarkPickSWRRMutex(b *testing.B) {
	cands := benchCands()
	m := &mutexSWRR{current: map[string]int{}}
	benchPick(b, func(func() uint64) (int, bool) { return m.Pick(cands) })
}

func BenchmarkPickSWRR(b *testing.B) {
	benchPick(b, NewSWRR(benchCands(), nil).Pick)
}

func BenchmarkPickLeastOutstanding(b *testing.B) {
	cands := benchCands()
	infl := make([]*atomic.Int64, len(cands))
	for i := range infl {
		infl[i] = new(atomic.Int64)
	}
	benchPick(b, NewLeastOutstanding(cands, infl).Pick)
}

func BenchmarkPickAdaptive(b *testing.B) {
	cands := benchCands()
	infl := make([]*atomic.Int64, len(cands))
	lat := make([]*LatencyEWMA, len(cands))
	for i := range infl {
		infl[i], lat[i] = new(atomic.Int64), NewLatencyEWMA(0)
		lat[i].Observe(1, time.Duration(i+1)*time.Millisecond)
	}
	benchPick(b, NewAdaptive(cands, infl, lat, AdaptiveOptions{}).Pick)
}

// BenchmarkLatencyEWMAObserve is the per-response cost of the adaptive
// balancer's latency hook, every goroutine observing the same server.
func BenchmarkLatencyEWMAObserve(b *testing.B) {
	e := NewLatencyEWMA(0)
	base := time.Now()
	b.ReportAllocs()
	b.RunParallel(func(pb *testing.PB) {
		for pb.Next() {
			e.Observe(int64(time.Since(base))+1, time.Millisecond)
		}
	})
}
