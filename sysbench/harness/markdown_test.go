package harness

import (
	"bytes"
	"os"
	"path/filepath"
	"strings"
	"testing"
)

func TestMarkdownTable(t *testing.T) {
	md := Markdown(sampleReport(), map[string][]string{"oltp_point_select": {"latest-qps-oltp_point_select.png"}})
	for _, want := range []string{
		"# sysbench: direct vs relay vs rwproxy",
		"| threads | QPS direct | QPS relay | QPS rwproxy | rwproxy/relay | p95 ms d/r/p | p99 ms d/r/p | CPU µs/q relay | CPU µs/q rwproxy | servers' CPU µs/q d/r/p | peak RSS MiB relay/rwproxy | errors d/r/p |",
		// 8 threads, median of reps 1.01 and 1.02 = 1.015; servers' CPU the median of +1 and +2.
		"| 8 | 40,600 | 22,330 | 21,823 | 0.98 | 0.200 / 0.300 / 0.330 | 0.300 / 0.450 / 0.495 | 40.0 | 47.0 | 23.5 / 41.5 / 55.5 | 20.0 / 20.0 | 0 / 0 / 0 |",
		"| 1 | 5,075 | 2,791 | 2,728 | 0.98 |",
		"## oltp_read_write",
		"![latest-qps-oltp_point_select.png](latest-qps-oltp_point_select.png)",
		"| CPU per point select (8 threads) | rwproxy <= relay + 5 µs | rwproxy 47.0 µs vs relay 40.0 µs (+7.0 µs) | **MISSED**: missed by 2.0 µs |",
		"**MET**: met, 2.7 points above the 95% line",
		"None: every run finished.",
		"- Settings: 8 s per run (warm-up 0 s per target first), 4 tables × 10000 rows, --db-ps-mode=auto, 2 rep(s) per cell, threads 1,8",
		"- Command: `make bench BENCH_TIME=8`",
		"0.20 cores on average during runs (max 0.20)",
	} {
		if !strings.Contains(md, want) {
			t.Errorf("markdown lacks %q", want)
		}
	}
	if strings.Contains(md, "Replicas pinned") {
		t.Error("an unpinned run says its replicas were pinned")
	}
	r := sampleReport()
	r.Config.PinnedReplicas = true
	if want := "- Replicas pinned: each replica's mariadbd ran on a CPU of its own"; !strings.Contains(Markdown(r, nil), want) {
		t.Errorf("markdown of a pinned run lacks %q", want)
	}
	if t.Failed() {
		t.Log(md)
	}
}

func TestMarkdownFailuresAndExtras(t *testing.T) {
	r := sampleReport()
	r.Targets = append(r.Targets, Target{"proxysql", "127.0.0.1:6033", "extra"})
	r.Runs = append(r.Runs,
		Run{Workload: "oltp_point_select", Threads: 8, Rep: 1, Target: "proxysql", ExitCode: 1,
			Fatal: []string{"error 2013: Lost connection to `server`"}},
		Run{Workload: "oltp_point_select", Threads: 1, Rep: 1, Target: "proxysql", OK: true, QPS: 1000,
			P95Ms: 0.5, P99Ms: 1, IgnoredErrors: 3, Reconnects: 2, Proc: &ProcUsage{CPUMicrosPerQuery: 60, PeakRSSKB: 1024}})
	r.Interrupted = true
	r.Finish()
	md := Markdown(r, nil)
	for _, want := range []string{
		"| QPS proxysql |", "p95 ms d/r/p/proxysql", "CPU µs/q proxysql", "peak RSS MiB relay/rwproxy/proxysql",
		"| 8 | 40,600 | 22,330 | 21,823 | FAIL | 0.98 |",
		"0 / 0 / 0 / 0 FAIL×1 |",
		"0 / 0 / 0 / 3+2r |",
		"- oltp_point_select, 8 threads, proxysql (1 of 1 runs failed): `error 2013: Lost connection to 'server'`",
		"(interrupted: partial results)",
		"| 0.98 | 0.113 / 0.169 / 0.186 / – | 0.300 / 0.450 / 0.495 / – | 40.0 | 47.0 | – | 23.5 / 41.5 / 55.5 / – | 20.0 / 20.0 / – | 0 / 0 / 0 / – |", // no proxysql cells in oltp_read_write
	} {
		if !strings.Contains(md, want) {
			t.Errorf("markdown lacks %q", want)
		}
	}
	if t.Failed() {
		t.Log(md)
	}
}

