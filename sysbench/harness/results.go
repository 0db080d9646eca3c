package harness

import (
	"encoding/json"
	"fmt"
	"os"
	"time"
)

// Target is one endpoint sysbench is pointed at.
type Target struct {
	Name string `json:"name"`
	Addr string `json:"addr"` // host:port
	// Kind is direct, relay, rwproxy or extra.
	Kind string `json:"kind"`
}

// ProcUsage is the CPU and memory of the process behind a target over one
// run: utime+stime delta from /proc/<pid>/stat, and VmHWM from
// /proc/<pid>/status (reset at the start of the run when PeakRSSScope is
// "run", else the peak since the process started).
type ProcUsage struct {
	PID                    int     `json:"pid"`
	CPUSeconds             float64 `json:"cpu_seconds"`
	CPUMicrosPerQuery      float64 `json:"cpu_us_per_query"`
	CPUSecondsPer1kQueries float64 `json:"cpu_seconds_per_1k_queries"`
	PeakRSSKB              int64   `json:"peak_rss_kb"`
	PeakRSSScope           string  `json:"peak_rss_scope"`
	// Stmt splits the CPU into user and system time and adds the context
	// switches, per query (Counters); nil in results from before it.
	Stmt *PerStatement `json:"per_statement,omitempty"`
}

// Run is the result of one sysbench run.
type Run struct {
	Workload      string     `json:"workload"`
	Threads       int        `json:"threads"`
	Rep           int        `json:"rep"`
	Target        string     `json:"target"`
	Start         time.Time  `json:"start"`
	WallSeconds   float64    `json:"wall_seconds"`
	ExitCode      int        `json:"exit_code"`
	OK            bool       `json:"ok"`
	Fatal         []string   `json:"fatal,omitempty"`
	QPS           float64    `json:"qps"`
	TPS           float64    `json:"tps"`
	Queries       int64      `json:"queries"`
	Transactions  int64      `json:"transactions"`
	Read          int64      `json:"read"`
	Write         int64      `json:"write"`
	Other         int64      `json:"other"`
	IgnoredErrors int64      `json:"ignored_errors"`
	Reconnects    int64      `json:"reconnects"`
	P95Ms         float64    `json:"p95_ms"`
	P99Ms         float64    `json:"p99_ms"`
	P95SysbenchMs float64    `json:"p95_sysbench_ms"`
	AvgMs         float64    `json:"avg_ms"`
	MaxMs         float64    `json:"max_ms"`
	Proc          *ProcUsage `json:"proc,omitempty"`
	// ServersCPUMicros is the CPU the sandbox's MariaDB servers (all of
	// them) spent over the run, per query of the run.
	ServersCPUMicros float64 `json:"servers_cpu_us_per_query"`
	LoadAvg1         float64 `json:"loadavg_1m"`
	BusyCores        float64 `json:"machine_busy_cores"`
	// OtherCores is the busy cores not used by sysbench, the sandbox
	// servers, the relay or rwproxy: other users of the machine.
	OtherCores float64 `json:"other_busy_cores"`
	RawFile    string  `json:"raw_output_file,omitempty"`
	// Wire is the servers' traffic per query over the run; nil when the
	// servers' status could not be read.
	Wire *Wire `json:"wire,omitempty"`
}

// NewRun fills a Run from a step, sysbench's exit code and its output;
// p95 and p99 come from the latency histogram (see Percentile).
func NewRun(s Step, exit int, o Output) Run {
	r := Run{Workload: s.Workload, Threads: s.Threads, Rep: s.Rep, Target: s.Target,
		ExitCode: exit, OK: exit == 0 && o.Summary, Fatal: o.Fatal,
		QPS: o.QPS, TPS: o.TPS, Queries: o.Queries, Transactions: o.Transactions,
		Read: o.Read, Write: o.Write, Other: o.Other,
		IgnoredErrors: o.IgnoredErrors, Reconnects: o.Reconnects,
		AvgMs: o.LatAvg, MaxMs: o.LatMax}
	if o.PctLabel == 95 {
		r.P95SysbenchMs = o.PctReported
	}
	r.P95Ms, _ = Percentile(o.Histogram, 95)
	r.P99Ms, _ = Percentile(o.Histogram, 99)
	return r
}

