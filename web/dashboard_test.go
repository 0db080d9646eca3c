package web

import (
	"context"
	"os"
	"path/filepath"
	"strconv"
	"testing"
	"time"

	"github.com/stretchr/testify/require"
	"golang.org/x/net/html"

	"github.com/rwproxy/rwproxy/internal/testkit/headless"
	"github.com/rwproxy/rwproxy/metrics"
)

// TestDashboardRenders loads the dashboard in headless Chromium against a
// fake proxy and checks what its scripts rendered from /api/status.
func TestDashboardRenders(t *testing.T) {
	bin := headless.ForTest(t)
	src := &fakeSource{ready: true, members: []metrics.Member{{Name: "node-a", Addr: "10.0.0.9:7946", State: "alive", ConfigVersion: 4, Self: true}}}
	s := newTestServer(t, src, nil)
	require.Eventually(t, func() bool { return len(s.hist.points()) >= 5 }, 30*time.Second, 10*time.Millisecond)
	ctx, cancel := context.WithTimeout(context.Background(), 60*time.Second)
	defer cancel()
	dom, err := headless.DumpDOM(ctx, headless.Options{Bin: bin, Budget: 3500 * time.Millisecond}, "http://"+s.Addr()+"/")
	require.NoError(t, err)
	d := parseDOM(t, dom)

	require.Equal(t, "ok", d.attr("body", "data-state"))
	require.GreaterOrEqual(t, d.intAttr("body", "data-polls"), 3, "the page polls every second")
	require.Equal(t, "ready", d.text(`span#ready`))
	require.Equal(t, "7", d.text("dd#clients"))
	require.Equal(t, "4", d.text("dd#config-version"))

	// Topology: every placement, with its state, weight and lag.
	require.Equal(t, "writer", d.attr(`div.hostgroup[data-hostgroup="10"]`, "data-role"))
	require.Equal(t, "reader", d.attr(`div.hostgroup[data-hostgroup="20"]`, "data-role"))
	require.Equal(t, "ONLINE", d.cell("20", "10.0.0.2:3306", "state"))
	require.Equal(t, "2", d.cell("20", "10.0.0.2:3306", "weight"))
	require.Equal(t, "0.5 s", d.cell("20", "10.0.0.2:3306", "lag"))
	require.Equal(t, "ON", d.cell("20", "10.0.0.2:3306", "read_only"))
	require.Equal(t, "SHUNNED_REPLICATION_LAG", d.cell("20", "10.0.0.3:3306", "state"))
	require.Equal(t, "42 s", d.cell("20", "10.0.0.3:3306", "lag"))
	require.Equal(t, "–", d.cell("10", "10.0.0.1:3306", "lag"))
	require.Equal(t, "1", d.cell("10", "10.0.0.1:3306", "conn_used"))
	require.Equal(t, "4", d.cell("10", "10.0.0.1:3306", "conn_free"))
	require.Equal(t, "0.30", d.cell("10", "10.0.0.1:3306", "avg_ms"))

	// Queries are the last sample's counters; the fake adds 10/20/30 per
	// sample, so they are consistent with each other and QPS is positive.
	q1, q2, q3 := d.cellInt("10", "10.0.0.1:3306", "queries"), d.cellInt("20", "10.0.0.2:3306", "queries"), d.cellInt("20", "10.0.0.3:3306", "queries")
	require.Positive(t, q1)
	require.Equal(t, 2*q1, q2)
	require.Equal(t, 3*q1, q3)
	require.Positive(t, d.cellFloat("20", "10.0.0.3:3306", "qps"))
	require.Positive(t, d.intAttr("canvas#qps-chart", "data-points"))
	require.Len(t, d.all(`ul#qps-legend li`), 3)

	// Digests, with markup shown as text, not run.
	require.Equal(t, "900", d.text(`table#digests tbody tr[data-index="0"] td[data-field="count"]`))
	require.Equal(t, "<script>alert(1)</script>", d.text(`table#digests tbody tr[data-index="1"] td[data-field="digest"]`))
	require.Equal(t, "0.10", d.text(`table#digests tbody tr[data-index="0"] td[data-field="avg_ms"]`))

	require.Equal(t, "3", d.text(`table#pins tr[data-name="transaction"] td[data-field="value"]`))
	require.Equal(t, "true", d.attr(`#cluster table`, "data-clustered"))
	require.Equal(t, "alive", d.text(`#cluster tr[data-member="node-a"] td[data-field="state"]`))
}

// TestDashboardScreenshot checks that a screenshot can be taken (the
// integration test takes the one in docs/img against a real proxy).
func TestDashboardScreenshot(t *testing.T) {
	bin := headless.ForTest(t)
	s := newTestServer(t, &fakeSource{ready: false}, nil)
	ctx, cancel := context.WithTimeout(context.Background(), 60*time.Second)
	defer cancel()
	png := filepath.Join(t.TempDir(), "dash.png")
	if p := os.Getenv("RWPROXY_DASH_PNG"); p != "" {
		png = p
	}
	require.NoError(t, headless.Screenshot(ctx, headless.Options{Bin: bin, Budget: 2500 * time.Millisecond}, "http://"+s.Addr()+"/", png))
	b, err := os.ReadFile(png)
	require.NoError(t, err)
	require.Equal(t, "\x89PNG", string(b[:4]))
}

// dom wraps a headless.DOM with require-style accessors.
type dom struct {
	t *testing.T
	d *headless.DOM
}

func parseDOM(t *testing.T, s string) *dom {
	t.Helper()
	d, err := headless.ParseDOM(s)
	require.NoError(t, err)
	return &dom{t: t, d: d}
}

func (d *dom) all(sel string) []*html.Node {
	d.t.Helper()
	ns, err := d.d.All(sel)
	require.NoError(d.t, err)
	return ns
}

func (d *dom) one(sel string) *html.Node {
	d.t.Helper()
	ns := d.all(sel)
	require.Len(d.t, ns, 1, "selector %s", sel)
	return ns[0]
}

func (d *dom) text(sel string) string { d.t.Helper(); return headless.Text(d.one(sel)) }

func (d *dom) attr(sel, name string) string {
	d.t.Helper()
	v, ok := headless.Attr(d.one(sel), name)
	require.True(d.t, ok, "%s has no %s", sel, name)
	return v
}

func (d *dom) intAttr(sel, name string) int {
	d.t.Helper()
	n, err := strconv.Atoi(d.attr(sel, name))
	require.NoError(d.t, err)
	return n
}

func (d *dom) cell(hg, addr, field string) string {
	d.t.Helper()
	return d.text(`tr[data-hostgroup="` + hg + `"][data-addr="` + addr + `"] td[data-field="` + field + `"]`)
}

func (d *dom) cellInt(hg, addr, field string) int {
	d.t.Helper()
	n, err := strconv.Atoi(d.cell(hg, addr, field))
	require.NoError(d.t, err)
	return n
}

func (d *dom) cellFloat(hg, addr, field string) float64 {
	d.t.Helper()
	f, err := strconv.ParseFloat(d.cell(hg, addr, field), 64)
	require.NoError(d.t, err)
	return f
}
