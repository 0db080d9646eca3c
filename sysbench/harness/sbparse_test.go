package harness

import (
	"errors"
	"math"
	"os"
	"path/filepath"
	"strings"
	"testing"
)

func fixture(t *testing.T, name string) string {
	t.Helper()
	b, err := os.ReadFile(filepath.Join("..", "testdata", name))
	if err != nil {
		t.Fatal(err)
	}
	return string(b)
}

func parseFixture(t *testing.T, name string) Output {
	t.Helper()
	o, err := ParseOutput(fixture(t, name))
	if err != nil {
		t.Fatalf("%s: %v", name, err)
	}
	return o
}

func TestParsePointSelect(t *testing.T) {
	o := parseFixture(t, "sysbench-point_select.txt")
	want := Output{
		Threads: 2, Read: 29586, Queries: 29586, QPS: 9841.56,
		Transactions: 29586, TPS: 9841.56, TotalTime: 3.0041,
		LatMin: 0.03, LatAvg: 0.20, LatMax: 55.70, PctReported: 0.40, PctLabel: 95,
		Summary: true,
	}
	got := o
	got.Histogram = nil
	if !equalOutput(got, want) {
		t.Fatalf("got %+v\nwant %+v", got, want)
	}
	if len(o.Histogram) != 339 || Events(o.Histogram) != o.Transactions {
		t.Fatalf("histogram: %d rows, %d events; want 339 rows, %d events",
			len(o.Histogram), Events(o.Histogram), o.Transactions)
	}
	if o.Histogram[0] != (Bucket{0.027, 13}) || o.Histogram[338] != (Bucket{55.824, 1}) {
		t.Fatalf("first/last bucket: %+v %+v", o.Histogram[0], o.Histogram[338])
	}
}

func equalOutput(a, b Output) bool {
	return a.Threads == b.Threads && a.Read == b.Read && a.Write == b.Write &&
		a.Other == b.Other && a.Queries == b.Queries && a.QPS == b.QPS &&
		a.Transactions == b.Transactions && a.TPS == b.TPS &&
		a.IgnoredErrors == b.IgnoredErrors && a.Reconnects == b.Reconnects &&
		a.TotalTime == b.TotalTime && a.LatMin == b.LatMin && a.LatAvg == b.LatAvg &&
		a.LatMax == b.LatMax && a.PctReported == b.PctReported &&
		a.PctLabel == b.PctLabel && a.Summary == b.Summary && len(a.Fatal) == len(b.Fatal)
}

func TestParseWorkloads(t *testing.T) {
	cases := []struct {
		file               string
		threads            int
		read, write, other int64
		queries, trx, errs int64
		qps, tps, pct      float64
	}{
		{"sysbench-read_only.txt", 2, 19922, 0, 0, 19922, 1423, 0, 9923.24, 708.80, 9.22},
		{"sysbench-read_write.txt", 4, 12964, 3694, 1848, 18506, 922, 4, 6157.39, 306.77, 34.95},
		{"sysbench-write_only.txt", 2, 0, 11565, 5786, 17351, 2888, 10, 8654.38, 1440.48, 5.09},
	}
	for _, c := range cases {
		o := parseFixture(t, c.file)
		got := []float64{float64(o.Threads), float64(o.Read), float64(o.Write), float64(o.Other),
			float64(o.Queries), float64(o.Transactions), float64(o.IgnoredErrors), o.QPS, o.TPS, o.PctReported}
		want := []float64{float64(c.threads), float64(c.read), float64(c.write), float64(c.other),
			float64(c.queries), float64(c.trx), float64(c.errs), c.qps, c.tps, c.pct}
		for i := range got {
			if got[i] != want[i] {
				t.Errorf("%s: field %d = %v, want %v", c.file, i, got[i], want[i])
			}
		}
		if Events(o.Histogram) != o.Transactions {
			t.Errorf("%s: histogram has %d events, summary %d", c.file, Events(o.Histogram), o.Transactions)
		}
	}
}

