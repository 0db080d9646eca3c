package session

import (
	"encoding/binary"
	"errors"
	"fmt"
	"time"

	"github.com/go-mysql-org/go-mysql/mysql"
	"go.uber.org/zap"

	"github.com/rwproxy/rwproxy/pool"
	"github.com/rwproxy/rwproxy/protocol"
	"github.com/rwproxy/rwproxy/router"
)

// Transaction replay, the running half (see txreplay.go for the record).

// errReplayMismatch answers the statement during which a replayed
// transaction returned other results than the client saw: a deadlock-class
// error, which drivers and ORMs retry. The replayed transaction was rolled
// back; nothing of it was committed.
var errReplayMismatch = &mysql.MyError{Code: mysql.ER_LOCK_DEADLOCK, State: "40001",
	Message: "Deadlock found when trying to get lock; try restarting transaction " +
		"(rwproxy: the transaction's server was lost and replaying it elsewhere gave different results)"}

// txLost reports whether a request that failed with err (res: what was
// relayed) lost a recorded transaction that txRecover may replay; a lost
// transaction without a complete record is counted.
func (s *Session) txLost(res protocol.Response, err error) bool {
	if err == nil || res.Sent || isClientErr(err) || !s.tx.open {
		return false
	}
	if !s.tx.rec {
		s.d.Stats.Replay.Failed[ReplayNotReplayable].Add(1)
		return false
	}
	return true
}

// errCommitInDoubt answers a COMMIT whose answer was lost with its
// server. HY000, not a class 08 state: the session goes on (its
// transaction is over, committed or not), and drivers keep the connection.
var errCommitInDoubt = &mysql.MyError{Code: protocol.ErrCodeBackendLost, State: "HY000",
	Message: "rwproxy: lost the connection to the server during COMMIT; the transaction may or may not have " +
		"committed (check before retrying it)"}

// withholdReadOnly is the relay's Withhold while a request is recorded:
// a read-only refusal (1290) in a replayable transaction means its server
// was demoted (SET GLOBAL super_read_only, a group primary that lost its
// role). The transaction can never commit there, so instead of failing it
// (finish's abortTxn) the session replays it on the new writer
// (txRecover), as when the server is lost.
func (s *Session) withholdReadOnly(me *mysql.MyError) bool {
	return s.tx.open && s.tx.rec && !s.tx.broken && s.inTxn && s.d.Routing().Replay.On && readOnlyRefusal(me)
}

// refusedAfterAll answers a request whose read-only refusal was withheld
// when no writer could take its transaction: the client gets the refusal
// after all, and finish rolls the transaction back on the demoted server
// (the rest of it fails until the client ends it), as without replay.
func (s *Session) refusedAfterAll(r *request, c *pool.Conn, res protocol.Response, start time.Time) error {
	if err := s.finishRec(r, c, res, nil, start); err != nil {
		return err
	}
	return s.writeErr(res.Err)
}

// finishRec is finish followed by the end of the request's record.
func (s *Session) finishRec(r *request, c *pool.Conn, res protocol.Response, err error, start time.Time) error {
	ferr := s.finish(r, c, res, err, start)
	s.txEnd(r, res, err)
	return ferr
}

