package session

import (
	"net"
	"sort"
	"strconv"
	"sync"
	"time"
)

// maxProcInfo bounds the statement text the processlist keeps per session.
const maxProcInfo = 256

// procState is what the admin processlist shows of a session's last
// routed statement: written by the session's goroutine (publishProc, no
// allocation: info is copied into a fixed buffer), read by the admin
// under mu.
type procState struct {
	mu      sync.Mutex
	db      string
	hg      int
	start   time.Time
	info    [maxProcInfo]byte
	infoLen int
}

// publishProc records the statement being routed (its text cut to
// maxProcInfo and copied: sql may alias the packet buffer).
func (s *Session) publishProc(hg int, sql string) {
	p := &s.proc
	p.mu.Lock()
	p.db, p.hg, p.start = s.st.db, hg, time.Now()
	p.infoLen = copy(p.info[:], sql)
	p.mu.Unlock()
}

// Process is one client session as the admin processlist shows it
// (ProxySQL's stats_mysql_processlist).
type Process struct {
	ID         uint32
	User       string
	DB         string
	ClientHost string
	ClientPort int
	Hostgroup  int // -1 before the first statement
	// Backend is the server the running statement (or the pinned
	// transaction) is on, "" when idle.
	Backend string
	// Local is the proxy's end (host:port) of that backend connection.
	Local string
	// Command is Query while a statement runs, Sleep otherwise.
	Command string
	// Time is how long the running statement has run (Query) or since the
	// last one started (Sleep).
	Time  time.Duration
	Info  string // the running statement, "" when idle
	InTxn bool
}

// Processlist returns the client sessions by id.
func (r *Registry) Processlist() []Process {
	r.mu.Lock()
	out := make([]Process, 0, len(r.mu.byID))
	for _, s := range r.mu.byID {
		p := Process{ID: s.id, User: s.user.Username, Hostgroup: -1, Command: "Sleep", InTxn: s.inTxnFlag.Load()}
		if host, port, err := net.SplitHostPort(s.nc.RemoteAddr().String()); err == nil {
			p.ClientHost = host
			p.ClientPort, _ = strconv.Atoi(port)
		}
		st := &s.proc
		st.mu.Lock()
		p.DB, p.Hostgroup, p.Time = st.db, st.hg, time.Since(st.start)
		if c := s.running.Load(); c != nil {
			p.Command, p.Info, p.Backend = "Query", string(st.info[:st.infoLen]), c.Addr()
			if la := c.LocalAddr(); la != nil {
				p.Local = la.String()
			}
		}
		st.mu.Unlock()
		out = append(out, p)
	}
	r.mu.Unlock()
	sort.Slice(out, func(i, j int) bool { return out[i].ID < out[j].ID })
	return out
}

// UserConnections returns the number of client sessions of each user.
func (r *Registry) UserConnections() map[string]int {
	r.mu.Lock()
	defer r.mu.Unlock()
	out := make(map[string]int, len(r.mu.byUser))
	for u, n := range r.mu.byUser {
		out[u] = n
	}
	return out
}

// Kill ends session id's running statement (query) or the whole session,
// as KILL [QUERY|CONNECTION] id from a client does; false when no such
// session exists.
func (r *Registry) Kill(id uint32, query bool) bool { return r.kill(id, query) }
