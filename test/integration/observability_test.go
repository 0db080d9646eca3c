package integration

import (
	"context"
	"database/sql"
	"encoding/json"
	"fmt"
	"io"
	"math"
	"net/http"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	dto "github.com/prometheus/client_model/go"
	"github.com/prometheus/common/expfmt"
	"github.com/prometheus/common/model"
	"github.com/stretchr/testify/require"

	"github.com/rwproxy/rwproxy/config"
	"github.com/rwproxy/rwproxy/internal/app"
	"github.com/rwproxy/rwproxy/internal/testkit"
	"github.com/rwproxy/rwproxy/internal/testkit/headless"
	"github.com/rwproxy/rwproxy/web"
)

// obsSchema is the observability tests' schema; its table t holds 100 rows
// to read and takes the inserts.
const obsSchema = "rwobs"

// TestObservability runs the HTTP listener of a proxy in front of the
// sandbox: the per-backend metrics scraped around a load of known size
// agree with the statements sent and with each MariaDB's own counters, the
// dashboard (in headless Chromium) shows what the proxy counts, and
// /healthz, /readyz and /debug/pprof/ follow the configuration.
func TestObservability(t *testing.T) {
	needSandbox(t)
	obsCreateSchema(t)
	cfg := testkit.SandboxConfig(sb)
	cfg.HTTP.Listen = "127.0.0.1:0"
	// Eventual: the counters are compared with each server's Com_select,
	// which read-your-writes waits (SELECT MASTER_GTID_WAIT) would add to.
	for i := range cfg.Users {
		cfg.Users[i].Consistency = config.ConsistencyEventual
	}
	a := testkit.StartProxy(t, cfg)
	require.NoError(t, a.StartHTTP(app.HTTPOptions{}))
	t.Cleanup(func() { require.NoError(t, a.CloseHTTP()) })
	base := "http://" + a.HTTPAddr()

	// The monitor has placed every node and measured the replicas' lag.
	require.Eventually(t, func() bool {
		m, err := obsTryScrape(base)
		return err == nil && m.value("rwproxy_backend_up", "hostgroup", "10", "backend", sb.Addr(1)) == 1 &&
			m.value("rwproxy_backend_up", "hostgroup", "20", "backend", sb.Addr(2)) == 1 &&
			m.value("rwproxy_backend_up", "hostgroup", "20", "backend", sb.Addr(3)) == 1 &&
			m.count("rwproxy_backend_replication_lag_seconds") == 2
	}, 30*time.Second, 100*time.Millisecond, "the monitor never placed the sandbox")

	t.Run("dashboard", func(t *testing.T) { obsDashboard(t, a, base) })
	t.Run("metrics agree with the backends", func(t *testing.T) { obsMetricsAgree(t, a, base) })
	t.Run("slow query log", func(t *testing.T) { obsSlowLog(t, a, base) })
	t.Run("health, readiness and pprof", func(t *testing.T) { obsReadiness(t, a, base) })
}

// obsWired requires that the sessions feed App.Recorder() (the latency
// histograms have samples).
func obsWired(t *testing.T, m obsMetrics) bool {
	t.Helper()
	require.NotZero(t, m.value("rwproxy_query_duration_seconds"), "the sessions must feed App.Recorder()")
	return true
}

func obsSlowLog(t *testing.T, a *app.App, base string) {
	c := a.Store.Current().Clone()
	c.Log.SlowQueryThreshold = 150 * time.Millisecond
	require.NoError(t, a.Store.Apply(context.Background(), c, config.SourceLocal))
	db := openDB(t, obsDSN(a))
	before := obsScrape(t, base)
	var v int
	require.NoError(t, db.QueryRow("SELECT SLEEP(0.3)").Scan(&v))
	require.NoError(t, db.QueryRow("SELECT 1").Scan(&v))
	after := obsScrape(t, base)
	if !obsWired(t, after) {
		return
	}
	require.Equal(t, 1.0, after.value("rwproxy_slow_queries_total")-before.value("rwproxy_slow_queries_total"))
	// The SLEEP is the one request of hostgroup 20 over 250ms.
	over := func(m obsMetrics) float64 {
		return m.value("rwproxy_query_duration_seconds", "hostgroup", "20") - m.bucket("rwproxy_query_duration_seconds", 0.25, "hostgroup", "20")
	}
	require.Equal(t, 1.0, over(after)-over(before))
}

