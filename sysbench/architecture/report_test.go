package main

import (
	"os/exec"
	"strings"
	"testing"
	"time"

	"github.com/stretchr/testify/require"

	"github.com/rwproxy/rwproxy/sysbench/harness"
)

func TestParseStateAndMembers(t *testing.T) {
	st := ParseState("CLUSTER_DIR=/tmp/x\nPROXY1_PID=10\nnot a line\nPROXY1_PID=11\nLB_PORT=6140\n")
	require.Equal(t, map[string]string{"CLUSTER_DIR": "/tmp/x", "PROXY1_PID": "11", "LB_PORT": "6140"}, st)

	out := `member1 port=3376 gr_port=3386 pid=- alive=no state=- role=- super_read_only=- transactions_behind=- uuid=- members=- offline_mode=-
member2 port=3377 gr_port=3387 pid=200 alive=yes state=ONLINE role=PRIMARY super_read_only=0 transactions_behind=0 uuid=u2 members=3377:ONLINE offline_mode=0
member3 port=3378 gr_port=3388 pid=300 alive=yes state=ONLINE role=SECONDARY super_read_only=1 transactions_behind=0 uuid=u3 members=3377:ONLINE offline_mode=0
sandbox: noise`
	ms := ParseMembers(out)
	require.Equal(t, []Member{{1, 3376, 0, "-", "-"}, {2, 3377, 200, "ONLINE", "PRIMARY"}, {3, 3378, 300, "ONLINE", "SECONDARY"}}, ms)
	require.Equal(t, 2, primary(ms))
	require.Equal(t, []int{3}, secondaries(ms))
}

func ivs(qps ...float64) []harness.Interval {
	out := make([]harness.Interval, len(qps))
	for i, q := range qps {
		out[i] = harness.Interval{T: float64(i + 1), QPS: q}
	}
	return out
}

func TestAnalyzeTimeline(t *testing.T) {
	// Fault at 4.0: seconds 5-7 at zero with errors, back at 8.
	x := ivs(500, 1000, 1000, 1000, 10, 0, 700, 900, 1000)
	x[4].ErrPS, x[5].ErrPS = 30, 40
	tl := AnalyzeTimeline(x, 4)
	require.Equal(t, 1000.0, tl.BaselineQPS) // the first second is left out
	require.Equal(t, 2, tl.LowSeconds)
	require.Equal(t, 4.0, tl.RecoveredAfter) // second 8 is the first back at >= 800 after the last low one (7)
	require.Equal(t, 70.0, tl.Errors)
	require.Equal(t, 5.0, tl.FirstErrorAt)
	require.Equal(t, 6.0, tl.LastErrorAt)

	require.Zero(t, AnalyzeTimeline(ivs(1000, 1000, 1000, 990, 1010), 2).RecoveredAfter, "no dip")
	require.Equal(t, -1.0, AnalyzeTimeline(ivs(1000, 1000, 1000, 10, 10), 3).RecoveredAfter, "never back")
}

func TestLoadHelpers(t *testing.T) {
	var l []time.Duration
	for i := 1; i <= 100; i++ {
		l = append(l, time.Duration(i)*time.Millisecond)
	}
	require.Equal(t, 95.0, p95(l))
	require.Zero(t, p95(nil))
	require.Equal(t, []string{`3× "b"`, `1× "a"`}, topErrors(map[string]int64{"a": 1, "b": 3, "c": 1}, 2))
}

