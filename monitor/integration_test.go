// The integration test is in the external test package: internal/testkit
// imports internal/app, which imports monitor, and an in-package test
// importing testkit would be an import cycle.
package monitor_test

import (
	"testing"
	"time"

	"github.com/stretchr/testify/require"
	"go.uber.org/goleak"
	"go.uber.org/zap/zaptest"

	"github.com/rwproxy/rwproxy/config"
	"github.com/rwproxy/rwproxy/internal/testkit"
	"github.com/rwproxy/rwproxy/monitor"
	"github.com/rwproxy/rwproxy/topology"
)

// interval is the integration monitor's check interval.
const interval = 200 * time.Millisecond

// grace absorbs scheduling and query time on a loaded 2-core machine
// running the race detector, on top of the interval-based bounds.
const grace = 400 * time.Millisecond

// TestIntegrationMariaDB runs the monitor against the real MariaDB sandbox
// (primary node 1, replicas nodes 2 and 3): lag shunning on a stopped SQL
// thread, a killed replica, and a promotion. Under CI=true a missing
// sandbox fails the test.
func TestIntegrationMariaDB(t *testing.T) {
	t.Cleanup(func() { goleak.VerifyNone(t) })
	testkit.RequireTools(t, "mariadbd", "mariadb", "mariadb-install-db", "mariadb-admin")
	base, err := testkit.BasePort("RWPROXY_MONITOR_BASE_PORT", 23700, 3)
	require.NoError(t, err)
	sb, err := testkit.StartSandbox(base)
	require.NoError(t, err, "sandbox did not start")
	t.Cleanup(func() { require.NoError(t, sb.Stop()) })

	c := config.Defaults()
	c.Users = []config.User{{Username: "app", Password: "app", DefaultHostgroup: 10}}
	for i := range 3 {
		// max_replication_lag applies only while a server is a reader: the
		// primary's item carries one for after its demotion.
		s := config.Server{Hostgroup: 20, Host: "127.0.0.1", Port: sb.Ports[i], MaxReplicationLag: 10}
		if i == 0 {
			s.Hostgroup = 10
		}
		c.Servers = append(c.Servers, s)
	}
	c.ReplicationHostgroups = []config.ReplicationHostgroup{{WriterHostgroup: 10, ReaderHostgroup: 20}}
	c.Monitor.Interval = interval
	c.FillDefaults()
	require.NoError(t, c.Validate())

	m := monitor.New(c, zaptest.NewLogger(t))
	m.Start()
	t.Cleanup(func() { require.NoError(t, m.Close()) })
	node := sb.Addr

	// Steady state: primary writes, both replicas read with a measured lag.
	require.Eventually(t, func() bool {
		s := m.Snapshot()
		b2, ok2 := find(s, 20, node(2))
		b3, ok3 := find(s, 20, node(3))
		b1, ok1 := find(s, 10, node(1))
		return ok1 && ok2 && ok3 && b1.State == topology.StateOnline && !b1.ReadOnly && b1.LagSeconds == -1 &&
			b2.State == topology.StateOnline && b2.LagSeconds >= 0 && b2.ReadOnly &&
			b3.State == topology.StateOnline && b3.LagSeconds >= 0
	}, 30*time.Second, 20*time.Millisecond, "steady state: %v", m.Snapshot().Hostgroups)

	t.Run("stopped SQL thread", func(t *testing.T) {
		_, err := sb.Run("lag", "2", "stop-sql")
		require.NoError(t, err)
		waitState(t, m, 20, node(2), topology.StateShunnedLag, 3*interval+grace)
		b, _ := find(m.Snapshot(), 20, node(2))
		require.Equal(t, -1.0, b.LagSeconds, "NULL Seconds_Behind_Master is unknown lag, never 0")
		sh := server(m, node(2))
		require.Contains(t, sh.LagError, "SQL thread not running")

		_, err = sb.Run("lag", "2", "clear")
		require.NoError(t, err)
		waitState(t, m, 20, node(2), topology.StateOnline, 30*time.Second)
	})

	t.Run("killed replica", func(t *testing.T) {
		_, err := sb.Run("kill", "3")
		require.NoError(t, err)
		waitState(t, m, 20, node(3), topology.StateShunned, 4*interval+grace)
		require.Positive(t, server(m, node(3)).ConsecutiveFailures)
		require.Equal(t, topology.StateOnline, state(m, 20, node(2)), "the other replica is unaffected")

		_, err = sb.Run("start", "3")
		require.NoError(t, err)
		// A shunned server is retried with backoff, at most 10 intervals apart.
		waitState(t, m, 20, node(3), topology.StateOnline, 10*interval+10*time.Second)
	})

	t.Run("promotion", func(t *testing.T) {
		_, err := sb.Run("promote", "2")
		require.NoError(t, err)
		deadline := 2*interval + grace
		waitState(t, m, 10, node(2), topology.StateOnline, deadline)
		waitState(t, m, 20, node(1), topology.StateOnline, deadline)
		s := m.Snapshot()
		require.Len(t, s.Hostgroups[10], 1, "exactly one writer: %v", s.Hostgroups)
		_, inReaders := find(s, 20, node(2))
		require.False(t, inReaders, "the new writer serves no reads")
		require.Eventually(t, func() bool {
			b, _ := find(m.Snapshot(), 10, node(2))
			return b.LagSeconds == -1 && !b.ReadOnly
		}, 30*time.Second, 20*time.Millisecond, "a writer is not lag-checked")
		// The demoted primary now replicates and is measured.
		require.Eventually(t, func() bool {
			b, ok := find(m.Snapshot(), 20, node(1))
			return ok && b.LagSeconds >= 0 && b.ReadOnly
		}, 30*time.Second, 20*time.Millisecond)
		waitState(t, m, 20, node(3), topology.StateOnline, 30*time.Second)
	})

	for _, kind := range []string{monitor.KindPing, monitor.KindReadOnly, monitor.KindReplicationLag} {
		require.NotEmpty(t, m.Log(kind, 5), kind)
	}
	require.Empty(t, m.Log(monitor.KindGroupReplication, 5))
}

func find(s *topology.Snapshot, hg int, addr string) (topology.Backend, bool) {
	for _, b := range s.Hostgroups[hg] {
		if b.Addr == addr {
			return b, true
		}
	}
	return topology.Backend{}, false
}

func state(m *monitor.Monitor, hg int, addr string) topology.State {
	b, _ := find(m.Snapshot(), hg, addr)
	return b.State
}

func waitState(t *testing.T, m *monitor.Monitor, hg int, addr string, want topology.State, within time.Duration) {
	t.Helper()
	t0 := time.Now()
	require.Eventually(t, func() bool { return state(m, hg, addr) == want }, within, 10*time.Millisecond,
		"%s in hostgroup %d: want %s within %s; snapshot %v", addr, hg, want, within, m.Snapshot().Hostgroups)
	t.Logf("%s in hostgroup %d became %s after %s", addr, hg, want, time.Since(t0).Round(time.Millisecond))
}

func server(m *monitor.Monitor, addr string) monitor.ServerHealth {
	for _, s := range m.Servers() {
		if s.Addr == addr {
			return s
		}
	}
	return monitor.ServerHealth{}
}
