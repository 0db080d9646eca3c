// Command architecture is the QPS study of the whole chain: HAProxy → three
// rwproxy nodes sharing their configuration by gossip → a MySQL 9.7 Group
// Replication group (scripts/demo-cluster brings it up and down). It
// measures sysbench through the chain, through one rwproxy and directly
// against the primary, the CPU each tier spends per query (/proc), reads
// served by one and by two secondaries, and three faults during a run (an
// rwproxy node killed, the group's primary killed with acknowledged writes
// checked afterwards, a configuration change on one node), then writes a
// JSON result, charts and a markdown report. `make bench-architecture`;
// docs/architecture-study.md reads the results.
package main

import (
	"context"
	"flag"
	"fmt"
	"io"
	"log"
	"os"
	"os/signal"
	"path/filepath"
	"strconv"
	"strings"
	"syscall"
	"time"

	"github.com/go-sql-driver/mysql"

	"github.com/rwproxy/rwproxy/internal/repo"
	"github.com/rwproxy/rwproxy/sysbench/harness"
)

// options are the command line.
type options struct {
	timeSec, faultSec, faultAt int
	warmupSec, reps            int
	threads                    []int
	workloads                  []string
	basePort, mgrBasePort      int
	tables, rows               int
	results, img               string
	render                     string
	skipFaults, faultsOnly     bool
}

func parseOptions(args []string) (*options, error) {
	o := &options{}
	fs := flag.NewFlagSet("architecture", flag.ContinueOnError)
	threads := fs.String("threads", envOr("ARCH_THREADS", "1,8,32"), "sysbench thread counts (ARCH_THREADS)")
	workloads := fs.String("workloads", envOr("ARCH_WORKLOADS", strings.Join(allWorkloads, ",")), "sysbench workloads (ARCH_WORKLOADS)")
	fs.IntVar(&o.timeSec, "time", envInt("ARCH_TIME", 12), "seconds per measured run (ARCH_TIME)")
	fs.IntVar(&o.faultSec, "fault-time", envInt("ARCH_FAULT_TIME", 40), "seconds of each fault run (ARCH_FAULT_TIME)")
	fs.IntVar(&o.faultAt, "fault-at", 10, "second of the fault run at which the fault happens")
	fs.IntVar(&o.warmupSec, "warmup", 3, "seconds of unrecorded point selects per configuration first")
	fs.IntVar(&o.reps, "reps", envInt("ARCH_REPS", 2), "repetitions of every cell (ARCH_REPS)")
	fs.IntVar(&o.basePort, "base-port", envInt("ARCH_BASE_PORT", 6140), "CLUSTER_BASE_PORT of scripts/demo-cluster (ARCH_BASE_PORT)")
	fs.IntVar(&o.mgrBasePort, "mgr-base-port", envInt("ARCH_MGR_BASE_PORT", 3376), "MGR_BASE_PORT of the group (ARCH_MGR_BASE_PORT); group ports +10")
	fs.IntVar(&o.tables, "tables", 4, "sysbench tables")
	fs.IntVar(&o.rows, "rows", 10000, "rows per table")
	fs.StringVar(&o.results, "results", "sysbench/results", "directory of the JSON and markdown results")
	fs.StringVar(&o.img, "img", "docs/img", "directory of the charts")
	fs.StringVar(&o.render, "render", "", "only redraw the charts and the report from this JSON result")
	fs.BoolVar(&o.skipFaults, "skip-faults", false, "leave out the fault runs")
	fs.BoolVar(&o.faultsOnly, "faults-only", false, "only the fault runs (no matrix, no secondaries runs)")
	if err := fs.Parse(args); err != nil {
		return nil, err
	}
	var err error
	if o.threads, err = parseInts(*threads); err != nil {
		return nil, fmt.Errorf("-threads: %w", err)
	}
	o.workloads = strings.Split(*workloads, ",")
	for _, w := range o.workloads {
		if _, ok := workloadArgs[w]; !ok {
			return nil, fmt.Errorf("-workloads: unknown %q (know %s)", w, strings.Join(allWorkloads, ", "))
		}
	}
	if o.timeSec < 1 || o.faultSec < o.faultAt+10 || o.reps < 1 {
		return nil, fmt.Errorf("-time >= 1, -fault-time >= -fault-at + 10 and -reps >= 1 please")
	}
	return o, nil
}

func envOr(k, def string) string {
	if v := os.Getenv(k); v != "" {
		return v
	}
	return def
}

func envInt(k string, def int) int {
	if n, err := strconv.Atoi(os.Getenv(k)); err == nil {
		return n
	}
	return def
}

func parseInts(s string) ([]int, error) {
	var out []int
	for _, f := range strings.Split(s, ",") {
		n, err := strconv.Atoi(strings.TrimSpace(f))
		if err != nil || n < 1 {
			return nil, fmt.Errorf("%q is not a positive number", f)
		}
		out = append(out, n)
	}
	return out, nil
}

func main() {
	// The driver logs every cut connection ("unexpected EOF"); faults cut many.
	_ = mysql.SetLogger(log.New(io.Discard, "", 0))
	o, err := parseOptions(os.Args[1:])
	if err != nil {
		fmt.Fprintln(os.Stderr, "architecture:", err)
		os.Exit(2)
	}
	root, err := repo.Root()
	if err != nil {
		fmt.Fprintln(os.Stderr, "architecture:", err)
		os.Exit(1)
	}
	if o.render != "" {
		err = render(root, o, o.render)
	} else {
		err = runStudy(root, o)
	}
	if err != nil {
		fmt.Fprintln(os.Stderr, "architecture:", err)
		os.Exit(1)
	}
}

// study runs everything and always takes the chain down, also after an
// error or a Ctrl-C (the results gathered so far are written first).
func runStudy(repo string, o *options) error {
	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt, syscall.SIGTERM)
	defer stop()
	work, err := os.MkdirTemp("", "rwproxy-arch.")
	if err != nil {
		return err
	}
	s := newStudy(repo, work, o)
	say("work directory %s", work)
	defer func() {
		say("taking the chain down")
		if err := s.chain.down(); err != nil {
			say("down: %v", err)
		}
	}()
	runErr := s.run(ctx)
	s.res.Finished = time.Now().UTC()
	s.res.Interrupted = runErr != nil
	stamp := s.res.Started.Format("20060102-150405")
	path := filepath.Join(under(repo, o.results), "architecture-"+stamp+".json")
	if err := harness.WriteJSONFile(path, s.res); err != nil {
		return err
	}
	say("results: %s", path)
	if err := writeOutputs(repo, o, path, s.res); err != nil {
		return err
	}
	return runErr
}

func render(repo string, o *options, path string) error {
	r, err := harness.ReadJSONFile[Result](path)
	if err != nil {
		return err
	}
	return writeOutputs(repo, o, path, r)
}

// under resolves a relative path against the repository root.
func under(repo, p string) string {
	if filepath.IsAbs(p) {
		return p
	}
	return filepath.Join(repo, p)
}

func say(format string, a ...any) {
	fmt.Printf("architecture: %s "+format+"\n", append([]any{time.Now().Format("15:04:05")}, a...)...)
}
