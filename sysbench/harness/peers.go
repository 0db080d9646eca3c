package harness

import (
	"fmt"
	"slices"
	"strconv"
	"strings"
	"time"
)

// Mux is the multiplexing measurement: Clients client connections opened
// through each proxy, each running one statement per round (Rounds rounds,
// a few at a time) and otherwise idle; the backend connections the proxy
// held, counted on the servers (information_schema.PROCESSLIST rows of the
// client user summed over the three servers, so neither the proxies'
// monitor connections nor the harness's own count, and of those only the
// rows whose client port is one of the proxy's sockets, so another proxy's
// pool on the same servers does not count).
type Mux struct {
	Clients int `json:"clients"`
	Rounds  int `json:"rounds"`
	// Reps is how many times the measurement ran (rwproxy and ProxySQL
	// started afresh before each); Proxies holds each
	// proxy's median run by BackendPeak (absent from older results: 1).
	Reps    int        `json:"reps,omitempty"`
	Proxies []MuxProxy `json:"proxies"`
}

// MedianMux is the run of runs (one proxy's) with the median BackendPeak
// (the lower of the two middle ones for an even count), with Peaks set to
// every run's BackendPeak in run order.
func MedianMux(runs []MuxProxy) MuxProxy {
	if len(runs) == 0 {
		return MuxProxy{}
	}
	peaks := make([]int, len(runs))
	for i, r := range runs {
		peaks[i] = r.BackendPeak
	}
	sorted := slices.Clone(runs)
	slices.SortStableFunc(sorted, func(a, b MuxProxy) int { return a.BackendPeak - b.BackendPeak })
	m := sorted[(len(sorted)-1)/2]
	m.Peaks = peaks
	return m
}

// MuxProxy is one proxy's part of the multiplexing measurement.
type MuxProxy struct {
	Target     string `json:"target"`
	Opened     int    `json:"opened"`
	Statements int64  `json:"statements"`
	Errors     int64  `json:"errors"`
	// BackendPeak is the most backend connections seen while the rounds
	// ran (sampled every 250 ms); BackendIdle after the last round, with
	// every client still open and idle.
	BackendPeak int `json:"backend_peak"`
	BackendIdle int `json:"backend_idle"`
	// BackendLogin is the backend connections held once every client had
	// logged in, before the first round; PeakByServer the most seen on
	// each server (primary, replica, replica; not necessarily at the same
	// moment) and IdleByServer BackendIdle per server (absent from older
	// results).
	BackendLogin int `json:"backend_login,omitempty"`
	// Peaks is BackendPeak of every run, in run order, when the
	// measurement was repeated (MedianMux).
	Peaks        []int  `json:"peaks,omitempty"`
	PeakByServer [3]int `json:"peak_by_server,omitzero"`
	IdleByServer [3]int `json:"idle_by_server,omitzero"`
	// Reads and Updates count the statements of each kind, ReadTime and
	// UpdateTime add up their latencies as the clients saw them, and Wall
	// is how long the rounds took: by Little's law UpdateTime/Wall is how
	// many UPDATEs were in flight on average, each holding a connection to
	// the primary (absent from older results).
	Reads      int64         `json:"reads,omitempty"`
	Updates    int64         `json:"updates,omitempty"`
	ReadTime   time.Duration `json:"read_time_ns,omitempty"`
	UpdateTime time.Duration `json:"update_time_ns,omitempty"`
	Wall       time.Duration `json:"wall_ns,omitempty"`
}

// mean is total/n in milliseconds (0 when n is 0).
func mean(total time.Duration, n int64) float64 {
	if n <= 0 {
		return 0
	}
	return float64(total) / float64(n) / float64(time.Millisecond)
}

// InFlight is how many statements of a kind (total latency) were in
// flight on average over the rounds (Little's law).
func (m MuxProxy) InFlight(total time.Duration) float64 {
	if m.Wall <= 0 {
		return 0
	}
	return float64(total) / float64(m.Wall)
}

// PerClient is backend connections per open client (peak).
func (m MuxProxy) PerClient() float64 {
	if m.Opened <= 0 {
		return 0
	}
	return float64(m.BackendPeak) / float64(m.Opened)
}

