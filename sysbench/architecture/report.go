package main

import (
	"fmt"
	"os"
	"path/filepath"
	"sort"
	"strings"

	"gonum.org/v1/plot/plotter"

	"github.com/rwproxy/rwproxy/sysbench/harness"
)

// writeOutputs draws the charts into o.img and writes the markdown report
// beside the JSON result.
func writeOutputs(repo string, o *options, jsonPath string, r *Result) error {
	img := under(repo, o.img)
	if err := os.MkdirAll(img, 0o755); err != nil {
		return err
	}
	charts, err := writeCharts(img, r)
	if err != nil {
		return err
	}
	md := Markdown(r, filepath.Base(jsonPath), charts)
	mdPath := strings.TrimSuffix(jsonPath, ".json") + ".md"
	if err := os.WriteFile(mdPath, []byte(md), 0o644); err != nil {
		return err
	}
	say("report: %s; charts: %s", mdPath, strings.Join(charts, ", "))
	return nil
}

// cells aggregates the matrix runs (medians over repetitions).
func cells(r *Result) []harness.Cell {
	runs := make([]harness.Run, len(r.Runs))
	for i, x := range r.Runs {
		runs[i] = x.Run
	}
	return harness.Aggregate(runs)
}

// cellCPU is the median over a cell's repetitions of each role's CPU µs
// per query (and of the QPS and the other users' cores).
type cellCPU struct {
	us          map[string]float64
	qps, other  float64
	secondaries int
}

func medianCPU(r *Result, workload string, threads int, config string) (cellCPU, bool) {
	vals := map[string][]float64{}
	var qps, other []float64
	c := cellCPU{us: map[string]float64{}}
	for _, x := range r.Runs {
		if x.Workload != workload || x.Threads != threads || x.Target != config || !x.OK {
			continue
		}
		for k, v := range x.TierMicros() {
			vals[k] = append(vals[k], v)
		}
		qps, other = append(qps, x.QPS), append(other, x.OtherCores)
		c.secondaries = CostsOf(x).Secondaries
	}
	if len(qps) == 0 {
		return c, false
	}
	for k, v := range vals {
		c.us[k] = harness.Median(v)
	}
	c.qps, c.other = harness.Median(qps), harness.Median(other)
	return c, true
}

// runOf returns the first matrix run of a cell (its tier accounting).
func runOf(r *Result, workload string, threads int, config string) (Run, bool) {
	for _, x := range r.Runs {
		if x.Workload == workload && x.Threads == threads && x.Target == config && x.OK {
			return x, true
		}
	}
	return Run{}, false
}

func writeCharts(dir string, r *Result) ([]string, error) {
	var names []string
	cs := cells(r)
	for _, w := range r.Settings.Workloads {
		for _, m := range harness.Metrics {
			name := fmt.Sprintf("architecture-%s-%s.png", m.Key, w)
			series := harness.SeriesFor(cs, configs, w, r.Settings.Threads, m)
			title := fmt.Sprintf("%s: %s by configuration", w, m.Key)
			if err := harness.WriteChart(filepath.Join(dir, name), title, m, series, r.Settings.Threads); err != nil {
				return names, fmt.Errorf("%s: %w", name, err)
			}
			names = append(names, name)
		}
	}
	for _, f := range r.Faults {
		var qps, errs plotter.XYs
		for _, iv := range f.Run.Intervals {
			qps = append(qps, plotter.XY{X: iv.T, Y: iv.QPS})
			errs = append(errs, plotter.XY{X: iv.T, Y: iv.ErrPS})
		}
		name := fmt.Sprintf("architecture-fault-%s.png", f.Name)
		series := []harness.Series{{Name: "QPS (per second)", Points: qps}, {Name: "client errors per second", Points: errs}}
		title := fmt.Sprintf("%s through the chain (%s)", f.Name, f.Run.Workload)
		if err := harness.WriteTimeline(filepath.Join(dir, name), title, "per second", series, f.Marks); err != nil {
			return names, fmt.Errorf("%s: %w", name, err)
		}
		names = append(names, name)
	}
	return names, nil
}

