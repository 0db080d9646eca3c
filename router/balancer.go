package router

import (
	"sync"

	"github.com/rwproxy/rwproxy/topology"
)

// SWRR is smooth weighted round-robin (nginx's algorithm): over any window
// of sum(weights) picks, each backend is chosen weight times, interleaved.
// It is safe for concurrent use.
type SWRR struct {
	mu      sync.Mutex
	current map[swrrKey]int // current weight by backend and hostgroup
}

// NewSWRR returns an empty balancer.
func NewSWRR() *SWRR { return &SWRR{current: make(map[swrrKey]int)} }

// Pick returns the next usable backend of candidates, or false when none
// is usable.
func (b *SWRR) Pick(candidates []topology.Backend) (topology.Backend, bool) {
	b.mu.Lock()
	defer b.mu.Unlock()
	total, best := 0, -1
	for i := range candidates {
		c := &candidates[i]
		if !c.Usable() {
			continue
		}
		key := hgKey(c)
		b.current[key] += c.Weight
		total += c.Weight
		if best < 0 || b.current[key] > b.current[hgKey(&candidates[best])] {
			best = i
		}
	}
	if best < 0 {
		return topology.Backend{}, false
	}
	b.current[hgKey(&candidates[best])] -= total
	return candidates[best], true
}

type swrrKey struct {
	addr string
	hg   int
}

func hgKey(b *topology.Backend) swrrKey { return swrrKey{b.Addr, b.Hostgroup} }

// P2C is weighted least-outstanding-requests with the power of two choices:
// two usable candidates are drawn at random in proportion to their weights,
// and the one with fewer outstanding requests per unit of weight wins.
// outstanding reports a backend's in-flight requests; intn is the random
// source (rand.IntN, or a seeded one in tests).
func P2C(candidates []topology.Backend, outstanding func(addr string) int64, intn func(int) int) (topology.Backend, bool) {
	total, n := 0, 0
	for i := range candidates {
		if candidates[i].Usable() {
			total += candidates[i].Weight
			n++
		}
	}
	switch n {
	case 0:
		return topology.Backend{}, false
	case 1:
		for i := range candidates {
			if candidates[i].Usable() {
				return candidates[i], true
			}
		}
	}
	a := drawWeighted(candidates, total, intn)
	b := drawWeighted(candidates, total, intn)
	for tries := 0; b == a && tries < 4; tries++ {
		b = drawWeighted(candidates, total, intn)
	}
	ca, cb := &candidates[a], &candidates[b]
	// Compare load/weight without division: oa/wa <= ob/wb.
	if outstanding(ca.Addr)*int64(cb.Weight) <= outstanding(cb.Addr)*int64(ca.Weight) {
		return *ca, true
	}
	return *cb, true
}

func drawWeighted(candidates []topology.Backend, total int, intn func(int) int) int {
	r := intn(total)
	for i := range candidates {
		c := &candidates[i]
		if !c.Usable() {
			continue
		}
		if r < c.Weight {
			return i
		}
		r -= c.Weight
	}
	return 0
}
