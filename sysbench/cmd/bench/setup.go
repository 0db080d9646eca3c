package main

import (
	"context"
	"fmt"
	"net"
	"os"
	"os/exec"
	"path/filepath"
	"slices"
	"strconv"
	"strings"
	"time"

	"github.com/rwproxy/rwproxy/sysbench/harness"
)

// bench is one harness invocation: what it started and what it measured.
type bench struct {
	o          *options
	repo, work string // repository root; scratch dir for logs and raw outputs
	ports      ports
	sandboxUp  bool
	relay      *proc
	repRelay   *proc // the relay in front of the replicas
	proxy      *proc
	// variants are the -consistency rwproxy targets (consistency.go).
	variants       []*proc
	variantTargets []harness.Target
	proc           harness.Proc
	targets        []harness.Target
	pids           map[string]int // target name -> pid whose CPU is measured
	proxies        []int          // relays, rwproxy, extra targets
	servers        []int          // mariadbd of the primary and the replicas
	report         *harness.Report
	peers          peers // ProxySQL, HAProxy, the servers' status connections
}

func (b *bench) say(format string, a ...any) {
	fmt.Printf("bench: "+format+"\n", a...)
}

func (b *bench) sandboxEnv() []string {
	return []string{"SANDBOX_DIR=" + filepath.Join(b.work, "sandbox"),
		"SANDBOX_BASE_PORT=" + strconv.Itoa(b.ports.primary)}
}

func (b *bench) sandbox(ctx context.Context, args ...string) error {
	argv := append([]string{filepath.Join(b.repo, "scripts", "sandbox")}, args...)
	return harness.RunLogged(ctx, b.repo, filepath.Join(b.work, "sandbox.log"), b.sandboxEnv(), argv...)
}

// setup brings up everything the runs need, in order; cleanup undoes it.
func (b *bench) setup(ctx context.Context) error {
	type step struct {
		what string
		fn   func(context.Context) error
	}
	steps := []step{
		{"checking sysbench and MariaDB", b.ensureTools},
		{"building bin/rwproxy and bin/relay", b.build},
		{"starting the sandbox (primary :" + strconv.Itoa(b.ports.primary) + ")", b.startSandbox},
		{fmt.Sprintf("preparing %d tables × %d rows on the primary", b.o.tables, b.o.rows), b.prepare},
		{"starting the relay and rwproxy", b.startProxies},
	}
	if len(b.o.consistency) > 0 {
		steps = append(steps, step{"starting the -consistency rwproxy targets", b.startVariants})
	}
	if b.o.pinReplicas {
		steps = slices.Insert(steps, 4, step{"pinning the replicas to CPUs of their own", b.pinReplicas})
	}
	steps = append(steps, step{"connecting to the servers for their counters", b.openServers})
	if b.o.proxysqlBin != "" || b.o.haproxyBin != "" {
		steps = append(steps, step{"starting ProxySQL / HAProxy", b.startPeers})
	}
	for _, s := range steps {
		t0 := time.Now()
		if err := s.fn(ctx); err != nil {
			return fmt.Errorf("%s: %w", s.what, err)
		}
		b.say("%s: done in %.1fs", s.what, time.Since(t0).Seconds())
	}
	return b.findTargets()
}

func (b *bench) ensureTools(ctx context.Context) error {
	p := b.ports
	if err := portsFree(append([]int{p.primary, p.primary + 1, p.primary + 2, p.proxy, p.admin, p.relay, p.http, p.replicaRelay},
		b.o.variantPortList()...)...); err != nil {
		return err
	}
	_, e1 := exec.LookPath("sysbench")
	_, e2 := os.Stat("/usr/sbin/mariadbd")
	if e1 == nil && e2 == nil {
		return nil
	}
	if os.Geteuid() != 0 {
		return fmt.Errorf("sysbench and mariadb-server are needed: as root run scripts/sandbox install")
	}
	return b.sandbox(ctx, "install")
}

func (b *bench) build(ctx context.Context) error {
	gocmd := os.Getenv("GO")
	if gocmd == "" {
		gocmd = "go"
	}
	// {binary, module directory, package}: the relay is in the benchmark
	// module (sysbench/go.mod), rwproxy in the proxy's.
	pkgs := [][3]string{{"bin/relay", "sysbench", "./relay"}}
	if b.o.rwproxyBin == "" {
		pkgs = append(pkgs, [3]string{"bin/rwproxy", ".", "./cmd/rwproxy"})
	} else if _, err := os.Stat(b.o.rwproxyBin); err != nil {
		return err
	}
	log := filepath.Join(b.work, "build.log")
	for _, pkg := range pkgs {
		argv := []string{gocmd, "-C", pkg[1], "build", "-o", filepath.Join(b.repo, pkg[0]), pkg[2]}
		if err := harness.RunLogged(ctx, b.repo, log, nil, argv...); err != nil {
			return err
		}
	}
	b.report.RWProxy = b.describeProxy()
	return nil
}

func (b *bench) proxyBin() string {
	if b.o.rwproxyBin != "" {
		return b.o.rwproxyBin
	}
	return filepath.Join(b.repo, "bin/rwproxy")
}

// describeProxy says which rwproxy is measured: a given binary, or the
// working tree's commit and whether it had uncommitted changes.
func (b *bench) describeProxy() string {
	if b.o.rwproxyBin != "" {
		return "prebuilt binary " + b.o.rwproxyBin
	}
	rev, err := exec.Command("git", "-C", b.repo, "rev-parse", "--short", "HEAD").Output()
	if err != nil {
		return "bin/rwproxy built from the working tree"
	}
	desc := "bin/rwproxy built from the working tree at " + strings.TrimSpace(string(rev))
	if st, _ := exec.Command("git", "-C", b.repo, "status", "--porcelain", "--untracked-files=no").Output(); len(st) > 0 {
		desc += " with uncommitted changes"
	}
	return desc
}

