package session

import (
	"strconv"
	"strings"
	"sync"
	"time"

	"github.com/rwproxy/rwproxy/pool"
)

// Applied remembers, per backend, the highest GTID sequence number known to
// be applied in each replication domain (MariaDB domain id, MySQL source
// uuid), so that read-your-writes waits on a replica at most once per write.
// It is safe for concurrent use.
type Applied struct {
	mu   sync.Mutex
	seen map[string]map[string]uint64 // addr → domain → seq
}

// NewApplied returns an empty tracker.
func NewApplied() *Applied { return &Applied{seen: make(map[string]map[string]uint64)} }

// gtidParts splits one GTID into its domain and sequence number:
// MariaDB "0-1-42" → ("0", 42); MySQL "uuid:42" or "uuid:1-42" → (uuid, 42).
func gtidParts(g string) (string, uint64, bool) {
	g = strings.TrimSpace(g)
	if i := strings.LastIndexByte(g, ':'); i > 0 {
		seq := g[i+1:]
		if j := strings.LastIndexByte(seq, '-'); j >= 0 {
			seq = seq[j+1:]
		}
		n, err := strconv.ParseUint(seq, 10, 64)
		return strings.ToLower(g[:i]), n, err == nil
	}
	f := strings.Split(g, "-")
	if len(f) != 3 {
		return "", 0, false
	}
	n, err := strconv.ParseUint(f[2], 10, 64)
	return f[0], n, err == nil
}

// Reached reports whether addr is known to have applied every GTID in set.
func (a *Applied) Reached(addr, set string) bool {
	a.mu.Lock()
	defer a.mu.Unlock()
	m := a.seen[addr]
	for _, g := range strings.Split(set, ",") {
		d, n, ok := gtidParts(g)
		if !ok || m == nil || m[d] < n {
			return false
		}
	}
	return true
}

// Record notes that addr has applied every GTID in set.
func (a *Applied) Record(addr, set string) {
	a.mu.Lock()
	defer a.mu.Unlock()
	m := a.seen[addr]
	if m == nil {
		m = make(map[string]uint64)
		a.seen[addr] = m
	}
	for _, g := range strings.Split(set, ",") {
		if d, n, ok := gtidParts(g); ok && m[d] < n {
			m[d] = n
		}
	}
}

// safeGTID reports whether g may be inlined in SQL (digits, hex, ':', '-', ',').
func safeGTID(g string) bool {
	for i := 0; i < len(g); i++ {
		c := g[i]
		if !(c >= '0' && c <= '9' || c >= 'a' && c <= 'f' || c >= 'A' && c <= 'F' || c == ':' || c == '-' || c == ',') {
			return false
		}
	}
	return g != ""
}

// caughtUp reports whether replica connection c has applied the session's
// last write, waiting for it up to the user's read_your_writes_timeout
// (MASTER_GTID_WAIT on MariaDB, WAIT_FOR_EXECUTED_GTID_SET on MySQL).
func (s *Session) caughtUp(c *pool.Conn) bool {
	g := s.st.lastGTID
	if s.d.Applied.Reached(c.Addr(), g) {
		return true
	}
	if !safeGTID(g) {
		return false
	}
	timeout := s.user.ReadYourWritesTimeout
	if timeout <= 0 {
		timeout = time.Second
	}
	secs := strconv.FormatFloat(timeout.Seconds(), 'f', 3, 64)
	q := "SELECT MASTER_GTID_WAIT('" + g + "', " + secs + ")"
	if strings.Contains(g, ":") {
		q = "SELECT WAIT_FOR_EXECUTED_GTID_SET('" + g + "', " + secs + ")"
	}
	s.d.Stats.RYWWaits.Add(1)
	if s.span != nil {
		s.span.GTIDStart = timeNow()
	}
	r, err := c.Execute(q)
	if s.span != nil {
		s.span.GTIDEnd = timeNow()
	}
	if err != nil {
		return false
	}
	v, err := r.GetInt(0, 0)
	if err != nil || v != 0 {
		return false
	}
	s.d.Applied.Record(c.Addr(), g)
	return true
}
