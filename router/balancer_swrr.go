package router

import (
	"sync/atomic"

	"github.com/rwproxy/rwproxy/topology"
)

// SWRR is smooth weighted round-robin (nginx's algorithm) without a lock,
// taken in runs: each position of nginx's sequence is handed out Run
// times in a row. Over any Run × sum(weights) consecutive picks each
// usable server is chosen Run × weight times (weights 5,1,1 give a a b a
// c a a, each Run times). The order of one whole cycle is computed when
// the balancer is built, once per snapshot; Pick takes the next position
// of a shared atomic Counter and returns the server at that position.
// Concurrent picks take consecutive positions, so the servers handed out
// follow the sequence exactly, at the cost of one atomic add.
type SWRR struct {
	cycle []int32 // candidate indexes, one cycle
	next  *Counter
}

// Counter is a hostgroup's round-robin position. It outlives snapshots:
// the balancer built for a new snapshot continues from it instead of
// starting over at the first server, which would favour that server when
// snapshots change often.
type Counter struct {
	n atomic.Uint64
	_ [56]byte // a cache line of its own: every pick of the hostgroup writes it
}

// Run is how many consecutive picks go to the same server. A server that
// has just answered answers the next statement sooner than one that has
// been idle meanwhile (its thread likely still on a CPU, its caches warm): on
// the sandbox MariaDB answered a point select 11–17 µs sooner when the
// previous statement had gone to it too, with ProxySQL (which picks at
// random) as with rwproxy, while strict alternation (Run 1) sent every
// statement of a single client to the server that had been idle
// (docs/balancing.md, "Runs"). Under concurrency the picks of many
// sessions share the sequence, so a run lasts a fraction of a millisecond
// and the shares in flight stay even.
const Run = 4

// MaxCycle bounds the length of an SWRR cycle. Weights are divided by
// their greatest common divisor first; if their sum still exceeds
// MaxCycle they are scaled down to fit (each usable server keeps at least
// one slot), so very uneven weights such as 1 and 10000 are approximated
// (1:4096 here).
const MaxCycle = 4096

// NewSWRR builds the cycle for cands' usable servers; next is the
// hostgroup's Counter (a fresh one when nil).
func NewSWRR(cands []topology.Backend, next *Counter) *SWRR {
	if next == nil {
		next = new(Counter)
	}
	idx, w := usable(cands)
	return &SWRR{cycle: swrrCycle(idx, fitCycle(w)), next: next}
}

// Pick returns the candidate at the next position of the cycle. rnd is
// not used.
func (s *SWRR) Pick(func() uint64) (int, bool) {
	if len(s.cycle) == 0 {
		return 0, false
	}
	n := (s.next.n.Add(1) - 1) / Run
	return int(s.cycle[n%uint64(len(s.cycle))]), true
}

// Len is the length of the cycle (0 when no server is usable).
func (s *SWRR) Len() int { return len(s.cycle) }

// fitCycle reduces weights by their GCD and scales them to sum to at most
// about MaxCycle.
func fitCycle(w []int) []int {
	g := 0
	for _, x := range w {
		g = gcd(g, x)
	}
	sum := 0
	for i := range w {
		w[i] /= g
		sum += w[i]
	}
	if sum > MaxCycle {
		for i := range w {
			w[i] = max(1, int(int64(w[i])*MaxCycle/int64(sum)))
		}
	}
	return w
}

func gcd(a, b int) int {
	for b != 0 {
		a, b = b, a%b
	}
	return a
}

// swrrCycle runs nginx's smooth weighted round-robin for one cycle: each
// step adds every weight to its server's current value, picks the largest
// (the first on ties) and subtracts the total from it.
func swrrCycle(idx, w []int) []int32 {
	total := 0
	for _, x := range w {
		total += x
	}
	cycle := make([]int32, 0, total)
	cur := make([]int, len(w))
	for range total {
		best := 0
		for i := range w {
			cur[i] += w[i]
			if cur[i] > cur[best] {
				best = i
			}
		}
		cur[best] -= total
		cycle = append(cycle, int32(idx[best]))
	}
	return cycle
}
