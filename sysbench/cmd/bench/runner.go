package main

import (
	"context"
	"fmt"
	"net"
	"os"
	"path/filepath"
	"strconv"
	"time"

	"github.com/rwproxy/rwproxy/sysbench/harness"
)

// sysbenchArgs is the command line of one run against addr.
func (b *bench) sysbenchArgs(addr, workload string, threads, seconds int) []string {
	host, port, _ := net.SplitHostPort(addr)
	args := []string{"sysbench", "--db-driver=mysql", "--mysql-host=" + host, "--mysql-port=" + port,
		"--mysql-user=app", "--mysql-password=app", "--mysql-db=sbtest",
		"--tables=" + strconv.Itoa(b.o.tables), "--table-size=" + strconv.Itoa(b.o.rows),
		"--threads=" + strconv.Itoa(threads), "--time=" + strconv.Itoa(seconds),
		"--db-ps-mode=" + b.o.psMode, "--histogram=on", "--percentile=95"}
	args = append(args, workloadArgs[workload]...)
	args = append(args, b.o.sysbenchArgs...)
	return append(args, workload, "run")
}

// sample is the accounting read just before and just after a run.
type sample struct {
	at      time.Time
	busy    int64 // machine busy ticks
	target  int64 // ticks of the target's process
	ours    int64 // ticks of the sandbox servers and the proxies
	servers int64 // ticks of the sandbox servers
	load    float64
	ctr     harness.Counters // the target's process
	ctrOK   bool
	// bytes received and sent by the servers
	srvRecv, srvSent int64
	srvOK            bool
}

func (b *bench) takeSample(pid int) sample {
	s := sample{at: time.Now()}
	s.busy, _, _ = b.proc.SystemCPU()
	s.load, _ = b.proc.LoadAvg()
	for _, p := range b.servers {
		t, _ := b.proc.CPUTicks(p)
		s.servers += t
	}
	s.ours = s.servers
	for _, p := range b.proxies {
		t, _ := b.proc.CPUTicks(p)
		s.ours += t
	}
	if pid > 0 {
		s.target, _ = b.proc.CPUTicks(pid)
		c, err := b.proc.Counters(pid)
		s.ctr, s.ctrOK = c, err == nil
	}
	s.srvRecv, s.srvSent, s.srvOK = b.serverBytes(context.Background())
	return s
}

// runStep makes one sysbench run and measures around it. A run cut short
// by ctx (Ctrl-C) is reported as ctx's error and not recorded.
func (b *bench) runStep(ctx context.Context, n int, s harness.Step, addr string) (harness.Run, error) {
	pid := b.pids[s.Target]
	scope := ""
	if pid > 0 {
		scope = "run"
		if err := b.proc.ResetPeakRSS(pid); err != nil {
			scope = "process lifetime"
		}
	}
	before := b.takeSample(pid)
	out, exit, sbCPU := b.sysbench(ctx, b.sysbenchArgs(addr, s.Workload, s.Threads, b.o.timeSec))
	after := b.takeSample(pid)
	if ctx.Err() != nil {
		return harness.Run{}, ctx.Err()
	}
	o, perr := harness.ParseOutput(out)
	r := harness.NewRun(s, exit, o)
	if perr != nil {
		r.Fatal = append(r.Fatal, fmt.Sprintf("sysbench exit %d: %v", exit, perr))
	}
	r.Start, r.LoadAvg1 = before.at.UTC(), before.load
	r.WallSeconds = after.at.Sub(before.at).Seconds()
	b.account(&r, before, after, sbCPU, pid, scope)
	r.RawFile = b.saveRaw(n, s, out)
	return r, nil
}

// account fills the CPU, memory and machine-load figures of a run.
func (b *bench) account(r *harness.Run, before, after sample, sbCPU float64, pid int, scope string) {
	wall := after.at.Sub(before.at).Seconds()
	if wall <= 0 {
		return
	}
	r.BusyCores = harness.TicksToSeconds(after.busy-before.busy) / wall
	ours := harness.TicksToSeconds(after.ours-before.ours) + sbCPU
	r.OtherCores = max(0, r.BusyCores-ours/wall)
	r.ServersCPUMicros = harness.MicrosPerQuery(harness.TicksToSeconds(after.servers-before.servers), r.Queries)
	if before.srvOK && after.srvOK && r.Queries > 0 {
		q := float64(r.Queries)
		r.Wire = &harness.Wire{ToServersPerQuery: float64(after.srvRecv-before.srvRecv) / q,
			FromServersPerQuery: float64(after.srvSent-before.srvSent) / q}
	}
	if pid <= 0 {
		return
	}
	cpu := harness.TicksToSeconds(after.target - before.target)
	u := &harness.ProcUsage{PID: pid, CPUSeconds: cpu, PeakRSSScope: scope,
		CPUMicrosPerQuery: harness.MicrosPerQuery(cpu, r.Queries)}
	u.CPUSecondsPer1kQueries = u.CPUMicrosPerQuery / 1000
	u.PeakRSSKB, _ = b.proc.PeakRSSKB(pid)
	if before.ctrOK && after.ctrOK {
		st := harness.CountersPerQuery(after.ctr.Sub(before.ctr), r.Queries)
		u.Stmt = &st
	}
	r.Proc = u
}

// sysbench runs one command and returns its combined output, exit code
// (-1 when it could not start or died by a signal) and CPU seconds.
func (b *bench) sysbench(ctx context.Context, argv []string) (string, int, float64) {
	return harness.RunSysbench(ctx, argv)
}

func (b *bench) saveRaw(n int, s harness.Step, out string) string {
	dir := filepath.Join(b.work, "raw")
	_ = os.MkdirAll(dir, 0o755)
	p := filepath.Join(dir, fmt.Sprintf("%03d-%s-%dt-r%d-%s.txt", n, s.Workload, s.Threads, s.Rep, s.Target))
	if err := os.WriteFile(p, []byte(out), 0o644); err != nil {
		return ""
	}
	return p
}

// warmup runs unrecorded point selects through every target, so that
// connection pools and caches are filled before the first measured run.
func (b *bench) warmup(ctx context.Context) {
	if b.o.warmupSec == 0 {
		return
	}
	for _, t := range b.targets {
		argv := b.sysbenchArgs(t.Addr, "oltp_point_select", min(8, b.o.threads[len(b.o.threads)-1]), b.o.warmupSec)
		out, exit, _ := b.sysbench(ctx, argv)
		if ctx.Err() != nil {
			return
		}
		if o, err := harness.ParseOutput(out); err != nil || exit != 0 || !o.Summary {
			b.say("warm-up through %s failed (exit %d): %v %v", t.Name, exit, o.Fatal, err)
		}
	}
	b.say("warm-up: %d s of point selects through each target, not recorded", b.o.warmupSec)
}
