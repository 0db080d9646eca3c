package session

import (
	"errors"
	"slices"
	"strconv"
	"strings"
	"time"

	"github.com/go-mysql-org/go-mysql/mysql"
	perrors "github.com/pingcap/errors"
	"go.uber.org/zap"

	"github.com/rwproxy/rwproxy/pool"
	"github.com/rwproxy/rwproxy/protocol"
	"github.com/rwproxy/rwproxy/router"
)

// resetSQL restores what COM_RESET_CONNECTION resets to the server's
// globals: the baseline character set and rwproxy's session trackers.
const resetSQL = "SET NAMES utf8mb4 COLLATE " + pool.BaselineCollation + ", " +
	"SESSION session_track_system_variables='*', session_track_schema=ON, session_track_state_change=ON"

// unknownDB marks a connection whose current schema is not known.
const unknownDB = "\x00unknown"

// acquire returns the pinned connection, or a pooled connection of
// hostgroup hg brought to the session's state. The error is meant for the
// client.
func (s *Session) acquire(hg int) (*pool.Conn, *mysql.MyError) {
	if s.pinned != nil {
		return s.pinned, nil
	}
	slot, kept := s.affinity.slot(hg)
	if kept {
		if s.d.Picker.Keep(hg, slot.addr) {
			c, me := s.acquireAddr(hg, slot.addr)
			if me != nil {
				slot.addr = "" // the next statement picks again
			}
			return c, me
		}
		slot.addr = ""
	}
	addr, keep, err := s.d.Picker.Pick(hg)
	if err != nil {
		return nil, protocol.NewErrNoBackend(hg)
	}
	if keep {
		slot.hg, slot.addr = hg, addr
	}
	return s.acquireAddr(hg, addr)
}

// affinity is the servers a session keeps in hostgroups with session
// affinity: a reader and a writer hostgroup at most, in practice.
type affinity [2]affinitySlot

type affinitySlot struct {
	hg   int
	addr string // "": none
}

// slot returns hg's slot and true, or the slot a new server for hg goes
// to (a free one, else the first) and false.
func (a *affinity) slot(hg int) (*affinitySlot, bool) {
	free := 0
	for i := range a {
		if a[i].addr != "" && a[i].hg == hg {
			return &a[i], true
		}
		if a[i].addr == "" {
			free = i
		}
	}
	return &a[free], false
}

// acquireAddr returns a pooled connection to addr (a server of hostgroup
// hg) brought to the session's state. A failed connect is logged here with
// the address and the error; the client's error names only the hostgroup
// and the condition. While a write waits for a failover (s.quietConnect)
// the attempts are logged at Debug: bufferWrite logs the outcome once.
func (s *Session) acquireAddr(hg int, addr string) (*pool.Conn, *mysql.MyError) {
	key := pool.Key{Addr: addr, User: s.user.Username, FoundRows: s.caps&mysql.CLIENT_FOUND_ROWS != 0,
		NoSchema: s.st.db == ""}
	c, err := s.d.Pools.Get(s.ctx, key, s.user.Password)
	if err == nil && key.NoSchema && c.DB != "" {
		// Not expected (the pool moves a connection that got a schema to
		// its sibling pool when it is returned), but a session without a
		// schema must never run on one that has one.
		c.Discard()
		c, err = s.d.Pools.Get(s.ctx, key, s.user.Password)
		if err == nil && c.DB != "" {
			c.Discard()
			err = errors.New("session: pooled connection has a schema")
		}
	}
	if err != nil {
		if errors.Is(err, pool.ErrWaitTimeout) {
			// The server is busy, not gone: no failover wait (connLimit).
			return nil, s.connLimit(hg, addr)
		}
		s.d.Stats.BackendErrs.Add(1)
		if me := asMyError(err); me != nil {
			return nil, me
		}
		s.lastConnErr = err
		lvl := zap.WarnLevel
		if s.quietConnect {
			lvl = zap.DebugLevel
		}
		if ce := s.d.Log.Check(lvl, "cannot connect to backend"); ce != nil {
			ce.Write(zap.Uint32("conn", s.id), zap.String("user", s.user.Username), zap.Int("hostgroup", hg),
				zap.String("backend_addr", addr), zap.String("reason", protocol.ConnectReason(err)), zap.Error(err))
		}
		return nil, protocol.NewErrBackendConnect(hg, err)
	}
	if me := s.sync(c); me != nil {
		return nil, me
	}
	return c, nil
}

