package app

import (
	"context"
	"database/sql"
	"fmt"
	"net"
	"strconv"
	"strings"
	"sync/atomic"
	"testing"

	"github.com/go-mysql-org/go-mysql/client"
	"github.com/go-mysql-org/go-mysql/mysql"
	mysqlserver "github.com/go-mysql-org/go-mysql/server"
	_ "github.com/go-sql-driver/mysql"
	"github.com/stretchr/testify/require"
	"go.opentelemetry.io/otel/attribute"
	"go.opentelemetry.io/otel/sdk/trace/tracetest"
	"go.uber.org/zap/zaptest"

	"github.com/rwproxy/rwproxy/config"
	"github.com/rwproxy/rwproxy/internal/testkit/fakebackend"
	"github.com/rwproxy/rwproxy/tracing"
)

// rowsBackend answers every SELECT (text or prepared) with one row, a
// statement naming "missing" with error 1146, and everything else with OK.
type rowsBackend struct{ mysqlserver.EmptyHandler }

func oneRow(binary bool) *mysql.Result {
	rs, err := mysql.BuildSimpleResultset([]string{"c"}, [][]any{{int64(7)}}, binary)
	if err != nil {
		panic(err)
	}
	return mysql.NewResult(rs)
}

func (rowsBackend) HandleQuery(q string) (*mysql.Result, error) {
	if strings.Contains(q, "missing") {
		return nil, mysql.NewDefaultError(mysql.ER_NO_SUCH_TABLE, "test", "missing")
	}
	if strings.HasPrefix(strings.ToUpper(strings.TrimSpace(q)), "SELECT") {
		return oneRow(false), nil
	}
	return nil, nil
}

// HandleOtherCommand accepts COM_SET_OPTION (the pool turns multi
// statements on).
func (rowsBackend) HandleOtherCommand(byte, []byte) error { return nil }

func (rowsBackend) HandleStmtPrepare(q string) (int, int, any, error) {
	return strings.Count(q, "?"), 1, nil, nil
}

func (rowsBackend) HandleStmtExecute(_ any, q string, args []any) (*mysql.Result, error) {
	executed.Store(fmt.Sprint(q, args))
	return oneRow(true), nil
}

// executed is the last execute a rowsBackend ran: its query and arguments.
var executed atomic.Value

// tracedProxy is rwproxy in front of one fake backend, tracing into an
// in-memory exporter, and a client of it.
type tracedProxy struct {
	db      *sql.DB
	addr    string // the proxy's
	backend string
	exp     *tracetest.InMemoryExporter
	tr      *tracing.Tracer
}

// startTracedProxy runs rwproxy in front of one fake backend (hostgroup
// 10, user u/pw) with a tracer that samples ratio of the statements
// without client context, and opens a go-sql-driver client (one
// connection) to it.
func startTracedProxy(t *testing.T, ratio float64) tracedProxy {
	t.Helper()
	backend := fakebackend.Start(t, fakebackend.Options{Handler: func(net.Conn) mysqlserver.Handler { return rowsBackend{} }})
	a, err := New(backendConfig(t, backend), zaptest.NewLogger(t))
	require.NoError(t, err)
	tc := config.DefaultTracing()
	tc.Enabled, tc.SamplingRatio = true, ratio
	exp := tracetest.NewInMemoryExporter()
	tr := tracing.NewWithExporter(tc, exp)
	a.SetTracer(tr)
	t.Cleanup(func() { _ = a.Close() })
	require.NoError(t, a.Start())
	return tracedProxy{db: openClient(t, a.Addr()), addr: a.Addr(), backend: backend, exp: exp, tr: tr}
}

