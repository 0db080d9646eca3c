package tracing

import (
	"context"
	"sync"
	"testing"
	"time"

	"github.com/stretchr/testify/require"
	"go.opentelemetry.io/otel/attribute"
	sdktrace "go.opentelemetry.io/otel/sdk/trace"
	"go.opentelemetry.io/otel/sdk/trace/tracetest"

	"github.com/rwproxy/rwproxy/config"
)

const (
	clientTrace = "4bf92f3577b34da6a3ce929d0e0e4736"
	clientSpan  = "00f067aa0ba902b7"
)

func testConfig(ratio float64) config.Tracing {
	c := config.DefaultTracing()
	c.Enabled, c.SamplingRatio = true, ratio
	return c
}

func newMem(t *testing.T, cfg config.Tracing) (*Tracer, *tracetest.InMemoryExporter) {
	t.Helper()
	exp := tracetest.NewInMemoryExporter()
	tr := NewWithExporter(cfg, exp)
	t.Cleanup(func() { _ = tr.Close(context.Background()) })
	return tr, exp
}

func attrs(s tracetest.SpanStub) map[attribute.Key]attribute.Value {
	m := make(map[attribute.Key]attribute.Value)
	for _, kv := range s.Attributes {
		m[kv.Key] = kv.Value
	}
	return m
}

// TestSpanTree: a statement's span carries the database conventions and
// rwproxy's own attributes, and the phases the session timed are its
// children.
func TestSpanTree(t *testing.T) {
	tr, exp := newMem(t, testConfig(1))
	t0 := time.Unix(1_800_000_000, 0)
	st := tr.Start("SELECT * FROM t WHERE id = 42", "", OpQuery, t0)
	require.NotNil(t, st)
	st.Digest, st.Namespace = "SELECT * FROM `t` WHERE `id` = ?", "shop"
	st.Hostgroup, st.Addr, st.Reason, st.Pin, st.Retries, st.Rows = 20, "127.0.0.1:3307", "read", "temporary_table", 1, 3
	st.PoolStart, st.BackendStart, st.BackendEnd = t0.Add(time.Millisecond), t0.Add(3*time.Millisecond), t0.Add(9*time.Millisecond)
	st.GTIDStart, st.GTIDEnd = t0.Add(time.Millisecond), t0.Add(2*time.Millisecond)
	st.End(t0.Add(10 * time.Millisecond))
	require.NoError(t, tr.Flush(context.Background()))

	spans := exp.GetSpans()
	require.Len(t, spans, 4)
	byName := map[string]tracetest.SpanStub{}
	for _, s := range spans {
		byName[s.Name] = s
	}
	root, ok := byName["SELECT shop"]
	require.True(t, ok, "span names: %v", byName)
	require.False(t, root.Parent.IsValid(), "no client context: a root span")
	a := attrs(root)
	require.Equal(t, "mysql", a["db.system.name"].AsString())
	require.Equal(t, "shop", a["db.namespace"].AsString())
	require.Equal(t, "SELECT", a["db.operation.name"].AsString())
	require.Equal(t, "SELECT * FROM `t` WHERE `id` = ?", a["db.query.summary"].AsString())
	require.NotContains(t, a, attribute.Key("db.query.text"), "no literal without include_statement")
	require.Equal(t, int64(20), a["rwproxy.hostgroup"].AsInt64())
	require.Equal(t, "127.0.0.1:3307", a["rwproxy.backend"].AsString())
	require.Equal(t, "127.0.0.1", a["server.address"].AsString())
	require.Equal(t, int64(3307), a["server.port"].AsInt64())
	require.Equal(t, "read", a["rwproxy.route_reason"].AsString())
	require.Equal(t, "temporary_table", a["rwproxy.pin_reason"].AsString())
	require.Equal(t, int64(1), a["rwproxy.retries"].AsInt64())
	require.Equal(t, int64(3), a["db.response.returned_rows"].AsInt64())
	require.Equal(t, int64(2000), a["rwproxy.pool_wait_us"].AsInt64())
	require.Equal(t, int64(1000), a["rwproxy.consistency_wait_us"].AsInt64())
	require.Equal(t, t0, root.StartTime)
	require.Equal(t, t0.Add(10*time.Millisecond), root.EndTime)
	for name, d := range map[string]time.Duration{"pool wait": 2 * time.Millisecond, "gtid wait": time.Millisecond, "backend": 6 * time.Millisecond} {
		c, ok := byName[name]
		require.True(t, ok, name)
		require.Equal(t, root.SpanContext.SpanID(), c.Parent.SpanID(), "%s is a child of the statement", name)
		require.Equal(t, root.SpanContext.TraceID(), c.SpanContext.TraceID())
		require.Equal(t, d, c.EndTime.Sub(c.StartTime), name)
	}
}

