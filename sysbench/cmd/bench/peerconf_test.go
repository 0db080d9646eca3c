package main

import (
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"

	"github.com/rwproxy/rwproxy/sysbench/harness"
)

func TestProxySQLConfig(t *testing.T) {
	o, err := parseOptions([]string{"-base-port", "25800"}, envOf(nil))
	if err != nil {
		t.Fatal(err)
	}
	p := o.ports()
	cnf := proxysqlConfig(p, "/tmp/x/psql", 3)
	for _, want := range []string{
		`datadir="/tmp/x/psql"`,
		`errorlog="/tmp/x/psql/proxysql.log"`,
		`mysql_ifaces="127.0.0.1:25906"`,
		"\tthreads=3\n",
		`interfaces="127.0.0.1:25905"`,
		"\tmultiplexing=true\n",
		`monitor_username="monitor"`,
		`monitor_password="monitor"`,
		"\tmonitor_writer_is_also_reader=false\n",
		`{ address="127.0.0.1", port=25800, hostgroup=10, max_connections=1000, weight=1, comment="primary" },`,
		`{ address="127.0.0.1", port=25801, hostgroup=20, max_connections=1000, weight=1, comment="replica1" },`,
		`{ address="127.0.0.1", port=25802, hostgroup=20, max_connections=1000, weight=1, comment="replica2" }` + "\n)",
		`{ writer_hostgroup=10, reader_hostgroup=20, check_type="read_only", comment="rw-split" }`,
		`{ username="app", password="app", default_hostgroup=10, active=1, transaction_persistent=1 }`,
		`{ rule_id=1, active=1, match_digest="^SELECT.*FOR UPDATE", destination_hostgroup=10, apply=1 },`,
		`{ rule_id=2, active=1, match_digest="^SELECT", destination_hostgroup=20, apply=1 }`,
	} {
		if !strings.Contains(cnf, want) {
			t.Errorf("config lacks %q", want)
		}
	}
	// libconfig: every group and list closed.
	if strings.Count(cnf, "{") != strings.Count(cnf, "}") || strings.Count(cnf, "(") != strings.Count(cnf, ")") {
		t.Errorf("unbalanced config")
	}
	if t.Failed() {
		t.Log(cnf)
	}
}

func TestHAProxyConfig(t *testing.T) {
	o, _ := parseOptions([]string{"-base-port", "25800"}, envOf(nil))
	cfg := haproxyConfig(o.ports(), 2)
	for _, want := range []string{"\tnbthread 2\n", "\tmode tcp\n", "\tbind 127.0.0.1:25907\n", "\tserver primary 127.0.0.1:25800\n"} {
		if !strings.Contains(cfg, want) {
			t.Errorf("config lacks %q:\n%s", want, cfg)
		}
	}
	// Where HAProxy is installed, it must accept the file.
	bin, err := exec.LookPath("haproxy")
	if err != nil {
		bin = "/usr/sbin/haproxy"
	}
	if _, err := os.Stat(bin); err == nil {
		path := filepath.Join(t.TempDir(), "haproxy.cfg")
		if err := os.WriteFile(path, []byte(cfg), 0o644); err != nil {
			t.Fatal(err)
		}
		if out, err := exec.Command(bin, "-c", "-f", path).CombinedOutput(); err != nil {
			t.Fatalf("haproxy -c: %v\n%s", err, out)
		}
	}
}

func TestOptionsPeers(t *testing.T) {
	env := envOf(map[string]string{"BENCH_PROXYSQL": "/opt/proxysql", "BENCH_HAPROXY": "/usr/sbin/haproxy", "BENCH_MUX": "50"})
	o, err := parseOptions(nil, env)
	if err != nil {
		t.Fatal(err)
	}
	if o.proxysqlBin != "/opt/proxysql" || o.haproxyBin != "/usr/sbin/haproxy" || o.mux != 50 {
		t.Fatalf("%+v", o)
	}
	if p := o.ports(); p.proxysql != 3521 || p.proxysqlAdmin != 3522 || p.haproxy != 3523 {
		t.Fatalf("ports %+v", p)
	}
	// Off when unset; an extra target may then still be called proxysql.
	if o, err := parseOptions([]string{"-targets", "proxysql=127.0.0.1:6033"}, envOf(nil)); err != nil || o.proxysqlBin != "" || o.haproxyBin != "" {
		t.Fatalf("%+v %v", o, err)
	}
	for _, args := range [][]string{{"-targets", "proxysql=127.0.0.1:6033"}, {"-mux", "-1"}, {"-base-port", "65430"}} {
		if _, err := parseOptions(args, env); err == nil {
			t.Errorf("%q accepted", args)
		}
	}
}

// HAProxy goes beside the relay and ProxySQL beside rwproxy, before the
// relay to the replicas and the extra targets.
func TestAddPeerTargets(t *testing.T) {
	sleep := func() *proc {
		p, err := startProc("sleep", filepath.Join(t.TempDir(), "log"), t.TempDir(), "sleep", "30")
		if err != nil {
			t.Fatal(err)
		}
		t.Cleanup(func() { p.stop(0) })
		return p
	}
	o, _ := parseOptions(nil, envOf(nil))
	b := &bench{o: o, ports: o.ports(), pids: map[string]int{}}
	b.targets = []harness.Target{{Name: harness.Direct}, {Name: harness.Relay}, {Name: harness.RWProxy},
		{Name: harness.ReplicaRelay}, {Name: "extra"}}
	b.peers.proxysql, b.peers.haproxy = sleep(), sleep()
	b.addPeerTargets()
	var names []string
	for _, tg := range b.targets {
		names = append(names, tg.Name+":"+tg.Kind)
	}
	if got := strings.Join(names, ","); got != "direct:,relay:,haproxy:haproxy,rwproxy:,proxysql:proxysql,relay-replicas:,extra:" {
		t.Fatal(got)
	}
	if b.pids[harness.ProxySQL] != b.peers.proxysql.pid() || len(b.proxies) != 2 {
		t.Fatalf("pids %v proxies %v", b.pids, b.proxies)
	}
}
