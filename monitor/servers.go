package monitor

import (
	"slices"
	"time"

	"github.com/rwproxy/rwproxy/topology"
)

// ServerHealth is what the monitor knows about one configured server, for
// the admin interface and metrics.
type ServerHealth struct {
	Addr string
	// Backends are the server's placements in the current snapshot, by
	// hostgroup.
	Backends []topology.Backend
	// State is the most severe state among Backends (ONLINE,
	// SHUNNED_REPLICATION_LAG, SHUNNED, OFFLINE_SOFT, OFFLINE_HARD).
	State topology.State

	// ReadOnly is the last read-only value seen (the pair's check_type, or
	// super_read_only for group replication members); ReadOnlyKnown is
	// false until a check answered. ReadOnlyError is the last failure.
	ReadOnly      bool
	ReadOnlyKnown bool
	ReadOnlyError string

	// LagSeconds is the last replication lag measured; -1 when unknown or
	// not measured (not in a reader role). LagError says why it is unknown
	// (stopped thread, NULL Seconds_Behind_Master, empty SHOW REPLICA
	// STATUS: a configuration error, missing privilege, ...).
	LagSeconds float64
	LagError   string
	LagCheckAt time.Time

	// LastPing is when the last ping started, PingLatency its round trip
	// (successful pings only), PingError its failure.
	LastPing    time.Time
	PingLatency time.Duration
	PingError   string
	// ConsecutiveFailures counts failed pings since the last good one.
	ConsecutiveFailures int

	// GroupReplication is the member's last answer (nil when not a group
	// replication member or not answered yet); GroupReplicationError the
	// last failure.
	GroupReplication      *GroupMember
	GroupReplicationError string
}

// GroupMember is a group replication member's view of itself and the group.
type GroupMember struct {
	Role, State        string // PRIMARY/SECONDARY; ONLINE, RECOVERING, ...
	TransactionsBehind int64  // COUNT_TRANSACTIONS_REMOTE_IN_APPLIER_QUEUE
	ViableMembers      int    // ONLINE + RECOVERING members it sees
	Members            int    // all members it sees
	Quorum             bool
	// ApplyLagSeconds is the age of the transaction being applied; -1
	// when the server cannot report it.
	ApplyLagSeconds float64
	Member          bool // false: the server reported no member row
}

// Servers returns every configured server, in configuration order.
func (m *Monitor) Servers() []ServerHealth {
	m.mu.Lock()
	defer m.mu.Unlock()
	idx := byAddr(m.snap.Load())
	out := make([]ServerHealth, 0, len(m.mu.plan.servers))
	for _, sp := range m.mu.plan.servers {
		h := m.mu.health[sp.addr]
		if h == nil {
			h = newHealth()
		}
		sh := ServerHealth{
			Addr: sp.addr, ReadOnlyError: h.roErr, LagSeconds: h.lag, LagError: h.lagReason, LagCheckAt: h.lagAt,
			LastPing: h.lastPing, PingLatency: h.pingLatency, PingError: h.pingErr,
			ConsecutiveFailures: h.pingFails, GroupReplicationError: h.grErr,
		}
		sh.ReadOnly, sh.ReadOnlyKnown = h.anyReadOnly()
		bs := idx[sp.addr]
		for _, hg := range sortedKeys(bs) {
			sh.Backends = append(sh.Backends, bs[hg])
		}
		sh.State = worst(bs).State
		if len(bs) == 0 {
			sh.State = ""
		}
		if len(sp.grs) > 0 && h.grKnown {
			sh.GroupReplication = groupMember(h.grMember)
			if h.grMember != nil {
				sh.ReadOnly, sh.ReadOnlyKnown = h.grMember.superReadOnly, true
			}
		}
		out = append(out, sh)
	}
	return slices.Clip(out)
}

func groupMember(g *grMember) *GroupMember {
	if g == nil {
		return &GroupMember{ApplyLagSeconds: -1}
	}
	return &GroupMember{
		Role: g.role, State: g.state, TransactionsBehind: g.txBehind, ViableMembers: g.viable,
		Members: g.total, Quorum: g.quorum(), ApplyLagSeconds: g.applyLag, Member: true,
	}
}
