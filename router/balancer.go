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
