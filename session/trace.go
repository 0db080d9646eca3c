package session

import (
	"encoding/binary"
	"strings"
	"time"

	"github.com/go-mysql-org/go-mysql/mysql"

	"github.com/rwproxy/rwproxy/capture"
	"github.com/rwproxy/rwproxy/protocol"
	"github.com/rwproxy/rwproxy/tracing"
)

// StmtTracer starts the span of a client statement (Deps.Tracer;
// *tracing.Tracer implements it). Start returns nil when the statement is
// not sampled. With no tracer the statement path pays one nil check: no
// allocation, no lock.
type StmtTracer interface {
	Start(sql, traceparent string, op tracing.Op, now time.Time) *tracing.Stmt
}

var _ StmtTracer = (*tracing.Tracer)(nil)

// traced runs one statement (runOp) under a span when the tracer samples it,
// and records it when a traffic capture runs. While it runs, s.span is set
// (a span-less tracing.NewRecord for a capture of an unsampled statement)
// and the hooks on the statement path (route, pool, GTID wait, backend
// round trip, errors) fill it in; they are all behind an s.span != nil
// check.
func (s *Session) traced(r *request, pkt []byte, sql, traceparent string, op tracing.Op) error {
	now := timeNow()
	var sp *tracing.Stmt
	if s.d.Tracer != nil {
		sp = s.startSpan(sql, traceparent, op, now)
	}
	capturing := s.capturing()
	if sp == nil && capturing {
		sp = tracing.NewRecord(now)
	}
	if sp == nil {
		err := s.runOp(r, pkt, op)
		if s.txn.unsampled {
			s.txnStatementDone(now)
		}
		return err
	}
	// Read before run: the statement may change the schema, and sql
	// aliases the command buffer.
	sp.Digest = s.cls.Digest(sql)
	sp.Namespace = s.st.db
	if s.pinned != nil {
		sp.Pin = s.reasons().String()
	}
	var cs capture.Stmt
	if capturing {
		cs = s.captureStart(pkt, sql, op, now)
	}
	s.span = sp
	s.relay.RowSum = capturing
	err := s.runOp(r, pkt, op)
	s.span, s.relay.RowSum = nil, false
	end := timeNow()
	sp.End(end)
	if s.txn.span != nil || s.txn.unsampled {
		s.txnStatementDone(end)
	}
	if capturing {
		cs.Digest, cs.Dur, cs.Rows, cs.Bytes, cs.Err = sp.Digest, end.Sub(now), sp.Rows, sp.Bytes, sp.ErrCode
		cs.RowSum = sp.RowSum
		cs.Hostgroup, cs.Backend = sp.Hostgroup, sp.Addr
		s.d.Capture.Record(&cs)
	}
	return err
}

// runOp runs a traced command: COM_STMT_EXECUTE or COM_QUERY. (A switch,
// not a func value: r passed through an indirect call would escape to the
// heap, one allocation per statement.)
func (s *Session) runOp(r *request, pkt []byte, op tracing.Op) error {
	if op == tracing.OpExecute {
		return s.runExecute(r, pkt)
	}
	return s.runQuery(r, pkt)
}

// StmtCapture records statements for a traffic capture (Deps.Capture;
// *capture.Capturer implements it). Active is called once per statement
// and must be cheap; Record must not block.
type StmtCapture interface {
	Active() bool
	Record(st *capture.Stmt)
}

var _ StmtCapture = (*capture.Capturer)(nil)

// capturing reports whether a traffic capture runs.
func (s *Session) capturing() bool { return s.d.Capture != nil && s.d.Capture.Active() }

// observed reports whether statements go through traced: tracing or a
// capture is on.
func (s *Session) observed() bool { return s.d.Tracer != nil || s.capturing() }

// captureStart is the capture record of a statement before it runs: the
// session's state then, the text and an execute's parameter block (copied:
// the packet buffer is reused).
func (s *Session) captureStart(pkt []byte, sql string, op tracing.Op, now time.Time) capture.Stmt {
	cs := capture.Stmt{Start: now, Session: s.id, User: s.user.Username, DB: s.st.db,
		Autocommit: s.st.autocommit(), InTxn: s.inTxn, SQL: strings.Clone(sql)}
	if op == tracing.OpExecute {
		cs.Execute = true
		if len(pkt) > 14 {
			cs.Params = append([]byte(nil), pkt[14:]...)
		}
	}
	return cs
}

// plainExecute is stripExecuteAttrs for the statement pkt names.
func (s *Session) plainExecute(pkt []byte) ([]byte, string, *mysql.MyError) {
	if len(pkt) < 9 {
		return pkt, "", nil
	}
	ps := s.stmts[binary.LittleEndian.Uint32(pkt[5:9])]
	if ps == nil {
		return pkt, "", nil // handleExecute answers the unknown statement
	}
	out, tp, me := stripExecuteAttrs(pkt, ps, s.qaBuf)
	if me == nil && len(out) > 0 && &out[0] != &pkt[0] && cap(out) <= maxQABuf {
		s.qaBuf = out // kept for the next execute, when small
	}
	return out, tp, me
}

// maxQABuf bounds the rewritten-execute buffer a session keeps.
const maxQABuf = 64 << 10

// executeQuery is the text of the prepared statement a COM_STMT_EXECUTE
// names, "" if none.
func (s *Session) executeQuery(pkt []byte) string {
	if len(pkt) < 9 {
		return ""
	}
	if ps := s.stmts[binary.LittleEndian.Uint32(pkt[5:9])]; ps != nil {
		return ps.query
	}
	return ""
}

// traceBackend records a finished backend round trip in the span.
func (s *Session) traceBackend(r *request, c Backend, res protocol.Response, err error, start time.Time, d time.Duration) {
	sp := s.span
	sp.Hostgroup, sp.Addr = r.hg, c.Addr()
	sp.BackendStart, sp.BackendEnd = start, start.Add(d)
	sp.Rows, sp.Bytes, sp.RowSum = res.Rows, res.Bytes, res.RowSum
	switch {
	case err != nil && !isClientErr(err):
		sp.Lost = true
	case res.Err != nil:
		sp.ErrCode = res.Err.Code
	}
}
