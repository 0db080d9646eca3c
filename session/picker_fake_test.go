package session

import (
	"errors"
	"sync"
	"time"
)

var _ Picker = (*fakePicker)(nil)

// fakePicker is the session's Picker in tests: the servers of each
// hostgroup in turn (hgs[anyHG] serves hostgroups not listed), session
// affinity for the hostgroups in affinity, a last-resort server per
// hostgroup, and a count of the latencies observed per server.
type fakePicker struct {
	mu         sync.Mutex
	next       map[int]int
	hgs        map[int][]string
	affinity   map[int]bool
	lastResort map[int]string
	observed   map[string]int
}

// anyHG is fakePicker.hgs's key for every hostgroup not listed.
const anyHG = -1

var errNoPick = errors.New("fakePicker: no server")

// onePicker picks addr in every hostgroup.
func onePicker(addr string) *fakePicker { return &fakePicker{hgs: map[int][]string{anyHG: {addr}}} }

// hgPicker picks the one server listed for each hostgroup; no affinity,
// no last resort.
type hgPicker map[int]string

var _ Picker = hgPicker(nil)

func (p hgPicker) Pick(hg int) (string, bool, error) { return p[hg], false, nil }
func (hgPicker) Keep(int, string) bool               { return false }
func (hgPicker) LastResort(int) (string, error)      { return "", errNoPick }
func (hgPicker) Observe(string, time.Duration)       {}

// rrPicker picks the servers of each hostgroup in turn.
type rrPicker = fakePicker

func (p *fakePicker) Pick(hg int) (string, bool, error) {
	p.mu.Lock()
	defer p.mu.Unlock()
	list, ok := p.hgs[hg]
	if !ok {
		list = p.hgs[anyHG]
	}
	if len(list) == 0 {
		return "", false, errNoPick
	}
	if p.next == nil {
		p.next = map[int]int{}
	}
	a := list[p.next[hg]%len(list)]
	p.next[hg]++
	return a, p.affinity[hg], nil
}

func (p *fakePicker) Keep(hg int, addr string) bool {
	p.mu.Lock()
	defer p.mu.Unlock()
	if !p.affinity[hg] {
		return false
	}
	list, ok := p.hgs[hg]
	if !ok {
		list = p.hgs[anyHG]
	}
	for _, a := range list {
		if a == addr {
			return true
		}
	}
	return false
}

func (p *fakePicker) LastResort(hg int) (string, error) {
	p.mu.Lock()
	defer p.mu.Unlock()
	if a := p.lastResort[hg]; a != "" {
		return a, nil
	}
	return "", errNoPick
}

func (p *fakePicker) Observe(addr string, _ time.Duration) {
	p.mu.Lock()
	defer p.mu.Unlock()
	if p.observed == nil {
		p.observed = map[string]int{}
	}
	p.observed[addr]++
}

// observations is how many responses of addr were observed.
func (p *fakePicker) observations(addr string) int {
	p.mu.Lock()
	defer p.mu.Unlock()
	return p.observed[addr]
}
