package harness

import "fmt"

// The targets rwproxy is judged by, all against the relay (the floor: a
// TCP relay that understands nothing) on oltp_point_select.
const (
	TargetWorkload     = "oltp_point_select"
	QPSThreads         = 8
	MinQPSRatio        = 0.95 // rwproxy QPS / relay QPS
	CPUThreads         = 8
	MaxExtraCPUMicros  = 5.0 // rwproxy CPU per query - relay's, µs
	LatencyThreads     = 1
	MaxExtraP95Micros  = 20.0 // rwproxy p95 - relay p95, µs
	verdictNotMeasured = "not measured"
)

// Verdict is one target: met, missed by how much, or not measured.
type Verdict struct {
	Name     string `json:"name"`
	Goal     string `json:"goal"`
	Measured bool   `json:"measured"`
	Met      bool   `json:"met"`
	Value    string `json:"value"`  // what was measured
	Detail   string `json:"detail"` // "met by ..." / "missed by ..."
}

// Verdicts checks the three targets on the cells.
func Verdicts(cells []Cell) []Verdict {
	return []Verdict{qpsVerdict(cells), cpuVerdict(cells), latencyVerdict(cells)}
}

func pair(cells []Cell, threads int) (relay, proxy Cell, ok bool) {
	relay, ok1 := FindCell(cells, TargetWorkload, threads, Relay)
	proxy, ok2 := FindCell(cells, TargetWorkload, threads, RWProxy)
	return relay, proxy, ok1 && ok2 && relay.OK() && proxy.OK()
}

func qpsVerdict(cells []Cell) Verdict {
	v := Verdict{Name: fmt.Sprintf("%s QPS at %d threads", TargetWorkload, QPSThreads),
		Goal: fmt.Sprintf("rwproxy >= %.0f%% of relay", MinQPSRatio*100), Detail: verdictNotMeasured}
	relay, proxy, ok := pair(cells, QPSThreads)
	if !ok || relay.QPS <= 0 {
		return v
	}
	ratio := proxy.QPS / relay.QPS
	v.Measured, v.Met = true, ratio >= MinQPSRatio
	v.Value = fmt.Sprintf("rwproxy %s vs relay %s QPS = %.1f%%", thousands(proxy.QPS), thousands(relay.QPS), ratio*100)
	if rr, ok := FindCell(cells, TargetWorkload, QPSThreads, ReplicaRelay); ok && rr.OK() && rr.QPS > 0 {
		v.Value += fmt.Sprintf(" (relay to the replicas %s QPS: rwproxy = %.1f%% of it)", thousands(rr.QPS), proxy.QPS/rr.QPS*100)
	}
	gap := (ratio - MinQPSRatio) * 100
	if v.Met {
		v.Detail = fmt.Sprintf("met, %.1f points above the %.0f%% line", gap, MinQPSRatio*100)
	} else {
		need := MinQPSRatio*relay.QPS - proxy.QPS
		v.Detail = fmt.Sprintf("missed by %.1f points (%s QPS short)", -gap, thousands(need))
	}
	return v
}

func cpuVerdict(cells []Cell) Verdict {
	v := Verdict{Name: fmt.Sprintf("CPU per point select (%d threads)", CPUThreads),
		Goal: fmt.Sprintf("rwproxy <= relay + %.0f µs", MaxExtraCPUMicros), Detail: verdictNotMeasured}
	relay, proxy, ok := pair(cells, CPUThreads)
	if !ok || !relay.HasCPU || !proxy.HasCPU {
		return v
	}
	extra := proxy.CPUMicros - relay.CPUMicros
	v.Measured, v.Met = true, extra <= MaxExtraCPUMicros
	v.Value = fmt.Sprintf("rwproxy %.1f µs vs relay %.1f µs (%+.1f µs)", proxy.CPUMicros, relay.CPUMicros, extra)
	v.Detail = overUnder(v.Met, extra-MaxExtraCPUMicros, "µs")
	return v
}

func latencyVerdict(cells []Cell) Verdict {
	v := Verdict{Name: fmt.Sprintf("added p95 latency at %d thread", LatencyThreads),
		Goal: fmt.Sprintf("rwproxy p95 <= relay p95 + %.0f µs", MaxExtraP95Micros), Detail: verdictNotMeasured}
	relay, proxy, ok := pair(cells, LatencyThreads)
	if !ok {
		return v
	}
	extra := (proxy.P95Ms - relay.P95Ms) * 1000
	v.Measured, v.Met = true, extra <= MaxExtraP95Micros
	v.Value = fmt.Sprintf("rwproxy %.0f µs vs relay %.0f µs (%+.0f µs)", proxy.P95Ms*1000, relay.P95Ms*1000, extra)
	v.Detail = overUnder(v.Met, extra-MaxExtraP95Micros, "µs")
	return v
}

func overUnder(met bool, over float64, unit string) string {
	if met {
		return fmt.Sprintf("met, %.1f %s to spare", -over, unit)
	}
	return fmt.Sprintf("missed by %.1f %s", over, unit)
}
