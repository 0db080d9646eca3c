package tracing

import (
	"context"
	"fmt"
	"math/rand/v2"
	"net/url"
	"strings"
	"time"

	"go.opentelemetry.io/otel/exporters/otlp/otlptrace/otlptracegrpc"
	"go.opentelemetry.io/otel/exporters/otlp/otlptrace/otlptracehttp"
	"go.opentelemetry.io/otel/propagation"
	"go.opentelemetry.io/otel/sdk/resource"
	sdktrace "go.opentelemetry.io/otel/sdk/trace"
	semconv "go.opentelemetry.io/otel/semconv/v1.40.0"
	"go.opentelemetry.io/otel/trace"

	"github.com/rwproxy/rwproxy/config"
)

// Tracer makes the spans of client statements. Safe for concurrent use.
type Tracer struct {
	tp          *sdktrace.TracerProvider
	tr          trace.Tracer
	q           *queue
	includeText bool
	// ratio is tracing.sampling_ratio: the root sampling decision is made
	// in Start, before the SDK is called, so that an unsampled statement
	// costs no allocation.
	ratio float64
	// txnSpans is tracing.transaction_spans (txn.go).
	txnSpans bool
}

// ScopeName is the instrumentation scope of rwproxy's spans.
const ScopeName = "github.com/rwproxy/rwproxy/tracing"

// New builds a Tracer exporting over OTLP as cfg says. It does not connect:
// the exporter dials lazily, and an unreachable receiver costs failed
// exports (counted), never statements.
func New(cfg config.Tracing) (*Tracer, error) {
	exp, err := newExporter(cfg)
	if err != nil {
		return nil, err
	}
	return NewWithExporter(cfg, exp), nil
}

func newExporter(cfg config.Tracing) (sdktrace.SpanExporter, error) {
	ctx := context.Background()
	switch cfg.Protocol {
	case config.TracingGRPC:
		opts := []otlptracegrpc.Option{otlptracegrpc.WithTimeout(exportTimeout)}
		if strings.Contains(cfg.Endpoint, "://") {
			opts = append(opts, otlptracegrpc.WithEndpointURL(cfg.Endpoint))
		} else {
			opts = append(opts, otlptracegrpc.WithEndpoint(cfg.Endpoint))
		}
		if cfg.Insecure {
			opts = append(opts, otlptracegrpc.WithInsecure())
		}
		return otlptracegrpc.New(ctx, opts...)
	case config.TracingHTTP:
		u, err := url.Parse(cfg.Endpoint)
		if err != nil {
			return nil, fmt.Errorf("tracing: endpoint %q: %w", cfg.Endpoint, err)
		}
		if u.Path == "" || u.Path == "/" {
			u.Path = "/v1/traces"
		}
		return otlptracehttp.New(ctx, otlptracehttp.WithEndpointURL(u.String()), otlptracehttp.WithTimeout(exportTimeout))
	}
	return nil, fmt.Errorf("tracing: unknown protocol %q", cfg.Protocol)
}

// NewWithExporter builds a Tracer that sends its spans to exp (tests use
// the SDK's in-memory exporter).
func NewWithExporter(cfg config.Tracing, exp sdktrace.SpanExporter) *Tracer {
	q := newQueue(exp, cfg.QueueSize, cfg.BatchSize, cfg.BatchTimeout)
	res := resource.NewWithAttributes(semconv.SchemaURL, semconv.ServiceName(cfg.ServiceName))
	tp := sdktrace.NewTracerProvider(
		// Parent-based; the root decision (the ratio) is Start's.
		sdktrace.WithSampler(sdktrace.ParentBased(sdktrace.AlwaysSample())),
		sdktrace.WithSpanProcessor(q),
		sdktrace.WithResource(res),
	)
	return &Tracer{tp: tp, tr: tp.Tracer(ScopeName), q: q, includeText: cfg.IncludeStatement, ratio: cfg.SamplingRatio,
		txnSpans: cfg.TransactionSpans}
}

// Close exports the spans still queued (up to ctx's deadline) and stops
// the exporter.
func (t *Tracer) Close(ctx context.Context) error {
	return t.tp.Shutdown(ctx)
}

// Flush exports the spans queued so far.
func (t *Tracer) Flush(ctx context.Context) error { return t.tp.ForceFlush(ctx) }

// Counts are the export queue's counters.
type Counts struct {
	// Dropped spans found the queue full (or the tracer closed).
	Dropped uint64
	// Exported spans were accepted by the receiver; Failed ones were not.
	Exported, Failed uint64
}

// Counts returns the export queue's counters.
func (t *Tracer) Counts() Counts {
	return Counts{Dropped: t.q.dropped.Load(), Exported: t.q.exported.Load(), Failed: t.q.failed.Load()}
}

// Op is the protocol command a statement came in.
type Op uint8

// Ops.
const (
	OpQuery   Op = iota // COM_QUERY
	OpExecute           // COM_STMT_EXECUTE
)

// Start begins the span of a statement at now. sql is the statement text
// (only read during the call, copied if include_statement is set);
// traceparent is a W3C trace context the client sent as a query attribute,
// "" if none, in which case a sqlcommenter comment in sql is looked for.
// Start returns nil when the statement is not sampled.
func (t *Tracer) Start(sql, traceparent string, op Op, now time.Time) *Stmt {
	ctx := clientContext(sql, traceparent)
	if !t.sampleRoot(ctx) {
		return nil // a root span the ratio does not sample
	}
	ctx, span := t.tr.Start(ctx, "mysql", trace.WithSpanKind(trace.SpanKindServer), trace.WithTimestamp(now))
	if !span.IsRecording() {
		return nil
	}
	st := &Stmt{t: t, ctx: ctx, span: span, op: op, Start: now}
	if t.includeText {
		st.text = strings.Clone(sql)
	}
	return st
}

// clientContext is the context carrying the client's span: traceparent
// (a query attribute) or else a sqlcommenter comment in sql; empty when
// there is neither.
func clientContext(sql, traceparent string) context.Context {
	ctx := context.Background()
	if traceparent == "" {
		traceparent = commentTraceparent(sql)
	}
	if traceparent != "" {
		ctx = propagation.TraceContext{}.Extract(ctx, carrier(traceparent))
	}
	return ctx
}

// sampleRoot is the sampling decision for a span whose parent is in ctx:
// true with a parent (the SDK's parent-based sampler decides), else true
// for the ratio's share of root spans.
func (t *Tracer) sampleRoot(ctx context.Context) bool {
	return trace.SpanContextFromContext(ctx).IsValid() || t.ratio > 0 && (t.ratio >= 1 || rand.Float64() < t.ratio)
}

// carrier is a propagation.TextMapCarrier holding one traceparent.
type carrier string

func (c carrier) Get(k string) string {
	if k == "traceparent" {
		return string(c)
	}
	return ""
}
func (carrier) Set(string, string) {}
func (carrier) Keys() []string     { return []string{"traceparent"} }

// commentTraceparent finds a sqlcommenter traceparent in sql:
// /*traceparent='00-<trace id>-<span id>-<flags>'*/ (values may be
// URL-encoded). "" when there is none.
func commentTraceparent(sql string) string {
	const key = "traceparent='"
	i := strings.Index(sql, key)
	if i < 0 || !strings.Contains(sql[:i], "/*") {
		return ""
	}
	v := sql[i+len(key):]
	j := strings.IndexByte(v, '\'')
	if j < 0 || j > 256 {
		return ""
	}
	v = v[:j]
	if strings.IndexByte(v, '%') >= 0 {
		if d, err := url.QueryUnescape(v); err == nil {
			v = d
		}
	}
	return v
}
