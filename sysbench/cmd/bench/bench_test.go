package main

import (
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"reflect"
	"runtime"
	"strings"
	"testing"

	"github.com/rwproxy/rwproxy/config"
	"github.com/rwproxy/rwproxy/sysbench/harness"
)

func envOf(kv map[string]string) func(string) string { return func(k string) string { return kv[k] } }

func TestOptionsDefaults(t *testing.T) {
	o, err := parseOptions(nil, envOf(nil))
	if err != nil {
		t.Fatal(err)
	}
	if o.timeSec != 10 || o.idle != 10000 || o.tables != 4 || o.rows != 10000 || o.reps != 1 || o.psMode != "auto" ||
		!reflect.DeepEqual(o.threads, []int{1, 8, 32}) || strings.Join(o.workloads, ",") != defaultWorkloads ||
		o.basePort != 3416 || o.outDir != "sysbench/results" || o.pinReplicas {
		t.Fatalf("defaults: %+v", o)
	}
	if p := o.ports(); p != (ports{primary: 3416, proxy: 3516, admin: 3517, relay: 3518, http: 3519, replicaRelay: 3520,
		proxysql: 3521, proxysqlAdmin: 3522, haproxy: 3523}) {
		t.Fatalf("ports %+v", p)
	}
}

func TestOptionsEnvAndFlags(t *testing.T) {
	env := envOf(map[string]string{"BENCH_TIME": "8", "BENCH_THREADS": "32, 1,8,8", "BENCH_REPS": "3",
		"BENCH_TARGETS": "proxysql=127.0.0.1:6033", "BENCH_PS_MODE": "disable", "BENCH_SYSBENCH_ARGS": "--rand-type=uniform --skip_trx=off",
		"BENCH_PIN_REPLICAS": "1"})
	o, err := parseOptions([]string{"-time", "5", "-workloads", "oltp_point_select"}, env)
	if err != nil {
		t.Fatal(err)
	}
	if o.timeSec != 5 || o.reps != 3 || !reflect.DeepEqual(o.threads, []int{1, 8, 32}) || o.psMode != "disable" ||
		len(o.workloads) != 1 || len(o.sysbenchArgs) != 2 || !o.pinReplicas {
		t.Fatalf("%+v", o)
	}
	if want := []harness.Target{{Name: "proxysql", Addr: "127.0.0.1:6033", Kind: "extra"}}; !reflect.DeepEqual(o.extra, want) {
		t.Fatalf("extra %+v", o.extra)
	}
}

func TestOptionsRejects(t *testing.T) {
	for _, args := range [][]string{
		{"-threads", "1,x"}, {"-threads", "0"}, {"-threads", ""}, {"-time", "0"}, {"-ps-mode", "on"},
		{"-targets", "rwproxy=127.0.0.1:1"}, {"-targets", "a=b"}, {"-targets", "a=h:1,a=h:2"},
		{"-workloads", " , "}, {"-base-port", "80"}, {"stray"},
	} {
		if _, err := parseOptions(args, envOf(nil)); err == nil {
			t.Errorf("%q accepted", args)
		}
	}
}

// The generated rwproxy configuration must pass rwproxy's own loader.
func TestProxyConfigLoads(t *testing.T) {
	p := ports{primary: 3416, proxy: 3516, admin: 3517, relay: 3518}
	dir := t.TempDir()
	path := filepath.Join(dir, "rwproxy.yaml")
	if err := os.WriteFile(path, []byte(proxyConfig(p, filepath.Join(dir, "data"))), 0o644); err != nil {
		t.Fatal(err)
	}
	c, err := config.Load(path)
	if err != nil {
		t.Fatal(err)
	}
	if c.Listen != "127.0.0.1:3516" || c.Admin.Listen != "127.0.0.1:3517" || len(c.Servers) != 3 ||
		c.Servers[0].Hostgroup != 10 || c.Servers[2].Port != 3418 || c.Servers[2].Hostgroup != 20 ||
		len(c.ReplicationHostgroups) != 1 || c.Users[0].Username != "app" || c.Log.Level != "warn" {
		t.Fatalf("loaded %+v", c)
	}
}

func TestSysbenchArgs(t *testing.T) {
	o, _ := parseOptions([]string{"-tables", "2", "-rows", "500", "-sysbench-args", "--rand-type=uniform"}, envOf(nil))
	b := &bench{o: o}
	got := strings.Join(b.sysbenchArgs("127.0.0.1:3518", "oltp_read_only", 8, 12), " ")
	want := "sysbench --db-driver=mysql --mysql-host=127.0.0.1 --mysql-port=3518 --mysql-user=app " +
		"--mysql-password=app --mysql-db=sbtest --tables=2 --table-size=500 --threads=8 --time=12 " +
		"--db-ps-mode=auto --histogram=on --percentile=95 --skip_trx=on --rand-type=uniform oltp_read_only run"
	if got != want {
		t.Fatalf("\n got %s\nwant %s", got, want)
	}
	if a := b.sysbenchArgs("127.0.0.1:1", "oltp_point_select", 1, 1); strings.Contains(strings.Join(a, " "), "skip_trx") {
		t.Fatal("skip_trx only belongs to oltp_read_only")
	}
}

