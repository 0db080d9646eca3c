package main

import (
	"context"
	"fmt"
	"os"
	"os/exec"
	"runtime"
	"strconv"
	"strings"
	"time"

	"github.com/rwproxy/rwproxy/sysbench/harness"
)

// Result is the whole result file.
type Result struct {
	Started     time.Time `json:"started"`
	Finished    time.Time `json:"finished"`
	Interrupted bool      `json:"interrupted,omitempty"`
	Command     string    `json:"command"`
	RWProxy     string    `json:"rwproxy"` // git describe of the measured tree
	Machine     Machine   `json:"machine"`
	Settings    Settings  `json:"settings"`
	Runs        []Run     `json:"runs"`        // the configuration × workload × threads matrix
	Secondaries []Run     `json:"secondaries"` // reads served by 2, then 1 secondary
	Faults      []Fault   `json:"faults"`
}

// Machine describes where the numbers were taken.
type Machine struct {
	Nproc      int        `json:"nproc"`
	CPUModel   string     `json:"cpu_model"`
	MemTotalKB int64      `json:"mem_total_kb"`
	Kernel     string     `json:"kernel"`
	MySQL      string     `json:"mysql"`
	HAProxy    string     `json:"haproxy"`
	Sysbench   string     `json:"sysbench"`
	Go         string     `json:"go"`
	LoadBefore [3]float64 `json:"loadavg_before"`
}

// Settings is what was run.
type Settings struct {
	TimeSeconds      int      `json:"time_seconds"`
	FaultSeconds     int      `json:"fault_seconds"`
	FaultAt          int      `json:"fault_at_second"`
	Threads          []int    `json:"threads"`
	Workloads        []string `json:"workloads"`
	Reps             int      `json:"reps"`
	Tables           int      `json:"tables"`
	Rows             int      `json:"rows"`
	HAProxyCheck     string   `json:"haproxy_check"`
	SecondaryThreads int      `json:"secondary_threads"`
}

// study is one invocation.
type study struct {
	o       *options
	repo    string
	work    string
	chain   *chain
	proc    harness.Proc
	res     *Result
	primary int // the member that is primary (before the faults)
	rawN    int
}

func newStudy(repo, work string, o *options) *study {
	harness.SetClockTicks()
	s := &study{o: o, repo: repo, work: work, chain: newChain(repo, work, o), proc: harness.Proc{Root: "/proc"}}
	s.res = &Result{Started: time.Now().UTC(), Command: strings.Join(os.Args, " "), RWProxy: gitDescribe(repo),
		Machine: machine(), Settings: Settings{TimeSeconds: o.timeSec, FaultSeconds: o.faultSec, FaultAt: o.faultAt,
			Threads: o.threads, Workloads: o.workloads, Reps: o.reps, Tables: o.tables, Rows: o.rows,
			HAProxyCheck:     haproxyCheck,
			SecondaryThreads: secondaryThreads}}
	return s
}

// haproxyCheck describes HAProxy's health check in the study.
const haproxyCheck = "GET /healthz every 500 ms (GET /readyz in primary_kill_readyz), down after 2 failures, up after 2 successes, on-marked-down shutdown-sessions"

// secondaryThreads is the thread count of the 1-vs-2-secondaries runs.
const secondaryThreads = 8

func (s *study) run(ctx context.Context) error {
	steps := []struct {
		what string
		fn   func(context.Context) error
	}{
		{"bringing up the chain (scripts/demo-cluster up)", s.up},
		{"preparing the data on the primary", s.prepare},
		{"warming up every configuration", s.warmup},
	}
	if !s.o.faultsOnly {
		steps = append(steps, []struct {
			what string
			fn   func(context.Context) error
		}{
			{"the configuration × workload × threads matrix", s.matrix},
			{"reads served by 2, then 1 secondary", s.secondaryRuns},
		}...)
	}
	if !s.o.skipFaults {
		steps = append(steps, struct {
			what string
			fn   func(context.Context) error
		}{"faults during a run", s.faults})
	}
	for _, st := range steps {
		t0 := time.Now()
		say("%s", st.what)
		if err := st.fn(ctx); err != nil {
			return fmt.Errorf("%s: %w", st.what, err)
		}
		say("%s: done in %.0fs", st.what, time.Since(t0).Seconds())
	}
	return nil
}

