package monitor

import (
	"time"

	"go.uber.org/zap"
)

// Checking at once when a writer is lost (issue #21, item 4).
//
// The checks run every monitor.interval, so a new primary (elected by the
// group, or promoted by hand on async replication) is noticed up to one
// interval late, and a dead primary leaves the writer hostgroup only after
// monitor.shun_after_failures failed pings. A session that loses its
// writer connection, or waits for a writer in failover_buffer, calls
// CheckNow: every checker wakes and runs its ping, read-only and group
// replication checks at once, then, for urgentWindow after the last
// call, every urgentEvery (without the ping back-off of a dead server).
// Each member's group replication check reads its own row of
// replication_group_members: the member the group elected reports
// MEMBER_ROLE PRIMARY on its next (now immediate) check, and the dead one
// is shunned after shun_after_failures pings urgentEvery apart.
//
// Calls are coalesced: many sessions losing the same writer at once wake
// the checkers once per urgentEvery at most, and a checker's wake channel
// holds one pending wake-up.
const (
	// urgentEvery is the check spacing while urgent (monitor.interval when
	// that is shorter).
	urgentEvery = 100 * time.Millisecond
	// urgentWindow is how long the checks stay frequent after the last
	// CheckNow; sessions still waiting call it again (every failoverPoll).
	urgentWindow = 3 * time.Second
)

// CheckNow makes every checker run its checks at once, and keeps them
// frequent for a few seconds: sessions call it when their writer's
// connection was lost or no writer is usable. Safe for concurrent use and
// cheap when called often (coalesced; see urgentEvery).
func (m *Monitor) CheckNow() {
	now := time.Now().UnixNano()
	was := m.urgentUntil.Swap(now + int64(urgentWindow))
	last := m.lastWake.Load()
	if now-last < int64(urgentEvery) || !m.lastWake.CompareAndSwap(last, now) {
		return
	}
	m.mu.Lock()
	defer m.mu.Unlock()
	if m.mu.closed {
		return
	}
	m.wakeups.Add(1)
	if was < now {
		m.lg.Info("writer lost by a session: checking every server now",
			zap.Duration("check_every", urgentEvery), zap.Duration("for", urgentWindow))
	}
	for _, c := range m.mu.checkers {
		select {
		case c.wake <- struct{}{}:
		default: // a wake-up is already pending
		}
	}
}

// Wakeups counts the CheckNow calls that woke the checkers (not those
// coalesced into an earlier one).
func (m *Monitor) Wakeups() uint64 { return m.wakeups.Load() }

// urgent reports whether a CheckNow call is recent (within urgentWindow).
func (m *Monitor) urgent() bool { return time.Now().UnixNano() < m.urgentUntil.Load() }

// every is the spacing of a check whose interval is d: urgentEvery (or d
// when shorter) while urgent.
func (m *Monitor) every(d time.Duration) time.Duration {
	if m.urgent() {
		return min(d, urgentEvery)
	}
	return d
}