// Markdown is the report: every table of the study, the charts, the model.
func Markdown(r *Result, jsonName string, charts []string) string {
	var b strings.Builder
	p := func(format string, a ...any) { fmt.Fprintf(&b, format+"\n", a...) }
	p("# Architecture study: %s", r.Started.Format("2006-01-02 15:04 UTC"))
	p("")
	p("Produced by `%s` (rwproxy %s); raw results `%s`.", r.Command, r.RWProxy, jsonName)
	if r.Interrupted {
		p("")
		p("**Interrupted: the study did not finish; what is below is what had been measured.**")
	}
	p("")
	m := r.Machine
	p("Machine: %d CPUs (%s), %.1f GB RAM, Linux %s, load average before %.2f %.2f %.2f. %s; %s; %s; %s.",
		m.Nproc, m.CPUModel, float64(m.MemTotalKB)/1048576, m.Kernel, m.LoadBefore[0], m.LoadBefore[1], m.LoadBefore[2],
		m.MySQL, m.HAProxy, m.Sysbench, m.Go)
	p("Every process — sysbench, HAProxy, three rwproxy nodes, three mysqld — shares these CPUs.")
	p("")
	s := r.Settings
	p("Runs of %d s, threads %v, %d repetition(s), %d tables × %d rows, `--db-ps-mode=auto` (prepared statements); "+
		"`oltp_read_only` with `--skip_trx=on`. Configurations: **direct** (sysbench → primary), **rwproxy** (sysbench → proxy1 → group), "+
		"**chain** (sysbench → HAProxy → proxy1..3 → group).", s.TimeSeconds, s.Threads, s.Reps, s.Tables, s.Rows)
	p("")
	qpsTable(p, r)
	cpuTable(p, r)
	secondaryTable(p, r)
	faultTable(p, r)
	modelSection(p, r)
	if len(charts) > 0 {
		p("## Charts")
		p("")
		for _, c := range charts {
			p("![%s](../../docs/img/%s)", c, c)
		}
		p("")
	}
	return b.String()
}

type printer func(format string, a ...any)

func qpsTable(p printer, r *Result) {
	cs := cells(r)
	p("## QPS and p95 by configuration")
	p("")
	p("| workload | threads | direct QPS | rwproxy QPS | chain QPS | chain / direct | direct p95 ms | rwproxy p95 ms | chain p95 ms | errors |")
	p("|---|---:|---:|---:|---:|---:|---:|---:|---:|---:|")
	for _, w := range r.Settings.Workloads {
		for _, t := range r.Settings.Threads {
			var q, l [3]float64
			var errs int64
			for i, c := range configs {
				if cell, ok := harness.FindCell(cs, w, t, c); ok && cell.OK() {
					q[i], l[i] = cell.QPS, cell.P95Ms
					errs += cell.IgnoredErrors
				}
			}
			ratio := "–"
			if q[0] > 0 {
				ratio = fmt.Sprintf("%.2f", q[2]/q[0])
			}
			p("| %s | %d | %.0f | %.0f | %.0f | %s | %.2f | %.2f | %.2f | %d |", w, t, q[0], q[1], q[2], ratio, l[0], l[1], l[2], errs)
		}
	}
	p("")
}

func cpuTable(p printer, r *Result) {
	p("## CPU per query, by tier (µs of CPU per query, from /proc/<pid>/stat)")
	p("")
	p("Medians over the repetitions. Each tier's processes summed (proxies: all three; secondaries: both). The rwproxy nodes and members")
	p("that a configuration does not use still spend their monitor and group communication CPU, counted here.")
	p("\"other\" is the machine's busy cores not used by these processes or sysbench: other users of the machine.")
	p("")
	p("| workload | threads | config | QPS | HAProxy | rwproxy | primary | secondaries | sysbench | chain total (no sysbench) | other users (cores) |")
	p("|---|---:|---|---:|---:|---:|---:|---:|---:|---:|---:|")
	for _, w := range r.Settings.Workloads {
		for _, t := range r.Settings.Threads {
			for _, c := range configs {
				x, ok := medianCPU(r, w, t, c)
				if !ok {
					continue
				}
				us := x.us
				total := us[roleLB] + us[roleProxy] + us[rolePrimary] + us[roleSecondary]
				p("| %s | %d | %s | %.0f | %.1f | %.1f | %.1f | %.1f | %.1f | %.1f | %.2f |", w, t, c, x.qps,
					us[roleLB], us[roleProxy], us[rolePrimary], us[roleSecondary], us["sysbench"], total, x.other)
			}
		}
	}
	p("")
	p("Where the reads went (chain, statements each member ran for clients: Questions delta):")
	p("")
	p("| workload | threads | %s |", strings.Join(memberNames(r), " | "))
	p("|---|---:|%s", strings.Repeat("---:|", len(memberNames(r))))
	for _, w := range r.Settings.Workloads {
		for _, t := range r.Settings.Threads {
			if x, ok := runOf(r, w, t, cfgChain); ok {
				p("| %s | %d | %s |", w, t, strings.Join(memberCells(x), " | "))
			}
		}
	}
	p("")
}

