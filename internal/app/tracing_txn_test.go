package app

import (
	"context"
	"encoding/json"
	"net"
	"os"
	"testing"

	"github.com/go-mysql-org/go-mysql/mysql"
	mysqlserver "github.com/go-mysql-org/go-mysql/server"
	"github.com/stretchr/testify/require"
	"go.opentelemetry.io/otel/sdk/trace/tracetest"
	"go.uber.org/zap/zaptest"

	"github.com/rwproxy/rwproxy/config"
	"github.com/rwproxy/rwproxy/internal/testkit/fakebackend"
	"github.com/rwproxy/rwproxy/tracing"
)

// txnBackend reports a transaction from BEGIN to COMMIT or ROLLBACK in
// its OK packets' status, as a server does; SELECTs get one row.
type txnBackend struct {
	rowsBackend
	inTxn bool
}

func (b *txnBackend) HandleQuery(q string) (*mysql.Result, error) {
	switch op := tracingOp(q); op {
	case "BEGIN":
		b.inTxn = true
	case "COMMIT", "ROLLBACK":
		b.inTxn = false
	case "SELECT":
		return oneRow(false), nil
	}
	if b.inTxn {
		return &mysql.Result{Status: mysql.SERVER_STATUS_IN_TRANS}, nil
	}
	return nil, nil
}

func tracingOp(q string) string {
	for i := 0; i < len(q); i++ {
		if q[i] == ' ' {
			return q[:i]
		}
	}
	return q
}

// TestTraceTransactionSpans: with tracing.transaction_spans the
// statements of a transaction are children of one transaction span, which
// is the child of the client's context its first statement carried and
// says how it ended; statements outside a transaction keep their own
// spans; an unsampled transaction traces none of its statements.
func TestTraceTransactionSpans(t *testing.T) {
	backend := fakebackend.Start(t, fakebackend.Options{Handler: func(net.Conn) mysqlserver.Handler { return &txnBackend{} }})
	a, err := New(backendConfig(t, backend), zaptest.NewLogger(t))
	require.NoError(t, err)
	tc := config.DefaultTracing()
	tc.Enabled, tc.SamplingRatio, tc.TransactionSpans = true, 0, true
	exp := tracetest.NewInMemoryExporter()
	tr := tracing.NewWithExporter(tc, exp)
	a.SetTracer(tr)
	a.Start()
	t.Cleanup(func() { _ = a.Close() })
	db := openClient(t, a.Addr())
	ctx := context.Background()
	run := func(qs ...string) {
		t.Helper()
		for _, q := range qs {
			_, err := db.ExecContext(ctx, q)
			require.NoError(t, err, q)
		}
	}
	tp := "/*traceparent='00-" + clientTrace + "-" + clientSpan + "-01'*/"
	run("BEGIN "+tp, "UPDATE t SET c = 1 WHERE id = 1", "INSERT INTO t VALUES (2)", "COMMIT")
	run("UPDATE t SET c = 2 WHERE id = 3 " + tp)                // outside: its own span
	run("BEGIN", "UPDATE t SET c = 3 WHERE id = 4", "ROLLBACK") // no context, ratio 0: not traced
	require.NoError(t, tr.Flush(ctx))

	spans := exp.GetSpans()
	dumpSpans(t, spans)
	var txn *tracetest.SpanStub
	byID := map[string]tracetest.SpanStub{}
	for i, s := range spans {
		byID[s.SpanContext.SpanID().String()] = s
		if s.Name == "transaction" {
			require.Nil(t, txn, "one transaction span: %v", spans)
			txn = &spans[i]
		}
	}
	require.NotNil(t, txn, "spans: %v", spans)
	require.Equal(t, clientTrace, txn.SpanContext.TraceID().String())
	require.Equal(t, clientSpan, txn.Parent.SpanID().String(), "the transaction joins the client's trace")
	at := spanAttrs(*txn)
	require.Equal(t, "commit", at["rwproxy.transaction.end"].AsString())
	require.Equal(t, int64(4), at["rwproxy.transaction.statements"].AsInt64())
	require.Equal(t, "mysql", at["db.system.name"].AsString())

	var inTxn []string
	var outside int
	for _, s := range spans {
		op := spanAttrs(s)["db.operation.name"].AsString()
		if op == "" {
			continue // transaction, pool wait, backend
		}
		if s.Parent.SpanID() == txn.SpanContext.SpanID() {
			inTxn = append(inTxn, op)
			continue
		}
		require.Equal(t, "UPDATE", op, "only the statement outside a transaction has another parent")
		require.Equal(t, clientSpan, s.Parent.SpanID().String())
		outside++
	}
	require.Equal(t, []string{"BEGIN", "UPDATE", "INSERT", "COMMIT"}, inTxn)
	require.Equal(t, 1, outside)
	// 1 transaction + 4 statements with backend children + 1 outside.
	for _, s := range spans {
		if s.Name == "backend" {
			parent, ok := byID[s.Parent.SpanID().String()]
			require.True(t, ok)
			require.NotEmpty(t, spanAttrs(parent)["db.operation.name"].AsString(), "a backend span's parent is a statement")
		}
	}
	for _, s := range spans {
		require.NotEqual(t, "ROLLBACK", spanAttrs(s)["db.operation.name"].AsString(), "the unsampled transaction is not traced")
	}
}

// dumpSpans writes the spans as JSON lines to $RWPROXY_TRACE_DUMP, when
// set (to render the trace in docs/observability.md).
func dumpSpans(t *testing.T, spans tracetest.SpanStubs) {
	path := os.Getenv("RWPROXY_TRACE_DUMP")
	if path == "" {
		return
	}
	f, err := os.Create(path)
	require.NoError(t, err)
	defer f.Close()
	enc := json.NewEncoder(f)
	for _, s := range spans {
		at := map[string]string{}
		for _, kv := range s.Attributes {
			at[string(kv.Key)] = kv.Value.Emit()
		}
		require.NoError(t, enc.Encode(map[string]any{"name": s.Name, "id": s.SpanContext.SpanID().String(),
			"parent": s.Parent.SpanID().String(), "start": s.StartTime.UnixNano(), "end": s.EndTime.UnixNano(), "attrs": at}))
	}
}
