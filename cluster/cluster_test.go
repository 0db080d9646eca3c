package cluster

import (
	"context"
	"os"
	"path/filepath"
	"slices"
	"sync/atomic"
	"testing"
	"time"

	"github.com/stretchr/testify/require"

	"github.com/rwproxy/rwproxy/config"
)

// TestChangeReachesEveryNode: a change made on node 1 reaches 3 and 5
// nodes within 5 s through announcements and fetches alone (push/pull is
// set to a minute, so it cannot be what delivered it).
func TestChangeReachesEveryNode(t *testing.T) {
	for _, size := range []int{3, 5} {
		t.Run(string(rune('0'+size))+"_nodes", func(t *testing.T) {
			c := newCluster(t, time.Minute)
			nodes := c.startN(size)
			apply(t, nodes[0], setWeight(3307, 7))
			took := waitConverged(t, nodes, 30*time.Second, func(c *config.Config) bool { return weightOf(c, 3307) == 7 })
			t.Logf("%d nodes converged in %s", size, took)

			want := moduleRow(t, nodes[0].node, ModuleServers)
			require.Equal(t, uint64(1), want.Version)
			require.Equal(t, "n1", want.Origin)
			for _, n := range nodes {
				// The Store swaps before the node records the version.
				require.Eventually(t, func() bool { return moduleRow(t, n.node, ModuleServers).Status == StatusApplied },
					30*time.Second, 5*time.Millisecond, n.name)
				got := moduleRow(t, n.node, ModuleServers)
				require.Equal(t, want.Checksum, got.Checksum, n.name)
				require.Equal(t, want.Version, got.Version, n.name)
				// Untouched modules stay bootstrap content, never sent.
				require.Equal(t, StatusBootstrap, moduleRow(t, n.node, ModuleUsers).Status)
			}
		})
	}
}

// TestChecksumTable: every node's table shows every node's version of
// every module (peers' rows come from their gossip metadata, spread by
// gossip and repaired by push/pull), and the cluster_nodes rows.
func TestChecksumTable(t *testing.T) {
	c := newCluster(t, time.Second)
	nodes := c.startN(3)
	apply(t, nodes[1], func(c *config.Config) {
		dest := 10
		c.QueryRules = []config.QueryRule{{RuleID: 5, Active: true, MatchPattern: "FOR UPDATE$", DestinationHostgroup: &dest}}
	})
	waitConverged(t, nodes, 30*time.Second, func(c *config.Config) bool { return len(c.QueryRules) == 1 })
	want := waitRow(t, nodes[1].node, ModuleQueryRules, func(r ModuleState) bool { return r.Version == 1 })
	for _, n := range nodes {
		require.Eventually(t, func() bool {
			rows := n.node.Modules()
			if len(rows) != len(nodes)*len(moduleNames) {
				return false
			}
			for _, r := range rows {
				if r.Module == ModuleQueryRules && (r.Checksum != want.Checksum || r.Version != 1 ||
					r.Origin != "n2" || r.Status != StatusApplied || r.AppliedAt.IsZero()) {
					return false
				}
			}
			return true
		}, 30*time.Second, 20*time.Millisecond, n.name)
		members := n.node.Members()
		require.Len(t, members, 3)
		for i, m := range members {
			require.Equal(t, nodes[i].name, m.Name)
			require.Equal(t, nodes[i].node.Addr(), m.Addr)
			require.Equal(t, StateAlive, m.State)
			require.Equal(t, m.Name == n.name, m.Local)
			require.WithinDuration(t, time.Now(), m.LastSeen, 5*time.Second)
		}
	}

	c.stop("n3")
	for _, n := range nodes[:2] {
		require.Eventually(t, func() bool { return n.node.Members()[2].State == StateLeft }, 30*time.Second,
			10*time.Millisecond, "n3 left on purpose: not failed")
		require.Eventually(t, func() bool { return len(n.node.Modules()) == 2*len(moduleNames) }, 30*time.Second,
			10*time.Millisecond, "rows of nodes that are gone are not shown")
	}
}

