// Command upgradechart turns the per-second output of sysbench runs
// (--report-interval=1) through a zero-downtime upgrade into a QPS
// timeline chart, a JSON record and a markdown summary: how deep and how
// long the QPS dipped after the upgrade started. scripts/upgrade-bench
// runs it; docs/benchmarks.md "Zero-downtime upgrade" quotes it.
//
//	upgradechart -out sysbench/results/upgrade-<ts> -mark 10.1 -label 8=run8.log -label 64=run64.log
package main

import (
	"encoding/json"
	"flag"
	"fmt"
	"io"
	"os"
	"path/filepath"
	"regexp"
	"slices"
	"strconv"
	"strings"

	"gonum.org/v1/plot/plotter"

	"github.com/rwproxy/rwproxy/sysbench/harness"
)

// Run is one sysbench run through an upgrade.
type Run struct {
	Threads   int                `json:"threads"`
	Mark      float64            `json:"upgrade_at_s"` // when `rwproxy upgrade` started, seconds into the run
	Intervals []harness.Interval `json:"intervals"`
	Summary   Summary            `json:"summary"`
}

// Summary is the dip after the mark.
type Summary struct {
	// Baseline is the median QPS of the seconds before the mark (the
	// first two, warm-up, left out).
	Baseline float64 `json:"baseline_qps"`
	// Min is the lowest QPS of a second after the mark, at MinAt.
	Min   float64 `json:"min_qps"`
	MinAt float64 `json:"min_at_s"`
	// DipSeconds counts seconds after the mark under half the baseline.
	DipSeconds int `json:"dip_seconds"`
	// Errors and Reconnects are sysbench's totals (its final report).
	Errors     int64 `json:"errors"`
	Reconnects int64 `json:"reconnects"`
	// Handoff is the old process's "phase ready" to "phase done": the
	// only window in which a session waits for the upgrade (before it,
	// the old process serves everything while the new one starts); 0
	// without -phases.
	Handoff float64 `json:"handoff_s"`
	// ReadyAfter is from the spawn of the new binary to "phase ready"
	// (the new process starting: nobody waits for it).
	ReadyAfter float64 `json:"ready_after_s"`
}

func main() {
	if err := run(os.Args[1:], os.Stdout); err != nil {
		fmt.Fprintln(os.Stderr, "upgradechart:", err)
		os.Exit(1)
	}
}

type labels []string

func (l *labels) String() string     { return strings.Join(*l, ",") }
func (l *labels) Set(v string) error { *l = append(*l, v); return nil }

func run(args []string, stdout io.Writer) error {
	fs := flag.NewFlagSet("upgradechart", flag.ContinueOnError)
	out := fs.String("out", "", "output path prefix (.json, .md and -qps.png are added)")
	var runs labels
	fs.Var(&runs, "run", "THREADS=LOG=MARK: a sysbench log and when the upgrade started in it (seconds); repeatable")
	phases := fs.String("phases", "", "rwproxy's JSON log lines of the upgrades' phases, one upgrade per -run, in order")
	if err := fs.Parse(args); err != nil {
		return err
	}
	if *out == "" || len(runs) == 0 {
		return fmt.Errorf("need -out and at least one -run")
	}
	var all []Run
	for _, spec := range runs {
		r, err := load(spec)
		if err != nil {
			return err
		}
		all = append(all, r)
	}
	if *phases != "" {
		raw, err := os.ReadFile(*phases)
		if err != nil {
			return err
		}
		for i, w := range handoffs(string(raw)) {
			if i < len(all) {
				all[i].Summary.Handoff, all[i].Summary.ReadyAfter = w.handoff, w.readyAfter
			}
		}
	}
	b, err := json.MarshalIndent(all, "", "  ")
	if err != nil {
		return err
	}
	if err := os.WriteFile(*out+".json", b, 0o644); err != nil {
		return err
	}
	if err := chart(*out+"-qps.png", all); err != nil {
		return err
	}
	md := markdown(all, *out)
	if err := os.WriteFile(*out+".md", []byte(md), 0o644); err != nil {
		return err
	}
	_, err = io.WriteString(stdout, md)
	return err
}

func load(spec string) (Run, error) {
	parts := strings.SplitN(spec, "=", 3)
	if len(parts) != 3 {
		return Run{}, fmt.Errorf("-run %q: want THREADS=LOG=MARK", spec)
	}
	threads, err1 := strconv.Atoi(parts[0])
	mark, err2 := strconv.ParseFloat(parts[2], 64)
	if err1 != nil || err2 != nil {
		return Run{}, fmt.Errorf("-run %q: bad threads or mark", spec)
	}
	raw, err := os.ReadFile(parts[1])
	if err != nil {
		return Run{}, err
	}
	r := Run{Threads: threads, Mark: mark, Intervals: harness.ParseIntervals(string(raw))}
	if len(r.Intervals) == 0 {
		return Run{}, fmt.Errorf("%s: no per-second lines (--report-interval=1)", parts[1])
	}
	r.Summary = summarize(r.Intervals, mark)
	r.Summary.Errors, r.Summary.Reconnects = totals(string(raw))
	return r, nil
}

