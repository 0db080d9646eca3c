package admin

import (
	"testing"
	"time"

	"github.com/stretchr/testify/require"

	"github.com/rwproxy/rwproxy/topology"
)

func testStats() Stats {
	t0 := time.Unix(1700000000, 0)
	return Stats{
		Topology: &topology.Snapshot{Hostgroups: map[int][]topology.Backend{
			10: {{Hostgroup: 10, Addr: "127.0.0.1:3306", Weight: 1, State: topology.StateOnline, MaxConnections: 1000}},
			20: {
				{Hostgroup: 20, Addr: "127.0.0.1:3307", Weight: 1, State: topology.StateShunnedLag, MaxConnections: 1000, MaxReplicationLag: 10},
				{Hostgroup: 20, Addr: "127.0.0.1:3308", Weight: 1, State: topology.StateOnline, MaxConnections: 1000, MaxReplicationLag: 10},
			},
		}},
		Pools: []PoolStats{
			{Addr: "127.0.0.1:3306", ConnUsed: 2, ConnFree: 3, ConnOK: 5, Queries: 100, BytesSent: 1000, BytesRecv: 2000, LatencyUs: 5000},
			{Addr: "127.0.0.1:3308", ConnFree: 1, ConnOK: 1, ConnERR: 4, Queries: 10, LatencyUs: 100, GTIDSync: 6},
		},
		Global: []Counter{{"Client_Connections_connected", 3}, {"Questions", 110}},
		Pins:   []Counter{{"transaction", 7}, {"temporary_table", 1}},
		Digests: []DigestStat{
			{Hostgroup: 20, Schema: "sbtest", User: "app", ClientAddress: "10.0.0.5", DigestText: "SELECT c FROM sbtest1 WHERE id=?", Count: 90,
				FirstSeen: t0, LastSeen: t0.Add(time.Minute), SumTimeUs: 9000, MinTimeUs: 50, MaxTimeUs: 400},
			{Hostgroup: 10, Schema: "sbtest", User: "app", DigestText: "UPDATE sbtest1 SET k=k+? WHERE id=?", Count: 10,
				FirstSeen: t0, LastSeen: t0, SumTimeUs: 3000, MinTimeUs: 200, MaxTimeUs: 500},
		},
		Logs: map[string][]LogEntry{
			LogPing: {
				{Time: t0, Addr: "127.0.0.1:3307", Duration: 300 * time.Microsecond, Result: "ok"},
				{Time: t0, Addr: "127.0.0.1:3308", Duration: time.Second, Error: "dial tcp: connection refused"},
			},
			LogReadOnly:       {{Time: t0, Addr: "127.0.0.1:3307", Duration: time.Millisecond, Result: "read_only=ON"}},
			LogReplicationLag: {{Time: t0, Addr: "127.0.0.1:3307", Duration: time.Millisecond, Result: "lag=12.500s"}},
			LogConnect: {
				{Time: t0, Addr: "127.0.0.1:3306", Duration: 2 * time.Millisecond, Result: "ok"},
				{Time: t0, Addr: "127.0.0.1:3308", Duration: time.Second, Error: "connect: connection refused"},
			},
		},
		FreeConns: []FreeConn{{Addr: "127.0.0.1:3307", User: "app", Schema: "sbtest", ThreadID: 42,
			Vars: map[string]string{"sql_mode": "ANSI"}, Idle: 1500 * time.Millisecond, Age: time.Minute, Stmts: 2,
			ServerVersion: "8.4.0"}},
	}
}