// backendConfig is a valid configuration in front of the fake backend at
// addr: hostgroup 10, user u/pw (the monitor logs in as u too).
func backendConfig(tb testing.TB, addr string) *config.Config {
	tb.Helper()
	host, port, err := net.SplitHostPort(addr)
	require.NoError(tb, err)
	p, err := strconv.Atoi(port)
	require.NoError(tb, err)
	cfg := config.Defaults()
	cfg.Listen, cfg.ServerVersion = "127.0.0.1:0", "8.4.0-rwproxy"
	cfg.Admin.Listen, cfg.Admin.Datadir = "127.0.0.1:0", tb.TempDir()
	cfg.Monitor.Username, cfg.Monitor.Password = "u", "pw"
	cfg.Users = []config.User{{Username: "u", Password: "pw", DefaultHostgroup: 10}}
	cfg.Servers = []config.Server{{Hostgroup: 10, Host: host, Port: p, Weight: 1, Status: config.StatusOnline, MaxConnections: 10}}
	cfg.FillDefaults()
	require.NoError(tb, cfg.Validate())
	return cfg
}

// openClient is a go-sql-driver client of the proxy at addr, one
// connection.
func openClient(tb testing.TB, addr string) *sql.DB {
	tb.Helper()
	db, err := sql.Open("mysql", "u:pw@tcp("+addr+")/")
	require.NoError(tb, err)
	tb.Cleanup(func() { _ = db.Close() })
	db.SetMaxOpenConns(1)
	return db
}

func spanAttrs(s tracetest.SpanStub) map[attribute.Key]attribute.Value {
	m := make(map[attribute.Key]attribute.Value)
	for _, kv := range s.Attributes {
		m[kv.Key] = kv.Value
	}
	return m
}

const (
	clientTrace = "0af7651916cd43dd8448eb211c80319c"
	clientSpan  = "b7ad6b7169203331"
)

// TestTraceThroughProxy: a go-sql-driver client sends its trace context
// in a sqlcommenter comment; rwproxy's span for the statement joins that
// trace, names where the statement ran and why, and has the pool wait and
// the backend round trip as children. Statements without a context are
// not sampled at ratio 0.
func TestTraceThroughProxy(t *testing.T) {
	p := startTracedProxy(t, 0)
	db, exp, tr := p.db, p.exp, p.tr
	ctx := context.Background()

	var v int
	require.NoError(t, db.QueryRowContext(ctx, "SELECT 1").Scan(&v)) // no context: not sampled
	q := "SELECT c FROM t WHERE id = 42 /*traceparent='00-" + clientTrace + "-" + clientSpan + "-01'*/"
	require.NoError(t, db.QueryRowContext(ctx, q).Scan(&v))
	require.Equal(t, 7, v)
	require.NoError(t, tr.Flush(ctx))

	spans := exp.GetSpans()
	require.Len(t, spans, 3, "one traced statement: itself, pool wait, backend")
	var root tracetest.SpanStub
	for _, s := range spans {
		require.Equal(t, clientTrace, s.SpanContext.TraceID().String())
		if s.Name == "SELECT" {
			root = s
		}
	}
	require.Equal(t, clientSpan, root.Parent.SpanID().String(), "spans: %v", spans)
	at := spanAttrs(root)
	require.Equal(t, "mysql", at["db.system.name"].AsString())
	require.Equal(t, "SELECT", at["db.operation.name"].AsString())
	summary := at["db.query.summary"].AsString()
	require.Contains(t, summary, "?")
	require.NotContains(t, summary, "42", "no literal in the span")
	require.Equal(t, int64(10), at["rwproxy.hostgroup"].AsInt64())
	require.Equal(t, p.backend, at["rwproxy.backend"].AsString())
	require.Equal(t, "read", at["rwproxy.route_reason"].AsString())
	require.Equal(t, int64(1), at["db.response.returned_rows"].AsInt64())
	names := map[string]bool{}
	for _, s := range spans {
		if s.Name != "SELECT" {
			require.Equal(t, root.SpanContext.SpanID(), s.Parent.SpanID(), s.Name)
			names[s.Name] = true
		}
	}
	require.Equal(t, map[string]bool{"pool wait": true, "backend": true}, names)
}

