package session

import (
	"crypto/rand"
	"encoding/hex"
	"errors"
	"strconv"
	"time"

	"github.com/go-mysql-org/go-mysql/mysql"
	"go.uber.org/zap"

	"github.com/rwproxy/rwproxy/pool"
	"github.com/rwproxy/rwproxy/protocol"
	"github.com/rwproxy/rwproxy/router"
)

// The commit check (transaction_replay_commit_check, issue #21): the
// COMMIT of a transaction that wrote, lost before its answer, is resolved
// instead of failing with 9020.
//
// Before forwarding such a COMMIT, the session upserts its marker row in
// the check table on the transaction's own connection:
//
//	INSERT INTO t (node, session, seq) VALUES ('<node>', <conn id>, <seq>)
//	  ON DUPLICATE KEY UPDATE seq = <seq>
//
// node names this proxy process (cluster node name and a random id drawn
// at start, so that a restarted proxy, whose connection ids start again
// at 1, never reads its predecessor's rows); seq counts the session's
// marked COMMITs. The marker commits if and only if the transaction does.
// When the COMMIT's connection is lost before its answer, the session
// waits for the new writer (failover_buffer) and reads its row there in
// the connection it will replay on: seq found, the transaction committed
// and the client gets OK; not found, it did not, and the record is
// replayed (statements, marker, COMMIT) on that same connection, so a
// server that answers the check without being the writer refuses the
// replayed writes (read_only) and the next attempt checks again.
//
// The check reads the new writer: on MySQL Group Replication it relies on
// group_replication_consistency = BEFORE_ON_PRIMARY_FAILOVER (the default
// since MySQL 8.4): a new primary answers only once it applied the old
// primary's backlog. On asynchronous replication a transaction the new
// primary never received is replayed: the old primary's copy is lost with
// it, as any write it did not replicate.
//
// A marker that fails with a server error (no table, no privilege) is
// counted and logged once; the COMMIT goes on without the check (a lost
// answer then gets 9020 as without it). A marker whose connection is lost
// means the COMMIT was never sent: the transaction did not commit and is
// replayed without a check.

// procID tells this process's markers from those of an earlier run.
var procID = func() string {
	var b [6]byte
	_, _ = rand.Read(b[:])
	return hex.EncodeToString(b[:])
}()

// markerNode is the node column of this proxy's markers.
func markerNode(node string) string {
	if node == "" {
		return procID
	}
	return node + "/" + procID
}

// commitCheckDue reports whether the request about to run is a recorded
// COMMIT of a transaction that wrote, with the commit check on.
func (s *Session) commitCheckDue() bool {
	return s.tx.rec && s.tx.kind == router.KindCommit && s.tx.writes && s.d.Routing().Replay.CommitCheck != ""
}

// errMarkerRolledBack answers a COMMIT whose marker statement got a
// deadlock or a lock wait timeout: the transaction was rolled back
// (the connection is dropped so that none of it can commit), and the
// client retries it as after any deadlock.
var errMarkerRolledBack = &mysql.MyError{Code: mysql.ER_LOCK_DEADLOCK, State: "40001",
	Message: "Deadlock found when trying to get lock; try restarting transaction " +
		"(rwproxy: the commit check's marker statement hit a lock conflict; the transaction was rolled back)"}

// markBeforeCommit runs the marker before the COMMIT about to be sent on
// c; it answers the request itself (done) when the COMMIT must not be
// sent: the marker's connection was lost (the transaction is replayed or
// resolved by txRecover), or a lock conflict rolled the transaction back.
func (s *Session) markBeforeCommit(r *request, c *pool.Conn, t *target, pkt []byte, o op, start time.Time) (done bool, err error) {
	merr := s.commitMark(c)
	var me *mysql.MyError
	switch {
	case merr == nil:
		return false, nil
	case errors.As(merr, &me):
		// InnoDB rolls back the whole transaction on a deadlock: a COMMIT
		// sent now would commit nothing and answer OK.
		s.log().Warn("transaction replay: the commit check's marker hit a lock conflict; transaction rolled back",
			zap.Uint16("code", me.Code))
		s.tx.rec, s.relay.RowSum = false, s.tx.rowSum
		s.dropTxn(c)
		return true, s.writeErr(errMarkerRolledBack)
	}
	s.tx.unsent = true // lost before the COMMIT was sent: it did not commit
	return true, s.txRecover(r, c, t, pkt, o, protocol.Response{}, merr, start)
}

