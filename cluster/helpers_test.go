package cluster

import (
	"context"
	"errors"
	"fmt"
	"net"
	"os"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/hashicorp/memberlist"
	"github.com/stretchr/testify/require"
	"go.uber.org/goleak"
	"go.uber.org/zap"
	"go.uber.org/zap/zapcore"

	"github.com/rwproxy/rwproxy/config"
)

// testConfig is a valid configuration: hostgroup 10 one writer,
// hostgroup 20 two readers, one user.
func testConfig(t testing.TB) *config.Config {
	t.Helper()
	c := config.Defaults()
	c.Listen, c.Admin.Listen = "127.0.0.1:0", "127.0.0.1:0"
	c.Users = []config.User{{Username: "app", Password: "app", DefaultHostgroup: 10}}
	c.Servers = []config.Server{
		{Hostgroup: 10, Host: "127.0.0.1", Port: 3306, Weight: 1},
		{Hostgroup: 20, Host: "127.0.0.1", Port: 3307, Weight: 1},
		{Hostgroup: 20, Host: "127.0.0.1", Port: 3308, Weight: 1},
	}
	c.ReplicationHostgroups = []config.ReplicationHostgroup{{WriterHostgroup: 10, ReaderHostgroup: 20}}
	c.FillDefaults()
	require.NoError(t, c.Validate())
	return c
}

// testLogger logs through t until the test's cleanups are over: the
// cleanup registered here runs last, and a mutex makes sure no goroutine
// (memberlist's stragglers) logs after that, which would panic.
func testLogger(t testing.TB) *zap.Logger {
	w := &testWriter{t: t}
	t.Cleanup(func() {
		w.mu.Lock()
		w.done = true
		w.mu.Unlock()
	})
	level := zapcore.InfoLevel
	if os.Getenv("CLUSTER_DEBUG") != "" {
		level = zapcore.DebugLevel
	}
	enc := zapcore.NewConsoleEncoder(zap.NewDevelopmentEncoderConfig())
	return zap.New(zapcore.NewCore(enc, zapcore.AddSync(w), level))
}

type testWriter struct {
	mu   sync.Mutex
	t    testing.TB
	done bool
}

func (w *testWriter) Write(p []byte) (int, error) {
	w.mu.Lock()
	defer w.mu.Unlock()
	if !w.done {
		w.t.Log(strings.TrimRight(string(p), "\n"))
	}
	return len(p), nil
}

// verifyNoLeaks checks for leaked goroutines once the test's other
// cleanups (which close the nodes) have run.
// Memberlist does not wait for its goroutines on Shutdown: a probe in
// flight finishes when its timeout fires, later than goleak's own retries
// allow for, hence the wait first.
func verifyNoLeaks(t *testing.T) {
	t.Cleanup(func() {
		deadline := time.Now().Add(5 * time.Second)
		for goleak.Find() != nil && time.Now().Before(deadline) {
			time.Sleep(50 * time.Millisecond) //nolint:forbidigo // polling for goroutines to end
		}
		goleak.VerifyNone(t)
	})
}

// fastTune makes failure detection and gossip quick for tests on
// loopback. Push/pull is slow unless a test asks otherwise, so that the
// announcement path is what the propagation tests measure. The probe
// timeout leaves room for a loaded machine: at 150 ms, nodes starved of
// CPU (CI beside other builds, stress-ng) missed probes, were suspected and
// declared dead, and membership never settled.
func fastTune(pushPull time.Duration) func(*memberlist.Config) {
	return func(c *memberlist.Config) {
		c.ProbeInterval = 500 * time.Millisecond
		c.ProbeTimeout = 400 * time.Millisecond
		c.SuspicionMult = 4
		c.GossipInterval = 50 * time.Millisecond
		c.PushPullInterval = pushPull
		c.GossipToTheDeadTime = time.Second
		c.TCPTimeout = time.Second
	}
}

// partition drops traffic between two groups of nodes when cut.
type partition struct {
	mu    sync.Mutex
	group map[string]int // gossip address → group
	cut   bool
}

func newPartition() *partition { return &partition{group: make(map[string]int)} }

