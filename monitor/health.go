package monitor

import (
	"fmt"
	"time"

	"github.com/rwproxy/rwproxy/config"
)

// lagSample is one replication lag measurement of a replica.
type lagSample struct {
	// lag in seconds; -1 when unknown (stopped thread, NULL
	// Seconds_Behind_Master, empty SHOW REPLICA STATUS, failed query).
	lag float64
	// reason says why the lag is unknown ("" when known).
	reason string
	// notReplica: SHOW REPLICA STATUS was empty (the server replicates
	// from nothing).
	notReplica bool
}

// grMember is one member's answer to the group replication query: its own
// row of replication_group_members and its view of the group.
type grMember struct {
	state, role string
	// txBehind is COUNT_TRANSACTIONS_REMOTE_IN_APPLIER_QUEUE.
	txBehind int64
	// viable counts ONLINE and RECOVERING members, total all members, as
	// this member sees the group.
	viable, total int
	superReadOnly bool
	// applyLag is the age in seconds of the oldest transaction its applier
	// workers are applying (0 when idle); -1 when not available.
	applyLag float64
}

// quorum reports whether the member sees a majority of the group ONLINE
// or RECOVERING (ProxySQL's viable_candidate, MySQL Router's quorum rule).
func (g *grMember) quorum() bool { return g.viable*2 > g.total }

// Group replication member states and roles (performance_schema).
const (
	grOnline    = "ONLINE"
	grPrimary   = "PRIMARY"
	grSecondary = "SECONDARY"
)

// counter is a shun/unshun hysteresis: bad consecutive samples shun,
// unshunAfter consecutive good samples lift it.
type counter struct {
	bad, good int
	shunned   bool
}

// observe feeds one sample.
func (c *counter) observe(isBad bool, shunAfter, unshunAfter int) {
	if isBad {
		c.bad++
		c.good = 0
		if c.bad >= shunAfter {
			c.shunned = true
		}
		return
	}
	c.good++
	c.bad = 0
	if c.shunned && c.good >= unshunAfter {
		c.shunned = false
	}
}

// health is what the monitor has observed about one server, and the
// hysteresis state derived from it. It holds no clock: the checker decides
// when to sample, health only counts samples. Guarded by Monitor.mu.
type health struct {
	// ping
	pingFails   int // consecutive failed pings (or dials)
	pingShunned bool
	pingErr     string
	lastPing    time.Time
	pingLatency time.Duration

	// read-only variables by name, nil until a read-only check succeeded.
	ro    map[string]bool
	roErr string

	// replication lag, for servers in a reader role.
	lag       float64 // seconds, -1 unknown
	lagReason string
	lagAt     time.Time
	lagHyst   map[int]*counter // per reader hostgroup with a lag limit

	// group replication.
	grKnown  bool      // a group replication check has answered
	grMember *grMember // nil: the server reported no member row
	grFails  int       // consecutive failed checks (SQL errors)
	grErr    string
	txHyst   counter // transactions behind > max_transactions_behind
}

func newHealth() *health { return &health{lag: -1} }

// observePing records a ping (nil err: success). One success clears the
// shun; shunAfter consecutive failures set it.
func (h *health) observePing(err error, latency time.Duration, now time.Time, shunAfter int) {
	h.lastPing = now
	if err == nil {
		h.pingFails, h.pingShunned, h.pingErr, h.pingLatency = 0, false, "", latency
		return
	}
	h.pingFails++
	h.pingErr = err.Error()
	if h.pingFails >= shunAfter {
		h.pingShunned = true
	}
}

// observeReadOnly records a read-only check: vals maps each queried
// variable to its value. A failed check keeps the last known values.
func (h *health) observeReadOnly(vals map[string]bool, err error) {
	if err != nil {
		h.roErr = err.Error()
		return
	}
	h.roErr = ""
	if h.ro == nil {
		h.ro = make(map[string]bool, len(vals))
	}
	for k, v := range vals {
		h.ro[k] = v
	}
}

