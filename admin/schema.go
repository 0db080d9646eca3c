package admin

import (
	"fmt"
	"strings"
)

// column is one column of an admin table.
type column struct {
	name string
	typ  string // INTEGER, TEXT or REAL
	// notNull, def and check apply to the editable (and disk) tables only;
	// the runtime twins and the stats tables take whatever the proxy reports.
	notNull bool
	def     string // DEFAULT expression, "" for none
	check   string // column CHECK expression, "" for none
	// upgradeFrom, if set, fills the column when a disk table written
	// before it existed is upgraded (an expression over the old columns);
	// otherwise the column takes its default.
	upgradeFrom string
}

// row is one table row as SQLite returns it: int64, float64, string or nil.
type row = []any

// table describes one admin table. Configuration tables also know how to
// convert between rows and the *config.Config fields they stand for.
type table struct {
	name string
	cols []column
	// constraints are table constraints (PRIMARY KEY, UNIQUE, CHECK) of the
	// editable and disk tables.
	constraints []string
	// memChecks are extra CHECKs of the MEMORY tables only: they call Go
	// functions (checkFuncs) that a plain sqlite3 shell opening the disk
	// file would not know.
	memChecks []string
	// key are the columns that name a row in messages and diffs.
	key []string
	// strict makes the table STRICT (configuration tables).
	strict bool
}

// colNames returns the table's column names.
func (t *table) colNames() []string {
	out := make([]string, len(t.cols))
	for i, c := range t.cols {
		out[i] = c.name
	}
	return out
}

// colIndex returns the index of the column, or -1.
func (t *table) colIndex(name string) int {
	for i, c := range t.cols {
		if strings.EqualFold(c.name, name) {
			return i
		}
	}
	return -1
}

// sqlDef is the column's definition in a CREATE TABLE or ALTER TABLE ADD
// COLUMN; constrained adds NOT NULL, DEFAULT and CHECK.
func (c column) sqlDef(constrained bool) string {
	p := c.name + " " + c.typ
	if constrained {
		if c.notNull {
			p += " NOT NULL"
		}
		if c.def != "" {
			p += " DEFAULT " + c.def
		}
		if c.check != "" {
			p += " CHECK (" + c.check + ")"
		}
	}
	return p
}

// ddl is the CREATE TABLE statement for t named schema.name. constrained
// adds NOT NULL, DEFAULT, CHECK and key constraints; memory adds the
// memory-only checks.
func (t *table) ddl(schema, name string, constrained, memory bool) string {
	var b strings.Builder
	fmt.Fprintf(&b, "CREATE TABLE IF NOT EXISTS %s.%s (\n", schema, name)
	parts := make([]string, 0, len(t.cols)+len(t.constraints)+len(t.memChecks))
	for _, c := range t.cols {
		parts = append(parts, "  "+c.sqlDef(constrained))
	}
	if constrained {
		for _, c := range t.constraints {
			parts = append(parts, "  "+c)
		}
		if memory {
			for _, c := range t.memChecks {
				parts = append(parts, "  CHECK ("+c+")")
			}
		}
	}
	b.WriteString(strings.Join(parts, ",\n"))
	b.WriteString("\n)")
	if t.strict {
		b.WriteString(" STRICT")
	}
	return b.String()
}

