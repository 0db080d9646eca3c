package app

import (
	"context"
	"database/sql"
	"errors"
	"reflect"
	"runtime"
	"strconv"
	"testing"
	"time"

	"github.com/prometheus/client_golang/prometheus"
	dto "github.com/prometheus/client_model/go"
	"github.com/stretchr/testify/require"
	"go.uber.org/zap/zaptest"

	"github.com/rwproxy/rwproxy/admin"
	"github.com/rwproxy/rwproxy/config"
	"github.com/rwproxy/rwproxy/metrics"
	"github.com/rwproxy/rwproxy/router"
	"github.com/rwproxy/rwproxy/session"
)

// fixedRuntime is an admin.Runtime that shows one gathered runtimeState.
type fixedRuntime struct {
	cfg *config.Config
	st  *runtimeState
}

func (r fixedRuntime) Config() *config.Config { return r.cfg }
func (r fixedRuntime) Apply(context.Context, *config.Config) error {
	return errors.New("read-only")
}
func (r fixedRuntime) Snapshot(want admin.Want) admin.Stats { return adminStats(r.st, want) }
func (r fixedRuntime) ResetDigests()                        {}

// fixedSource is a metrics.Source over one gathered runtimeState.
type fixedSource struct{ st *runtimeState }

func (s fixedSource) Sample() metrics.Sample { return sample(s.st) }

// distinctState is a runtimeState whose every counter holds a different
// value (so that a view showing the wrong one is caught), for cfg's
// servers.
func distinctState(cfg *config.Config) *runtimeState {
	st := &runtimeState{At: time.Now(), Created: time.Now().Add(-time.Hour), Config: cfg, Version: 42, Origin: "local"}
	next := uint64(1000)
	n := func() uint64 { next += 7; return next }
	for _, sv := range cfg.Servers {
		st.Servers = append(st.Servers, serverState{Addr: sv.Host + ":" + strconv.Itoa(sv.Port),
			ConnUsed: int64(n()), ConnFree: int64(n()), InFlight: int64(n()), MaxConnUsed: int64(n()),
			ConnOK: n(), ConnERR: n(), Queries: n(), BytesSent: n(), BytesRecv: n(), LatUs: n(), ReuseWaits: n(), StallWaits: n()})
	}
	c := reflect.ValueOf(&st.Counters).Elem()
	for i := range c.NumField() {
		switch f := c.Field(i); f.Kind() {
		case reflect.Uint64:
			f.SetUint(n())
		case reflect.Int64:
			f.SetInt(int64(n()))
		case reflect.Int:
			f.SetInt(int64(n()))
		}
	}
	st.Counters.RYWWaitSum = 1500 * time.Millisecond
	for range len(session.RYWWaitBounds) + 1 {
		st.Counters.RYWWaitCounts = append(st.Counters.RYWWaitCounts, n())
	}
	for range session.LoginFailureNames() {
		st.Counters.LoginFailures = append(st.Counters.LoginFailures, n())
	}
	for range session.PinReasonNames() {
		st.Counters.Pins = append(st.Counters.Pins, n())
	}
	for range router.NumReasons {
		st.Counters.Routes = append(st.Counters.Routes, n())
	}
	return st
}

// scrape is what /metrics shows of a Source: value by metric name and
// label values.
func scrape(t *testing.T, src metrics.Source) map[string]float64 {
	t.Helper()
	reg := prometheus.NewRegistry()
	reg.MustRegister(metrics.NewCollector(src))
	mfs, err := reg.Gather()
	require.NoError(t, err)
	out := make(map[string]float64)
	for _, mf := range mfs {
		for _, m := range mf.GetMetric() {
			key := mf.GetName()
			for _, l := range m.GetLabel() {
				key += "|" + l.GetName() + "=" + l.GetValue()
			}
			out[key] = metricValue(m)
		}
	}
	return out
}

func metricValue(m *dto.Metric) float64 {
	switch {
	case m.GetCounter() != nil:
		return m.GetCounter().GetValue()
	case m.GetGauge() != nil:
		return m.GetGauge().GetValue()
	}
	return float64(m.GetHistogram().GetSampleCount())
}

