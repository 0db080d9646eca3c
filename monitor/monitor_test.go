package monitor

import (
	"fmt"
	"net"
	"strings"
	"testing"
	"time"

	"github.com/stretchr/testify/require"
	"go.uber.org/goleak"
	"go.uber.org/zap"
	"go.uber.org/zap/zapcore"
	"go.uber.org/zap/zaptest/observer"

	"github.com/rwproxy/rwproxy/config"
	"github.com/rwproxy/rwproxy/topology"
)

// The monitor tests against fake members check every 20ms.
const (
	tick    = 20 * time.Millisecond
	waitFor = 5 * time.Second
)

// leakCheck registers goleak first, so that it runs after every other
// cleanup (fake members, monitors).
func leakCheck(t *testing.T) {
	t.Cleanup(func() { goleak.VerifyNone(t) })
}

func fastMonitorCfg(c *config.Config) {
	c.Monitor.Interval = tick
	c.Monitor.Timeout = 300 * time.Millisecond
}

// pairCfg pairs writer hostgroup 10 (the first member) with reader
// hostgroup 20 (the others, max_replication_lag 10).
func pairCfg(fs ...*fakeMember) *config.Config {
	c := config.Defaults()
	c.Users = []config.User{{Username: "app", Password: "app", DefaultHostgroup: 10}}
	for i, f := range fs {
		s := config.Server{Hostgroup: 20, Host: "127.0.0.1", Port: f.port(), MaxReplicationLag: 10}
		if i == 0 {
			s.Hostgroup, s.MaxReplicationLag = 10, 0
		}
		c.Servers = append(c.Servers, s)
	}
	c.ReplicationHostgroups = []config.ReplicationHostgroup{{WriterHostgroup: 10, ReaderHostgroup: 20}}
	fastMonitorCfg(c)
	c.FillDefaults()
	return c
}

// start builds and starts a monitor whose log lines are observed.
func start(t *testing.T, c *config.Config) (*Monitor, *observer.ObservedLogs) {
	t.Helper()
	require.NoError(t, c.Validate())
	core, logs := observer.New(zapcore.InfoLevel)
	m := New(c, zap.New(core))
	m.Start()
	t.Cleanup(func() { require.NoError(t, m.Close()) })
	return m, logs
}

// stateIn returns addr's state in hostgroup hg ("" when absent).
func stateIn(m *Monitor, hg int, addr string) topology.State {
	for _, b := range m.Snapshot().Hostgroups[hg] {
		if b.Addr == addr {
			return b.State
		}
	}
	return ""
}

func eventuallyState(t *testing.T, m *Monitor, hg int, addr string, want topology.State) {
	t.Helper()
	require.Eventually(t, func() bool { return stateIn(m, hg, addr) == want }, waitFor, 5*time.Millisecond,
		"%s in hostgroup %d: want %s, snapshot %v", addr, hg, want, m.Snapshot().Hostgroups)
}

func replicating(lag float64) []replicaRow {
	return []replicaRow{{io: "Yes", sql: "Yes", sbm: lag}}
}

