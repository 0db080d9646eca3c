package tracing

import (
	"context"
	"strconv"
	"strings"
	"time"

	"go.opentelemetry.io/otel/attribute"
	"go.opentelemetry.io/otel/codes"
	semconv "go.opentelemetry.io/otel/semconv/v1.40.0"
	"go.opentelemetry.io/otel/trace"
)

// Stmt is one sampled statement's span while it runs. The session fills
// the exported fields (zero values are left out of the span) and calls End
// once; it is not safe for concurrent use.
type Stmt struct {
	// Start is when the statement arrived.
	Start time.Time
	// Digest is the statement normalized (literals replaced by ?).
	Digest string
	// Namespace is the session's default schema.
	Namespace string
	// Hostgroup and Addr are where the statement ran (the last attempt).
	Hostgroup int
	Addr      string
	// Reason is the routing reason (router.Reason's name); Pin names why
	// the session holds its backend connection ("" = not pinned).
	Reason, Pin string
	// Retries counts the statement's extra attempts (a read retried on the
	// writer after its reader failed).
	Retries int
	// PoolStart is when the session started to get a backend connection;
	// BackendStart/BackendEnd frame the backend round trip (the request
	// sent and the response relayed).
	PoolStart, BackendStart, BackendEnd time.Time
	// GTIDStart/GTIDEnd frame a read-your-writes wait on a replica.
	GTIDStart, GTIDEnd time.Time
	// Rows is the number of rows the backend returned; Bytes the size of
	// its response.
	Rows, Bytes int
	// RowSum is the rows' checksum (protocol.Response.RowSum; only while
	// a traffic capture runs).
	RowSum uint64
	// ErrCode is the MySQL error the client got (0 = none); Lost: the
	// backend connection failed mid-request.
	ErrCode uint16
	Lost    bool

	t    *Tracer
	ctx  context.Context
	span trace.Span
	op   Op
	text string
	txn  *Txn // the transaction whose span is the parent, nil if none
}

// NewRecord returns a Stmt without a span: the session fills it as it
// fills a traced one, End does nothing (a traffic capture of a statement
// tracing does not sample reads the fields).
func NewRecord(now time.Time) *Stmt { return &Stmt{Start: now} }

// Context returns the context carrying the statement's span (to forward
// its traceparent).
func (s *Stmt) Context() context.Context { return s.ctx }

// Traceparent is the W3C traceparent naming this statement's span, for a
// backend that accepts it; "" for a NewRecord.
func (s *Stmt) Traceparent() string {
	if s.span == nil {
		return ""
	}
	return traceparent(s.span.SpanContext())
}

func traceparent(sc trace.SpanContext) string {
	return "00-" + sc.TraceID().String() + "-" + sc.SpanID().String() + "-" + sc.TraceFlags().String()
}

