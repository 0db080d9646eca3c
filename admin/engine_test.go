package admin

import (
	"context"
	"strings"
	"testing"
	"time"

	"github.com/stretchr/testify/require"

	"github.com/rwproxy/rwproxy/config"
)

// normalized returns c with the admin-equivalent spellings unified, so that
// a configuration and its round trip through the tables compare equal.
func normalized(c *config.Config) *config.Config {
	c = c.Clone()
	for i := range c.Users {
		if c.Users[i].AuthPlugin == config.AuthNativePassword {
			c.Users[i].AuthPlugin = ""
		}
		if c.Users[i].IsActive() {
			c.Users[i].Active = nil
		}
	}
	for i := range c.GroupReplicationHostgroups {
		if c.GroupReplicationHostgroups[i].IsActive() {
			c.GroupReplicationHostgroups[i].Active = nil
		}
	}
	return c
}

func TestTablesRoundTrip(t *testing.T) {
	cfg := testConfig()
	f := false
	cfg.Users = append(cfg.Users, config.User{Username: "off", Password: "x", DefaultHostgroup: 10, Active: &f,
		Consistency: config.ConsistencyEventual, ConsistencyScope: config.ScopeUser, ReadYourWritesTimeout: time.Second},
		config.User{Username: "tls", Password: "*" + strings.Repeat("AB", 20), BackendPassword: "plain",
			DefaultHostgroup: 10, Consistency: config.ConsistencyEventual, ConsistencyScope: config.ScopeSession, ReadYourWritesTimeout: time.Second,
			QueryTimeout: 750 * time.Millisecond})
	cfg.Servers[0].UseTLS = true
	cfg.QueryTimeout = 30 * time.Second
	cfg.QueryRules = append(cfg.QueryRules, config.QueryRule{RuleID: 2, Active: true, MatchDigest: "^SELECT SLEEP",
		Timeout: 2500 * time.Millisecond})
	one1, two, three, seven, hg20, global := 1, 2, 3, 7, 20, "GLOBAL"
	zero := 0
	cfg.QueryRules = append(cfg.QueryRules, config.QueryRule{RuleID: 3, Active: true, FlagIN: one1, FlagOUT: &two,
		NegateMatchPattern: true, ReModifiers: &global, Digest: "0x00000000000000AB", ClientAddr: "10.0.0.0/8",
		ProxyAddr: "127.0.0.1", ProxyPort: 6033, MatchPattern: "x", Multiplex: &zero, StickyConn: true,
		Log: true, OKMsg: "done", Retries: &three, Delay: 15 * time.Millisecond, MirrorHostgroup: &hg20, MirrorFlagOUT: &seven})
	cfg.ReplicationHostgroups = nil
	cfg.GroupReplicationHostgroups = []config.GroupReplicationHostgroup{{WriterHostgroup: 10, BackupWriterHostgroup: 11,
		ReaderHostgroup: 20, OfflineHostgroup: 30, MaxWriters: 1, WriterIsAlsoReader: 2, MaxTransactionsBehind: 50, Comment: "gr"}}
	cfg.Monitor.LagWeightDecay = true
	cfg.Monitor.HeartbeatTable = "percona.heartbeat"
	require.NoError(t, cfg.Validate())
	e, rt := newTestEngine(t, cfg)

	// MEMORY holds what runs: loading every module back is a no-op.
	for _, m := range modules {
		exec(t, e, "LOAD "+m.name+" TO RUNTIME")
	}
	require.Equal(t, normalized(cfg), normalized(rt.Config()))

	// What the tables show.
	require.Equal(t, []string{"10", "20", "20"}, firstColumn(t, e, "SELECT hostgroup_id FROM mysql_servers"))
	require.Equal(t, "primary", one(t, e, "SELECT comment FROM mysql_servers WHERE port=3306"))
	require.Equal(t, []string{"app", "report", "off", "tls"}, firstColumn(t, e, "SELECT username FROM mysql_users ORDER BY rowid"))
	require.Equal(t, "0", one(t, e, "SELECT require_tls FROM mysql_users WHERE username='tls'"))
	require.Equal(t, "plain", one(t, e, "SELECT backend_password FROM mysql_users WHERE username='tls'"))
	require.Equal(t, "1", one(t, e, "SELECT use_tls FROM mysql_servers WHERE port=3306"))
	require.Equal(t, "0", one(t, e, "SELECT active FROM mysql_users WHERE username='off'"))
	require.Equal(t, "caching_sha2_password", one(t, e, "SELECT auth_plugin FROM mysql_users WHERE username='report'"))
	require.Equal(t, "mysql_native_password", one(t, e, "SELECT auth_plugin FROM mysql_users WHERE username='app'"))
	require.Equal(t, "250", one(t, e, "SELECT read_your_writes_timeout_ms FROM mysql_users WHERE username='report'"))
	require.Equal(t, []any{"1", "1", nil, nil, `^SELECT .* FOR UPDATE`, nil, "10", "1", nil, "locking reads", nil, "0", nil, nil, nil,
		"0", nil, "0", "CASELESS", nil, nil, nil, nil, nil, nil, nil, nil, nil, nil, nil, nil, nil},
		exec(t, e, "SELECT * FROM mysql_query_rules").Rows[0])
	require.Equal(t, []any{"1", "2", "1", "GLOBAL", "0x00000000000000AB", "10.0.0.0/8", "127.0.0.1", "6033", nil,
		"0", "1", "1", "done", "3", "15", "20", "7"},
		exec(t, e, "SELECT flagIN, flagOUT, negate_match_pattern, re_modifiers, digest, client_addr, proxy_addr, proxy_port, "+
			"replace_pattern, multiplex, sticky_conn, log, OK_msg, retries, delay, mirror_hostgroup, mirror_flagOUT "+
			"FROM mysql_query_rules WHERE rule_id=3").Rows[0])
	require.Equal(t, "2500", one(t, e, "SELECT timeout FROM mysql_query_rules WHERE rule_id=2"))
	require.Equal(t, "750", one(t, e, "SELECT query_timeout_ms FROM mysql_users WHERE username='tls'"))
	require.Equal(t, "0", one(t, e, "SELECT query_timeout_ms FROM mysql_users WHERE username='app'"))
	require.Equal(t, "30000", one(t, e, "SELECT variable_value FROM global_variables WHERE variable_name='mysql-default_query_timeout'"))
	require.Equal(t, []any{"10", "11", "20", "30", "1", "1", "2", "50", "gr"},
		exec(t, e, "SELECT * FROM mysql_group_replication_hostgroups").Rows[0])
	require.Equal(t, "least_outstanding", one(t, e, "SELECT balance FROM mysql_hostgroup_attributes WHERE hostgroup_id=20"))
	require.Equal(t, "true", one(t, e, "SELECT variable_value FROM global_variables WHERE variable_name='mysql-monitor_lag_weight_decay'"))
	require.Equal(t, "1000", one(t, e, "SELECT variable_value FROM global_variables WHERE variable_name='mysql-monitor_interval_ms'"))
	require.Equal(t, "admin:admin", one(t, e, "SELECT variable_value FROM global_variables WHERE variable_name='admin-admin_credentials'"))
	require.Equal(t, len(variables), len(firstColumn(t, e, "SELECT * FROM global_variables")))

	// runtime_* twins show the same.
	for _, tb := range configTables {
		mem := exec(t, e, "SELECT * FROM "+tb.name)
		run := exec(t, e, "SELECT * FROM runtime_"+tb.name)
		require.Equal(t, mem.Rows, run.Rows, tb.name)
	}
}

