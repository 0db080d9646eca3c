package router

import (
	"math"
	"math/bits"

	"github.com/rwproxy/rwproxy/topology"
)

// Balancers choose one server of a hostgroup for each query. Each one is
// built once per topology snapshot and hostgroup, from that snapshot's
// candidates, and is immutable afterwards: Pick only reads it, plus atomic
// counters that outlive the snapshot (the round-robin position, in-flight
// requests, latency averages). So Pick takes no lock, allocates nothing and
// is safe for concurrent use; it costs O(1) (SWRR) or O(candidates)
// (LeastOutstanding, Adaptive). Pick returns an index into the candidates
// the balancer was built from, or false when none is usable.
//
// rnd is the random source (math/rand/v2's Uint64, which is per-thread and
// lock-free, or a seeded generator in tests); SWRR ignores it.

// usable returns the indexes and weights of the usable candidates.
func usable(cands []topology.Backend) (idx []int, weights []int) {
	for i := range cands {
		if cands[i].Usable() {
			idx = append(idx, i)
			weights = append(weights, cands[i].Weight)
		}
	}
	return idx, weights
}

// uniform maps a random 64-bit value to [0, 1).
func uniform(r uint64) float64 { return float64(r>>11) * (1.0 / (1 << 53)) }

// below maps a random 64-bit value to [0, n) (Lemire's multiply-shift
// reduction; the bias is negligible for n far below 2^32).
func below(r uint64, n int) int {
	hi, _ := bits.Mul64(r, uint64(n))
	return int(hi)
}

// LagFactor is the share of its weight a replica keeps for its replication
// lag under the adaptive balancer: 1 at no lag, falling linearly to
// LagFloor when the lag reaches the server's max_replication_lag, where the
// monitor's hard cut takes over. A server without a limit (0), or whose lag
// is unknown (-1, not a replica or not measured yet), keeps its weight.
func LagFactor(b *topology.Backend) float64 {
	if b.MaxReplicationLag <= 0 || b.LagSeconds <= 0 {
		return 1
	}
	f := math.Min(b.LagSeconds/float64(b.MaxReplicationLag), 1)
	return 1 - (1-LagFloor)*f
}

// LagFloor is LagFactor at (and beyond) max_replication_lag.
const LagFloor = 0.1
