package metrics

import (
	"encoding/json"
	"os"
	"regexp"
	"slices"
	"strings"
	"testing"

	"github.com/prometheus/client_golang/prometheus"
	"github.com/stretchr/testify/require"
)

// metricNames lists every metric the package's collectors describe.
func metricNames(t *testing.T) []string {
	t.Helper()
	ch := make(chan *prometheus.Desc, 100)
	NewCollector(fixedSource{}).Describe(ch)
	NewRecorder(RecorderOptions{}).Describe(ch)
	NewQueryCacheCollector(nil).Describe(ch)
	close(ch)
	re := regexp.MustCompile(`fqName: "([a-z_]+)"`)
	var names []string
	for d := range ch {
		m := re.FindStringSubmatch(d.String())
		require.NotNil(t, m, d.String())
		names = append(names, m[1])
	}
	require.Greater(t, len(names), 30)
	return names
}

// TestDocsListEveryMetric keeps docs/observability.md in step with the
// collectors.
func TestDocsListEveryMetric(t *testing.T) {
	raw, err := os.ReadFile("../docs/observability.md")
	require.NoError(t, err)
	for _, n := range metricNames(t) {
		require.Contains(t, string(raw), "| `"+n+"` |", "docs/observability.md lacks a row for %s", n)
	}
}

// TestGrafanaDashboard: configs/grafana/rwproxy.json is a dashboard whose
// queries only name metrics rwproxy exports, with the panels the
// documentation promises.
func TestGrafanaDashboard(t *testing.T) {
	raw, err := os.ReadFile("../configs/grafana/rwproxy.json")
	require.NoError(t, err)
	var dash struct {
		UID           string `json:"uid"`
		Title         string `json:"title"`
		SchemaVersion int    `json:"schemaVersion"`
		Panels        []struct {
			ID      int    `json:"id"`
			Type    string `json:"type"`
			Title   string `json:"title"`
			GridPos struct {
				X, Y, W, H int
			} `json:"gridPos"`
			Targets []struct {
				Expr  string `json:"expr"`
				RefID string `json:"refId"`
			} `json:"targets"`
		} `json:"panels"`
	}
	require.NoError(t, json.Unmarshal(raw, &dash))
	require.Equal(t, "rwproxy", dash.Title)
	require.NotEmpty(t, dash.UID)
	require.GreaterOrEqual(t, dash.SchemaVersion, 36, "Grafana 10 dashboards are schema 36 and up")

	known := metricNames(t)
	used := regexp.MustCompile(`\brwproxy_[a-z_]+`)
	ids := map[int]bool{}
	var titles []string
	for _, p := range dash.Panels {
		require.False(t, ids[p.ID], "duplicate panel id %d", p.ID)
		ids[p.ID] = true
		titles = append(titles, p.Title)
		require.LessOrEqual(t, p.GridPos.X+p.GridPos.W, 24, p.Title)
		if p.Type == "row" {
			continue
		}
		require.NotEmpty(t, p.Targets, p.Title)
		for _, tg := range p.Targets {
			require.NotEmpty(t, tg.RefID)
			names := used.FindAllString(tg.Expr, -1)
			require.NotEmpty(t, names, "%s: %s", p.Title, tg.Expr)
			for _, n := range names {
				base := n
				for _, suf := range []string{"_bucket", "_sum", "_count"} {
					if strings.HasSuffix(n, suf) && slices.Contains(known, strings.TrimSuffix(n, suf)) {
						base = strings.TrimSuffix(n, suf)
					}
				}
				require.Contains(t, known, base, "panel %q queries an unknown metric", p.Title)
			}
			require.Equal(t, strings.Count(tg.Expr, "("), strings.Count(tg.Expr, ")"), tg.Expr)
		}
	}
	for _, want := range []string{"QPS per backend", "Latency p95 per hostgroup", "Pool connections per backend",
		"Replication lag", "Pins by reason", "Routing decisions by reason"} {
		require.Contains(t, titles, want)
	}
}