func TestLoadToRuntimeBuildsConfig(t *testing.T) {
	e, rt := newTestEngine(t, nil)
	before := rt.Config()

	exec(t, e, "UPDATE mysql_servers SET weight=4 WHERE port=3308")
	exec(t, e, "INSERT INTO mysql_servers (hostgroup_id, hostname, port, status) VALUES (20, '127.0.0.1', 3309, 'offline_soft')")
	exec(t, e, "DELETE FROM mysql_servers WHERE port=3307")
	// MEMORY only: nothing runs yet.
	require.Same(t, before, rt.Config())

	res := exec(t, e, "LOAD MYSQL SERVERS TO RUNTIME;")
	require.Contains(t, res.Info, "3 change(s)")
	require.Contains(t, res.Info, "mysql_servers (hostgroup_id=20, hostname='127.0.0.1', port=3308) weight: 1 -> 4")
	require.Contains(t, res.Info, "port=3309) added")
	require.Contains(t, res.Info, "port=3307) removed")
	got := rt.Config()
	require.Equal(t, []config.Server{
		{Hostgroup: 10, Host: "127.0.0.1", Port: 3306, Weight: 1, Status: "ONLINE", MaxConnections: 1000, Comment: "primary"},
		{Hostgroup: 20, Host: "127.0.0.1", Port: 3308, Weight: 4, Status: "ONLINE", MaxConnections: 1000, MaxReplicationLag: 10},
		{Hostgroup: 20, Host: "127.0.0.1", Port: 3309, Weight: 1, Status: "OFFLINE_SOFT", MaxConnections: 1000},
	}, got.Servers)
	// Only the module's tables changed.
	require.Equal(t, before.Users, got.Users)
	require.Equal(t, before.QueryRules, got.QueryRules)
	require.Equal(t, before.MaxConnections, got.MaxConnections)

	// Users, rules and variables, each by its own command.
	exec(t, e, "INSERT INTO mysql_users (username, password, default_hostgroup) VALUES ('bob', 'pw', 20)")
	exec(t, e, "LOAD MYSQL USERS TO RUNTIME")
	require.Len(t, rt.Config().Users, 3)
	require.Equal(t, config.User{Username: "bob", Password: "pw", DefaultHostgroup: 20, Consistency: "read_your_writes",
		ConsistencyScope: "user", ReadYourWritesTimeout: time.Second}, rt.Config().Users[2])

	exec(t, e, "INSERT INTO mysql_query_rules (active, match_digest, destination_hostgroup, apply) VALUES (1, 'FOR SHARE', 10, 1)")
	exec(t, e, "LOAD MYSQL QUERY RULES TO RUNTIME")
	rules := rt.Config().QueryRules
	require.Len(t, rules, 2)
	require.Equal(t, 2, rules[1].RuleID, "rule_id is assigned when omitted")
	require.Equal(t, 10, *rules[1].DestinationHostgroup)

	exec(t, e, "UPDATE global_variables SET variable_value='2000' WHERE variable_name='mysql-max_connections'")
	exec(t, e, "SET mysql-monitor_interval_ms = 2500")
	exec(t, e, `SET mysql-reader_fallback = "error"`)
	res = exec(t, e, "LOAD MYSQL VARIABLES TO RUNTIME")
	require.Contains(t, res.Info, "mysql-max_connections")
	require.Equal(t, 2000, rt.Config().MaxConnections)
	require.Equal(t, 2500*time.Millisecond, rt.Config().Monitor.Interval)
	require.Equal(t, config.ReaderFallbackError, rt.Config().ReaderFallback)

	exec(t, e, "UPDATE global_variables SET variable_value='root:pw' WHERE variable_name='admin-admin_credentials'")
	exec(t, e, "LOAD ADMIN VARIABLES TO RUNTIME")
	require.Equal(t, "root", rt.Config().Admin.Username)
	require.Equal(t, "pw", rt.Config().Admin.Password)

	// Unchanged memory: LOAD is a no-op.
	n := rt.applied()
	require.Equal(t, "no changes", exec(t, e, "LOAD MYSQL SERVERS TO RUNTIME").Info)
	require.Equal(t, rt.Config().Servers, got.Servers)
	require.Equal(t, n+1, rt.applied())
}

