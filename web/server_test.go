package web

import (
	"context"
	"encoding/json"
	"io"
	"io/fs"
	"net/http"
	"net/http/httptest"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/prometheus/client_golang/prometheus"
	"github.com/stretchr/testify/require"
	"go.uber.org/goleak"
	"go.uber.org/zap/zaptest"

	"github.com/rwproxy/rwproxy/metrics"
)

// fakeSource is a proxy with one writer and two readers whose query
// counters grow by 10, 20 and 30 per Sample.
type fakeSource struct {
	mu      sync.Mutex
	calls   atomic.Int64
	ready   bool
	members []metrics.Member
}

var _ Source = (*fakeSource)(nil)

func (f *fakeSource) Sample() metrics.Sample {
	n := uint64(f.calls.Add(1))
	f.mu.Lock()
	defer f.mu.Unlock()
	state := "ONLINE"
	if !f.ready {
		state = "SHUNNED"
	}
	return metrics.Sample{
		Time:       time.Now(),
		Hostgroups: []metrics.Hostgroup{{ID: 10, Role: metrics.RoleWriter, Default: true}, {ID: 20, Role: metrics.RoleReader}},
		Backends: []metrics.Backend{
			{Hostgroup: 10, Addr: "10.0.0.1:3306", State: state, Weight: 1, MaxConnections: 100, LagSeconds: -1},
			{Hostgroup: 20, Addr: "10.0.0.2:3306", State: "ONLINE", Weight: 2, MaxConnections: 100, LagSeconds: 0.5, ReadOnly: true},
			{Hostgroup: 20, Addr: "10.0.0.3:3306", State: "SHUNNED_REPLICATION_LAG", Weight: 1, MaxConnections: 100, LagSeconds: 42, ReadOnly: true},
		},
		Servers: []metrics.Server{
			{Addr: "10.0.0.1:3306", Queries: 10 * n, LatencyUs: 10 * n * 300, ConnUsed: 1, ConnFree: 4, ConnCreated: 5},
			{Addr: "10.0.0.2:3306", Queries: 20 * n, LatencyUs: 20 * n * 200, ConnUsed: 2, ConnFree: 3, ConnCreated: 5},
			{Addr: "10.0.0.3:3306", Queries: 30 * n, LatencyUs: 30 * n * 100, ConnFree: 1, ConnCreated: 1, ConnFailed: 2},
		},
		Proxy:         metrics.Proxy{ClientConnections: 7, Queries: 60 * n},
		Routes:        []metrics.Count{{Name: "read", Value: 50 * n}, {Name: "write", Value: 10 * n}},
		Pins:          []metrics.Count{{Name: "transaction", Value: 3}},
		ConfigVersion: 4, ConfigOrigin: "node-a",
		Members: f.members,
	}
}

func (f *fakeSource) TopDigests(n int) []Digest {
	all := []Digest{
		{Hostgroup: 20, User: "app", Schema: "shop", Digest: "SELECT * FROM `t` WHERE `id` = ?", Count: 900, SumTimeUs: 90000, MaxTimeUs: 900},
		{Hostgroup: 10, User: "app", Schema: "shop", Digest: "<script>alert(1)</script>", Count: 100, SumTimeUs: 50000, MaxTimeUs: 2000},
	}
	return all[:min(n, len(all))]
}

func newTestServer(t *testing.T, src *fakeSource, pprofOn *atomic.Bool) *Server {
	t.Helper()
	reg := prometheus.NewRegistry()
	reg.MustRegister(metrics.NewCollector(src))
	s, err := New(Options{Listen: "127.0.0.1:0", Source: src, Gatherer: reg, Log: zaptest.NewLogger(t),
		PProf: func() bool { return pprofOn != nil && pprofOn.Load() }, HistoryInterval: 20 * time.Millisecond})
	require.NoError(t, err)
	s.Start()
	t.Cleanup(func() { require.NoError(t, s.Close()) })
	return s
}

