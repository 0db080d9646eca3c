package metrics

import (
	"strings"
	"testing"
	"time"

	"github.com/prometheus/client_golang/prometheus"
	"github.com/prometheus/client_golang/prometheus/testutil"
	"github.com/stretchr/testify/require"
)

type fixedSource struct{ s Sample }

func (f fixedSource) Sample() Sample { return f.s }

func sample() Sample {
	return Sample{
		Time:       time.Unix(1700000000, 0),
		Hostgroups: []Hostgroup{{ID: 10, Role: RoleWriter, Default: true}, {ID: 20, Role: RoleReader}},
		Backends: []Backend{
			{Hostgroup: 10, Addr: "db1:3306", State: "ONLINE", Weight: 1, MaxConnections: 200, LagSeconds: -1},
			{Hostgroup: 20, Addr: "db2:3306", State: "SHUNNED_REPLICATION_LAG", Weight: 3, MaxConnections: 100, LagSeconds: 12.5, ReadOnly: true},
		},
		Servers: []Server{
			{Addr: "db1:3306", ConnUsed: 2, ConnFree: 5, ConnCreated: 9, ConnFailed: 1, Queries: 1000, BytesSent: 10, BytesRecv: 20,
				LatencyUs: 2_500_000, InFlight: 1, Checked: true, PingLatency: 300 * time.Microsecond},
			{Addr: "db2:3306", Queries: 7, Checked: true, PingFailures: 2, PingError: "timeout"},
		},
		Proxy: Proxy{ClientConnections: 3, AuthFailures: 1, Queries: 1007, ToReader: 7, ToWriter: 1000,
			CacheHits: 900, CacheMisses: 100, CacheEntries: 42, ParseErrors: 2},
		Routes:        []Count{{Name: "read", Value: 7}, {Name: "write", Value: 1000}},
		Pins:          []Count{{Name: "transaction", Value: 5}, {Name: "temporary_table", Value: 1}},
		ConfigVersion: 3,
	}
}

