package main

import (
	"bytes"
	"context"
	"fmt"
	"net"
	"os"
	"os/exec"
	"path/filepath"
	"runtime"
	"strconv"
	"strings"
	"syscall"
	"time"

	"github.com/rwproxy/rwproxy/sysbench/harness"
)

// workloadArgs are the sysbench script of each workload.
var workloadArgs = map[string]string{
	"point": "oltp_point_select",
	"mixed": "sysbench/balance/mixed.lua",
}

// Conditions of the replicas.
const (
	condEqual = "equal"
	condDelay = "delay"
	condCPU   = "cpu"
)

// condText describes the conditions (%v is the delay).
var condText = map[string]string{
	condEqual: "both replicas as fast",
	condDelay: "node 3's responses delayed %v by its tunnel",
	condCPU:   "node 3 and %d connections looping on SELECT BENCHMARK() there confined to CPU 1",
}

// condLabel is a condition's short name in tables and charts.
func condLabel(c string, delay time.Duration) string {
	switch c {
	case condDelay:
		return "node 3 +" + delay.String()
	case condCPU:
		return "node 3 CPU-starved"
	}
	return c
}

// Result is one recorded sysbench run through one proxy.
type Result struct {
	Condition string  `json:"condition"`
	Workload  string  `json:"workload"`
	Algorithm string  `json:"algorithm"`
	QPS       float64 `json:"qps"`
	P50Ms     float64 `json:"p50_ms"`
	P95Ms     float64 `json:"p95_ms"`
	P99Ms     float64 `json:"p99_ms"`
	Queries   int64   `json:"queries"`
	Errors    int64   `json:"errors"`
	// Selects are the Com_select deltas of nodes 2 and 3 over the run
	// (the monitor's few checks included) and Share node 3's part.
	Selects [2]int64 `json:"selects"`
	Share3  float64  `json:"share_node3"`
	// EffWeight and LatencyUs are what the proxy's balancer reported for
	// nodes 2 and 3 at the end of the run.
	EffWeight [2]float64 `json:"effective_weight"`
	LatencyUs [2]float64 `json:"latency_us"`
	Load      float64    `json:"loadavg"` // 1-minute load average at the end
	Fatal     []string   `json:"fatal,omitempty"`
}

// Report is everything one experiment measured.
type Report struct {
	Started  string  `json:"started"`
	Duration string  `json:"duration"`
	Commit   string  `json:"commit"`
	CPUs     int     `json:"cpus"`
	Pinned   bool    `json:"pinned"`
	Settings options `json:"-"`
	Config   string  `json:"settings"`
	// Conditions describe each condition label of the results.
	Conditions []string `json:"conditions"`
	Results    []Result `json:"results"`
}

func (e *experiment) sysbenchArgs(addr, workload string, threads, seconds int) []string {
	host, port, _ := net.SplitHostPort(addr)
	script := workloadArgs[workload]
	if strings.HasSuffix(script, ".lua") {
		script = filepath.Join(e.repo, script)
	}
	args := []string{"sysbench", "--db-driver=mysql", "--mysql-host=" + host, "--mysql-port=" + port,
		"--mysql-user=app", "--mysql-password=app", "--mysql-db=sbtest",
		"--tables=" + strconv.Itoa(e.o.tables), "--table-size=" + strconv.Itoa(e.o.rows),
		"--threads=" + strconv.Itoa(threads), "--time=" + strconv.Itoa(seconds), "--events=0",
		"--rand-type=uniform", "--db-ps-mode=disable", "--histogram=on", "--percentile=99"}
	if workload == "mixed" {
		args = append(args, "--range_size="+strconv.Itoa(e.o.rangeSize), "--range_pct="+strconv.Itoa(e.o.rangePct))
	}
	return append(args, script, "run")
}

// runAll runs every condition × workload × algorithm; the algorithms
// take turns within a workload so that drift hits them alike.
func (e *experiment) runAll(ctx context.Context) (*Report, error) {
	rep := &Report{Started: time.Now().Format(time.RFC3339), Commit: commit(e.repo), CPUs: runtime.NumCPU(),
		Pinned: e.pinned, Settings: *e.o}
	rep.Config = fmt.Sprintf("%d s runs after %d s warm-up, %d sysbench threads, %d tables × %d rows, "+
		"text protocol, uniform rows; mixed = %d%% sums over %d rows, the rest point selects; "+
		"CPU-starved = %d BENCHMARK() connections on node 3's CPU; both replicas behind an in-process TCP tunnel",
		e.o.seconds, e.o.warmup, e.o.threads, e.o.tables, e.o.rows, e.o.rangePct, e.o.rangeSize, e.o.hogs)
	total := len(e.o.conds) * len(e.o.workloads) * len(e.o.algos)
	n := 0
	for _, key := range e.o.conds {
		cond := condLabel(key, e.o.delay)
		text := condText[key]
		switch key {
		case condDelay:
			text = fmt.Sprintf(text, e.o.delay)
		case condCPU:
			text = fmt.Sprintf(text, e.o.hogs)
		}
		rep.Conditions = append(rep.Conditions, cond+": "+text)
		stop := func() {}
		switch key {
		case condCPU:
			if err := e.pin3(ctx, "1"); err != nil {
				return rep, err
			}
			stopLoad := func() {}
			if e.o.hogs > 0 {
				stopLoad = e.load(3, e.o.hogs)
			}
			stop = func() {
				stopLoad()
				if err := e.pin3(context.Background(), ""); err != nil {
					say("unpinning node 3: %v", err)
				}
			}
		case condDelay:
			e.tunnels[1].SetDelay(e.o.delay)
			stop = func() { e.tunnels[1].SetDelay(0) }
		}
		for _, w := range e.o.workloads {
			for _, algo := range e.o.algos {
				n++
				r, err := e.runOne(ctx, cond, w, algo)
				if err != nil {
					stop()
					return rep, err
				}
				say("[%d/%d] %-18s %-5s %-20s %8.0f qps  p50 %.2f  p95 %.2f  p99 %.2f ms  node 3 share %4.1f%%  load %.1f",
					n, total, cond, w, algo, r.QPS, r.P50Ms, r.P95Ms, r.P99Ms, 100*r.Share3, r.Load)
				rep.Results = append(rep.Results, r)
			}
		}
		stop()
	}
	return rep, nil
}

