package main

import (
	"context"
	"fmt"
	"net"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"time"

	"github.com/rwproxy/rwproxy/sysbench/harness"
)

// Configurations sysbench is pointed at.
const (
	cfgDirect = "direct"  // the group's primary, no proxy
	cfgProxy  = "rwproxy" // one rwproxy node (proxy1), no load balancer
	cfgChain  = "chain"   // HAProxy → proxy1..3
)

var configs = []string{cfgDirect, cfgProxy, cfgChain}

// Workloads and their extra sysbench options: oltp_read_only without
// transactions, so that its reads can go to the secondaries.
var (
	allWorkloads = []string{"oltp_point_select", "oltp_read_only", "oltp_read_write"}
	workloadArgs = map[string][]string{
		"oltp_point_select": nil,
		"oltp_read_only":    {"--skip_trx=on"},
		"oltp_read_write":   nil,
	}
)

// Tier roles.
const (
	roleLB        = "lb"
	roleProxy     = "proxy"
	rolePrimary   = "primary"
	roleSecondary = "secondary"
)

// TierCPU is the CPU one process of the chain used during a run.
type TierCPU struct {
	Name       string  `json:"name"` // haproxy, proxy1, member2, ...
	Role       string  `json:"role"` // lb, proxy, primary, secondary
	PID        int     `json:"pid"`
	CPUSeconds float64 `json:"cpu_seconds"`
	// Questions is the member's Questions delta (statements it ran for
	// clients, the proxies' monitors included); 0 for other tiers.
	Questions int64 `json:"questions,omitempty"`
}

// Run is one sysbench run with the chain's accounting around it.
type Run struct {
	harness.Run
	Label              string             `json:"label,omitempty"` // e.g. "1 secondary"
	Tiers              []TierCPU          `json:"tiers"`
	SysbenchCPUSeconds float64            `json:"sysbench_cpu_seconds"`
	Intervals          []harness.Interval `json:"intervals,omitempty"`
}

// tierSet is the processes whose CPU a run measures.
type tierSet []TierCPU

func (c *chain) tiers(ctx context.Context) (tierSet, error) {
	ms, err := c.members(ctx)
	if err != nil {
		return nil, err
	}
	ts := tierSet{{Name: "haproxy", Role: roleLB, PID: c.int("HAPROXY_PID")}}
	for n := 1; n <= 3; n++ {
		ts = append(ts, TierCPU{Name: fmt.Sprintf("proxy%d", n), Role: roleProxy, PID: c.proxyPID(n)})
	}
	for _, m := range ms {
		role := roleSecondary
		if m.Role == "PRIMARY" {
			role = rolePrimary
		}
		ts = append(ts, TierCPU{Name: fmt.Sprintf("member%d", m.N), Role: role, PID: m.PID})
	}
	return ts, nil
}

// sample is the accounting read at one instant.
type sample struct {
	at        time.Time
	busy      int64
	ticks     []int64
	questions []int64
}

func (s *study) takeSample(ctx context.Context, ts tierSet) sample {
	sm := sample{at: time.Now(), ticks: make([]int64, len(ts)), questions: make([]int64, len(ts))}
	sm.busy, _, _ = s.proc.SystemCPU()
	for i, t := range ts {
		if t.PID > 0 {
			sm.ticks[i], _ = s.proc.CPUTicks(t.PID)
		}
		var n int
		if _, err := fmt.Sscanf(t.Name, "member%d", &n); err == nil {
			sm.questions[i] = s.chain.questions(ctx, n)
		}
	}
	return sm
}

// sysbenchArgs is the command line of one run against addr.
func (s *study) sysbenchArgs(addr, workload string, threads, seconds int, extra ...string) []string {
	host, port, _ := net.SplitHostPort(addr)
	args := []string{"sysbench", "--db-driver=mysql", "--mysql-host=" + host, "--mysql-port=" + port,
		"--mysql-user=app", "--mysql-password=app", "--mysql-db=sbtest",
		"--tables=" + strconv.Itoa(s.o.tables), "--table-size=" + strconv.Itoa(s.o.rows),
		"--threads=" + strconv.Itoa(threads), "--time=" + strconv.Itoa(seconds),
		"--db-ps-mode=auto", "--histogram=on", "--percentile=95"}
	args = append(args, workloadArgs[workload]...)
	args = append(args, extra...)
	return append(args, workload, "run")
}

func (s *study) addr(config string) string {
	switch config {
	case cfgDirect:
		return s.chain.memberAddr(s.primary)
	case cfgProxy:
		return s.chain.proxyAddr(1)
	default:
		return s.chain.lbAddr()
	}
}

// workFn runs the load of one measured run and returns its Run (the
// tiers and accounting are filled in by measure), the client's CPU seconds
// and its raw output.
type workFn func(ctx context.Context) (Run, float64, string)