func TestCollector(t *testing.T) {
	c := NewCollector(fixedSource{sample()})
	want := `
# HELP rwproxy_backend_queries_total Requests (statements, prepares, USE) answered by the backend.
# TYPE rwproxy_backend_queries_total counter
rwproxy_backend_queries_total{backend="db1:3306"} 1000
rwproxy_backend_queries_total{backend="db2:3306"} 7
# HELP rwproxy_backend_query_time_seconds_total Total time of those requests, from send to the last packet relayed.
# TYPE rwproxy_backend_query_time_seconds_total counter
rwproxy_backend_query_time_seconds_total{backend="db1:3306"} 2.5
rwproxy_backend_query_time_seconds_total{backend="db2:3306"} 0
# HELP rwproxy_pool_connections Backend connections held by sessions (state=used) or idle in the pool (state=free).
# TYPE rwproxy_pool_connections gauge
rwproxy_pool_connections{backend="db1:3306",state="free"} 5
rwproxy_pool_connections{backend="db1:3306",state="used"} 2
rwproxy_pool_connections{backend="db2:3306",state="free"} 0
rwproxy_pool_connections{backend="db2:3306",state="used"} 0
# HELP rwproxy_monitor_ping_seconds Round trip of the monitor's last successful ping.
# TYPE rwproxy_monitor_ping_seconds gauge
rwproxy_monitor_ping_seconds{backend="db1:3306"} 0.0003
# HELP rwproxy_monitor_ping_failures Consecutive failed monitor pings (0 when the last one succeeded).
# TYPE rwproxy_monitor_ping_failures gauge
rwproxy_monitor_ping_failures{backend="db1:3306"} 0
rwproxy_monitor_ping_failures{backend="db2:3306"} 2
# HELP rwproxy_backend_state 1 for the backend's current state in the hostgroup, 0 for the other states.
# TYPE rwproxy_backend_state gauge
rwproxy_backend_state{backend="db1:3306",hostgroup="10",state="OFFLINE_HARD"} 0
rwproxy_backend_state{backend="db1:3306",hostgroup="10",state="OFFLINE_SOFT"} 0
rwproxy_backend_state{backend="db1:3306",hostgroup="10",state="ONLINE"} 1
rwproxy_backend_state{backend="db1:3306",hostgroup="10",state="SHUNNED"} 0
rwproxy_backend_state{backend="db1:3306",hostgroup="10",state="SHUNNED_REPLICATION_LAG"} 0
rwproxy_backend_state{backend="db2:3306",hostgroup="20",state="OFFLINE_HARD"} 0
rwproxy_backend_state{backend="db2:3306",hostgroup="20",state="OFFLINE_SOFT"} 0
rwproxy_backend_state{backend="db2:3306",hostgroup="20",state="ONLINE"} 0
rwproxy_backend_state{backend="db2:3306",hostgroup="20",state="SHUNNED"} 0
rwproxy_backend_state{backend="db2:3306",hostgroup="20",state="SHUNNED_REPLICATION_LAG"} 1
# HELP rwproxy_backend_replication_lag_seconds Last measured replication lag; absent when unknown or not measured.
# TYPE rwproxy_backend_replication_lag_seconds gauge
rwproxy_backend_replication_lag_seconds{backend="db2:3306",hostgroup="20"} 12.5
# HELP rwproxy_hostgroup_info Always 1; the hostgroup's role (writer, backup_writer, reader, offline, other) and whether it is a user's default hostgroup.
# TYPE rwproxy_hostgroup_info gauge
rwproxy_hostgroup_info{default="false",hostgroup="20",role="reader"} 1
rwproxy_hostgroup_info{default="true",hostgroup="10",role="writer"} 1
# HELP rwproxy_route_decisions_total Routing decisions by reason.
# TYPE rwproxy_route_decisions_total counter
rwproxy_route_decisions_total{reason="read"} 7
rwproxy_route_decisions_total{reason="write"} 1000
# HELP rwproxy_route_destinations_total Statements by the role of the hostgroup they ran on (reader or writer).
# TYPE rwproxy_route_destinations_total counter
rwproxy_route_destinations_total{role="reader"} 7
rwproxy_route_destinations_total{role="writer"} 1000
# HELP rwproxy_session_pins_total Times a session pinned its backend connection, by reason.
# TYPE rwproxy_session_pins_total counter
rwproxy_session_pins_total{reason="temporary_table"} 1
rwproxy_session_pins_total{reason="transaction"} 5
# HELP rwproxy_classifier_cache_hits_total Statement classifications answered by the digest cache.
# TYPE rwproxy_classifier_cache_hits_total counter
rwproxy_classifier_cache_hits_total 900
# HELP rwproxy_config_version Version of the running configuration.
# TYPE rwproxy_config_version gauge
rwproxy_config_version 3
# HELP rwproxy_ready 1 when some writer (or default) hostgroup has an ONLINE backend (/readyz).
# TYPE rwproxy_ready gauge
rwproxy_ready 1
`
	names := []string{"rwproxy_backend_queries_total", "rwproxy_backend_query_time_seconds_total", "rwproxy_pool_connections",
		"rwproxy_monitor_ping_seconds", "rwproxy_monitor_ping_failures", "rwproxy_backend_state",
		"rwproxy_backend_replication_lag_seconds", "rwproxy_hostgroup_info", "rwproxy_route_decisions_total",
		"rwproxy_route_destinations_total", "rwproxy_session_pins_total", "rwproxy_classifier_cache_hits_total",
		"rwproxy_config_version", "rwproxy_ready"}
	require.NoError(t, testutil.CollectAndCompare(c, strings.NewReader(want), names...))
	require.Zero(t, testutil.CollectAndCount(c, "rwproxy_cluster_members"), "not clustered: no member series")
}

func TestCollectorLint(t *testing.T) {
	problems, err := testutil.CollectAndLint(NewCollector(fixedSource{sample()}))
	require.NoError(t, err)
	require.Empty(t, problems)
	problems, err = testutil.CollectAndLint(NewRecorder(RecorderOptions{}))
	require.NoError(t, err)
	require.Empty(t, problems)
}