func (e *experiment) runOne(ctx context.Context, cond, workload, algo string) (Result, error) {
	r := Result{Condition: cond, Workload: workload, Algorithm: algo}
	i := indexOf(e.o.algos, algo)
	addr := e.proxyAddr(i)
	if e.o.warmup > 0 {
		if _, err := e.sysbench(ctx, e.sysbenchArgs(addr, workload, e.o.threads, e.o.warmup)); err != nil {
			return r, err
		}
	}
	before, err := e.selects(ctx)
	if err != nil {
		return r, err
	}
	out, err := e.sysbench(ctx, e.sysbenchArgs(addr, workload, e.o.threads, e.o.seconds))
	if err != nil {
		return r, err
	}
	after, err := e.selects(ctx)
	if err != nil {
		return r, err
	}
	o, perr := harness.ParseOutput(out)
	if perr != nil {
		return r, fmt.Errorf("%s/%s/%s: %w", cond, workload, algo, perr)
	}
	r.QPS, r.Queries, r.Errors, r.Fatal = o.QPS, o.Queries, o.IgnoredErrors, o.Fatal
	r.P50Ms, _ = harness.Percentile(o.Histogram, 50)
	r.P95Ms, _ = harness.Percentile(o.Histogram, 95)
	r.P99Ms, _ = harness.Percentile(o.Histogram, 99)
	for k := range 2 {
		r.Selects[k] = after[k] - before[k]
	}
	if sum := r.Selects[0] + r.Selects[1]; sum > 0 {
		r.Share3 = float64(r.Selects[1]) / float64(sum)
	}
	for _, st := range e.proxies[algo].BalanceStats() {
		if st.Hostgroup != 20 {
			continue
		}
		for k, tu := range e.tunnels {
			if st.Addr == net.JoinHostPort("127.0.0.1", strconv.Itoa(tu.Port())) {
				r.EffWeight[k], r.LatencyUs[k] = st.EffectiveWeight, st.LatencyUs
			}
		}
	}
	r.Load, _ = harness.Proc{Root: "/proc"}.LoadAvg()
	return r, nil
}

// selects reads Com_select of nodes 2 and 3.
func (e *experiment) selects(ctx context.Context) ([2]int64, error) {
	var out [2]int64
	for k, node := range []int{2, 3} {
		var name string
		err := e.nodes[node-1].QueryRowContext(ctx, "SHOW GLOBAL STATUS LIKE 'Com_select'").Scan(&name, &out[k])
		if err != nil {
			return out, fmt.Errorf("node %d: %w", node, err)
		}
	}
	return out, nil
}

// sysbench runs one sysbench command and returns its output, which is
// also appended to sysbench.log in the work directory.
func (e *experiment) sysbench(ctx context.Context, argv []string) (string, error) {
	cctx, cancel := context.WithTimeout(ctx, time.Duration(e.o.seconds+e.o.warmup+60)*time.Second)
	defer cancel()
	cmd := exec.CommandContext(cctx, argv[0], argv[1:]...)
	cmd.Dir = e.work
	cmd.SysProcAttr = &syscall.SysProcAttr{Setpgid: true}
	var out bytes.Buffer
	cmd.Stdout, cmd.Stderr = &out, &out
	err := cmd.Run()
	if logf, lerr := os.OpenFile(filepath.Join(e.work, "sysbench.log"), os.O_CREATE|os.O_APPEND|os.O_WRONLY, 0o644); lerr == nil {
		fmt.Fprintf(logf, "\n$ %v\n%s", argv, out.String())
		_ = logf.Close()
	}
	if ctx.Err() != nil {
		return "", ctx.Err()
	}
	if err != nil {
		return out.String(), fmt.Errorf("%v: %w\n%s", argv[len(argv)-2:], err, out.String())
	}
	return out.String(), nil
}

func indexOf(list []string, s string) int {
	for i, x := range list {
		if x == s {
			return i
		}
	}
	return -1
}

// commit describes the working tree measured.
func commit(repo string) string {
	rev, err := exec.Command("git", "-C", repo, "rev-parse", "--short", "HEAD").Output()
	if err != nil {
		return "unknown"
	}
	desc := strings.TrimSpace(string(rev))
	if st, _ := exec.Command("git", "-C", repo, "status", "--porcelain", "--untracked-files=no").Output(); len(st) > 0 {
		desc += " with uncommitted changes"
	}
	return desc
}