func memberNames(r *Result) []string {
	if len(r.Runs) == 0 {
		return nil
	}
	var names []string
	for _, t := range r.Runs[0].Tiers {
		if strings.HasPrefix(t.Name, "member") {
			names = append(names, t.Name+" ("+t.Role+")")
		}
	}
	return names
}

func memberCells(x Run) []string {
	var out []string
	for _, t := range x.Tiers {
		if strings.HasPrefix(t.Name, "member") {
			out = append(out, fmt.Sprint(t.Questions))
		}
	}
	return out
}

func secondaryTable(p printer, r *Result) {
	if len(r.Secondaries) == 0 {
		return
	}
	p("## Reads served by 2 and by 1 secondary (chain, %d threads)", r.Settings.SecondaryThreads)
	p("")
	p("One secondary is taken out of the reader hostgroup by setting its weight to 0 on proxy1 (spread by the cluster).")
	p("")
	p("| workload | secondaries | QPS | p95 ms | secondaries µs/query | rwproxy µs/query | %s |", strings.Join(memberNames(r), " | "))
	p("|---|---|---:|---:|---:|---:|%s", strings.Repeat("---:|", len(memberNames(r))))
	for _, x := range r.Secondaries {
		us := x.TierMicros()
		p("| %s | %s | %.0f | %.2f | %.1f | %.1f | %s |", x.Workload, x.Label, x.QPS, x.P95Ms, us[roleSecondary], us[roleProxy],
			strings.Join(memberCells(x), " | "))
	}
	p("")
}

func faultTable(p printer, r *Result) {
	if len(r.Faults) == 0 {
		return
	}
	p("## Faults during a run (chain, 8 client threads, %d s, fault at ~%d s)", r.Settings.FaultSeconds, r.Settings.FaultAt)
	p("")
	p("The load of these runs is the study's own client (sysbench/architecture/loadgen.go), not sysbench: sysbench 1.0.20")
	p("with Debian's libmariadb3 dies with SIGSEGV when a connection it would reconnect is cut. read_write: BEGIN, 10 point")
	p("selects, an UPDATE, COMMIT (13 statements); read_only: 10 autocommit point selects. A failed event counts one")
	p("client error and the thread goes on (with a new connection when its own was cut).")
	p("HAProxy health check: %s.", r.Settings.HAProxyCheck)
	p("")
	p("| fault | load | baseline QPS | client errors | errors from – to (s) | seconds below half | back at ≥ 80%% after (s) | run QPS |")
	p("|---|---|---:|---:|---|---:|---:|---:|")
	for _, f := range r.Faults {
		tl := f.Timeline
		window := "none"
		if tl.FirstErrorAt > 0 {
			window = fmt.Sprintf("%.0f – %.0f", tl.FirstErrorAt, tl.LastErrorAt)
		}
		rec := fmt.Sprintf("%.0f", tl.RecoveredAfter)
		switch {
		case tl.RecoveredAfter == 0:
			rec = "no dip"
		case tl.RecoveredAfter < 0:
			rec = "not within the run"
		}
		p("| %s | %s | %.0f | %d | %s | %d | %s | %.0f |", f.Name, f.Run.Workload, tl.BaselineQPS,
			f.Run.IgnoredErrors, window, tl.LowSeconds, rec, f.Run.QPS)
	}
	p("")
	for _, f := range r.Faults {
		p("- **%s**: %s. %s", f.Name, f.Title, strings.Join(append(f.Notes, f.Run.Fatal...), "; "))
		if w := f.Writer; w != nil {
			p("  - write-log client through HAProxy (one autocommit INSERT every 5 ms): %d acknowledged, %d failed "+
				"(first error: %q); **%d acknowledged writes lost** (checked on the new primary member%d, %d rows there); "+
				"longest gap between two acknowledged writes %.2f s (ended at t=%.1f s); member%d rejoined in %.0f s.",
				w.Acked, w.Failed, w.FirstErr, w.Lost, w.NewPrimary, w.OnServer, w.StallSeconds, w.StallEndedAt, w.OldPrimary, w.RejoinSecs)
		}
	}
	p("")
}

