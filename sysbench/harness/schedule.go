package harness

import (
	"fmt"
	"time"
)

// Target names the harness itself starts; extra targets keep the name the
// user gave them.
const (
	Direct  = "direct"
	Relay   = "relay"
	RWProxy = "rwproxy"
	// ReplicaRelay is the same relay in front of the replicas, each client
	// connection to the next replica in turn: the floor of reading from
	// the replicas, where rwproxy sends its reads. It runs the read-only
	// workloads only (a replica refuses writes).
	ReplicaRelay = "relay-replicas"
	// ProxySQL is ProxySQL started by the harness with an equivalent
	// configuration (-proxysql); HAProxy is HAProxy in mode tcp to the
	// primary (-haproxy), a second floor beside the relay.
	ProxySQL = "proxysql"
	HAProxy  = "haproxy"
)

// ReadOnlyWorkload is true for the sysbench workloads that never write
// (oltp_read_only with --skip_trx=on, as the harness runs it).
func ReadOnlyWorkload(w string) bool {
	switch w {
	case "oltp_point_select", "oltp_read_only", "select_random_points", "select_random_ranges":
		return true
	}
	return false
}

// Step is one sysbench run in the schedule.
type Step struct {
	Workload string
	Threads  int
	Rep      int // 1-based
	Target   string
}

// Schedule lists the runs in the order they are made: per workload, per
// thread count, per repetition, every target once in the given order
// (direct, relay, rwproxy, extras...). Targets of one cell run back to
// back, so slow drift of the machine (other users, page cache, binlog
// growth) hits them alike instead of favouring whichever ran first.
// ReplicaRelay runs read-only workloads only.
func Schedule(workloads []string, threads []int, reps int, targets []string) []Step {
	var s []Step
	for _, w := range workloads {
		for _, t := range threads {
			for r := 1; r <= reps; r++ {
				for _, tg := range targets {
					if tg == ReplicaRelay && !ReadOnlyWorkload(w) {
						continue
					}
					s = append(s, Step{Workload: w, Threads: t, Rep: r, Target: tg})
				}
			}
		}
	}
	return s
}

// ETA estimates the time left after done of total runs took elapsed: the
// mean wall time so far times the runs left, or guess per run before any
// run has finished.
func ETA(done, total int, elapsed, guess time.Duration) time.Duration {
	left := total - done
	if left <= 0 {
		return 0
	}
	per := guess
	if done > 0 {
		per = elapsed / time.Duration(done)
	}
	return (per * time.Duration(left)).Round(time.Second)
}

// ProgressLine is the one line printed after each run.
func ProgressLine(n, total int, s Step, r Run, eta time.Duration) string {
	head := fmt.Sprintf("[%*d/%d] %-17s %3dt rep %d %-8s", width(total), n, total,
		s.Workload, s.Threads, s.Rep, s.Target)
	if !r.OK {
		return fmt.Sprintf("%s FAILED (exit %d): %s  ETA %s", head, r.ExitCode, firstOr(r.Fatal, "no summary"), eta)
	}
	line := fmt.Sprintf("%s %9s QPS  p95 %7.3f ms  p99 %7.3f ms  err %d", head,
		thousands(r.QPS), r.P95Ms, r.P99Ms, r.IgnoredErrors)
	if r.Proc != nil {
		line += fmt.Sprintf("  cpu %.1f µs/q", r.Proc.CPUMicrosPerQuery)
	}
	return fmt.Sprintf("%s  ETA %s", line, eta)
}

func width(n int) int { return len(fmt.Sprint(n)) }

func firstOr(s []string, def string) string {
	if len(s) == 0 {
		return def
	}
	return s[0]
}
