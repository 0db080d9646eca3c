package monitor

import (
	"sync"
	"time"
)

// Check kinds accepted by Monitor.Log, one ring each (the admin tables
// monitor.mysql_server_ping_log, mysql_server_read_only_log,
// mysql_server_replication_lag_log, mysql_server_group_replication_log
// and mysql_server_connect_log).
const (
	KindPing             = "ping"
	KindReadOnly         = "read_only"
	KindReplicationLag   = "replication_lag"
	KindGroupReplication = "group_replication"
	// KindConnect: each time the monitor opens its connection to a server
	// (at start, and after a failed check closed it).
	KindConnect = "connect"
)

// LogCapacity is how many recent checks each kind's ring keeps (all
// servers together); older entries are overwritten.
const LogCapacity = 1024

// LogEntry is one check of one server.
type LogEntry struct {
	// Time is when the check started.
	Time time.Time
	Addr string
	// Duration is the check's wall time, including a dial when one was needed.
	Duration time.Duration
	// Result is the value read, e.g. "ok", "read_only=ON", "lag=0.412s",
	// "SECONDARY ONLINE members=3/3 transactions_behind=0", "lag unknown";
	// empty when the check failed.
	Result string
	// Error is the failure, or why the lag is unknown; empty on success.
	Error string
}

// entry builds a LogEntry that ends now.
func entry(addr string, start time.Time, result string, err error) LogEntry {
	e := LogEntry{Time: start, Addr: addr, Duration: time.Since(start), Result: result}
	if err != nil {
		e.Error = err.Error()
	}
	return e
}

// ring is a fixed-size circular buffer of entries.
type ring struct {
	buf  []LogEntry
	next int
	full bool
}

func (r *ring) add(e LogEntry) {
	if r.buf == nil {
		r.buf = make([]LogEntry, LogCapacity)
	}
	r.buf[r.next] = e
	r.next = (r.next + 1) % len(r.buf)
	if r.next == 0 {
		r.full = true
	}
}

// newest returns up to limit entries, newest first (limit <= 0: all).
func (r *ring) newest(limit int) []LogEntry {
	n := r.next
	if r.full {
		n = len(r.buf)
	}
	if limit <= 0 || limit > n {
		limit = n
	}
	out := make([]LogEntry, 0, limit)
	for i := 1; i <= limit; i++ {
		out = append(out, r.buf[(r.next-i+len(r.buf))%len(r.buf)])
	}
	return out
}

// checkLogs holds one ring per kind; it has its own lock so that admin
// reads never wait for the monitor's state mutex.
type checkLogs struct {
	mu    sync.Mutex
	kinds map[string]*ring
}

func newCheckLogs() *checkLogs {
	l := &checkLogs{kinds: make(map[string]*ring)}
	for _, k := range []string{KindPing, KindReadOnly, KindReplicationLag, KindGroupReplication, KindConnect} {
		l.kinds[k] = &ring{}
	}
	return l
}

func (l *checkLogs) add(kind string, e LogEntry) {
	l.mu.Lock()
	defer l.mu.Unlock()
	if r := l.kinds[kind]; r != nil {
		r.add(e)
	}
}

func (l *checkLogs) newest(kind string, limit int) []LogEntry {
	l.mu.Lock()
	defer l.mu.Unlock()
	r := l.kinds[kind]
	if r == nil {
		return nil
	}
	return r.newest(limit)
}