// modelCosts picks, per workload, the chain cell with the highest median
// QPS, and its median costs.
func modelCosts(r *Result) map[string]Costs {
	out := map[string]Costs{}
	for _, w := range r.Settings.Workloads {
		for _, t := range r.Settings.Threads {
			x, ok := medianCPU(r, w, t, cfgChain)
			if !ok {
				continue
			}
			if c, seen := out[w]; !seen || x.qps > c.QPS {
				out[w] = Costs{Workload: w, Threads: t, QPS: x.qps, LB: x.us[roleLB], Proxy: x.us[roleProxy],
					Primary: x.us[rolePrimary], Secondary: x.us[roleSecondary], Secondaries: x.secondaries}
			}
		}
	}
	return out
}

// modelVariant is one set of model constants.
type modelVariant struct {
	name  string
	costs map[string]Costs
}

// modelVariants: the costs measured through the chain, and lower bounds
// from the same thread count: rwproxy's cost when one node carries the whole
// load, and the servers' cost of a statement sysbench sends them directly.
func modelVariants(r *Result) []modelVariant {
	chain := modelCosts(r)
	low := map[string]Costs{}
	for w, c := range chain {
		px, ok1 := medianCPU(r, w, c.Threads, cfgProxy)
		dir, ok2 := medianCPU(r, w, c.Threads, cfgDirect)
		if !ok1 || !ok2 {
			continue
		}
		l := c
		l.Proxy = px.us[roleProxy]
		if w == "oltp_read_write" {
			l.Primary, l.Secondary = dir.us[rolePrimary], dir.us[roleSecondary]
		} else {
			l.Secondary = dir.us[rolePrimary] // a read served directly, by the member that runs it
		}
		low[w] = l
	}
	return []modelVariant{{"as measured through the chain", chain}, {"lower bounds (one rwproxy carrying the load; servers' cost of a direct statement)", low}}
}

func modelSection(p printer, r *Result) {
	vs := modelVariants(r)
	if len(vs[0].costs) == 0 {
		return
	}
	p("## Model constants (per workload, the chain cell with the highest QPS; µs of CPU per query)")
	p("")
	p("c_secondaries is the secondaries' CPU per query (each read runs on one of them; for oltp_read_write it is what")
	p("they spend applying the primary's changes, summed over the %d).", vs[0].costs["oltp_read_write"].Secondaries)
	p("")
	p("| constants | workload | threads | QPS | c_lb | c_proxy | c_primary | c_secondaries |")
	p("|---|---|---:|---:|---:|---:|---:|---:|")
	for _, v := range vs {
		ws := make([]string, 0, len(v.costs))
		for w := range v.costs {
			ws = append(ws, w)
		}
		sort.Strings(ws)
		for _, w := range ws {
			c := v.costs[w]
			p("| %s | %s | %d | %.0f | %.1f | %.1f | %.1f | %.1f |", v.name, w, c.Threads, c.QPS, c.LB, c.Proxy, c.Primary, c.Secondary)
		}
	}
	p("")
	for _, v := range vs {
		rd, okR := v.costs["oltp_point_select"]
		wr, okW := v.costs["oltp_read_write"]
		if !okR {
			continue
		}
		p("### Projection, %s: point selects (f = 1), one 2-core machine per process", v.name)
		p("")
		p("QPS (bottleneck) by secondaries (rows) and rwproxy nodes (columns), one HAProxy:")
		p("")
		p("| secondaries | 1 proxy | 2 proxies | 3 proxies | 4 proxies |")
		p("|---:|---|---|---|---|")
		for _, n := range []int{1, 2, 3, 4, 6, 8} {
			row := fmt.Sprintf("| %d |", n)
			for pn := 1; pn <= 4; pn++ {
				pr := Project(rd, Costs{}, 1, Shape{L: 1, P: pn, N: n, Cores: 2})
				row += fmt.Sprintf(" %.0f (%s) |", pr.QPS, pr.Bottleneck)
			}
			p("%s", row)
		}
		p("")
		if okW {
			pr := Project(rd, wr, 0, Shape{L: 1, P: 3, N: 2, Cores: 2})
			p("oltp_read_write (every statement in a transaction, f = 0): %.0f QPS, bound by the %s whatever the number "+
				"of secondaries and proxies (capacities: %s).", pr.QPS, pr.Bottleneck, capacities(pr))
			p("")
		}
	}
}

func capacities(pr Projection) string {
	var parts []string
	for _, t := range []string{roleLB, roleProxy, rolePrimary, roleSecondary} {
		if c, ok := pr.Capacity[t]; ok {
			parts = append(parts, fmt.Sprintf("%s %.0f", t, c))
		}
	}
	return strings.Join(parts, ", ")
}
