package session

import (
	"net"
	"strconv"
	"sync"
	"sync/atomic"
	"time"

	"github.com/rwproxy/rwproxy/pool"
)

// Registry knows every live session: for graceful drain, per-user
// connection limits and client KILL. It is safe for concurrent use.
type Registry struct {
	mu struct {
		sync.Mutex
		byID   map[uint32]*Session
		byUser map[string]int
	}
	draining atomic.Bool
	// drainDeadline (unix nanos) bounds how long a session in a
	// transaction may still wait for its client during a drain.
	drainDeadline atomic.Int64
	// handoff, when set, takes the sessions to another process
	// (handover.go).
	handoff atomic.Pointer[handoffBox]
	// schemas lets concurrent logins share a schema check (checkDB).
	schemas schemaChecks
	// wakes counts StartHandoff's wake-ups (handoffWoke).
	wakes atomic.Uint64
}

// NewRegistry returns an empty registry.
func NewRegistry() *Registry {
	r := &Registry{}
	r.mu.byID = make(map[uint32]*Session)
	r.mu.byUser = make(map[string]int)
	return r
}

// admit registers a session for user unless the user is at its limit
// (max <= 0: no limit).
func (r *Registry) admit(user string, max int) bool {
	r.mu.Lock()
	defer r.mu.Unlock()
	if max > 0 && r.mu.byUser[user] >= max {
		return false
	}
	r.mu.byUser[user]++
	return true
}

// add registers s, admitted for its user.
func (r *Registry) add(s *Session) {
	r.mu.Lock()
	defer r.mu.Unlock()
	r.mu.byID[s.id] = s
	s.owner = s.user.Username
}

// remove unregisters s and frees its user's slot (the user it was
// admitted for last: COM_CHANGE_USER moves it).
func (r *Registry) remove(s *Session) {
	r.mu.Lock()
	defer r.mu.Unlock()
	if r.mu.byID[s.id] == s {
		delete(r.mu.byID, s.id)
	}
	user := s.owner
	if r.mu.byUser[user]--; r.mu.byUser[user] <= 0 {
		delete(r.mu.byUser, user)
	}
}

// switchUser moves registered session s to user to (COM_CHANGE_USER),
// unless to is at its connection limit max (max <= 0: no limit): then it
// reports false and s stays counted for its user.
func (r *Registry) switchUser(s *Session, to string, max int) bool {
	r.mu.Lock()
	defer r.mu.Unlock()
	from := s.owner
	if from == to {
		return true
	}
	if max > 0 && r.mu.byUser[to] >= max {
		return false
	}
	r.mu.byUser[to]++
	if r.mu.byUser[from]--; r.mu.byUser[from] <= 0 {
		delete(r.mu.byUser, from)
	}
	s.owner = to
	return true
}

// lookup returns session id and the user it belongs to, read under the
// registry's lock: another session's user field is its own goroutine's.
func (r *Registry) lookup(id uint32) (*Session, string) {
	r.mu.Lock()
	defer r.mu.Unlock()
	s := r.mu.byID[id]
	if s == nil {
		return nil, ""
	}
	return s, s.owner
}

func (r *Registry) release(user string) {
	r.mu.Lock()
	defer r.mu.Unlock()
	if r.mu.byUser[user]--; r.mu.byUser[user] <= 0 {
		delete(r.mu.byUser, user)
	}
}

func (r *Registry) get(id uint32) *Session {
	r.mu.Lock()
	defer r.mu.Unlock()
	return r.mu.byID[id]
}

// Drain asks every session to end at its next transaction boundary:
// sessions waiting for a command outside a transaction end now, the
// others after their transaction, or at deadline.
func (r *Registry) Drain(deadline time.Time) {
	r.drainDeadline.Store(deadline.UnixNano())
	r.draining.Store(true)
	r.mu.Lock()
	defer r.mu.Unlock()
	for _, s := range r.mu.byID {
		// Wake a session blocked reading its next command, unless it is
		// in a transaction: that one ends at its next boundary, or at
		// the deadline it arms itself (drainWait).
		if !s.inTxnFlag.Load() {
			_ = s.nc.SetReadDeadline(time.Now())
		}
	}
}

// kill ends session id's running statement (query=true) or the whole
// session. It reports whether the session exists.
func (r *Registry) kill(id uint32, query bool) bool {
	s := r.get(id)
	if s == nil {
		return false
	}
	_ = s.killRunning(killBackendQuery)
	if !query {
		_ = s.nc.Close()
	}
	return true
}

// killRunning runs kill for the statement the session is running, if
// any. It holds killMu while it does, so that endRunning, which the
// session calls before it can put the connection back in the pool, waits
// for the KILL to be over: a KILL meant for this session's statement can
// then never reach a statement of another session that got the
// connection from the pool. (A KILL QUERY that reaches a thread after its
// statement ended is cleared by the server before its next command.)
func (s *Session) killRunning(kill func(*Session, *pool.Conn) error) error {
	s.killMu.Lock()
	defer s.killMu.Unlock()
	if c := s.running.Load(); c != nil {
		return kill(s, c)
	}
	return nil
}

// endRunning records that the statement running on a backend is over; it
// waits for a client KILL in progress (see killRunning).
func (s *Session) endRunning() {
	s.killMu.Lock()
	s.running.Store(nil)
	s.killMu.Unlock()
}

// killBackendQuery runs KILL QUERY for c's thread on c's server, over
// another connection of the same pool key (the same user may kill its own
// threads). Client KILL and statement timeouts (stmtTimer) both use it.
func killBackendQuery(s *Session, c *pool.Conn) error {
	k, err := s.d.Pools.Get(s.ctx, c.Key(), s.user.Password)
	if err != nil {
		return err
	}
	if _, err := k.Execute("KILL QUERY " + strconv.FormatUint(uint64(c.GetConnectionID()), 10)); err != nil {
		k.Discard()
		return err
	}
	k.Recycle()
	return nil
}

// drainWait prepares the next command read during a drain: it reports
// false when the session should end now, and otherwise bounds the read by
// the drain deadline.
func (r *Registry) drainWait(nc net.Conn, inTxn bool) bool {
	if !r.draining.Load() {
		return true
	}
	if !inTxn {
		return false
	}
	_ = nc.SetReadDeadline(time.Unix(0, r.drainDeadline.Load()))
	return true
}
