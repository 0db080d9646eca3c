package replay

import (
	"cmp"
	"encoding/hex"
	"encoding/json"
	"fmt"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"time"
)

func hexDecode(s string) ([]byte, error) { return hex.DecodeString(s) }

// Report is a replay's result (written as report.json and report.md).
type Report struct {
	From       string  `json:"from"`
	To         string  `json:"to"`
	Speed      float64 `json:"speed"`
	ReadOnly   bool    `json:"read_only"`
	Elapsed    float64 `json:"elapsed_s"`
	Statements int     `json:"statements"`
	Skipped    int     `json:"skipped"`
	Unexpected int     `json:"unexpected_errors"`
	Mismatches int     `json:"mismatches"`
	// Checksums counts the mismatches where only the rows' checksum
	// differs (same row count); they are included in Mismatches.
	Checksums int `json:"checksum_mismatches"`
	// OrderReleased counts statements that did not wait any longer for
	// the statements that preceded them in the capture, because none had
	// finished for a second (order.go: two sessions blocked on each other
	// through a lock the capture took in the other order).
	OrderReleased int64 `json:"order_released"`
	// OrderDependent counts reads whose rows differ but whose snapshot
	// overlapped another session's commit in the capture, so that the
	// capture does not say whether they saw it (overlap.go). They are not
	// in Mismatches; they are listed in Diffs as "order_dependent".
	OrderDependent int          `json:"order_dependent"`
	Digests        []DigestStat `json:"digests"`
	Diffs          []Difference `json:"differences"`
}

// DigestStat compares one digest's latency, captured and replayed.
type DigestStat struct {
	Digest      string  `json:"digest"`
	Count       int     `json:"count"`
	CapturedP50 float64 `json:"captured_p50_ms"`
	CapturedP95 float64 `json:"captured_p95_ms"`
	ReplayP50   float64 `json:"replay_p50_ms"`
	ReplayP95   float64 `json:"replay_p95_ms"`
	Unexpected  int     `json:"unexpected_errors"`
	Mismatches  int     `json:"mismatches"`
}

// Difference is one statement that did not replay as captured.
type Difference struct {
	Kind   string `json:"kind"` // unexpected_error or mismatch
	Digest string `json:"digest"`
	Detail string `json:"detail"`
}

// maxDiffs bounds the differences listed (all are counted).
const maxDiffs = 100

func newReport(o Options, all []outcome, elapsed time.Duration) *Report {
	r := &Report{From: o.From, To: o.To, Speed: o.Speed, ReadOnly: o.ReadOnly, Elapsed: elapsed.Seconds()}
	type acc struct {
		st       DigestStat
		cap, rep []time.Duration
	}
	by := map[string]*acc{}
	for _, oc := range all {
		if oc.skipped {
			r.Skipped++
			continue
		}
		r.Statements++
		a := by[oc.digest]
		if a == nil {
			a = &acc{st: DigestStat{Digest: oc.digest}}
			by[oc.digest] = a
		}
		a.st.Count++
		a.cap, a.rep = append(a.cap, oc.captured), append(a.rep, oc.replayed)
		switch {
		case oc.unexpected != "":
			r.Unexpected++
			a.st.Unexpected++
			r.addDiff("unexpected_error", oc.digest, oc.unexpected)
		case oc.mismatch != "" && oc.orderDep:
			r.OrderDependent++
			r.addDiff("order_dependent", oc.digest, oc.mismatch)
		case oc.mismatch != "":
			r.Mismatches++
			a.st.Mismatches++
			if oc.checksum {
				r.Checksums++
			}
			r.addDiff("mismatch", oc.digest, oc.mismatch)
		}
	}
	for _, a := range by {
		a.st.CapturedP50, a.st.CapturedP95 = pct(a.cap, 50), pct(a.cap, 95)
		a.st.ReplayP50, a.st.ReplayP95 = pct(a.rep, 50), pct(a.rep, 95)
		r.Digests = append(r.Digests, a.st)
	}
	slices.SortFunc(r.Digests, func(x, y DigestStat) int {
		return cmp.Or(cmp.Compare(y.Count, x.Count), strings.Compare(x.Digest, y.Digest))
	})
	return r
}