func TestMonitorAsyncWithFakes(t *testing.T) {
	leakCheck(t)
	f1 := newFakeMember(t, memberState{})
	f2 := newFakeMember(t, memberState{readOnly: true, replicas: replicating(0)})
	f3 := newFakeMember(t, memberState{readOnly: true, replicas: replicating(2)})
	m, logs := start(t, pairCfg(f1, f2, f3))

	require.Eventually(t, func() bool {
		b, ok := backendOf(m.Snapshot(), 20, f3.addr)
		return ok && b.LagSeconds == 2 && b.ReadOnly
	}, waitFor, 5*time.Millisecond)
	eventuallyState(t, m, 10, f1.addr, topology.StateOnline)

	t.Run("stopped SQL thread shuns, clear brings back", func(t *testing.T) {
		f2.set(func(s *memberState) { s.replicas = []replicaRow{{io: "Yes", sql: "No", sbm: -1}} })
		eventuallyState(t, m, 20, f2.addr, topology.StateShunnedLag)
		b, _ := backendOf(m.Snapshot(), 20, f2.addr)
		require.Equal(t, -1.0, b.LagSeconds, "NULL lag is unknown, not 0")
		f2.set(func(s *memberState) { s.replicas = replicating(0) })
		eventuallyState(t, m, 20, f2.addr, topology.StateOnline)
	})
	t.Run("dead server is shunned, back after restart", func(t *testing.T) {
		f3.set(func(s *memberState) { s.down = true })
		eventuallyState(t, m, 20, f3.addr, topology.StateShunned)
		f3.set(func(s *memberState) { s.down = false })
		eventuallyState(t, m, 20, f3.addr, topology.StateOnline)
	})
	t.Run("promotion moves writer and reader", func(t *testing.T) {
		f1.set(func(s *memberState) { s.readOnly, s.replicas = true, replicating(0) })
		f2.set(func(s *memberState) { s.readOnly, s.replicas = false, nil })
		eventuallyState(t, m, 10, f2.addr, topology.StateOnline)
		eventuallyState(t, m, 20, f1.addr, topology.StateOnline)
		require.Empty(t, stateIn(m, 20, f2.addr), "the new writer serves no reads")
		require.Empty(t, stateIn(m, 10, f1.addr))
	})
	t.Run("a second writable server is shunned, never a second writer", func(t *testing.T) {
		f3.set(func(s *memberState) { s.readOnly = false })
		eventuallyState(t, m, 10, f3.addr, topology.StateShunned)
		require.Equal(t, topology.StateOnline, stateIn(m, 10, f2.addr))
		multi := func() *observer.ObservedLogs {
			return logs.FilterMessage("backend state changed").FilterField(zap.String("backend_addr", f3.addr)).
				FilterField(zap.Int("hostgroup", 10)).FilterField(zap.String("new_state", "SHUNNED"))
		}
		require.Eventually(t, func() bool { return multi().Len() > 0 }, waitFor, 5*time.Millisecond)
		e := multi().All()[0]
		require.Equal(t, zapcore.WarnLevel, e.Level)
		require.Equal(t, "multiple writable servers in hostgroup 10: keeping "+f2.addr, e.ContextMap()["reason"])
		f3.set(func(s *memberState) { s.readOnly = true })
		eventuallyState(t, m, 20, f3.addr, topology.StateOnline)
	})

	// One line per transition, not per check.
	moves := logs.FilterMessage("backend moved").FilterField(zap.String("backend_addr", f2.addr)).Len()
	require.Equal(t, 1, moves, "f2 moved once (20 → 10)")
	for _, e := range logs.FilterMessage("backend state changed").All() {
		require.NotEmpty(t, e.ContextMap()["reason"])
		require.NotEqual(t, e.ContextMap()["old_state"], e.ContextMap()["new_state"])
	}
}

// TestMonitorMariaDBFallbacks: super_read_only unknown (MariaDB) falls back
// to read_only without marking the server down and is logged once; SHOW
// REPLICA STATUS as a syntax error falls back to SHOW SLAVE STATUS.
func TestMonitorMariaDBFallbacks(t *testing.T) {
	leakCheck(t)
	f1 := newFakeMember(t, memberState{mariaDB: true, oldSyntax: true})
	f2 := newFakeMember(t, memberState{mariaDB: true, oldSyntax: true, readOnly: true, replicas: replicating(3)})
	c := pairCfg(f1, f2)
	c.ReplicationHostgroups[0].CheckType = config.CheckSuperReadOnly
	m, logs := start(t, c)
	require.Eventually(t, func() bool {
		b, ok := backendOf(m.Snapshot(), 20, f2.addr)
		return ok && b.LagSeconds == 3 && b.State == topology.StateOnline
	}, waitFor, 5*time.Millisecond)
	// Let several rounds run, then check the one-time notes.
	require.Eventually(t, func() bool { return len(m.Log(KindReadOnly, 0)) > 10 }, waitFor, 5*time.Millisecond)
	require.Equal(t, 1, logs.FilterMessageSnippet("super_read_only is unknown").
		FilterField(zap.String("backend_addr", f2.addr)).Len())
	require.Equal(t, 1, logs.FilterMessageSnippet("using SHOW SLAVE STATUS").Len())
	for _, s := range m.Servers() {
		require.True(t, s.ReadOnlyKnown, s.Addr)
		require.Empty(t, s.ReadOnlyError)
		require.Zero(t, s.ConsecutiveFailures)
	}
	require.Equal(t, topology.StateOnline, stateIn(m, 10, f1.addr))
	slaves := 0
	for _, q := range f2.seen() {
		if q == showSlaveStatus {
			slaves++
		}
	}
	require.Positive(t, slaves)
}

