package monitor

import (
	"testing"
	"time"

	"github.com/stretchr/testify/require"

	"github.com/rwproxy/rwproxy/config"
	"github.com/rwproxy/rwproxy/topology"
)

// grFakes starts three fake group members (the first PRIMARY) on
// hostgroups 30-33, checked every interval.
func grFakes(t *testing.T, interval time.Duration) (*Monitor, []*fakeMember) {
	t.Helper()
	gr := func(role string) memberState {
		return memberState{grState: grOnline, grRole: role, viable: 3, total: 3, readOnly: role == grSecondary}
	}
	fs := []*fakeMember{newFakeMember(t, gr(grPrimary)), newFakeMember(t, gr(grSecondary)), newFakeMember(t, gr(grSecondary))}
	c := config.Defaults()
	c.Users = []config.User{{Username: "app", Password: "app", DefaultHostgroup: 30}}
	for _, f := range fs {
		c.Servers = append(c.Servers, config.Server{Hostgroup: 30, Host: "127.0.0.1", Port: f.port()})
	}
	c.GroupReplicationHostgroups = []config.GroupReplicationHostgroup{{WriterHostgroup: 30,
		BackupWriterHostgroup: 31, ReaderHostgroup: 32, OfflineHostgroup: 33}}
	c.Monitor.Interval = interval
	c.Monitor.Timeout = 300 * time.Millisecond
	c.FillDefaults()
	m, _ := start(t, c)
	return m, fs
}

// The checks run once an hour here: only CheckNow can make the monitor
// notice, within the test's wait, that the primary died and another
// member was elected.
func TestCheckNowFindsTheNewPrimary(t *testing.T) {
	leakCheck(t)
	m, fs := grFakes(t, time.Hour)
	eventuallyState(t, m, 30, fs[0].addr, topology.StateOnline)
	eventuallyState(t, m, 32, fs[1].addr, topology.StateOnline)
	eventuallyState(t, m, 32, fs[2].addr, topology.StateOnline)
	pings := len(fs[1].seen())

	fs[0].set(func(s *memberState) { s.down = true })
	for _, f := range fs[1:] {
		f.set(func(s *memberState) { s.viable, s.total = 2, 2 })
	}
	fs[1].set(func(s *memberState) { s.grRole, s.readOnly = grPrimary, false })
	require.Equal(t, topology.StateOnline, stateIn(m, 30, fs[0].addr), "nothing checked before CheckNow")

	m.CheckNow()
	eventuallyState(t, m, 30, fs[1].addr, topology.StateOnline)
	eventuallyState(t, m, 33, fs[0].addr, topology.StateShunned)
	require.Equal(t, []string{"n" + fs[1].addr + " ONLINE"}, layout(m.Snapshot())[30], "the new primary is the only writer")
	require.Greater(t, len(fs[1].seen()), pings, "the survivors were checked again")
	require.GreaterOrEqual(t, m.Wakeups(), uint64(1))
}

// Many sessions calling CheckNow at once wake the checkers once per
// urgentEvery at most.
func TestCheckNowCoalesces(t *testing.T) {
	leakCheck(t)
	m, fs := grFakes(t, time.Hour)
	eventuallyState(t, m, 32, fs[2].addr, topology.StateOnline)
	before := m.Wakeups()
	start := time.Now()
	for range 1000 {
		m.CheckNow()
	}
	// Each woken round spaces the next by urgentEvery: at most one per
	// urgentEvery elapsed, plus the first.
	max := uint64(time.Since(start)/urgentEvery) + 1
	got := m.Wakeups() - before
	require.GreaterOrEqual(t, got, uint64(1))
	require.LessOrEqual(t, got, max)
	require.True(t, m.urgent())
}

// After Close, CheckNow does nothing (and does not block).
func TestCheckNowAfterClose(t *testing.T) {
	leakCheck(t)
	m, _ := grFakes(t, time.Hour)
	require.NoError(t, m.Close())
	m.CheckNow()
	require.Zero(t, m.Wakeups())
}