func obsMetricsAgree(t *testing.T, a *app.App, base string) {
	const reads, writes = 6000, 2000
	db := openDB(t, obsDSN(a))
	comBefore := obsComCounters(t)
	before := obsScrape(t, base)
	start := time.Now()
	obsLoad(t, db, 8, reads, writes)
	after := obsScrape(t, base)
	comAfter := obsComCounters(t)
	t.Logf("%d reads and %d writes through the proxy in %s", reads, writes, time.Since(start).Round(time.Millisecond))

	delta := func(name string, labels ...string) float64 {
		return after.value(name, labels...) - before.value(name, labels...)
	}
	// Exact: what the proxy counts is what was sent.
	require.Equal(t, float64(reads+writes), delta("rwproxy_queries_total"))
	require.Equal(t, float64(reads), delta("rwproxy_route_destinations_total", "role", "reader"))
	require.Equal(t, float64(writes), delta("rwproxy_route_destinations_total", "role", "writer"))
	require.Zero(t, delta("rwproxy_reader_fallbacks_total"))
	byNode := [3]float64{}
	for i := range byNode {
		byNode[i] = delta("rwproxy_backend_queries_total", "backend", sb.Addr(i+1))
	}
	t.Logf("rwproxy_backend_queries_total deltas by node: %v", byNode)
	require.Equal(t, float64(writes), byNode[0], "the primary ran the writes only")
	require.Equal(t, float64(reads), byNode[1]+byNode[2], "the replicas ran the reads")
	require.InDelta(t, reads/2, byNode[1], reads/10, "weights 1:1")

	// Within 1% of each server's own statement counters. The replicas
	// apply the primary's inserts through replication, so their
	// Com_insert is not the proxy's doing; the monitor's read_only checks
	// (a SELECT per second per server) are the noise the margin allows.
	own := [3]float64{
		float64(comAfter[0].sel - comBefore[0].sel + comAfter[0].ins - comBefore[0].ins),
		float64(comAfter[1].sel - comBefore[1].sel),
		float64(comAfter[2].sel - comBefore[2].sel),
	}
	t.Logf("Com_select(+Com_insert on the primary) deltas by node: %v", own)
	for i := range own {
		require.InEpsilon(t, own[i], byNode[i], 0.01, "node%d: proxy %v, server %v", i+1, byNode[i], own[i])
	}

	obsCheckHistograms(t, before, after, reads, writes, byNode)
	obsCheckGauges(t, a, after)
}

// obsCheckHistograms: per hostgroup and backend, the latency histograms
// count what rwproxy_backend_queries_total counts.
func obsCheckHistograms(t *testing.T, before, after obsMetrics, reads, writes int, byNode [3]float64) {
	delta := func(name string, labels ...string) float64 {
		return after.value(name, labels...) - before.value(name, labels...)
	}
	// Latency histograms, once the session feeds the recorder
	// (session.Deps.Observer = App.Recorder()).
	hg10, hg20 := delta("rwproxy_query_duration_seconds", "hostgroup", "10"), delta("rwproxy_query_duration_seconds", "hostgroup", "20")
	if obsWired(t, after) {
		require.Equal(t, float64(writes), hg10)
		require.Equal(t, float64(reads), hg20)
		for i := range byNode {
			hg := "20"
			if i == 0 {
				hg = "10"
			}
			require.Equal(t, byNode[i], delta("rwproxy_query_duration_seconds", "hostgroup", hg, "backend", sb.Addr(i+1)))
		}
	}
}