// End finishes the span at now, with its child spans for the pool wait,
// the GTID wait and the backend round trip.
func (s *Stmt) End(now time.Time) {
	if s.span == nil {
		return // NewRecord
	}
	if s.txn != nil {
		s.txn.last = s.Digest
	}
	op := operation(s.Digest)
	name := op
	if name == "" {
		name = "mysql"
	}
	if s.Namespace != "" {
		name += " " + s.Namespace
	}
	s.span.SetName(name)
	attrs := make([]attribute.KeyValue, 0, 16)
	attrs = append(attrs, semconv.DBSystemNameMySQL, attribute.String("rwproxy.command", s.op.String()))
	if s.Namespace != "" {
		attrs = append(attrs, semconv.DBNamespace(s.Namespace))
	}
	if op != "" {
		attrs = append(attrs, semconv.DBOperationName(op))
	}
	if s.Digest != "" {
		attrs = append(attrs, semconv.DBQuerySummary(truncate(s.Digest, maxDigest)))
	}
	if s.text != "" {
		attrs = append(attrs, semconv.DBQueryText(truncate(s.text, maxText)))
	}
	if s.Addr != "" {
		attrs = append(attrs, attribute.Int("rwproxy.hostgroup", s.Hostgroup), attribute.String("rwproxy.backend", s.Addr))
		if host, port, ok := splitAddr(s.Addr); ok {
			attrs = append(attrs, semconv.ServerAddress(host), semconv.ServerPort(port))
		}
	}
	if s.Reason != "" {
		attrs = append(attrs, attribute.String("rwproxy.route_reason", s.Reason))
	}
	if s.Pin != "" {
		attrs = append(attrs, attribute.String("rwproxy.pin_reason", s.Pin))
	}
	if s.Rows > 0 {
		attrs = append(attrs, semconv.DBResponseReturnedRows(s.Rows))
	}
	if s.Retries > 0 {
		attrs = append(attrs, attribute.Int("rwproxy.retries", s.Retries))
	}
	if !s.PoolStart.IsZero() && !s.BackendStart.IsZero() {
		attrs = append(attrs, attribute.Int64("rwproxy.pool_wait_us", s.BackendStart.Sub(s.PoolStart).Microseconds()))
	}
	if !s.GTIDStart.IsZero() {
		attrs = append(attrs, attribute.Int64("rwproxy.consistency_wait_us", s.GTIDEnd.Sub(s.GTIDStart).Microseconds()))
	}
	switch {
	case s.ErrCode != 0:
		code := strconv.Itoa(int(s.ErrCode))
		attrs = append(attrs, semconv.DBResponseStatusCode(code), semconv.ErrorTypeKey.String(code))
		s.span.SetStatus(codes.Error, "MySQL error "+code)
	case s.Lost:
		attrs = append(attrs, semconv.ErrorTypeKey.String("backend_lost"))
		s.span.SetStatus(codes.Error, "backend connection lost")
	}
	s.span.SetAttributes(attrs...)
	s.children()
	s.span.End(trace.WithTimestamp(now))
}

// children records the phases the session timed as child spans.
func (s *Stmt) children() {
	if !s.PoolStart.IsZero() && !s.BackendStart.IsZero() {
		s.child("pool wait", s.PoolStart, s.BackendStart)
	}
	if !s.GTIDStart.IsZero() && !s.GTIDEnd.IsZero() {
		s.child("gtid wait", s.GTIDStart, s.GTIDEnd)
	}
	if !s.BackendStart.IsZero() && !s.BackendEnd.IsZero() {
		s.child("backend", s.BackendStart, s.BackendEnd, attribute.String("rwproxy.backend", s.Addr))
	}
}

func (s *Stmt) child(name string, start, end time.Time, attrs ...attribute.KeyValue) {
	_, sp := s.t.tr.Start(s.ctx, name, trace.WithSpanKind(trace.SpanKindInternal), trace.WithTimestamp(start), trace.WithAttributes(attrs...))
	sp.End(trace.WithTimestamp(end))
}

// Bounds of the text attributes.
const (
	maxDigest = 1024
	maxText   = 4096
)

func truncate(s string, n int) string {
	if len(s) <= n {
		return s
	}
	return s[:n]
}

// operation is the first keyword of a digest, upper-cased (SELECT, INSERT,
// ...), "" if it does not start with a word.
func operation(digest string) string {
	d := strings.TrimLeft(digest, " \t\r\n(")
	i := 0
	for i < len(d) && (d[i] >= 'a' && d[i] <= 'z' || d[i] >= 'A' && d[i] <= 'Z' || d[i] == '_') {
		i++
	}
	return strings.ToUpper(d[:i])
}

func splitAddr(addr string) (string, int, bool) {
	i := strings.LastIndexByte(addr, ':')
	if i < 0 {
		return "", 0, false
	}
	p, err := strconv.Atoi(addr[i+1:])
	return strings.Trim(addr[:i], "[]"), p, err == nil
}

// String names the command.
func (o Op) String() string {
	if o == OpExecute {
		return "COM_STMT_EXECUTE"
	}
	return "COM_QUERY"
}
