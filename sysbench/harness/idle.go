package harness

import (
	"fmt"
	"strings"
	"time"
)

// The idle-connection target: what one logged-in, idle client costs
// rwproxy, measured with many of them open at once.
const (
	MaxIdleBytesPerConn = 16 * 1024
	// MinIdleQPSRatio: with the idle clients open, rwproxy's point-select
	// QPS stays at least this share of its QPS without them ("full speed").
	MinIdleQPSRatio = 0.9
)

// Idle is the idle-connection measurement: Conns clients logged in
// through rwproxy and left idle; rwproxy's resident memory (VmRSS) before
// they opened, with them open, and after they closed; then sysbench point
// selects through rwproxy while they stay open.
type Idle struct {
	// Target is the proxy measured; empty means rwproxy.
	Target      string  `json:"target,omitempty"`
	Conns       int     `json:"conns"`
	Failed      int     `json:"failed"`
	OpenSeconds float64 `json:"open_seconds"`
	RSSBeforeKB int64   `json:"rss_before_kb"`
	// RSSLoginKB is read 3 s after the last login; RSSOpenKB, what the
	// verdicts use, once the process has settled with the clients open
	// (IdleSettle later: rwproxy gives the logins' garbage back within
	// 10 s, internal/app/memtrim.go). 0: not read (older results).
	RSSLoginKB int64 `json:"rss_login_kb,omitempty"`
	RSSOpenKB  int64 `json:"rss_open_kb"`
	RSSAfterKB int64 `json:"rss_after_kb"`
	// Run is the point-select run made while the clients were open;
	// BaselineQPS rwproxy's QPS in the same cell of the main runs (the
	// median of its repetitions, as in the report's table).
	Run         *Run    `json:"run,omitempty"`
	BaselineQPS float64 `json:"baseline_qps,omitempty"`
}

// IdleSettle is how long after the last login an idle-connection
// measurement reads the settled RSS (RSSOpenKB).
const IdleSettle = 15 * time.Second

// BytesPerConn is the resident memory one idle client adds.
func (i *Idle) BytesPerConn() float64 { return i.perConn(i.RSSOpenKB) }

// BytesPerConnAtLogin is BytesPerConn 3 s after the last login (0 when
// not read).
func (i *Idle) BytesPerConnAtLogin() float64 {
	if i.RSSLoginKB == 0 {
		return 0
	}
	return i.perConn(i.RSSLoginKB)
}

func (i *Idle) perConn(kb int64) float64 {
	n := i.Conns - i.Failed
	if n <= 0 {
		return 0
	}
	return float64(kb-i.RSSBeforeKB) * 1024 / float64(n)
}

// atLogin renders BytesPerConnAtLogin in KiB, "–" when not read.
func (i *Idle) atLogin() string {
	if i.RSSLoginKB == 0 {
		return "–"
	}
	return fmt.Sprintf("%.1f KiB", i.BytesPerConnAtLogin()/1024)
}

// IdleVerdicts checks the memory and "full speed" halves of the target.
func IdleVerdicts(i *Idle) []Verdict {
	mem := Verdict{Name: "memory per idle client connection",
		Goal: fmt.Sprintf("<= %d KiB", MaxIdleBytesPerConn/1024), Detail: verdictNotMeasured}
	speed := Verdict{Name: fmt.Sprintf("%s QPS at %d threads with the idle clients open", TargetWorkload, QPSThreads),
		Goal: fmt.Sprintf(">= %.0f%% of rwproxy's QPS without them", MinIdleQPSRatio*100), Detail: verdictNotMeasured}
	if i == nil || i.Conns-i.Failed <= 0 {
		return []Verdict{mem, speed}
	}
	per := i.BytesPerConn()
	mem.Measured, mem.Met = true, per <= MaxIdleBytesPerConn
	mem.Value = fmt.Sprintf("%.1f KiB (%d clients: RSS %s → %s)", per/1024, i.Conns-i.Failed, mib(i.RSSBeforeKB)+" MiB", mib(i.RSSOpenKB)+" MiB")
	mem.Detail = overUnder(mem.Met, (per-MaxIdleBytesPerConn)/1024, "KiB")
	if i.Run != nil && i.Run.OK && i.BaselineQPS > 0 {
		ratio := i.Run.QPS / i.BaselineQPS
		speed.Measured, speed.Met = true, ratio >= MinIdleQPSRatio
		speed.Value = fmt.Sprintf("%s vs %s QPS = %.1f%%", thousands(i.Run.QPS), thousands(i.BaselineQPS), ratio*100)
		speed.Detail = overUnder(speed.Met, (MinIdleQPSRatio-ratio)*100, "points")
	}
	return []Verdict{mem, speed}
}

func mdIdle(b *strings.Builder, r *Report) {
	i := r.Idle
	if i == nil {
		return
	}
	b.WriteString("## Idle client connections\n\n")
	fmt.Fprintf(b, "%d clients logged in through rwproxy (go-sql-driver, no schema) in %.1f s and stayed idle (%d failed).\n\n",
		i.Conns, i.OpenSeconds, i.Failed)
	b.WriteString("| rwproxy RSS before | with them open | after they closed | per idle client | 3 s after the logins |\n| --- | --- | --- | --- | --- |")
	fmt.Fprintf(b, "\n| %s MiB | %s MiB | %s MiB | %.1f KiB | %s |", mib(i.RSSBeforeKB), mib(i.RSSOpenKB), mib(i.RSSAfterKB), i.BytesPerConn()/1024, i.atLogin())
	b.WriteString("\n\n")
	if i.Run != nil {
		fmt.Fprintf(b, "With them open, %s at %d threads through rwproxy: %s QPS, p95 %.2f ms (main runs: %s QPS).\n\n",
			i.Run.Workload, i.Run.Threads, thousands(i.Run.QPS), i.Run.P95Ms, thousands(i.BaselineQPS))
	}
}