// asMyError finds a server error in err's chain.
func asMyError(err error) *mysql.MyError {
	var me *mysql.MyError
	if errors.As(err, &me) {
		return me
	}
	if me, ok := perrors.Cause(err).(*mysql.MyError); ok {
		return me
	}
	return nil
}

// sync brings c to the session's schema, variables and options. On a
// server error c is returned to the pool (each step is atomic on the
// server); on an I/O error it is discarded.
func (s *Session) sync(c *pool.Conn) *mysql.MyError {
	fail := func(err error) *mysql.MyError {
		if me := asMyError(err); me != nil {
			c.Recycle()
			return me
		}
		c.Discard()
		s.log().Warn("backend connection lost while preparing it for the session", zap.String("backend_addr", c.Addr()),
			zap.Error(err))
		return protocol.NewErrBackendLost(c.Addr())
	}
	if s.st.db != "" && c.DB != s.st.db {
		if err := c.UseDB(s.st.db); err != nil {
			return fail(err)
		}
		c.DB = s.st.db
	}
	if q := setList(s.st.vars, c.Vars); q != "" {
		if _, err := c.Execute(q); err != nil {
			return fail(err)
		}
		c.Vars = copyVars(s.st.vars)
	}
	if c.MultiStatements != s.st.multiStatements {
		if err := setOption(c, s.st.multiStatements); err != nil {
			return fail(err)
		}
	}
	return nil
}

// setOption sends COM_SET_OPTION (multi-statements on or off).
func setOption(c *pool.Conn, on bool) error {
	opt := byte(1)
	if on {
		opt = 0
	}
	p := c.Packet()
	p.ResetSequence()
	if err := p.WritePacket([]byte{0, 0, 0, 0, mysql.COM_SET_OPTION, opt, 0}); err != nil {
		return err
	}
	resp, err := p.ReadPacket()
	if err != nil {
		return err
	}
	if protocol.IsErr(resp) {
		return protocol.ParseErr(resp)
	}
	c.MultiStatements = on
	return nil
}

// onOK learns session state from every OK packet the relay sees.
func (s *Session) onOK(ok *protocol.OK) {
	s.txOK(ok)
	if s.relayConn != nil && observe(ok, &s.st, s.relayConn) {
		s.st.unreplayable = true
	}
	if s.st.lastGTID != "" {
		s.noteWrite(s.st.lastGTID, s.relayConn)
		s.st.lastGTID = ""
	}
}

// relayFunc relays one response from a backend to the client; the
// protocol.Relay methods fit it as method expressions.
type relayFunc func(r *protocol.Relay, client *protocol.ClientConn, backend protocol.PacketSource) (protocol.Response, error)

// Response relayers for the commands that go to a backend.
var (
	fwdResult    relayFunc = (*protocol.Relay).Forward
	fwdFieldList relayFunc = (*protocol.Relay).ForwardFieldList
	fwdOne       relayFunc = (*protocol.Relay).ForwardOne
)

// send writes the request pkt to c and relays its reply with fwd; while
// the reply is relayed, c is the session's running statement (KILL).
func (s *Session) send(c *pool.Conn, pkt []byte, fwd relayFunc) (protocol.Response, error) {
	if err := writeRequest(c, pkt); err != nil {
		return protocol.Response{}, err
	}
	s.running.Store(c)
	res, err := s.relayReply(c, pkt, fwd)
	s.endRunning()
	return res, err
}