// TestErrorAndStatementText: an error code sets the span's status, and
// include_statement adds the literal text.
func TestErrorAndStatementText(t *testing.T) {
	cfg := testConfig(1)
	cfg.IncludeStatement = true
	tr, exp := newMem(t, cfg)
	st := tr.Start("INSERT INTO t VALUES (1)", "", OpExecute, time.Now())
	require.NotNil(t, st)
	st.Digest, st.ErrCode = "INSERT INTO `t` VALUES (?)", 1062
	st.End(time.Now())
	require.NoError(t, tr.Flush(context.Background()))
	spans := exp.GetSpans()
	require.Len(t, spans, 1)
	a := attrs(spans[0])
	require.Equal(t, "INSERT INTO t VALUES (1)", a["db.query.text"].AsString())
	require.Equal(t, "1062", a["db.response.status_code"].AsString())
	require.Equal(t, "COM_STMT_EXECUTE", a["rwproxy.command"].AsString())
	require.Equal(t, "Error", spans[0].Status.Code.String())
}

// TestSampling: parent-based with a ratio. A client's sampled
// traceparent is followed at ratio 0, its unsampled one is not followed at
// ratio 1, and without one the ratio decides.
func TestSampling(t *testing.T) {
	for _, tc := range []struct {
		name, sql, attr string
		ratio           float64
		sampled         bool
	}{
		{"no context, ratio 0", "SELECT 1", "", 0, false},
		{"no context, ratio 1", "SELECT 1", "", 1, true},
		{"sqlcommenter sampled, ratio 0", "SELECT 1 /*traceparent='00-" + clientTrace + "-" + clientSpan + "-01'*/", "", 0, true},
		{"sqlcommenter unsampled, ratio 1", "SELECT 1 /*traceparent='00-" + clientTrace + "-" + clientSpan + "-00'*/", "", 1, false},
		{"url-encoded sqlcommenter", "SELECT 1 /*action='x',traceparent='00%2D" + clientTrace + "%2D" + clientSpan + "%2D01'*/", "", 0, true},
		{"query attribute sampled, ratio 0", "SELECT 1", "00-" + clientTrace + "-" + clientSpan + "-01", 0, true},
		{"not in a comment", "SELECT 'traceparent=''00-" + clientTrace + "-" + clientSpan + "-01'''", "", 0, false},
	} {
		t.Run(tc.name, func(t *testing.T) {
			tr, exp := newMem(t, testConfig(tc.ratio))
			st := tr.Start(tc.sql, tc.attr, OpQuery, time.Now())
			require.Equal(t, tc.sampled, st != nil)
			if st == nil {
				return
			}
			st.End(time.Now())
			require.NoError(t, tr.Flush(context.Background()))
			spans := exp.GetSpans()
			require.Len(t, spans, 1)
			if tc.ratio == 0 { // followed the client's context
				require.Equal(t, clientTrace, spans[0].SpanContext.TraceID().String())
				require.Equal(t, clientSpan, spans[0].Parent.SpanID().String())
				require.True(t, spans[0].Parent.IsRemote())
				require.Equal(t, "00-"+clientTrace+"-"+spans[0].SpanContext.SpanID().String()+"-01", st.Traceparent())
			}
		})
	}
}