func TestDryRun(t *testing.T) {
	e, rt := newTestEngine(t, nil)
	before := rt.Config()
	exec(t, e, "UPDATE mysql_servers SET status='OFFLINE_SOFT' WHERE port=3307")
	res := exec(t, e, "LOAD MYSQL SERVERS TO RUNTIME DRY RUN")
	require.Equal(t, []string{"table_name", "row", "change"}, res.Columns)
	require.Equal(t, [][]any{{"mysql_servers", "hostgroup_id=20, hostname='127.0.0.1', port=3307", "status: 'ONLINE' -> 'OFFLINE_SOFT'"}}, res.Rows)
	require.Same(t, before, rt.Config())

	exec(t, e, "UPDATE mysql_users SET password='new' WHERE username='app'")
	res = exec(t, e, "LOAD MYSQL USERS TO RUNTIME DRY RUN")
	require.Equal(t, "password changed", res.Rows[0][2], "no password in the diff")
}

func TestSaveFromRuntimeAndFromConfig(t *testing.T) {
	e, rt := newTestEngine(t, nil)
	exec(t, e, "DELETE FROM mysql_servers")
	exec(t, e, "DELETE FROM mysql_users WHERE username='report'")
	exec(t, e, "SAVE MYSQL SERVERS FROM RUNTIME")
	require.Equal(t, "3", one(t, e, "SELECT count(*) FROM mysql_servers"))
	require.Equal(t, "1", one(t, e, "SELECT count(*) FROM mysql_users"), "other modules untouched")
	exec(t, e, "SAVE MYSQL USERS TO MEMORY")
	require.Equal(t, "2", one(t, e, "SELECT count(*) FROM mysql_users"))

	// LOAD ... FROM CONFIG needs the file the proxy started from.
	msg := execErr(t, e, "LOAD MYSQL SERVERS FROM CONFIG", erUnknown)
	require.Contains(t, msg, "not started from a configuration file")
	e.configFile = writeYAML(t, `
listen: 127.0.0.1:7777
users: [{username: app, password: app, default_hostgroup: 10}]
servers:
  - {hostgroup: 10, host: db1, port: 3306}
  - {hostgroup: 10, host: db2, port: 3306, weight: 3}
max_connections: 123
`)
	exec(t, e, "LOAD MYSQL SERVERS FROM CONFIG")
	require.Equal(t, []string{"db1", "db2"}, firstColumn(t, e, "SELECT hostname FROM mysql_servers"))
	require.Equal(t, "0", one(t, e, "SELECT count(*) FROM mysql_replication_hostgroups"))
	exec(t, e, "LOAD MYSQL VARIABLES FROM CONFIG")
	require.Equal(t, "123", one(t, e, "SELECT variable_value FROM global_variables WHERE variable_name='mysql-max_connections'"))
	// Restart-only settings keep the running value in MEMORY.
	require.Equal(t, rt.Config().Listen, one(t, e, "SELECT variable_value FROM global_variables WHERE variable_name='mysql-interfaces'"))
	exec(t, e, "LOAD MYSQL VARIABLES TO RUNTIME")
	require.Equal(t, 123, rt.Config().MaxConnections)
}

