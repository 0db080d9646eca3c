package session

import (
	"sync"
	"time"

	"github.com/go-mysql-org/go-mysql/mysql"
	"go.uber.org/zap"

	"github.com/rwproxy/rwproxy/pool"
	"github.com/rwproxy/rwproxy/protocol"
)

// stmtTimer enforces one session's statement timeouts (query_timeout). A
// statement with a timeout arms it before it is sent; when the timeout
// expires first, the timer's goroutine runs KILL QUERY for the
// statement's backend thread over another connection (killBackendQuery,
// as a client's KILL QUERY does), and the server's "interrupted" error
// reaches the client as the timeout error (onErr).
//
// The session goroutine calls arm, disarm, timedOut and stop; the
// timer's function (fire) runs on its own goroutine. One *time.Timer is
// created on the session's first timed statement and reused by Reset, so a
// timed statement costs no goroutine and no allocation, and a session
// without timeouts never creates one.
//
// The race the timer must not lose: a statement that ends just as its
// timeout expires must not have the KILL hit the connection's next
// statement. disarm therefore cancels a KILL that has not been sent yet
// and waits for one that has to complete before the connection serves
// anything else; a KILL QUERY that reaches a thread with no statement
// running is cleared by the server before its next command (checked on
// MariaDB 10.11; MySQL resets it in do_command too), so it affects
// nothing.
type stmtTimer struct {
	// kill sends KILL QUERY for c's statement (killBackendQuery; tests
	// replace it).
	kill func(c *pool.Conn) error
	t    *time.Timer
	// timeout is the armed statement's timeout (session goroutine only).
	timeout time.Duration
	mu      struct {
		sync.Mutex
		cond sync.Cond
		// conn is the connection of the statement the timer may kill;
		// nil once disarm has cancelled it.
		conn *pool.Conn
		// pending: the timer is armed, or fire has not finished.
		pending bool
		// fired: the timeout expired while the statement ran and a KILL
		// QUERY was (or is being) sent; killErr is its outcome.
		fired   bool
		killErr error
	}
}

// init binds the timer to its session.
func (st *stmtTimer) init(s *Session) {
	st.kill = func(c *pool.Conn) error { return killBackendQuery(s, c) }
	st.mu.cond.L = &st.mu.Mutex
}

// arm starts timing a statement about to run on c.
func (st *stmtTimer) arm(c *pool.Conn, d time.Duration) {
	st.mu.Lock()
	st.mu.conn, st.mu.pending, st.mu.fired, st.mu.killErr = c, true, false, nil
	st.mu.Unlock()
	st.timeout = d
	if st.t == nil {
		st.t = time.AfterFunc(d, st.fire)
		return
	}
	st.t.Reset(d)
}

// fire runs on the timer's goroutine when a timeout expires.
func (st *stmtTimer) fire() {
	st.mu.Lock()
	c := st.mu.conn
	st.mu.fired = c != nil
	st.mu.Unlock()
	var err error
	if c != nil {
		err = st.kill(c)
	}
	st.mu.Lock()
	st.mu.killErr = err
	st.mu.pending = false
	st.mu.cond.Broadcast()
	st.mu.Unlock()
}

// disarm ends the timing of the statement armed last, once its response
// has been read (or its connection failed). It returns when no KILL for
// that statement can still be sent, and reports whether its timeout
// expired (a KILL QUERY was sent, with killErr its failure).
func (st *stmtTimer) disarm() (fired bool, killErr error) {
	if st.t.Stop() {
		st.mu.Lock()
		st.mu.conn, st.mu.pending = nil, false
		st.mu.Unlock()
		return false, nil
	}
	// The timer expired: fire has started or is about to.
	st.mu.Lock()
	defer st.mu.Unlock()
	st.mu.conn = nil
	for st.mu.pending {
		st.mu.cond.Wait()
	}
	fired, killErr = st.mu.fired, st.mu.killErr
	// The next statement may run untimed: a KILL from a user must not
	// look like this timeout.
	st.mu.fired, st.mu.killErr = false, nil
	return fired, killErr
}

// timedOut reports whether the running statement's timeout expired (for
// onErr, on the session goroutine while a statement is relayed).
func (st *stmtTimer) timedOut() bool {
	if st.t == nil {
		return false
	}
	st.mu.Lock()
	defer st.mu.Unlock()
	return st.mu.fired
}

// stop disarms a timer left armed (a session ending after a panic).
func (st *stmtTimer) stop() {
	if st.t == nil {
		return
	}
	st.mu.Lock()
	pending := st.mu.pending
	st.mu.Unlock()
	if pending {
		st.disarm()
	}
}

// onErr is the relay's OnErr: the "interrupted" error a server answers
// to KILL QUERY becomes the timeout error when rwproxy's timer sent the
// KILL, so that the client can tell a timeout from a user's KILL.
func (s *Session) onErr(me *mysql.MyError) *mysql.MyError {
	if me.Code == mysql.ER_QUERY_INTERRUPTED && s.timer.timedOut() {
		return protocol.NewErrQueryTimeout()
	}
	return nil
}

// effectiveTimeout is a statement's timeout: the matching rules' if they
// set one, else the user's, else the global query_timeout.
func effectiveTimeout(rule, user, global time.Duration) time.Duration {
	switch {
	case rule > 0:
		return rule
	case user > 0:
		return user
	}
	return global
}

// doTimed runs one request like do, under the statement's timeout when it
// has one (COM_QUERY and COM_STMT_EXECUTE only).
func (s *Session) doTimed(r *request, c *pool.Conn, pkt []byte, o op) (protocol.Response, error) {
	d := r.timeout
	if d <= 0 || (o != opQuery && o != opExecute) {
		return s.do(r, c, pkt, o)
	}
	s.timer.arm(c, d)
	res, err := s.do(r, c, pkt, o)
	if fired, killErr := s.timer.disarm(); fired {
		s.timedOut(r, c, pkt, o, res.Err != nil && res.Err.Code == protocol.ErrCodeQueryTimeout, killErr)
	}
	return res, err
}

// timedOut counts and logs a statement whose timeout expired; killed
// reports that the client got the timeout error.
func (s *Session) timedOut(r *request, c *pool.Conn, pkt []byte, o op, killed bool, killErr error) {
	s.d.Stats.QueryTimeouts.Add(1)
	digest := r.digest
	if digest == "" {
		sql := bytesToString(pkt[5:])
		if o == opExecute && r.exec.ps != nil {
			sql = r.exec.ps.query
		}
		digest = s.cls.Digest(sql)
	}
	fields := []zap.Field{zap.String("digest", truncate(digest, 256)), zap.String("backend_addr", c.Addr()),
		zap.Uint32("backend_thread", c.GetConnectionID()), zap.Duration("timeout", s.timer.timeout)}
	switch {
	case killErr != nil:
		s.log().Warn("query timeout: KILL QUERY failed, the statement ran on", append(fields, zap.Error(killErr))...)
	case killed:
		s.log().Warn("query timeout: statement killed", fields...)
	default:
		s.log().Warn("query timeout: KILL QUERY sent as the statement ended", fields...)
	}
}

// truncate cuts s to at most n bytes.
func truncate(s string, n int) string {
	if len(s) > n {
		return s[:n]
	}
	return s
}
