package harness

import (
	"fmt"
	"image/color"

	"gonum.org/v1/plot/plotter"
	"gonum.org/v1/plot/plotutil"
	"gonum.org/v1/plot/vg"
)

// Mark is an instant on a timeline chart (a fault, a restart), drawn as a
// labelled vertical line.
type Mark struct {
	At    float64 // seconds since the run started
	Label string
}

// WriteTimeline draws series against time (seconds since the run started)
// with the marks as vertical lines, into a PNG (or any format gonum/plot
// knows from the extension).
func WriteTimeline(path, title, yLabel string, series []Series, marks []Mark) error {
	p := newPlot(title, "seconds since the run started", yLabel)
	if err := plotutil.AddLines(p, lineArgs(series)...); err != nil {
		return err
	}
	valueAxis(p, false)
	for i, m := range marks {
		line, err := plotter.NewLine(plotter.XYs{{X: m.At, Y: p.Y.Min}, {X: m.At, Y: p.Y.Max}})
		if err != nil {
			return err
		}
		line.Color = markColors[i%len(markColors)]
		line.Dashes = []vg.Length{vg.Points(4), vg.Points(3)}
		p.Add(line)
		p.Legend.Add(fmt.Sprintf("%s (t=%.1f s)", m.Label, m.At), line)
	}
	return p.Save(7*vg.Inch, 4*vg.Inch, path)
}

// markColors: red for the first mark (the fault), then others.
var markColors = []color.Color{
	color.RGBA{R: 200, A: 255}, color.RGBA{G: 140, B: 60, A: 255}, color.RGBA{R: 120, B: 200, A: 255},
}