func get(t *testing.T, url string) (int, string, http.Header) {
	t.Helper()
	resp, err := http.Get(url) //nolint:gosec // test URL
	require.NoError(t, err)
	defer resp.Body.Close()
	body, err := io.ReadAll(resp.Body)
	require.NoError(t, err)
	return resp.StatusCode, string(body), resp.Header
}

func TestEndpoints(t *testing.T) {
	src := &fakeSource{ready: true}
	var pprofOn atomic.Bool
	s := newTestServer(t, src, &pprofOn)
	base := "http://" + s.Addr()

	tests := []struct {
		name, path string
		code       int
		contains   []string
		ctype      string
	}{
		{name: "healthz", path: "/healthz", code: 200, contains: []string{"ok"}, ctype: "text/plain"},
		{name: "readyz", path: "/readyz", code: 200, contains: []string{"ready"}},
		{name: "metrics", path: "/metrics", code: 200, ctype: "text/plain", contains: []string{
			`rwproxy_backend_queries_total{backend="10.0.0.2:3306"}`,
			`rwproxy_backend_state{backend="10.0.0.3:3306",hostgroup="20",state="SHUNNED_REPLICATION_LAG"} 1`,
			`rwproxy_hostgroup_info{default="true",hostgroup="10",role="writer"} 1`,
			"rwproxy_ready 1",
		}},
		{name: "dashboard", path: "/", code: 200, ctype: "text/html", contains: []string{`<script src="app.js">`, `id="qps-chart"`}},
		{name: "script", path: "/app.js", code: 200, ctype: "javascript", contains: []string{"api/status"}},
		{name: "style", path: "/style.css", code: 200, ctype: "text/css"},
		{name: "pprof off", path: "/debug/pprof/", code: 404},
		{name: "unknown", path: "/nope", code: 404},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			code, body, h := get(t, base+tc.path)
			require.Equal(t, tc.code, code, body)
			for _, c := range tc.contains {
				require.Contains(t, body, c)
			}
			require.Contains(t, h.Get("Content-Type"), tc.ctype)
		})
	}

	pprofOn.Store(true) // hot: the next request sees it
	code, body, _ := get(t, base+"/debug/pprof/")
	require.Equal(t, 200, code)
	require.Contains(t, body, "goroutine")
	code, _, _ = get(t, base+"/debug/pprof/cmdline")
	require.Equal(t, 200, code)

	resp, err := http.Post(base+"/healthz", "text/plain", nil) //nolint:gosec // test URL
	require.NoError(t, err)
	resp.Body.Close()
	require.Equal(t, http.StatusMethodNotAllowed, resp.StatusCode)
}

func TestReadyzNotReady(t *testing.T) {
	s := newTestServer(t, &fakeSource{ready: false}, nil)
	code, body, _ := get(t, "http://"+s.Addr()+"/readyz")
	require.Equal(t, http.StatusServiceUnavailable, code)
	require.Equal(t, "not ready: no ONLINE server in writer hostgroups [10]\n", body)
}

func TestAPIStatus(t *testing.T) {
	src := &fakeSource{ready: true, members: []metrics.Member{{Name: "a", Addr: "10.0.0.9:7946", State: "alive", ConfigVersion: 4, Self: true}}}
	s := newTestServer(t, src, nil)
	code, body, h := get(t, "http://"+s.Addr()+"/api/status")
	require.Equal(t, 200, code)
	require.Equal(t, "application/json", h.Get("Content-Type"))
	require.Equal(t, "no-store", h.Get("Cache-Control"))
	var st Status
	require.NoError(t, json.Unmarshal([]byte(body), &st))
	require.True(t, st.Ready)
	require.Len(t, st.Servers, 3)
	require.Len(t, st.Backends, 3)
	require.Len(t, st.Digests, 2)
	require.Equal(t, uint64(4), st.ConfigVersion)
	require.Equal(t, "a", st.Members[0].Name)
	require.False(t, st.StartTime.IsZero())
	require.NotEmpty(t, st.History, "the sampler runs from Start")
	require.Len(t, st.History[0].Queries, 3)
	require.WithinDuration(t, time.Now(), st.Time, time.Minute)

	// JSON keys the dashboard reads.
	var raw map[string]any
	require.NoError(t, json.Unmarshal([]byte(body), &raw))
	for _, k := range []string{"time", "start_time", "ready", "hostgroups", "backends", "servers", "proxy", "routes", "pins", "digests", "members", "config_version", "config_origin"} {
		require.Contains(t, raw, k)
	}
}