func TestMonitorLagEdgeCases(t *testing.T) {
	leakCheck(t)
	empty := newFakeMember(t, memberState{readOnly: true})
	denied := newFakeMember(t, memberState{readOnly: true, statusDenied: true})
	hb := newFakeMember(t, memberState{readOnly: true, replicas: replicating(0), heartbeat: 0.25})
	w := newFakeMember(t, memberState{})
	c := pairCfg(w, empty, denied)
	m, logs := start(t, c)

	eventuallyState(t, m, 20, empty.addr, topology.StateShunnedLag)
	eventuallyState(t, m, 20, denied.addr, topology.StateShunnedLag)
	byAddr := map[string]ServerHealth{}
	for _, s := range m.Servers() {
		byAddr[s.Addr] = s
	}
	require.Contains(t, byAddr[empty.addr].LagError, "SHOW REPLICA STATUS is empty")
	require.Contains(t, byAddr[denied.addr].LagError, "1227")
	require.Equal(t, -1.0, byAddr[empty.addr].LagSeconds)
	require.Equal(t, 1, logs.FilterMessageSnippet("does not replicate").Len(), "logged once")

	// Heartbeat table: sub-second lag, and it replaces Seconds_Behind_Master.
	c = pairCfg(w, hb, denied)
	c.Monitor.HeartbeatTable = "heartbeat.heartbeat"
	m.Update(c)
	require.Eventually(t, func() bool {
		b, ok := backendOf(m.Snapshot(), 20, hb.addr)
		return ok && b.LagSeconds == 0.25
	}, waitFor, 5*time.Millisecond)
	hb.set(func(s *memberState) { s.heartbeat = 42 })
	eventuallyState(t, m, 20, hb.addr, topology.StateShunnedLag)
	hb.set(func(s *memberState) { s.heartbeat = 0.5 })
	eventuallyState(t, m, 20, hb.addr, topology.StateOnline)
	hb.set(func(s *memberState) { s.replicas = []replicaRow{{io: "Yes", sql: "No", sbm: -1}} })
	eventuallyState(t, m, 20, hb.addr, topology.StateShunnedLag)
	// A status the monitor may not read is tolerated with a heartbeat.
	denied.set(func(s *memberState) { s.heartbeat = 0.1 })
	eventuallyState(t, m, 20, denied.addr, topology.StateOnline)
}

func TestMonitorTimeout(t *testing.T) {
	leakCheck(t)
	// A server that accepts and never answers: the handshake times out.
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	require.NoError(t, err)
	held := make(chan net.Conn, 16)
	done := make(chan struct{})
	go func() {
		defer close(done)
		for {
			c, err := ln.Accept()
			if err != nil {
				return
			}
			held <- c
		}
	}()
	t.Cleanup(func() {
		_ = ln.Close()
		<-done
		close(held)
		for c := range held {
			_ = c.Close()
		}
	})
	w := newFakeMember(t, memberState{})
	c := pairCfg(w)
	c.Servers = append(c.Servers, config.Server{Hostgroup: 20, Host: "127.0.0.1",
		Port: ln.Addr().(*net.TCPAddr).Port, Weight: 1, Status: config.StatusOnline, MaxConnections: 10})
	c.Monitor.Timeout = 50 * time.Millisecond
	m, _ := start(t, c)
	hung := ln.Addr().String()
	eventuallyState(t, m, 20, hung, topology.StateShunned)
	var pings []LogEntry
	for _, e := range m.Log(KindPing, 0) {
		if e.Addr == hung {
			pings = append(pings, e)
		}
	}
	require.NotEmpty(t, pings)
	require.NotEmpty(t, pings[0].Error)
	require.Less(t, pings[0].Duration, time.Second, "bounded by monitor.timeout")
	// Close does not wait for a hung check.
	t0 := time.Now()
	require.NoError(t, m.Close())
	require.Less(t, time.Since(t0), 500*time.Millisecond)
}

func TestMonitorUpdate(t *testing.T) {
	leakCheck(t)
	f1 := newFakeMember(t, memberState{})
	f2 := newFakeMember(t, memberState{readOnly: true, replicas: replicating(0)})
	f3 := newFakeMember(t, memberState{readOnly: true, replicas: replicating(0)})
	m, _ := start(t, pairCfg(f1, f2))
	eventuallyState(t, m, 20, f2.addr, topology.StateOnline)

	// Adding a server shows it at once, as configured; removing one drops it.
	c := pairCfg(f1, f3)
	c.Servers[1].Status = config.StatusOfflineSoft
	m.Update(c)
	require.Equal(t, topology.StateOfflineSoft, stateIn(m, 20, f3.addr), "rebuilt at once")
	require.Empty(t, stateIn(m, 20, f2.addr))
	require.Len(t, m.Servers(), 2)
	// Lag of the new server gets measured by its new checker.
	require.Eventually(t, func() bool {
		b, ok := backendOf(m.Snapshot(), 20, f3.addr)
		return ok && b.LagSeconds == 0
	}, waitFor, 5*time.Millisecond)

	// A changed check spec restarts the checker; health is kept.
	m.mu.Lock()
	old := m.mu.checkers[f1.addr]
	m.mu.Unlock()
	c = pairCfg(f1, f3)
	c.Monitor.Timeout = 250 * time.Millisecond
	m.Update(c)
	m.mu.Lock()
	require.NotSame(t, old, m.mu.checkers[f1.addr])
	m.mu.Unlock()
	eventuallyState(t, m, 20, f3.addr, topology.StateOnline)
	require.Equal(t, topology.StateOnline, stateIn(m, 10, f1.addr))
}

