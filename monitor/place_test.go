package monitor

import (
	"testing"

	"github.com/stretchr/testify/require"

	"github.com/rwproxy/rwproxy/config"
	"github.com/rwproxy/rwproxy/topology"
)

const (
	on   = "ONLINE"
	shun = "SHUNNED"
	lagS = "SHUNNED_REPLICATION_LAG"
	offS = "OFFLINE_SOFT"
	offH = "OFFLINE_HARD"
)

func TestPlaceAsync(t *testing.T) {
	// prevWriter builds a previous snapshot in which addr was the ONLINE
	// writer of hostgroup 10.
	prevWriter := func(addr string) *topology.Snapshot {
		return &topology.Snapshot{Hostgroups: map[int][]topology.Backend{
			10: {{Hostgroup: 10, Addr: addr, Weight: 1, State: topology.StateOnline}}}}
	}
	tests := []struct {
		name string
		cfg  func(c *config.Config)
		hs   hs
		prev *topology.Snapshot
		want map[int][]string
	}{
		{name: "nothing checked yet: configured hostgroups",
			want: map[int][]string{10: {"n1 " + on}, 20: {"n2 " + on, "n3 " + on}}},
		{name: "read_only as configured",
			hs:   hs{n1: healthWith(readOnly(false)), n2: healthWith(readOnly(true)), n3: healthWith(readOnly(true))},
			want: map[int][]string{10: {"n1 " + on}, 20: {"n2 " + on, "n3 " + on}}},
		{name: "promotion: n2 writable, n1 read-only; the writer is not also a reader",
			hs:   hs{n1: healthWith(readOnly(true)), n2: healthWith(readOnly(false)), n3: healthWith(readOnly(true))},
			prev: prevWriter(n1),
			want: map[int][]string{10: {"n2 " + on}, 20: {"n1 " + on, "n3 " + on}}},
		{name: "one server not answered yet keeps its configured hostgroup",
			hs:   hs{n1: healthWith(readOnly(true)), n2: healthWith(readOnly(false))},
			want: map[int][]string{10: {"n2 " + on}, 20: {"n1 " + on, "n3 " + on}}},
		{name: "two writable: the previous writer is kept, the other shunned",
			hs:   hs{n1: healthWith(readOnly(false)), n2: healthWith(readOnly(false)), n3: healthWith(readOnly(true))},
			prev: prevWriter(n2),
			want: map[int][]string{10: {"n1 " + shun, "n2 " + on}, 20: {"n3 " + on}}},
		{name: "two writable, no previous writer: first in configuration order",
			hs:   hs{n1: healthWith(readOnly(false)), n2: healthWith(readOnly(false)), n3: healthWith(readOnly(true))},
			want: map[int][]string{10: {"n1 " + on, "n2 " + shun}, 20: {"n3 " + on}}},
		{name: "two writable, the previous writer is unreachable: the reachable one takes over",
			hs: hs{n1: healthWith(readOnly(false), pingDown), n2: healthWith(readOnly(false)),
				n3: healthWith(readOnly(true))},
			prev: prevWriter(n1),
			want: map[int][]string{10: {"n1 " + shun, "n2 " + on}, 20: {"n3 " + on}}},
		{name: "two servers configured as writers, read_only unknown: still one writer",
			cfg:  func(c *config.Config) { c.Servers[1].Hostgroup = 10 },
			want: map[int][]string{10: {"n1 " + on, "n2 " + shun}, 20: {"n3 " + on}}},
		{name: "configured OFFLINE states win",
			cfg: func(c *config.Config) {
				c.Servers[0].Status = config.StatusOfflineSoft
				c.Servers[2].Status = config.StatusOfflineHard
			},
			hs:   hs{n1: healthWith(readOnly(false), pingDown), n3: healthWith(readOnly(true), lagShunned(20, -1))},
			want: map[int][]string{10: {"n1 " + offS}, 20: {"n2 " + on, "n3 " + offH}}},
		{name: "an unreachable reader is shunned where it was",
			hs:   hs{n1: healthWith(readOnly(false)), n3: healthWith(readOnly(true), pingDown)},
			want: map[int][]string{10: {"n1 " + on}, 20: {"n2 " + on, "n3 " + shun}}},
		{name: "lagging reader",
			hs:   hs{n2: healthWith(readOnly(true), lagShunned(20, 30))},
			want: map[int][]string{10: {"n1 " + on}, 20: {"n2 " + lagS, "n3 " + on}}},
		{name: "lag shun does not follow a promoted replica into the writer hostgroup",
			hs:   hs{n1: healthWith(readOnly(true)), n2: healthWith(lagShunned(20, -1), readOnly(false))},
			want: map[int][]string{10: {"n2 " + on}, 20: {"n1 " + on, "n3 " + on}}},
		{name: "plain hostgroups stay as configured",
			cfg: func(c *config.Config) {
				c.Servers = append(c.Servers, srv(40, 3, maxLag(3600)))
			},
			hs:   hs{n3: healthWith(readOnly(true), lagShunned(20, 30))},
			want: map[int][]string{10: {"n1 " + on}, 20: {"n2 " + on, "n3 " + lagS}, 40: {"n3 " + on}}},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			c := asyncCfg()
			if tc.cfg != nil {
				tc.cfg(c)
			}
			snap, _ := place(newPlan(c), tc.prev, tc.hs)
			require.Equal(t, tc.want, layout(snap))
		})
	}
}

