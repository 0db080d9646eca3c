package harness

import (
	"fmt"
	"strings"
	"testing"
	"time"
)

func TestScheduleInterleaves(t *testing.T) {
	s := Schedule([]string{"a", "b"}, []int{1, 8}, 2, []string{Direct, Relay, RWProxy, "other"})
	if len(s) != 2*2*2*4 {
		t.Fatalf("%d steps, want 32", len(s))
	}
	var got []string
	for _, st := range s[:10] {
		got = append(got, fmt.Sprintf("%s/%d/%d/%s", st.Workload, st.Threads, st.Rep, st.Target))
	}
	want := "a/1/1/direct a/1/1/relay a/1/1/rwproxy a/1/1/other " +
		"a/1/2/direct a/1/2/relay a/1/2/rwproxy a/1/2/other " +
		"a/8/1/direct a/8/1/relay"
	if strings.Join(got, " ") != want {
		t.Fatalf("order:\n%s\nwant\n%s", strings.Join(got, " "), want)
	}
	if last := s[len(s)-1]; last != (Step{"b", 8, 2, "other"}) {
		t.Fatalf("last step %+v", last)
	}
	// Every target appears equally often in every cell.
	count := map[string]int{}
	for _, st := range s {
		count[st.Target]++
	}
	for _, n := range count {
		if n != 8 {
			t.Fatalf("uneven targets: %v", count)
		}
	}
}

func TestETA(t *testing.T) {
	cases := []struct {
		done, total    int
		elapsed, guess time.Duration
		want           time.Duration
	}{
		{0, 36, 0, 10 * time.Second, 360 * time.Second},
		{6, 36, 60 * time.Second, time.Second, 300 * time.Second},
		{36, 36, time.Hour, time.Second, 0},
		{3, 4, 10 * time.Second, 0, 3*time.Second + 333*time.Millisecond},
	}
	for _, c := range cases {
		got := ETA(c.done, c.total, c.elapsed, c.guess)
		if got != c.want.Round(time.Second) {
			t.Errorf("ETA(%d/%d, %v) = %v, want %v", c.done, c.total, c.elapsed, got, c.want.Round(time.Second))
		}
	}
}

func TestProgressLine(t *testing.T) {
	st := Step{"oltp_point_select", 8, 1, RWProxy}
	r := Run{OK: true, QPS: 23456.4, P95Ms: 0.412, P99Ms: 0.9, IgnoredErrors: 2,
		Proc: &ProcUsage{CPUMicrosPerQuery: 41.26}}
	got := ProgressLine(5, 36, st, r, 4*time.Minute+12*time.Second)
	want := "[ 5/36] oltp_point_select   8t rep 1 rwproxy     23,456 QPS  p95   0.412 ms  p99   0.900 ms  err 2  cpu 41.3 µs/q  ETA 4m12s"
	if got != want {
		t.Fatalf("\n got %q\nwant %q", got, want)
	}
	bad := Run{ExitCode: 1, Fatal: []string{"unable to connect"}}
	if got := ProgressLine(1, 2, st, bad, 0); !strings.Contains(got, "FAILED (exit 1): unable to connect") {
		t.Fatalf("failed line: %q", got)
	}
}

func TestScheduleReplicaRelayReadsOnly(t *testing.T) {
	s := Schedule([]string{"oltp_point_select", "oltp_write_only", "oltp_read_only"}, []int{8}, 1,
		[]string{Direct, Relay, RWProxy, ReplicaRelay})
	var got []string
	for _, st := range s {
		got = append(got, st.Workload+"/"+st.Target)
	}
	want := "oltp_point_select/direct oltp_point_select/relay oltp_point_select/rwproxy oltp_point_select/relay-replicas " +
		"oltp_write_only/direct oltp_write_only/relay oltp_write_only/rwproxy " +
		"oltp_read_only/direct oltp_read_only/relay oltp_read_only/rwproxy oltp_read_only/relay-replicas"
	if strings.Join(got, " ") != want {
		t.Fatalf("schedule:\n%s\nwant\n%s", strings.Join(got, " "), want)
	}
}