// readOnly returns the last seen value of variable v and whether one was seen.
// v may be one of ProxySQL's combinations (read_only|innodb_read_only:
// ON when either is; read_only&innodb_read_only: ON when both are); a
// combination is known once every variable in it was seen.
func (h *health) readOnly(v string) (bool, bool) {
	vars, all := config.CheckTypeVars(v)
	res := all
	for _, name := range vars {
		val, ok := h.ro[name]
		if !ok {
			return false, false
		}
		if all {
			res = res && val
		} else {
			res = res || val
		}
	}
	return res, true
}

// anyReadOnly returns the first known read-only value (for display).
func (h *health) anyReadOnly() (bool, bool) {
	for _, v := range []string{"read_only", "super_read_only", "innodb_read_only"} {
		if val, ok := h.ro[v]; ok {
			return val, true
		}
	}
	return false, false
}

// observeLag records a lag sample against every reader hostgroup limit:
// over the limit, or unknown, is a bad sample.
func (h *health) observeLag(s lagSample, now time.Time, limits map[int]int, shunAfter, unshunAfter int) {
	h.lag, h.lagReason, h.lagAt = s.lag, s.reason, now
	if h.lagHyst == nil {
		h.lagHyst = make(map[int]*counter)
	}
	for hg, limit := range limits {
		c := h.lagHyst[hg]
		if c == nil {
			c = &counter{}
			h.lagHyst[hg] = c
		}
		c.observe(s.lag < 0 || s.lag > float64(limit), shunAfter, unshunAfter)
	}
}

// clearLag forgets the lag state: the server left every reader role.
func (h *health) clearLag() {
	h.lag, h.lagReason, h.lagHyst = -1, "", nil
}

// lagShunned reports whether the server is shunned for lag in hostgroup hg.
func (h *health) lagShunned(hg int) bool {
	c := h.lagHyst[hg]
	return c != nil && c.shunned
}

// lagText describes the lag against limit, for state-change reasons.
func (h *health) lagText(limit int) string {
	if h.lag < 0 {
		return "replication lag unknown: " + h.lagReason
	}
	return fmt.Sprintf("replication lag %.3fs (max_replication_lag %ds)", h.lag, limit)
}

// grPolicy is what observeGR needs from the configuration.
type grPolicy struct {
	maxTxBehind                  int
	limits                       map[int]int
	lagShunAfter, lagUnshunAfter int
}

// observeGR records a group replication check: m is the member's row (nil
// when the server reported none), err a failed query.
func (h *health) observeGR(m *grMember, err error, now time.Time, pol grPolicy) {
	if err != nil {
		h.grFails++
		h.grErr = err.Error()
		return
	}
	h.grKnown, h.grFails, h.grErr, h.grMember = true, 0, "", m
	if m == nil || m.role != grSecondary || pol.maxTxBehind <= 0 {
		h.txHyst = counter{}
	} else {
		h.txHyst.observe(m.txBehind > int64(pol.maxTxBehind), pol.lagShunAfter, pol.lagUnshunAfter)
	}
	if m != nil && m.role == grSecondary && m.applyLag >= 0 {
		h.observeLag(lagSample{lag: m.applyLag}, now, pol.limits, pol.lagShunAfter, pol.lagUnshunAfter)
		return
	}
	// A primary has no apply lag to speak of; a server without the
	// seconds-of-lag column has only the transactions-behind check.
	h.clearLag()
}

// pingBackoff returns the delay before the next ping: the interval while
// the server is up, then doubling with every failure past shunAfter, up
// to ten intervals (a dead server is not hammered, and comes back within
// ten intervals of being reachable again).
func pingBackoff(interval time.Duration, fails, shunAfter int) time.Duration {
	if fails < shunAfter {
		return interval
	}
	d := interval
	for range fails - shunAfter {
		d *= 2
		if d >= 10*interval {
			return 10 * interval
		}
	}
	return d
}
