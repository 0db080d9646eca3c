package harness

import "sort"

// Cell sums up the repetitions of one (workload, threads, target): medians
// of the runs that finished, sums of errors, and every fatal message.
type Cell struct {
	Workload  string  `json:"workload"`
	Threads   int     `json:"threads"`
	Target    string  `json:"target"`
	Runs      int     `json:"runs"`
	Failed    int     `json:"failed"`
	QPS       float64 `json:"qps"`
	QPSMin    float64 `json:"qps_min"`
	QPSMax    float64 `json:"qps_max"`
	TPS       float64 `json:"tps"`
	P95Ms     float64 `json:"p95_ms"`
	P99Ms     float64 `json:"p99_ms"`
	HasCPU    bool    `json:"has_cpu"`
	CPUMicros float64 `json:"cpu_us_per_query"`
	// ServersCPUMicros is the median of the runs' ServersCPUMicros.
	ServersCPUMicros float64  `json:"servers_cpu_us_per_query"`
	PeakRSSKB        int64    `json:"peak_rss_kb"`
	IgnoredErrors    int64    `json:"ignored_errors"`
	Reconnects       int64    `json:"reconnects"`
	Fatal            []string `json:"fatal,omitempty"`
	// Stmt is the median per-statement counters of the target's process
	// (HasStmt false when none was read); Wire the median of the runs'
	// server traffic per query (HasWire).
	HasStmt bool         `json:"has_per_statement,omitempty"`
	Stmt    PerStatement `json:"per_statement"`
	HasWire bool         `json:"has_wire,omitempty"`
	Wire    Wire         `json:"wire"`
}

// OK is true when at least one run of the cell finished.
func (c Cell) OK() bool { return c.Runs > c.Failed }

type cellKey struct {
	w string
	t int
	g string
}

// Aggregate groups runs into cells, in the order the cells first appear.
func Aggregate(runs []Run) []Cell {
	var order []cellKey
	groups := map[cellKey][]Run{}
	for _, r := range runs {
		k := cellKey{r.Workload, r.Threads, r.Target}
		if _, seen := groups[k]; !seen {
			order = append(order, k)
		}
		groups[k] = append(groups[k], r)
	}
	cells := make([]Cell, 0, len(order))
	for _, k := range order {
		cells = append(cells, makeCell(k, groups[k]))
	}
	return cells
}

func makeCell(k cellKey, runs []Run) Cell {
	c := Cell{Workload: k.w, Threads: k.t, Target: k.g, Runs: len(runs)}
	var qps, tps, p95, p99, cpu, servers []float64
	for _, r := range runs {
		c.IgnoredErrors += r.IgnoredErrors
		c.Reconnects += r.Reconnects
		c.Fatal = appendNew(c.Fatal, r.Fatal...)
		if !r.OK {
			c.Failed++
			continue
		}
		qps, tps = append(qps, r.QPS), append(tps, r.TPS)
		p95, p99 = append(p95, r.P95Ms), append(p99, r.P99Ms)
		servers = append(servers, r.ServersCPUMicros)
		if r.Proc != nil {
			cpu = append(cpu, r.Proc.CPUMicrosPerQuery)
			c.PeakRSSKB = max(c.PeakRSSKB, r.Proc.PeakRSSKB)
		}
	}
	c.QPS, c.QPSMin, c.QPSMax = Median(qps), minOf(qps), maxOf(qps)
	c.TPS, c.P95Ms, c.P99Ms = Median(tps), Median(p95), Median(p99)
	c.HasCPU, c.CPUMicros = len(cpu) > 0, Median(cpu)
	c.ServersCPUMicros = Median(servers)
	c.HasStmt, c.Stmt = medianStmt(runs)
	c.HasWire, c.Wire = medianWire(runs)
	return c
}

// FindCell returns the cell of (workload, threads, target).
func FindCell(cells []Cell, workload string, threads int, target string) (Cell, bool) {
	for _, c := range cells {
		if c.Workload == workload && c.Threads == threads && c.Target == target {
			return c, true
		}
	}
	return Cell{}, false
}

// Median of xs (mean of the middle two for an even count); 0 when empty.
func Median(xs []float64) float64 {
	if len(xs) == 0 {
		return 0
	}
	s := append([]float64(nil), xs...)
	sort.Float64s(s)
	m := len(s) / 2
	if len(s)%2 == 1 {
		return s[m]
	}
	return (s[m-1] + s[m]) / 2
}

func minOf(xs []float64) float64 {
	if len(xs) == 0 {
		return 0
	}
	m := xs[0]
	for _, x := range xs[1:] {
		m = min(m, x)
	}
	return m
}

func maxOf(xs []float64) float64 {
	m := 0.0
	for _, x := range xs {
		m = max(m, x)
	}
	return m
}

func appendNew(list []string, items ...string) []string {
	for _, it := range items {
		found := false
		for _, l := range list {
			found = found || l == it
		}
		if !found {
			list = append(list, it)
		}
	}
	return list
}

func medianStmt(runs []Run) (bool, PerStatement) {
	var u, s, v, n []float64
	for _, r := range runs {
		if r.OK && r.Proc != nil && r.Proc.Stmt != nil {
			st := r.Proc.Stmt
			u, s = append(u, st.UserMicros), append(s, st.SysMicros)
			v, n = append(v, st.VolCSPerQuery), append(n, st.InvCSPerQuery)
		}
	}
	return len(u) > 0, PerStatement{UserMicros: Median(u), SysMicros: Median(s), VolCSPerQuery: Median(v), InvCSPerQuery: Median(n)}
}

func medianWire(runs []Run) (bool, Wire) {
	var to, from []float64
	for _, r := range runs {
		if r.OK && r.Wire != nil {
			to, from = append(to, r.Wire.ToServersPerQuery), append(from, r.Wire.FromServersPerQuery)
		}
	}
	return len(to) > 0, Wire{ToServersPerQuery: Median(to), FromServersPerQuery: Median(from)}
}
