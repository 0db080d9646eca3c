package integration

import (
	"context"
	"strconv"
	"testing"
	"time"

	"github.com/go-mysql-org/go-mysql/client"
	"github.com/go-mysql-org/go-mysql/mysql"
	"github.com/stretchr/testify/require"
	"go.opentelemetry.io/otel/attribute"
	"go.opentelemetry.io/otel/sdk/trace/tracetest"
	"go.uber.org/zap/zaptest"

	"github.com/rwproxy/rwproxy/config"
	"github.com/rwproxy/rwproxy/internal/app"
	"github.com/rwproxy/rwproxy/internal/testkit"
	"github.com/rwproxy/rwproxy/tracing"
)

// TestTracingSandbox: against the MariaDB sandbox, with every statement
// traced, a read_your_writes user's insert-then-read shows the write on
// the primary and the read on a replica with its GTID wait as a child
// span; a client sending traceparent as a query attribute (stripped before
// MariaDB, which has none) gets its prepared statement's real result.
func TestTracingSandbox(t *testing.T) {
	needSandbox(t)
	const schema = "rwtrace"
	createSchema(t, schema, []string{"CREATE TABLE t (id INT PRIMARY KEY, v VARCHAR(20))"})
	cfg := testkit.SandboxConfig(sb)
	cfg.Users[0].Consistency = config.ConsistencyReadYourWrites
	cfg.Users[0].ReadYourWritesTimeout = 10 * time.Second // the wait's length does not matter, only that it is traced
	cfg.Admin.Listen, cfg.Admin.Datadir = "127.0.0.1:0", t.TempDir()
	require.NoError(t, cfg.Validate())
	a, err := app.New(cfg, zaptest.NewLogger(t))
	require.NoError(t, err)
	tc := config.DefaultTracing()
	tc.Enabled, tc.SamplingRatio = true, 1
	exp := tracetest.NewInMemoryExporter()
	tr := tracing.NewWithExporter(tc, exp)
	a.SetTracer(tr)
	t.Cleanup(func() { _ = a.Close() })
	require.NoError(t, a.Start())

	c := conn(t, openDB(t, dsn(a.Addr(), "app", schema)))
	for i := 1; i <= 5; i++ {
		spExec(t, c, "INSERT INTO t VALUES ("+strconv.Itoa(i)+", 'v')")
		vals, _ := spRow(t, c, "SELECT COUNT(*), @@port FROM t WHERE id = "+strconv.Itoa(i))
		require.Equal(t, []string{"1"}, vals)
	}

	// The go-mysql client negotiates query attributes.
	gc, err := client.Connect(a.Addr(), "app", "app", schema)
	require.NoError(t, err)
	t.Cleanup(func() { _ = gc.Close() })
	const trace = "4bf92f3577b34da6a3ce929d0e0e4736"
	st, err := gc.Prepare("SELECT v FROM t WHERE id = ?")
	require.NoError(t, err)
	require.NoError(t, gc.SetQueryAttributes(mysql.QueryAttribute{Name: "traceparent", Value: "00-" + trace + "-00f067aa0ba902b7-01"}))
	r, err := st.Execute(int64(3))
	require.NoError(t, err)
	v, err := r.GetString(0, 0)
	require.NoError(t, err)
	require.Equal(t, "v", v)
	require.NoError(t, tr.Flush(context.Background()))

	byID := map[string]tracetest.SpanStub{}
	spans := exp.GetSpans()
	for _, s := range spans {
		byID[s.SpanContext.SpanID().String()] = s
	}
	attr := func(s tracetest.SpanStub, k string) attribute.Value {
		for _, kv := range s.Attributes {
			if string(kv.Key) == k {
				return kv.Value
			}
		}
		return attribute.Value{}
	}
	var inserts, gtidWaits, attrTraced int
	for _, s := range spans {
		switch {
		case s.Name == "INSERT "+schema:
			inserts++
			require.Equal(t, int64(10), attr(s, "rwproxy.hostgroup").AsInt64())
			require.Equal(t, primary(), attr(s, "rwproxy.backend").AsString())
		case s.Name == "gtid wait":
			parent := byID[s.Parent.SpanID().String()]
			require.Equal(t, "SELECT "+schema, parent.Name)
			require.Equal(t, int64(20), attr(parent, "rwproxy.hostgroup").AsInt64(), "the wait ran on a replica")
			require.Equal(t, "read", attr(parent, "rwproxy.route_reason").AsString())
			gtidWaits++
		case s.SpanContext.TraceID().String() == trace && attr(s, "rwproxy.command").AsString() == "COM_STMT_EXECUTE":
			attrTraced++
		}
	}
	require.Equal(t, 5, inserts)
	require.Positive(t, gtidWaits, "read_your_writes waits appear as gtid wait spans")
	require.Equal(t, 1, attrTraced, "the execute joined the client's trace")
}
