// Package tracing creates OpenTelemetry spans for client statements and
// exports them over OTLP (HTTP or gRPC) through a bounded queue.
//
// A Tracer is shared by all sessions and safe for concurrent use. Start and
// the returned *Stmt belong to one session's goroutine: the session fills
// the Stmt's fields while the statement runs and calls End once. A nil
// *Stmt (statement not sampled) is never handed out, so the session's only
// cost for an unsampled statement is the sampling decision, and with
// tracing off (no Tracer at all) a nil check.
//
// Finished spans go to a queue of tracing.queue_size spans; when it is
// full a span is dropped and counted (rwproxy_tracing_spans_dropped_total)
// rather than making a statement wait for the exporter.
package tracing