// The configuration tables (MEMORY, DISK and their runtime_ twins). Column
// names follow ProxySQL's where the concept is the same.
var (
	tServers = &table{
		name: "mysql_servers", strict: true,
		cols: []column{
			{name: "hostgroup_id", typ: "INTEGER", notNull: true, def: "0", check: "hostgroup_id >= 0"},
			{name: "hostname", typ: "TEXT", notNull: true, check: "hostname <> ''"},
			{name: "port", typ: "INTEGER", notNull: true, def: "3306", check: "port BETWEEN 1 AND 65535"},
			{name: "status", typ: "TEXT", notNull: true, def: "'ONLINE'",
				check: "UPPER(status) IN ('ONLINE','SHUNNED','OFFLINE_SOFT','OFFLINE_HARD')"},
			{name: "weight", typ: "INTEGER", notNull: true, def: "1", check: "weight >= 0"},
			{name: "max_connections", typ: "INTEGER", notNull: true, def: "1000", check: "max_connections > 0"},
			{name: "max_replication_lag", typ: "INTEGER", notNull: true, def: "0", check: "max_replication_lag >= 0"},
			{name: "comment", typ: "TEXT", notNull: true, def: "''"},
			{name: "use_tls", typ: "INTEGER", notNull: true, def: "0", check: "use_tls IN (0,1)"},
			// ProxySQL's columns (see docs/admin.md, compatibility).
			// use_ssl is use_tls under ProxySQL's name: either set means TLS.
			{name: "use_ssl", typ: "INTEGER", notNull: true, def: "0", check: "use_ssl IN (0,1)", upgradeFrom: "use_tls"},
			{name: "gtid_port", typ: "INTEGER", notNull: true, def: "0", check: "gtid_port BETWEEN 0 AND 65535"},
			{name: "compression", typ: "INTEGER", notNull: true, def: "0", check: "compression >= 0"},
			{name: "max_latency_ms", typ: "INTEGER", notNull: true, def: "0", check: "max_latency_ms >= 0"},
		},
		constraints: []string{"PRIMARY KEY (hostgroup_id, hostname, port)"},
		memChecks: []string{
			fnCheckUnsupported + "('compression', compression, " +
				"'client protocol compression to the backends is not supported: set 0 (docs/admin.md, compatibility)')",
		},
		key: []string{"hostgroup_id", "hostname", "port"},
	}
	tUsers = &table{
		name: "mysql_users", strict: true,
		cols: []column{
			{name: "username", typ: "TEXT", notNull: true, check: "username <> ''"},
			{name: "password", typ: "TEXT", notNull: true, def: "''"},
			{name: "active", typ: "INTEGER", notNull: true, def: "1", check: "active IN (0,1)"},
			{name: "default_hostgroup", typ: "INTEGER", notNull: true, def: "0", check: "default_hostgroup >= 0"},
			// rwproxy always keeps a transaction on one backend; 0 is kept
			// for ProxySQL's tools (docs/admin.md, compatibility).
			{name: "transaction_persistent", typ: "INTEGER", notNull: true, def: "1", check: "transaction_persistent IN (0,1)"},
			{name: "max_connections", typ: "INTEGER", notNull: true, def: "0", check: "max_connections >= 0"},
			{name: "consistency", typ: "TEXT", notNull: true, def: "'read_your_writes'",
				check: "consistency IN ('eventual','read_your_writes')"},
			{name: "read_your_writes_timeout_ms", typ: "INTEGER", notNull: true, def: "1000",
				check: "read_your_writes_timeout_ms BETWEEN 1 AND 60000"},
			{name: "auth_plugin", typ: "TEXT", notNull: true, def: "'mysql_native_password'",
				check: "auth_plugin IN ('mysql_native_password','caching_sha2_password')"},
			{name: "require_tls", typ: "INTEGER", notNull: true, def: "0", check: "require_tls IN (0,1)"},
			{name: "backend_password", typ: "TEXT", notNull: true, def: "''"},
			{name: "query_timeout_ms", typ: "INTEGER", notNull: true, def: "0", check: "query_timeout_ms >= 0"},
			// A disk file of a version that accepted empty passwords keeps
			// its users: the column is added set for those that have one.
			{name: "allow_empty_password", typ: "INTEGER", notNull: true, def: "0", check: "allow_empty_password IN (0,1)",
				upgradeFrom: "CASE WHEN password = '' THEN 1 ELSE 0 END"},
			// ProxySQL's columns (see docs/admin.md, compatibility). A
			// user is one row with backend=1 and frontend=1, or a pair: a
			// frontend=1 row (what clients log in with, and the settings)
			// and a backend=1 row (the password rwproxy logs into the
			// backends with).
			{name: "backend", typ: "INTEGER", notNull: true, def: "1", check: "backend IN (0,1)"},
			{name: "frontend", typ: "INTEGER", notNull: true, def: "1", check: "frontend IN (0,1)"},
			{name: "fast_forward", typ: "INTEGER", notNull: true, def: "0", check: "fast_forward IN (0,1)"},
			{name: "default_schema", typ: "TEXT", notNull: true, def: "''"},
			{name: "schema_locked", typ: "INTEGER", notNull: true, def: "0", check: "schema_locked IN (0,1)"},
			// use_ssl is require_tls under ProxySQL's name: either set
			// means the user must log in over TLS.
			{name: "use_ssl", typ: "INTEGER", notNull: true, def: "0", check: "use_ssl IN (0,1)", upgradeFrom: "require_tls"},
			{name: "attributes", typ: "TEXT", notNull: true, def: "''",
				check: "attributes = '' OR (json_valid(attributes) AND json_type(attributes) = 'object')"},
			{name: "comment", typ: "TEXT", notNull: true, def: "''"},
			// rwproxy: whose writes a read_your_writes read waits for.
			{name: "consistency_scope", typ: "TEXT", notNull: true, def: "'user'",
				check: "consistency_scope IN ('user','session')"},
		},
		constraints: []string{
			"PRIMARY KEY (username, backend)",
			"UNIQUE (username, frontend)",
			"CHECK (backend = 1 OR frontend = 1)",
		},
		key: []string{"username", "backend"},
	}
	tRules = &table{
		name: "mysql_query_rules", strict: true,
		cols: []column{
			{name: "rule_id", typ: "INTEGER", notNull: true, check: "rule_id > 0"},
			{name: "active", typ: "INTEGER", notNull: true, def: "0", check: "active IN (0,1)"},
			{name: "username", typ: "TEXT"},
			{name: "schemaname", typ: "TEXT"},
			{name: "match_digest", typ: "TEXT"},
			{name: "match_pattern", typ: "TEXT"},
			{name: "destination_hostgroup", typ: "INTEGER", check: "destination_hostgroup >= 0"},
			{name: "apply", typ: "INTEGER", notNull: true, def: "0", check: "apply IN (0,1)"},
			{name: "error_msg", typ: "TEXT"},
			{name: "comment", typ: "TEXT"},
			// ProxySQL's column: milliseconds, NULL (or 0) = not set.
			{name: "timeout", typ: "INTEGER", check: "timeout >= 0"},
			// rwproxy's: 1 = an autocommit write lost before its reply is re-run once.
			{name: "idempotent", typ: "INTEGER", notNull: true, def: "0", check: "idempotent IN (0,1)"},
			// Query cache (ProxySQL's columns, milliseconds; NULL = not set).
			{name: "cache_ttl", typ: "INTEGER", check: "cache_ttl >= 0"},
			{name: "cache_empty_result", typ: "INTEGER", check: "cache_empty_result IN (0,1)"},
			{name: "cache_timeout", typ: "INTEGER", check: "cache_timeout >= 0"},
			// Issue 24 (chains, rewriting, mirroring, per-rule controls),
			// ProxySQL's names and types; kept in one block, converted by
			// ruleExtrasRow / setRuleExtras (convert_rules.go). Each has a
			// default or is nullable, so older disk tables upgrade in place.
			{name: "flagIN", typ: "INTEGER", notNull: true, def: "0", check: "flagIN >= 0"},
			{name: "flagOUT", typ: "INTEGER", check: "flagOUT >= 0"},
			{name: "negate_match_pattern", typ: "INTEGER", notNull: true, def: "0", check: "negate_match_pattern IN (0,1)"},
			{name: "re_modifiers", typ: "TEXT", def: "'CASELESS'"},
			{name: "digest", typ: "TEXT"},
			{name: "client_addr", typ: "TEXT"},
			{name: "proxy_addr", typ: "TEXT"},
			{name: "proxy_port", typ: "INTEGER", check: "proxy_port BETWEEN 0 AND 65535"},
			{name: "replace_pattern", typ: "TEXT"},
			{name: "multiplex", typ: "INTEGER", check: "multiplex IN (0,1,2)"},
			{name: "sticky_conn", typ: "INTEGER", check: "sticky_conn IN (0,1)"},
			{name: "log", typ: "INTEGER", check: "log IN (0,1)"},
			{name: "OK_msg", typ: "TEXT"},
			{name: "retries", typ: "INTEGER", check: "retries BETWEEN 0 AND 1000"},
			{name: "delay", typ: "INTEGER", check: "delay >= 0"},
			{name: "mirror_hostgroup", typ: "INTEGER", check: "mirror_hostgroup >= 0"},
			{name: "mirror_flagOUT", typ: "INTEGER", check: "mirror_flagOUT >= 0"},
		},
		// INTEGER PRIMARY KEY: an INSERT without rule_id gets the next one.
		constraints: []string{"PRIMARY KEY (rule_id)"},
		memChecks: []string{
			fnCheckRegexp + "('match_digest', match_digest)",
			fnCheckRegexp + "('match_pattern', match_pattern)",
		},
		key: []string{"rule_id"},
	}
	tReplication = &table{
		name: "mysql_replication_hostgroups", strict: true,
		cols: []column{
			{name: "writer_hostgroup", typ: "INTEGER", notNull: true, check: "writer_hostgroup >= 0"},
			{name: "reader_hostgroup", typ: "INTEGER", notNull: true, check: "reader_hostgroup >= 0"},
			{name: "check_type", typ: "TEXT", notNull: true, def: "'read_only'",
				check: "check_type IN (" + checkTypesSQL + ")"},
			{name: "comment", typ: "TEXT", notNull: true, def: "''"},
		},
		constraints: []string{
			"PRIMARY KEY (writer_hostgroup)",
			"UNIQUE (reader_hostgroup)",
			"CHECK (reader_hostgroup <> writer_hostgroup)",
		},
		key: []string{"writer_hostgroup"},
	}
	tGroupReplication = &table{
		name: "mysql_group_replication_hostgroups", strict: true,
		cols: []column{
			{name: "writer_hostgroup", typ: "INTEGER", notNull: true, check: "writer_hostgroup >= 0"},
			{name: "backup_writer_hostgroup", typ: "INTEGER", notNull: true, check: "backup_writer_hostgroup >= 0"},
			{name: "reader_hostgroup", typ: "INTEGER", notNull: true, check: "reader_hostgroup >= 0"},
			{name: "offline_hostgroup", typ: "INTEGER", notNull: true, check: "offline_hostgroup >= 0"},
			{name: "active", typ: "INTEGER", notNull: true, def: "1", check: "active IN (0,1)"},
			{name: "max_writers", typ: "INTEGER", notNull: true, def: "1", check: "max_writers >= 1"},
			{name: "writer_is_also_reader", typ: "INTEGER", notNull: true, def: "0", check: "writer_is_also_reader IN (0,1,2)"},
			{name: "max_transactions_behind", typ: "INTEGER", notNull: true, def: "0", check: "max_transactions_behind >= 0"},
			{name: "comment", typ: "TEXT", notNull: true, def: "''"},
		},
		constraints: []string{
			"PRIMARY KEY (writer_hostgroup)",
			"UNIQUE (backup_writer_hostgroup)",
			"UNIQUE (reader_hostgroup)",
			"UNIQUE (offline_hostgroup)",
			"CHECK (backup_writer_hostgroup <> writer_hostgroup AND reader_hostgroup NOT IN (writer_hostgroup, backup_writer_hostgroup) " +
				"AND offline_hostgroup NOT IN (writer_hostgroup, backup_writer_hostgroup, reader_hostgroup))",
		},
		key: []string{"writer_hostgroup"},
	}
	tAttributes = &table{
		name: "mysql_hostgroup_attributes", strict: true,
		cols: []column{
			{name: "hostgroup_id", typ: "INTEGER", notNull: true, check: "hostgroup_id >= 0"},
			{name: "balance", typ: "TEXT", notNull: true, def: "'weighted_round_robin'",
				check: "balance IN ('weighted_round_robin','least_outstanding','adaptive')"},
			{name: "affinity", typ: "TEXT", notNull: true, def: "'statement'",
				check: "affinity IN ('statement','session')"},
		},
		constraints: []string{"PRIMARY KEY (hostgroup_id)"},
		key:         []string{"hostgroup_id"},
	}
	tVariables = &table{
		name: "global_variables", strict: true,
		cols: []column{
			{name: "variable_name", typ: "TEXT", notNull: true},
			{name: "variable_value", typ: "TEXT", notNull: true},
		},
		constraints: []string{"PRIMARY KEY (variable_name)"},
		memChecks:   []string{fnCheckVariable + "(variable_name, variable_value)"},
		key:         []string{"variable_name"},
	}
)

