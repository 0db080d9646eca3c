package harness

import (
	"fmt"
	"strings"
)

// mdErrors lists every fatal sysbench message by cell.
func mdErrors(b *strings.Builder, r *Report) {
	var lines []string
	for _, c := range r.Cells {
		for _, f := range c.Fatal {
			lines = append(lines, fmt.Sprintf("- %s, %d threads, %s (%d of %d runs failed): `%s`",
				c.Workload, c.Threads, c.Target, c.Failed, c.Runs, strings.ReplaceAll(f, "`", "'")))
		}
	}
	b.WriteString("## Failed runs\n\n")
	if len(lines) == 0 {
		b.WriteString("None: every run finished.\n\n")
		return
	}
	b.WriteString(strings.Join(lines, "\n") + "\n\n")
}

const methodText = `## How the numbers are made

- d / r / p / rr in the headers: direct to the primary, through the relay (to the primary), through rwproxy
  (reads to the two replicas), through the relay to the replicas (read-only workloads only; each connection to
  the next replica in turn); extra targets by name.
- QPS and TPS are sysbench's own totals divided by the run time. A cell with several repetitions shows the median.
- p95 and p99 are computed from sysbench's latency histogram (--histogram=on), by the rule sysbench uses for its
  --percentile figure: the first bucket where the running count reaches round(events × p / 100). The buckets are
  logarithmic, about 1.8% apart, so a latency is known to within about ±1%; the p95 matches sysbench's own
  95th-percentile line (which is printed to 0.01 ms only).
- CPU µs/q is the utime+stime delta of the relay's or rwproxy's process (/proc/<pid>/stat, all threads) over the
  run divided by sysbench's query count. The clock tick is 10 ms, so it is coarse for short runs at low QPS.
- servers' CPU µs/q is the same delta summed over the three mariadbd processes: what each path's queries cost the
  servers.
- peak RSS is VmHWM from /proc/<pid>/status, reset at the start of each run by writing 5 to /proc/<pid>/clear_refs.
- errors: sysbench's "ignored errors" (by default only deadlocks 1213, 1020 and lock wait timeouts 1205, which it
  retries), "+Nr" reconnects, and FAIL×N for runs that stopped on a fatal error (listed under Failed runs).
- Load: 2 cores run sysbench, three mariadbd and the proxies at once, so every run is CPU bound. Compare targets
  within a row (they ran back to back) rather than rows or runs taken at different times.
`

func mdMethod(b *strings.Builder, _ *Report) { b.WriteString(methodText + peersMethodText) }
