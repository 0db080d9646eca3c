package session

import (
	"errors"
	"net"
	"os"
	"time"

	"github.com/go-mysql-org/go-mysql/mysql"
	"go.uber.org/zap"

	"github.com/rwproxy/rwproxy/pool"
)

// A client must not be able to hold a backend connection hostage. Three
// bounds see to it:
//   - writeDeadlineConn bounds every write to the client
//     (limits.net_write_timeout): a client that stops reading a result
//     makes the relay's write fail, and finish then closes the backend
//     connection that was sending it and ends the session;
//   - idle clients are disconnected after limits.wait_timeout (idleRead);
//   - a connection held for the statement after one with warnings or
//     SQL_CALC_FOUND_ROWS goes back to the pool after heldIdleTimeout
//     (holdConn).

// writeDeadlineConn is the client socket with MySQL's net_write_timeout:
// each write may block at most about timeout. It refreshes the write
// deadline only when less than half of timeout is left, so that a stream
// of writes does not pay for a deadline change each; a write may then be
// cut after timeout/2 at the earliest. The session goroutine owns it.
type writeDeadlineConn struct {
	net.Conn
	// timeout is 0 until the client is logged in (the handshake has its
	// own deadline) and when limits.net_write_timeout is 0.
	timeout  time.Duration
	deadline time.Time
	// fixed: someone set a write deadline of their own (BufConn.Close
	// flushing a last packet); it stands.
	fixed bool
	// beforeErr, set during the handshake only, sees the first write that
	// carries an ERR packet before the client can read it, from that
	// packet on (the refusal is counted and logged first, so whoever the
	// client tells finds it).
	beforeErr func(errPacket []byte)
}

func (c *writeDeadlineConn) Write(b []byte) (int, error) {
	if c.beforeErr != nil {
		if at := errPacketIn(b); at >= 0 {
			c.beforeErr(b[at:])
			c.beforeErr = nil
		}
	}
	if c.timeout > 0 && !c.fixed {
		if now := time.Now(); c.deadline.Sub(now) < c.timeout/2 {
			c.deadline = now.Add(c.timeout)
			_ = c.Conn.SetWriteDeadline(c.deadline)
		}
	}
	return c.Conn.Write(b)
}

func (c *writeDeadlineConn) SetWriteDeadline(t time.Time) error {
	c.fixed, c.deadline = true, t
	return c.Conn.SetWriteDeadline(t)
}

func (c *writeDeadlineConn) SetDeadline(t time.Time) error {
	c.fixed, c.deadline = true, t
	return c.Conn.SetDeadline(t)
}

// errIdleTimeout is what MySQL 8.0.24+ sends before it closes a
// connection idle past wait_timeout (ER_CLIENT_INTERACTION_TIMEOUT).
var errIdleTimeout = &mysql.MyError{Code: 4031, State: "HY000",
	Message: "The client was disconnected by the server because of inactivity. " +
		"See wait_timeout and interactive_timeout for configuring this behavior."}

// armIdle bounds the wait for the client's next command by
// limits.wait_timeout. It is called before drainWait, which may shorten
// the wait (Registry.Drain sets the deadline from another goroutine after
// setting draining, so that order never loses a drain's wake-up).
//
// Changing a socket's deadline costs a runtime timer update per command;
// armIdle sets the deadline idleSlack(w) later than wait_timeout and leaves
// it alone while it is not early, so that a busy session moves it at most
// once per slack: a client idle for wait_timeout is disconnected at most
// idleSlack later (at most a second; MySQL counts wait_timeout in seconds).
// Nobody else moves this deadline and lets the session go on: a drain's
// deadlines (Registry.Drain, drainWait) end the session.
func (s *Session) armIdle() {
	w := s.d.Config().Limits.WaitTimeout
	if w <= 0 {
		return
	}
	now := time.Now()
	if w == s.idleWait && !now.Add(w).After(s.idleAt) {
		return
	}
	s.idleWait, s.idleAt = w, now.Add(w+idleSlack(w))
	_ = s.nc.SetReadDeadline(s.idleAt)
}

// idleSlack is how much later than wait_timeout armIdle may let an idle
// client go: w/16, at most a second.
func idleSlack(w time.Duration) time.Duration { return min(w/16, time.Second) }

// idleRead reports whether err ended a wait for the next command because
// the client was idle past limits.wait_timeout; the client is then told
// why before the session ends.
func (s *Session) idleRead(err error) bool {
	// A read, not the flush of a previous response that timed out on a
	// client that does not read (net_write_timeout).
	var oe *net.OpError
	if !errors.Is(err, os.ErrDeadlineExceeded) || (errors.As(err, &oe) && oe.Op != "read") ||
		s.d.Registry.draining.Load() {
		return false
	}
	if ce := s.d.Log.Check(zap.DebugLevel, "client idle past limits.wait_timeout: disconnected"); ce != nil {
		ce.Write(zap.Uint32("conn", s.id), zap.String("user", s.user.Username))
	}
	_ = s.writeErr(errIdleTimeout)
	return true
}

// heldIdleTimeout bounds how long a connection is held for a statement
// that asks about the previous one (SHOW WARNINGS, FOUND_ROWS()): such a
// statement comes at once, and a client that sends nothing must not keep
// the connection from the pool.
var heldIdleTimeout = time.Second

// holdConn keeps c for the session's next statement, for heldIdleTimeout
// at most: then the timer's goroutine returns it to the pool. Whoever
// takes c out of s.held first (the timer, or takeHeldConn on the session
// goroutine) owns it.
func (s *Session) holdConn(c *pool.Conn) {
	s.held.Store(c)
	if s.heldTimer == nil {
		s.heldTimer = time.AfterFunc(heldIdleTimeout, s.releaseHeld)
		return
	}
	s.heldTimer.Reset(heldIdleTimeout)
}

// releaseHeld returns the held connection to the pool, if it is still
// held (the timer's function; also the session's when it ends).
func (s *Session) releaseHeld() {
	if c := s.held.Swap(nil); c != nil {
		c.Recycle()
	}
}

// takeHeldConn takes the held connection back for the session goroutine;
// nil when there is none, or the timer already returned it.
func (s *Session) takeHeldConn() *pool.Conn {
	c := s.held.Swap(nil)
	if c != nil {
		s.heldTimer.Stop()
	}
	return c
}
