package tracing

import (
	"context"
	"strings"
	"time"

	"go.opentelemetry.io/otel/attribute"
	"go.opentelemetry.io/otel/codes"
	semconv "go.opentelemetry.io/otel/semconv/v1.40.0"
	"go.opentelemetry.io/otel/trace"
)

// Txn is a sampled transaction's span (tracing.transaction_spans): the
// parent of its statements' spans. Like Stmt it belongs to one session's
// goroutine.
type Txn struct {
	t     *Tracer
	ctx   context.Context
	span  trace.Span
	stmts int
	last  string // the last statement's digest (COMMIT, ROLLBACK, ...)
}

// TxnSpans reports whether transactions get their own span
// (tracing.transaction_spans).
func (t *Tracer) TxnSpans() bool { return t.txnSpans }

// StartTxn begins the span of a transaction whose first statement is sql
// (its client context, a traceparent attribute or comment, becomes the
// transaction's parent). It returns nil when the transaction is not
// sampled: its statements are then not traced either.
func (t *Tracer) StartTxn(sql, traceparent, namespace string, now time.Time) *Txn {
	ctx := clientContext(sql, traceparent)
	if !t.sampleRoot(ctx) {
		return nil
	}
	attrs := []attribute.KeyValue{semconv.DBSystemNameMySQL}
	name := "transaction"
	if namespace != "" {
		attrs = append(attrs, semconv.DBNamespace(namespace))
		name += " " + namespace
	}
	ctx, span := t.tr.Start(ctx, name, trace.WithSpanKind(trace.SpanKindServer), trace.WithTimestamp(now),
		trace.WithAttributes(attrs...))
	if !span.IsRecording() {
		return nil
	}
	return &Txn{t: t, ctx: ctx, span: span}
}

// StartStmt begins the span of a statement of the transaction, as a child
// of its span.
func (x *Txn) StartStmt(sql string, op Op, now time.Time) *Stmt {
	x.stmts++
	ctx, span := x.t.tr.Start(x.ctx, "mysql", trace.WithSpanKind(trace.SpanKindInternal), trace.WithTimestamp(now))
	st := &Stmt{t: x.t, ctx: ctx, span: span, op: op, Start: now, txn: x}
	if x.t.includeText {
		st.text = strings.Clone(sql)
	}
	return st
}

// End finishes the transaction's span at now. how is its outcome
// (rwproxy.transaction.end); "" takes it from the last statement: commit,
// rollback, or implicit (a statement that commits implicitly, e.g. DDL).
// A session that ends inside a transaction passes "abandoned".
func (x *Txn) End(now time.Time, how string) {
	if how == "" {
		switch how = strings.ToLower(operation(x.last)); how {
		case "commit", "rollback":
		default:
			how = "implicit"
		}
	}
	x.span.SetAttributes(attribute.Int("rwproxy.transaction.statements", x.stmts),
		attribute.String("rwproxy.transaction.end", how))
	if how != "commit" {
		x.span.SetStatus(codes.Error, "transaction "+how)
	}
	x.span.End(trace.WithTimestamp(now))
}

// Traceparent is the W3C traceparent naming the transaction's span.
func (x *Txn) Traceparent() string { return traceparent(x.span.SpanContext()) }