// TestTracePreparedAndErrors: at ratio 1 every statement is traced; an
// execute names its prepared statement's digest, and a statement the
// backend refuses carries the error code.
func TestTracePreparedAndErrors(t *testing.T) {
	p := startTracedProxy(t, 1)
	db, exp, tr := p.db, p.exp, p.tr
	ctx := context.Background()
	var v int
	require.NoError(t, db.QueryRowContext(ctx, "SELECT c FROM t WHERE id = ?", 42).Scan(&v))
	require.Equal(t, 7, v)
	_, err := db.ExecContext(ctx, "DELETE FROM missing WHERE id = 1")
	require.ErrorContains(t, err, "1146")
	require.NoError(t, tr.Flush(ctx))

	var exec, bad *tracetest.SpanStub
	spans := exp.GetSpans()
	for i, s := range spans {
		at := spanAttrs(s)
		switch {
		case at["rwproxy.command"].AsString() == "COM_STMT_EXECUTE":
			exec = &spans[i]
		case at["db.operation.name"].AsString() == "DELETE":
			bad = &spans[i]
		}
	}
	require.NotNil(t, exec, "spans: %v", spans)
	require.Equal(t, "select c from t where id = ?", spanAttrs(*exec)["db.query.summary"].AsString())
	require.Equal(t, "SELECT", spanAttrs(*exec)["db.operation.name"].AsString())
	require.NotNil(t, bad, "spans: %v", spans)
	require.Equal(t, "1146", spanAttrs(*bad)["db.response.status_code"].AsString())
	require.Equal(t, "write", spanAttrs(*bad)["rwproxy.route_reason"].AsString())
	require.Equal(t, "Error", bad.Status.Code.String())
}

// TestTraceQueryAttributes: a client that negotiates query attributes
// (the go-mysql client) sends traceparent as one, with COM_QUERY and with
// COM_STMT_EXECUTE; rwproxy's spans join its trace, and the backend, which
// does not get the capability, receives the plain statement and the
// statement's own parameters only.
func TestTraceQueryAttributes(t *testing.T) {
	p := startTracedProxy(t, 0)
	c, err := client.Connect(p.addr, "u", "pw", "")
	require.NoError(t, err)
	t.Cleanup(func() { _ = c.Close() })
	require.Contains(t, c.CapabilityString(), "CLIENT_QUERY_ATTRIBUTES", "rwproxy announces query attributes with tracing on")
	tp := "00-" + clientTrace + "-" + clientSpan + "-01"
	// A new slice each time: the client clears the one it was given
	// after the statement.
	attrs := func() []mysql.QueryAttribute {
		return []mysql.QueryAttribute{{Name: "app", Value: "shop"}, {Name: "traceparent", Value: tp}}
	}

	require.NoError(t, c.SetQueryAttributes(attrs()...))
	r, err := c.Execute("SELECT c FROM t WHERE id = 42")
	require.NoError(t, err)
	v, err := r.GetInt(0, 0)
	require.NoError(t, err)
	require.Equal(t, int64(7), v)

	st, err := c.Prepare("SELECT c FROM t WHERE id = ? AND k = ?")
	require.NoError(t, err)
	require.NoError(t, c.SetQueryAttributes(attrs()...))
	r, err = st.Execute(int64(42), "x")
	require.NoError(t, err)
	v, err = r.GetInt(0, 0)
	require.NoError(t, err)
	require.Equal(t, int64(7), v)
	// go-mysql's server shows a string parameter as its type (254) and bytes.
	require.Equal(t, "SELECT c FROM t WHERE id = ? AND k = ?[42 {254 [120]}]", executed.Load(), "the backend got the statement's parameters only")

	_, err = c.Execute("SELECT 1") // attributes are per statement: not sampled
	require.NoError(t, err)
	require.NoError(t, p.tr.Flush(context.Background()))
	var cmds []string
	for _, s := range p.exp.GetSpans() {
		a := spanAttrs(s)
		if cmd := a["rwproxy.command"].AsString(); cmd != "" {
			require.Equal(t, clientTrace, s.SpanContext.TraceID().String())
			require.Equal(t, clientSpan, s.Parent.SpanID().String())
			cmds = append(cmds, cmd)
		}
	}
	require.ElementsMatch(t, []string{"COM_QUERY", "COM_STMT_EXECUTE"}, cmds)
}