// obsCheckGauges: pool, placement and health gauges agree with the proxy.
func obsCheckGauges(t *testing.T, a *app.App, after obsMetrics) {
	for i := 1; i <= 3; i++ {
		addr := sb.Addr(i)
		st := a.Pools.Stats(addr)
		require.NotNil(t, st)
		require.Equal(t, float64(st.ConnUsed.Load()+st.ConnFree.Load()),
			after.value("rwproxy_pool_connections", "backend", addr), "node%d pool", i)
		require.Positive(t, after.value("rwproxy_pool_connections_created_total", "backend", addr))
		require.Positive(t, after.value("rwproxy_monitor_ping_seconds", "backend", addr), "node%d ping", i)
		require.Zero(t, after.value("rwproxy_monitor_ping_failures", "backend", addr))
	}
	require.Equal(t, 1.0, after.value("rwproxy_hostgroup_info", "hostgroup", "10", "role", "writer", "default", "true"))
	require.Equal(t, 1.0, after.value("rwproxy_hostgroup_info", "hostgroup", "20", "role", "reader"))
	require.Equal(t, 1.0, after.value("rwproxy_ready"))
	require.Equal(t, float64(a.Store.Versioned().Version), after.value("rwproxy_config_version"))
	require.Positive(t, after.value("go_goroutines"))
}

func obsDashboard(t *testing.T, a *app.App, base string) {
	bin := headless.ForTest(t)
	// A varying load for a few seconds, so that the chart has a shape,
	// still running while the screenshot is taken.
	db := openDB(t, obsDSN(a))
	ctx, stop := context.WithCancel(context.Background())
	defer stop()
	var wg sync.WaitGroup
	waveStart := time.Now()
	wg.Go(func() { obsWave(ctx, db) })
	// The history (one point a second) holds 12 points of the wave.
	require.Eventually(t, func() bool {
		st, err := obsTryStatus(base)
		if err != nil {
			return false
		}
		n := 0
		for _, p := range st.History {
			if p.Time.After(waveStart) {
				n++
			}
		}
		return n >= 12
	}, 30*time.Second, 100*time.Millisecond)
	shot := filepath.Join(t.TempDir(), "dashboard.png")
	if os.Getenv("RWPROXY_UPDATE_SCREENSHOT") == "1" {
		shot = filepath.Join("..", "..", "docs", "img", "dashboard.png")
		require.NoError(t, os.MkdirAll(filepath.Dir(shot), 0o755))
	}
	cctx, cancel := context.WithTimeout(context.Background(), 90*time.Second)
	defer cancel()
	err := headless.Screenshot(cctx, headless.Options{Bin: bin, Budget: 2500 * time.Millisecond, Width: 1400, Height: 1020}, base+"/", shot)
	stop()
	wg.Wait()
	require.NoError(t, err)
	png, err := os.ReadFile(shot)
	require.NoError(t, err)
	require.Equal(t, "\x89PNG", string(png[:4]))
	require.Greater(t, len(png), 20000, "an almost empty screenshot")
	t.Logf("screenshot: %s (%d bytes)", shot, len(png))

	obsDashboardMatches(t, a, base, bin)
}

