package main

import (
	"flag"
	"fmt"
	"net"
	"os"
	"sort"
	"strconv"
	"strings"

	"github.com/rwproxy/rwproxy/sysbench/harness"
)

// options are the command's settings: each flag takes its default from a
// BENCH_* environment variable, so `make bench BENCH_TIME=8` works.
type options struct {
	timeSec, warmupSec int
	tables, rows, reps int
	threads            []int
	workloads          []string
	psMode             string
	sysbenchArgs       []string
	basePort           int
	portOffset         int // rwproxy, relays: basePort + portOffset onwards
	extra              []harness.Target
	outDir             string
	render             string
	rwproxyBin         string
	compareBin         string
	idle               int
	pinReplicas        bool
	// proxysqlBin and haproxyBin start ProxySQL and HAProxy as targets
	// (empty: not run); mux is the clients of the multiplexing measurement.
	proxysqlBin, haproxyBin string
	mux                     int
	// muxReps is how many times the multiplexing measurement runs,
	// interleaved, each on freshly started proxies.
	muxReps int
	// consistency lists extra rwproxy targets by users[].consistency
	// variant (consistency.go): eventual, session, user.
	consistency []string
}

// workloadArgs are added to a workload's runs: oltp_read_only without
// BEGIN/COMMIT, so that a splitting proxy may send its reads to replicas.
var workloadArgs = map[string][]string{"oltp_read_only": {"--skip_trx=on"}}

const defaultWorkloads = "oltp_point_select,oltp_read_only,oltp_read_write,oltp_write_only"

// listFlags are the flags parsed further after flag.Parse.
type listFlags struct{ threads, workloads, sysbenchArgs, targets, consistency *string }

func parseOptions(args []string, getenv func(string) string) (*options, error) {
	o := &options{}
	fs := flag.NewFlagSet("bench", flag.ContinueOnError)
	lf := o.define(fs, getenv)
	if err := fs.Parse(args); err != nil {
		return nil, err
	}
	if fs.NArg() > 0 {
		return nil, fmt.Errorf("unexpected arguments %q", fs.Args())
	}
	var err error
	if o.threads, err = parseInts(*lf.threads); err != nil {
		return nil, fmt.Errorf("-threads: %w", err)
	}
	if o.extra, err = parseTargets(*lf.targets); err != nil {
		return nil, fmt.Errorf("-targets: %w", err)
	}
	o.workloads, o.sysbenchArgs = splitList(*lf.workloads, ","), strings.Fields(*lf.sysbenchArgs)
	if o.consistency, err = parseConsistency(*lf.consistency); err != nil {
		return nil, fmt.Errorf("-consistency: %w", err)
	}
	if o.compareBin != "" {
		o.consistency = append(o.consistency, compareVariant)
	}
	return o, o.validate()
}

// define registers the flags; each takes its default from BENCH_*.
func (o *options) define(fs *flag.FlagSet, getenv func(string) string) listFlags {
	env := func(k, def string) string {
		if v := getenv(k); v != "" {
			return v
		}
		return def
	}
	num := func(p *int, name, key string, def int, usage string) {
		fs.IntVar(p, name, envInt(getenv, key, def), usage+" ("+key+")")
	}
	num(&o.timeSec, "time", "BENCH_TIME", 10, "seconds per sysbench run")
	num(&o.warmupSec, "warmup", "BENCH_WARMUP", 2, "seconds of unrecorded point selects per target before the runs; 0 = none")
	num(&o.tables, "tables", "BENCH_TABLES", 4, "sysbench tables")
	num(&o.rows, "rows", "BENCH_ROWS", 10000, "rows per table")
	num(&o.reps, "reps", "BENCH_REPS", 1, "repetitions of every cell")
	num(&o.idle, "idle", "BENCH_IDLE", 10000, "idle client connections opened through rwproxy after the runs to measure their memory; 0 = skip")
	num(&o.portOffset, "port-offset", "BENCH_PORT_OFFSET", 100, "offset of rwproxy's port from -base-port (the other proxy ports follow it)")
	num(&o.basePort, "base-port", "BENCH_BASE_PORT", 3416, "sandbox primary port; replicas +1 +2; rwproxy at +port-offset (100), then its admin +1, relay +2, rwproxy's HTTP +3, relay to the replicas +4, ProxySQL +5, its admin +6, HAProxy +7, -consistency variants +10 onwards")
	fs.StringVar(&o.psMode, "ps-mode", env("BENCH_PS_MODE", "auto"), "sysbench --db-ps-mode: auto (prepared statements) or disable (BENCH_PS_MODE)")
	fs.StringVar(&o.outDir, "out", env("BENCH_OUT", "sysbench/results"), "results directory (BENCH_OUT)")
	fs.StringVar(&o.rwproxyBin, "rwproxy-bin", getenv("BENCH_RWPROXY_BIN"), "use this rwproxy binary instead of building bin/rwproxy (BENCH_RWPROXY_BIN)")
	fs.StringVar(&o.compareBin, "compare-bin", getenv("BENCH_COMPARE_BIN"), "also run this rwproxy binary (e.g. an older build) with the default configuration as target rwproxy-compare, interleaved with the others (BENCH_COMPARE_BIN)")
	fs.StringVar(&o.render, "render", "", "only re-render markdown and charts from this results JSON")
	fs.StringVar(&o.proxysqlBin, "proxysql", getenv("BENCH_PROXYSQL"), "start this ProxySQL binary with an equivalent configuration as target proxysql (BENCH_PROXYSQL; off when empty)")
	fs.StringVar(&o.haproxyBin, "haproxy", getenv("BENCH_HAPROXY"), "start this HAProxy binary in mode tcp to the primary as target haproxy (BENCH_HAPROXY, e.g. /usr/sbin/haproxy; off when empty)")
	num(&o.mux, "mux", "BENCH_MUX", 1000, "mostly idle clients opened through each proxy to count the backend connections it holds; 0 = skip")
	num(&o.muxReps, "mux-reps", "BENCH_MUX_REPS", 9, "times the multiplexing measurement runs, interleaved, rwproxy and ProxySQL started afresh before each; the report keeps each proxy's median")
	fs.BoolVar(&o.pinReplicas, "pin-replicas", envBool(getenv, "BENCH_PIN_REPLICAS"),
		"pin each replica's mariadbd to a CPU of its own, as if on a machine of its own (BENCH_PIN_REPLICAS=1)")
	return listFlags{
		threads:      fs.String("threads", env("BENCH_THREADS", "1,8,32"), "thread counts (BENCH_THREADS)"),
		workloads:    fs.String("workloads", env("BENCH_WORKLOADS", defaultWorkloads), "sysbench workloads (BENCH_WORKLOADS)"),
		sysbenchArgs: fs.String("sysbench-args", getenv("BENCH_SYSBENCH_ARGS"), "extra arguments for every sysbench run, space-separated (BENCH_SYSBENCH_ARGS)"),
		targets:      fs.String("targets", getenv("BENCH_TARGETS"), "extra targets name=host:port,... run like the others (BENCH_TARGETS)"),
		consistency: fs.String("consistency", getenv("BENCH_CONSISTENCY"),
			"extra rwproxy targets, one per users[].consistency variant: eventual, session (read_your_writes, scope session), user (read_your_writes, scope user) (BENCH_CONSISTENCY)"),
	}
}

