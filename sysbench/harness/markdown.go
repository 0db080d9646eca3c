package harness

import (
	"fmt"
	"strings"
)

// Markdown renders the report. charts maps a workload to image paths
// (relative to the markdown file) shown under its table; nil shows none.
func Markdown(r *Report, charts map[string][]string) string {
	var b strings.Builder
	mdHeader(&b, r)
	mdVerdicts(&b, r)
	for _, w := range r.Config.Workloads {
		mdWorkload(&b, r, w, charts[w])
		mdPerStatement(&b, r, w)
	}
	mdIdle(&b, r)
	mdIdlePeers(&b, r)
	mdMux(&b, r)
	mdErrors(&b, r)
	mdMethod(&b, r)
	return b.String()
}

func mdHeader(b *strings.Builder, r *Report) {
	fmt.Fprintf(b, "# sysbench: %s\n\n", strings.Join(r.TargetNames(), " vs "))
	state := ""
	if r.Interrupted {
		state = " (interrupted: partial results)"
	}
	fmt.Fprintf(b, "Run %s to %s, %d sysbench runs%s.\n\n", r.Started.UTC().Format("2006-01-02 15:04:05"),
		r.Finished.UTC().Format("15:04:05 UTC"), len(r.Runs), state)
	m, c := r.Machine, r.Config
	fmt.Fprintf(b, "- Machine: %d × %s, %s RAM, Linux %s; %s; %s\n", m.Nproc, m.CPUModel,
		gib(m.MemTotalKB), m.Kernel, m.MariaDB, m.Sysbench)
	fmt.Fprintf(b, "- Settings: %d s per run (warm-up %d s per target first), %d tables × %d rows, --db-ps-mode=%s, %d rep(s) per cell, threads %s\n",
		c.TimeSeconds, c.WarmupSeconds, c.Tables, c.Rows, c.PSMode, c.Reps, joinInts(c.Threads))
	fmt.Fprintf(b, "- Order: interleaved; every cell runs %s back to back\n", strings.Join(r.TargetNames(), ", "))
	if c.PinnedReplicas {
		b.WriteString("- Replicas pinned: each replica's mariadbd ran on a CPU of its own (`-pin-replicas`); the primary, sysbench and the proxies were not pinned\n")
	}
	fmt.Fprintf(b, "- Load: %s\n", loadSummary(r))
	if r.RWProxy != "" {
		fmt.Fprintf(b, "- rwproxy: %s\n", r.RWProxy)
	}
	if r.Command != "" {
		fmt.Fprintf(b, "- Command: `%s`\n", r.Command)
	}
	for _, t := range r.Targets {
		fmt.Fprintf(b, "- %s: %s (%s)\n", t.Name, t.Addr, t.Kind)
	}
	b.WriteString("\n")
}

func loadSummary(r *Report) string {
	if len(r.Runs) == 0 {
		return "no runs"
	}
	lo, hi, other, otherMax := r.Runs[0].LoadAvg1, 0.0, 0.0, 0.0
	for _, run := range r.Runs {
		lo, hi = min(lo, run.LoadAvg1), max(hi, run.LoadAvg1)
		other += run.OtherCores
		otherMax = max(otherMax, run.OtherCores)
	}
	lb := r.Machine.LoadBefore
	return fmt.Sprintf("1-min load average %.2f before the sandbox started, %.2f–%.2f at the start of the runs; "+
		"CPU used by processes other than this benchmark's: %.2f cores on average during runs (max %.2f)",
		lb[0], lo, hi, other/float64(len(r.Runs)), otherMax)
}

func mdVerdicts(b *strings.Builder, r *Report) {
	b.WriteString("## Targets\n\n| target | goal | measured | verdict |\n| --- | --- | --- | --- |\n")
	for _, v := range r.Verdicts {
		verdict := "**MET**: " + v.Detail
		if !v.Measured {
			verdict = v.Detail
		} else if !v.Met {
			verdict = "**MISSED**: " + v.Detail
		}
		fmt.Fprintf(b, "| %s | %s | %s | %s |\n", v.Name, v.Goal, v.Value, verdict)
	}
	b.WriteString("\n")
}

func joinInts(xs []int) string {
	s := make([]string, len(xs))
	for i, x := range xs {
		s[i] = fmt.Sprint(x)
	}
	return strings.Join(s, ",")
}
