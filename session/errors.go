package session

import (
	"net"
	"sort"
	"sync"
	"time"

	"github.com/go-mysql-org/go-mysql/mysql"
)

// maxErrorKeys bounds the distinct (hostgroup, backend, user, client,
// schema, errno) combinations ErrorStats keeps; errors of further ones
// are counted in Dropped.
const maxErrorKeys = 1000

// maxErrorText bounds the last_error text kept per combination.
const maxErrorText = 256

type errorKey struct {
	hostgroup int
	backend   string
	user      string
	client    string
	schema    string
	errno     uint16
}

// ErrorStat is one row of stats_mysql_errors.
type ErrorStat struct {
	Hostgroup           int
	Backend             string // host:port
	User, Client        string // Client: the client's host
	Schema              string
	Errno               uint16
	Count               uint64
	FirstSeen, LastSeen time.Time
	LastError           string
}

// ErrorStats aggregates the errors backends returned to clients
// (ProxySQL's stats_mysql_errors). Safe for concurrent use.
type ErrorStats struct {
	mu      sync.Mutex
	m       map[errorKey]*ErrorStat
	dropped uint64
}

// NewErrorStats returns an empty ErrorStats.
func NewErrorStats() *ErrorStats { return &ErrorStats{m: make(map[errorKey]*ErrorStat)} }

// record counts one error (a backend ERR packet relayed to the client).
func (e *ErrorStats) record(hg int, backend, user string, client net.Addr, schema string, me *mysql.MyError) {
	host := client.String()
	if h, _, err := net.SplitHostPort(host); err == nil {
		host = h
	}
	k := errorKey{hg, backend, user, host, schema, me.Code}
	now := time.Now()
	msg := me.Message
	if len(msg) > maxErrorText {
		msg = msg[:maxErrorText]
	}
	e.mu.Lock()
	defer e.mu.Unlock()
	st := e.m[k]
	if st == nil {
		if len(e.m) >= maxErrorKeys {
			e.dropped++
			return
		}
		st = &ErrorStat{Hostgroup: hg, Backend: backend, User: user, Client: host, Schema: schema, Errno: me.Code,
			FirstSeen: now}
		e.m[k] = st
	}
	st.Count++
	st.LastSeen, st.LastError = now, msg
}

// Snapshot returns the aggregated errors, most frequent first, and how
// many errors were not kept for lack of room.
func (e *ErrorStats) Snapshot() ([]ErrorStat, uint64) {
	e.mu.Lock()
	out := make([]ErrorStat, 0, len(e.m))
	for _, st := range e.m {
		out = append(out, *st)
	}
	dropped := e.dropped
	e.mu.Unlock()
	sort.Slice(out, func(i, j int) bool { return out[i].Count > out[j].Count })
	return out, dropped
}