func TestBadInputRefused(t *testing.T) {
	tests := []struct {
		name string
		q    string
		code uint16
		msg  string
	}{
		{"wrong type", "UPDATE mysql_servers SET port='abc'", erWrongValue, "cannot store TEXT value in INTEGER column mysql_servers.port"},
		{"real in integer", "UPDATE mysql_servers SET weight=1.5", erWrongValue, "mysql_servers.weight"},
		{"unknown column", "INSERT INTO mysql_servers (hostgroup_id, hostname, prot) VALUES (20, 'x', 1)", erBadField, "no column named prot"},
		{"unknown column in update", "UPDATE mysql_servers SET wieght=2", erBadField, "no such column: wieght"},
		{"unknown table", "SELECT * FROM mysql_server", erNoSuchTable, "no such table: mysql_server"},
		{"duplicate key", "INSERT INTO mysql_servers (hostgroup_id, hostname, port) VALUES (20, '127.0.0.1', 3307)", erDupEntry,
			"UNIQUE constraint failed: mysql_servers.hostgroup_id, mysql_servers.hostname, mysql_servers.port"},
		{"duplicate user", "INSERT INTO mysql_users (username) VALUES ('app')", erDupEntry, "mysql_users.username"},
		{"bad status", "UPDATE mysql_servers SET status='ONLINEX'", erCheckViolation, "UPPER(status) IN ('ONLINE','SHUNNED','OFFLINE_SOFT','OFFLINE_HARD')"},
		{"bad port", "UPDATE mysql_servers SET port=70000 WHERE port=3307", erCheckViolation, "port BETWEEN 1 AND 65535"},
		{"bad consistency", "UPDATE mysql_users SET consistency='strong'", erCheckViolation, "consistency IN"},
		{"bad regex", "INSERT INTO mysql_query_rules (rule_id, match_digest) VALUES (5, '(abc')", erCheckViolation,
			`match_digest: "(abc" is not a valid regular expression`},
		{"bad pattern", "UPDATE mysql_query_rules SET match_pattern='a**'", erCheckViolation, `match_pattern: "a**" is not a valid regular expression`},
		{"missing not null", "INSERT INTO mysql_servers (hostgroup_id) VALUES (5)", erBadNull, "NOT NULL constraint failed: mysql_servers.hostname"},
		{"writer equals reader", "INSERT INTO mysql_replication_hostgroups (writer_hostgroup, reader_hostgroup) VALUES (30, 30)",
			erCheckViolation, "reader_hostgroup <> writer_hostgroup"},
		{"unknown variable", "INSERT INTO global_variables VALUES ('mysql-nope', '1')", erCheckViolation, `unknown variable "mysql-nope"`},
		{"bad variable value", "UPDATE global_variables SET variable_value='lots' WHERE variable_name='mysql-max_connections'",
			erCheckViolation, `mysql-max_connections: "lots" is not an integer`},
		{"bad credentials", "SET admin-admin_credentials='nocolon'", erCheckViolation, "must be user:password"},
		{"unknown SET variable", "SET mysql-nope = 1", erUnknown, `unknown variable "mysql-nope"`},
		{"write runtime table", "DELETE FROM runtime_mysql_servers", erReadOnly, "runtime_mysql_servers is read-only"},
		{"write stats table", "DELETE FROM stats_mysql_global", erReadOnly, "stats.stats_mysql_global is read-only"},
		{"write disk table", "DELETE FROM disk.mysql_servers", erReadOnly, "disk.mysql_servers is read-only"},
		{"drop table", "DROP TABLE mysql_servers", erReadOnly, "not allowed"},
		{"create table", "CREATE TABLE x (a)", erReadOnly, "not allowed"},
		{"attach", "ATTACH ':memory:' AS x", erReadOnly, "not allowed"},
		{"pragma", "PRAGMA writable_schema = 1", erReadOnly, "PRAGMA writable_schema is not allowed"},
		{"syntax", "SELEC 1", erSyntax, `near "SELEC": syntax error`},
		{"half a multi-row insert", "INSERT INTO mysql_servers (hostgroup_id, hostname, port) VALUES (30, 'a', 1), (30, 'b', 0)",
			erCheckViolation, "port BETWEEN"},
		{"unknown command", "LOAD MYSQL SERVERS TO DISK", erSyntax, "not a valid direction"},
		{"empty", " ; ", erEmptyQuery, "Query was empty"},
	}
	e, _ := newTestEngine(t, nil)
	snapshot := func() string {
		var b strings.Builder
		for _, tb := range configTables {
			for _, r := range exec(t, e, "SELECT * FROM "+tb.name).Rows {
				b.WriteString(strings.TrimSpace(strings.Repeat(" ", 0)) + tb.name + ":" + strings.Join(strs(r), "|") + "\n")
			}
		}
		return b.String()
	}
	before := snapshot()
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			msg := execErr(t, e, tc.q, tc.code)
			require.Contains(t, msg, tc.msg)
			require.Equal(t, before, snapshot(), "a refused statement changes nothing")
		})
	}
}

