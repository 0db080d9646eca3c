package integration

import (
	"context"
	"database/sql"
	"path/filepath"
	"strconv"
	"strings"
	"testing"

	"github.com/stretchr/testify/require"
)

// scanAll reads every row of q as strings (NULL fails the test: the
// exporter scans into strings and float64s).
func scanAll(t *testing.T, db *sql.DB, q string) ([]string, [][]string) {
	t.Helper()
	rs, err := db.Query(q)
	require.NoError(t, err, q)
	defer rs.Close()
	cols, err := rs.Columns()
	require.NoError(t, err)
	var out [][]string
	for rs.Next() {
		vals := make([]string, len(cols))
		ptrs := make([]any, len(cols))
		for i := range vals {
			ptrs[i] = &vals[i]
		}
		require.NoError(t, rs.Scan(ptrs...), q)
		out = append(out, vals)
	}
	require.NoError(t, rs.Err())
	return cols, out
}

// TestProxySQLExporterStatements issues exactly the statements Percona's
// proxysql_exporter sends to ProxySQL's admin port (its collectors for
// stats_mysql_global, the connection pool, the processlist, per-user
// connections and memory), and checks what the exporter turns into
// metrics: the columns and variables it names are there and numeric.
// SHOW PROCESSLIST and KILL on the admin port act on the same sessions.
func TestProxySQLExporterStatements(t *testing.T) {
	needSandbox(t)
	admSetupSchema(t)
	dir := t.TempDir()
	p := admStart(t, admYAML(filepath.Join(dir, "data")), filepath.Join(dir, "data"))
	addr := p.app.Addr()
	app := openDB(t, dsn(addr, "app", ""))
	c1, c2 := conn(t, app), conn(t, app)
	ctx := context.Background()
	var port int
	require.NoError(t, c1.QueryRowContext(ctx, "SELECT @@port").Scan(&port))
	_, err := c2.ExecContext(ctx, "BEGIN")
	require.NoError(t, err)
	_, err = c2.ExecContext(ctx, "SELECT 1 FROM DUAL FOR UPDATE")
	require.NoError(t, err)

	// collect.mysql_status
	_, rows := scanAll(t, p.admin, "SELECT Variable_Name, Variable_Value FROM stats_mysql_global")
	global := map[string]float64{}
	for _, r := range rows {
		if v, err := strconv.ParseFloat(r[1], 64); err == nil {
			global[strings.ToLower(r[0])] = v
		}
	}
	for _, name := range []string{"active_transactions", "client_connections_aborted", "client_connections_connected",
		"client_connections_created", "client_connections_non_idle", "proxysql_uptime", "questions", "slow_queries"} {
		require.Contains(t, global, name)
	}
	require.Equal(t, float64(2), global["client_connections_connected"])
	require.GreaterOrEqual(t, global["client_connections_created"], float64(2))
	require.Equal(t, float64(1), global["active_transactions"])
	require.GreaterOrEqual(t, global["questions"], float64(3))

	// collect.mysql_connection_pool
	cols, rows := scanAll(t, p.admin, "SELECT hostgroup, srv_host, srv_port, * FROM stats_mysql_connection_pool")
	lower := make([]string, len(cols))
	for i, c := range cols {
		lower[i] = strings.ToLower(c)
	}
	for _, c := range []string{"status", "connused", "connfree", "connok", "connerr", "maxconnused", "queries",
		"queries_gtid_sync", "bytes_data_sent", "bytes_data_recv", "latency_us"} {
		require.Contains(t, lower[3:], c)
	}
	require.Len(t, rows, 3)
	maxUsed := 0.0
	for _, r := range rows {
		for i := 3; i < len(r); i++ {
			switch lower[i] {
			case "hostgroup", "srv_host", "srv_port":
			case "status":
				require.Contains(t, []string{"ONLINE", "SHUNNED", "OFFLINE_SOFT", "OFFLINE_HARD"}, r[i])
			default:
				v, err := strconv.ParseFloat(r[i], 64)
				require.NoError(t, err, "column %s", cols[i])
				if lower[i] == "maxconnused" {
					maxUsed += v
				}
			}
		}
	}
	require.GreaterOrEqual(t, maxUsed, float64(1), "MaxConnUsed counts the connections the sessions used")

	// collect.mysql_connection_list
	_, rows = scanAll(t, p.admin, "SELECT COUNT(cli_host) as connection_count, cli_host FROM stats_mysql_processlist GROUP BY cli_host")
	require.Equal(t, [][]string{{"2", "127.0.0.1"}}, rows)
	// collect.stats_mysql_users
	_, rows = scanAll(t, p.admin, "SELECT username, frontend_connections FROM stats_mysql_users")
	require.Contains(t, rows, []string{"app", "2"})
	require.Contains(t, rows, []string{"app2", "0"})
	// collect.stats_mysql_processlist
	_, rows = scanAll(t, p.admin, "SELECT user, db, cli_host, hostgroup, COUNT(*) as count from stats_mysql_processlist group by user, db, cli_host, hostgroup")
	var n int
	for _, r := range rows {
		require.Equal(t, "app", r[0])
		c, err := strconv.Atoi(r[4])
		require.NoError(t, err)
		n += c
	}
	require.Equal(t, 2, n)
	// collect.stats_memory_metrics (both spellings the exporter has used)
	for _, q := range []string{"select Variable_Name, Variable_Value  from stats_memory_metrics",
		"SELECT Variable_Name, Variable_Value FROM stats_memory_metrics"} {
		_, rows = scanAll(t, p.admin, q)
		require.NotEmpty(t, rows)
		for _, r := range rows {
			_, err := strconv.ParseFloat(r[1], 64)
			require.NoError(t, err, r[0])
		}
	}
	// stats_mysql_commands_counters (PMM's dashboards): the statements run
	// above, by class, with their latency buckets adding up.
	cols, rows = scanAll(t, p.admin, "SELECT * FROM stats_mysql_commands_counters WHERE Command IN ('SELECT', 'BEGIN', 'SELECT_FOR_UPDATE') ORDER BY Command")
	require.Equal(t, []string{"Command", "Total_Time_us", "Total_cnt", "cnt_100us", "cnt_500us", "cnt_1ms", "cnt_5ms",
		"cnt_10ms", "cnt_50ms", "cnt_100ms", "cnt_500ms", "cnt_1s", "cnt_5s", "cnt_10s", "cnt_INFs"}, cols)
	counts := map[string]int{}
	for _, r := range rows {
		total, err := strconv.Atoi(r[2])
		require.NoError(t, err)
		sum := 0
		for _, b := range r[3:] {
			n, err := strconv.Atoi(b)
			require.NoError(t, err)
			sum += n
		}
		require.Equal(t, total, sum, "buckets of %s", r[0])
		counts[r[0]] = total
	}
	require.Equal(t, 1, counts["BEGIN"])
	require.Equal(t, 1, counts["SELECT_FOR_UPDATE"])
	require.GreaterOrEqual(t, counts["SELECT"], 1, "SELECT @@port (and the driver's own queries)")
	// runtime_mysql_servers, read by ProxySQL dashboards beside the exporter.
	_, rows = scanAll(t, p.admin, "SELECT hostgroup_id, hostname, port, status, weight, max_connections, use_ssl, max_latency_ms FROM runtime_mysql_servers")
	require.Len(t, rows, 3)

	// stats_mysql_connection_pool_reset: the change since its last read.
	resetQueries := func() int {
		n := 0
		for _, r := range p.rows(t, "SELECT Queries FROM stats_mysql_connection_pool_reset") {
			q, err := strconv.Atoi(r[0])
			require.NoError(t, err)
			n += q
		}
		return n
	}
	require.Positive(t, resetQueries())
	require.Zero(t, resetQueries(), "nothing ran since the previous read")
	require.NoError(t, c1.QueryRowContext(ctx, "SELECT @@port").Scan(&port))
	require.Equal(t, 1, resetQueries())

	// stats_mysql_query_digest: rows sent and affected, summed per digest.
	_, err = c1.ExecContext(ctx, "CREATE TEMPORARY TABLE "+admSchema+".exp_tmp (a INT)")
	require.NoError(t, err)
	_, err = c1.ExecContext(ctx, "INSERT INTO "+admSchema+".exp_tmp VALUES (1), (2), (3)")
	require.NoError(t, err)
	var one int
	require.NoError(t, c1.QueryRowContext(ctx, "SELECT COUNT(*) FROM "+admSchema+".exp_tmp").Scan(&one))
	rows = p.rows(t, "SELECT sum_rows_affected, sum_rows_sent FROM stats_mysql_query_digest "+
		"WHERE digest_text LIKE '%exp_tmp%' ORDER BY digest_text")
	require.Equal(t, [][]string{{"0", "0"}, {"3", "0"}, {"0", "1"}}, rows, // CREATE, INSERT, SELECT
		"%v", p.rows(t, "SELECT digest_text FROM stats_mysql_query_digest"))

	// stats_mysql_errors: a backend error, by where it came from.
	_, err = c1.ExecContext(ctx, "SELECT * FROM mysql.rwproxy_no_such_table")
	require.Equal(t, uint16(1146), myErr(t, err).Number)
	rows = p.rows(t, "SELECT username, client_address, errno, count_star, hostname FROM stats_mysql_errors")
	require.Len(t, rows, 1)
	require.Equal(t, []string{"app", "127.0.0.1", "1146", "1", "127.0.0.1"}, rows[0])

	// runtime_checksums_values: one checksum per module; a LOAD changes
	// only its own module's.
	sums := func() map[string]string {
		out := map[string]string{}
		for _, r := range p.rows(t, "SELECT name, checksum FROM runtime_checksums_values") {
			require.Regexp(t, `^0x[0-9A-F]{16}$`, r[1])
			out[r[0]] = r[1]
		}
		return out
	}
	before := sums()
	require.Len(t, before, 4)
	p.run(t, "UPDATE mysql_servers SET weight = 9 WHERE hostgroup_id = 20", "LOAD MYSQL SERVERS TO RUNTIME")
	after := sums()
	require.NotEqual(t, before["mysql_servers"], after["mysql_servers"])
	require.Equal(t, before["mysql_users"], after["mysql_users"])

	// SHOW PROCESSLIST lists both sessions, the one in a transaction says so.
	rows = p.rows(t, "SHOW FULL PROCESSLIST")
	require.Len(t, rows, 2)
	var txnID string
	for _, r := range rows {
		require.Equal(t, "app", r[1])
		if r[6] == "in transaction" {
			txnID = r[0]
		}
	}
	require.NotEmpty(t, txnID, "%v", rows)
	// KILL CONNECTION ends it: its transaction is gone, the other session lives.
	_, err = p.admin.Exec("KILL CONNECTION " + txnID)
	require.NoError(t, err)
	require.Error(t, c2.PingContext(ctx))
	require.NoError(t, c1.QueryRowContext(ctx, "SELECT @@port").Scan(&port))
	_, err = p.admin.Exec("KILL 999999")
	require.Equal(t, uint16(1094), myErr(t, err).Number)
}