// TestReadModelViewsAgree: one gathered runtimeState, shown by the admin
// interface (over the wire) and by /metrics, gives the same numbers in
// both: every server's pool counters and the process-wide counters that
// both show.
func TestReadModelViewsAgree(t *testing.T) {
	cfg := config.Defaults()
	cfg.Listen, cfg.Admin.Listen, cfg.Admin.Datadir = "127.0.0.1:0", "127.0.0.1:0", t.TempDir()
	cfg.Users = []config.User{{Username: "u", Password: "pw", DefaultHostgroup: 10}}
	cfg.Servers = []config.Server{{Hostgroup: 10, Host: "127.0.0.1", Port: 3306, Weight: 1},
		{Hostgroup: 20, Host: "127.0.0.1", Port: 3307, Weight: 1}}
	cfg.FillDefaults()
	require.NoError(t, cfg.Validate())
	st := distinctState(cfg)

	srv, err := admin.New(admin.Options{Runtime: fixedRuntime{cfg: cfg, st: st}, Log: zaptest.NewLogger(t)})
	require.NoError(t, err)
	srv.Start()
	t.Cleanup(func() { require.NoError(t, srv.Close()) })
	db, err := sql.Open("mysql", "admin:admin@tcp("+srv.Addr()+")/")
	require.NoError(t, err)
	t.Cleanup(func() { _ = db.Close() })
	m := scrape(t, fixedSource{st})

	rows, err := db.Query("SELECT srv_host, srv_port, ConnUsed, ConnFree, ConnOK, ConnERR, Queries, " +
		"Bytes_data_sent, Bytes_data_recv FROM stats_mysql_connection_pool")
	require.NoError(t, err)
	seen := 0
	for rows.Next() {
		var host string
		var port int
		var used, free, ok, errs, queries, sent, recv float64
		require.NoError(t, rows.Scan(&host, &port, &used, &free, &ok, &errs, &queries, &sent, &recv))
		b := "|backend=" + host + ":" + strconv.Itoa(port)
		require.Equal(t, m["rwproxy_pool_connections"+b+"|state=used"], used, b)
		require.Equal(t, m["rwproxy_pool_connections"+b+"|state=free"], free, b)
		require.Equal(t, m["rwproxy_pool_connections_created_total"+b], ok, b)
		require.Equal(t, m["rwproxy_pool_connections_failed_total"+b], errs, b)
		require.Equal(t, m["rwproxy_backend_queries_total"+b], queries, b)
		require.Equal(t, m["rwproxy_backend_sent_bytes_total"+b], sent, b)
		require.Equal(t, m["rwproxy_backend_received_bytes_total"+b], recv, b)
		seen++
	}
	require.NoError(t, rows.Err())
	require.Equal(t, len(cfg.Servers), seen)

	global := make(map[string]float64)
	grows, err := db.Query("SELECT Variable_Name, Variable_Value FROM stats_mysql_global")
	require.NoError(t, err)
	for grows.Next() {
		var name, v string
		require.NoError(t, grows.Scan(&name, &v))
		f, err := strconv.ParseFloat(v, 64)
		require.NoError(t, err)
		global[name] = f
	}
	require.NoError(t, grows.Err())
	same := map[string]string{
		"Client_Connections_connected": "rwproxy_client_connections",
		"Login_Failures_Total":         "rwproxy_client_auth_failures_total",
		"Access_Denied_Wrong_Password": "rwproxy_client_login_failures_total|reason=wrong_password",
		"Access_Denied_Unknown_User":   "rwproxy_client_login_failures_total|reason=unknown_user",
		"Questions":                    "rwproxy_queries_total",
		"Backend_Query_Errors":         "rwproxy_session_backend_errors_total",
		"Session_Panics":               "rwproxy_session_panics_total",
		"Queries_To_Reader":            "rwproxy_route_destinations_total|role=reader",
		"Queries_To_Writer":            "rwproxy_route_destinations_total|role=writer",
		"Reader_Fallbacks":             "rwproxy_reader_fallbacks_total",
		"Read_Your_Writes_Waits":       "rwproxy_read_your_writes_waits_total",
		"Read_Your_Writes_Fallbacks":   "rwproxy_read_your_writes_fallbacks_total",
		"Failover_Waits":               "rwproxy_failover_waits_total",
		"Monitor_Immediate_Checks":     "rwproxy_monitor_immediate_checks_total",
		"Sessions_Closed_Reply_Cut":    "rwproxy_sessions_closed_reply_cut_total",
		"Read_Retries":                 "rwproxy_read_retries_total",
		"Read_Retry_Failures":          "rwproxy_read_retry_failures_total",
		"Query_Timeouts":               "rwproxy_query_timeouts_total",
		"Config_Version":               "rwproxy_config_version",
	}
	for i := range router.NumReasons {
		r := router.Reason(i).String()
		same["Route_"+r] = "rwproxy_route_decisions_total|reason=" + r
	}
	for g, p := range same {
		require.Contains(t, global, g)
		require.Contains(t, m, p)
		require.Equal(t, m[p], global[g], "%s vs %s", g, p)
	}
	var sum, reused, reusedMetric, stalled, stalledMetric float64
	for _, sv := range st.Servers {
		sum += float64(sv.ConnUsed + sv.ConnFree)
		reused += float64(sv.ReuseWaits)
		reusedMetric += m["rwproxy_pool_reuse_waits_total|backend="+sv.Addr]
		stalled += float64(sv.StallWaits)
		stalledMetric += m["rwproxy_pool_stall_waits_total|backend="+sv.Addr]
	}
	require.Equal(t, sum, global["Server_Connections_connected"])
	require.Positive(t, reused)
	require.Equal(t, reused, global["Server_Connections_reused_after_wait"])
	require.Equal(t, reused, reusedMetric)
	require.Positive(t, stalled)
	require.Equal(t, stalled, global["Server_Connections_waited_on_stall"])
	require.Equal(t, stalled, stalledMetric)

	prow, err := db.Query("SELECT reason, count_total FROM stats_mysql_pinned_sessions")
	require.NoError(t, err)
	pins := 0
	for prow.Next() {
		var reason string
		var n float64
		require.NoError(t, prow.Scan(&reason, &n))
		require.Equal(t, m["rwproxy_session_pins_total|reason="+reason], n, reason)
		pins++
	}
	require.NoError(t, prow.Err())
	require.Equal(t, len(session.PinReasonNames()), pins)
}