func (p *partition) set(cut bool) {
	p.mu.Lock()
	p.cut = cut
	p.mu.Unlock()
}

func (p *partition) blocked(from, to string) bool {
	p.mu.Lock()
	defer p.mu.Unlock()
	return p.cut && p.group[from] != p.group[to]
}

// wrap returns a WrapTransport function that puts the node in group g.
func (p *partition) wrap(g int) func(memberlist.NodeAwareTransport) memberlist.NodeAwareTransport {
	return func(t memberlist.NodeAwareTransport) memberlist.NodeAwareTransport {
		ip, port, err := t.FinalAdvertiseAddr("", 0)
		if err != nil {
			panic(err)
		}
		self := net.JoinHostPort(ip.String(), fmt.Sprint(port))
		p.mu.Lock()
		p.group[self] = g
		p.mu.Unlock()
		return &filtered{NodeAwareTransport: t, p: p, self: self}
	}
}

// filtered is a transport that loses packets and refuses connections
// across the partition.
type filtered struct {
	memberlist.NodeAwareTransport
	p    *partition
	self string
}

var errPartitioned = errors.New("test: partitioned")

func (f *filtered) WriteTo(b []byte, addr string) (time.Time, error) {
	return f.WriteToAddress(b, memberlist.Address{Addr: addr})
}

func (f *filtered) WriteToAddress(b []byte, a memberlist.Address) (time.Time, error) {
	if f.p.blocked(f.self, a.Addr) {
		return time.Now(), nil // lost, as UDP loses
	}
	return f.NodeAwareTransport.WriteToAddress(b, a)
}

func (f *filtered) DialTimeout(addr string, timeout time.Duration) (net.Conn, error) {
	return f.DialAddressTimeout(memberlist.Address{Addr: addr}, timeout)
}

func (f *filtered) DialAddressTimeout(a memberlist.Address, timeout time.Duration) (net.Conn, error) {
	if f.p.blocked(f.self, a.Addr) {
		return nil, errPartitioned
	}
	return f.NodeAwareTransport.DialAddressTimeout(a, timeout)
}

// tnode is one node of a test cluster.
type tnode struct {
	name  string
	dir   string
	store *config.Store
	node  *Node
}

// cluster is a test cluster on loopback.
type cluster struct {
	t        *testing.T
	lg       *zap.Logger
	part     *partition
	pushPull time.Duration
	nodes    map[string]*tnode
	base     string // parent of the nodes' datadirs (see dir)
}

func newCluster(t *testing.T, pushPull time.Duration) *cluster {
	verifyNoLeaks(t)
	// The base directory is made before the cleanup that closes the nodes, so
	// it is removed after them (cleanups run last-in first-out): a node still
	// writing cluster.json never races the removal. Nodes get their datadirs
	// from c.dir, not t.TempDir.
	c := &cluster{t: t, lg: testLogger(t), part: newPartition(), pushPull: pushPull, nodes: make(map[string]*tnode),
		base: t.TempDir()}
	t.Cleanup(func() {
		for _, n := range c.nodes {
			if n.node != nil {
				_ = n.node.Close()
			}
		}
	})
	return c
}

// dir returns a new empty directory for a node's state, removed after the
// nodes are closed.
func (c *cluster) dir() string {
	d, err := os.MkdirTemp(c.base, "node")
	require.NoError(c.t, err)
	return d
}

// start starts node name on bind (127.0.0.1:0 for a free port) in group
// g, with its state in dir, running cfg, joining seeds.
func (c *cluster) start(name, bind, dir string, g int, cfg *config.Config, seeds ...string) *tnode {
	c.t.Helper()
	store := config.NewStore(cfg, name)
	n, err := New(Options{
		Cluster: config.Cluster{Enabled: true, Bind: bind, NodeName: name, Join: seeds,
			Secret: "test cluster passphrase"},
		Datadir: dir, Store: store, Log: c.lg, WrapTransport: c.part.wrap(g),
		Tune: fastTune(c.pushPull), ReconnectInterval: 200 * time.Millisecond,
	})
	require.NoError(c.t, err)
	store.SetPublisher(n)
	tn := &tnode{name: name, dir: dir, store: store, node: n}
	c.nodes[name] = tn
	return tn
}