func TestPlaceReasons(t *testing.T) {
	c := asyncCfg()
	snap, whys := place(newPlan(c), nil, hs{
		n1: healthWith(readOnly(false)), n2: healthWith(readOnly(false)),
		n3: healthWith(readOnly(true), lagShunned(20, -1)),
	})
	require.Len(t, snap.Hostgroups[10], 2)
	require.Equal(t, why{where: "read_only=OFF", state: "multiple writable servers in hostgroup 10: keeping 10.0.0.1:3306"},
		whys[bkey{10, n2}])
	require.Equal(t, why{where: "read_only=ON", state: "replication lag unknown: Seconds_Behind_Master is NULL"},
		whys[bkey{20, n3}])
}

// TestPlaceCopiesWriterAttributes: a server moved out of the hostgroup it
// is configured in takes its item's weight, caps and lag limit along, as
// ProxySQL copies the row; an item configured in the target wins.
func TestPlaceCopiesWriterAttributes(t *testing.T) {
	c := asyncCfg()
	c.Servers[0].Weight, c.Servers[0].MaxConnections, c.Servers[0].MaxReplicationLag = 7, 33, 5
	c.Servers = append(c.Servers, srv(10, 2, weight(9)))
	p := newPlan(c)
	require.Equal(t, map[int]int{20: 5}, p.byAddr[n1].readerLimits)

	snap, _ := place(p, nil, hs{n1: healthWith(readOnly(true)), n2: healthWith(readOnly(false))})
	b, ok := backendOf(snap, 20, n1)
	require.True(t, ok)
	require.Equal(t, topology.Backend{Hostgroup: 20, Addr: n1, Weight: 7, State: topology.StateOnline,
		MaxConnections: 33, MaxReplicationLag: 5, LagSeconds: -1, ReadOnly: true}, b)
	b, ok = backendOf(snap, 10, n2)
	require.True(t, ok)
	require.Equal(t, 9, b.Weight, "n2's own hostgroup-10 item")
	_, ok = backendOf(snap, 20, n2)
	require.False(t, ok, "a writer is not also in the reader hostgroup")
}

func TestPlaceWeightDecay(t *testing.T) {
	tests := []struct {
		name   string
		decay  bool
		lag    float64
		weight int
		want   int
	}{
		{"off", false, 5, 10, 10},
		{"no lag", true, 0, 10, 10},
		{"half the limit", true, 5, 10, 5},
		{"near the limit floors at 1", true, 9.9, 10, 1},
		{"at the limit", true, 10, 10, 1},
		{"unknown lag", true, -1, 10, 1},
		{"weight 0 stays 0", true, 1, 0, 0},
		{"rounds", true, 2.5, 3, 2},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			c := asyncCfg()
			c.Monitor.LagWeightDecay = tc.decay
			c.Servers[1].Weight = tc.weight
			h := healthWith(readOnly(true))
			h.lag = tc.lag
			snap, _ := place(newPlan(c), nil, hs{n2: h})
			b, _ := backendOf(snap, 20, n2)
			require.Equal(t, topology.StateOnline, b.State)
			require.Equal(t, tc.want, b.Weight)
			require.Equal(t, tc.lag, b.LagSeconds)
		})
	}
}

