package router

import (
	"sync/atomic"

	"github.com/rwproxy/rwproxy/topology"
)

// Adaptive weighs each server by its static weight times its observed
// speed, peak-EWMA style: a server's cost is its latency average times
// (1 + its requests in flight per unit of relative weight), and its speed
// is the cheapest server's cost divided by its own, so the fastest idle
// server has speed 1 and one that answers ten times slower, or has a
// queue ten times longer, about 0.1. (Relative weight is the weight over
// the hostgroup's mean weight: a server of twice the weight is expected
// to carry twice the requests in flight.) The effective weight is
//
//	weight × lag factor × max(speed, floor)
//
// and Pick draws a server at random in proportion to it. The floor keeps
// a slow server taking a trickle of traffic (at least floor × its share),
// so that its average keeps being measured and it is noticed when it
// recovers; the lag factor (LagFactor) lowers a lagging replica's weight
// smoothly before the monitor's max_replication_lag cut removes it.
//
// The latency average (LatencyEWMA) does not jump to each slower sample as
// in Finagle's peak EWMA: SQL statements differ in cost by orders of
// magnitude, and one heavy query would make a server look slow. The
// in-flight factor gives the quick reaction instead: a server that stalls
// piles up requests, and its cost rises with them before any answer comes
// back.
//
// A server with no latency sample yet is assumed as fast as the fastest
// measured one, so that a new or returning server gets traffic at once and
// is measured.
type Adaptive struct {
	n        int // number of candidates
	idx      []int
	weight   []float64 // static weight × lag factor, per usable candidate
	relative []float64 // static weight / mean static weight, per usable candidate
	inflight []*atomic.Int64
	lat      []*LatencyEWMA
	floor    float64
}

// AdaptiveOptions tune an Adaptive balancer.
type AdaptiveOptions struct {
	// Floor is the least speed factor (DefaultFloor when ≤ 0, at most 1).
	Floor float64
	// NoLagFactor leaves replication lag out of the effective weight, for
	// when the monitor already scales weights down with lag
	// (monitor.lag_weight_decay).
	NoLagFactor bool
}

// DefaultFloor is the least speed factor: a slow server keeps at least
// 1/20 of the share its weight gives it.
const DefaultFloor = 0.05

// NewAdaptive builds the balancer for cands' usable servers. inflight[i]
// is cands[i]'s in-flight request counter (nil: always 0) and lat[i] its
// latency average (nil: never measured); each slice is nil or as long as
// cands.
func NewAdaptive(cands []topology.Backend, inflight []*atomic.Int64, lat []*LatencyEWMA, o AdaptiveOptions) *Adaptive {
	idx, w := usable(cands)
	a := &Adaptive{n: len(cands), idx: idx, weight: make([]float64, len(idx)), relative: make([]float64, len(idx)),
		inflight: counters(idx, inflight), lat: make([]*LatencyEWMA, len(idx)), floor: o.Floor}
	if a.floor <= 0 {
		a.floor = DefaultFloor
	}
	a.floor = min(a.floor, 1)
	total := 0
	for _, x := range w {
		total += x
	}
	for j, i := range idx {
		a.weight[j] = float64(w[j])
		a.relative[j] = float64(w[j]*len(w)) / float64(total)
		if !o.NoLagFactor {
			a.weight[j] *= LagFactor(&cands[i])
		}
		a.lat[j] = &unmeasured
		if i < len(lat) && lat[i] != nil {
			a.lat[j] = lat[i]
		}
	}
	return a
}

// unmeasured stands in for a server without a latency average.
var unmeasured LatencyEWMA

// stackCands is how many usable candidates Pick handles without
// allocating.
const stackCands = 16

// Pick implements the balancer: O(candidates), no lock; it allocates only
// for hostgroups of more than 16 usable servers.
func (a *Adaptive) Pick(rnd func() uint64) (int, bool) {
	switch len(a.idx) {
	case 0:
		return 0, false
	case 1:
		return a.idx[0], true
	}
	var buf [stackCands]float64
	eff := buf[:0]
	if len(a.idx) > stackCands {
		eff = make([]float64, 0, len(a.idx))
	}
	eff = eff[:len(a.idx)]
	sum := a.effective(eff)
	x := uniform(rnd()) * sum
	for j, e := range eff {
		if x < e {
			return a.idx[j], true
		}
		x -= e
	}
	return a.idx[len(a.idx)-1], true
}

// effective fills eff (one entry per usable candidate) with the effective
// weights and returns their sum.
func (a *Adaptive) effective(eff []float64) float64 {
	// Pass 1: the latency averages, and the fastest one.
	best := 0.0
	for j, l := range a.lat {
		eff[j] = l.averageNs()
		if eff[j] > 0 && (best == 0 || eff[j] < best) {
			best = eff[j]
		}
	}
	if best == 0 {
		best = 1 // nothing measured: compare by requests in flight alone
	}
	// Pass 2: the costs, and the cheapest one.
	cheapest := 0.0
	for j := range eff {
		if eff[j] == 0 {
			eff[j] = best
		}
		eff[j] *= 1 + float64(max(a.inflight[j].Load(), 0))/a.relative[j]
		if j == 0 || eff[j] < cheapest {
			cheapest = eff[j]
		}
	}
	// Pass 3: speed relative to the cheapest, floored, times the weight.
	sum := 0.0
	for j := range eff {
		eff[j] = a.weight[j] * max(cheapest/eff[j], a.floor)
		sum += eff[j]
	}
	return sum
}

// Weights returns the current effective weight of every candidate the
// balancer was built from (0 for an unusable one), appended to dst.
func (a *Adaptive) Weights(dst []float64) []float64 {
	start := len(dst)
	for range a.n {
		dst = append(dst, 0)
	}
	if len(a.idx) == 0 {
		return dst
	}
	eff := make([]float64, len(a.idx))
	a.effective(eff)
	for j, i := range a.idx {
		dst[start+i] = eff[j]
	}
	return dst
}
