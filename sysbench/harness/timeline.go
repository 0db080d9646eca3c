package harness

import (
	"fmt"
	"image/color"

	"gonum.org/v1/plot"
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
	p := plot.New()
	p.Title.Text = title
	p.X.Label.Text = "seconds since the run started"
	p.Y.Label.Text = yLabel
	p.Legend.Top, p.Legend.Left = true, true
	p.Add(plotter.NewGrid())
	var args []any
	for _, s := range series {
		if len(s.Points) > 0 {
			args = append(args, s.Name, s.Points)
		}
	}
	if err := plotutil.AddLines(p, args...); err != nil {
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