// finish accounts for a relayed response and decides whether the session
// keeps c pinned, holds it for the next statement, or returns it to the
// pool.
func (s *Session) finish(r *request, c *pool.Conn, res protocol.Response, err error, start time.Time) error {
	st := c.Stats()
	dur := time.Since(start)
	st.Queries.Add(1)
	st.BytesRecv.Add(uint64(res.Bytes))
	st.LatencyUs.Add(uint64(dur.Microseconds()))
	s.d.Stats.Queries.Add(1)
	if err == nil {
		s.d.Picker.Observe(c.Addr(), dur)
	}
	if o := s.d.Observer; o != nil {
		o.ObserveQuery(r.hg, c.Addr(), s.user.Username, r.digest, dur, queryOutcome(res, err))
	}
	s.d.Stats.Commands.record(r.cmd, dur)
	r.cmd = -1
	if res.Err != nil && s.d.Errors != nil {
		s.d.Errors.record(r.hg, c.Addr(), s.user.Username, s.nc.RemoteAddr(), s.st.db, res.Err)
	}
	if s.span != nil {
		s.traceBackend(r, c, res, err, start, dur)
	}
	if r.digest != "" {
		client := s.digestClient()
		s.keyBuf = digestKey(s.keyBuf[:0], r.hg, s.user.Username, s.st.db, client, r.digest)
		s.d.Digests.Record(s.keyBuf, r.hg, s.user.Username, s.st.db, client, r.digest, dur, res.Affected, uint64(res.Rows))
	}
	if r.detached {
		return s.finishDetached(c, res, err)
	}
	if err != nil {
		s.dropConn(c)
		if errors.Is(err, protocol.ErrClientIO) {
			return err
		}
		s.d.Stats.BackendErrs.Add(1)
		s.log().Warn("backend connection lost", zap.String("backend_addr", c.Addr()), zap.Error(err),
			zap.Bool("session_state_lost", s.stateLost), zap.Bool("reply_started", res.Sent))
		if res.Sent {
			// Part of the reply reached the client: no packet can follow it
			// that is valid for every point of every command's reply, so the
			// client connection is closed, as the server's would have been.
			s.d.Stats.ReplyCut.Add(1)
			return errReplyCut
		}
		return s.writeErr(s.lostErr())
	}
	if s.st.collationUnknown {
		s.st.collationUnknown = false
		if err := s.readCollation(c); err != nil {
			s.dropConn(c)
			return nil
		}
	}
	if res.Err == nil {
		if res.HasStatus {
			s.inTxn = res.Status&mysql.SERVER_STATUS_IN_TRANS != 0
		}
		s.roTxn = s.inTxn && (s.roTxn || r.flags&router.FlagReadOnlyTxn != 0)
		s.notePins(r)
	} else if s.inTxn && readOnlyRefusal(res.Err) {
		// The transaction's server became read-only (a demoted primary):
		// it can never commit. Roll it back there and fail the rest of the
		// client's transaction until it ends it, so that no COMMIT can
		// report success for writes that were lost.
		if !s.abortTxn(c) {
			s.inTxnFlag.Store(false)
			return nil // c was discarded: it must not be released again
		}
	} else if s.pinned == nil && !s.st.autocommit() {
		// With autocommit off a failed statement may still have opened a
		// transaction; keep the connection until a status says otherwise.
		s.inTxn = true
	}
	s.keepOrRelease(c, res.Err == nil && (res.Warnings > 0 || r.flags&router.FlagFoundRows != 0))
	return nil
}

// reasons is the set of reasons the session must keep its connection.
func (s *Session) reasons() PinReason {
	r := s.pins
	if s.inTxn {
		r |= PinTransaction
	}
	if s.st.unreplayable {
		r |= PinUnreplayable
	}
	return r
}

// keepOrRelease pins c while the session has a reason to, holds it for one
// statement when the client may ask about this one (SHOW WARNINGS after
// warnings, FOUND_ROWS()), and otherwise returns it to the pool.
func (s *Session) keepOrRelease(c *pool.Conn, hold bool) {
	r := s.reasons()
	s.inTxnFlag.Store(s.inTxn)
	s.d.Stats.countPins(r &^ s.counted)
	s.counted = r
	if r != 0 {
		s.pinned = c
		return
	}
	s.pinned = nil
	if hold {
		s.holdConn(c)
		return
	}
	c.Recycle()
}