// TestRestartedNodeCatchesUp: a node stopped while two changes are made
// comes back with its old state file and an outdated configuration and
// converges within 5 s; its versions survived the restart.
func TestRestartedNodeCatchesUp(t *testing.T) {
	c := newCluster(t, time.Minute)
	nodes := c.startN(3)
	apply(t, nodes[0], setWeight(3307, 2))
	waitConverged(t, nodes, 30*time.Second, func(c *config.Config) bool { return weightOf(c, 3307) == 2 })

	n3 := nodes[2]
	addr := n3.node.Addr()
	c.stop("n3")
	saved, err := loadState(filepath.Join(n3.dir, StateFile))
	require.NoError(t, err)
	require.Equal(t, uint64(1), saved.Clock)
	require.Len(t, saved.Modules, 1)

	live := nodes[:2]
	apply(t, nodes[0], func(c *config.Config) { c.Users[0].MaxConnections = 50 }) // users v2
	waitConverged(t, live, 30*time.Second, func(c *config.Config) bool { return c.Users[0].MaxConnections == 50 })
	waitRow(t, nodes[1].node, ModuleUsers, func(r ModuleState) bool { return r.Version == 2 })
	apply(t, nodes[1], setWeight(3308, 9)) // servers v3: n2 has seen v2
	waitConverged(t, live, 30*time.Second, func(c *config.Config) bool {
		return weightOf(c, 3308) == 9 && c.Users[0].MaxConnections == 50
	})

	// Same name, address and datadir; the configuration file it starts
	// from knows none of the changes.
	start := time.Now()
	back := c.start("n3", addr, n3.dir, 0, testConfig(t), nodes[0].node.Addr())
	all := []*tnode{nodes[0], nodes[1], back}
	waitConverged(t, all, 30*time.Second, func(c *config.Config) bool {
		return weightOf(c, 3307) == 2 && weightOf(c, 3308) == 9 && c.Users[0].MaxConnections == 50
	})
	t.Logf("restarted node converged in %s", time.Since(start))
	srv := waitRow(t, back.node, ModuleServers, func(r ModuleState) bool { return r.Version == 3 })
	require.Equal(t, "n2", srv.Origin)
	waitRow(t, back.node, ModuleUsers, func(r ModuleState) bool { return r.Version == 2 && r.Origin == "n1" })
}

// TestNewNodeReceivesEverything: a node with no state file and a stale
// configuration joins and receives every module changed in the cluster.
func TestNewNodeReceivesEverything(t *testing.T) {
	c := newCluster(t, time.Minute)
	nodes := c.startN(3)
	apply(t, nodes[0], func(c *config.Config) {
		setWeight(3307, 4)(c)
		c.Users = append(c.Users, config.User{Username: "report", Password: "r", DefaultHostgroup: 20,
			Consistency: config.ConsistencyEventual, ReadYourWritesTimeout: time.Second})
		dest := 20
		c.QueryRules = []config.QueryRule{{RuleID: 1, Active: true, MatchDigest: "^SELECT", DestinationHostgroup: &dest, Apply: true}}
		c.Pool.MaxIdle = 7
	})
	waitConverged(t, nodes, 30*time.Second, func(c *config.Config) bool { return c.Pool.MaxIdle == 7 })

	start := time.Now()
	n4 := c.start("n4", "127.0.0.1:0", c.dir(), 0, testConfig(t), nodes[1].node.Addr())
	all := append(slices.Clone(nodes), n4)
	waitConverged(t, all, 30*time.Second, func(c *config.Config) bool { return c.Pool.MaxIdle == 7 })
	t.Logf("new node converged in %s", time.Since(start))
	for _, m := range moduleNames {
		waitRow(t, n4.node, m, func(r ModuleState) bool { return r.Status == StatusApplied })
	}
	require.Len(t, n4.store.Current().Users, 2)
	require.Len(t, n4.store.Current().QueryRules, 1)
}

