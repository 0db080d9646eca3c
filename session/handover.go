package session

import (
	"context"
	"errors"
	"fmt"
	"net"
	"os"
	"runtime/debug"
	"time"

	"go.uber.org/zap"

	"github.com/rwproxy/rwproxy/pool"
	"github.com/rwproxy/rwproxy/protocol"
)

// The zero-downtime upgrade (internal/handover) moves live sessions to a
// new rwproxy process. On the old side a session leaves between two
// statements: at the top of its command loop, with no byte of the next
// request read, it exports its Durable state and passes its client socket
// to the Handoff; the new side rebuilds the session from both (Adopt) and
// serves the client's next request. The client sees nothing: same socket,
// same connection id, same prepared statement ids.
//
// A session inside a transaction, or holding a pin reason (locks,
// temporary tables, user variables), leaves with its pinned backend
// connection: that socket travels too, and the new process rebuilds the
// pool connection over it (pool.Manager.Adopt), so the transaction goes
// on there. A pinned connection that cannot move (TLS to the backend)
// keeps its session here until the state is gone. TLS client sessions
// stay on the old process until they end (their TLS state lives in this
// process's memory).

// Handoff takes sessions to another process.
type Handoff interface {
	// Hand sends the session d, its client socket and, when d.Backend is
	// set, its pinned backend connection's socket. An error: the session
	// stays here, untouched. Otherwise the other process has received the
	// session, and taken (which may block until the upgrade's outcome)
	// tells who serves it: true, the other process from now on (this one
	// must neither read from nor write to the sockets again); false, it
	// gave the session back unserved (it died, or the upgrade was given
	// up) and this process serves on, as if nothing had happened: it
	// never stopped owning the sockets.
	Hand(d *Durable, client, backend net.Conn) (taken func() bool, err error)
}

type handoffBox struct{ h Handoff }

// StartHandoff makes every session that can leave hand itself to h at its
// next statement boundary, and wakes the idle ones so they do at once.
func (r *Registry) StartHandoff(h Handoff) {
	r.handoff.Store(&handoffBox{h: h})
	r.wakes.Add(1) // before the deadlines: see handoffWoke
	r.mu.Lock()
	defer r.mu.Unlock()
	for _, s := range r.mu.byID {
		// A session running a statement is not woken: it may be reading
		// a LOAD DATA LOCAL file from its client. It checks at its next
		// boundary.
		if s.running.Load() == nil {
			_ = s.nc.SetReadDeadline(time.Now())
		}
	}
}

// StopHandoff ends StartHandoff: sessions stay (a failed or finished
// upgrade).
func (r *Registry) StopHandoff() { r.handoff.Store(nil) }

// Unhanded is the number of live sessions not handed over: neither gone
// to another process nor waiting for it to take them.
func (r *Registry) Unhanded() int {
	return r.UnhandedExcept(func(uint32) bool { return false })
}

// UnhandedExcept is Unhanded without the sessions for whose id skip is
// true.
func (r *Registry) UnhandedExcept(skip func(id uint32) bool) int {
	r.mu.Lock()
	defer r.mu.Unlock()
	n := 0
	for id, s := range r.mu.byID {
		if !s.handing.Load() && !skip(id) {
			n++
		}
	}
	return n
}

// Count is the number of live sessions.
func (r *Registry) Count() int {
	r.mu.Lock()
	defer r.mu.Unlock()
	return len(r.mu.byID)
}

// handoffWoke reports whether err is StartHandoff's wake-up of a session
// waiting for its next request (no byte of which was consumed), not its
// idle timeout: a handoff runs, one started since the wait began (wakes
// moved), or the idle deadline is not reached. The upgrade may have been
// given up since the wake-up: its deadline must not end the session as
// idle (the client would get an unasked error packet).
func (s *Session) handoffWoke(err error, wakes uint64) bool {
	if !errors.Is(err, os.ErrDeadlineExceeded) || s.d.Registry.draining.Load() {
		return false // a drain's deadline ends the session (drainWait)
	}
	return s.d.Registry.handoff.Load() != nil || s.d.Registry.wakes.Load() != wakes ||
		s.idleAt.IsZero() || time.Now().Before(s.idleAt)
}