// notePins records the state a successful statement left on its
// connection, from the statement's classification.
func (s *Session) notePins(r *request) {
	f := r.flags
	if f == 0 {
		return
	}
	add := func(flag router.Flags, r PinReason) {
		if f&flag != 0 {
			s.pins |= r
		}
	}
	add(router.FlagCreateTempTable, PinTempTable)
	add(router.FlagGetLock, PinNamedLock)
	add(router.FlagLockTables, PinLockTables)
	add(router.FlagPrepareSQL, PinSQLPrepare)
	add(router.FlagUserVarWrite, PinUserVariable)
	add(router.FlagHandler, PinHandler)
	add(router.FlagSequence, PinSequence)
	add(router.FlagSetOther, PinUnreplayable) // SET ROLE and the like
	add(router.FlagBackupLock, PinBackupLock)
	add(router.FlagBackupStage, PinBackupStage)
	add(router.FlagInstanceLock, PinInstanceLock)
	if f&(router.FlagParseError|router.FlagNoConnState) == router.FlagParseError {
		s.pins |= PinUnparsed
	}
	release := func(flag router.Flags, r PinReason) {
		if f&flag != 0 {
			s.pins &^= r
		}
	}
	release(router.FlagUnlockTables, PinLockTables)
	release(router.FlagBackupUnlock, PinBackupLock)
	release(router.FlagBackupStageEnd, PinBackupStage)
	release(router.FlagInstanceUnlock, PinInstanceLock)
	if r.nextTxn {
		s.pins |= PinNextStatement
	}
}

// dropConn discards a broken connection; whatever state the session had
// on it (an open transaction, pinned state) is gone.
func (s *Session) dropConn(c *pool.Conn) {
	if s.pinned == c && s.reasons()&^PinNextStatement != 0 {
		s.stateLost = true
	}
	c.Discard()
	if s.pinned == c {
		s.pinned = nil
	}
	s.inTxn, s.roTxn = false, false
	s.st.unreplayable = false
	s.pins = 0
	s.counted = 0
	s.tx.reset()
}

// dropBackend discards every backend connection the session holds (after
// a panic, their state is unknown).
func (s *Session) dropBackend() {
	s.timer.stop()
	// relayConn is usually pinned too, or held: each connection is
	// discarded once.
	conns := []*pool.Conn{s.relayConn, s.held.Swap(nil), s.pinned}
	for i, c := range conns {
		if c != nil && slices.Index(conns, c) == i {
			c.Discard()
		}
	}
	s.relayConn, s.pinned = nil, nil
}

// resetAndRecycle returns a formerly pinned connection to the pool: as it
// is when its state is fully known, after COM_RESET_CONNECTION otherwise,
// or closed when the reset fails.
func (s *Session) resetAndRecycle(c *pool.Conn) {
	if s.reasons()&^PinNextStatement == 0 {
		c.Recycle()
		return
	}
	if s.reasons()&discardPins != 0 {
		// COM_RESET_CONNECTION is not known to release every backup or
		// instance lock, nor whatever an unparsed statement did: such a
		// connection never goes back to the pool.
		c.Discard()
		return
	}
	if err := resetConn(c); err != nil {
		c.Discard()
		return
	}
	c.Recycle()
}

// resetConn runs COM_RESET_CONNECTION (rolling back any transaction and
// dropping temporary tables, user variables and prepared statements) and
// re-applies rwproxy's baseline.
func resetConn(c *pool.Conn) error {
	_ = c.SetDeadline(time.Now().Add(5 * time.Second))
	defer func() { _ = c.SetDeadline(time.Time{}) }()
	p := c.Packet()
	p.ResetSequence()
	if err := p.WritePacket([]byte{0, 0, 0, 0, mysql.COM_RESET_CONNECTION}); err != nil {
		return err
	}
	resp, err := p.ReadPacket()
	if err != nil {
		return err
	}
	if !protocol.IsOK(resp) {
		return errors.New("session: reset connection refused")
	}
	c.Stmts.Clear()
	clear(c.Vars)
	c.DB = unknownDB
	q := resetSQL
	if pool.InitSQLFor(c.GetServerVersion()) != pool.InitSQL {
		q += ", session_track_gtids=OWN_GTID"
	}
	if _, err := c.Execute(q); err != nil {
		return err
	}
	return setOption(c, true)
}

