package harness

import (
	"fmt"
	"slices"
	"strings"
)

// mdWorkload writes one table: a row per thread count, columns per target.
func mdWorkload(b *strings.Builder, r *Report, w string, charts []string) {
	names, procs := r.TargetNames(), procTargets(r)
	hdr := []string{"threads"}
	for _, n := range names {
		hdr = append(hdr, "QPS "+n)
	}
	if hasRatio(names) {
		hdr = append(hdr, "rwproxy/relay")
	}
	if slices.Contains(names, ReplicaRelay) {
		hdr = append(hdr, "rwproxy/relay-replicas")
	}
	peerQPS, peerCPU := ratioHeaders(r)
	hdr = append(hdr, peerQPS...)
	all := strings.Join(initials(names), "/")
	hdr = append(hdr, "p95 ms "+all, "p99 ms "+all)
	for _, n := range procs {
		hdr = append(hdr, "CPU µs/q "+n)
	}
	hdr = append(hdr, peerCPU...)
	hdr = append(hdr, "servers' CPU µs/q "+all)
	hdr = append(hdr, "peak RSS MiB "+strings.Join(procs, "/"), "errors "+all)
	fmt.Fprintf(b, "## %s\n\n| %s |\n|%s\n", w, strings.Join(hdr, " | "), strings.Repeat(" ---: |", len(hdr)))
	for _, t := range r.Config.Threads {
		fmt.Fprintf(b, "| %s |\n", strings.Join(mdRow(r, w, t, names, procs), " | "))
	}
	b.WriteString("\n")
	for _, c := range charts {
		fmt.Fprintf(b, "![%s](%s)\n", c, c)
	}
	if len(charts) > 0 {
		b.WriteString("\n")
	}
}

func mdRow(r *Report, w string, t int, names, procs []string) []string {
	cell := func(n string) (Cell, bool) { return FindCell(r.Cells, w, t, n) }
	row := []string{fmt.Sprint(t)}
	for _, n := range names {
		row = append(row, show(cell(n))(func(c Cell) string { return thousands(c.QPS) }))
	}
	if hasRatio(names) {
		row = append(row, ratio(cell(Relay))(cell(RWProxy)))
	}
	if slices.Contains(names, ReplicaRelay) {
		row = append(row, ratio(cell(ReplicaRelay))(cell(RWProxy)))
	}
	peerQPS, peerCPU := peerRatioCells(r, w, t)
	row = append(row, peerQPS...)
	var p95, p99, cpu, servers, rss, errs []string
	for _, n := range names {
		c, ok := cell(n)
		p95 = append(p95, show(c, ok)(func(c Cell) string { return ms3(c.P95Ms) }))
		servers = append(servers, show(c, ok && c.ServersCPUMicros > 0)(func(c Cell) string { return fmt.Sprintf("%.1f", c.ServersCPUMicros) }))
		p99 = append(p99, show(c, ok)(func(c Cell) string { return ms3(c.P99Ms) }))
		errs = append(errs, errText(c, ok))
	}
	for _, n := range procs {
		c, ok := cell(n)
		cpu = append(cpu, show(c, ok && c.HasCPU)(func(c Cell) string { return fmt.Sprintf("%.1f", c.CPUMicros) }))
		rss = append(rss, show(c, ok && c.HasCPU)(func(c Cell) string { return mib(c.PeakRSSKB) }))
	}
	row = append(row, slash(p95), slash(p99))
	row = append(row, cpu...)
	row = append(row, peerCPU...)
	return append(row, slash(servers), slash(rss), slash(errs))
}

// show renders a cell value, "–" when the cell is missing and FAIL when
// none of its runs finished.
func show(c Cell, ok bool) func(func(Cell) string) string {
	return func(f func(Cell) string) string {
		switch {
		case !ok:
			return "–"
		case !c.OK():
			return "FAIL"
		}
		return f(c)
	}
}

func ratio(relay Cell, okR bool) func(Cell, bool) string {
	return func(proxy Cell, okP bool) string {
		if !okR || !okP || !relay.OK() || !proxy.OK() || relay.QPS == 0 {
			return "–"
		}
		return fmt.Sprintf("%.2f", proxy.QPS/relay.QPS)
	}
}

func errText(c Cell, ok bool) string {
	if !ok {
		return "–"
	}
	s := fmt.Sprint(c.IgnoredErrors)
	if c.Reconnects > 0 {
		s += fmt.Sprintf("+%dr", c.Reconnects)
	}
	if c.Failed > 0 {
		s += fmt.Sprintf(" FAIL×%d", c.Failed)
	}
	return s
}

func hasRatio(names []string) bool {
	var r, p bool
	for _, n := range names {
		r, p = r || n == Relay, p || n == RWProxy
	}
	return r && p
}

// procTargets are the targets whose process CPU is measured (not direct).
func procTargets(r *Report) []string {
	var out []string
	for _, t := range r.Targets {
		if t.Kind != Direct {
			out = append(out, t.Name)
		}
	}
	return out
}

// initials shortens the built-in names for slash-joined headers.
func initials(names []string) []string {
	short := map[string]string{Direct: "d", Relay: "r", RWProxy: "p", ReplicaRelay: "rr"}
	out := make([]string, len(names))
	for i, n := range names {
		out[i] = n
		if s, ok := short[n]; ok {
			out[i] = s
		}
	}
	return out
}