func TestRuntimeAndStatsTables(t *testing.T) {
	e, rt := newTestEngine(t, nil)
	rt.stats = testStats()

	// The runtime view shows the monitor's state.
	res := exec(t, e, "SELECT hostgroup_id, port, status, comment FROM runtime_mysql_servers ORDER BY hostgroup_id, port")
	require.Equal(t, [][]any{{"10", "3306", "ONLINE", "primary"}, {"20", "3307", "SHUNNED_REPLICATION_LAG", ""},
		{"20", "3308", "ONLINE", ""}}, res.Rows)
	require.Equal(t, []Want{WantTopology}, rt.wants)

	res = exec(t, e, "SELECT hostgroup, srv_port, status, ConnUsed, ConnFree, ConnOK, ConnERR, Queries, Bytes_data_sent, "+
		"Bytes_data_recv, Latency_us FROM stats_mysql_connection_pool ORDER BY srv_port")
	require.Equal(t, [][]any{
		{"10", "3306", "ONLINE", "2", "3", "5", "0", "100", "1000", "2000", "50"},
		{"20", "3307", "SHUNNED_REPLICATION_LAG", "0", "0", "0", "0", "0", "0", "0", "0"},
		{"20", "3308", "ONLINE", "0", "1", "1", "4", "10", "0", "0", "10"},
	}, res.Rows)

	require.Equal(t, []string{"0", "0", "6"}, firstColumn(t, e, "SELECT Queries_GTID_sync FROM stats_mysql_connection_pool ORDER BY srv_port"))
	require.Equal(t, "110", one(t, e, "SELECT Variable_Value FROM stats.stats_mysql_global WHERE Variable_Name='Questions'"))
	require.Equal(t, [][]any{{"transaction", "7"}, {"temporary_table", "1"}},
		exec(t, e, "SELECT * FROM stats_mysql_pinned_sessions").Rows)

	// Aggregates and joins work as in SQLite.
	res = exec(t, e, "SELECT hostgroup, SUM(count_star), MAX(max_time) FROM stats_mysql_query_digest GROUP BY hostgroup ORDER BY hostgroup")
	require.Equal(t, [][]any{{"10", "10", "500"}, {"20", "90", "400"}}, res.Rows)
	res = exec(t, e, "SELECT s.port, p.Queries FROM runtime_mysql_servers s JOIN stats_mysql_connection_pool p "+
		"ON p.srv_port = s.port AND p.hostgroup = s.hostgroup_id WHERE s.status = 'ONLINE' ORDER BY s.port DESC LIMIT 1")
	require.Equal(t, [][]any{{"3308", "10"}}, res.Rows)
	res = exec(t, e, "SELECT digest, digest_text, first_seen, last_seen FROM stats_mysql_query_digest WHERE hostgroup = 20")
	require.Equal(t, digestHash("SELECT c FROM sbtest1 WHERE id=?"), res.Rows[0][0])
	require.Regexp(t, `^0x[0-9A-F]{16}$`, res.Rows[0][0])
	require.Equal(t, []any{"1700000000", "1700000060"}, res.Rows[0][2:])
	require.Equal(t, [][]any{{"10", ""}, {"20", "10.0.0.5"}},
		exec(t, e, "SELECT hostgroup, client_address FROM stats_mysql_query_digest ORDER BY hostgroup").Rows)

	// Idle pool connections; the monitor's connects.
	res = exec(t, e, "SELECT fd, hostgroup, srv_host, srv_port, user, schema, sql_mode, autocommit, idle_ms, statistics, "+
		"mysql_info FROM stats_mysql_free_connections")
	require.Equal(t, [][]any{{"42", "20", "127.0.0.1", "3307", "app", "sbtest", "ANSI", "", "1500",
		`{"age_ms":60000,"prepared_statements":2}`, `{"server_version":"8.4.0","thread_id":42}`}}, res.Rows)
	res = exec(t, e, "SELECT port, connect_success_time_us, connect_error FROM monitor.mysql_server_connect_log ORDER BY port")
	require.Equal(t, [][]any{{"3306", "2000", nil}, {"3308", "0", "connect: connection refused"}}, res.Rows)

	// Reading the _reset table returns the rows and resets the counters.
	require.Zero(t, rt.resets)
	require.Len(t, exec(t, e, "SELECT * FROM stats_mysql_query_digest").Rows, 2)
	require.Zero(t, rt.resets)
	require.Len(t, exec(t, e, "SELECT * FROM stats_mysql_query_digest_reset").Rows, 2)
	require.Equal(t, 1, rt.resets)

	// Monitor logs, with or without the schema name.
	res = exec(t, e, "SELECT hostname, port, time_start_us, ping_success_time_us, ping_error FROM monitor.mysql_server_ping_log")
	require.Equal(t, [][]any{{"127.0.0.1", "3307", "1700000000000000", "300", nil},
		{"127.0.0.1", "3308", "1700000000000000", "0", "dial tcp: connection refused"}}, res.Rows)
	require.Equal(t, "1", one(t, e, "SELECT read_only FROM mysql_server_read_only_log"))
	require.Equal(t, "12.5", one(t, e, "SELECT repl_lag FROM monitor.mysql_server_replication_lag_log"))
	require.Empty(t, exec(t, e, "SELECT * FROM monitor.mysql_server_group_replication_log").Rows)

	// A read of no column (COUNT(*)) refreshes too.
	require.Equal(t, "3", one(t, e, "SELECT COUNT(*) FROM runtime_mysql_servers"))
	require.Equal(t, "2", one(t, e, "SELECT COUNT(*) FROM stats_mysql_query_digest_reset"))
	require.Equal(t, 2, rt.resets)
	require.Equal(t, "1", one(t, e, "SELECT COUNT(*) FROM mysql_server_read_only_log"))
	require.Equal(t, "1", one(t, e, "SELECT 1 FROM stats.stats_mysql_global LIMIT 1"))

	// Statements on configuration tables take no snapshot.
	rt.wants = nil
	exec(t, e, "SELECT * FROM mysql_servers")
	exec(t, e, "UPDATE mysql_servers SET weight = 2")
	require.Empty(t, rt.wants)
	exec(t, e, "SELECT * FROM runtime_mysql_users")
	require.Empty(t, rt.wants, "runtime config twins need only Config()")
	exec(t, e, "SELECT * FROM stats_mysql_global, stats_mysql_pinned_sessions")
	require.Equal(t, []Want{WantGlobal | WantPins}, rt.wants)
}

func TestRuntimeServersWithoutTopology(t *testing.T) {
	e, _ := newTestEngine(t, nil)
	res := exec(t, e, "SELECT hostgroup_id, port, status FROM runtime_mysql_servers")
	require.Equal(t, [][]any{{"10", "3306", "ONLINE"}, {"20", "3307", "ONLINE"}, {"20", "3308", "ONLINE"}}, res.Rows)
}