func envInt(getenv func(string) string, key string, def int) int {
	if n, err := strconv.Atoi(getenv(key)); err == nil {
		return n
	}
	return def
}

func envBool(getenv func(string) string, key string) bool {
	b, _ := strconv.ParseBool(getenv(key))
	return b
}

func (o *options) validate() error {
	switch {
	case o.timeSec < 1 || o.tables < 1 || o.rows < 1 || o.reps < 1 || o.warmupSec < 0 || o.idle < 0 || o.mux < 0 || o.muxReps < 1:
		return fmt.Errorf("time, tables, rows, reps and mux-reps must be >= 1, warmup, idle and mux >= 0")
	case len(o.workloads) == 0:
		return fmt.Errorf("no workloads")
	case o.psMode != "auto" && o.psMode != "disable":
		return fmt.Errorf("-ps-mode must be auto or disable, not %q", o.psMode)
	case o.portOffset < 3 || o.portOffset > 1000:
		return fmt.Errorf("-port-offset must be 3..1000")
	case o.basePort < 1024 || o.basePort > 65535-o.portOffset-20:
		return fmt.Errorf("-base-port %d out of range", o.basePort)
	}
	for _, t := range o.extra {
		if (t.Name == harness.ProxySQL && o.proxysqlBin != "") || (t.Name == harness.HAProxy && o.haproxyBin != "") {
			return fmt.Errorf("-targets: %q is the name of the target -%s starts", t.Name, t.Name)
		}
	}
	return nil
}

// parseInts reads "1,8,32" into a sorted list of distinct positive ints.
func parseInts(s string) ([]int, error) {
	seen := map[int]bool{}
	var out []int
	for _, f := range splitList(s, ",") {
		n, err := strconv.Atoi(f)
		if err != nil || n < 1 {
			return nil, fmt.Errorf("bad number %q", f)
		}
		if !seen[n] {
			seen[n] = true
			out = append(out, n)
		}
	}
	if len(out) == 0 {
		return nil, fmt.Errorf("empty list")
	}
	sort.Ints(out)
	return out, nil
}

// parseTargets reads "proxysql=127.0.0.1:6033,other=localhost:7000".
func parseTargets(s string) ([]harness.Target, error) {
	var out []harness.Target
	seen := map[string]bool{harness.Direct: true, harness.Relay: true, harness.RWProxy: true}
	for _, f := range splitList(s, ",") {
		name, addr, ok := strings.Cut(f, "=")
		if !ok || name == "" || strings.ContainsAny(name, " /|") {
			return nil, fmt.Errorf("%q is not name=host:port", f)
		}
		if _, _, err := net.SplitHostPort(addr); err != nil {
			return nil, fmt.Errorf("%q: %w", f, err)
		}
		if seen[name] {
			return nil, fmt.Errorf("target name %q used twice (or reserved)", name)
		}
		seen[name] = true
		out = append(out, harness.Target{Name: name, Addr: addr, Kind: "extra"})
	}
	return out, nil
}

func splitList(s, sep string) []string {
	var out []string
	for _, f := range strings.Split(s, sep) {
		if f = strings.TrimSpace(f); f != "" {
			out = append(out, f)
		}
	}
	return out
}

// ports are the loopback ports the harness itself uses.
type ports struct {
	primary, proxy, admin, relay, http, replicaRelay int
	proxysql, proxysqlAdmin, haproxy                 int
}

func (o *options) ports() ports {
	b := o.basePort + o.portOffset
	return ports{primary: o.basePort, proxy: b, admin: b + 1, relay: b + 2, http: b + 3, replicaRelay: b + 4,
		proxysql: b + 5, proxysqlAdmin: b + 6, haproxy: b + 7}
}

// command renders how the run was asked for, for the report.
func (o *options) command(args []string) string {
	var env []string
	for _, kv := range os.Environ() {
		if strings.HasPrefix(kv, "BENCH_") {
			env = append(env, kv)
		}
	}
	sort.Strings(env)
	return strings.TrimSpace(strings.Join(env, " ") + " sysbench/cmd/bench " + strings.Join(args, " "))
}