// stop closes a node (gracefully: it leaves).
func (c *cluster) stop(name string) {
	c.t.Helper()
	tn := c.nodes[name]
	require.NoError(c.t, tn.node.Close())
	tn.node = nil
}

// startN starts n nodes n1..nN, each with its own datadir, each joining
// every node started before it. Joining only n1 left the others to learn
// of each later node from gossip, whose delivery to every member is
// probabilistic (a node's alive message goes to a few random members a
// few times); what guarantees it is push/pull, which these tests set to a
// minute: once in CI n3 had not heard of n4 and n5 after 30 s.
func (c *cluster) startN(n int) []*tnode {
	c.t.Helper()
	var out []*tnode
	for i := 1; i <= n; i++ {
		var seeds []string
		for _, prev := range out {
			seeds = append(seeds, prev.node.Addr())
		}
		out = append(out, c.start(fmt.Sprintf("n%d", i), "127.0.0.1:0", c.dir(), 0, testConfig(c.t), seeds...))
	}
	c.waitMembers(out, len(out))
	return out
}

// waitMembers waits until every node sees want alive members.
func (c *cluster) waitMembers(nodes []*tnode, want int) {
	c.t.Helper()
	require.Eventually(c.t, func() bool {
		for _, n := range nodes {
			if alive(n.node) != want {
				return false
			}
		}
		return true
	}, 30*time.Second, 20*time.Millisecond, "membership did not settle at %d", want)
}

func alive(n *Node) int {
	count := 0
	for _, m := range n.Members() {
		if m.State == StateAlive {
			count++
		}
	}
	return count
}

// apply makes a local change on node tn, as LOAD ... TO RUNTIME does.
func apply(t testing.TB, tn *tnode, edit func(c *config.Config)) {
	t.Helper()
	next := tn.store.Current().Clone()
	edit(next)
	require.NoError(t, tn.store.Apply(context.Background(), next, config.SourceAdmin))
}

// converged reports whether every node runs the same content for every
// module and it satisfies ok.
func converged(nodes []*tnode, ok func(c *config.Config) bool) bool {
	var first map[string]encoded
	for _, n := range nodes {
		cur := n.store.Current()
		if !ok(cur) {
			return false
		}
		mods := encodeModules(cur)
		if first == nil {
			first = mods
			continue
		}
		for _, m := range moduleNames {
			if mods[m].checksum != first[m].checksum {
				return false
			}
		}
	}
	return true
}

// waitConverged waits up to within for converged and returns how long it took.
func waitConverged(t *testing.T, nodes []*tnode, within time.Duration, ok func(c *config.Config) bool) time.Duration {
	t.Helper()
	start := time.Now()
	require.Eventually(t, func() bool { return converged(nodes, ok) }, within, 10*time.Millisecond,
		"not converged within %s", within)
	return time.Since(start)
}

func weightOf(c *config.Config, port int) int {
	for _, s := range c.Servers {
		if s.Port == port {
			return s.Weight
		}
	}
	return -1
}

func setWeight(port, w int) func(c *config.Config) {
	return func(c *config.Config) {
		for i := range c.Servers {
			if c.Servers[i].Port == port {
				c.Servers[i].Weight = w
			}
		}
	}
}

// moduleRow returns node's own row for module m.
func moduleRow(t *testing.T, n *Node, m string) ModuleState {
	t.Helper()
	for _, r := range n.Modules() {
		if r.Node == n.Name() && r.Module == m {
			return r
		}
	}
	t.Fatalf("no row for %s on %s", m, n.Name())
	return ModuleState{}
}

// waitRow waits until node's own row for module m satisfies ok (the Store
// swaps a configuration in before the node records its version).
func waitRow(t *testing.T, n *Node, m string, ok func(r ModuleState) bool) ModuleState {
	t.Helper()
	require.Eventually(t, func() bool { return ok(moduleRow(t, n, m)) }, 30*time.Second, 5*time.Millisecond,
		"%s on %s: %+v", m, n.Name(), moduleRow(t, n, m))
	return moduleRow(t, n, m)
}
