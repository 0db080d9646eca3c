package app

import (
	"errors"
	"math/rand/v2"
	"sync/atomic"

	"github.com/rwproxy/rwproxy/config"
	"github.com/rwproxy/rwproxy/pool"
	"github.com/rwproxy/rwproxy/router"
	"github.com/rwproxy/rwproxy/session"
	"github.com/rwproxy/rwproxy/topology"
)

var errNoBackend = errors.New("app: no usable backend in hostgroup")

// pickState is the immutable balancing view of one configuration.
type pickState struct {
	topo *topology.Snapshot
	// leastOutstanding marks hostgroups balanced by least outstanding
	// requests; the others use smooth weighted round-robin.
	leastOutstanding map[int]bool
	// inflight gives each server's in-flight request counter.
	inflight map[string]*atomic.Int64
}

// picker chooses a server of a hostgroup from the current topology.
type picker struct {
	state atomic.Pointer[pickState]
	swrr  *router.SWRR
}

var _ session.Picker = (*picker)(nil)

func newPicker() *picker { return &picker{swrr: router.NewSWRR()} }

func (p *picker) update(c *config.Config, snap *topology.Snapshot, pools *pool.Manager) {
	ps := &pickState{topo: snap, leastOutstanding: make(map[int]bool), inflight: make(map[string]*atomic.Int64)}
	for _, a := range c.HostgroupAttributes {
		if a.Balance == config.BalanceLeastOutstanding {
			ps.leastOutstanding[a.HostgroupID] = true
		}
	}
	for _, bs := range snap.Hostgroups {
		for _, b := range bs {
			if st := pools.Stats(b.Addr); st != nil {
				ps.inflight[b.Addr] = &st.InFlight
			}
		}
	}
	p.state.Store(ps)
}

// Pick implements session.Picker.
func (p *picker) Pick(hg int) (string, error) {
	ps := p.state.Load()
	cands := ps.topo.Hostgroups[hg]
	var (
		b  topology.Backend
		ok bool
	)
	if ps.leastOutstanding[hg] {
		b, ok = router.P2C(cands, func(addr string) int64 {
			if c := ps.inflight[addr]; c != nil {
				return c.Load()
			}
			return 0
		}, rand.IntN)
	} else {
		b, ok = p.swrr.Pick(cands)
	}
	if !ok {
		return "", errNoBackend
	}
	return b.Addr, nil
}