// detachable reports whether the session can leave now: nothing of it
// lives on a backend connection or in this process's TLS state.
func (s *Session) detachable() bool {
	if s.tls || s.relayConn != nil || s.txnAborted {
		return false
	}
	if s.pinned == nil && (s.inTxn || s.reasons()&^PinNextStatement != 0) {
		return false // not expected: pinned state without a connection
	}
	for _, ps := range s.stmts {
		if len(ps.long.chunks) > 0 || ps.long.err != nil {
			return false // long data waits for its execute
		}
	}
	return true
}

// handoff hands the session over when an upgrade runs and the session can
// leave; true: the session is gone from this process (its socket belongs
// to the other one).
func (s *Session) handoff() bool {
	b := s.d.Registry.handoff.Load()
	if b == nil || !s.detachable() {
		return false
	}
	// Is a byte of the next request already read? A deadline in the past
	// makes the check return at once; bytes still in the kernel's buffer
	// travel with the socket.
	_ = s.nc.SetReadDeadline(time.Unix(1, 0))
	pending, err := s.cl.Pending()
	_ = s.nc.SetReadDeadline(time.Time{})
	s.idleWait = 0 // the deadline was moved here: armIdle sets it again
	s.armIdle()
	if pending || !errors.Is(err, os.ErrDeadlineExceeded) {
		return false // serve the request (or see the error) first
	}
	d := s.Export()
	var backend net.Conn
	if s.pinned != nil {
		h, bnc, err := s.pinned.Hand()
		if err != nil {
			return false // it leaves once unpinned
		}
		d.Backend = durableBackend(h)
		backend = bnc
	}
	pins := s.pins
	s.releaseHeld()
	s.pins &^= PinNextStatement
	taken, err := b.h.Hand(d, s.nc, backend)
	if err != nil {
		s.pins = pins
		s.log().Warn("session not handed over: it stays in this process", zap.Error(err))
		return false
	}
	s.handing.Store(true)
	if !taken() {
		// Given back unserved (the new process died, or the upgrade
		// was given up): nothing of the session changed, its sockets and
		// its pinned connection are still this process's.
		s.handing.Store(false)
		s.pins = pins
		return false
	}
	s.timer.stop()
	s.handedOff = true
	if c := s.pinned; c != nil {
		// The other process has the connection: end the checkout here
		// (this closes this process's descriptor only).
		s.pinned = nil
		c.Discard()
	}
	return true
}

func durableBackend(h pool.Handed) *DurableBackend {
	d := &DurableBackend{Addr: h.Key.Addr, User: h.Key.User, FoundRows: h.Key.FoundRows, NoSchema: h.Key.NoSchema,
		ThreadID: h.ThreadID, ServerVersion: h.ServerVersion, Status: h.Status, DB: h.DB, Vars: h.Vars,
		MultiStatements: h.MultiStatements, LastInsertID: h.LastInsertID}
	for _, st := range h.Stmts {
		d.Stmts = append(d.Stmts, DurableBackendStmt{Query: st.Query, ID: st.ID, Params: st.Params, Types: st.Types})
	}
	return d
}

func (d *DurableBackend) handed() pool.Handed {
	h := pool.Handed{Key: pool.Key{Addr: d.Addr, User: d.User, FoundRows: d.FoundRows, NoSchema: d.NoSchema},
		ThreadID: d.ThreadID, ServerVersion: d.ServerVersion, Status: d.Status, DB: d.DB, Vars: d.Vars,
		MultiStatements: d.MultiStatements, LastInsertID: d.LastInsertID}
	for _, st := range d.Stmts {
		h.Stmts = append(h.Stmts, pool.HandedStmt{Query: st.Query, ID: st.ID, Params: st.Params, Types: st.Types})
	}
	return h
}

