package app

import (
	"context"
	"testing"
	"time"

	"github.com/stretchr/testify/require"
	"go.uber.org/zap"
	"go.uber.org/zap/zapcore"
	"go.uber.org/zap/zaptest/observer"

	"github.com/rwproxy/rwproxy/cluster"
	"github.com/rwproxy/rwproxy/config"
	"github.com/rwproxy/rwproxy/internal/handover"
	"github.com/rwproxy/rwproxy/internal/testkit/fakebackend"
	"github.com/rwproxy/rwproxy/monitor"
)

// clusterPeer is a proxy in a cluster of its own, logging into an
// observer (its view of the moving node is the subject of the tests).
func clusterPeer(t *testing.T) (*App, *observer.ObservedLogs) {
	t.Helper()
	cfg := backendConfig(t, fakebackend.Start(t, fakebackend.Options{}))
	cfg.Cluster.Enabled, cfg.Cluster.Bind, cfg.Cluster.NodeName = true, "127.0.0.1:0", "peer"
	require.NoError(t, cfg.Validate())
	core, logs := observer.New(zapcore.InfoLevel)
	p, err := New(cfg, zap.New(core))
	require.NoError(t, err)
	require.NoError(t, p.Start(WithCluster()))
	t.Cleanup(func() { _ = p.Close() })
	return p, logs
}

// movingNode makes the rig's proxies the cluster node "moving", joining peer.
func movingNode(peer *App) func(*config.Config) {
	return func(c *config.Config) {
		c.Cluster.Enabled, c.Cluster.Bind, c.Cluster.NodeName = true, "127.0.0.1:0", "moving"
		c.Cluster.Join = []string{peer.Cluster().Addr()}
	}
}

func memberState(a *App, name string) string {
	for _, m := range a.Cluster().Members() {
		if m.Name == name {
			return m.State
		}
	}
	return ""
}

// addUser makes a local change on a (LOAD MYSQL USERS TO RUNTIME).
func addUser(t *testing.T, a *App, name string) {
	t.Helper()
	c := a.Store.Current().Clone()
	u := c.Users[0]
	u.Username = name
	c.Users = append(c.Users, u)
	require.NoError(t, a.Store.Apply(context.Background(), c, config.SourceAdmin))
}

func hasUser(a *App, name string) bool { _, ok := findUser(a.Store.Current(), name); return ok }

// requireNeverLeft: the peer never saw the node "moving" leave, fail or
// join again (one join: the first).
func requireNeverLeft(t *testing.T, peer *App, logs *observer.ObservedLogs) {
	t.Helper()
	require.Equal(t, cluster.StateAlive, memberState(peer, "moving"))
	joins := 0
	for _, e := range logs.All() {
		if e.ContextMap()["member"] != "moving" {
			continue
		}
		switch e.Message {
		case "cluster member joined":
			joins++
		case "cluster member left", "cluster member failed":
			t.Fatalf("the peer saw the node go: %s", e.Message)
		}
	}
	require.Equal(t, 1, joins)
}

// TestUpgradeKeepsClusterMember: the cluster node moves with the upgrade
// on its own gossip sockets, under its name: the peer never sees it
// leave, fail or join again, and configuration changes converge both
// ways afterwards (the new node's announcements are accepted: it gossips
// with an incarnation above the old one's).
func TestUpgradeKeepsClusterMember(t *testing.T) {
	peer, logs := clusterPeer(t)
	r := newUpgradeRig(t, movingNode(peer))
	oldAddr := r.old.Cluster().Addr()
	require.Eventually(t, func() bool {
		return memberState(peer, "moving") == cluster.StateAlive && memberState(r.old, "peer") == cluster.StateAlive
	}, 30*time.Second, 20*time.Millisecond)

	r.serveOld(t)
	taken, err := r.takeover(t, "")
	require.NoError(t, err)
	<-taken.Done()
	require.NoError(t, taken.Err())
	require.NoError(t, <-r.oldDone)
	require.Nil(t, r.old.Cluster(), "the old node was detached")
	require.NoError(t, r.old.Close())
	n := r.newApp.Cluster()
	require.NotNil(t, n, "the new process gossips at once, on the inherited port")
	require.Equal(t, "moving", n.Name())
	require.Equal(t, oldAddr, n.Addr())

	addUser(t, r.newApp, "after_upgrade")
	require.Eventually(t, func() bool { return hasUser(peer, "after_upgrade") }, 30*time.Second, 20*time.Millisecond,
		"a change on the new node reaches the peer")
	addUser(t, peer, "from_peer")
	require.Eventually(t, func() bool { return hasUser(r.newApp, "from_peer") }, 30*time.Second, 20*time.Millisecond,
		"a change on the peer reaches the new node")
	requireNeverLeft(t, peer, logs)
}

// TestUpgradeFailureKeepsClusterMember: a new process that dies after it
// started gossiping on the inherited port (ready) or before (listeners)
// leaves the old process's node resumed on the same port: the peer never
// sees the node go, and the old process's changes reach it again.
func TestUpgradeFailureKeepsClusterMember(t *testing.T) {
	for _, phase := range []string{handover.PhaseListeners, handover.PhaseReady} {
		t.Run(phase, func(t *testing.T) {
			peer, logs := clusterPeer(t)
			r := newUpgradeRig(t, movingNode(peer))
			oldAddr := r.old.Cluster().Addr()
			require.Eventually(t, func() bool { return memberState(peer, "moving") == cluster.StateAlive },
				30*time.Second, 20*time.Millisecond)
			// A session keeps the old process waiting past ready.
			c := dedicated(t, openClient(t, r.old.Addr()))
			require.Equal(t, 7, queryOne(t, c, "SELECT c FROM t WHERE id = 1"))
			r.serveOld(t)
			taken, err := r.takeover(t, phase)
			if err == nil {
				<-taken.Done()
			}
			require.ErrorIs(t, <-r.oldDone, handover.ErrRolledBack)
			n := r.old.Cluster()
			require.NotNil(t, n, "the old node resumed")
			require.Equal(t, oldAddr, n.Addr())
			addUser(t, r.old, "after_rollback")
			require.Eventually(t, func() bool { return hasUser(peer, "after_rollback") }, 30*time.Second,
				20*time.Millisecond)
			requireNeverLeft(t, peer, logs)
		})
	}
}

// TestUpgradeCarriesMonitorView: the new process's monitor starts from
// the old one's view: its check log holds the checks the old process
// made before the new one existed.
func TestUpgradeCarriesMonitorView(t *testing.T) {
	r := newUpgradeRig(t)
	require.Eventually(t, func() bool { return len(r.old.Monitor.Log(monitor.KindPing, 0)) > 0 },
		30*time.Second, 20*time.Millisecond)
	before := time.Now()
	oldest := r.old.Monitor.Log(monitor.KindPing, 0)
	r.serveOld(t)
	taken, err := r.takeover(t, "")
	require.NoError(t, err)
	<-taken.Done()
	require.NoError(t, <-r.oldDone)
	got := r.newApp.Monitor.Log(monitor.KindPing, 0)
	require.GreaterOrEqual(t, len(got), len(oldest))
	last := got[len(got)-1] // the oldest entry
	first := oldest[len(oldest)-1]
	require.True(t, first.Time.Equal(last.Time), "the old process's first check is in the new log")
	require.Equal(t, first.Addr, last.Addr)
	require.Equal(t, first.Result, last.Result)
	require.True(t, last.Time.Before(before))
}
