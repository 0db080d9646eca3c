package harness

import (
	"os"
	"path/filepath"
	"slices"
	"strings"
	"testing"
	"time"
)

// peerReport is sampleReport with HAProxy after the relay and ProxySQL
// after rwproxy, per-statement counters and server traffic on every run,
// the peers' idle memory and the multiplexing measurement.
func peerReport() *Report {
	r := sampleReport()
	r.Targets = []Target{{Direct, "127.0.0.1:3416", Direct}, {Relay, "127.0.0.1:3518", Relay},
		{HAProxy, "127.0.0.1:3523", HAProxy}, {RWProxy, "127.0.0.1:3516", RWProxy}, {ProxySQL, "127.0.0.1:3521", ProxySQL}}
	qps := map[string]float64{Direct: 40000, Relay: 22000, HAProxy: 20000, RWProxy: 21000, ProxySQL: 24000}
	cpu := map[string]float64{Relay: 40, HAProxy: 30, RWProxy: 60, ProxySQL: 50}
	r.Runs = nil
	for _, st := range Schedule(r.Config.Workloads, r.Config.Threads, 1, r.TargetNames()) {
		run := Run{Workload: st.Workload, Threads: st.Threads, Rep: 1, Target: st.Target, OK: true,
			QPS: qps[st.Target], P95Ms: 0.2, P99Ms: 0.3, Queries: 100000,
			Wire: &Wire{ToServersPerQuery: 60, FromServersPerQuery: 180}}
		if st.Target == RWProxy {
			run.Wire.FromServersPerQuery = 227
		}
		if st.Target == ProxySQL {
			run.P95Ms = 0.25
		}
		if c, ok := cpu[st.Target]; ok {
			run.Proc = &ProcUsage{CPUMicrosPerQuery: c, PeakRSSKB: 20480,
				Stmt: &PerStatement{UserMicros: c * 0.4, SysMicros: c * 0.6, VolCSPerQuery: 1.25, InvCSPerQuery: 0.125}}
		}
		r.Runs = append(r.Runs, run)
	}
	r.Idle = &Idle{Conns: 1000, RSSBeforeKB: 20 << 10, RSSOpenKB: 30 << 10, RSSAfterKB: 21 << 10}
	r.IdlePeers = []Idle{{Target: ProxySQL, Conns: 1000, RSSBeforeKB: 40 << 10, RSSOpenKB: 48 << 10, RSSAfterKB: 41 << 10}}
	r.Mux = &Mux{Clients: 1000, Rounds: 3, Proxies: []MuxProxy{
		{Target: RWProxy, Opened: 1000, Statements: 3000, BackendPeak: 24, BackendIdle: 12,
			BackendLogin: 3, PeakByServer: [3]int{5, 9, 11}, IdleByServer: [3]int{2, 4, 6}, Peaks: []int{30, 24, 20},
			Reads: 2700, Updates: 300, ReadTime: 540 * time.Millisecond, UpdateTime: 900 * time.Millisecond, Wall: 100 * time.Millisecond},
		{Target: ProxySQL, Opened: 1000, Statements: 3000, Errors: 1, BackendPeak: 50, BackendIdle: 40}}}
	r.Finish()
	return r
}