func strs(r []any) []string {
	out := make([]string, len(r))
	for i, v := range r {
		if v == nil {
			out[i] = "NULL"
		} else {
			out[i] = v.(string)
		}
	}
	return out
}

func TestLoadToRuntimeRefusesInvalidConfig(t *testing.T) {
	tests := []struct {
		name  string
		edits []string
		load  string
		msg   []string
	}{
		{"user's hostgroup has no servers", []string{"UPDATE mysql_users SET default_hostgroup=99 WHERE username='app'"},
			"LOAD MYSQL USERS TO RUNTIME", []string{"mysql_users (username='app', backend=1) default_hostgroup: hostgroup 99 has no servers"}},
		{"servers removed under a user", []string{"DELETE FROM mysql_servers WHERE hostgroup_id=10"},
			"LOAD MYSQL SERVERS TO RUNTIME", []string{"mysql_users (username='app', backend=1) default_hostgroup: hostgroup 10 has no servers"}},
		{"rule to an unknown hostgroup", []string{"INSERT INTO mysql_query_rules (rule_id, active, destination_hostgroup) VALUES (9, 1, 77)"},
			"LOAD MYSQL QUERY RULES TO RUNTIME", []string{"mysql_query_rules (rule_id=9) destination_hostgroup: 77 is not a known hostgroup"}},
		{"attributes of an empty hostgroup", []string{"INSERT INTO mysql_hostgroup_attributes VALUES (55, 'least_outstanding', 'statement')"},
			"LOAD MYSQL SERVERS TO RUNTIME", []string{"mysql_hostgroup_attributes (hostgroup_id=55) hostgroup_id: hostgroup 55 has no servers"}},
		{"no users", []string{"DELETE FROM mysql_users"}, "LOAD MYSQL USERS TO RUNTIME", []string{"mysql_users: at least one user is required"}},
		{"two problems at once", []string{"UPDATE mysql_users SET default_hostgroup=98"}, "LOAD MYSQL USERS TO RUNTIME",
			[]string{"(username='app', backend=1) default_hostgroup: hostgroup 98", "(username='report', backend=1) default_hostgroup: hostgroup 98"}},
		{"variable out of range", []string{"SET mysql-max_connections=0"}, "LOAD MYSQL VARIABLES TO RUNTIME",
			[]string{"global_variables mysql-max_connections: 0 must be > 0"}},
		{"enum variable", []string{"SET mysql-reader_fallback='maybe'"}, "LOAD MYSQL VARIABLES TO RUNTIME",
			[]string{`global_variables mysql-reader_fallback: "maybe" is not one of writer, error`}},
		{"restart-only variable", []string{"SET mysql-interfaces='127.0.0.1:7000'"}, "LOAD MYSQL VARIABLES TO RUNTIME",
			[]string{"mysql-interfaces is read from the configuration file at start", "variable_value='127.0.0.1:0'"}},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			e, rt := newTestEngine(t, nil)
			before := rt.Config()
			for _, q := range tc.edits {
				exec(t, e, q)
			}
			msg := execErr(t, e, tc.load, erUnknown)
			require.Contains(t, msg, tc.load+" refused; the running configuration is unchanged")
			for _, m := range tc.msg {
				require.Contains(t, msg, m)
			}
			require.Same(t, before, rt.Config(), "runtime untouched")
			require.Zero(t, rt.applied())
		})
	}
}

