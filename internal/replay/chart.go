package replay

import (
	"fmt"
	"html"
	"strings"
)

// chartDigests is how many digests the chart shows (the most frequent).
const chartDigests = 15

// SVG renders the p50 latency of the most frequent digests, captured and
// replayed, as a horizontal bar chart (report.svg).
func (r *Report) SVG() string {
	ds := r.Digests[:min(len(r.Digests), chartDigests)]
	const left, width, rowH, top = 430, 420, 34, 40
	maxV := 0.0
	for _, d := range ds {
		maxV = max(maxV, d.CapturedP50, d.ReplayP50)
	}
	if maxV == 0 {
		maxV = 1
	}
	var b strings.Builder
	h := top + rowH*len(ds) + 20
	fmt.Fprintf(&b, `<svg xmlns="http://www.w3.org/2000/svg" width="%d" height="%d" font-family="sans-serif" font-size="12">`, left+width+90, h)
	fmt.Fprintf(&b, `<rect width="100%%" height="100%%" fill="#fff"/><text x="10" y="18" font-size="14" font-weight="bold">p50 latency per digest (ms): captured (grey) vs replayed (blue), speed %gx</text>`, r.Speed)
	for i, d := range ds {
		y := top + i*rowH
		label := d.Digest
		if len(label) > 62 {
			label = label[:62] + "…"
		}
		fmt.Fprintf(&b, `<text x="10" y="%d">%s</text>`, y+14, html.EscapeString(label))
		for j, v := range []float64{d.CapturedP50, d.ReplayP50} {
			w := v / maxV * width
			color := "#9e9e9e"
			if j == 1 {
				color = "#1e6fd9"
			}
			fmt.Fprintf(&b, `<rect x="%d" y="%d" width="%.1f" height="12" fill="%s"/><text x="%.1f" y="%d" font-size="10">%.3f</text>`,
				left, y+j*13, max(w, 1), color, float64(left)+max(w, 1)+4, y+j*13+10, v)
		}
	}
	b.WriteString("</svg>\n")
	return b.String()
}