// TestRatioSamples: at 1% about 1 statement in 100 gets a span (a wide
// bound: the decision hangs on random trace IDs).
func TestRatioSamples(t *testing.T) {
	tr, _ := newMem(t, testConfig(0.01))
	n := 0
	for range 20000 {
		if st := tr.Start("SELECT 1", "", OpQuery, time.Now()); st != nil {
			n++
		}
	}
	require.Greater(t, n, 100)
	require.Less(t, n, 400)
}

// blockingExporter holds every export until released.
type blockingExporter struct {
	release chan struct{}
	mu      sync.Mutex
	got     int
}

func (b *blockingExporter) ExportSpans(ctx context.Context, s []sdktrace.ReadOnlySpan) error {
	<-b.release
	b.mu.Lock()
	b.got += len(s)
	b.mu.Unlock()
	return nil
}
func (b *blockingExporter) Shutdown(context.Context) error { return nil }

// TestDropCounter: with the exporter stuck, statements do not wait: the
// spans past the queue are dropped and counted, and the others are
// exported once it recovers.
func TestDropCounter(t *testing.T) {
	cfg := testConfig(1)
	cfg.QueueSize, cfg.BatchSize = 1, 1
	exp := &blockingExporter{release: make(chan struct{})}
	tr := NewWithExporter(cfg, exp)
	const n = 10
	for range n {
		st := tr.Start("SELECT 1", "", OpQuery, time.Now())
		require.NotNil(t, st)
		st.End(time.Now()) // returns although the exporter is stuck
	}
	c := tr.Counts()
	// At most one span in the export that hangs and one in the queue.
	require.GreaterOrEqual(t, c.Dropped, uint64(n-2))
	close(exp.release)
	require.NoError(t, tr.Close(context.Background()))
	c = tr.Counts()
	require.Equal(t, uint64(n), c.Dropped+c.Exported)
	require.Equal(t, int(c.Exported), exp.got)
	require.Zero(t, c.Failed)
}

func TestOperation(t *testing.T) {
	for in, want := range map[string]string{
		"SELECT `a` FROM `t`": "SELECT", "  (select 1) union (select 2)": "SELECT",
		"insert into t values(?)": "INSERT", "": "", "/* c */ SELECT 1": "",
	} {
		require.Equal(t, want, operation(in), in)
	}
}

// TestTxnSpan: a transaction span is the parent of its statements, takes
// the client's context, says how it ended; unsampled without a context at
// ratio 0.
func TestTxnSpan(t *testing.T) {
	cfg := testConfig(0)
	cfg.TransactionSpans = true
	tr, exp := newMem(t, cfg)
	require.True(t, tr.TxnSpans())
	t0 := time.Unix(1_800_000_000, 0)
	require.Nil(t, tr.StartTxn("BEGIN", "", "shop", t0), "no context at ratio 0: not sampled")
	for _, tc := range []struct{ last, how, want string }{
		{"commit", "", "commit"}, {"rollback", "", "rollback"}, {"create table t ( a int )", "", "implicit"},
		{"update t set a = ?", "abandoned", "abandoned"},
	} {
		exp.Reset()
		x := tr.StartTxn("BEGIN /*traceparent='00-"+clientTrace+"-"+clientSpan+"-01'*/", "", "shop", t0)
		require.NotNil(t, x)
		st := x.StartStmt("SELECT 1", OpQuery, t0.Add(time.Millisecond))
		st.Digest = tc.last
		st.End(t0.Add(2 * time.Millisecond))
		x.End(t0.Add(3*time.Millisecond), tc.how)
		require.NoError(t, tr.Flush(context.Background()))
		spans := exp.GetSpans()
		require.Len(t, spans, 2)
		txn, stmt := spans[1], spans[0]
		require.Equal(t, "transaction shop", txn.Name)
		require.Equal(t, clientSpan, txn.Parent.SpanID().String())
		require.Equal(t, txn.SpanContext.SpanID(), stmt.Parent.SpanID())
		require.Equal(t, tc.want, attrs(txn)["rwproxy.transaction.end"].AsString())
		require.Equal(t, int64(1), attrs(txn)["rwproxy.transaction.statements"].AsInt64())
		require.Equal(t, tc.want != "commit", txn.Status.Code.String() == "Error", tc.want)
	}
}
