package harness

import (
	"bufio"
	"errors"
	"regexp"
	"strconv"
	"strings"
)

// Output is what one `sysbench ... run` printed (sysbench 1.0.x, run with
// --histogram=on). Counts are totals over the run; rates are per second.
type Output struct {
	Threads       int
	Read          int64 // "queries performed: read"
	Write         int64
	Other         int64 // BEGIN, COMMIT and the like
	Queries       int64 // "queries:" (= read+write+other)
	QPS           float64
	Transactions  int64
	TPS           float64
	IgnoredErrors int64 // errors sysbench ignored and retried (--mysql-ignore-errors)
	Reconnects    int64
	TotalTime     float64 // seconds
	// Latency summary in milliseconds as sysbench printed it (2 decimals).
	LatMin, LatAvg, LatMax float64
	// PctReported is sysbench's own "<N>th percentile" line (ms, 2 decimals)
	// and PctLabel its N; zero when absent.
	PctReported float64
	PctLabel    int
	Histogram   []Bucket
	// Fatal holds each distinct "FATAL: ..." message, in order of first
	// appearance (sysbench prints one set per failing thread).
	Fatal []string
	// Summary is true when the "SQL statistics" block was printed, i.e. the
	// run finished; a run that hit a fatal error or crashed has none.
	Summary bool
}

// ErrUnrecognized means the text has neither a summary nor a FATAL line:
// not sysbench run output, or sysbench died without saying why.
var ErrUnrecognized = errors.New("no sysbench summary and no FATAL line in the output")

var (
	reCount    = regexp.MustCompile(`^\s*(transactions|queries|ignored errors|reconnects):\s+(\d+)\s+\(([\d.]+) per sec\.\)`)
	rePerf     = regexp.MustCompile(`^\s*(read|write|other|total):\s+(\d+)\s*$`)
	reTime     = regexp.MustCompile(`^\s*total time:\s+([\d.]+)s`)
	reLat      = regexp.MustCompile(`^\s*(min|avg|max):\s+([\d.]+)\s*$`)
	rePct      = regexp.MustCompile(`^\s*(\d+)th percentile:\s+([\d.]+)\s*$`)
	reBucket   = regexp.MustCompile(`^\s*(\d+\.\d+) \|\**\s+(\d+)\s*$`)
	reThreads  = regexp.MustCompile(`^Number of threads:\s+(\d+)`)
	reFatal    = regexp.MustCompile(`^FATAL: (.*\S)`)
	reSQLStats = regexp.MustCompile(`^SQL statistics:`)
)

// ParseOutput reads sysbench run output. A run that failed (FATAL lines, no
// summary) is not an error: the Output says so. ErrUnrecognized is returned
// when the text carries neither.
func ParseOutput(text string) (Output, error) {
	var o Output
	sc := bufio.NewScanner(strings.NewReader(text))
	sc.Buffer(make([]byte, 64*1024), 1024*1024)
	for sc.Scan() {
		o.parseLine(sc.Text())
	}
	if err := sc.Err(); err != nil {
		return o, err
	}
	if !o.Summary && len(o.Fatal) == 0 {
		return o, ErrUnrecognized
	}
	return o, nil
}

func (o *Output) parseLine(line string) {
	switch {
	case o.parseCounts(line), o.parseLatency(line):
	case reSQLStats.MatchString(line):
		o.Summary = true
	default:
		o.parseMisc(line)
	}
}

func (o *Output) parseCounts(line string) bool {
	if m := reCount.FindStringSubmatch(line); m != nil {
		n, rate := atoi64(m[2]), atof(m[3])
		switch m[1] {
		case "transactions":
			o.Transactions, o.TPS = n, rate
		case "queries":
			o.Queries, o.QPS = n, rate
		case "ignored errors":
			o.IgnoredErrors = n
		case "reconnects":
			o.Reconnects = n
		}
		return true
	}
	if m := rePerf.FindStringSubmatch(line); m != nil {
		n := atoi64(m[2])
		switch m[1] {
		case "read":
			o.Read = n
		case "write":
			o.Write = n
		case "other":
			o.Other = n
		}
		return true
	}
	return false
}

func (o *Output) parseLatency(line string) bool {
	if m := reLat.FindStringSubmatch(line); m != nil {
		v := atof(m[2])
		switch m[1] {
		case "min":
			o.LatMin = v
		case "avg":
			o.LatAvg = v
		case "max":
			o.LatMax = v
		}
		return true
	}
	if m := rePct.FindStringSubmatch(line); m != nil {
		o.PctLabel, o.PctReported = int(atoi64(m[1])), atof(m[2])
		return true
	}
	if m := reTime.FindStringSubmatch(line); m != nil {
		o.TotalTime = atof(m[1])
		return true
	}
	return false
}

func (o *Output) parseMisc(line string) {
	if m := reBucket.FindStringSubmatch(line); m != nil {
		o.Histogram = append(o.Histogram, Bucket{Ms: atof(m[1]), Count: atoi64(m[2])})
		return
	}
	if m := reThreads.FindStringSubmatch(line); m != nil {
		o.Threads = int(atoi64(m[1]))
		return
	}
	if m := reFatal.FindStringSubmatch(line); m != nil {
		o.addFatal(m[1])
	}
}

func (o *Output) addFatal(msg string) {
	for _, f := range o.Fatal {
		if f == msg {
			return
		}
	}
	o.Fatal = append(o.Fatal, msg)
}

func atoi64(s string) int64 {
	n, _ := strconv.ParseInt(s, 10, 64)
	return n
}

func atof(s string) float64 {
	f, _ := strconv.ParseFloat(s, 64)
	return f
}