// obsDashboardMatches loads the dashboard with the load stopped (the
// counters hold still): what the page shows must be what the proxy counts.
func obsDashboardMatches(t *testing.T, a *app.App, base, bin string) {
	ctx, cancel := context.WithTimeout(context.Background(), 90*time.Second)
	defer cancel()
	dom, err := headless.DumpDOM(ctx, headless.Options{Bin: bin, Budget: 2500 * time.Millisecond}, base+"/")
	require.NoError(t, err)
	st := obsStatus(t, base)
	d, err := headless.ParseDOM(dom)
	require.NoError(t, err)
	text := func(sel string) string {
		t.Helper()
		ns, err := d.All(sel)
		require.NoError(t, err)
		require.Len(t, ns, 1, sel)
		return headless.Text(ns[0])
	}
	require.Equal(t, "ready", text("span#ready"))
	require.Equal(t, strconv.FormatUint(a.Stats.Queries.Load(), 10), text("dd#queries-total"))
	require.Equal(t, strconv.FormatUint(st.Proxy.Queries, 10), text("dd#queries-total"))
	require.Equal(t, strconv.FormatInt(a.Stats.Sessions.Load(), 10), text("dd#clients"))
	require.Equal(t, strconv.FormatUint(a.Store.Versioned().Version, 10), text("dd#config-version"))
	for _, b := range st.Backends {
		row := fmt.Sprintf(`tr[data-hostgroup="%d"][data-addr="%s"] `, b.Hostgroup, b.Addr)
		require.Equal(t, strconv.FormatUint(a.Pools.Stats(b.Addr).Queries.Load(), 10), text(row+`td[data-field="queries"]`), b.Addr)
		require.Equal(t, b.State, text(row+`td[data-field="state"]`))
		require.Equal(t, strconv.Itoa(b.Weight), text(row+`td[data-field="weight"]`))
		require.Equal(t, map[bool]string{true: "ON", false: "OFF"}[b.ReadOnly], text(row+`td[data-field="read_only"]`))
	}
	rows, err := d.All(`table#digests tbody tr`)
	require.NoError(t, err)
	require.Len(t, rows, len(st.Digests))
	require.NotEmpty(t, st.Digests)
	require.Equal(t, strconv.FormatUint(st.Digests[0].Count, 10), text(`table#digests tr[data-index="0"] td[data-field="count"]`))
	require.Equal(t, st.Digests[0].Digest, text(`table#digests tr[data-index="0"] td[data-field="digest"]`))
	for _, r := range st.Routes {
		sel := `table#routes tr[data-name="` + r.Name + `"] td[data-field="value"]`
		if r.Value == 0 { // summed up in one line
			ns, err := d.All(sel)
			require.NoError(t, err)
			require.Empty(t, ns, r.Name)
			continue
		}
		require.Equal(t, strconv.FormatUint(r.Value, 10), text(sel), r.Name)
	}
	chart, err := d.All("canvas#qps-chart")
	require.NoError(t, err)
	points, _ := headless.Attr(chart[0], "data-points")
	n, err := strconv.Atoi(points)
	require.NoError(t, err)
	require.GreaterOrEqual(t, n, 3*5, "the chart draws the history of every backend")
}

func obsReadiness(t *testing.T, a *app.App, base string) {
	code, body := obsGet(t, base+"/healthz")
	require.Equal(t, 200, code, body)
	code, body = obsGet(t, base+"/readyz")
	require.Equal(t, 200, code, body)
	code, _ = obsGet(t, base+"/debug/pprof/")
	require.Equal(t, 404, code, "pprof is off by default")

	apply := func(edit func(c *config.Config)) {
		t.Helper()
		c := a.Store.Current().Clone()
		edit(c)
		require.NoError(t, a.Store.Apply(context.Background(), c, config.SourceLocal))
	}
	// The only writer goes OFFLINE_HARD: not ready (reads could still be
	// served, but the proxy cannot take writes).
	apply(func(c *config.Config) { c.Servers[0].Status = config.StatusOfflineHard; c.HTTP.PProf = true })
	require.Eventually(t, func() bool {
		code, body, err := obsTryGet(base + "/readyz")
		return err == nil && code == http.StatusServiceUnavailable && body == "not ready: no ONLINE server in writer hostgroups [10]\n"
	}, 30*time.Second, 50*time.Millisecond)
	m := obsScrape(t, base)
	require.Equal(t, 0.0, m.value("rwproxy_ready"))
	require.Equal(t, 1.0, m.value("rwproxy_backend_state", "hostgroup", "10", "backend", sb.Addr(1), "state", "OFFLINE_HARD"))
	code, body = obsGet(t, base+"/debug/pprof/")
	require.Equal(t, 200, code, "http.pprof is hot-reloadable")
	require.Contains(t, body, "goroutine")
	code, _ = obsGet(t, base+"/healthz")
	require.Equal(t, 200, code, "alive while not ready")

	apply(func(c *config.Config) { c.Servers[0].Status = config.StatusOnline; c.HTTP.PProf = false })
	require.Eventually(t, func() bool {
		code, _, err := obsTryGet(base + "/readyz")
		return err == nil && code == 200
	}, 30*time.Second, 50*time.Millisecond)
	code, _ = obsGet(t, base+"/debug/pprof/")
	require.Equal(t, 404, code)
}

