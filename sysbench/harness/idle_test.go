package harness

import (
	"strings"
	"testing"
)

func TestIdleVerdicts(t *testing.T) {
	run := &Run{Workload: TargetWorkload, Threads: QPSThreads, Target: RWProxy, OK: true, QPS: 9000, P95Ms: 1.2}
	tests := []struct {
		name              string
		idle              *Idle
		memMet, speedMet  bool
		measured          [2]bool
		memValue, perConn string
	}{
		{name: "not made", idle: nil},
		{name: "12 KiB each, full speed",
			idle:   &Idle{Conns: 10000, RSSBeforeKB: 30000, RSSOpenKB: 30000 + 120000, Run: run, BaselineQPS: 9500},
			memMet: true, speedMet: true, measured: [2]bool{true, true}, perConn: "12.0 KiB"},
		{name: "failed logins are not counted; 20 KiB each is too much; slowed down",
			idle:     &Idle{Conns: 10000, Failed: 5000, RSSBeforeKB: 30000, RSSOpenKB: 30000 + 100000, Run: run, BaselineQPS: 12000},
			measured: [2]bool{true, true}, perConn: "20.0 KiB"},
		{name: "every login failed", idle: &Idle{Conns: 10, Failed: 10}},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			v := IdleVerdicts(tc.idle)
			if len(v) != 2 {
				t.Fatalf("%d verdicts", len(v))
			}
			if v[0].Measured != tc.measured[0] || v[1].Measured != tc.measured[1] {
				t.Fatalf("measured = %v, %v; want %v", v[0].Measured, v[1].Measured, tc.measured)
			}
			if v[0].Met != tc.memMet || v[1].Met != tc.speedMet {
				t.Fatalf("met = %v, %v; want %v, %v (%+v)", v[0].Met, v[1].Met, tc.memMet, tc.speedMet, v)
			}
			if tc.perConn != "" && !strings.HasPrefix(v[0].Value, tc.perConn) {
				t.Fatalf("value %q, want prefix %q", v[0].Value, tc.perConn)
			}
		})
	}
}

func TestIdleInReport(t *testing.T) {
	r := sampleReport()
	r.Idle = &Idle{Conns: 10000, OpenSeconds: 2.5, RSSBeforeKB: 30 << 10, RSSOpenKB: 150 << 10, RSSAfterKB: 40 << 10,
		Run: &Run{Workload: TargetWorkload, Threads: QPSThreads, OK: true, QPS: 20000, P95Ms: 0.9}, BaselineQPS: 21500}
	r.Finish()
	if n := len(r.Verdicts); n != 5 {
		t.Fatalf("%d verdicts, want the 3 of the runs and the 2 of the idle connections", n)
	}
	md := Markdown(r, nil)
	for _, want := range []string{"## Idle client connections", "| 30.0 MiB | 150.0 MiB | 40.0 MiB | 12.3 KiB |",
		"memory per idle client connection", "20,000 QPS"} {
		if !strings.Contains(md, want) {
			t.Errorf("markdown lacks %q", want)
		}
	}
}