// tScheduler is ProxySQL's scheduler: scripts run every interval_ms.
var tScheduler = &table{
	name: "scheduler", strict: true,
	cols: []column{
		{name: "id", typ: "INTEGER", notNull: true, check: "id > 0"},
		{name: "active", typ: "INTEGER", notNull: true, def: "1", check: "active IN (0,1)"},
		{name: "interval_ms", typ: "INTEGER", notNull: true, def: "10000", check: "interval_ms BETWEEN 100 AND 100000000"},
		{name: "filename", typ: "TEXT", notNull: true, check: "substr(filename, 1, 1) = '/'"},
		{name: "arg1", typ: "TEXT"}, {name: "arg2", typ: "TEXT"}, {name: "arg3", typ: "TEXT"},
		{name: "arg4", typ: "TEXT"}, {name: "arg5", typ: "TEXT"},
		{name: "comment", typ: "TEXT", notNull: true, def: "''"},
	},
	// INTEGER PRIMARY KEY: an INSERT without id gets the next one.
	constraints: []string{"PRIMARY KEY (id)"},
	key:         []string{"id"},
}

// configTables are the editable tables, in the order they are created.
var configTables = []*table{tServers, tUsers, tRules, tReplication, tGroupReplication, tAttributes, tVariables, tScheduler,
	tFirewallUsers, tFirewallAllow}

