package main

import (
	"context"
	"database/sql"
	"errors"
	"fmt"
	"net"
	"os"
	"os/exec"
	"path/filepath"
	"runtime"
	"strconv"
	"strings"
	"sync"
	"time"

	_ "github.com/go-sql-driver/mysql" // the nodes' counters and the CPU load
	"go.uber.org/zap"

	"github.com/rwproxy/rwproxy/config"
	"github.com/rwproxy/rwproxy/internal/app"
	"github.com/rwproxy/rwproxy/internal/tunnel"
	"github.com/rwproxy/rwproxy/sysbench/harness"
)

// experiment is one run of the program: what it started.
type experiment struct {
	o          *options
	repo, work string
	sandboxUp  bool
	pinned     bool
	proxies    map[string]*app.App // by algorithm
	tunnels    [2]*tunnel.Tunnel   // in front of nodes 2 and 3
	nodes      [3]*sql.DB          // direct connections to node 1..3, user app
}

func (e *experiment) port(node int) int { return e.o.basePort + node - 1 }

func (e *experiment) nodeAddr(node int) string {
	return net.JoinHostPort("127.0.0.1", strconv.Itoa(e.port(node)))
}

func (e *experiment) proxyAddr(i int) string {
	return net.JoinHostPort("127.0.0.1", strconv.Itoa(e.o.basePort+100+i))
}

// setup brings up everything the runs need, in order.
func (e *experiment) setup(ctx context.Context) error {
	steps := []struct {
		what string
		fn   func(context.Context) error
	}{
		{"checking sysbench, MariaDB and the ports", e.check},
		{fmt.Sprintf("starting the sandbox (primary :%d)", e.o.basePort), e.startSandbox},
		{"checking that node 3 can be pinned to one CPU", e.canPin},
		{fmt.Sprintf("preparing %d tables × %d rows", e.o.tables, e.o.rows), e.prepare},
		{"starting the tunnels and one rwproxy per algorithm", e.startProxies},
	}
	for _, s := range steps {
		t0 := time.Now()
		if err := s.fn(ctx); err != nil {
			return fmt.Errorf("%s: %w", s.what, err)
		}
		say("%s: done in %.1fs", s.what, time.Since(t0).Seconds())
	}
	return nil
}

func (e *experiment) check(context.Context) error {
	if _, err := exec.LookPath("sysbench"); err != nil {
		return errors.New("sysbench is not installed: as root run scripts/sandbox install")
	}
	if _, err := os.Stat("/usr/sbin/mariadbd"); err != nil {
		return errors.New("mariadb-server is not installed: as root run scripts/sandbox install")
	}
	addrs := []string{e.nodeAddr(1), e.nodeAddr(2), e.nodeAddr(3)}
	for i := range e.o.algos {
		addrs = append(addrs, e.proxyAddr(i))
	}
	for _, a := range addrs {
		if c, err := net.DialTimeout("tcp", a, 300*time.Millisecond); err == nil {
			_ = c.Close()
			return fmt.Errorf("%s is in use (another run? pick another -base-port)", a)
		}
	}
	return nil
}

func (e *experiment) sandboxEnv() []string {
	return []string{"SANDBOX_DIR=" + filepath.Join(e.work, "sandbox"), "SANDBOX_BASE_PORT=" + strconv.Itoa(e.o.basePort)}
}

func (e *experiment) sandbox(ctx context.Context, args ...string) error {
	argv := append([]string{filepath.Join(e.repo, "scripts", "sandbox")}, args...)
	return harness.RunLogged(ctx, e.repo, filepath.Join(e.work, "sandbox.log"), e.sandboxEnv(), argv...)
}

func (e *experiment) startSandbox(ctx context.Context) error {
	e.sandboxUp = true // a half-started sandbox is taken down too
	if err := e.sandbox(ctx, "up"); err != nil {
		return err
	}
	for i := range e.nodes {
		db, err := sql.Open("mysql", fmt.Sprintf("app:app@tcp(%s)/", e.nodeAddr(i+1)))
		if err != nil {
			return err
		}
		e.nodes[i] = db
	}
	return nil
}

// canPin reports whether node 3 can be confined to a CPU of its own for
// the CPU-starved condition.
func (e *experiment) canPin(context.Context) error {
	switch {
	case runtime.NumCPU() < 2:
		say("only one CPU: node 3 is not pinned, its CPU load will slow everything")
	default:
		if _, err := exec.LookPath("taskset"); err != nil {
			say("no taskset: node 3 is not pinned, its CPU load will slow everything")
			return nil
		}
		e.pinned = true
	}
	return nil
}

// pin3 sets the CPU affinity of every thread of node 3's mariadbd (threads
// it starts later inherit it): cpus "1" confines it, with the BENCHMARK()
// loops, to CPU 1, so that the load slows node 3 rather than the whole
// machine; "" gives it every CPU back. Node 2 is never pinned, and in the
// other conditions neither is node 3, so that they compete alike with
// whatever else runs on the machine.
func (e *experiment) pin3(ctx context.Context, cpus string) error {
	if !e.pinned {
		return nil
	}
	if cpus == "" {
		cpus = fmt.Sprintf("0-%d", runtime.NumCPU()-1)
	}
	pid, err := e.pid(3)
	if err != nil {
		return err
	}
	argv := []string{"taskset", "-a", "-p", "-c", cpus, strconv.Itoa(pid)}
	return harness.RunLogged(ctx, e.work, filepath.Join(e.work, "taskset.log"), nil, argv...)
}