// txRecover handles a recorded request whose connection lost broke
// before any byte of the reply reached the client (cause: the error).
//   - ROLLBACK, or the COMMIT of a transaction that wrote nothing: the
//     transaction is over either way; the client gets OK.
//   - COMMIT of a transaction that wrote: never replayed (it may have
//     committed); the client gets the lost-state error, as without replay.
//   - anything else: the transaction is replayed on a new server, then
//     the request runs there and its reply goes to the client.
func (s *Session) txRecover(r *request, lost *pool.Conn, t *target, pkt []byte, o op, res protocol.Response, cause error,
	start time.Time) error {
	s.checkNow()
	refused := errors.Is(cause, protocol.ErrWithheld) // a demoted primary's 1290: see withholdReadOnly
	switch {
	case refused:
		// Refused, so not applied (a COMMIT included: it did not commit):
		// replayed like a lost statement, below.
	case s.tx.kind == router.KindRollback || s.tx.kind == router.KindCommit:
		if s.tx.kind == router.KindCommit && s.tx.writes && (s.tx.marked || s.tx.unsent) {
			return s.commitRecover(r, lost, t, pkt, o, cause, start)
		}
		if s.tx.kind == router.KindCommit && s.tx.writes {
			// Never replayed. The transaction is over either way (committed
			// or rolled back by the server), so the session goes on, as
			// after an autocommit write whose outcome is unknown.
			s.d.Stats.Replay.Failed[ReplayCommitInDoubt].Add(1)
			s.d.Stats.BackendErrs.Add(1)
			s.log().Warn("transaction replay: COMMIT lost before its answer; not replayed, its outcome is unknown",
				zap.String("backend_addr", lost.Addr()), zap.Error(cause))
			s.tx.rec, s.relay.RowSum = false, s.tx.rowSum
			s.dropTxn(lost)
			return s.writeErr(errCommitInDoubt)
		}
		// Nothing was written, or the client rolls back: a transaction
		// whose connection is gone has nothing to commit.
		s.d.Stats.Replay.Started.Add(1)
		s.d.Stats.Replay.Succeeded.Add(1)
		s.log().Info("transaction replay: connection lost at the end of the transaction; answered OK (nothing to commit)",
			zap.String("backend_addr", lost.Addr()), zap.Stringer("kind", s.tx.kind))
		s.tx.rec, s.relay.RowSum = false, s.tx.rowSum
		s.dropTxn(lost)
		return s.writeOK()
	}
	s.d.Stats.Replay.Started.Add(1)
	s.log().Info("transaction replay started: the transaction's server was lost", zap.String("backend_addr", lost.Addr()),
		zap.Int("statements", len(s.tx.ents)), zap.Int("bytes", len(s.tx.buf)), zap.Error(cause))
	began := timeNow()
	saved := s.pinned
	s.pinned = nil
	c, fail := s.replay(t)
	if fail == replayMismatch {
		s.pinned = saved
		s.d.Stats.Replay.Mismatches.Add(1)
		s.log().Warn("transaction replay: results differ; the transaction was rolled back (error 1213)")
		s.tx.rec, s.relay.RowSum = false, s.tx.rowSum
		s.dropTxn(lost)
		return s.writeErr(errReplayMismatch)
	}
	if fail >= 0 {
		s.pinned = saved
		s.d.Stats.Replay.Failed[fail].Add(1)
		s.log().Warn("transaction replay failed", zap.String("reason", ReplayFailureNames[fail]),
			zap.Duration("waited", timeNow().Sub(began)))
		if refused {
			return s.refusedAfterAll(r, lost, res, start)
		}
		return s.finishRec(r, lost, res, cause, start)
	}
	lost.Discard()
	s.pinned = c
	s.d.Stats.Replay.Succeeded.Add(1)
	s.log().Info("transaction replay succeeded", zap.String("backend_addr", c.Addr()),
		zap.Int("statements", len(s.tx.ents)), zap.Duration("took", timeNow().Sub(began)))
	res, err := s.runReplayed(r, c, t, pkt, o)
	return s.finishRec(r, c, res, err, start)
}

// runReplayed runs the lost request on c, which now holds the replayed
// transaction.
func (s *Session) runReplayed(r *request, c *pool.Conn, t *target, pkt []byte, o op) (protocol.Response, error) {
	t.hg = s.tx.hg
	r.hg = t.hg
	s.tx.acc, s.tx.changed = 0, false
	s.relayConn = c
	res, err := s.doTimed(r, c, pkt, o)
	s.relayConn = nil
	return res, err
}

// dropTxn discards the lost connection of a transaction that is over (its
// server rolls it back), leaving the session out of a transaction.
func (s *Session) dropTxn(lost *pool.Conn) {
	lost.Discard()
	if s.pinned == lost {
		s.pinned = nil
	}
	s.inTxn, s.roTxn = false, false
	s.pins, s.counted = 0, 0 // a recorded transaction has no other pin
	s.inTxnFlag.Store(false)
	s.tx.reset()
}

// replayMismatch is replay's outcome when a result differed; a failure
// reason (≥ 0) or -1 (success) otherwise.
const replayMismatch = -2

// replay starts the transaction again on a new server and re-runs its
// record there: it returns the connection, now holding the transaction,
// and -1; or replayMismatch; or a failure reason.
//
// Right after a server dies, its idle pooled connections (and the
// picker, until the monitor notices) still lead to it: a connection that
// fails a ping is discarded without counting as an attempt, and the next
// one is asked for after failoverPoll; once the pool dials afresh, the
// dead server refuses and acquireWriter waits for the new writer.
func (s *Session) replay(t *target) (*pool.Conn, int) {
	return s.attempts(func() (*pool.Conn, *mysql.MyError) { return s.replayConn(t) },
		func(c *pool.Conn, _ time.Time) int { return s.rerun(c) })
}

