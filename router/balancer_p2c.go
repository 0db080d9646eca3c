package router

import (
	"sync/atomic"

	"github.com/rwproxy/rwproxy/topology"
)

// LeastOutstanding is weighted least-outstanding-requests with the power
// of two choices: two usable candidates are drawn at random in proportion
// to their weights, and the one with fewer requests in flight per unit of
// weight wins (the first drawn on a tie).
type LeastOutstanding struct {
	idx      []int
	weights  []int
	total    int
	inflight []*atomic.Int64 // per usable candidate
}

// NewLeastOutstanding builds the balancer for cands' usable servers.
// inflight[i] is cands[i]'s in-flight request counter (nil: always 0); it
// is either nil or as long as cands.
func NewLeastOutstanding(cands []topology.Backend, inflight []*atomic.Int64) *LeastOutstanding {
	idx, w := usable(cands)
	b := &LeastOutstanding{idx: idx, weights: w, inflight: counters(idx, inflight)}
	for _, x := range w {
		b.total += x
	}
	return b
}

// zero stands in for a server whose in-flight counter is unknown.
var zero atomic.Int64

func counters(idx []int, inflight []*atomic.Int64) []*atomic.Int64 {
	out := make([]*atomic.Int64, len(idx))
	for j, i := range idx {
		out[j] = &zero
		if i < len(inflight) && inflight[i] != nil {
			out[j] = inflight[i]
		}
	}
	return out
}

// Pick implements the balancer: O(candidates), no lock.
func (b *LeastOutstanding) Pick(rnd func() uint64) (int, bool) {
	switch len(b.idx) {
	case 0:
		return 0, false
	case 1:
		return b.idx[0], true
	}
	x := b.draw(rnd())
	y := b.draw(rnd())
	for tries := 0; y == x && tries < 4; tries++ {
		y = b.draw(rnd())
	}
	// Compare load/weight without division: ox/wx <= oy/wy.
	if b.inflight[x].Load()*int64(b.weights[y]) <= b.inflight[y].Load()*int64(b.weights[x]) {
		return b.idx[x], true
	}
	return b.idx[y], true
}

// draw returns a usable candidate's position, in proportion to weight.
func (b *LeastOutstanding) draw(r uint64) int {
	n := below(r, b.total)
	for j, w := range b.weights {
		if n < w {
			return j
		}
		n -= w
	}
	return len(b.weights) - 1
}
