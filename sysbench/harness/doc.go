// Package harness holds the testable parts of the sysbench harness
// (sysbench/cmd/bench): parsing sysbench 1.0 output, percentiles from its
// latency histogram, CPU and memory accounting from /proc, the interleaved
// run schedule, the result JSON, the markdown report, the target verdicts
// and the charts. Nothing here starts a process or opens a socket, so
// `go -C sysbench test ./...` checks all of it against the fixtures in
// sysbench/testdata without running sysbench.
package harness