func TestMarkdownPeers(t *testing.T) {
	md := Markdown(peerReport(), nil)
	for _, want := range []string{
		"# sysbench: direct vs relay vs haproxy vs rwproxy vs proxysql",
		// rwproxy/proxysql 21,000/24,000 = 0.875 → 0.88; rwproxy/haproxy 21,000/20,000 = 1.05;
		// CPU per query rwproxy/proxysql 60/50 = 1.20, rwproxy/haproxy 60/30 = 2.00.
		"| threads | QPS direct | QPS relay | QPS haproxy | QPS rwproxy | QPS proxysql | rwproxy/relay | rwproxy/proxysql | rwproxy/haproxy | " +
			"p95 ms d/r/haproxy/p/proxysql | p99 ms d/r/haproxy/p/proxysql | CPU µs/q relay | CPU µs/q haproxy | CPU µs/q rwproxy | CPU µs/q proxysql | " +
			"CPU/q rwproxy/proxysql | CPU/q rwproxy/haproxy |",
		"| 8 | 40,000 | 22,000 | 20,000 | 21,000 | 24,000 | 0.95 | 0.88 | 1.05 | ",
		"| 40.0 | 30.0 | 60.0 | 50.0 | 1.20 | 2.00 |",
		"### oltp_point_select: per statement",
		"| 8 | direct | – | – | – | – | – | 60 | 180 |",
		"| 8 | rwproxy | 60.0 | 24.0 | 36.0 | 1.25 | 0.12 | 60 | 227 |",
		"| 1 | proxysql | 50.0 | 20.0 | 30.0 | 1.25 | 0.12 | 60 | 180 |",
		"| rwproxy | 1000 | 20.0 MiB | 30.0 MiB | 21.0 MiB | 10.2 KiB |",
		"| proxysql | 1000 | 40.0 MiB | 48.0 MiB | 41.0 MiB | 8.2 KiB |",
		"## Multiplexing: backend connections for mostly idle clients",
		// 540 ms / 2,700 reads = 0.2 ms; 900 ms / 300 UPDATEs = 3 ms, 9 in flight over 100 ms.
		"| rwproxy | 1000 | 3000 | 0 | 24 | 12 | 0.024 | 3 | 5 / 9 / 11 | 2 / 4 / 6 | 0.200 | 3.000 | 9.0 | 30, 24, 20 |",
		"| proxysql | 1000 | 3000 | 1 | 50 | 40 | 0.050 | 0 | 0 / 0 / 0 | 0 / 0 / 0 | 0.000 | 0.000 | 0.0 |  |",
		"| proxysql | 1000 | 3000 | 1 | 50 | 40 | 0.050 |",
		"- proxysql / haproxy: ProxySQL started by the harness",
		// Targets against ProxySQL: QPS 0.88×, CPU 1.20× at 8 threads; p95 200 vs 250 µs at 1 thread;
		// idle memory 10.2 vs 8.2 KiB; 24 vs 50 backend connections.
		"| vs ProxySQL: oltp_point_select at 8 threads | rwproxy QPS >= ProxySQL's and CPU per query <= ProxySQL's | " +
			"QPS 21,000 vs 24,000 (0.88×), CPU 60.0 vs 50.0 µs/q (1.20×) | **MISSED**: missed: QPS -12.5%, CPU per query +10.0 µs |",
		"| vs ProxySQL: oltp_read_write at 1 threads | rwproxy p95 <= ProxySQL's | p95 200 vs 250 µs | **MET**: met, 50.0 µs to spare |",
		"| vs ProxySQL: memory per idle client connection | rwproxy <= ProxySQL | 10.2 vs 8.2 KiB (1000 clients) | **MISSED**: missed by 2.0 KiB |",
		"| vs ProxySQL: backend connections for mostly idle clients | rwproxy <= ProxySQL (peak) | 24 vs 50 for 1000 clients | **MET**: met, 26.0 connections to spare |",
	} {
		if !strings.Contains(md, want) {
			t.Errorf("markdown lacks %q", want)
		}
	}
	if t.Failed() {
		t.Log(md)
	}
	// Without the peers, no peer column and no per-peer section appears.
	plain := Markdown(sampleReport(), nil)
	for _, no := range []string{"| rwproxy/proxysql |", "## Multiplexing", ": per statement", "rwproxy and its peers", "vs ProxySQL"} {
		if strings.Contains(plain, no) {
			t.Errorf("report without peers shows %q", no)
		}
	}
}

func TestPerStatementMedians(t *testing.T) {
	runs := []Run{
		{Workload: "w", Threads: 1, Target: "x", OK: true, Proc: &ProcUsage{Stmt: &PerStatement{UserMicros: 1, SysMicros: 10, VolCSPerQuery: 2}},
			Wire: &Wire{ToServersPerQuery: 50, FromServersPerQuery: 100}},
		{Workload: "w", Threads: 1, Target: "x", OK: true, Proc: &ProcUsage{Stmt: &PerStatement{UserMicros: 3, SysMicros: 30, VolCSPerQuery: 4}}},
		{Workload: "w", Threads: 1, Target: "x", OK: false, Proc: &ProcUsage{Stmt: &PerStatement{UserMicros: 99}},
			Wire: &Wire{ToServersPerQuery: 99}},
	}
	c := Aggregate(runs)[0]
	if !c.HasStmt || c.Stmt != (PerStatement{UserMicros: 2, SysMicros: 20, VolCSPerQuery: 3}) {
		t.Fatalf("stmt %v %+v", c.HasStmt, c.Stmt)
	}
	if !c.HasWire || c.Wire != (Wire{ToServersPerQuery: 50, FromServersPerQuery: 100}) {
		t.Fatalf("wire %v %+v", c.HasWire, c.Wire)
	}
}

