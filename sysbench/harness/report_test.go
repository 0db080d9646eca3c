package harness

import (
	"os"
	"path/filepath"
	"reflect"
	"strings"
	"testing"
	"time"
)

// sampleReport is a two-workload, two-thread-count report with all three
// built-in targets; numbers are shaped like this machine's.
func sampleReport() *Report {
	r := &Report{
		Started:  time.Date(2026, 11, 25, 9, 0, 0, 0, time.UTC),
		Finished: time.Date(2026, 11, 25, 9, 6, 0, 0, time.UTC),
		Command:  "make bench BENCH_TIME=8",
		Machine: Machine{Nproc: 2, CPUModel: "AMD EPYC", MemTotalKB: 24 << 20, Kernel: "6.1",
			MariaDB: "MariaDB 10.11.19", Sysbench: "sysbench 1.0.20", LoadBefore: [3]float64{3, 2, 1}},
		Config: Config{TimeSeconds: 8, Tables: 4, Rows: 10000, Threads: []int{1, 8},
			Workloads: []string{"oltp_point_select", "oltp_read_write"}, Reps: 2, PSMode: "auto"},
		Targets: []Target{{Direct, "127.0.0.1:3416", Direct}, {Relay, "127.0.0.1:3518", Relay},
			{RWProxy, "127.0.0.1:3516", RWProxy}},
	}
	qps := map[string]float64{Direct: 40000, Relay: 22000, RWProxy: 21500}
	cpu := map[string]float64{Relay: 40, RWProxy: 47}
	servers := map[string]float64{Direct: 22, Relay: 40, RWProxy: 54}
	p95 := map[string]float64{Direct: 0.100, Relay: 0.150, RWProxy: 0.165}
	for _, st := range Schedule(r.Config.Workloads, r.Config.Threads, r.Config.Reps, r.TargetNames()) {
		f := float64(st.Threads) / 8
		run := Run{Workload: st.Workload, Threads: st.Threads, Rep: st.Rep, Target: st.Target, OK: true,
			QPS: qps[st.Target] * f * (1 + 0.01*float64(st.Rep)), P95Ms: p95[st.Target] * (1 + f),
			P99Ms: p95[st.Target] * 3, LoadAvg1: 4, OtherCores: 0.2, ServersCPUMicros: servers[st.Target] + float64(st.Rep)}
		if c, ok := cpu[st.Target]; ok {
			run.Proc = &ProcUsage{CPUMicrosPerQuery: c, PeakRSSKB: 20480}
		}
		r.Runs = append(r.Runs, run)
	}
	r.Finish()
	return r
}

func TestAggregateMedians(t *testing.T) {
	runs := []Run{
		{Workload: "w", Threads: 1, Target: "x", OK: true, QPS: 100, P95Ms: 1, IgnoredErrors: 1},
		{Workload: "w", Threads: 1, Target: "x", OK: true, QPS: 300, P95Ms: 3},
		{Workload: "w", Threads: 1, Target: "x", ExitCode: 1, Fatal: []string{"boom"}},
		{Workload: "w", Threads: 1, Target: "x", OK: true, QPS: 200, P95Ms: 2, Reconnects: 4,
			Proc: &ProcUsage{CPUMicrosPerQuery: 9, PeakRSSKB: 7}},
		{Workload: "w", Threads: 1, Target: "x", ExitCode: 1, Fatal: []string{"boom"}},
	}
	cells := Aggregate(runs)
	if len(cells) != 1 {
		t.Fatalf("%d cells", len(cells))
	}
	c := cells[0]
	want := Cell{Workload: "w", Threads: 1, Target: "x", Runs: 5, Failed: 2, QPS: 200, QPSMin: 100,
		QPSMax: 300, P95Ms: 2, HasCPU: true, CPUMicros: 9, PeakRSSKB: 7, IgnoredErrors: 1,
		Reconnects: 4, Fatal: []string{"boom"}}
	if !reflect.DeepEqual(c, want) {
		t.Fatalf("\n got %+v\nwant %+v", c, want)
	}
	if Median([]float64{4, 1, 3, 2}) != 2.5 || Median(nil) != 0 {
		t.Fatal("median")
	}
}