// TestAssetsAreSelfContained: the machine running the dashboard may be
// offline: no asset may load anything from another origin.
func TestAssetsAreSelfContained(t *testing.T) {
	err := fs.WalkDir(assets, "assets", func(path string, d fs.DirEntry, err error) error {
		require.NoError(t, err)
		if d.IsDir() {
			return nil
		}
		b, err := assets.ReadFile(path)
		require.NoError(t, err)
		for _, bad := range []string{"http://", "https://", "//cdn", "@import"} {
			require.NotContains(t, string(b), bad, path)
		}
		return nil
	})
	require.NoError(t, err)
}

func TestCloseWithoutStart(t *testing.T) {
	defer goleak.VerifyNone(t, goleak.IgnoreCurrent())
	reg := prometheus.NewRegistry()
	s, err := New(Options{Listen: "127.0.0.1:0", Source: &fakeSource{}, Gatherer: reg})
	require.NoError(t, err)
	addr := s.Addr()
	require.NoError(t, s.Close())
	require.NoError(t, s.Close()) // idempotent
	// The port is free again.
	s2, err := New(Options{Listen: addr, Source: &fakeSource{}, Gatherer: reg})
	require.NoError(t, err)
	require.NoError(t, s2.Close())
}

func TestCloseWaitsForServe(t *testing.T) {
	defer goleak.VerifyNone(t, goleak.IgnoreCurrent())
	s, err := New(Options{Listen: "127.0.0.1:0", Source: &fakeSource{ready: true}, Gatherer: prometheus.NewRegistry()})
	require.NoError(t, err)
	s.Start()
	code, _, _ := get(t, "http://"+s.Addr()+"/healthz")
	require.Equal(t, 200, code)
	http.DefaultClient.CloseIdleConnections()
	require.NoError(t, s.Close())
}

func TestNewRequiresSourceAndGatherer(t *testing.T) {
	_, err := New(Options{Listen: "127.0.0.1:0"})
	require.Error(t, err)
}

func TestHandlerWithHTTPTest(t *testing.T) {
	s, err := New(Options{Listen: "127.0.0.1:0", Source: &fakeSource{ready: true}, Gatherer: prometheus.NewRegistry()})
	require.NoError(t, err)
	t.Cleanup(func() { _ = s.Close() })
	rec := httptest.NewRecorder()
	s.Handler().ServeHTTP(rec, httptest.NewRequestWithContext(context.Background(), "GET", "/readyz", nil))
	require.Equal(t, 200, rec.Code)
	require.True(t, strings.HasPrefix(rec.Body.String(), "ready"))
}

func TestHistoryRing(t *testing.T) {
	var h history
	for i := range historyLen + 10 {
		h.add(Point{Queries: map[string]uint64{"a": uint64(i)}})
	}
	ps := h.points()
	require.Len(t, ps, historyLen)
	require.Equal(t, uint64(10), ps[0].Queries["a"])
	require.Equal(t, uint64(historyLen+9), ps[len(ps)-1].Queries["a"])
}

// TestServerTimeouts: every phase of an HTTP connection is bounded (issue
// #17: a client stalled while sending a body, while reading a response or
// idle between requests held its connection for ever), and headers are
// capped well below net/http's 1 MiB default.
func TestServerTimeouts(t *testing.T) {
	s := newTestServer(t, &fakeSource{}, nil)
	require.Positive(t, s.srv.ReadHeaderTimeout)
	require.Positive(t, s.srv.ReadTimeout)
	require.Positive(t, s.srv.IdleTimeout)
	require.Greater(t, s.srv.WriteTimeout, 60*time.Second, "room for a 60 s CPU profile")
	require.Equal(t, 64<<10, s.srv.MaxHeaderBytes)
}