func TestApplyErrorLeavesRuntime(t *testing.T) {
	e, rt := newTestEngine(t, nil)
	before := rt.Config()
	failing := &failingRuntime{fakeRuntime: rt}
	e.rt = failing
	exec(t, e, "UPDATE mysql_servers SET weight=9")
	msg := execErr(t, e, "LOAD MYSQL SERVERS TO RUNTIME", erUnknown)
	require.Contains(t, msg, "store is busy")
	require.Same(t, before, rt.Config())
}

type failingRuntime struct{ *fakeRuntime }

func (f *failingRuntime) Apply(context.Context, *config.Config) error {
	return errString("store is busy")
}

type errString string

func (e errString) Error() string { return string(e) }

func TestCompatQueries(t *testing.T) {
	e, _ := newTestEngine(t, nil)
	res := exec(t, e, "select @@version_comment limit 1")
	require.Equal(t, []string{"@@version_comment"}, res.Columns)
	require.Equal(t, [][]any{{"rwproxy admin"}}, res.Rows)

	res = exec(t, e, "SELECT DATABASE(), USER(), @@session.autocommit AS ac, @@max_allowed_packet, @@nope, VERSION()")
	require.Equal(t, []string{"DATABASE()", "USER()", "ac", "@@max_allowed_packet", "@@nope", "VERSION()"}, res.Columns)
	require.Equal(t, []any{"main", "admin@127.0.0.1", "1", "67108864", nil, Version}, res.Rows[0])
	require.Equal(t, "2", one(t, e, "SELECT count(*) FROM mysql_servers WHERE hostgroup_id = 20 AND DATABASE() = 'main'"))
	require.Equal(t, "4096", one(t, e, "SELECT @@mysql-max_connections"))
	require.Nil(t, one(t, e, "SELECT @@mysql-monitor_password"))

	for _, q := range []string{"SET NAMES utf8mb4", "SET autocommit=1", "set character_set_results = NULL",
		"SET SESSION sql_mode='ANSI'", "SET @a = 1", "BEGIN", "START TRANSACTION", "COMMIT", "ROLLBACK",
		"/* mysql-connector */ SET NAMES latin1"} {
		res := exec(t, e, q)
		require.Empty(t, res.Columns, q)
	}

	require.Equal(t, []string{"main", "stats", "monitor", "disk"}, func() []string {
		res := exec(t, e, "SHOW DATABASES")
		require.Equal(t, []string{"seq", "name", "file"}, res.Columns)
		var out []string
		for _, r := range res.Rows {
			out = append(out, r[1].(string))
		}
		return out
	}())
	tables := firstColumn(t, e, "SHOW TABLES")
	require.Contains(t, tables, "mysql_servers")
	require.Contains(t, tables, "runtime_mysql_servers")
	require.Contains(t, tables, "global_variables")
	require.Contains(t, firstColumn(t, e, "SHOW TABLES FROM stats"), "stats_mysql_connection_pool")
	require.Equal(t, []string{"mysql_server_connect_log", "mysql_server_group_replication_log", "mysql_server_ping_log",
		"mysql_server_read_only_log", "mysql_server_replication_lag_log"}, firstColumn(t, e, "show tables from monitor"))
	require.Equal(t, []string{"mysql_servers"}, firstColumn(t, e, "SHOW TABLES LIKE 'mysql_serv%'"))
	execErr(t, e, "SHOW TABLES FROM nowhere", erBadDB)

	res = exec(t, e, "SHOW CREATE TABLE mysql_servers")
	require.Equal(t, []string{"table", "Create Table"}, res.Columns)
	require.Contains(t, res.Rows[0][1], "CREATE TABLE mysql_servers (")
	require.Contains(t, res.Rows[0][1], "PRIMARY KEY (hostgroup_id, hostname, port)")
	require.Contains(t, exec(t, e, "SHOW CREATE TABLE stats.stats_mysql_global").Rows[0][1], "Variable_Name TEXT")
	execErr(t, e, "SHOW CREATE TABLE nope", erNoSuchTable)

	res = exec(t, e, "DESCRIBE mysql_users")
	require.Equal(t, []any{"username", "TEXT", "NO", "PRI", nil, ""}, res.Rows[0])
	require.Len(t, exec(t, e, "SHOW COLUMNS FROM mysql_server_ping_log FROM monitor").Rows, 5)

	res = exec(t, e, "SHOW VARIABLES LIKE 'mysql-monitor%'")
	require.Equal(t, []string{"Variable_name", "Value"}, res.Columns)
	require.NotEmpty(t, res.Rows)
	require.Equal(t, [][]any{{"mysql-max_connections", "4096"}}, exec(t, e, "SHOW VARIABLES WHERE Variable_name = 'mysql-max_connections'").Rows)
	require.Equal(t, []string{"admin-admin_credentials", "admin-stats_credentials", "admin-mysql_ifaces"}, firstColumn(t, e, "SHOW ADMIN VARIABLES"))
	require.Empty(t, exec(t, e, "SHOW WARNINGS").Rows)
	require.Equal(t, []string{"Variable_name", "Value"}, exec(t, e, "SHOW GLOBAL STATUS LIKE 'Questions'").Columns)
	require.Contains(t, firstColumn(t, e, "SHOW FULL TABLES FROM disk"), "mysql_users")
	exec(t, e, "UPDATE mysql_servers SET weight = 5 WHERE port = 3306")
	require.Equal(t, []string{"3306"}, firstColumn(t, e,
		"SELECT port FROM (SELECT * FROM mysql_servers EXCEPT SELECT * FROM runtime_mysql_servers)"))
	exec(t, e, "SAVE MYSQL SERVERS FROM RUNTIME")
	execErr(t, e, "SHOW SLAVE HOSTS", erSyntax)

	sess := *testSession
	_, err := e.Exec(context.Background(), &sess, "USE stats")
	require.NoError(t, err)
	require.Equal(t, "stats", sess.DB)
	res, err = e.Exec(context.Background(), &sess, "SHOW TABLES")
	require.NoError(t, err)
	require.Contains(t, res.Rows, []any{"stats_mysql_global"})

	// ProxySQL habits: "..." strings and SELECT from disk.
	exec(t, e, `UPDATE global_variables SET variable_value="3000" WHERE variable_name="mysql-max_connections"`)
	require.Equal(t, "3000", one(t, e, "SELECT variable_value FROM global_variables WHERE variable_name='mysql-max_connections'"))
	require.Equal(t, "3", one(t, e, "SELECT count(*) FROM disk.mysql_servers"))
	// Several statements in one query run in order.
	res = exec(t, e, "UPDATE mysql_servers SET weight=7 WHERE port=3307; SELECT weight FROM mysql_servers WHERE port=3307")
	require.Equal(t, [][]any{{"7"}}, res.Rows)
}