func TestWriteOutputs(t *testing.T) {
	r := &harness.Report{
		Config:  harness.Config{Threads: []int{1, 8}, Workloads: []string{"oltp_point_select"}, Reps: 1},
		Targets: []harness.Target{{Name: harness.Direct, Kind: harness.Direct}, {Name: harness.Relay, Kind: harness.Relay}},
		Runs: []harness.Run{
			{Workload: "oltp_point_select", Threads: 1, Target: harness.Direct, OK: true, QPS: 10},
			{Workload: "oltp_point_select", Threads: 8, Target: harness.Relay, OK: true, QPS: 20},
		},
	}
	r.Finish()
	dir := t.TempDir()
	files, err := writeOutputs(dir, "20260101-000000", r)
	if err != nil {
		t.Fatal(err)
	}
	for _, f := range []string{"20260101-000000.json", "20260101-000000.md", "latest.md",
		"latest-qps-oltp_point_select.png", "latest-p95-oltp_point_select.png"} {
		if _, err := os.Stat(filepath.Join(dir, f)); err != nil {
			t.Errorf("missing %s (wrote %v)", f, files)
		}
	}
	latest, _ := os.ReadFile(filepath.Join(dir, "latest.md"))
	stamped, _ := os.ReadFile(filepath.Join(dir, "20260101-000000.md"))
	if !strings.Contains(string(latest), "](latest-qps-oltp_point_select.png)") || strings.Contains(string(stamped), ".png") {
		t.Fatal("only latest.md links the latest charts")
	}
	// -render rebuilds the same files from the JSON.
	if err := render(&options{render: filepath.Join(dir, "20260101-000000.json")}); err != nil {
		t.Fatal(err)
	}
}

func TestFailedRuns(t *testing.T) {
	r := &harness.Report{Runs: []harness.Run{{OK: true}, {OK: false}}}
	if err := failedRuns(r); err == nil || !strings.Contains(err.Error(), "1 of 2 runs failed") {
		t.Fatalf("%v", err)
	}
	if failedRuns(&harness.Report{Runs: []harness.Run{{OK: true}}}) != nil {
		t.Fatal("no failure expected")
	}
}

func TestMariadbVersion(t *testing.T) {
	line := "/usr/sbin/mariadbd  Ver 10.11.19-MariaDB-0+deb12u1 for debian-linux-gnu on x86_64 (Debian 12)"
	if got := mariadbVersion(line); got != "MariaDB 10.11.19-MariaDB-0+deb12u1" {
		t.Fatal(got)
	}
	if got := mariadbVersion("?"); got != "?" {
		t.Fatal(got)
	}
}

func TestPinProcess(t *testing.T) {
	cmd := exec.Command("sleep", "30")
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	defer func() { _ = cmd.Process.Kill(); _ = cmd.Wait() }()
	cpu := runtime.NumCPU() - 1
	if err := pinProcess(cmd.Process.Pid, cpu); err != nil {
		t.Fatal(err)
	}
	raw, err := os.ReadFile(fmt.Sprintf("/proc/%d/status", cmd.Process.Pid))
	if err != nil {
		t.Fatal(err)
	}
	if want := fmt.Sprintf("Cpus_allowed_list:\t%d\n", cpu); !strings.Contains(string(raw), want) {
		t.Fatalf("status lacks %q:\n%s", want, raw)
	}
}

// -consistency starts one rwproxy per variant, each with a configuration
// rwproxy loads and the user's consistency set, on ports of its own.
func TestConsistencyVariants(t *testing.T) {
	o, err := parseOptions([]string{"-consistency", "eventual,session,user", "-port-offset", "10"}, envOf(nil))
	if err != nil {
		t.Fatal(err)
	}
	if len(o.consistency) != 3 || o.ports().proxy != 3426 {
		t.Fatalf("parsed %v, proxy port %d", o.consistency, o.ports().proxy)
	}
	want := map[string][2]string{"eventual": {"eventual", "user"}, "session": {"read_your_writes", "session"},
		"user": {"read_your_writes", "user"}}
	seen := map[int]bool{}
	for i, v := range o.consistency {
		p := o.variantPorts(i)
		for _, port := range []int{p.proxy, p.admin, p.http} {
			if seen[port] || port == o.ports().proxy || port == o.ports().replicaRelay {
				t.Fatalf("port %d used twice", port)
			}
			seen[port] = true
		}
		dir := t.TempDir()
		path := filepath.Join(dir, "v.yaml")
		if err := os.WriteFile(path, []byte(proxyConfigUser(p, dir, consistencyVariants[v].userKeys)), 0o644); err != nil {
			t.Fatal(err)
		}
		c, err := config.Load(path)
		if err != nil {
			t.Fatal(err)
		}
		if got := [2]string{c.Users[0].Consistency, c.Users[0].ConsistencyScope}; got != want[v] {
			t.Fatalf("%s: user has %v", v, got)
		}
	}
	if _, err := parseOptions([]string{"-consistency", "strong"}, envOf(nil)); err == nil {
		t.Fatal("-consistency strong accepted")
	}
}