// sysbenchWork is one sysbench run.
func (s *study) sysbenchWork(st harness.Step, seconds int, extra []string) workFn {
	return func(ctx context.Context) (Run, float64, string) {
		out, exit, sbCPU := harness.RunSysbench(ctx, s.sysbenchArgs(s.addr(st.Target), st.Workload, st.Threads, seconds, extra...))
		o, perr := harness.ParseOutput(out)
		r := Run{Run: harness.NewRun(st, exit, o), Intervals: harness.ParseIntervals(out)}
		if perr != nil {
			r.Fatal = append(r.Fatal, fmt.Sprintf("sysbench exit %d: %v", exit, perr))
		}
		return r, sbCPU, out
	}
}

// loadWork is one run of the fault client (loadgen.go).
func (s *study) loadWork(st harness.Step, kind string, seconds int) workFn {
	return func(ctx context.Context) (Run, float64, string) {
		sp := loadSpec{addr: s.addr(st.Target), kind: kind, threads: st.Threads, seconds: seconds, tables: s.o.tables, rows: s.o.rows}
		lr, err := runLoad(ctx, sp)
		r := Run{Run: harness.Run{Workload: st.Workload, Threads: st.Threads, Rep: st.Rep, Target: st.Target,
			OK: err == nil, Queries: lr.queries, Transactions: lr.events, IgnoredErrors: lr.errors, P95Ms: lr.p95Ms},
			Intervals: lr.intervals}
		if secs := lr.wall.Seconds(); secs > 0 {
			r.QPS, r.TPS = float64(lr.queries)/secs, float64(lr.events)/secs
		}
		if lr.firstErr != "" {
			r.Fatal = []string{"client errors: " + strings.Join(topErrors(lr.errKinds, 3), ", ")}
		}
		return r, lr.cpuSeconds, fmt.Sprintf("%+v\n", lr.intervals)
	}
}

// measure makes one run and accounts every tier around it. during, when
// set, runs alongside (a fault schedule) and its error is returned.
func (s *study) measure(ctx context.Context, st harness.Step, work workFn,
	during func(ctx context.Context, t0 time.Time) error) (Run, error) {
	ts, err := s.chain.tiers(ctx)
	if err != nil {
		return Run{}, err
	}
	before := s.takeSample(ctx, ts)
	errc := make(chan error, 1)
	if during != nil {
		go func() { errc <- during(ctx, before.at) }()
	} else {
		errc <- nil
	}
	r, clientCPU, out := work(ctx)
	duringErr := <-errc
	// After a fault the pids may have changed (a restarted node): account
	// the processes that ran during the run, by the pids read before it.
	after := s.takeSample(ctx, ts)
	if ctx.Err() != nil {
		return Run{}, ctx.Err()
	}
	r.Tiers, r.SysbenchCPUSeconds = ts, clientCPU
	r.Start = before.at.UTC()
	r.WallSeconds = after.at.Sub(before.at).Seconds()
	if r.WallSeconds > 0 {
		r.BusyCores = harness.TicksToSeconds(after.busy-before.busy) / r.WallSeconds
	}
	ours := clientCPU
	for i := range r.Tiers {
		if after.ticks[i] >= before.ticks[i] {
			r.Tiers[i].CPUSeconds = harness.TicksToSeconds(after.ticks[i] - before.ticks[i])
		}
		ours += r.Tiers[i].CPUSeconds
		if before.questions[i] >= 0 && after.questions[i] >= before.questions[i] {
			r.Tiers[i].Questions = after.questions[i] - before.questions[i]
		}
	}
	if r.WallSeconds > 0 {
		r.OtherCores = max(0, r.BusyCores-ours/r.WallSeconds)
	}
	r.RawFile = s.saveRaw(st, out)
	return r, duringErr
}

func (s *study) saveRaw(st harness.Step, out string) string {
	dir := filepath.Join(s.work, "raw")
	_ = os.MkdirAll(dir, 0o755)
	s.rawN++
	p := filepath.Join(dir, fmt.Sprintf("%03d-%s-%dt-%s.txt", s.rawN, st.Workload, st.Threads, st.Target))
	if err := os.WriteFile(p, []byte(out), 0o644); err != nil {
		return ""
	}
	return p
}

// TierMicros is CPU microseconds per query of each role in a run: the sum
// over the role's processes divided by the run's queries.
func (r Run) TierMicros() map[string]float64 {
	m := map[string]float64{}
	if r.Queries <= 0 {
		return m
	}
	for _, t := range r.Tiers {
		m[t.Role] += t.CPUSeconds * 1e6 / float64(r.Queries)
	}
	m["sysbench"] = r.SysbenchCPUSeconds * 1e6 / float64(r.Queries)
	return m
}
