package monitor

import (
	"encoding/json"
	"errors"
	"fmt"
	"maps"
	"time"

	"go.uber.org/zap"

	"github.com/rwproxy/rwproxy/topology"
)

// The monitor's view crosses a zero-downtime upgrade (internal/handover):
// the old process exports what it has observed of every server (health
// with its shun and unshun counters, lag, read-only values, group
// replication role, last check results and the check logs) and the
// topology it published; the new process's monitor starts from that
// instead of from nothing, so the upgrade neither forgets a server that
// is being shunned nor re-counts the failures of one coming back, and the
// admin's monitor log tables go on without a gap.
//
// Rules for the encoding, as for session.Durable:
//   - a new version only adds fields; an old reader ignores them (JSON);
//   - a field whose absence an old reader would misread raises MinReader;
//     a reader older than MinReader refuses the view and its monitor
//     starts from scratch (which is always safe: only slower);
//   - testdata/view_v1.json is frozen: every later binary must read it.

// ViewVersion is the version of the View encoding this binary writes.
const ViewVersion = 1

// ErrViewVersion is a view this binary is too old to read.
var ErrViewVersion = errors.New("monitor: view too new for this binary")

// View is a monitor's observed state, as handed to a new process.
type View struct {
	Version   int       `json:"v"`
	MinReader int       `json:"min_reader"`
	Taken     time.Time `json:"taken"`
	// Servers are the observations, by server address.
	Servers map[string]ServerView `json:"servers"`
	// Hostgroups is the last published topology (it keeps the writer
	// choice stable: placement prefers the previous writers).
	Hostgroups map[int][]topology.Backend `json:"hostgroups,omitempty"`
	// Logs are the check logs by kind (KindPing, ...), newest first.
	Logs map[string][]LogEntry `json:"logs,omitempty"`
}

// ServerView is the health of one server.
type ServerView struct {
	PingFails   int           `json:"ping_fails"`
	PingShunned bool          `json:"ping_shunned,omitempty"`
	PingErr     string        `json:"ping_err,omitempty"`
	LastPing    time.Time     `json:"last_ping"`
	PingLatency time.Duration `json:"ping_latency"`

	ReadOnly    map[string]bool `json:"read_only,omitempty"`
	ReadOnlyErr string          `json:"read_only_err,omitempty"`

	Lag       float64             `json:"lag"`
	LagReason string              `json:"lag_reason,omitempty"`
	LagAt     time.Time           `json:"lag_at"`
	LagHyst   map[int]CounterView `json:"lag_hyst,omitempty"`

	GRKnown  bool          `json:"gr_known,omitempty"`
	GRMember *GRMemberView `json:"gr_member,omitempty"`
	GRFails  int           `json:"gr_fails,omitempty"`
	GRErr    string        `json:"gr_err,omitempty"`
	TxHyst   CounterView   `json:"tx_hyst"`
}

// CounterView is a shun/unshun hysteresis counter.
type CounterView struct {
	Bad     int  `json:"bad"`
	Good    int  `json:"good"`
	Shunned bool `json:"shunned,omitempty"`
}

// GRMemberView is a group replication member's last answer.
type GRMemberView struct {
	State         string  `json:"state"`
	Role          string  `json:"role"`
	TxBehind      int64   `json:"tx_behind"`
	Viable        int     `json:"viable"`
	Total         int     `json:"total"`
	SuperReadOnly bool    `json:"super_read_only,omitempty"`
	ApplyLag      float64 `json:"apply_lag"`
}

// ExportView encodes what the monitor has observed (see View).
func (m *Monitor) ExportView() ([]byte, error) {
	v := View{Version: ViewVersion, MinReader: 1, Taken: time.Now(), Servers: make(map[string]ServerView),
		Hostgroups: m.snap.Load().Hostgroups, Logs: make(map[string][]LogEntry)}
	m.mu.Lock()
	for addr, h := range m.mu.health {
		v.Servers[addr] = h.view()
	}
	m.mu.Unlock()
	for kind := range m.logs.kinds {
		if es := m.logs.newest(kind, 0); len(es) > 0 {
			v.Logs[kind] = es
		}
	}
	return json.Marshal(&v)
}