func TestVerdicts(t *testing.T) {
	r := sampleReport()
	v := r.Verdicts
	if len(v) != 3 {
		t.Fatalf("%d verdicts", len(v))
	}
	// 21500/22000 = 97.7%: met.
	if !v[0].Measured || !v[0].Met || !strings.Contains(v[0].Value, "97.7%") {
		t.Errorf("qps verdict %+v", v[0])
	}
	// 47 - 40 = +7 µs: missed by 2.
	if !v[1].Measured || v[1].Met || v[1].Detail != "missed by 2.0 µs" {
		t.Errorf("cpu verdict %+v", v[1])
	}
	// p95 at 1 thread: 0.165*1.125 - 0.150*1.125 = 16.9 µs: met.
	if !v[2].Measured || !v[2].Met || !strings.Contains(v[2].Value, "+17 µs") {
		t.Errorf("latency verdict %+v", v[2])
	}
	if none := Verdicts(nil); none[0].Measured || none[0].Detail != "not measured" {
		t.Errorf("empty verdict %+v", none[0])
	}
}

func TestVerdictQPSMissed(t *testing.T) {
	cells := []Cell{
		{Workload: TargetWorkload, Threads: 8, Target: Relay, Runs: 1, QPS: 20000},
		{Workload: TargetWorkload, Threads: 8, Target: RWProxy, Runs: 1, QPS: 15000},
	}
	v := qpsVerdict(cells)
	if v.Met || v.Detail != "missed by 20.0 points (4,000 QPS short)" {
		t.Fatalf("%+v", v)
	}
	cells[1].Failed = 1
	if v := qpsVerdict(cells); v.Measured {
		t.Fatalf("a failed cell must not be judged: %+v", v)
	}
}

func TestJSONRoundTrip(t *testing.T) {
	r := sampleReport()
	path := filepath.Join(t.TempDir(), "r.json")
	if err := WriteJSON(path, r); err != nil {
		t.Fatal(err)
	}
	back, err := ReadJSON(path)
	if err != nil {
		t.Fatal(err)
	}
	if !reflect.DeepEqual(back, r) {
		t.Fatalf("round trip differs:\n%+v\n%+v", back, r)
	}
	b, _ := os.ReadFile(path)
	for _, key := range []string{`"p95_ms"`, `"cpu_us_per_query"`, `"cpu_seconds_per_1k_queries"`,
		`"ignored_errors"`, `"verdicts"`, `"other_busy_cores"`} {
		if !strings.Contains(string(b), key) {
			t.Errorf("JSON lacks %s", key)
		}
	}
}

func TestNewRunFromFixture(t *testing.T) {
	o := parseFixture(t, "sysbench-read_write.txt")
	r := NewRun(Step{"oltp_read_write", 4, 1, RWProxy}, 0, o)
	if !r.OK || r.QPS != 6157.39 || r.TPS != 306.77 || r.IgnoredErrors != 4 || r.P95SysbenchMs != 34.95 {
		t.Fatalf("%+v", r)
	}
	if r.P95Ms < 34.945 || r.P95Ms > 34.955 || r.P99Ms <= r.P95Ms {
		t.Fatalf("p95 %v p99 %v", r.P95Ms, r.P99Ms)
	}
	failed := NewRun(Step{"oltp_point_select", 2, 1, RWProxy}, 1, parseFixture(t, "sysbench-fatal_midrun.txt"))
	if failed.OK || len(failed.Fatal) != 2 || failed.QPS != 0 {
		t.Fatalf("%+v", failed)
	}
	// Exit 0 without a summary (killed by a signal mid-print) is not OK either.
	if NewRun(Step{}, 0, Output{}).OK {
		t.Fatal("a run without summary is not OK")
	}
}
