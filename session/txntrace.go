package session

import (
	"strings"
	"time"

	"github.com/rwproxy/rwproxy/tracing"
)

// TxnTracer gives transactions their own span, the parent of their
// statements' spans (tracing.transaction_spans; *tracing.Tracer
// implements it). The session asks Deps.Tracer for it.
type TxnTracer interface {
	TxnSpans() bool
	StartTxn(sql, traceparent, namespace string, now time.Time) *tracing.Txn
}

var _ TxnTracer = (*tracing.Tracer)(nil)

// txnTrace is the session's transaction span state.
type txnTrace struct {
	// span is the open transaction's span; unsampled: the open
	// transaction was not sampled (its statements are not traced).
	span      *tracing.Txn
	unsampled bool
}

// startSpan starts the span of a statement: as a child of the open
// transaction's span with tracing.transaction_spans, after starting that
// span when the statement opens a transaction; on its own otherwise.
func (s *Session) startSpan(sql, traceparent string, op tracing.Op, now time.Time) *tracing.Stmt {
	tt, ok := s.d.Tracer.(TxnTracer)
	switch {
	case !ok || !tt.TxnSpans():
	case s.txn.span != nil:
		return s.txn.span.StartStmt(sql, op, now)
	case s.txn.unsampled:
		return nil
	case !s.inTxn && opensTxn(sql, s.st.autocommit()):
		if s.txn.span = tt.StartTxn(sql, traceparent, s.st.db, now); s.txn.span == nil {
			s.txn.unsampled = true
			return nil
		}
		return s.txn.span.StartStmt(sql, op, now)
	}
	return s.d.Tracer.Start(sql, traceparent, op, now)
}

// txnStatementDone ends the transaction's span once a statement left the
// session outside a transaction.
func (s *Session) txnStatementDone(now time.Time) {
	if !s.inTxn {
		s.endTxnSpan(now, "")
	}
}

// endTxnSpan ends the open transaction's span, if any, at now (zero:
// the current time) (how: see tracing.Txn.End).
func (s *Session) endTxnSpan(now time.Time, how string) {
	if s.txn.span != nil {
		if now.IsZero() {
			now = timeNow()
		}
		s.txn.span.End(now, how)
	}
	s.txn = txnTrace{}
}

// opensTxn reports whether sql, run outside a transaction, starts one:
// BEGIN, START TRANSACTION, or any statement with autocommit off.
func opensTxn(sql string, autocommit bool) bool {
	if !autocommit {
		return true
	}
	q := strings.TrimLeft(sql, " \t\r\n")
	return hasPrefixFold(q, "BEGIN") || hasPrefixFold(q, "START TRANSACTION")
}

func hasPrefixFold(s, p string) bool { return len(s) >= len(p) && strings.EqualFold(s[:len(p)], p) }