// Adopted is a session handed over by another process, ready to serve.
type Adopted struct {
	s  *Session
	bc *protocol.BufConn
	// replayOff: its open transaction is not replayable (txhandover.go).
	replayOff bool
}

// ID is the adopted session's connection id.
func (a *Adopted) ID() uint32 { return a.s.id }

// Adopt rebuilds a session from d on its client socket nc. An error means
// this process cannot serve it (its user is gone or at its limit, a TLS
// session, a record it cannot read): the sender keeps the session.
//
// backend is the pinned backend connection's socket when dur.Backend is
// set; it is rebuilt into a pool connection the session keeps pinned.
func Adopt(ctx context.Context, nc, backend net.Conn, d *Deps, dur *Durable) (*Adopted, error) {
	if dur.TLS {
		return nil, errors.New("session: a TLS session cannot be handed over")
	}
	if (dur.Backend != nil) != (backend != nil) {
		return nil, errors.New("session: the pinned backend connection did not come with the session")
	}
	if d.Registry.get(dur.ConnID) != nil {
		return nil, fmt.Errorf("session: connection id %d is in use here", dur.ConnID)
	}
	u, ok := findUser(d.Config(), dur.User)
	if !ok || !u.CanLogin() {
		return nil, fmt.Errorf("session: user %q is not configured here", dur.User)
	}
	if !d.Registry.admit(u.Username, u.MaxConnections) {
		return nil, fmt.Errorf("session: user %q is at its connection limit", dur.User)
	}
	wc := &writeDeadlineConn{Conn: nc, timeout: d.Config().Limits.NetWriteTimeout}
	bc := protocol.NewBufConn(wc, 16*1024)
	s := newSessionFor(ctx, d, nc, u, dur.ConnID, dur.Caps, dur.Collation)
	if err := s.restore(dur); err != nil {
		d.Registry.release(u.Username)
		return nil, err
	}
	if dur.Backend != nil {
		c, err := d.Pools.Adopt(ctx, dur.Backend.handed(), s.user.Password, backend)
		if err != nil {
			d.Registry.release(u.Username)
			return nil, err
		}
		s.pinned, s.counted = c, s.reasons()
	}
	s.cl = protocol.NewClientConn(bc)
	return &Adopted{s: s, bc: bc, replayOff: s.txAdopted(dur.Tx != nil && dur.Tx.Open)}, nil
}

// Serve serves the adopted session to its end, like Serve after a login.
func (a *Adopted) Serve() {
	s, d := a.s, a.s.d
	defer func() {
		if r := recover(); r != nil {
			d.Log.Error("session panic: connection closed", zap.Any("panic", r), zap.ByteString("stack", debug.Stack()))
			d.Stats.Panics.Add(1)
			s.writeErr(protocol.NewErrInternal())
			s.dropBackend()
		}
		a.closeSocket()
	}()
	d.Registry.add(s)
	defer d.Registry.remove(s)
	s.proc.mu.Lock()
	s.proc.db, s.proc.hg, s.proc.start = s.st.db, -1, time.Now()
	s.proc.mu.Unlock()
	d.Stats.Sessions.Add(1)
	defer d.Stats.Sessions.Add(-1)
	s.run()
}

// Abandon gives up an adopted session that was never served (the
// handover failed after Adopt): its socket is closed in this process
// only (the sender still has it) and its user slot is freed.
func (a *Adopted) Abandon() {
	a.s.d.Registry.release(a.s.user.Username)
	if c := a.s.pinned; c != nil {
		a.s.pinned = nil
		c.Discard() // this process's descriptor only: the sender keeps it
	}
	_ = a.s.nc.Close()
}

// closeSocket closes the client socket at the end of the session: with
// a last flush, unless the session was handed over (the socket is the
// other process's now; closing this process's descriptor leaves it open).
func (a *Adopted) closeSocket() {
	if a.s.handedOff {
		_ = a.s.nc.Close()
		return
	}
	_ = a.bc.Close()
}