// UnmarshalView decodes a view of any version this binary can read.
func UnmarshalView(b []byte) (*View, error) {
	var v View
	if err := json.Unmarshal(b, &v); err != nil {
		return nil, fmt.Errorf("monitor: view: %w", err)
	}
	if v.Version < 1 || v.MinReader > ViewVersion {
		return nil, fmt.Errorf("%w: version %d, needs a reader of version %d (this one: %d)",
			ErrViewVersion, v.Version, v.MinReader, ViewVersion)
	}
	return &v, nil
}

// RestoreView starts the monitor from an exported view: the health of
// every server it still has in its configuration (the others are
// dropped), the check logs, and the topology placed from them. Call it
// before Start; the checkers then go on from these counters. A view this
// binary cannot read leaves the monitor as it was (an error).
func (m *Monitor) RestoreView(b []byte) error {
	v, err := UnmarshalView(b)
	if err != nil {
		return err
	}
	kept := 0
	m.mu.Lock()
	for addr, sv := range v.Servers {
		if m.mu.plan.byAddr[addr] == nil {
			continue
		}
		m.mu.health[addr] = sv.health()
		kept++
	}
	prev := &topology.Snapshot{Hostgroups: v.Hostgroups}
	if prev.Hostgroups == nil {
		prev = nil
	}
	next, _ := place(m.mu.plan, prev, m.mu.health)
	m.snap.Store(next)
	m.mu.Unlock()
	for kind, es := range v.Logs {
		for i := len(es) - 1; i >= 0; i-- { // oldest first: the ring keeps the order
			m.logs.add(kind, es[i])
		}
	}
	m.lg.Info("monitor view restored", zap.Int("servers", kept), zap.Int("dropped", len(v.Servers)-kept),
		zap.Duration("age", time.Since(v.Taken)))
	return nil
}

func (h *health) view() ServerView {
	sv := ServerView{PingFails: h.pingFails, PingShunned: h.pingShunned, PingErr: h.pingErr,
		LastPing: h.lastPing, PingLatency: h.pingLatency, ReadOnlyErr: h.roErr,
		Lag: h.lag, LagReason: h.lagReason, LagAt: h.lagAt, GRKnown: h.grKnown, GRFails: h.grFails,
		GRErr: h.grErr, TxHyst: h.txHyst.view()}
	sv.ReadOnly = maps.Clone(h.ro)
	if h.lagHyst != nil {
		sv.LagHyst = make(map[int]CounterView, len(h.lagHyst))
		for hg, c := range h.lagHyst {
			sv.LagHyst[hg] = c.view()
		}
	}
	if g := h.grMember; g != nil {
		sv.GRMember = &GRMemberView{State: g.state, Role: g.role, TxBehind: g.txBehind, Viable: g.viable,
			Total: g.total, SuperReadOnly: g.superReadOnly, ApplyLag: g.applyLag}
	}
	return sv
}

func (sv ServerView) health() *health {
	h := &health{pingFails: sv.PingFails, pingShunned: sv.PingShunned, pingErr: sv.PingErr,
		lastPing: sv.LastPing, pingLatency: sv.PingLatency, roErr: sv.ReadOnlyErr,
		lag: sv.Lag, lagReason: sv.LagReason, lagAt: sv.LagAt, grKnown: sv.GRKnown, grFails: sv.GRFails,
		grErr: sv.GRErr, txHyst: sv.TxHyst.counter()}
	h.ro = maps.Clone(sv.ReadOnly)
	if sv.LagHyst != nil {
		h.lagHyst = make(map[int]*counter, len(sv.LagHyst))
		for hg, c := range sv.LagHyst {
			cc := c.counter()
			h.lagHyst[hg] = &cc
		}
	}
	if g := sv.GRMember; g != nil {
		h.grMember = &grMember{state: g.State, role: g.Role, txBehind: g.TxBehind, viable: g.Viable,
			total: g.Total, superReadOnly: g.SuperReadOnly, applyLag: g.ApplyLag}
	}
	return h
}

func (c counter) view() CounterView { return CounterView{Bad: c.bad, Good: c.good, Shunned: c.shunned} }

func (c CounterView) counter() counter { return counter{bad: c.Bad, good: c.Good, shunned: c.Shunned} }