// peerTargets are the peers the harness started (by kind: an extra
// target may carry the same name), ProxySQL first, when rwproxy ran too.
func peerTargets(r *Report) []string {
	if !slices.Contains(r.TargetNames(), RWProxy) {
		return nil
	}
	var out []string
	for _, kind := range []string{ProxySQL, HAProxy} {
		for _, t := range r.Targets {
			if t.Kind == kind {
				out = append(out, t.Name)
			}
		}
	}
	return out
}

// ratioHeaders lists the ratio headers for the peers present.
func ratioHeaders(r *Report) (qps, cpu []string) {
	for _, p := range peerTargets(r) {
		qps = append(qps, "rwproxy/"+p)
		cpu = append(cpu, "CPU/q rwproxy/"+p)
	}
	return qps, cpu
}

// peerRatioCells renders the peers' ratio cells of one row: QPS ratios
// (rwproxy / peer: above 1 is rwproxy ahead) and CPU per query ratios
// (below 1 is rwproxy cheaper).
func peerRatioCells(r *Report, w string, t int) (qps, cpu []string) {
	px, okX := FindCell(r.Cells, w, t, RWProxy)
	for _, p := range peerTargets(r) {
		pc, okP := FindCell(r.Cells, w, t, p)
		qps = append(qps, ratio(pc, okP)(px, okX))
		c := "–"
		if okX && okP && px.OK() && pc.OK() && px.HasCPU && pc.HasCPU && pc.CPUMicros > 0 {
			c = fmt.Sprintf("%.2f", px.CPUMicros/pc.CPUMicros)
		}
		cpu = append(cpu, c)
	}
	return qps, cpu
}

// mdPerStatement writes a workload's per-statement table: for each
// thread count and target, the proxy process's CPU split into user and
// system time, its context switches, and the servers' traffic per query.
func mdPerStatement(b *strings.Builder, r *Report, w string) {
	var rows []string
	for _, t := range r.Config.Threads {
		for _, n := range r.TargetNames() {
			c, ok := FindCell(r.Cells, w, t, n)
			if !ok || !c.OK() || (!c.HasStmt && !c.HasWire) {
				continue
			}
			row := []string{fmt.Sprint(t), n, "–", "–", "–", "–", "–", "–", "–"}
			if c.HasCPU {
				row[2] = fmt.Sprintf("%.1f", c.CPUMicros)
			}
			if c.HasStmt {
				s := c.Stmt
				row[3], row[4] = fmt.Sprintf("%.1f", s.UserMicros), fmt.Sprintf("%.1f", s.SysMicros)
				row[5], row[6] = fmt.Sprintf("%.2f", s.VolCSPerQuery), fmt.Sprintf("%.2f", s.InvCSPerQuery)
			}
			if c.HasWire {
				row[7], row[8] = fmt.Sprintf("%.0f", c.Wire.ToServersPerQuery), fmt.Sprintf("%.0f", c.Wire.FromServersPerQuery)
			}
			rows = append(rows, "| "+strings.Join(row, " | ")+" |")
		}
	}
	if len(rows) == 0 {
		return
	}
	fmt.Fprintf(b, "### %s: per statement\n\n", w)
	b.WriteString("| threads | target | CPU µs/q | user µs/q | sys µs/q | voluntary cs/q | involuntary cs/q | bytes to servers/q | bytes from servers/q |\n")
	b.WriteString("| ---: | --- | ---: | ---: | ---: | ---: | ---: | ---: | ---: |\n")
	b.WriteString(strings.Join(rows, "\n") + "\n\n")
}

// mdIdlePeers adds the peers' idle-connection memory beside rwproxy's.
func mdIdlePeers(b *strings.Builder, r *Report) {
	if len(r.IdlePeers) == 0 {
		return
	}
	b.WriteString("### Idle client connections: rwproxy and its peers\n\n")
	b.WriteString("| proxy | clients open | RSS before | with them open | after they closed | per idle client | 3 s after the logins |\n| --- | ---: | ---: | ---: | ---: | ---: | ---: |\n")
	all := append([]Idle(nil), r.IdlePeers...)
	if r.Idle != nil {
		all = append([]Idle{*r.Idle}, all...)
	}
	for _, i := range all {
		name := i.Target
		if name == "" {
			name = RWProxy
		}
		fmt.Fprintf(b, "| %s | %d | %s MiB | %s MiB | %s MiB | %.1f KiB | %s |\n", name, i.Conns-i.Failed,
			mib(i.RSSBeforeKB), mib(i.RSSOpenKB), mib(i.RSSAfterKB), i.BytesPerConn()/1024, i.atLogin())
	}
	b.WriteString("\n")
}