// attempts runs try on connections from get, within
// transaction_replay_attempts and _timeout, until it returns -1 (c is
// returned with it) or a final outcome (< -1, or ReplayCheckFailed); any
// other failure reason is retried after failoverPoll. try releases c
// unless it returns -1; deadline is the replay's.
func (s *Session) attempts(get func() (*pool.Conn, *mysql.MyError), try func(c *pool.Conn, deadline time.Time) int) (*pool.Conn, int) {
	rc := s.d.Routing().Replay
	deadline := timeNow().Add(rc.Timeout)
	// Until waitRO, a server that still refuses writes (the demoted
	// primary, before the monitor saw the promotion) costs no attempt:
	// the replay waits for the new writer, as a write does in
	// failover_buffer.
	waitRO := timeNow().Add(s.d.Routing().FailoverBuffer)
	fail := ReplayTimeout
	for attempts := 0; attempts < rc.Attempts; {
		if timeNow().After(deadline) {
			return nil, ReplayTimeout
		}
		c, me := get()
		if me != nil {
			fail = ReplayNoServer
			attempts++
			continue
		}
		if !alive(c) {
			c.Discard()
			fail = ReplayServerLost
			if !s.pause(failoverPoll) {
				return nil, fail
			}
			continue
		}
		attempts++
		switch out := try(c, deadline); {
		case out == -1:
			return c, out
		case out < -1 || out == ReplayCheckFailed:
			return nil, out
		default:
			fail = out
			if out == ReplayReadOnly && timeNow().Before(waitRO) {
				attempts--
				s.checkNow()
			}
			if !s.pause(failoverPoll) {
				return nil, fail
			}
		}
	}
	return nil, fail
}

// checkNow asks the monitor to look for the new writer at once (the
// transaction's server was lost): see monitor.CheckNow.
func (s *Session) checkNow() {
	if f := s.d.CheckNow; f != nil {
		f()
	}
}

// alive pings c (bounded by replayPingTimeout).
func alive(c *pool.Conn) bool {
	_ = c.SetDeadline(time.Now().Add(replayPingTimeout))
	err := c.Ping()
	_ = c.SetDeadline(time.Time{})
	return err == nil
}

// replayPingTimeout bounds the ping of a connection a replay is to use.
const replayPingTimeout = 2 * time.Second

// pause waits d unless the session ends first.
func (s *Session) pause(d time.Duration) bool {
	tm := time.NewTimer(d)
	defer tm.Stop()
	select {
	case <-s.ctx.Done():
		return false
	case <-tm.C:
		return true
	}
}

// replayConn returns a connection to replay on: for a READ ONLY
// transaction begun on a reader, any usable server as for a read;
// otherwise the transaction's hostgroup, waiting for a writer up to
// failover_buffer.
func (s *Session) replayConn(t *target) (*pool.Conn, *mysql.MyError) {
	if s.roTxn && s.tx.reader {
		tg := target{hg: s.tx.hg, writer: t.writer, reader: true}
		return s.acquireFor(&tg)
	}
	return s.acquireWriter(s.tx.hg)
}

// rerun runs the record on c, comparing each result's checksum: -1 when
// all match; replayMismatch (c rolled back and returned to the pool); or
// a failure reason (c rolled back and returned, or discarded).
func (s *Session) rerun(c *pool.Conn) int {
	s.relayConn = c
	defer func() { s.relayConn = nil }()
	for i := range s.tx.ents {
		e := &s.tx.ents[i]
		res, err := s.rerunOne(c, e)
		if err != nil {
			c.Discard()
			return ReplayServerLost
		}
		if sum := resultSum(s.tx.acc, res); sum != e.sum {
			if res.Err != nil && readOnlyRefusal(res.Err) {
				s.rollbackReplay(c)
				return ReplayReadOnly // not the new primary yet
			}
			s.rollbackReplay(c)
			return replayMismatch
		}
	}
	return -1
}

// rerunOne sends one recorded request on c and consumes its reply.
func (s *Session) rerunOne(c *pool.Conn, e *txEntry) (protocol.Response, error) {
	pkt := s.tx.buf[e.off : e.off+e.n]
	if e.ps != nil {
		bs, me, err := s.backendStmt(c, e.ps)
		if err != nil {
			return protocol.Response{}, err
		}
		if me != nil { // the server refused the prepare: a reply, not a failure of the rerun
			return protocol.Response{Err: me}, nil //nolint:nilerr // me is the server's answer, carried in the Response
		}
		binary.LittleEndian.PutUint32(pkt[5:9], bs.ID)
		// The record sends its types: the client's next execute without
		// them gets the statement's types inserted (execute).
		bs.Types = nil
	}
	s.tx.acc = 0
	bp := c.Packet()
	bp.ResetSequence()
	if err := bp.WritePacket(pkt); err != nil {
		return protocol.Response{}, fmt.Errorf("%w: %v", protocol.ErrBackendIO, err)
	}
	return s.relay.Forward(nil, c.Reader()) // s.tx.rec is set: txOK sums the OK packets
}

// rollbackReplay rolls back the replayed transaction on c and returns c
// to the pool (closes it when the rollback fails).
func (s *Session) rollbackReplay(c *pool.Conn) {
	if _, err := c.Execute("ROLLBACK"); err != nil {
		c.Discard()
		return
	}
	c.Recycle()
}