// obsCreateSchema creates obsSchema on the primary and waits for the
// replicas.
func obsCreateSchema(t *testing.T) {
	t.Helper()
	createSchema(t, obsSchema, []string{"CREATE TABLE t (id INT AUTO_INCREMENT PRIMARY KEY, v INT NOT NULL)",
		"INSERT INTO t (v) SELECT seq FROM seq_1_to_100"})
}

// obsDSN is the load's DSN: user app2 in obsSchema, with a fixed
// max_allowed_packet so that the driver sends no query of its own when it
// connects.
func obsDSN(a *app.App) string { return dsn(a.Addr(), "app2", obsSchema, "maxAllowedPacket=16777216") }

// obsLoad sends reads point selects and writes inserts (text protocol, no
// placeholders: one COM_QUERY each) over workers connections.
func obsLoad(t *testing.T, db *sql.DB, workers, reads, writes int) {
	t.Helper()
	db.SetMaxOpenConns(workers)
	db.SetMaxIdleConns(workers)
	var next atomic.Int64
	errs := make(chan error, workers)
	var wg sync.WaitGroup
	for range workers {
		wg.Go(func() {
			for {
				i := int(next.Add(1)) - 1
				if i >= reads+writes {
					errs <- nil
					return
				}
				if err := obsStatement(db, i, reads, writes); err != nil {
					errs <- err
					return
				}
			}
		})
	}
	wg.Wait()
	for range workers {
		require.NoError(t, <-errs)
	}
}

// obsStatement runs statement i of a load: every (reads+writes)/writes-th
// one an insert, the others point selects.
func obsStatement(db *sql.DB, i, reads, writes int) error {
	if writes > 0 && i%((reads+writes)/writes) == 0 {
		_, err := db.Exec("INSERT INTO t (v) VALUES (" + strconv.Itoa(i) + ")")
		return err
	}
	var v int
	return db.QueryRow("SELECT v FROM t WHERE id = " + strconv.Itoa(i%100+1)).Scan(&v)
}

// obsWave loads the proxy at a rate that rises and falls until ctx ends.
func obsWave(ctx context.Context, db *sql.DB) {
	const workers = 4
	db.SetMaxOpenConns(workers)
	db.SetMaxIdleConns(workers)
	start := time.Now()
	var next atomic.Int64
	var wg sync.WaitGroup
	for w := range workers {
		wg.Go(func() {
			for ctx.Err() == nil {
				phase := time.Since(start).Seconds()
				pause := time.Duration((1 + math.Sin(phase*0.9+float64(w)*0.8)) * float64(1500*time.Microsecond))
				if err := obsStatement(db, int(next.Add(1)), 3, 1); err != nil && ctx.Err() == nil {
					return
				}
				select {
				case <-ctx.Done():
				case <-time.After(pause):
				}
			}
		})
	}
	wg.Wait()
}

type obsCom struct{ sel, ins int64 }

// obsComCounters reads Com_select and Com_insert of nodes 1..3.
func obsComCounters(t *testing.T) [3]obsCom {
	t.Helper()
	var out [3]obsCom
	for i := range out {
		res, err := sb.SQL(i+1, "SHOW GLOBAL STATUS WHERE Variable_name IN ('Com_select', 'Com_insert')")
		require.NoError(t, err)
		for _, line := range strings.Split(strings.TrimSpace(res), "\n") {
			name, val, ok := strings.Cut(line, "\t")
			require.True(t, ok, line)
			n, err := strconv.ParseInt(strings.TrimSpace(val), 10, 64)
			require.NoError(t, err, line)
			switch strings.ToLower(name) {
			case "com_select":
				out[i].sel = n
			case "com_insert":
				out[i].ins = n
			}
		}
	}
	return out
}