// mdMux writes the multiplexing measurement.
func mdMux(b *strings.Builder, r *Report) {
	m := r.Mux
	if m == nil {
		return
	}
	b.WriteString("## Multiplexing: backend connections for mostly idle clients\n\n")
	if m.Reps > 1 {
		fmt.Fprintf(b, "Measured %d times, interleaved, rwproxy and ProxySQL started afresh before each run "+
			"(their pools empty); each proxy's row is its median run by peak, and \"peaks of the runs\" lists every run's.\n\n", m.Reps)
	}
	fmt.Fprintf(b, "%d clients opened through each proxy (schema sbtest); %d rounds in which every client runs one "+
		"statement (a point select, every tenth an autocommit UPDATE), 16 at a time, and otherwise stays idle. "+
		"Backend connections are the client user's rows in information_schema.PROCESSLIST summed over the three servers "+
		"whose client port is one of the proxy's own sockets (monitor connections, the harness's own and the other "+
		"proxies' pools are not counted).\n\n", m.Clients, m.Rounds)
	b.WriteString("| proxy | clients open | statements | errors | backend connections (peak) | after the last round | per client (peak) " +
		"| after the logins | peak per server (primary / replicas) | after, per server " +
		"| point select ms (mean) | UPDATE ms (mean) | UPDATEs in flight (mean) | peaks of the runs |\n")
	b.WriteString("| --- | ---: | ---: | ---: | ---: | ---: | ---: | ---: | ---: | ---: | ---: | ---: | ---: | --- |\n")
	perServer := func(v [3]int) string { return fmt.Sprintf("%d / %d / %d", v[0], v[1], v[2]) }
	for _, p := range m.Proxies {
		peaks := make([]string, len(p.Peaks))
		for i, n := range p.Peaks {
			peaks[i] = strconv.Itoa(n)
		}
		fmt.Fprintf(b, "| %s | %d | %d | %d | %d | %d | %.3f | %d | %s | %s | %.3f | %.3f | %.1f | %s |\n", p.Target, p.Opened, p.Statements, p.Errors,
			p.BackendPeak, p.BackendIdle, p.PerClient(), p.BackendLogin, perServer(p.PeakByServer), perServer(p.IdleByServer),
			mean(p.ReadTime, p.Reads), mean(p.UpdateTime, p.Updates), p.InFlight(p.UpdateTime), strings.Join(peaks, ", "))
	}
	b.WriteString("\nEvery client runs its statement as soon as one of the 16 finishes, so the faster a proxy answers the " +
		"point selects, the larger the share of the 16 that are UPDATEs waiting on the primary at any moment (Little's law: " +
		"UPDATEs in flight = their total latency ÷ the rounds' time), and each holds a connection to the primary.\n\n")
}

const peersMethodText = `- proxysql / haproxy: ProxySQL started by the harness with an equivalent
  configuration (the same servers and user, reads to the replicas' hostgroup by query rules, threads = rwproxy's
  GOMAXPROCS, multiplexing on, the monitor user) and HAProxy in mode tcp to the primary (a second floor beside the
  relay). rwproxy/proxysql above 1 is rwproxy ahead; CPU/q rwproxy/proxysql below 1 is rwproxy cheaper per query.
- per statement: user and system CPU from utime and stime of /proc/<pid>/stat; voluntary and involuntary context
  switches summed over /proc/<pid>/task/*/status, before and after the run, divided by sysbench's query count.
  Bytes to / from servers: SHOW GLOBAL STATUS Bytes_received / Bytes_sent summed over the three servers, per query:
  the backend side of a proxy and, for direct, what a client itself exchanges (the client side of every proxy
  carries the same sysbench protocol). /proc/<pid>/io is not used: it counts read(2)/write(2) only, which Go uses
  on sockets and ProxySQL does not (recv/send), so it would not compare the two.
`
