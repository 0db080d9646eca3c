package harness

import (
	"bufio"
	"regexp"
	"strings"
)

// Interval is one per-second (--report-interval) line of sysbench run
// output: rates over the interval that ended at second T of the run.
type Interval struct {
	T        float64 `json:"t"` // seconds since the run started
	Threads  int     `json:"threads"`
	TPS      float64 `json:"tps"`
	QPS      float64 `json:"qps"`
	ReadQPS  float64 `json:"read_qps"`
	WriteQPS float64 `json:"write_qps"`
	OtherQPS float64 `json:"other_qps"`
	P95Ms    float64 `json:"p95_ms"` // 0 when no event finished in the interval
	ErrPS    float64 `json:"err_per_sec"`
	ReconnPS float64 `json:"reconn_per_sec"`
}

// reInterval matches sysbench 1.0's interval line, e.g.
// "[ 2s ] thds: 8 tps: 229.81 qps: 4639.68 (r/w/o: 3255.32/920.74/463.62) lat (ms,95%): 55.82 err/s: 0.00 reconn/s: 0.00".
var reInterval = regexp.MustCompile(`^\[ *([\d.]+)s \] thds: (\d+) tps: ([\d.]+) qps: ([\d.]+) ` +
	`\(r/w/o: ([\d.]+)/([\d.]+)/([\d.]+)\) lat \(ms,\d+%\): ([\d.]+) err/s:? ([\d.]+) reconn/s: ([\d.]+)`)

// ParseIntervals returns every interval line of sysbench output, in order;
// other lines are ignored.
func ParseIntervals(text string) []Interval {
	var out []Interval
	sc := bufio.NewScanner(strings.NewReader(text))
	sc.Buffer(make([]byte, 64*1024), 1024*1024)
	for sc.Scan() {
		m := reInterval.FindStringSubmatch(sc.Text())
		if m == nil {
			continue
		}
		out = append(out, Interval{T: atof(m[1]), Threads: int(atoi64(m[2])), TPS: atof(m[3]), QPS: atof(m[4]),
			ReadQPS: atof(m[5]), WriteQPS: atof(m[6]), OtherQPS: atof(m[7]), P95Ms: atof(m[8]),
			ErrPS: atof(m[9]), ReconnPS: atof(m[10])})
	}
	return out
}