func TestMonitorGroupReplicationWithFakes(t *testing.T) {
	leakCheck(t)
	gr := func(role string) memberState {
		return memberState{grState: grOnline, grRole: role, viable: 3, total: 3, readOnly: role == grSecondary}
	}
	f1 := newFakeMember(t, gr(grPrimary))
	f2 := newFakeMember(t, gr(grSecondary))
	f3 := newFakeMember(t, gr(grSecondary))
	f3.set(func(s *memberState) { s.applyLag = -1 }) // an older server: no apply timestamps
	c := config.Defaults()
	c.Users = []config.User{{Username: "app", Password: "app", DefaultHostgroup: 30}}
	for _, f := range []*fakeMember{f1, f2, f3} {
		c.Servers = append(c.Servers, config.Server{Hostgroup: 30, Host: "127.0.0.1", Port: f.port(), MaxReplicationLag: 5})
	}
	c.GroupReplicationHostgroups = []config.GroupReplicationHostgroup{{WriterHostgroup: 30,
		BackupWriterHostgroup: 31, ReaderHostgroup: 32, OfflineHostgroup: 33, MaxTransactionsBehind: 50}}
	fastMonitorCfg(c)
	c.FillDefaults()
	m, logs := start(t, c)

	eventuallyState(t, m, 32, f2.addr, topology.StateOnline)
	eventuallyState(t, m, 32, f3.addr, topology.StateOnline)
	require.Equal(t, topology.StateOnline, stateIn(m, 30, f1.addr))
	require.Equal(t, 1, logs.FilterMessageSnippet("group replication lag in transactions only").Len())

	t.Run("role flip", func(t *testing.T) {
		f1.set(func(s *memberState) { s.grRole = grSecondary })
		f2.set(func(s *memberState) { s.grRole = grPrimary })
		eventuallyState(t, m, 30, f2.addr, topology.StateOnline)
		eventuallyState(t, m, 32, f1.addr, topology.StateOnline)
		require.Empty(t, stateIn(m, 30, f1.addr))
	})
	t.Run("recovering member goes offline", func(t *testing.T) {
		f3.set(func(s *memberState) { s.grState = "RECOVERING" })
		eventuallyState(t, m, 33, f3.addr, topology.StateOnline)
		f3.set(func(s *memberState) { s.grState = grOnline })
		eventuallyState(t, m, 32, f3.addr, topology.StateOnline)
	})
	t.Run("transactions behind shun a secondary", func(t *testing.T) {
		f3.set(func(s *memberState) { s.txBehind = 51 })
		eventuallyState(t, m, 32, f3.addr, topology.StateShunned)
		f3.set(func(s *memberState) { s.txBehind = 0 })
		eventuallyState(t, m, 32, f3.addr, topology.StateOnline)
	})
	t.Run("apply lag in seconds", func(t *testing.T) {
		f1.set(func(s *memberState) { s.applyLag = 6 })
		eventuallyState(t, m, 32, f1.addr, topology.StateShunnedLag)
		f1.set(func(s *memberState) { s.applyLag = 0 })
		eventuallyState(t, m, 32, f1.addr, topology.StateOnline)
	})
	t.Run("quorum loss: the primary's partition goes offline", func(t *testing.T) {
		f2.set(func(s *memberState) { s.viable = 1 })
		eventuallyState(t, m, 33, f2.addr, topology.StateOnline)
		require.Empty(t, m.Snapshot().Hostgroups[30], "no writer without quorum")
		var sh ServerHealth
		for _, s := range m.Servers() {
			if s.Addr == f2.addr {
				sh = s
			}
		}
		require.NotNil(t, sh.GroupReplication)
		require.False(t, sh.GroupReplication.Quorum)
		require.Equal(t, "PRIMARY", sh.GroupReplication.Role)
		f1.set(func(s *memberState) { s.grRole, s.viable = grPrimary, 2 })
		f3.set(func(s *memberState) { s.viable = 2 })
		eventuallyState(t, m, 30, f1.addr, topology.StateOnline)
	})
	t.Run("unreachable member goes offline", func(t *testing.T) {
		f3.set(func(s *memberState) { s.down = true })
		eventuallyState(t, m, 33, f3.addr, topology.StateShunned)
	})
}