func sampleResult() *Result {
	r := &Result{Started: time.Date(2026, 11, 25, 12, 0, 0, 0, time.UTC), Command: "bin/architecture", RWProxy: "abc123",
		Machine:  Machine{Nproc: 2, CPUModel: "cpu", MemTotalKB: 1 << 20},
		Settings: Settings{TimeSeconds: 12, FaultSeconds: 40, FaultAt: 10, Threads: []int{8}, Workloads: []string{"oltp_point_select", "oltp_read_write"}, Reps: 1, SecondaryThreads: 8}}
	tiers := func(lb, px, pri, sec float64) []TierCPU {
		return []TierCPU{{Name: "haproxy", Role: roleLB, CPUSeconds: lb}, {Name: "proxy1", Role: roleProxy, CPUSeconds: px},
			{Name: "member1", Role: rolePrimary, CPUSeconds: pri, Questions: 7}, {Name: "member2", Role: roleSecondary, CPUSeconds: sec / 2, Questions: 500},
			{Name: "member3", Role: roleSecondary, CPUSeconds: sec / 2, Questions: 500}}
	}
	add := func(w, c string, qps float64, t []TierCPU) {
		var x Run
		x.Workload, x.Threads, x.Target, x.OK, x.QPS, x.Queries, x.P95Ms = w, 8, c, true, qps, int64(qps*10), 1.5
		x.Tiers = t
		r.Runs = append(r.Runs, x)
	}
	add("oltp_point_select", cfgDirect, 10000, tiers(0, 0, 5, 0))
	add("oltp_point_select", cfgProxy, 8000, tiers(0, 4, 0.1, 4))
	add("oltp_point_select", cfgChain, 6000, tiers(1, 6, 0.1, 6))
	add("oltp_read_write", cfgDirect, 3000, tiers(0, 0, 6, 2))
	add("oltp_read_write", cfgProxy, 2500, tiers(0, 2, 6, 2))
	add("oltp_read_write", cfgChain, 2000, tiers(0.5, 3, 6, 2))
	var f Fault
	f.Name, f.Title = "primary_kill", "primary killed"
	f.Run.Workload, f.Run.IgnoredErrors, f.Run.QPS = "read_write (fault client)", 42, 1800
	f.Timeline = Timeline{At: 10, BaselineQPS: 2000, LowSeconds: 7, RecoveredAfter: 8, FirstErrorAt: 11, LastErrorAt: 17}
	f.Writer = &Writer{Acked: 1000, Failed: 50, Lost: 0, NewPrimary: 2, OldPrimary: 1, OnServer: 1000, StallSeconds: 6.9}
	r.Faults = append(r.Faults, f)
	return r
}

func TestMarkdown(t *testing.T) {
	md := Markdown(sampleResult(), "architecture-x.json", []string{"architecture-qps-oltp_point_select.png"})
	for _, want := range []string{
		"Produced by `bin/architecture` (rwproxy abc123)",
		"| oltp_point_select | 8 | 10000 | 8000 | 6000 | 0.60 | 1.50 | 1.50 | 1.50 | 0 |",
		// chain point select: 60000 queries; LB 1 s → 16.7 µs, proxies 100 µs, secondaries 100 µs.
		"| oltp_point_select | 8 | chain | 6000 | 16.7 | 100.0 | 1.7 | 100.0 | 0.0 | 218.3 | 0.00 |",
		"| primary_kill | read_write (fault client) | 2000 | 42 | 11 – 17 | 7 | 8 | 1800 |",
		"**0 acknowledged writes lost**",
		"| oltp_point_select | 8 | 7 | 500 | 500 |",
		"![architecture-qps-oltp_point_select.png](../../docs/img/architecture-qps-oltp_point_select.png)",
		// Model: 2 cores per machine; point select: secondaries 2·2e6/100 = 40000 at N=2; proxy 2e6/100 = 20000.
		"| 2 | 20000 (proxy) | 40000 (proxy) | 40000 (secondary) |",
		"bound by the primary",
	} {
		require.Contains(t, md, want)
	}
	require.NotContains(t, md, "Interrupted")
}

func TestDemoClusterScriptParses(t *testing.T) {
	out, err := exec.Command("bash", "-n", "../../scripts/demo-cluster").CombinedOutput()
	require.NoError(t, err, "%s", out)
	out, err = exec.Command("bash", "../../scripts/demo-cluster", "-h").CombinedOutput()
	require.NoError(t, err, "%s", out)
	require.True(t, strings.Contains(string(out), "usage: scripts/demo-cluster"), "%s", out)
}