// obsMetrics is one scrape of /metrics.
type obsMetrics map[string]*dto.MetricFamily

func obsScrape(t *testing.T, base string) obsMetrics {
	t.Helper()
	m, err := obsTryScrape(base)
	require.NoError(t, err)
	return m
}

// obsTryScrape is obsScrape for require.Eventually's goroutine.
func obsTryScrape(base string) (obsMetrics, error) {
	code, body, err := obsTryGet(base + "/metrics")
	if err != nil {
		return nil, err
	}
	if code != 200 {
		return nil, fmt.Errorf("/metrics: HTTP %d: %s", code, body)
	}
	p := expfmt.NewTextParser(model.UTF8Validation)
	return p.TextToMetricFamilies(strings.NewReader(body))
}

// value sums the samples of name whose labels include the given name,
// value pairs (a histogram contributes its count).
func (m obsMetrics) value(name string, labels ...string) float64 {
	mf := m[name]
	if mf == nil {
		return 0
	}
	var sum float64
	for _, s := range mf.GetMetric() {
		if !obsHasLabels(s, labels) {
			continue
		}
		switch {
		case s.Counter != nil:
			sum += s.GetCounter().GetValue()
		case s.Gauge != nil:
			sum += s.GetGauge().GetValue()
		case s.Histogram != nil:
			sum += float64(s.GetHistogram().GetSampleCount())
		case s.Untyped != nil:
			sum += s.GetUntyped().GetValue()
		}
	}
	return sum
}

// bucket sums the cumulative counts at upper bound le of the histogram
// name's series whose labels include the given pairs.
func (m obsMetrics) bucket(name string, le float64, labels ...string) float64 {
	var sum float64
	if mf := m[name]; mf != nil {
		for _, s := range mf.GetMetric() {
			if !obsHasLabels(s, labels) || s.Histogram == nil {
				continue
			}
			for _, b := range s.GetHistogram().GetBucket() {
				if b.GetUpperBound() == le {
					sum += float64(b.GetCumulativeCount())
				}
			}
		}
	}
	return sum
}

// count is the number of series of name.
func (m obsMetrics) count(name string) int {
	if mf := m[name]; mf != nil {
		return len(mf.GetMetric())
	}
	return 0
}

func obsHasLabels(s *dto.Metric, labels []string) bool {
	for i := 0; i+1 < len(labels); i += 2 {
		found := false
		for _, l := range s.GetLabel() {
			if l.GetName() == labels[i] && l.GetValue() == labels[i+1] {
				found = true
				break
			}
		}
		if !found {
			return false
		}
	}
	return true
}

func obsStatus(t *testing.T, base string) web.Status {
	t.Helper()
	st, err := obsTryStatus(base)
	require.NoError(t, err)
	return st
}

func obsTryStatus(base string) (web.Status, error) {
	var st web.Status
	code, body, err := obsTryGet(base + "/api/status")
	if err == nil && code != 200 {
		err = fmt.Errorf("/api/status: HTTP %d: %s", code, body)
	}
	if err == nil {
		err = json.Unmarshal([]byte(body), &st)
	}
	return st, err
}

func obsGet(t *testing.T, url string) (int, string) {
	t.Helper()
	code, body, err := obsTryGet(url)
	require.NoError(t, err)
	return code, body
}

// obsTryGet GETs url; it does not fail the test, so require.Eventually's
// goroutine may call it.
func obsTryGet(url string) (int, string, error) {
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	req, err := http.NewRequestWithContext(ctx, http.MethodGet, url, nil)
	if err != nil {
		return 0, "", err
	}
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		return 0, "", err
	}
	defer resp.Body.Close()
	b, err := io.ReadAll(resp.Body)
	return resp.StatusCode, string(b), err
}