func TestCharts(t *testing.T) {
	r := sampleReport()
	dir := t.TempDir()
	files, err := WriteCharts(dir, "latest", r)
	if err != nil {
		t.Fatal(err)
	}
	want := []string{"latest-qps-oltp_point_select.png", "latest-p95-oltp_point_select.png", "latest-cpu-oltp_point_select.png"}
	if strings.Join(files["oltp_point_select"], ",") != strings.Join(want, ",") || len(files["oltp_read_write"]) != 3 {
		t.Fatalf("files %v", files)
	}
	b, err := os.ReadFile(filepath.Join(dir, want[0]))
	if err != nil || !bytes.HasPrefix(b, []byte("\x89PNG\r\n\x1a\n")) || len(b) < 5000 {
		t.Fatalf("not a PNG: %d bytes, %v", len(b), err)
	}
}

func TestSeriesFor(t *testing.T) {
	r := sampleReport()
	r.Cells = append(r.Cells, Cell{Workload: "oltp_point_select", Threads: 32, Target: Relay, Runs: 1, Failed: 1})
	s := SeriesFor(r.Cells, r.TargetNames(), "oltp_point_select", []int{1, 8, 32}, Metrics[0])
	if len(s) != 3 || s[1].Name != Relay || len(s[1].Points) != 2 {
		t.Fatalf("series %+v", s)
	}
	if p := s[2].Points[1]; p.X != 8 || p.Y != 21500*1.015 {
		t.Fatalf("rwproxy at 8 threads: %+v", p)
	}
}

func TestChartSingleThreadCount(t *testing.T) {
	s := []Series{{Name: "a", Points: nil}, {Name: "b"}}
	s[1].Points = append(s[1].Points, struct{ X, Y float64 }{8, 10})
	for _, m := range Metrics {
		if err := WriteChart(filepath.Join(t.TempDir(), "x.png"), "t", m, s, []int{8}); err != nil {
			t.Fatal(err)
		}
	}
}

func TestTicks125(t *testing.T) {
	var got []string
	for _, tk := range ticks125(0.08, 30) {
		got = append(got, tk.Label)
	}
	if strings.Join(got, " ") != "0.1 0.2 0.5 1 2 5 10 20" {
		t.Fatalf("ticks %v", got)
	}
}

func TestMarkdownReplicaRelay(t *testing.T) {
	r := sampleReport()
	r.Targets = append(r.Targets, Target{ReplicaRelay, "127.0.0.1:3520", ReplicaRelay})
	for _, th := range []int{1, 8} {
		r.Runs = append(r.Runs, Run{Workload: "oltp_point_select", Threads: th, Rep: 1, Target: ReplicaRelay, OK: true,
			QPS: 2750 * float64(th), P95Ms: 0.2, P99Ms: 0.4, ServersCPUMicros: 50, Proc: &ProcUsage{CPUMicrosPerQuery: 33, PeakRSSKB: 4096}})
	}
	r.Finish()
	md := Markdown(r, nil)
	for _, want := range []string{
		"| QPS relay-replicas | rwproxy/relay | rwproxy/relay-replicas | p95 ms d/r/p/rr |",
		// rwproxy's 21,823 QPS at 8 threads against the replica relay's 22,000.
		"| 8 | 40,600 | 22,330 | 21,823 | 22,000 | 0.98 | 0.99 |",
		"| 23.5 / 41.5 / 55.5 / 50.0 |",
		// oltp_read_write has no replica-relay cells: its ratio is a dash.
		"| 8 | 40,600 | 22,330 | 21,823 | – | 0.98 | – |",
		"rwproxy 21,823 vs relay 22,330 QPS = 97.7% (relay to the replicas 22,000 QPS: rwproxy = 99.2% of it)",
	} {
		if !strings.Contains(md, want) {
			t.Errorf("markdown lacks %q", want)
		}
	}
	if t.Failed() {
		t.Log(md)
	}
}
