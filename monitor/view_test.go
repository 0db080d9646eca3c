package monitor

import (
	"errors"
	"os"
	"testing"

	"github.com/stretchr/testify/require"
)

// observedMonitor is a monitor of asyncCfg (not started) that has seen:
// n1 writable, n2 lagging past its limit long enough to be shunned, n3
// failing pings one short of being shunned, and a ping logged.
func observedMonitor(t *testing.T) *Monitor {
	t.Helper()
	m := New(asyncCfg(), nil)
	t.Cleanup(func() { _ = m.Close() })
	m.mu.Lock()
	shunAfter := m.mu.plan.set.shunAfter
	require.Greater(t, shunAfter, 1)
	m.mu.health[n1] = healthWith(readOnly(false))
	m.mu.health[n2] = healthWith(readOnly(true), lagShunned(20, 42))
	h3 := healthWith(readOnly(true))
	for range shunAfter - 1 {
		h3.observePing(errors.New("connect: refused"), 0, testTime, shunAfter)
	}
	m.mu.health[n3] = h3
	m.republish()
	m.mu.Unlock()
	m.record(KindPing, LogEntry{Time: testTime, Addr: n3, Error: "connect: refused"})
	m.record(KindPing, LogEntry{Time: testTime.Add(1), Addr: n1, Result: "ok"})
	return m
}

// TestViewCarriesMonitorState: a new monitor restored from the old one's
// view publishes the same topology before any check of its own (n2 stays
// shunned for lag), has the same health and check log, and goes on from
// the counters: one more failed ping shuns n3, where a fresh monitor
// would need shun_after of them.
func TestViewCarriesMonitorState(t *testing.T) {
	old := observedMonitor(t)
	require.Equal(t, map[int][]string{10: {"n1 ONLINE"}, 20: {"n2 SHUNNED_REPLICATION_LAG", "n3 ONLINE"}},
		layout(old.Snapshot()))
	b, err := old.ExportView()
	require.NoError(t, err)

	fresh := New(asyncCfg(), nil)
	t.Cleanup(func() { _ = fresh.Close() })
	require.Equal(t, map[int][]string{10: {"n1 ONLINE"}, 20: {"n2 ONLINE", "n3 ONLINE"}}, layout(fresh.Snapshot()),
		"without the view the lagging replica would serve reads again")

	m := New(asyncCfg(), nil)
	t.Cleanup(func() { _ = m.Close() })
	require.NoError(t, m.RestoreView(b))
	require.Equal(t, layout(old.Snapshot()), layout(m.Snapshot()))
	bl, ok := backendOf(m.Snapshot(), 20, n2)
	require.True(t, ok)
	require.Equal(t, 42.0, bl.LagSeconds)
	require.Equal(t, old.Log(KindPing, 0), m.Log(KindPing, 0))
	m.mu.Lock()
	for _, addr := range []string{n1, n2, n3} {
		require.Equal(t, old.mu.health[addr].view(), m.mu.health[addr].view(), addr)
	}
	shunAfter := m.mu.plan.set.shunAfter
	m.mu.health[n3].observePing(errors.New("connect: refused"), 0, testTime, shunAfter)
	m.republish()
	m.mu.Unlock()
	require.Equal(t, map[int][]string{10: {"n1 ONLINE"}, 20: {"n2 SHUNNED_REPLICATION_LAG", "n3 SHUNNED"}},
		layout(m.Snapshot()))
}

// TestViewDropsRemovedServers: a server the new configuration no longer
// has is not restored.
func TestViewDropsRemovedServers(t *testing.T) {
	b, err := observedMonitor(t).ExportView()
	require.NoError(t, err)
	c := asyncCfg()
	c.Servers = c.Servers[:2] // n3 removed
	m := New(c, nil)
	t.Cleanup(func() { _ = m.Close() })
	require.NoError(t, m.RestoreView(b))
	m.mu.Lock()
	defer m.mu.Unlock()
	require.Len(t, m.mu.health, 2)
	require.Nil(t, m.mu.health[n3])
}

// TestViewFrozenV1: the version-1 view (testdata/view_v1.json, written by
// the first binary that handed its monitor over) stays readable by every
// later binary, with the same meaning.
func TestViewFrozenV1(t *testing.T) {
	b, err := os.ReadFile("testdata/view_v1.json")
	require.NoError(t, err)
	v, err := UnmarshalView(b)
	require.NoError(t, err)
	require.Equal(t, 1, v.Version)
	require.Equal(t, 3, v.Servers[n2].LagHyst[20].Bad)
	require.True(t, v.Servers[n2].LagHyst[20].Shunned)
	m := New(asyncCfg(), nil)
	t.Cleanup(func() { _ = m.Close() })
	require.NoError(t, m.RestoreView(b))
	require.Equal(t, map[int][]string{10: {"n1 ONLINE"}, 20: {"n2 SHUNNED_REPLICATION_LAG", "n3 ONLINE"}},
		layout(m.Snapshot()))
	m.mu.Lock()
	defer m.mu.Unlock()
	require.Equal(t, 1, m.mu.health[n3].pingFails)
	require.Equal(t, "connect: refused", m.mu.health[n3].pingErr)
	ro, ok := m.mu.health[n1].readOnly("read_only")
	require.True(t, ok)
	require.False(t, ro)
}

// TestViewTooNew: a view a newer binary marked unreadable for this one is
// refused and the monitor keeps its own (fresh) state.
func TestViewTooNew(t *testing.T) {
	m := New(asyncCfg(), nil)
	t.Cleanup(func() { _ = m.Close() })
	err := m.RestoreView([]byte(`{"v":9,"min_reader":9,"servers":{"10.0.0.2:3306":{"ping_fails":7,"ping_shunned":true}}}`))
	require.ErrorIs(t, err, ErrViewVersion)
	require.Equal(t, map[int][]string{10: {"n1 ONLINE"}, 20: {"n2 ONLINE", "n3 ONLINE"}}, layout(m.Snapshot()))
	_, err = UnmarshalView([]byte(`{`))
	require.Error(t, err)
}

// TestWriteViewFixture regenerates nothing unless asked: it documents how
// testdata/view_v1.json was made (RWPROXY_WRITE_VIEW_FIXTURE=1, once, by
// the version-1 binary).
func TestWriteViewFixture(t *testing.T) {
	if os.Getenv("RWPROXY_WRITE_VIEW_FIXTURE") == "" {
		return
	}
	b, err := observedMonitor(t).ExportView()
	require.NoError(t, err)
	require.NoError(t, os.WriteFile("testdata/view_v1.json", b, 0o644))
}