func TestCountersFromProc(t *testing.T) {
	root := t.TempDir()
	write := func(rel, text string) {
		p := filepath.Join(root, rel)
		if err := os.MkdirAll(filepath.Dir(p), 0o755); err != nil {
			t.Fatal(err)
		}
		if err := os.WriteFile(p, []byte(text), 0o644); err != nil {
			t.Fatal(err)
		}
	}
	write("42/stat", statLine)
	// The process's own status counts its main thread only; the harness sums the threads.
	write("42/status", "Name:\tx\nvoluntary_ctxt_switches:\t1\nnonvoluntary_ctxt_switches:\t1\n")
	write("42/task/42/status", "Name:\tx\nvoluntary_ctxt_switches:\t100\nnonvoluntary_ctxt_switches:\t7\n")
	write("42/task/43/status", "Name:\tx\nvoluntary_ctxt_switches:\t250\nnonvoluntary_ctxt_switches:\t3\n")
	c, err := Proc{Root: root}.Counters(42)
	if err != nil {
		t.Fatal(err)
	}
	if c != (Counters{UserTicks: 1234, SysTicks: 567, VolCS: 350, InvolCS: 10}) {
		t.Fatalf("%+v", c)
	}
	d := Counters{UserTicks: 1300, SysTicks: 667, VolCS: 550, InvolCS: 30}.Sub(c)
	ps := CountersPerQuery(d, 100) // ClockTicks 100: 66 ticks = 0.66 s
	if ps != (PerStatement{UserMicros: 6600, SysMicros: 10000, VolCSPerQuery: 2, InvCSPerQuery: 0.2}) {
		t.Fatalf("%+v", ps)
	}
	if CountersPerQuery(d, 0) != (PerStatement{}) {
		t.Fatal("no queries: no figures")
	}
}

// The CPU chart leaves out targets without a process of their own.
func TestCPUChartSeries(t *testing.T) {
	r := peerReport()
	var cpu Metric
	for _, m := range Metrics {
		if m.Key == "cpu" {
			cpu = m
		}
	}
	if cpu.Value == nil {
		t.Fatal("no cpu chart")
	}
	for _, s := range SeriesFor(r.Cells, r.TargetNames(), "oltp_point_select", r.Config.Threads, cpu) {
		if want := map[bool]int{true: 0, false: 2}[s.Name == Direct]; len(s.Points) != want {
			t.Errorf("%s: %d points, want %d", s.Name, len(s.Points), want)
		}
		if s.Name == ProxySQL && s.Points[0].Y != 50 {
			t.Errorf("proxysql CPU point %v", s.Points[0])
		}
	}
}

func TestMedianMux(t *testing.T) {
	runs := []MuxProxy{{Target: RWProxy, BackendPeak: 30, Errors: 1}, {Target: RWProxy, BackendPeak: 20, Errors: 2},
		{Target: RWProxy, BackendPeak: 24, Errors: 3}, {Target: RWProxy, BackendPeak: 41, Errors: 4}}
	m := MedianMux(runs)
	if m.BackendPeak != 24 || m.Errors != 3 {
		t.Fatalf("median of 4 runs: %+v, want the run with peak 24 (the lower middle)", m)
	}
	if !slices.Equal(m.Peaks, []int{30, 20, 24, 41}) {
		t.Fatalf("peaks %v, want every run's in run order", m.Peaks)
	}
	if m := MedianMux(runs[:3]); m.BackendPeak != 24 {
		t.Fatalf("median of 3 runs: %d, want 24", m.BackendPeak)
	}
	if runs[0].Peaks != nil {
		t.Fatal("MedianMux changed its input")
	}
	if m := MedianMux(nil); m.BackendPeak != 0 || m.Peaks != nil {
		t.Fatalf("median of no runs: %+v", m)
	}
}