func (s *study) up(ctx context.Context) error {
	if err := s.chain.up(ctx); err != nil {
		return err
	}
	ms, err := s.chain.members(ctx)
	if err != nil {
		return err
	}
	if s.primary = primary(ms); s.primary == 0 {
		return fmt.Errorf("no primary in %+v", ms)
	}
	return nil
}

func (s *study) prepare(ctx context.Context) error {
	db, err := s.chain.memberDB(s.primary, "")
	if err != nil {
		return err
	}
	defer db.Close()
	host, port, _ := strings.Cut(s.chain.memberAddr(s.primary), ":")
	argv := []string{"sysbench", "--db-driver=mysql", "--mysql-host=" + host, "--mysql-port=" + port,
		"--mysql-user=app", "--mysql-password=app", "--mysql-db=sbtest",
		"--tables=" + strconv.Itoa(s.o.tables), "--table-size=" + strconv.Itoa(s.o.rows), "oltp_read_write", "prepare"}
	if out, exit, _ := harness.RunSysbench(ctx, argv); exit != 0 {
		return fmt.Errorf("sysbench prepare (exit %d): %s", exit, out)
	}
	return s.chain.waitApplied(ctx)
}

func (s *study) warmup(ctx context.Context) error {
	for _, c := range configs {
		st := harness.Step{Workload: "oltp_point_select", Threads: 8, Rep: 0, Target: c}
		out, exit, _ := harness.RunSysbench(ctx, s.sysbenchArgs(s.addr(c), st.Workload, 8, s.o.warmupSec))
		if exit != 0 {
			return fmt.Errorf("warm-up through %s (exit %d): %s", c, exit, out)
		}
	}
	return nil
}

// matrix runs every workload × threads × rep, the three configurations back
// to back in each cell so that slow drift of the machine hits them alike.
func (s *study) matrix(ctx context.Context) error {
	steps := harness.Schedule(s.o.workloads, s.o.threads, s.o.reps, configs)
	for i, st := range steps {
		r, err := s.measure(ctx, st, s.sysbenchWork(st, s.o.timeSec, nil), nil)
		if err != nil {
			return err
		}
		s.res.Runs = append(s.res.Runs, r)
		say("[%d/%d] %s", i+1, len(steps), progress(r))
		if st.Workload == "oltp_read_write" {
			if err := s.chain.waitApplied(ctx); err != nil {
				return err
			}
		}
	}
	return nil
}

func progress(r Run) string {
	line := fmt.Sprintf("%-17s %3dt %-8s %9.0f QPS p95 %7.2f ms err %d", r.Workload, r.Threads, r.Target,
		r.QPS, r.P95Ms, r.IgnoredErrors)
	if !r.OK {
		line += fmt.Sprintf(" FAILED (exit %d) %v", r.ExitCode, r.Fatal)
	}
	us := r.TierMicros()
	return line + fmt.Sprintf("  µs/query: lb %.1f proxy %.1f primary %.1f secondaries %.1f sysbench %.1f; other users %.2f cores",
		us[roleLB], us[roleProxy], us[rolePrimary], us[roleSecondary], us["sysbench"], r.OtherCores)
}