func TestSubscribe(t *testing.T) {
	leakCheck(t)
	c := asyncCfg()
	m := New(c, zap.NewNop())
	ch, unsub := m.Subscribe()
	first := <-ch
	require.Same(t, m.Snapshot(), first, "starts with the current snapshot")

	// Latest wins: two updates without reading leave only the newest.
	c2 := asyncCfg()
	c2.Servers[1].Status = config.StatusOfflineSoft
	m.Update(c2)
	c3 := asyncCfg()
	c3.Servers[1].Status = config.StatusOfflineHard
	m.Update(c3)
	got := <-ch
	require.Same(t, m.Snapshot(), got)
	b, _ := backendOf(got, 20, n2)
	require.Equal(t, topology.StateOfflineHard, b.State)
	select {
	case s := <-ch:
		t.Fatalf("unexpected second snapshot %v", s)
	default:
	}
	// An identical configuration publishes nothing.
	m.Update(c3)
	select {
	case s := <-ch:
		t.Fatalf("unchanged topology was published: %v", s)
	default:
	}

	ch2, unsub2 := m.Subscribe()
	<-ch2
	unsub()
	unsub()
	_, open := <-ch
	require.False(t, open)
	require.NoError(t, m.Close())
	_, open = <-ch2
	require.False(t, open, "Close closes subscribed channels")
	unsub2()
	ch3, unsub3 := m.Subscribe()
	require.NotNil(t, <-ch3, "a subscription after Close gets the last snapshot")
	_, open = <-ch3
	require.False(t, open)
	unsub3()
	require.NotNil(t, m.Snapshot(), "the last snapshot stays readable")
}

func TestNewWithoutStart(t *testing.T) {
	leakCheck(t)
	m := New(asyncCfg(), nil)
	require.Equal(t, map[int][]string{10: {"n1 ONLINE"}, 20: {"n2 ONLINE", "n3 ONLINE"}}, layout(m.Snapshot()))
	for _, s := range m.Servers() {
		require.Equal(t, topology.StateOnline, s.State)
		require.False(t, s.ReadOnlyKnown)
		require.Equal(t, -1.0, s.LagSeconds)
	}
	require.Empty(t, m.Log(KindPing, 10))
	require.Nil(t, m.Log("nope", 10))
	require.NoError(t, m.Close())
	require.NoError(t, m.Close(), "Close twice")
	m.Start() // after Close: nothing starts
	m.Update(asyncCfg())
}

func TestLogRing(t *testing.T) {
	var r ring
	for i := range LogCapacity + 5 {
		r.add(LogEntry{Addr: fmt.Sprint(i)})
	}
	got := r.newest(3)
	require.Equal(t, []string{fmt.Sprint(LogCapacity + 4), fmt.Sprint(LogCapacity + 3), fmt.Sprint(LogCapacity + 2)},
		[]string{got[0].Addr, got[1].Addr, got[2].Addr})
	all := r.newest(0)
	require.Len(t, all, LogCapacity)
	require.Equal(t, "5", all[len(all)-1].Addr, "the oldest kept")
	var small ring
	small.add(LogEntry{Addr: "a"})
	require.Len(t, small.newest(10), 1)
	require.True(t, strings.HasPrefix(small.newest(1)[0].Addr, "a"))
}

// TestMonitorSurvivesClientPanic: a server that makes go-mysql's client
// panic during authentication is a failed ping, not a crashed proxy.
func TestMonitorSurvivesClientPanic(t *testing.T) {
	leakCheck(t)
	w := newFakeMember(t, memberState{})
	bad := newFakeMember(t, memberState{readOnly: true, sha2NoKey: true})
	m, _ := start(t, pairCfg(w, bad))
	eventuallyState(t, m, 20, bad.addr, topology.StateShunned)
	var sh ServerHealth
	for _, s := range m.Servers() {
		if s.Addr == bad.addr {
			sh = s
		}
	}
	require.Contains(t, sh.PingError, "client library panic")
	require.Equal(t, topology.StateOnline, stateIn(m, 10, w.addr))
}