// TestPartitionConvergesToOneWinner: conflicting changes on both sides of
// a partition converge everywhere to the same, predictable winner once it
// heals; changes to different modules on the two sides are both kept.
func TestPartitionConvergesToOneWinner(t *testing.T) {
	c := newCluster(t, 500*time.Millisecond)
	var nodes []*tnode
	for i, g := range []int{1, 1, 1, 2, 2} {
		var seeds []string
		if i > 0 {
			seeds = []string{nodes[0].node.Addr()}
		}
		nodes = append(nodes, c.start("n"+string(rune('1'+i)), "127.0.0.1:0", c.dir(), g, testConfig(t), seeds...))
	}
	c.waitMembers(nodes, 5)
	apply(t, nodes[0], setWeight(3307, 2))
	waitConverged(t, nodes, 30*time.Second, func(c *config.Config) bool { return weightOf(c, 3307) == 2 })

	c.part.set(true)
	a, b := nodes[:3], nodes[3:]
	c.waitMembers(a, 3)
	c.waitMembers(b, 2)
	apply(t, nodes[0], setWeight(3307, 5))                                        // servers on side A
	apply(t, nodes[3], setWeight(3307, 8))                                        // servers on side B
	apply(t, nodes[1], func(c *config.Config) { c.Users[0].MaxConnections = 11 }) // users, A only
	apply(t, nodes[4], func(c *config.Config) { c.Pool.MaxIdle = 3 })             // variables, B only
	waitConverged(t, a, 30*time.Second, func(c *config.Config) bool { return weightOf(c, 3307) == 5 })
	waitConverged(t, b, 30*time.Second, func(c *config.Config) bool { return weightOf(c, 3307) == 8 })

	// Both sides stamped the servers change with the next version; the
	// greater (version, origin, checksum) wins: here n4 over n1.
	ra, rb := moduleRow(t, nodes[0].node, ModuleServers), moduleRow(t, nodes[3].node, ModuleServers)
	require.Equal(t, ra.Version, rb.Version)
	wantWeight := 8
	require.Greater(t, rb.Origin, ra.Origin)

	c.part.set(false)
	took := waitConverged(t, nodes, 30*time.Second, func(c *config.Config) bool {
		return weightOf(c, 3307) == wantWeight && c.Users[0].MaxConnections == 11 && c.Pool.MaxIdle == 3
	})
	t.Logf("healed partition converged in %s", took)
	c.waitMembers(nodes, 5)
	for _, n := range nodes {
		waitRow(t, n.node, ModuleServers, func(r ModuleState) bool { return r.Version == rb.Version && r.Origin == "n4" })
	}
}

// looseStore is a Store that installs anything: it lets a test node
// announce a configuration that fails validation elsewhere.
type looseStore struct {
	cur atomic.Pointer[config.Versioned]
	pub config.Publisher
}

func (s *looseStore) Versioned() *config.Versioned { return s.cur.Load() }

func (s *looseStore) Merge(_ context.Context, origin string, build func(*config.Config) (*config.Config, error)) (*config.Versioned, bool, error) {
	cur := s.cur.Load()
	next, err := build(cur.Config)
	if err != nil {
		return cur, false, err
	}
	v := &config.Versioned{Version: cur.Version + 1, Origin: origin, Config: next}
	s.cur.Store(v)
	return v, true, nil
}

func (s *looseStore) set(c *config.Config) {
	cur := s.cur.Load()
	s.cur.Store(&config.Versioned{Version: cur.Version + 1, Origin: "loose", Config: c})
	s.pub.Publish(*s.cur.Load())
}

// startLoose starts node n9 on a looseStore (which publishes whatever it is
// given, valid or not), joined to nodes, and waits until all see each other.
func (c *cluster) startLoose(t *testing.T, nodes []*tnode) *looseStore {
	t.Helper()
	s := &looseStore{}
	s.cur.Store(&config.Versioned{Version: 1, Origin: "n9", Config: testConfig(t)})
	n9, err := New(Options{Cluster: config.Cluster{Bind: "127.0.0.1:0", NodeName: "n9", Join: []string{nodes[0].node.Addr()},
		Secret: "test cluster passphrase"}, Store: s, Log: c.lg, Tune: fastTune(c.pushPull),
		ReconnectInterval: 200 * time.Millisecond})
	require.NoError(t, err)
	s.pub = n9
	t.Cleanup(func() { _ = n9.Close() })
	c.waitMembers(nodes, len(nodes)+1)
	return s
}

