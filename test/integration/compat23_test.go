package integration

import (
	"context"
	"database/sql"
	"errors"
	"path/filepath"
	"strconv"
	"testing"
	"time"

	"github.com/go-sql-driver/mysql"
	"github.com/stretchr/testify/require"

	"github.com/rwproxy/rwproxy/protocol"
)

// compatSum is the sum of the first column of an admin query's rows.
func compatSum(t *testing.T, p *admProxy, q string) int {
	t.Helper()
	n := 0
	for _, r := range p.rows(t, q) {
		v, err := strconv.Atoi(r[0])
		require.NoError(t, err, q)
		n += v
	}
	return n
}

// TestProxySQLCompatSemantics drives, through the admin port of a proxy in
// front of the MariaDB sandbox, the ProxySQL settings and commands whose
// effect is rwproxy's own work (issue #23): fast_forward users,
// transaction_persistent=0, PROXYSQL PAUSE/RESUME/READONLY, CHECKSUM,
// stats_mysql_free_connections, monitor.mysql_server_connect_log,
// stats_mysql_query_digest.client_address and Queries_GTID_sync.
func TestProxySQLCompatSemantics(t *testing.T) {
	needSandbox(t)
	admSetupSchema(t)
	dir := t.TempDir()
	p := admStart(t, admYAML(filepath.Join(dir, "data")), filepath.Join(dir, "data"))
	addr := p.app.Addr()
	ctx := context.Background()
	p.run(t, "UPDATE mysql_users SET fast_forward = 1 WHERE username = 'app2'",
		"UPDATE mysql_users SET transaction_persistent = 0 WHERE username = 'app'",
		"LOAD MYSQL USERS TO RUNTIME",
		"SET mysql-query_digests_track_hostname = 'true'", "LOAD MYSQL VARIABLES TO RUNTIME")

	t.Run("fast_forward: everything on the primary, one backend connection", func(t *testing.T) {
		c := conn(t, openDB(t, dsn(addr, "app2", admSchema)))
		_, node := spRow(t, c, "SELECT v, @@port FROM t WHERE id = 1")
		require.Equal(t, 1, node, "a fast_forward user's read is not split")
		id1, _ := spRow(t, c, "SELECT CONNECTION_ID(), @@port")
		id2, _ := spRow(t, c, "SELECT CONNECTION_ID(), @@port")
		require.Equal(t, id1, id2, "one backend connection for the session")
		require.Equal(t, []string{"1"}, p.rows(t, "SELECT CAST(count_total > 0 AS TEXT) FROM stats_mysql_pinned_sessions "+
			"WHERE reason = 'fast_forward'")[0])
	})

	t.Run("transaction_persistent=0: a read leaves the transaction, writes stay", func(t *testing.T) {
		c := conn(t, openDB(t, dsn(addr, "app", admSchema)))
		spExec(t, c, "BEGIN")
		spExec(t, c, "INSERT INTO t VALUES (1000, 1)")
		vals, node := spRow(t, c, "SELECT COUNT(*), @@port FROM t WHERE id = 1000")
		require.NotEqual(t, 1, node, "the plain read ran on a replica")
		require.Equal(t, []string{"0"}, vals, "outside the transaction: its insert is not visible")
		vals, node = spRow(t, c, "SELECT COUNT(*), @@port FROM t WHERE id = 1000 FOR UPDATE")
		require.Equal(t, 1, node)
		require.Equal(t, []string{"1"}, vals, "the locking read is in the transaction")
		spExec(t, c, "ROLLBACK")
		vals, node = spRow(t, c, "SELECT COUNT(*), @@port FROM t WHERE id = 1000 FOR UPDATE")
		require.Equal(t, []string{"0"}, vals, "the insert was in the transaction the ROLLBACK undid (node%d)", node)
		require.NotEqual(t, "0", p.rows(t, "SELECT Variable_Value FROM stats_mysql_global "+
			"WHERE Variable_Name = 'Reads_Outside_Transaction'")[0][0])
	})

	t.Run("Queries_GTID_sync and client_address", func(t *testing.T) {
		db := openDB(t, dsn(addr, "app", admSchema))
		w, r := conn(t, db), conn(t, db)
		before := compatSum(t, p, "SELECT Queries_GTID_sync FROM stats_mysql_connection_pool WHERE hostgroup = 20")
		spExec(t, w, "UPDATE t SET v = v + 1 WHERE id = 2")
		_, err := sb.Run("sync") // the replicas have the write: the GTID check passes
		require.NoError(t, err)
		onReplica := 0
		for range 5 {
			if _, node := spRow(t, r, "SELECT v, @@port FROM t WHERE id = 2"); node != 1 {
				onReplica++
			}
		}
		require.Positive(t, onReplica, "no read reached a replica")
		after := compatSum(t, p, "SELECT Queries_GTID_sync FROM stats_mysql_connection_pool WHERE hostgroup = 20")
		require.Equal(t, onReplica, after-before, "every replica read after the write passed a GTID check")
		rows := p.rows(t, "SELECT DISTINCT client_address FROM stats_mysql_query_digest WHERE username = 'app' "+
			"AND digest_text LIKE '%@@port%'")
		require.Equal(t, [][]string{{"127.0.0.1"}}, rows)
	})

	t.Run("stats_mysql_free_connections and monitor.mysql_server_connect_log", func(t *testing.T) {
		free := p.rows(t, "SELECT fd, srv_port FROM stats_mysql_free_connections WHERE user = 'app'")
		require.NotEmpty(t, free)
		direct := openDB(t, dsn(primary(), "app", ""))
		threads := map[string]bool{}
		rs, err := direct.QueryContext(ctx, "SELECT ID FROM information_schema.PROCESSLIST")
		require.NoError(t, err)
		for rs.Next() {
			var id string
			require.NoError(t, rs.Scan(&id))
			threads[id] = true
		}
		require.NoError(t, rs.Close())
		found := false
		for _, f := range free {
			if f[1] == strconv.Itoa(sb.Ports[0]) {
				require.True(t, threads[f[0]], "fd %s is no thread of the primary", f[0])
				found = true
			}
		}
		require.True(t, found, "no idle connection to the primary listed: %v", free)
		for _, port := range sb.Ports {
			require.NotEmpty(t, p.rows(t, "SELECT time_start_us FROM monitor.mysql_server_connect_log WHERE port = "+
				strconv.Itoa(port)+" AND connect_error IS NULL"), "port %d", port)
		}
	})

	t.Run("stats_mysql_processlist: the backend connection's both ends", func(t *testing.T) {
		c := conn(t, openDB(t, dsn(addr, "app", admSchema)))
		done := make(chan error, 1)
		go func() {
			_, err := c.ExecContext(ctx, "SELECT SLEEP(30) FROM t WHERE id = 1 FOR UPDATE")
			done <- err
		}()
		var row []string
		require.Eventually(t, func() bool {
			rows := p.rows(t, "SELECT SessionID, l_srv_host, l_srv_port, srv_port FROM stats_mysql_processlist "+
				"WHERE command = 'Query' AND info LIKE '%SLEEP(30)%'")
			if len(rows) == 1 {
				row = rows[0]
			}
			return len(rows) == 1
		}, 30*time.Second, 10*time.Millisecond)
		require.Equal(t, "127.0.0.1", row[1])
		require.NotEqual(t, "0", row[2], "the proxy's port of the backend connection")
		require.Equal(t, strconv.Itoa(sb.Ports[0]), row[3])
		p.run(t, "KILL QUERY "+row[0])
		<-done
	})

	t.Run("PROXYSQL PAUSE, RESUME, READONLY, CHECKSUM", func(t *testing.T) {
		open := conn(t, openDB(t, dsn(addr, "app", admSchema)))
		p.run(t, "PROXYSQL PAUSE")
		db, err := sql.Open("mysql", dsn(addr, "app", admSchema))
		require.NoError(t, err)
		defer db.Close()
		err = db.PingContext(ctx)
		var me *mysql.MySQLError
		require.True(t, errors.As(err, &me), "want a MySQL error, got %v", err)
		require.Equal(t, protocol.ErrCodePaused, me.Number)
		spRow(t, open, "SELECT v, @@port FROM t WHERE id = 3") // open sessions go on
		p.run(t, "PROXYSQL RESUME")
		require.NoError(t, db.PingContext(ctx))

		p.run(t, "PROXYSQL READONLY")
		_, err = p.admin.Exec("UPDATE mysql_servers SET weight = 3")
		require.True(t, errors.As(err, &me), "%v", err)
		require.EqualValues(t, 1036, me.Number)
		p.run(t, "PROXYSQL READWRITE", "UPDATE mysql_servers SET weight = 3 WHERE hostgroup_id = 20")

		mem := p.rows(t, "CHECKSUM MEMORY MYSQL SERVERS")[0][1]
		require.NotEqual(t, mem, p.rows(t, "CHECKSUM DISK MYSQL SERVERS")[0][1])
		p.run(t, "SAVE MYSQL SERVERS TO DISK")
		require.Equal(t, mem, p.rows(t, "CHECKSUM DISK MYSQL SERVERS")[0][1])
	})
}