func (b *bench) startSandbox(ctx context.Context) error {
	b.sandboxUp = true // even a half-started sandbox is taken down
	return b.sandbox(ctx, "up")
}

func (b *bench) prepare(ctx context.Context) error {
	args := b.sysbenchArgs(b.directAddr(), "oltp_read_write", min(b.o.tables, 4), 0)
	args[len(args)-1] = "prepare"
	log := filepath.Join(b.work, "prepare.log")
	if err := harness.RunLogged(ctx, b.work, log, nil, args...); err != nil {
		return err
	}
	return b.sandbox(ctx, "sync") // the replicas must have the tables before reads go there
}

func (b *bench) startProxies(ctx context.Context) error {
	conf := filepath.Join(b.work, "rwproxy.yaml")
	if err := os.WriteFile(conf, []byte(proxyConfig(b.ports, filepath.Join(b.work, "rwproxy-data"))), 0o644); err != nil {
		return err
	}
	var err error
	relayAddr := fmt.Sprintf("127.0.0.1:%d", b.ports.relay)
	b.relay, err = startProc("relay", filepath.Join(b.work, "relay.log"), b.work,
		filepath.Join(b.repo, "bin/relay"), "-listen", relayAddr, "-target", b.directAddr())
	if err != nil {
		return err
	}
	if err := b.relay.waitListening(ctx, relayAddr); err != nil {
		return err
	}
	repAddr := fmt.Sprintf("127.0.0.1:%d", b.ports.replicaRelay)
	b.repRelay, err = startProc("relay-replicas", filepath.Join(b.work, "relay-replicas.log"), b.work,
		filepath.Join(b.repo, "bin/relay"), "-listen", repAddr, "-target",
		fmt.Sprintf("127.0.0.1:%d,127.0.0.1:%d", b.ports.primary+1, b.ports.primary+2))
	if err != nil {
		return err
	}
	if err := b.repRelay.waitListening(ctx, repAddr); err != nil {
		return err
	}
	return b.startRWProxy(ctx)
}

// startRWProxy starts rwproxy on the configuration startProxies wrote (its
// log appended to) and waits until it listens.
func (b *bench) startRWProxy(ctx context.Context) error {
	var err error
	b.proxy, err = startProc("rwproxy", filepath.Join(b.work, "rwproxy.log"), b.work,
		b.proxyBin(), "--config", filepath.Join(b.work, "rwproxy.yaml"))
	if err != nil {
		return err
	}
	return b.proxy.waitListening(ctx, b.proxyAddr())
}

func (b *bench) directAddr() string { return fmt.Sprintf("127.0.0.1:%d", b.ports.primary) }
func (b *bench) proxyAddr() string  { return fmt.Sprintf("127.0.0.1:%d", b.ports.proxy) }

// findTargets lists the targets in run order and the processes to account.
func (b *bench) findTargets() error {
	b.targets = append([]harness.Target{
		{Name: harness.Direct, Addr: b.directAddr(), Kind: harness.Direct},
		{Name: harness.Relay, Addr: fmt.Sprintf("127.0.0.1:%d", b.ports.relay), Kind: harness.Relay},
		{Name: harness.RWProxy, Addr: b.proxyAddr(), Kind: harness.RWProxy},
		{Name: harness.ReplicaRelay, Addr: fmt.Sprintf("127.0.0.1:%d", b.ports.replicaRelay), Kind: harness.ReplicaRelay},
	}, append(slices.Clone(b.variantTargets), b.o.extra...)...)
	b.pids = map[string]int{harness.Relay: b.relay.pid(), harness.RWProxy: b.proxy.pid(),
		harness.ReplicaRelay: b.repRelay.pid()}
	b.servers = b.mariadbPIDs()
	b.proxies = []int{b.relay.pid(), b.repRelay.pid(), b.proxy.pid()}
	b.variantPIDs()
	for _, t := range b.o.extra {
		b.extraPID(t)
	}
	b.addPeerTargets()
	return nil
}

func (b *bench) extraPID(t harness.Target) {
	_, port, _ := net.SplitHostPort(t.Addr)
	n, _ := strconv.Atoi(port)
	pid, err := b.proc.ListenerPID(n)
	if err != nil {
		b.say("target %s: no CPU figures (%v)", t.Name, err)
		return
	}
	b.say("target %s: measuring pid %d", t.Name, pid)
	b.pids[t.Name] = pid
	b.proxies = append(b.proxies, pid)
}

func (b *bench) mariadbPIDs() []int {
	var out []int
	for n := 1; n <= 3; n++ {
		raw, err := os.ReadFile(filepath.Join(b.work, "sandbox", fmt.Sprintf("node%d", n), "mariadbd.pid"))
		if pid, err2 := strconv.Atoi(strings.TrimSpace(string(raw))); err == nil && err2 == nil {
			out = append(out, pid)
		}
	}
	return out
}

// cleanup stops what setup started, in reverse order; it runs on every
// exit path, Ctrl-C included, with its own deadline.
func (b *bench) cleanup() {
	b.stopPeers()
	b.stopVariants()
	b.proxy.stop(10 * time.Second)
	b.relay.stop(5 * time.Second)
	b.repRelay.stop(5 * time.Second)
	if !b.sandboxUp {
		return
	}
	ctx, cancel := context.WithTimeout(context.Background(), 2*time.Minute)
	defer cancel()
	if err := b.sandbox(ctx, "down"); err != nil {
		fmt.Fprintln(os.Stderr, "bench: sandbox down:", err)
		return
	}
	b.say("stopped rwproxy, the relays and the sandbox")
}
