package session

import (
	"errors"

	"github.com/go-mysql-org/go-mysql/mysql"
	"go.uber.org/zap"

	"github.com/rwproxy/rwproxy/pool"
	"github.com/rwproxy/rwproxy/protocol"
	"github.com/rwproxy/rwproxy/router"
)

// ProxySQL's mysql_users.transaction_persistent=0: inside a transaction
// the query rules still route statements, so that a read may run on
// another hostgroup than the transaction's. rwproxy lets only what is
// safe leave the transaction: a plain read (no locking read, nothing
// that reads or changes state kept on the transaction's connection), in
// an explicit transaction (autocommit on: with autocommit off the other
// connection would open a transaction of its own), while the connection
// holds nothing but the transaction. The read is routed as it would be
// outside the transaction (query rules, else the read/write split), on a
// connection of its own, and sees only committed data; a rule that sends
// it to the transaction's own hostgroup, or a fallback to it (no usable
// reader), keeps it on the transaction's connection. Writes never leave: ProxySQL would run them outside the
// transaction, where a ROLLBACK cannot undo them.

// stayFlags are the reads that must run on the transaction's connection.
const stayFlags = router.FlagLockingRead | router.FlagSelectInto | router.FlagUserVarRead | router.FlagUserVarWrite |
	router.FlagGetLock | router.FlagLastInsertID | router.FlagSequence | router.FlagFoundRows | router.FlagPrevStmtInfo |
	router.FlagMulti | router.FlagParseError | router.FlagCall | router.FlagHandler | router.FlagExecuteSQL |
	router.FlagKill | router.FlagCreateTempTable | router.FlagDropTempTable

// leavesTxn reports whether st, which would run pinned to the session's
// transaction, runs outside it instead (transaction_persistent=0).
func (s *Session) leavesTxn(st *router.Stmt) bool {
	return !s.user.IsTransactionPersistent() && !s.user.FastForward && s.pinned != nil && s.inTxn &&
		s.reasons() == PinTransaction && s.st.autocommit() &&
		st.Kind == router.KindRead && st.Flags&stayFlags == 0
}

// acquireDetached is acquireFor for a read that runs outside the
// session's transaction: a connection of its own, picked as outside a
// transaction. A read that falls back to the writer hostgroup (no usable
// reader, or one too far behind for read-your-writes) is back in the
// transaction's hostgroup and runs on the transaction's connection. The
// session's pinned connection is set aside meanwhile, since acquire
// returns it.
func (s *Session) acquireDetached(t *target) (*pool.Conn, *mysql.MyError) {
	pinned := s.pinned
	d := *t
	d.detached = false
	c, me := func() (*pool.Conn, *mysql.MyError) {
		s.pinned = nil
		defer func() { s.pinned = pinned }() // even on a panic: dropBackend discards it
		return s.acquireFor(&d)
	}()
	t.hg, t.reader = d.hg, d.reader
	if !d.reader && d.hg == t.writer {
		if me == nil {
			c.Recycle() // fresh from the pool, synced: its state is known
		}
		t.detached = false
		return pinned, nil
	}
	return c, me
}

// finishDetached releases the connection of a read that ran outside the
// session's transaction: the session's own state (its transaction, its
// pinned connection) is not the read's and stays as it was.
func (s *Session) finishDetached(c *pool.Conn, res protocol.Response, err error) error {
	s.d.Stats.TxnDetached.Add(1)
	if err != nil {
		c.Discard()
		if errors.Is(err, protocol.ErrClientIO) {
			return err
		}
		s.d.Stats.BackendErrs.Add(1)
		s.log().Warn("backend connection lost", zap.String("backend_addr", c.Addr()), zap.Error(err),
			zap.Bool("outside_transaction", true), zap.Bool("reply_started", res.Sent))
		if res.Sent {
			s.d.Stats.ReplyCut.Add(1)
			return errReplyCut
		}
		return s.writeErr(protocol.NewErrBackendLost(c.Addr()))
	}
	if res.Err == nil && res.HasStatus && res.Status&mysql.SERVER_STATUS_IN_TRANS != 0 {
		c.Discard() // it opened a transaction of its own: never back to the pool so
		return nil
	}
	c.Recycle()
	return nil
}