// The stats tables (schema stats) and the monitor logs (schema monitor).
// They are rebuilt from Runtime.Snapshot before a statement reads them.
var (
	tConnPool = &table{name: "stats_mysql_connection_pool", cols: []column{
		{name: "hostgroup", typ: "INTEGER"}, {name: "srv_host", typ: "TEXT"}, {name: "srv_port", typ: "INTEGER"},
		{name: "status", typ: "TEXT"}, {name: "ConnUsed", typ: "INTEGER"}, {name: "ConnFree", typ: "INTEGER"},
		{name: "ConnOK", typ: "INTEGER"}, {name: "ConnERR", typ: "INTEGER"}, {name: "Queries", typ: "INTEGER"},
		{name: "Bytes_data_sent", typ: "INTEGER"}, {name: "Bytes_data_recv", typ: "INTEGER"},
		{name: "Latency_us", typ: "INTEGER"},
		{name: "MaxConnUsed", typ: "INTEGER"}, {name: "Queries_GTID_sync", typ: "INTEGER"},
	}}
	tDigest      = &table{name: "stats_mysql_query_digest", cols: digestCols}
	tDigestReset = &table{name: "stats_mysql_query_digest_reset", cols: digestCols}
	tGlobal      = &table{name: "stats_mysql_global", cols: []column{
		{name: "Variable_Name", typ: "TEXT"}, {name: "Variable_Value", typ: "TEXT"},
	}}
	tPins = &table{name: "stats_mysql_pinned_sessions", cols: []column{
		{name: "reason", typ: "TEXT"}, {name: "count_total", typ: "INTEGER"},
	}}
	tBalance = &table{name: "stats_mysql_balance", cols: []column{
		{name: "hostgroup", typ: "INTEGER"}, {name: "srv_host", typ: "TEXT"}, {name: "srv_port", typ: "INTEGER"},
		{name: "algorithm", typ: "TEXT"}, {name: "weight", typ: "INTEGER"}, {name: "effective_weight", typ: "REAL"},
		{name: "outstanding", typ: "INTEGER"}, {name: "latency_avg_us", typ: "REAL"},
	}}
	tProcesslist = &table{name: "stats_mysql_processlist", cols: []column{
		{name: "ThreadID", typ: "INTEGER"}, {name: "SessionID", typ: "INTEGER"}, {name: "user", typ: "TEXT"},
		{name: "db", typ: "TEXT"}, {name: "cli_host", typ: "TEXT"}, {name: "cli_port", typ: "INTEGER"},
		{name: "hostgroup", typ: "INTEGER"}, {name: "l_srv_host", typ: "TEXT"}, {name: "l_srv_port", typ: "INTEGER"},
		{name: "srv_host", typ: "TEXT"}, {name: "srv_port", typ: "INTEGER"}, {name: "command", typ: "TEXT"},
		{name: "time_ms", typ: "INTEGER"}, {name: "info", typ: "TEXT"}, {name: "status_flags", typ: "INTEGER"},
		{name: "extended_info", typ: "TEXT"},
	}}
	tStatsUsers = &table{name: "stats_mysql_users", cols: []column{
		{name: "username", typ: "TEXT"}, {name: "frontend_connections", typ: "INTEGER"},
		{name: "frontend_max_connections", typ: "INTEGER"},
	}}
	tCommands = &table{name: "stats_mysql_commands_counters", cols: []column{
		{name: "Command", typ: "TEXT"}, {name: "Total_Time_us", typ: "INTEGER"}, {name: "Total_cnt", typ: "INTEGER"},
		{name: "cnt_100us", typ: "INTEGER"}, {name: "cnt_500us", typ: "INTEGER"}, {name: "cnt_1ms", typ: "INTEGER"},
		{name: "cnt_5ms", typ: "INTEGER"}, {name: "cnt_10ms", typ: "INTEGER"}, {name: "cnt_50ms", typ: "INTEGER"},
		{name: "cnt_100ms", typ: "INTEGER"}, {name: "cnt_500ms", typ: "INTEGER"}, {name: "cnt_1s", typ: "INTEGER"},
		{name: "cnt_5s", typ: "INTEGER"}, {name: "cnt_10s", typ: "INTEGER"}, {name: "cnt_INFs", typ: "INTEGER"},
	}}
	tCollations = &table{name: "mysql_collations", cols: []column{
		{name: "Id", typ: "INTEGER"}, {name: "Collation", typ: "TEXT"}, {name: "Charset", typ: "TEXT"},
		{name: `"Default"`, typ: "TEXT"}, // a keyword: quoted
	}}
	tChecksums = &table{name: "runtime_checksums_values", cols: []column{
		{name: "name", typ: "TEXT"}, {name: "version", typ: "INTEGER"}, {name: "epoch", typ: "INTEGER"},
		{name: "checksum", typ: "TEXT"},
	}}
	// tConnPoolReset shows the pool counters' change since its previous read.
	tConnPoolReset = &table{name: "stats_mysql_connection_pool_reset", cols: tConnPool.cols}
	tErrors        = &table{name: "stats_mysql_errors", cols: []column{
		{name: "hostgroup", typ: "INTEGER"}, {name: "hostname", typ: "TEXT"}, {name: "port", typ: "INTEGER"},
		{name: "username", typ: "TEXT"}, {name: "client_address", typ: "TEXT"}, {name: "schemaname", typ: "TEXT"},
		{name: "errno", typ: "INTEGER"}, {name: "count_star", typ: "INTEGER"}, {name: "first_seen", typ: "INTEGER"},
		{name: "last_seen", typ: "INTEGER"}, {name: "last_error", typ: "TEXT"},
	}}
	tRuleHits = &table{name: "stats_mysql_query_rules", cols: []column{
		{name: "rule_id", typ: "INTEGER"}, {name: "hits", typ: "INTEGER"},
	}}
	tQueryCache = &table{name: "stats_mysql_query_cache", cols: []column{
		{name: "Variable_Name", typ: "TEXT"}, {name: "Variable_Value", typ: "TEXT"},
	}}
	tMemory = &table{name: "stats_memory_metrics", cols: []column{
		{name: "Variable_Name", typ: "TEXT"}, {name: "Variable_Value", typ: "TEXT"},
	}}
	tClusterNodes = &table{name: "cluster_nodes", cols: []column{
		{name: "name", typ: "TEXT"}, {name: "address", typ: "TEXT"}, {name: "state", typ: "TEXT"},
		{name: "last_seen", typ: "TEXT"}, {name: "local", typ: "INTEGER"},
	}}
	tClusterChecksums = &table{name: "cluster_checksums", cols: []column{
		{name: "node", typ: "TEXT"}, {name: "module", typ: "TEXT"}, {name: "version", typ: "INTEGER"},
		{name: "checksum", typ: "TEXT"}, {name: "origin", typ: "TEXT"}, {name: "applied_at", typ: "TEXT"},
		{name: "status", typ: "TEXT"}, {name: "reason", typ: "TEXT"},
	}}

	tPingLog = &table{name: "mysql_server_ping_log", cols: []column{
		{name: "hostname", typ: "TEXT"}, {name: "port", typ: "INTEGER"}, {name: "time_start_us", typ: "INTEGER"},
		{name: "ping_success_time_us", typ: "INTEGER"}, {name: "ping_error", typ: "TEXT"},
	}}
	tReadOnlyLog = &table{name: "mysql_server_read_only_log", cols: []column{
		{name: "hostname", typ: "TEXT"}, {name: "port", typ: "INTEGER"}, {name: "time_start_us", typ: "INTEGER"},
		{name: "success_time_us", typ: "INTEGER"}, {name: "read_only", typ: "INTEGER"}, {name: "error", typ: "TEXT"},
	}}
	tLagLog = &table{name: "mysql_server_replication_lag_log", cols: []column{
		{name: "hostname", typ: "TEXT"}, {name: "port", typ: "INTEGER"}, {name: "time_start_us", typ: "INTEGER"},
		{name: "success_time_us", typ: "INTEGER"}, {name: "repl_lag", typ: "REAL"}, {name: "error", typ: "TEXT"},
	}}
	tGRLog = &table{name: "mysql_server_group_replication_log", cols: []column{
		{name: "hostname", typ: "TEXT"}, {name: "port", typ: "INTEGER"}, {name: "time_start_us", typ: "INTEGER"},
		{name: "success_time_us", typ: "INTEGER"}, {name: "result", typ: "TEXT"}, {name: "error", typ: "TEXT"},
	}}
)

var digestCols = []column{
	{name: "hostgroup", typ: "INTEGER"}, {name: "schemaname", typ: "TEXT"}, {name: "username", typ: "TEXT"},
	{name: "client_address", typ: "TEXT"}, {name: "digest", typ: "TEXT"}, {name: "digest_text", typ: "TEXT"}, {name: "count_star", typ: "INTEGER"},
	{name: "first_seen", typ: "INTEGER"}, {name: "last_seen", typ: "INTEGER"}, {name: "sum_time", typ: "INTEGER"},
	{name: "min_time", typ: "INTEGER"}, {name: "max_time", typ: "INTEGER"},
	{name: "sum_rows_affected", typ: "INTEGER"}, {name: "sum_rows_sent", typ: "INTEGER"},
}

// Schemas (SQLite databases) of the admin connection.
const (
	schemaMain    = "main"
	schemaDisk    = "disk"
	schemaStats   = "stats"
	schemaMonitor = "monitor"
)

// runtimePrefix names the runtime twin of a configuration table.
const runtimePrefix = "runtime_"

// diskSchemaVersion is stored in the disk file's user_version once it
// holds a complete configuration; 0 means "not initialised yet".
const diskSchemaVersion = 1
