package harness

import (
	"fmt"
	"math"
	"strings"
)

// thousands formats x rounded to an integer with comma separators.
func thousands(x float64) string {
	n := int64(math.Round(x))
	neg := n < 0
	if neg {
		n = -n
	}
	s := fmt.Sprint(n)
	var b strings.Builder
	for i, c := range s {
		if i > 0 && (len(s)-i)%3 == 0 {
			b.WriteByte(',')
		}
		b.WriteRune(c)
	}
	if neg {
		return "-" + b.String()
	}
	return b.String()
}

func gib(kb int64) string { return fmt.Sprintf("%.1f GiB", float64(kb)/(1024*1024)) }

func mib(kb int64) string { return fmt.Sprintf("%.1f", float64(kb)/1024) }

// slash joins per-target values: "0.412 / 0.455 / 0.470".
func slash(vals []string) string { return strings.Join(vals, " / ") }

func ms3(x float64) string { return fmt.Sprintf("%.3f", x) }