// summarize measures the dip after mark (see Summary).
func summarize(ivs []harness.Interval, mark float64) Summary {
	var before []float64
	for _, iv := range ivs {
		if iv.T > 2 && iv.T <= mark {
			before = append(before, iv.QPS)
		}
	}
	var s Summary
	if len(before) > 0 {
		slices.Sort(before)
		s.Baseline = before[len(before)/2]
	}
	s.Min = -1
	for _, iv := range ivs {
		if iv.T <= mark {
			continue
		}
		if s.Min < 0 || iv.QPS < s.Min {
			s.Min, s.MinAt = iv.QPS, iv.T
		}
		if iv.QPS < s.Baseline/2 {
			s.DipSeconds++
		}
	}
	return s
}

var (
	reErrors     = regexp.MustCompile(`ignored errors:\s+(\d+)`)
	reReconnects = regexp.MustCompile(`reconnects:\s+(\d+)`)
)

// totals reads sysbench's final "ignored errors" and "reconnects".
func totals(text string) (errs, reconn int64) {
	if m := reErrors.FindStringSubmatch(text); m != nil {
		errs, _ = strconv.ParseInt(m[1], 10, 64)
	}
	if m := reReconnects.FindStringSubmatch(text); m != nil {
		reconn, _ = strconv.ParseInt(m[1], 10, 64)
	}
	return errs, reconn
}

// window is one upgrade's timing (see Summary).
type window struct{ readyAfter, handoff float64 }

// handoffs returns, per upgrade in the log, the seconds from the spawn of
// the new binary to the old process's "upgrade: phase ready", and from
// there to its "upgrade: phase done".
func handoffs(log string) []window {
	var out []window
	spawn, ready := -1.0, -1.0
	for _, line := range strings.Split(log, "\n") {
		var e struct {
			TS  float64 `json:"ts"`
			Msg string  `json:"msg"`
		}
		if json.Unmarshal([]byte(line), &e) != nil {
			continue
		}
		switch {
		case strings.HasPrefix(e.Msg, "upgrade: phase spawn"):
			spawn = e.TS
		case strings.HasPrefix(e.Msg, "upgrade: phase ready"):
			ready = e.TS
		case strings.HasPrefix(e.Msg, "upgrade: phase done") && ready >= 0:
			w := window{handoff: e.TS - ready}
			if spawn >= 0 {
				w.readyAfter = ready - spawn
			}
			out = append(out, w)
			spawn, ready = -1, -1
		}
	}
	return out
}

func chart(path string, runs []Run) error {
	var series []harness.Series
	var marks []harness.Mark
	for _, r := range runs {
		var pts plotter.XYs
		for _, iv := range r.Intervals {
			pts = append(pts, plotter.XY{X: iv.T, Y: iv.QPS})
		}
		series = append(series, harness.Series{Name: fmt.Sprintf("QPS, %d threads", r.Threads), Points: pts})
		marks = append(marks, harness.Mark{At: r.Mark, Label: fmt.Sprintf("rwproxy upgrade (%d threads)", r.Threads)})
		if h := r.Summary; h.Handoff > 0 {
			marks = append(marks, harness.Mark{At: r.Mark + h.ReadyAfter,
				Label: fmt.Sprintf("sessions move, %.2f s (%d threads)", h.Handoff, r.Threads)})
		}
	}
	return harness.WriteTimeline(path, "sysbench oltp_read_write through rwproxy upgrades", "queries per second", series, marks)
}

func markdown(runs []Run, out string) string {
	var b strings.Builder
	b.WriteString("| threads | upgrade at | sessions wait (ready → done) | baseline QPS (median before) | lowest QPS after (at) | seconds under half the baseline | errors | reconnects |\n")
	b.WriteString("|---|---|---|---|---|---|---|---|\n")
	for _, r := range runs {
		s := r.Summary
		fmt.Fprintf(&b, "| %d | %.1f s | %.3f s | %.0f | %.0f (%.0f s) | %d | %d | %d |\n", r.Threads, r.Mark, s.Handoff,
			s.Baseline, s.Min, s.MinAt, s.DipSeconds, s.Errors, s.Reconnects)
	}
	base := filepath.Base(out)
	fmt.Fprintf(&b, "\nChart: %s-qps.png; per-second data: %s.json\n", base, base)
	return b.String()
}