func TestPlaceGroupReplication(t *testing.T) {
	const (
		P, S   = grPrimary, grSecondary
		online = grOnline
	)
	prevWriter := func(addr string) *topology.Snapshot {
		return &topology.Snapshot{Hostgroups: map[int][]topology.Backend{
			30: {{Hostgroup: 30, Addr: addr, Weight: 1, State: topology.StateOnline}}}}
	}
	behind := func(n int64) func(*health) {
		return func(h *health) {
			for range 2 {
				h.observeGR(&grMember{role: S, state: online, viable: 3, total: 3, txBehind: n, applyLag: 0},
					nil, testTime, grPolicy{maxTxBehind: 100, lagShunAfter: 2, lagUnshunAfter: 3})
			}
		}
	}
	tests := []struct {
		name string
		g    func(*config.GroupReplicationHostgroup)
		hs   hs
		prev *topology.Snapshot
		want map[int][]string
	}{
		{name: "not answered yet: configured hostgroups",
			want: map[int][]string{30: {"n1 " + on, "n2 " + on, "n3 " + on}}},
		{name: "single primary",
			hs: hs{n1: healthWith(member(P, online, 3, 3)), n2: healthWith(member(S, online, 3, 3)),
				n3: healthWith(member(S, online, 3, 3))},
			want: map[int][]string{30: {"n1 " + on}, 32: {"n2 " + on, "n3 " + on}}},
		{name: "primary moved",
			hs: hs{n1: healthWith(member(S, online, 3, 3)), n2: healthWith(member(P, online, 3, 3)),
				n3: healthWith(member(S, online, 3, 3))},
			prev: prevWriter(n1),
			want: map[int][]string{30: {"n2 " + on}, 32: {"n1 " + on, "n3 " + on}}},
		{name: "RECOVERING, ERROR and OFFLINE members go offline",
			hs: hs{n1: healthWith(member(P, online, 3, 3)), n2: healthWith(member(S, "RECOVERING", 3, 3)),
				n3: healthWith(member(S, "ERROR", 1, 3))},
			want: map[int][]string{30: {"n1 " + on}, 33: {"n2 " + on, "n3 " + on}}},
		{name: "no quorum: a primary in a minority partition goes offline",
			hs: hs{n1: healthWith(member(P, online, 1, 3)), n2: healthWith(member(P, online, 2, 3)),
				n3: healthWith(member(S, online, 2, 3))},
			prev: prevWriter(n1),
			want: map[int][]string{30: {"n2 " + on}, 32: {"n3 " + on}, 33: {"n1 " + on}}},
		{name: "two of four is not a quorum",
			hs:   hs{n1: healthWith(member(P, online, 2, 4))},
			want: map[int][]string{30: {"n2 " + on, "n3 " + on}, 33: {"n1 " + on}}},
		{name: "unreachable member is offline and shunned",
			hs: hs{n1: healthWith(member(P, online, 3, 3), pingDown), n2: healthWith(member(P, online, 2, 3)),
				n3: healthWith(member(S, online, 2, 3))},
			prev: prevWriter(n1),
			want: map[int][]string{30: {"n2 " + on}, 32: {"n3 " + on}, 33: {"n1 " + shun}}},
		{name: "not a member",
			hs:   hs{n1: healthWith(member(P, online, 3, 3)), n2: healthWith(member2(nil))},
			want: map[int][]string{30: {"n1 " + on, "n3 " + on}, 33: {"n2 " + on}}},
		{name: "multi-primary with max_writers 1: previous writer kept, the rest backup writers",
			hs: hs{n1: healthWith(member(P, online, 3, 3)), n2: healthWith(member(P, online, 3, 3)),
				n3: healthWith(member(P, online, 3, 3))},
			prev: prevWriter(n2),
			want: map[int][]string{30: {"n2 " + on}, 31: {"n1 " + on, "n3 " + on}}},
		{name: "max_writers 2",
			g: func(g *config.GroupReplicationHostgroup) { g.MaxWriters = 2 },
			hs: hs{n1: healthWith(member(P, online, 3, 3)), n2: healthWith(member(P, online, 3, 3)),
				n3: healthWith(member(P, online, 3, 3))},
			want: map[int][]string{30: {"n1 " + on, "n2 " + on}, 31: {"n3 " + on}}},
		{name: "writer_is_also_reader 1",
			g: func(g *config.GroupReplicationHostgroup) { g.WriterIsAlsoReader = 1 },
			hs: hs{n1: healthWith(member(P, online, 3, 3)), n2: healthWith(member(S, online, 3, 3)),
				n3: healthWith(member(S, online, 3, 3))},
			want: map[int][]string{30: {"n1 " + on}, 32: {"n1 " + on, "n2 " + on, "n3 " + on}}},
		{name: "writer_is_also_reader 2 with readers: writer not a reader",
			g: func(g *config.GroupReplicationHostgroup) { g.WriterIsAlsoReader = 2 },
			hs: hs{n1: healthWith(member(P, online, 3, 3)), n2: healthWith(member(S, online, 3, 3)),
				n3: healthWith(member(S, online, 3, 3))},
			want: map[int][]string{30: {"n1 " + on}, 32: {"n2 " + on, "n3 " + on}}},
		{name: "writer_is_also_reader 2, no usable reader: writer also reads",
			g: func(g *config.GroupReplicationHostgroup) { g.WriterIsAlsoReader = 2 },
			hs: hs{n1: healthWith(member(P, online, 3, 3)), n2: healthWith(member(S, "RECOVERING", 3, 3)),
				n3: healthWith(member(S, online, 3, 3), pingDown)},
			want: map[int][]string{30: {"n1 " + on}, 32: {"n1 " + on}, 33: {"n2 " + on, "n3 " + shun}}},
		{name: "writer_is_also_reader 2: backup writers read",
			g: func(g *config.GroupReplicationHostgroup) { g.WriterIsAlsoReader = 2 },
			hs: hs{n1: healthWith(member(P, online, 3, 3)), n2: healthWith(member(P, online, 3, 3)),
				n3: healthWith(member(P, online, 3, 3))},
			want: map[int][]string{30: {"n1 " + on}, 31: {"n2 " + on, "n3 " + on}, 32: {"n2 " + on, "n3 " + on}}},
		{name: "secondary behind max_transactions_behind is shunned",
			g: func(g *config.GroupReplicationHostgroup) { g.MaxTransactionsBehind = 100 },
			hs: hs{n1: healthWith(member(P, online, 3, 3)), n2: healthWith(behind(101)),
				n3: healthWith(behind(100))},
			want: map[int][]string{30: {"n1 " + on}, 32: {"n2 " + shun, "n3 " + on}}},
		{name: "secondary apply lag over max_replication_lag",
			hs: hs{n1: healthWith(member(P, online, 3, 3)),
				n2: healthWith(func(h *health) {
					for range 2 {
						h.observeGR(&grMember{role: S, state: online, viable: 3, total: 3, applyLag: 12.5}, nil,
							testTime, grPolicy{limits: map[int]int{32: 10}, lagShunAfter: 2, lagUnshunAfter: 3})
					}
				})},
			want: map[int][]string{30: {"n1 " + on, "n3 " + on}, 32: {"n2 " + lagS}}},
		{name: "group replication check failing repeatedly: offline",
			hs: hs{n1: healthWith(member(P, online, 3, 3)), n2: healthWith(func(h *health) {
				for range 2 {
					h.observeGR(nil, errAccess, testTime, grPolicy{})
				}
			})},
			want: map[int][]string{30: {"n1 " + on, "n3 " + on}, 33: {"n2 " + on}}},
		{name: "inactive entry: servers stay as configured",
			g:    func(g *config.GroupReplicationHostgroup) { g.Active = new(bool) },
			hs:   hs{n1: healthWith(member(S, "RECOVERING", 1, 3))},
			want: map[int][]string{30: {"n1 " + on, "n2 " + on, "n3 " + on}}},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			snap, _ := place(newPlan(grCfg(tc.g)), tc.prev, tc.hs)
			require.Equal(t, tc.want, layout(snap))
		})
	}
}
