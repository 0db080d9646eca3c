package session

import (
	"github.com/go-mysql-org/go-mysql/mysql"
	"go.uber.org/zap"

	"github.com/rwproxy/rwproxy/pool"
)

// idempotentRetry reports whether the statement about to run on t may be
// run a second time when its connection is lost before any byte of the
// reply reached the client: a statement a query rule marks idempotent,
// in autocommit and holding nothing on its connection. Any other write
// whose outcome is unknown is never re-run.
func (s *Session) idempotentRetry(t *target) bool {
	return t.idem && s.pinned == nil && !s.inTxn && s.st.autocommit() && s.reasons() == 0
}

// retryIdempotent discards c, on which an idempotent autocommit statement
// failed before any reply, and returns a writer connection for its second
// and last attempt (waiting up to failover_buffer for a new writer).
func (s *Session) retryIdempotent(c *pool.Conn, t *target, err error) (*pool.Conn, *mysql.MyError) {
	s.log().Info("idempotent statement (query rule) lost before any reply: re-running it",
		zap.String("backend_addr", c.Addr()), zap.Error(err))
	s.dropConn(c)
	s.d.Stats.Replay.IdempotentRetries.Add(1)
	c, me := s.acquireWriter(t.hg)
	if me != nil {
		s.d.Stats.ReadRetryFailures.Add(1)
	}
	return c, me
}