// commitMark runs the marker statement on c, the transaction's
// connection, before its COMMIT. A server error is counted and leaves the
// COMMIT unchecked, except a lock conflict, returned (*mysql.MyError); a
// lost connection returns its error (the COMMIT was not sent).
func (s *Session) commitMark(c *pool.Conn) error {
	s.tx.seq++
	s.tx.marked = false
	_, err := c.Execute(s.markerSQL())
	var me *mysql.MyError
	switch {
	case err == nil:
		s.tx.marked = true
		return nil
	case errors.As(err, &me) && (me.Code == mysql.ER_LOCK_DEADLOCK || me.Code == mysql.ER_LOCK_WAIT_TIMEOUT):
		s.d.Stats.Replay.MarkerErrors.Add(1)
		return err
	case errors.As(err, &me) && readOnlyRefusal(me):
		// A demoted server: not the table's fault. The COMMIT is refused
		// too, so it is replayed on the new writer (withholdReadOnly).
		return nil
	case errors.As(err, &me):
		s.d.Stats.Replay.MarkerErrors.Add(1)
		if !s.d.Stats.Replay.markerWarned.Swap(true) {
			s.log().Warn("transaction replay: the commit check's marker statement failed; COMMITs go on without "+
				"the check (logged once)", zap.String("table", s.d.Routing().Replay.CommitCheck),
				zap.Uint16("code", me.Code), zap.String("message", me.Message))
		}
		return nil
	}
	return err
}

// markerSQL is the marker statement of the session's current COMMIT.
func (s *Session) markerSQL() string {
	rc := &s.d.Routing().Replay
	seq := strconv.FormatUint(s.tx.seq, 10)
	return "INSERT INTO " + rc.CommitCheck + " (node, session, seq) VALUES ('" + mysql.Escape(markerNode(rc.Node)) +
		"', " + strconv.FormatUint(uint64(s.id), 10) + ", " + seq + ") ON DUPLICATE KEY UPDATE seq = " + seq
}

// committed reads on c whether the session's marked COMMIT committed.
func (s *Session) committed(c *pool.Conn, deadline time.Time) (bool, error) {
	rc := &s.d.Routing().Replay
	_ = c.SetDeadline(deadline)
	r, err := c.Execute("SELECT seq FROM " + rc.CommitCheck + " WHERE node = '" + mysql.Escape(markerNode(rc.Node)) +
		"' AND session = " + strconv.FormatUint(uint64(s.id), 10))
	_ = c.SetDeadline(time.Time{})
	if err != nil {
		return false, err
	}
	// r is not Closed: go-mysql v1.16 pools a closed Resultset without
	// clearing its Fields, which BuildSimpleTextResultset then trips on.
	if r.Resultset == nil || r.RowNumber() == 0 {
		return false, nil
	}
	seq, err := r.GetUint(0, 0)
	return err == nil && seq == s.tx.seq, err
}

