package harness

import "testing"

func TestParseIntervals(t *testing.T) {
	text := `Threads started!

[ 1s ] thds: 8 tps: 229.81 qps: 4639.68 (r/w/o: 3255.32/920.74/463.62) lat (ms,95%): 55.82 err/s: 0.00 reconn/s: 0.00
[ 2s ] thds: 8 tps: 0.00 qps: 0.00 (r/w/o: 0.00/0.00/0.00) lat (ms,95%): 0.00 err/s: 3.00 reconn/s: 2.00
not an interval line
[ 10s ] thds: 32 tps: 12.50 qps: 250.00 (r/w/o: 175.00/50.00/25.00) lat (ms,95%): 1235.62 err/s: 0.50 reconn/s: 0.00
SQL statistics:
`
	got := ParseIntervals(text)
	want := []Interval{
		{T: 1, Threads: 8, TPS: 229.81, QPS: 4639.68, ReadQPS: 3255.32, WriteQPS: 920.74, OtherQPS: 463.62, P95Ms: 55.82},
		{T: 2, Threads: 8, ErrPS: 3, ReconnPS: 2},
		{T: 10, Threads: 32, TPS: 12.5, QPS: 250, ReadQPS: 175, WriteQPS: 50, OtherQPS: 25, P95Ms: 1235.62, ErrPS: 0.5},
	}
	if len(got) != len(want) {
		t.Fatalf("got %d intervals, want %d: %+v", len(got), len(want), got)
	}
	for i := range want {
		if got[i] != want[i] {
			t.Errorf("interval %d: got %+v, want %+v", i, got[i], want[i])
		}
	}
	if n := len(ParseIntervals(fixture(t, "sysbench-read_write.txt"))); n != 0 {
		t.Errorf("a run without --report-interval has %d intervals", n)
	}
}