func TestParseFatal(t *testing.T) {
	cases := map[string][]string{
		"sysbench-fatal_query.txt": {
			"mysql_stmt_prepare() failed",
			`MySQL error: 1146 "Table 'sbtest.sbtest3' doesn't exist"`,
			"`thread_init' function failed: /usr/share/sysbench/oltp_common.lua:284: SQL API error",
			"Thread initialization failed!",
		},
		"sysbench-connect_refused.txt": {
			"unable to connect to MySQL server on host '127.0.0.1', port 1, aborting...",
			"error 2002: Can't connect to server on '127.0.0.1' (115)",
			"`thread_init' function failed: /usr/share/sysbench/oltp_common.lua:349: connection creation failed",
			"Thread initialization failed!",
		},
		"sysbench-fatal_midrun.txt": {
			"mysql_stmt_execute() returned error 1146 (Table 'sbtest.sbtest2' doesn't exist) for query 'SELECT c FROM sbtest2 WHERE id=?'",
			"`thread_run' function failed: /usr/share/sysbench/oltp_common.lua:419: SQL error, errno = 1146, state = '42S02': Table 'sbtest.sbtest2' doesn't exist",
		},
	}
	for file, want := range cases {
		o := parseFixture(t, file)
		if o.Summary || o.Queries != 0 || len(o.Histogram) != 0 {
			t.Errorf("%s: a failed run must have no summary: %+v", file, o)
		}
		if strings.Join(o.Fatal, "\n") != strings.Join(want, "\n") {
			t.Errorf("%s: fatal =\n%q\nwant\n%q", file, o.Fatal, want)
		}
	}
}

func TestParseCrashAndGarbage(t *testing.T) {
	for _, text := range []string{fixture(t, "sysbench-segfault.txt"), "", "hello\nworld\n"} {
		if _, err := ParseOutput(text); !errors.Is(err, ErrUnrecognized) {
			t.Errorf("ParseOutput(%.40q) err = %v, want ErrUnrecognized", text, err)
		}
	}
}

func TestParseReconnects(t *testing.T) {
	text := strings.Replace(fixture(t, "sysbench-read_write.txt"),
		"reconnects:                          0      (0.00 per sec.)",
		"reconnects:                          7      (2.33 per sec.)", 1)
	if o := mustParse(t, text); o.Reconnects != 7 {
		t.Fatalf("reconnects = %d, want 7", o.Reconnects)
	}
}

func mustParse(t *testing.T, text string) Output {
	t.Helper()
	o, err := ParseOutput(text)
	if err != nil {
		t.Fatal(err)
	}
	return o
}

// The p95 computed from the histogram must agree with sysbench's own
// --percentile=95 line, which is rounded to 0.01 ms.
func TestPercentileMatchesSysbench(t *testing.T) {
	for _, f := range []string{"sysbench-point_select.txt", "sysbench-read_only.txt",
		"sysbench-read_write.txt", "sysbench-write_only.txt"} {
		o := parseFixture(t, f)
		p95, ok := Percentile(o.Histogram, 95)
		if !ok || math.Abs(p95-o.PctReported) > 0.005+1e-9 {
			t.Errorf("%s: p95 from histogram %.3f, sysbench says %.2f", f, p95, o.PctReported)
		}
		p99, _ := Percentile(o.Histogram, 99)
		if p99 < p95 || p99 > o.LatMax+0.5 {
			t.Errorf("%s: p99 %.3f outside [p95 %.3f, max %.2f]", f, p99, p95, o.LatMax)
		}
	}
}

func TestPercentileRule(t *testing.T) {
	h := []Bucket{{1, 90}, {2, 5}, {3, 4}, {4, 1}}
	cases := []struct {
		p    float64
		want float64
	}{{50, 1}, {90, 1}, {90.6, 2}, {95, 2}, {99, 3}, {99.5, 4}, {100, 4}, {0.1, 1}}
	for _, c := range cases {
		if got, ok := Percentile(h, c.p); !ok || got != c.want {
			t.Errorf("p%v = %v, want %v", c.p, got, c.want)
		}
	}
	if _, ok := Percentile(nil, 95); ok {
		t.Error("empty histogram must not give a percentile")
	}
	if _, ok := Percentile(h, 0); ok {
		t.Error("p0 must be refused")
	}
}
