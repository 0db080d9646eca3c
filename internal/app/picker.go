package app

import (
	"errors"
	"sync/atomic"

	"github.com/rwproxy/rwproxy/router"
	"github.com/rwproxy/rwproxy/session"
	"github.com/rwproxy/rwproxy/topology"
)

var errNoBackend = errors.New("app: no usable backend in hostgroup")

// picker chooses a server of a hostgroup from the current topology.
type picker struct {
	topo *atomic.Pointer[topology.Snapshot]
	swrr *router.SWRR
}

var _ session.Picker = (*picker)(nil)

func newPicker(t *atomic.Pointer[topology.Snapshot]) *picker {
	return &picker{topo: t, swrr: router.NewSWRR()}
}

// Pick implements session.Picker.
func (p *picker) Pick(hg int) (string, error) {
	b, ok := p.swrr.Pick(p.topo.Load().Hostgroups[hg])
	if !ok {
		return "", errNoBackend
	}
	return b.Addr, nil
}