func (e *experiment) pid(node int) (int, error) {
	raw, err := os.ReadFile(filepath.Join(e.work, "sandbox", fmt.Sprintf("node%d", node), "mariadbd.pid"))
	if err != nil {
		return 0, err
	}
	return strconv.Atoi(strings.TrimSpace(string(raw)))
}

func (e *experiment) prepare(ctx context.Context) error {
	args := e.sysbenchArgs(e.nodeAddr(1), "point", e.o.tables, 0)
	args[len(args)-1] = "prepare"
	if err := harness.RunLogged(ctx, e.work, filepath.Join(e.work, "prepare.log"), nil, args...); err != nil {
		return err
	}
	return e.sandbox(ctx, "sync") // the replicas must have the tables
}

// proxyConfig is one proxy's configuration: node 1 the writer (hostgroup
// 10), nodes 2 and 3 (through their tunnels) the readers (20, weight 1
// each) balanced by algo.
func (e *experiment) proxyConfig(i int, algo string) (*config.Config, error) {
	c := config.Defaults()
	c.Listen = e.proxyAddr(i)
	c.Log.Level = "warn"
	c.Monitor.Username, c.Monitor.Password, c.Monitor.Interval = "monitor", "monitor", time.Second
	c.Users = []config.User{{Username: "app", Password: "app", DefaultHostgroup: 10}}
	c.Servers = nil
	for node := 1; node <= 3; node++ {
		hg := 20
		if node == 1 {
			hg = 10
		}
		port := e.port(node)
		if node > 1 {
			port = e.tunnels[node-2].Port()
		}
		c.Servers = append(c.Servers, config.Server{Hostgroup: hg, Host: "127.0.0.1", Port: port,
			Weight: 1, Status: config.StatusOnline, MaxConnections: 200})
	}
	c.ReplicationHostgroups = []config.ReplicationHostgroup{{WriterHostgroup: 10, ReaderHostgroup: 20, CheckType: "read_only"}}
	c.HostgroupAttributes = []config.HostgroupAttributes{{HostgroupID: 20, Balance: algo}}
	c.FillDefaults()
	return c, c.Validate()
}

func (e *experiment) startProxies(context.Context) error {
	for i := range e.tunnels {
		tu, err := tunnel.Start(e.nodeAddr(i + 2))
		if err != nil {
			return err
		}
		e.tunnels[i] = tu
	}
	// Warnings and errors of every proxy go to rwproxy.log in the work
	// directory; logging per query would cost CPU in the measurement.
	zc := zap.NewProductionConfig()
	zc.Level = zap.NewAtomicLevelAt(zap.WarnLevel)
	zc.OutputPaths = []string{filepath.Join(e.work, "rwproxy.log")}
	zc.ErrorOutputPaths = zc.OutputPaths
	lg, err := zc.Build()
	if err != nil {
		return err
	}
	e.proxies = map[string]*app.App{}
	for i, algo := range e.o.algos {
		c, err := e.proxyConfig(i, algo)
		if err != nil {
			return fmt.Errorf("%s: %w", algo, err)
		}
		a, err := app.New(c, lg.With(zap.String("balance", algo)))
		if err != nil {
			return fmt.Errorf("%s: %w", algo, err)
		}
		e.proxies[algo] = a // closed with the others
		if err := a.Start(); err != nil {
			return fmt.Errorf("%s: %w", algo, err)
		}
	}
	return nil
}

// load runs n connections of SELECT BENCHMARK() on node until the
// returned stop is called. Each statement ends after a second
// (max_statement_time), so that stop returns within about a second.
func (e *experiment) load(node, n int) (stop func()) {
	ctx, cancel := context.WithCancel(context.Background())
	var wg sync.WaitGroup
	for range n {
		wg.Go(func() {
			c, err := e.nodes[node-1].Conn(ctx)
			if err != nil {
				return
			}
			defer c.Close()
			for ctx.Err() == nil {
				// Error 1969 (max_statement_time exceeded) is the normal end.
				_, _ = c.ExecContext(context.Background(),
					"SET STATEMENT max_statement_time=1 FOR SELECT BENCHMARK(2000000000, CRC32('rwproxy'))")
			}
		})
	}
	return func() { cancel(); wg.Wait() }
}

// cleanup stops what setup started, in reverse order, on every exit path.
func (e *experiment) cleanup() {
	for _, a := range e.proxies {
		_ = a.Close()
	}
	for _, tu := range e.tunnels {
		tu.Close()
	}
	for _, db := range e.nodes {
		if db != nil {
			_ = db.Close()
		}
	}
	if !e.sandboxUp {
		return
	}
	ctx, cancel := context.WithTimeout(context.Background(), 2*time.Minute)
	defer cancel()
	if err := e.sandbox(ctx, "down"); err != nil {
		fmt.Fprintln(os.Stderr, "balance: sandbox down:", err)
		return
	}
	say("stopped the proxies and the sandbox")
}