func (r *Report) addDiff(kind, digest, detail string) {
	if len(r.Diffs) < maxDiffs {
		r.Diffs = append(r.Diffs, Difference{Kind: kind, Digest: digest, Detail: detail})
	}
}

// pct is the p-th percentile of ds in milliseconds.
func pct(ds []time.Duration, p int) float64 {
	if len(ds) == 0 {
		return 0
	}
	s := slices.Clone(ds)
	slices.Sort(s)
	i := (len(s)*p + 99) / 100
	return float64(s[max(i-1, 0)].Microseconds()) / 1000
}

// Summary is the report's last line, for scripts.
func (r *Report) Summary() string {
	return fmt.Sprintf("replay: %d statements, %d unexpected errors, %d mismatches", r.Statements, r.Unexpected, r.Mismatches)
}

// Markdown renders the report.
func (r *Report) Markdown() string {
	var b strings.Builder
	fmt.Fprintf(&b, "# Replay of %s against %s\n\n", r.From, r.To)
	fmt.Fprintf(&b, "Speed %gx, read-only %t, %.1f s. %d statements replayed (%d skipped), %d unexpected errors, %d mismatches (%d of them checksums only).",
		r.Speed, r.ReadOnly, r.Elapsed, r.Statements, r.Skipped, r.Unexpected, r.Mismatches, r.Checksums)
	if r.OrderDependent > 0 {
		fmt.Fprintf(&b, " %d reads returned other rows than captured, but overlapped another session's commit in the capture (order-dependent: not counted as mismatches).", r.OrderDependent)
	}
	if r.OrderReleased > 0 {
		fmt.Fprintf(&b, " %d statements went ahead of the capture's order after a stall.", r.OrderReleased)
	}
	b.WriteString("\n\n")
	b.WriteString("## Latency per digest (ms): captured vs replayed\n\n![p50 per digest](report.svg)\n\n")
	b.WriteString("| digest | n | captured p50 | replay p50 | captured p95 | replay p95 | unexpected errors | mismatches |\n")
	b.WriteString("| --- | --- | --- | --- | --- | --- | --- | --- |\n")
	for _, d := range r.Digests {
		fmt.Fprintf(&b, "| `%s` | %d | %.3f | %.3f | %.3f | %.3f | %d | %d |\n", mdCell(d.Digest), d.Count,
			d.CapturedP50, d.ReplayP50, d.CapturedP95, d.ReplayP95, d.Unexpected, d.Mismatches)
	}
	if len(r.Diffs) > 0 {
		fmt.Fprintf(&b, "\n## Differences (first %d)\n\n| kind | digest | detail |\n| --- | --- | --- |\n", len(r.Diffs))
		for _, d := range r.Diffs {
			fmt.Fprintf(&b, "| %s | `%s` | %s |\n", d.Kind, mdCell(d.Digest), mdCell(d.Detail))
		}
	}
	return b.String()
}

func mdCell(s string) string {
	if len(s) > 120 {
		s = s[:120] + "…"
	}
	return strings.NewReplacer("|", "\\|", "\n", " ", "`", "'").Replace(s)
}

// Write stores report.json, report.md and report.svg (the chart) in dir.
func (r *Report) Write(dir string) error {
	if err := os.MkdirAll(dir, 0o750); err != nil {
		return err
	}
	j, err := json.MarshalIndent(r, "", "  ")
	if err != nil {
		return err
	}
	if err := os.WriteFile(filepath.Join(dir, "report.json"), j, 0o640); err != nil {
		return err
	}
	if err := os.WriteFile(filepath.Join(dir, "report.svg"), []byte(r.SVG()), 0o640); err != nil {
		return err
	}
	return os.WriteFile(filepath.Join(dir, "report.md"), []byte(r.Markdown()), 0o640)
}