// TestMonitorImmediateChecksShown: a session's call for an immediate
// check (monitor.CheckNow, what a session that lost its writer makes)
// moves stats_mysql_global.Monitor_Immediate_Checks and
// rwproxy_monitor_immediate_checks_total together.
func TestMonitorImmediateChecksShown(t *testing.T) {
	a, err := New(backendConfig(t, "127.0.0.1:1"), zaptest.NewLogger(t))
	require.NoError(t, err)
	t.Cleanup(func() { require.NoError(t, a.Close()) })
	shown := func() (row int64, metric float64) {
		t.Helper()
		row = -1
		for _, c := range adminStats(a.gather(0), admin.WantGlobal).Global {
			if c.Name == "Monitor_Immediate_Checks" {
				row = c.Value
			}
		}
		m := scrape(t, &obsSource{a})
		require.Contains(t, m, "rwproxy_monitor_immediate_checks_total")
		return row, m["rwproxy_monitor_immediate_checks_total"]
	}
	row, metric := shown()
	require.Equal(t, int64(0), row)
	require.Equal(t, float64(0), metric)

	a.deps.CheckNow() // what a session calls (session.Deps.CheckNow)
	row, metric = shown()
	require.Equal(t, int64(1), row)
	require.Equal(t, float64(1), metric)
	require.Equal(t, a.Monitor.Wakeups(), uint64(row))
}

// TestThreadWorkersShown: stats_mysql_global.MySQL_Thread_Workers (ProxySQL's
// worker threads) is the running GOMAXPROCS, which threads: 0 moves.
func TestThreadWorkersShown(t *testing.T) {
	a, err := New(backendConfig(t, "127.0.0.1:1"), zaptest.NewLogger(t))
	require.NoError(t, err)
	t.Cleanup(func() { require.NoError(t, a.Close()) })
	prev := runtime.GOMAXPROCS(0)
	t.Cleanup(func() { runtime.GOMAXPROCS(prev) })
	workers := func() int64 {
		for _, c := range adminStats(a.gather(0), admin.WantGlobal).Global {
			if c.Name == "MySQL_Thread_Workers" {
				return c.Value
			}
		}
		return -1
	}
	runtime.GOMAXPROCS(1)
	require.Equal(t, int64(1), workers())
	runtime.GOMAXPROCS(3)
	require.Equal(t, int64(3), workers())
}