// TestInvalidConfigRefused: a module that fails validation on the
// receiving nodes is refused and reported; they keep their configuration
// and take the next valid version.
func TestInvalidConfigRefused(t *testing.T) {
	c := newCluster(t, 500*time.Millisecond)
	nodes := c.startN(2)

	bad := c.startLoose(t, nodes)

	before := nodes[0].store.Versioned()
	invalid := testConfig(t)
	invalid.Users[0].DefaultHostgroup = 99 // no such hostgroup
	bad.set(invalid)
	for _, n := range nodes {
		require.Eventually(t, func() bool { return moduleRow(t, n.node, ModuleUsers).Status == StatusRejected },
			30*time.Second, 10*time.Millisecond, n.name)
		row := moduleRow(t, n.node, ModuleUsers)
		require.Contains(t, row.Reason, "version 1 from n9")
		require.Contains(t, row.Reason, "users[0].default_hostgroup")
		require.Equal(t, uint64(0), row.Version, "still running its own")
		require.Equal(t, 10, n.store.Current().Users[0].DefaultHostgroup)
	}
	require.Same(t, before, nodes[0].store.Versioned(), "no new configuration installed")

	// Push/pull keeps bringing the refused version: it is not retried.
	time.Sleep(1200 * time.Millisecond) //nolint:forbidigo // let two push/pull rounds pass
	require.Same(t, before, nodes[0].store.Versioned())

	fixed := testConfig(t)
	fixed.Users[0].MaxConnections = 5
	bad.set(fixed)
	waitConverged(t, nodes, 30*time.Second, func(c *config.Config) bool { return c.Users[0].MaxConnections == 5 })
	for _, n := range nodes {
		waitRow(t, n.node, ModuleUsers, func(r ModuleState) bool { return r.Status == StatusApplied && r.Version == 2 })
	}
}

// TestRefusedModuleRetriedAfterOtherModule: a version refused because it
// needs another module's change (a user whose default hostgroup has no
// servers yet) is adopted once that change arrives, without a new version
// of its own.
func TestRefusedModuleRetriedAfterOtherModule(t *testing.T) {
	c := newCluster(t, 500*time.Millisecond)
	nodes := c.startN(2)

	origin := c.startLoose(t, nodes)

	// First the users, naming hostgroup 30, which no node has servers for.
	step1 := testConfig(t)
	step1.Users[0].DefaultHostgroup = 30
	origin.set(step1)
	for _, n := range nodes {
		require.Eventually(t, func() bool { return moduleRow(t, n.node, ModuleUsers).Status == StatusRejected },
			30*time.Second, 10*time.Millisecond, n.name)
		require.Contains(t, moduleRow(t, n.node, ModuleUsers).Reason, "default_hostgroup")
	}

	// Then the servers of hostgroup 30: the users version refused above
	// now validates, and is adopted with them.
	step2 := step1.Clone()
	step2.Servers = append(step2.Servers, config.Server{Hostgroup: 30, Host: "127.0.0.1", Port: 3309, Weight: 1})
	step2.FillDefaults()
	origin.set(step2)
	waitConverged(t, nodes, 30*time.Second, func(c *config.Config) bool {
		return c.Users[0].DefaultHostgroup == 30 && len(c.Servers) == 4
	})
	for _, n := range nodes {
		waitRow(t, n.node, ModuleUsers, func(r ModuleState) bool { return r.Status == StatusApplied && r.Version > 0 })
		waitRow(t, n.node, ModuleServers, func(r ModuleState) bool { return r.Status == StatusApplied && r.Version > 0 })
	}
}

// TestCorruptStateFileIsSetAside: an unreadable cluster.json does not stop
// the node; it is kept as cluster.json.bad and the node starts afresh.
func TestCorruptStateFileIsSetAside(t *testing.T) {
	c := newCluster(t, time.Minute)
	dir := c.dir()
	require.NoError(t, os.WriteFile(filepath.Join(dir, StateFile), []byte("{nope"), 0o600))
	n := c.start("n1", "127.0.0.1:0", dir, 0, testConfig(t))
	require.FileExists(t, filepath.Join(dir, StateFile+".bad"))
	require.Equal(t, StatusBootstrap, moduleRow(t, n.node, ModuleServers).Status)
	require.Len(t, n.node.Members(), 1)
	require.True(t, n.node.Members()[0].Local)
}