// readCollation reads collation_connection from c into the session's and
// c's variables.
func (s *Session) readCollation(c *pool.Conn) error {
	r, err := c.Execute("SELECT @@collation_connection")
	if err != nil {
		return err
	}
	v, err := r.GetString(0, 0)
	if err != nil {
		return err
	}
	s.st.vars["collation_connection"] = v
	c.Vars["collation_connection"] = v
	return nil
}

func isClientErr(err error) bool { return errors.Is(err, protocol.ErrClientIO) }

var timeNow = time.Now

// syncLastInsertID makes LAST_INSERT_ID() on c return the session's value.
func (s *Session) syncLastInsertID(c *pool.Conn) error {
	if c.LastInsertID == s.st.lastInsertID {
		return nil
	}
	if _, err := c.Execute("SET SESSION last_insert_id = " + strconv.FormatUint(s.st.lastInsertID, 10)); err != nil {
		return err
	}
	c.LastInsertID = s.st.lastInsertID
	return nil
}

// readOnlyRefusal reports the server's "running with the --read-only
// option" error (1290).
func readOnlyRefusal(e *mysql.MyError) bool {
	return e.Code == mysql.ER_OPTION_PREVENTS_STATEMENT &&
		(strings.Contains(e.Message, "read-only") || strings.Contains(e.Message, "read_only"))
}

// abortTxn rolls back the session's transaction on c and marks it
// aborted (see route). It reports false when the ROLLBACK failed: c is
// then discarded (the server rolls back when the connection closes), and
// the caller no longer owns it.
func (s *Session) abortTxn(c *pool.Conn) bool {
	if _, err := c.Execute("ROLLBACK"); err != nil {
		s.dropConn(c)
		s.txnAborted = true
		return false
	}
	s.inTxn, s.roTxn, s.txnAborted = false, false, true
	return true
}

// errTxnAborted answers statements of a transaction rwproxy rolled back.
var errTxnAborted = &mysql.MyError{Code: mysql.ER_ERROR_DURING_COMMIT, State: "HY000",
	Message: "rwproxy: this transaction was rolled back because its server became read-only (failover); " +
		"ROLLBACK and retry it"}

// connLimit is the error for a statement that found no free connection
// to addr within pool.wait_timeout. Pool exhaustion is not a failover:
// the error is not one writerGone matches, so it is never buffered for
// failover_buffer on top of the pool's own wait.
func (s *Session) connLimit(hg int, addr string) *mysql.MyError {
	s.d.Stats.ConnLimitErrs.Add(1)
	if ce := s.d.Log.Check(zap.DebugLevel, "backend connection limit reached"); ce != nil {
		ce.Write(zap.Uint32("conn", s.id), zap.Int("hostgroup", hg), zap.String("backend_addr", addr))
	}
	return protocol.NewErrConnLimit(hg, s.d.Pools.WaitTimeout())
}

// lostErr is the client's error for a statement whose backend connection
// broke before any byte of the reply was relayed: errStateLost when the
// connection held the session's transaction or pinned state (the command
// loop then closes the client connection), else the plain lost-connection
// error (the session goes on).
func (s *Session) lostErr() *mysql.MyError {
	if s.stateLost {
		return errStateLost
	}
	return protocol.NewErrBackendLost("")
}

// errReplyCut ends a session whose backend connection broke after part of
// the reply was relayed to the client.
var errReplyCut = errors.New("session: backend connection lost mid-reply; client connection closed")

// errStateLost answers the statement during which rwproxy lost the backend
// connection that held the session's transaction or other pinned state
// (temporary tables, LOCK TABLES, GET_LOCK, user variables...). The client
// connection is then closed, as a dead server's would be: carrying on would
// let later statements autocommit, or a COMMIT answer OK, for a
// transaction that is gone.
var errStateLost = &mysql.MyError{Code: protocol.ErrCodeBackendLost, State: "08S01",
	Message: "rwproxy: lost the backend connection that held this session's transaction or session state " +
		"(temporary tables, locks, variables); the connection is closed. Reconnect and retry the transaction " +
		"(a COMMIT that was in flight may or may not have committed)"}