// Machine describes where the numbers were taken.
type Machine struct {
	Nproc      int        `json:"nproc"`
	CPUModel   string     `json:"cpu_model"`
	MemTotalKB int64      `json:"mem_total_kb"`
	Kernel     string     `json:"kernel"`
	MariaDB    string     `json:"mariadb"`
	Sysbench   string     `json:"sysbench"`
	Go         string     `json:"go"`
	LoadBefore [3]float64 `json:"loadavg_before"`
}

// Config is what was run.
type Config struct {
	TimeSeconds   int                 `json:"time_seconds"`
	WarmupSeconds int                 `json:"warmup_seconds"`
	Tables        int                 `json:"tables"`
	Rows          int                 `json:"rows"`
	Threads       []int               `json:"threads"`
	Workloads     []string            `json:"workloads"`
	WorkloadArgs  map[string][]string `json:"workload_args,omitempty"`
	Reps          int                 `json:"reps"`
	PSMode        string              `json:"db_ps_mode"`
	SysbenchArgs  []string            `json:"sysbench_args,omitempty"`
	// PinnedReplicas is true when each replica's mariadbd was pinned to
	// a CPU of its own (-pin-replicas).
	PinnedReplicas bool `json:"pinned_replicas,omitempty"`
}

// Report is the whole result file.
type Report struct {
	Started     time.Time `json:"started"`
	Finished    time.Time `json:"finished"`
	Interrupted bool      `json:"interrupted,omitempty"`
	Command     string    `json:"command"`
	RWProxy     string    `json:"rwproxy"` // which binary was measured
	Machine     Machine   `json:"machine"`
	Config      Config    `json:"config"`
	Targets     []Target  `json:"targets"`
	Runs        []Run     `json:"runs"`
	Cells       []Cell    `json:"cells"`
	Verdicts    []Verdict `json:"verdicts"`
	// Idle is the idle-connection measurement; nil when not made.
	Idle *Idle `json:"idle,omitempty"`
	// IdlePeers is the same measurement through the peers (ProxySQL).
	IdlePeers []Idle `json:"idle_peers,omitempty"`
	// Mux is the multiplexing measurement: backend connections each proxy
	// holds for many mostly idle clients; nil when not made.
	Mux *Mux `json:"multiplexing,omitempty"`
}

// Finish derives the cells and the verdicts from the runs.
func (r *Report) Finish() {
	r.Cells = Aggregate(r.Runs)
	r.Verdicts = Verdicts(r.Cells)
	if r.Idle != nil {
		r.Verdicts = append(r.Verdicts, IdleVerdicts(r.Idle)...)
	}
	r.Verdicts = append(r.Verdicts, PeerVerdicts(r)...)
}

// TargetNames lists the target names in run order.
func (r *Report) TargetNames() []string {
	n := make([]string, len(r.Targets))
	for i, t := range r.Targets {
		n[i] = t.Name
	}
	return n
}

// WriteJSON writes the report, indented, through a temporary file.
func WriteJSON(path string, r *Report) error { return WriteJSONFile(path, r) }

// ReadJSON loads a report written by WriteJSON.
func ReadJSON(path string) (*Report, error) { return ReadJSONFile[Report](path) }

// WriteJSONFile writes v as indented JSON through a temporary file, so a
// reader never sees half a file (every study's result file).
func WriteJSONFile(path string, v any) error {
	b, err := json.MarshalIndent(v, "", "  ")
	if err != nil {
		return err
	}
	tmp := path + ".tmp"
	if err := os.WriteFile(tmp, append(b, '\n'), 0o644); err != nil {
		return err
	}
	return os.Rename(tmp, path)
}

// ReadJSONFile loads a T written by WriteJSONFile.
func ReadJSONFile[T any](path string) (*T, error) {
	b, err := os.ReadFile(path)
	if err != nil {
		return nil, err
	}
	var v T
	if err := json.Unmarshal(b, &v); err != nil {
		return nil, fmt.Errorf("%s: %w", path, err)
	}
	return &v, nil
}
