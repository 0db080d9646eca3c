package main

import (
	"fmt"
	"os"
	"strings"

	"gonum.org/v1/plot"
	"gonum.org/v1/plot/plotter"
	"gonum.org/v1/plot/plotutil"
	"gonum.org/v1/plot/vg"
	"gonum.org/v1/plot/vg/draw"
	"gonum.org/v1/plot/vg/vgimg"
)

// panel is one of the chart's three plots.
type panel struct {
	title string
	value func(Result) float64
}

var panels = []panel{
	{"QPS", func(r Result) float64 { return r.QPS }},
	{"p99 latency (ms)", func(r Result) float64 { return r.P99Ms }},
	{"node 3 share of reads (%)", func(r Result) float64 { return 100 * r.Share3 }},
}

// scenario is one group of bars: a workload under a condition.
type scenario struct{ workload, condition string }

func (s scenario) label() string {
	c := strings.TrimPrefix(s.condition, "node 3 ")
	if c == "CPU-starved" {
		c = "CPU" // the long label would run into its neighbours
	}
	return s.workload + "\n" + c
}

// scenarios and algorithms in the order of the results.
func layout(rep *Report) ([]scenario, []string) {
	var scs []scenario
	var algos []string
	for _, r := range rep.Results {
		sc := scenario{r.Workload, r.Condition}
		if !containsScenario(scs, sc) {
			scs = append(scs, sc)
		}
		if indexOf(algos, r.Algorithm) < 0 {
			algos = append(algos, r.Algorithm)
		}
	}
	return scs, algos
}

func containsScenario(list []scenario, s scenario) bool {
	for _, x := range list {
		if x == s {
			return true
		}
	}
	return false
}

func find(rep *Report, sc scenario, algo string) (Result, bool) {
	for _, r := range rep.Results {
		if r.Workload == sc.workload && r.Condition == sc.condition && r.Algorithm == algo {
			return r, true
		}
	}
	return Result{}, false
}

// writeChart draws the three panels side by side: per scenario, one bar
// per algorithm.
func writeChart(path string, rep *Report) error {
	scs, algos := layout(rep)
	if len(scs) == 0 {
		return fmt.Errorf("no results")
	}
	labels := make([]string, len(scs))
	for i, sc := range scs {
		labels[i] = sc.label()
	}
	row := make([]*plot.Plot, len(panels))
	const barW = 14
	for pi, pn := range panels {
		p := plot.New()
		p.Title.Text = pn.title
		p.Add(plotter.NewGrid())
		for ai, algo := range algos {
			vals := make(plotter.Values, len(scs))
			for si, sc := range scs {
				if r, ok := find(rep, sc, algo); ok {
					vals[si] = pn.value(r)
				}
			}
			bars, err := plotter.NewBarChart(vals, vg.Points(barW))
			if err != nil {
				return err
			}
			bars.LineStyle.Width = 0
			bars.Color = plotutil.Color(ai)
			bars.Offset = vg.Points(float64(ai-(len(algos)-1)/2) * barW)
			if len(algos)%2 == 0 {
				bars.Offset -= vg.Points(barW / 2)
			}
			p.Add(bars)
			if pi == 0 {
				p.Legend.Add(algo, bars)
			}
		}
		p.NominalX(labels...)
		p.Y.Min = 0
		p.Y.Max *= 1.25 // room for the legend
		p.Legend.Top = true
		row[pi] = p
	}
	if len(panels) == 3 {
		row[2].Y.Max = 100
	}
	img := vgimg.New(15*vg.Inch, 4.5*vg.Inch)
	dc := draw.New(img)
	tiles := draw.Tiles{Rows: 1, Cols: len(row), PadX: vg.Millimeter * 6, PadTop: vg.Millimeter * 3,
		PadBottom: vg.Millimeter * 3, PadLeft: vg.Millimeter * 3, PadRight: vg.Millimeter * 3}
	canvases := plot.Align([][]*plot.Plot{row}, tiles, dc)
	for i, p := range row {
		p.Draw(canvases[0][i])
	}
	f, err := os.Create(path)
	if err != nil {
		return err
	}
	if _, err := (vgimg.PngCanvas{Canvas: img}).WriteTo(f); err != nil {
		_ = f.Close()
		return err
	}
	return f.Close()
}