// commitRecover resolves a marked COMMIT lost before its answer (see the
// top of this file): OK when it committed, else the transaction replayed
// and committed on the new writer, 1213 when the replay's results differ,
// and the lost-state error when no writer answers the check in time.
func (s *Session) commitRecover(r *request, lost *pool.Conn, t *target, pkt []byte, o op, cause error, start time.Time) error {
	s.d.Stats.Replay.CommitChecks.Add(1)
	s.log().Info("transaction replay: COMMIT lost before its answer; checking on the new writer whether it committed",
		zap.String("backend_addr", lost.Addr()), zap.Bool("sent", !s.tx.unsent), zap.Error(cause))
	began := timeNow()
	saved := s.pinned
	s.pinned = nil
	c, out := s.resolveCommit() // s.tx.rec stays set: rerun sums the OK packets
	if out != -1 {
		s.tx.rec, s.relay.RowSum = false, s.tx.rowSum
	}
	switch {
	case out == commitFound:
		s.d.Stats.Replay.CommitsFound.Add(1)
		s.log().Info("transaction replay: the lost COMMIT had committed; answered OK",
			zap.Duration("took", timeNow().Sub(began)))
		s.pinned = saved
		s.dropTxn(lost)
		return s.writeOK()
	case out == replayMismatch:
		s.d.Stats.Replay.Started.Add(1)
		s.d.Stats.Replay.Mismatches.Add(1)
		s.log().Warn("transaction replay: results differ; the transaction was rolled back (error 1213)")
		s.pinned = saved
		s.dropTxn(lost)
		return s.writeErr(errReplayMismatch)
	case out >= 0:
		s.d.Stats.Replay.Failed[out].Add(1)
		s.log().Warn("transaction replay: the lost COMMIT could not be resolved; its outcome is unknown",
			zap.String("reason", ReplayFailureNames[out]), zap.Duration("waited", timeNow().Sub(began)))
		s.d.Stats.BackendErrs.Add(1)
		s.pinned = saved
		s.dropTxn(lost)
		return s.writeErr(errCommitInDoubt)
	}
	// Not committed: replayed on c, which holds the transaction with its
	// marker; the client's COMMIT runs there.
	lost.Discard()
	s.pinned = c
	s.d.Stats.Replay.CommitsReplayed.Add(1)
	s.d.Stats.Replay.Started.Add(1)
	s.d.Stats.Replay.Succeeded.Add(1)
	s.log().Info("transaction replay: the lost COMMIT had not committed; transaction replayed, committing it",
		zap.String("backend_addr", c.Addr()), zap.Int("statements", len(s.tx.ents)),
		zap.Duration("took", timeNow().Sub(began)))
	res, err := s.runReplayed(r, c, t, pkt, o)
	if err != nil && !res.Sent && !isClientErr(err) {
		// Lost again before the answer: the check settles it once more
		// (the record and the marker are unchanged).
		s.tx.unsent = false
		return s.commitRecover(r, c, t, pkt, o, err, start)
	}
	return s.finishRec(r, c, res, err, start)
}

// commitFound is resolveCommit's outcome when the COMMIT had committed.
const commitFound = -3

// resolveCommit finds a writer, checks there whether the session's marked
// COMMIT committed and, when it did not, replays the record and the
// marker on it. It returns the connection holding the replayed
// transaction and -1; commitFound; replayMismatch; or a failure reason.
// Attempts and time are bounded as replay's.
func (s *Session) resolveCommit() (*pool.Conn, int) {
	return s.attempts(func() (*pool.Conn, *mysql.MyError) { return s.acquireWriter(s.tx.hg) }, s.checkAndReplay)
}

// checkAndReplay is one attempt of resolveCommit on c: c is returned to
// the pool (or discarded) unless the outcome is -1.
func (s *Session) checkAndReplay(c *pool.Conn, deadline time.Time) int {
	if !s.tx.unsent {
		found, err := s.committed(c, deadline)
		var me *mysql.MyError
		switch {
		case errors.As(err, &me):
			s.log().Warn("transaction replay: the commit check failed", zap.String("backend_addr", c.Addr()),
				zap.Uint16("code", me.Code), zap.String("message", me.Message))
			c.Recycle()
			return ReplayCheckFailed
		case err != nil:
			c.Discard()
			return ReplayServerLost
		case found:
			c.Recycle()
			return commitFound
		}
	}
	out := s.rerun(c)
	if out != -1 {
		return out // rerun released c
	}
	if _, err := c.Execute(s.markerSQL()); err != nil {
		var me *mysql.MyError
		if errors.As(err, &me) && readOnlyRefusal(me) {
			s.rollbackReplay(c)
			return ReplayReadOnly
		}
		if errors.As(err, &me) && (me.Code == mysql.ER_LOCK_DEADLOCK || me.Code == mysql.ER_LOCK_WAIT_TIMEOUT) {
			s.rollbackReplay(c)
			return replayMismatch // nothing committed: 1213, the client retries
		}
		if errors.As(err, &me) {
			s.rollbackReplay(c)
			return ReplayCheckFailed
		}
		c.Discard()
		return ReplayServerLost
	}
	return -1
}
