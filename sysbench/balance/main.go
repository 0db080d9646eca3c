// Command balance is the experiment behind `make bench-balance`: it
// compares rwproxy's balancing algorithms (weighted_round_robin,
// least_outstanding, adaptive) on a MariaDB sandbox whose two replicas are
// first equally fast, then one of them slowed.
//
// It starts its own sandbox (scripts/sandbox, primary + 2 replicas, base
// port 3536), prepares the sysbench tables, puts each replica behind an
// in-process TCP tunnel, and starts one in-process rwproxy per algorithm.
// For each condition (equal replicas; node 3's responses delayed by its
// tunnel; node 3 CPU-starved: confined to CPU 1 with taskset, with
// background SELECT BENCHMARK() loops), each workload (oltp_point_select; mixed.lua: point selects plus a share
// of 1000-row range sums) and each algorithm it runs sysbench through that
// proxy and records QPS, p50/p95/p99 (sysbench's histogram) and each
// replica's share of the reads (Com_select deltas). It writes the results
// as JSON and markdown under sysbench/balance/results, a chart to
// docs/img/balance.png, and the table into docs/balancing.md between the
// bench-balance markers.
package main

import (
	"context"
	"errors"
	"flag"
	"fmt"
	"os"
	"os/signal"
	"strings"
	"syscall"
	"time"

	"github.com/rwproxy/rwproxy/internal/repo"
)

// options are the experiment's settings.
type options struct {
	basePort  int
	seconds   int
	warmup    int
	threads   int
	tables    int
	rows      int
	hogs      int
	rangePct  int
	rangeSize int
	delay     time.Duration
	conds     []string
	workloads []string
	algos     []string
	out       string // results directory
	docs      string // markdown file with the bench-balance markers; "" = none
	chart     string // PNG path
	render    string // only re-render this results JSON
}

func parseOptions(args []string) (*options, error) {
	o := &options{}
	fs := flag.NewFlagSet("balance", flag.ContinueOnError)
	fs.IntVar(&o.basePort, "base-port", 3536, "sandbox primary port; replicas +1 and +2, the proxies +100..+102")
	fs.IntVar(&o.seconds, "time", 12, "seconds per recorded sysbench run")
	fs.IntVar(&o.warmup, "warmup", 3, "seconds of unrecorded load before each run (the adaptive averages settle)")
	fs.IntVar(&o.threads, "threads", 16, "sysbench threads")
	fs.IntVar(&o.tables, "tables", 4, "sysbench tables")
	fs.IntVar(&o.rows, "rows", 10000, "rows per table")
	fs.IntVar(&o.hogs, "hogs", 2, "connections running SELECT BENCHMARK() on the slowed replica")
	fs.IntVar(&o.rangePct, "range-pct", 10, "mixed workload: percent of queries that are range sums")
	fs.IntVar(&o.rangeSize, "range-size", 1000, "mixed workload: rows per range sum")
	fs.DurationVar(&o.delay, "delay", 2*time.Millisecond, "condition delay: what node 3's tunnel adds to each response")
	conds := fs.String("conditions", "equal,delay,cpu", "conditions: equal replicas; delay (node 3's responses delayed); cpu (node 3 CPU-starved)")
	workloads := fs.String("workloads", "point,mixed", "workloads: point (oltp_point_select), mixed (mixed.lua)")
	algos := fs.String("algorithms", "weighted_round_robin,least_outstanding,adaptive", "balancing algorithms")
	fs.StringVar(&o.out, "out", "sysbench/balance/results", "results directory")
	fs.StringVar(&o.docs, "docs", "docs/balancing.md", "markdown file whose bench-balance section is rewritten (\"\" = none)")
	fs.StringVar(&o.chart, "chart", "docs/img/balance.png", "chart file")
	fs.StringVar(&o.render, "render", "", "only rebuild the markdown and chart from this results JSON")
	if err := fs.Parse(args); err != nil {
		return nil, err
	}
	o.workloads, o.algos, o.conds = split(*workloads), split(*algos), split(*conds)
	for _, c := range o.conds {
		if _, ok := condText[c]; !ok {
			return nil, fmt.Errorf("-conditions: unknown %q", c)
		}
	}
	for _, w := range o.workloads {
		if _, ok := workloadArgs[w]; !ok {
			return nil, fmt.Errorf("-workloads: unknown %q", w)
		}
	}
	if o.seconds < 1 || o.threads < 1 || o.tables < 1 || o.rows < 1 || o.warmup < 0 || o.hogs < 0 {
		return nil, errors.New("-time, -threads, -tables and -rows must be ≥ 1; -warmup and -hogs ≥ 0")
	}
	return o, nil
}

func split(s string) []string {
	var out []string
	for _, f := range strings.Split(s, ",") {
		if f = strings.TrimSpace(f); f != "" {
			out = append(out, f)
		}
	}
	return out
}

func main() {
	o, err := parseOptions(os.Args[1:])
	if errors.Is(err, flag.ErrHelp) {
		return
	}
	if err != nil {
		fmt.Fprintln(os.Stderr, "balance:", err)
		os.Exit(2)
	}
	root, err := repo.Root()
	if err == nil {
		if o.render != "" {
			err = renderFile(o, root)
		} else {
			err = run(o, root)
		}
	}
	if err != nil {
		if errors.Is(err, context.Canceled) {
			fmt.Fprintln(os.Stderr, "balance: interrupted; everything it started is stopped")
			os.Exit(130)
		}
		fmt.Fprintln(os.Stderr, "balance:", err)
		os.Exit(1)
	}
}

func run(o *options, repo string) error {
	work, err := os.MkdirTemp("", "rwproxy-balance-")
	if err != nil {
		return err
	}
	// Signals cancel ctx and stay caught until the cleanup is over.
	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt, syscall.SIGTERM, syscall.SIGHUP)
	defer stop()
	e := &experiment{o: o, repo: repo, work: work}
	say("logs and raw sysbench output: %s", work)
	t0 := time.Now()
	defer e.cleanup()
	if err := e.setup(ctx); err != nil {
		return err
	}
	rep, err := e.runAll(ctx)
	if err != nil {
		return err
	}
	rep.Duration = time.Since(t0).Round(time.Second).String()
	return write(o, repo, rep)
}

func say(format string, a ...any) {
	fmt.Printf("balance: "+format+"\n", a...)
}
