package session

import (
	"encoding/binary"
	"time"

	"github.com/go-mysql-org/go-mysql/mysql"

	"github.com/rwproxy/rwproxy/pool"
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

// traced runs one statement (run) under a span when the tracer samples it.
// While it runs, s.span is set and the hooks on the statement path (route,
// pool, GTID wait, backend round trip, errors) fill it in; they are all
// behind an s.span != nil check.
func (s *Session) traced(pkt []byte, sql, traceparent string, op tracing.Op, run func([]byte) error) error {
	sp := s.d.Tracer.Start(sql, traceparent, op, timeNow())
	if sp == nil {
		return run(pkt)
	}
	// Read before run: the statement may change the schema, and sql
	// aliases the command buffer.
	sp.Digest = s.cls.Digest(sql)
	sp.Namespace = s.st.db
	if s.pinned != nil {
		sp.Pin = s.reasons().String()
	}
	s.span = sp
	err := run(pkt)
	s.span = nil
	sp.End(timeNow())
	return err
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
func (s *Session) traceBackend(c *pool.Conn, res protocol.Response, err error, start time.Time, d time.Duration) {
	sp := s.span
	sp.Hostgroup, sp.Addr = s.curHG, c.Addr()
	sp.BackendStart, sp.BackendEnd = start, start.Add(d)
	sp.Rows = res.Rows
	switch {
	case err != nil && !isClientErr(err):
		sp.Lost = true
	case res.Err != nil:
		sp.ErrCode = res.Err.Code
	}
}