// TestCollectorRegistered: Describe and Collect agree (the registry checks
// every collected metric against the described ones) and a duplicate in a
// Sample does not fail the scrape.
func TestCollectorRegistered(t *testing.T) {
	s := sample()
	s.Servers = append(s.Servers, s.Servers[0])
	s.Backends = append(s.Backends, s.Backends[1])
	s.Hostgroups = append(s.Hostgroups, s.Hostgroups[0])
	s.Backends = append(s.Backends, Backend{Hostgroup: 30, Addr: "db3:3306", State: "DRAINING", LagSeconds: -1})
	s.Members = []Member{{Name: "a", State: "alive", ConfigVersion: 3}, {Name: "b", State: "alive", ConfigVersion: 2},
		{Name: "c", State: "suspect", ConfigVersion: 3}, {Name: "c", State: "suspect", ConfigVersion: 3}}
	s.ClusterRejectedRecords = 3
	reg := prometheus.NewPedanticRegistry()
	reg.MustRegister(NewCollector(fixedSource{s}), NewRecorder(RecorderOptions{}))
	mfs, err := reg.Gather()
	require.NoError(t, err)
	got := map[string]int{}
	for _, mf := range mfs {
		got[mf.GetName()] = len(mf.GetMetric())
	}
	require.Equal(t, 2, got["rwproxy_backend_queries_total"])
	require.Equal(t, 16, got["rwproxy_backend_state"], "5 known states for 2 placements, and one unknown state")
	require.Equal(t, 2, got["rwproxy_cluster_members"]) // alive, suspect
	require.Equal(t, 3, got["rwproxy_cluster_member_config_version"])

	want := `
# HELP rwproxy_cluster_members Cluster members by state.
# TYPE rwproxy_cluster_members gauge
rwproxy_cluster_members{state="alive"} 2
rwproxy_cluster_members{state="suspect"} 2
`
	require.NoError(t, testutil.GatherAndCompare(reg, strings.NewReader(want), "rwproxy_cluster_members"))
	want = `
# HELP rwproxy_cluster_records_rejected_total Configuration records refused for a version far above this node's clock.
# TYPE rwproxy_cluster_records_rejected_total counter
rwproxy_cluster_records_rejected_total 3
`
	require.NoError(t, testutil.GatherAndCompare(reg, strings.NewReader(want), "rwproxy_cluster_records_rejected_total"))
}

func TestReady(t *testing.T) {
	writer := []Hostgroup{{ID: 10, Role: RoleWriter}, {ID: 20, Role: RoleReader}}
	tests := []struct {
		name     string
		hgs      []Hostgroup
		backends []Backend
		ready    bool
		paused   bool
		reason   string
	}{
		{name: "writer online", hgs: writer, ready: true,
			backends: []Backend{{Hostgroup: 10, State: "ONLINE"}}},
		{name: "writer shunned, reader online", hgs: writer,
			backends: []Backend{{Hostgroup: 10, State: "SHUNNED"}, {Hostgroup: 20, State: "ONLINE"}},
			reason:   "no ONLINE server in writer hostgroups [10]"},
		{name: "writer offline soft", hgs: writer,
			backends: []Backend{{Hostgroup: 10, State: "OFFLINE_SOFT"}},
			reason:   "no ONLINE server in writer hostgroups [10]"},
		{name: "default hostgroup without replication hostgroups", ready: true,
			hgs:      []Hostgroup{{ID: 1, Role: RoleOther, Default: true}},
			backends: []Backend{{Hostgroup: 1, State: "ONLINE"}}},
		{name: "no writer hostgroup at all", hgs: []Hostgroup{{ID: 20, Role: RoleReader}},
			backends: []Backend{{Hostgroup: 20, State: "ONLINE"}},
			reason:   "no writer hostgroup: no replication hostgroup and no user's default hostgroup"},
		{name: "empty writer hostgroup", hgs: writer, reason: "no ONLINE server in writer hostgroups [10]"},
		{name: "paused", hgs: writer, paused: true, backends: []Backend{{Hostgroup: 10, State: "ONLINE"}},
			reason: "paused (PROXYSQL PAUSE): not taking new connections"},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			s := Sample{Hostgroups: tc.hgs, Backends: tc.backends, Paused: tc.paused}
			ok, why := s.Ready()
			require.Equal(t, tc.ready, ok)
			require.Equal(t, tc.reason, why)
		})
	}
}
