// Command bench is the sysbench harness behind `make bench`: it starts a
// MariaDB sandbox (primary + 2 replicas), rwproxy and a plain TCP relay,
// runs sysbench workloads directly against the primary, through the relay
// and through rwproxy (plus any extra targets), interleaved, and writes
// JSON, markdown and PNG charts to sysbench/results. See
// sysbench/README.md.
package main

import (
	"context"
	"errors"
	"flag"
	"fmt"
	"os"
	"os/signal"
	"syscall"
	"time"

	"github.com/rwproxy/rwproxy/internal/repo"
	"github.com/rwproxy/rwproxy/sysbench/harness"
)

func main() {
	o, err := parseOptions(os.Args[1:], os.Getenv)
	if errors.Is(err, flag.ErrHelp) {
		return
	}
	if err != nil {
		fmt.Fprintln(os.Stderr, "bench:", err)
		os.Exit(2)
	}
	if o.render != "" {
		err = render(o)
	} else {
		err = run(o)
	}
	if err != nil {
		if errors.Is(err, context.Canceled) {
			fmt.Fprintln(os.Stderr, "bench: interrupted; everything it started is stopped")
			os.Exit(130)
		}
		fmt.Fprintln(os.Stderr, "bench:", err)
		os.Exit(1)
	}
}

func run(o *options) error {
	root, err := repo.Root()
	if err != nil {
		return err
	}
	work, err := os.MkdirTemp("", "rwproxy-bench-")
	if err != nil {
		return err
	}
	b := &bench{o: o, repo: root, work: work, ports: o.ports(), proc: harness.Proc{Root: "/proc"}}
	b.say("logs and raw sysbench output: %s", work)
	// Signals cancel ctx; they stay caught until cleanup is over, so a
	// second Ctrl-C cannot cut the cleanup short.
	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt, syscall.SIGTERM, syscall.SIGHUP)
	defer stop()
	defer b.cleanup()
	b.report = newReport(o, b.machine(), os.Args[1:])
	if err := b.setup(ctx); err != nil {
		return err
	}
	b.report.Targets = b.targets
	b.warmup(ctx)
	runErr := b.runAll(ctx)
	if runErr == nil && o.idle > 0 {
		idle, err := b.idlePhase(ctx)
		if err != nil {
			b.say("idle-connection measurement failed: %v", err)
		}
		b.report.Idle = idle
	}
	if runErr == nil {
		b.idlePeers(ctx)
		if b.o.mux > 0 {
			b.report.Mux = b.muxPhase(ctx)
		}
	}
	if len(b.report.Runs) == 0 {
		return runErr
	}
	if err := b.write(runErr != nil); err != nil {
		return err
	}
	return errors.Join(runErr, failedRuns(b.report))
}

func newReport(o *options, m harness.Machine, args []string) *harness.Report {
	wl := map[string][]string{}
	for _, w := range o.workloads {
		if a := workloadArgs[w]; a != nil {
			wl[w] = a
		}
	}
	return &harness.Report{Started: time.Now().UTC(), Command: o.command(args), Machine: m,
		Config: harness.Config{TimeSeconds: o.timeSec, WarmupSeconds: o.warmupSec, Tables: o.tables,
			Rows: o.rows, Threads: o.threads, Workloads: o.workloads, WorkloadArgs: wl, Reps: o.reps,
			PSMode: o.psMode, SysbenchArgs: o.sysbenchArgs, PinnedReplicas: o.pinReplicas}}
}

// runAll makes every scheduled run, printing one progress line each.
func (b *bench) runAll(ctx context.Context) error {
	addr := map[string]string{}
	for _, t := range b.targets {
		addr[t.Name] = t.Addr
	}
	steps := harness.Schedule(b.o.workloads, b.o.threads, b.o.reps, b.report.TargetNames())
	guess := time.Duration(b.o.timeSec)*time.Second + 1500*time.Millisecond
	b.say("%d runs of %d s; first ETA %s", len(steps), b.o.timeSec, harness.ETA(0, len(steps), 0, guess))
	t0 := time.Now()
	for i, s := range steps {
		if err := b.procsAlive(); err != nil {
			return err
		}
		r, err := b.runStep(ctx, i+1, s, addr[s.Target])
		if err != nil {
			return err
		}
		b.report.Runs = append(b.report.Runs, r)
		if r.Write > 0 {
			b.syncReplicas(ctx)
		}
		eta := harness.ETA(i+1, len(steps), time.Since(t0), guess)
		fmt.Println(harness.ProgressLine(i+1, len(steps), s, r, eta))
	}
	return nil
}

// procsAlive reports rwproxy or a relay gone: the runs through it would
// only measure connection errors.
func (b *bench) procsAlive() error {
	for _, p := range []*proc{b.proxy, b.relay, b.repRelay, b.peers.proxysql, b.peers.haproxy} {
		if p != nil && !p.alive() {
			return fmt.Errorf("%s exited; see %s", p.name, p.log)
		}
	}
	return nil
}

// syncReplicas lets the replicas apply what a write run left in their
// relay logs, so that the next run does not share the CPU with that.
func (b *bench) syncReplicas(ctx context.Context) {
	if err := b.sandbox(ctx, "sync"); err != nil && ctx.Err() == nil {
		b.say("warning: replicas did not catch up: %v", err)
	}
}

func failedRuns(r *harness.Report) error {
	n := 0
	for _, run := range r.Runs {
		if !run.OK {
			n++
		}
	}
	if n == 0 {
		return nil
	}
	return fmt.Errorf("%d of %d runs failed (see \"Failed runs\" in the markdown)", n, len(r.Runs))
}