// secondaryRuns measures the read workloads through the chain with both
// secondaries serving reads, then with one (the other's weight set to 0
// on proxy1 and spread by the cluster), then restores the weight.
func (s *study) secondaryRuns(ctx context.Context) error {
	ms, err := s.chain.members(ctx)
	if err != nil {
		return err
	}
	secs := secondaries(ms)
	if len(secs) != 2 {
		return fmt.Errorf("want 2 secondaries, have %v", secs)
	}
	off := s.chain.memberAddr(secs[1])
	_, port, _ := strings.Cut(off, ":")
	for _, w := range []string{"oltp_point_select", "oltp_read_only"} {
		for _, n := range []int{2, 1} {
			weight := 1
			if n == 1 {
				weight = 0
			}
			if _, err := s.changeServers(ctx, fmt.Sprintf("UPDATE mysql_servers SET weight = %d WHERE port = %s", weight, port)); err != nil {
				return err
			}
			st := harness.Step{Workload: w, Threads: secondaryThreads, Rep: 1, Target: cfgChain}
			r, err := s.measure(ctx, st, s.sysbenchWork(st, s.o.timeSec, nil), nil)
			if err != nil {
				return err
			}
			r.Label = fmt.Sprintf("%d secondar%s", n, map[bool]string{true: "y", false: "ies"}[n == 1])
			s.res.Secondaries = append(s.res.Secondaries, r)
			say("%s: %s", r.Label, progress(r))
		}
	}
	_, err = s.changeServers(ctx, "UPDATE mysql_servers SET weight = 1 WHERE port = "+port)
	return err
}

// changeServers runs an UPDATE of mysql_servers and LOAD MYSQL SERVERS TO
// RUNTIME on proxy1, and returns how long each of proxy2 and proxy3 took
// to run the new version (a no-op change publishes nothing and returns at once).
func (s *study) changeServers(ctx context.Context, update string) ([2]time.Duration, error) {
	var took [2]time.Duration
	before := s.chain.moduleVersion(ctx, 1, "servers")
	t0 := time.Now()
	if err := s.chain.adminExec(ctx, 1, update, "LOAD MYSQL SERVERS TO RUNTIME"); err != nil {
		return took, err
	}
	v := before
	for v == before && time.Since(t0) < 2*time.Second {
		if err := sleep(ctx, 10*time.Millisecond); err != nil {
			return took, err
		}
		v = s.chain.moduleVersion(ctx, 1, "servers")
	}
	if v == before {
		return took, nil // nothing changed
	}
	for i, n := range []int{2, 3} {
		for s.chain.moduleVersion(ctx, n, "servers") < v {
			if time.Since(t0) > 30*time.Second {
				return took, fmt.Errorf("proxy%d did not run servers version %d within 30s", n, v)
			}
			if err := sleep(ctx, 10*time.Millisecond); err != nil {
				return took, err
			}
		}
		took[i] = time.Since(t0)
	}
	return took, nil
}

func machine() Machine {
	m := Machine{Nproc: runtime.NumCPU(), Go: runtime.Version(),
		CPUModel: harness.FileField("/proc/cpuinfo", "model name"), Kernel: harness.FirstLine("/proc/sys/kernel/osrelease"),
		HAProxy: harness.CommandLine("haproxy", "-v"), Sysbench: harness.CommandLine("sysbench", "--version"),
		MySQL: harness.CommandLine("chroot", "/var/cache/rwproxy/mgr-chroot", "/usr/sbin/mysqld", "--version")}
	if v := os.Getenv("MGR_CHROOT"); v != "" {
		m.MySQL = harness.CommandLine("chroot", v, "/usr/sbin/mysqld", "--version")
	}
	m.MemTotalKB, _ = strconv.ParseInt(strings.Fields(harness.FileField("/proc/meminfo", "MemTotal") + " 0")[0], 10, 64)
	if b, err := os.ReadFile("/proc/loadavg"); err == nil {
		_, _ = fmt.Sscan(string(b), &m.LoadBefore[0], &m.LoadBefore[1], &m.LoadBefore[2])
	}
	return m
}

func gitDescribe(repo string) string {
	out, err := exec.Command("git", "-C", repo, "describe", "--always", "--dirty").Output()
	if err != nil {
		return "?"
	}
	return strings.TrimSpace(string(out))
}
