package harness

import (
	"fmt"
	"math"
	"path/filepath"
	"strconv"

	"gonum.org/v1/plot"
	"gonum.org/v1/plot/plotter"
	"gonum.org/v1/plot/plotutil"
	"gonum.org/v1/plot/vg"
)

// Series is one line of a chart: a target's value per thread count.
type Series struct {
	Name   string
	Points plotter.XYs
}

// Metric picks the charted value of a cell.
type Metric struct {
	Key   string // used in file names: qps, p95
	Label string // y axis
	Value func(Cell) float64
	LogY  bool // latencies span orders of magnitude across thread counts
	// Has, when set, leaves out cells without the value (CPU of direct).
	Has func(Cell) bool
}

// Metrics are the two charts drawn per workload.
var Metrics = []Metric{
	{Key: "qps", Label: "queries per second", Value: func(c Cell) float64 { return c.QPS }},
	{Key: "p95", Label: "p95 latency (ms, log scale)", Value: func(c Cell) float64 { return c.P95Ms }, LogY: true},
	{Key: "cpu", Label: "proxy CPU per query (µs)", Value: func(c Cell) float64 { return c.CPUMicros },
		Has: func(c Cell) bool { return c.HasCPU }},
}

// SeriesFor builds one series per target for a workload, in thread order,
// leaving out cells with no finished run.
func SeriesFor(cells []Cell, targets []string, workload string, threads []int, m Metric) []Series {
	out := make([]Series, 0, len(targets))
	for _, tg := range targets {
		s := Series{Name: tg}
		for _, t := range threads {
			if c, ok := FindCell(cells, workload, t, tg); ok && c.OK() && (m.Has == nil || m.Has(c)) {
				s.Points = append(s.Points, plotter.XY{X: float64(t), Y: m.Value(c)})
			}
		}
		out = append(out, s)
	}
	return out
}

// WriteChart draws the series against threads (log scale) into a PNG
// (or any format gonum/plot knows from the extension).
func WriteChart(path, title string, m Metric, series []Series, threads []int) error {
	p := newPlot(title, "sysbench threads (log scale)", m.Label)
	if err := plotutil.AddLinePoints(p, lineArgs(series)...); err != nil {
		return err
	}
	threadAxis(p, threads)
	valueAxis(p, m.LogY)
	return p.Save(7*vg.Inch, 4.5*vg.Inch, path)
}

// newPlot is an empty chart with a grid and the legend top left.
func newPlot(title, xLabel, yLabel string) *plot.Plot {
	p := plot.New()
	p.Title.Text = title
	p.X.Label.Text = xLabel
	p.Y.Label.Text = yLabel
	p.Legend.Top, p.Legend.Left = true, true
	p.Add(plotter.NewGrid())
	return p
}

// lineArgs are plotutil's (name, points) pairs for the series that have points.
func lineArgs(series []Series) []any {
	var args []any
	for _, s := range series {
		if len(s.Points) > 0 {
			args = append(args, s.Name, s.Points)
		}
	}
	return args
}

// valueAxis starts a linear axis at 0; a log axis gets 1-2-5 ticks. Both
// leave room at the top for the legend.
func valueAxis(p *plot.Plot, logY bool) {
	if p.Y.Max <= 0 {
		p.Y.Min, p.Y.Max = 0, 1
	}
	if !logY || p.Y.Min <= 0 {
		p.Y.Min, p.Y.Max = 0, p.Y.Max*1.15
		return
	}
	p.Y.Scale = plot.LogScale{}
	p.Y.Min, p.Y.Max = p.Y.Min/1.3, p.Y.Max*2
	p.Y.Tick.Marker = plot.TickerFunc(ticks125)
}

// ticks125 labels 1, 2 and 5 times the powers of ten within [lo, hi].
func ticks125(lo, hi float64) []plot.Tick {
	var ts []plot.Tick
	for e := math.Floor(math.Log10(lo)); e <= math.Ceil(math.Log10(hi)); e++ {
		for _, m := range []float64{1, 2, 5} {
			v := m * math.Pow(10, e)
			if v >= lo && v <= hi {
				ts = append(ts, plot.Tick{Value: v, Label: strconv.FormatFloat(v, 'g', -1, 64)})
			}
		}
	}
	return ts
}

func threadAxis(p *plot.Plot, threads []int) {
	p.X.Scale = plot.LogScale{}
	ticks := make([]plot.Tick, len(threads))
	lo, hi := float64(threads[0]), float64(threads[0])
	for i, t := range threads {
		ticks[i] = plot.Tick{Value: float64(t), Label: fmt.Sprint(t)}
		lo, hi = min(lo, float64(t)), max(hi, float64(t))
	}
	p.X.Tick.Marker = plot.ConstantTicks(ticks)
	p.X.Min, p.X.Max = lo/1.25, hi*1.25 // a log axis needs lo < hi, and margin
}

// ChartName is the file name of a workload's chart for a metric.
func ChartName(prefix, metric, workload string) string {
	return fmt.Sprintf("%s-%s-%s.png", prefix, metric, workload)
}

// WriteCharts draws every workload's charts into dir and returns their
// file names per workload.
func WriteCharts(dir, prefix string, r *Report) (map[string][]string, error) {
	if len(r.Config.Threads) == 0 {
		return nil, fmt.Errorf("charts: no thread counts")
	}
	out := map[string][]string{}
	for _, w := range r.Config.Workloads {
		for _, m := range Metrics {
			name := ChartName(prefix, m.Key, w)
			series := SeriesFor(r.Cells, r.TargetNames(), w, r.Config.Threads, m)
			title := fmt.Sprintf("%s: %s vs threads", w, m.Key)
			if err := WriteChart(filepath.Join(dir, name), title, m, series, r.Config.Threads); err != nil {
				return out, fmt.Errorf("%s: %w", name, err)
			}
			out[w] = append(out[w], name)
		}
	}
	return out, nil
}
