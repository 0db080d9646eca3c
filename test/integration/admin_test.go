package integration

import (
	"context"
	"database/sql"
	"fmt"
	"os/exec"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/stretchr/testify/require"
	"go.uber.org/zap/zaptest"

	"github.com/rwproxy/rwproxy/admin"
	"github.com/rwproxy/rwproxy/config"
	"github.com/rwproxy/rwproxy/internal/app"
	"github.com/rwproxy/rwproxy/internal/testkit"
)

// admSchema is the admin tests' schema.
const admSchema = "admtest"

// admProxy is one proxy with its admin interface, started from the YAML
// configuration yaml through admin.Bootstrap (as cmd/rwproxy does).
type admProxy struct {
	app   *app.App
	admin *sql.DB
	close func()
}

// admStart bootstraps from datadir and starts a proxy and its admin
// interface; close (also run at the end of the test) stops both.
func admStart(t *testing.T, yaml *config.Config, datadir string) *admProxy {
	t.Helper()
	cfg, err := admin.Bootstrap(datadir, yaml, false)
	require.NoError(t, err)
	a, err := app.New(cfg, zaptest.NewLogger(t))
	require.NoError(t, err)
	require.NoError(t, a.Start(app.WithAdmin("")))
	var once sync.Once
	p := &admProxy{app: a}
	p.close = func() {
		once.Do(func() {
			if p.admin != nil {
				_ = p.admin.Close()
			}
			require.NoError(t, a.CloseAdmin())
			_ = a.Close()
		})
	}
	t.Cleanup(p.close)
	db, err := sql.Open("mysql", fmt.Sprintf("admin:admin@tcp(%s)/", a.AdminAddr()))
	require.NoError(t, err)
	p.admin = db
	require.NoError(t, db.Ping())
	return p
}

// admYAML is the proxy configuration the tests start from: the sandbox
// split (hostgroup 10 node1, hostgroup 20 nodes 2 and 3), admin on a free
// port with its datadir in datadir.
func admYAML(datadir string) *config.Config {
	c := testkit.SandboxConfig(sb)
	c.Admin.Listen = "127.0.0.1:0"
	c.Admin.Datadir = datadir
	return c
}

// run executes admin statements, each of which must succeed.
func (p *admProxy) run(t *testing.T, stmts ...string) {
	t.Helper()
	for _, q := range stmts {
		_, err := p.admin.Exec(q)
		require.NoError(t, err, q)
	}
}

// rows returns every row of an admin query as strings.
func (p *admProxy) rows(t *testing.T, q string) [][]string {
	t.Helper()
	rs, err := p.admin.Query(q)
	require.NoError(t, err, q)
	defer rs.Close()
	cols, err := rs.Columns()
	require.NoError(t, err)
	var out [][]string
	for rs.Next() {
		vals := make([]sql.NullString, len(cols))
		ptrs := make([]any, len(cols))
		for i := range vals {
			ptrs[i] = &vals[i]
		}
		require.NoError(t, rs.Scan(ptrs...))
		r := make([]string, len(cols))
		for i, v := range vals {
			r[i] = v.String
			if !v.Valid {
				r[i] = "NULL"
			}
		}
		out = append(out, r)
	}
	require.NoError(t, rs.Err())
	return out
}

// admLoad is a client load through the proxy: point selects from several
// sessions, counting successes and failures.
type admLoad struct {
	ok, failed atomic.Int64
	firstErr   atomic.Value
	cancel     context.CancelFunc
	wg         sync.WaitGroup
}

func admStartLoad(t *testing.T, addr string, clients int) *admLoad {
	t.Helper()
	ctx, cancel := context.WithCancel(context.Background())
	l := &admLoad{cancel: cancel}
	db := openDB(t, dsn(addr, "app", admSchema))
	db.SetMaxOpenConns(clients)
	for c := range clients {
		l.wg.Go(func() {
			for i := 0; ctx.Err() == nil; i++ {
				var v int
				err := db.QueryRowContext(ctx, "SELECT v FROM t WHERE id = "+strconv.Itoa((c*7+i)%100+1)).Scan(&v)
				switch {
				case err == nil:
					l.ok.Add(1)
				case ctx.Err() == nil:
					l.failed.Add(1)
					l.firstErr.CompareAndSwap(nil, err.Error())
				}
			}
		})
	}
	t.Cleanup(l.stop)
	return l
}

func (l *admLoad) stop() { l.cancel(); l.wg.Wait() }

// requireNoErrors checks that no client query failed so far.
func (l *admLoad) requireNoErrors(t *testing.T) {
	t.Helper()
	require.Zero(t, l.failed.Load(), "client errors during the load; first: %v", l.firstErr.Load())
}

// comSelect reads Com_select on nodes 1..3 (directly, not through the proxy).
func comSelect(t *testing.T, nodes [3]*sql.DB) [3]int64 {
	t.Helper()
	var out [3]int64
	for i, db := range nodes {
		var name string
		require.NoError(t, db.QueryRow("SHOW GLOBAL STATUS LIKE 'Com_select'").Scan(&name, &out[i]))
	}
	return out
}

// window lets the load run n more successful queries and returns how many
// SELECTs each node ran meanwhile.
func (l *admLoad) window(t *testing.T, nodes [3]*sql.DB, n int64) [3]int64 {
	t.Helper()
	before := comSelect(t, nodes)
	start := l.ok.Load()
	require.Eventually(t, func() bool { return l.ok.Load()-start >= n }, 30*time.Second, 5*time.Millisecond,
		"the load stalled (failed %d, first error %v)", l.failed.Load(), l.firstErr.Load())
	after := comSelect(t, nodes)
	return [3]int64{after[0] - before[0], after[1] - before[1], after[2] - before[2]}
}

// admShare is node3's SELECTs over node2's.
func admShare(d [3]int64) float64 { return float64(d[2]) / float64(max(d[1], 1)) }

func admSetupSchema(t *testing.T) {
	t.Helper()
	createSchema(t, admSchema, []string{"CREATE TABLE t (id INT PRIMARY KEY, v INT NOT NULL)",
		"INSERT INTO t SELECT seq, seq * 10 FROM seq_1_to_100"})
}

// TestAdmin drives the admin interface against a proxy in front of the
// sandbox, under client load: the mariadb CLI on the admin port, weights,
// OFFLINE_SOFT, removing and re-adding a server, a new user, a new query
// rule, then SAVE TO DISK and a restart from the saved configuration.
func TestAdmin(t *testing.T) {
	needSandbox(t, "mariadb")
	admSetupSchema(t)
	datadir := t.TempDir()
	p := admStart(t, admYAML(datadir), datadir)
	var nodes [3]*sql.DB
	for i := range nodes {
		nodes[i] = openDB(t, dsn(sb.Addr(i+1), "app", ""))
	}
	node3 := strconv.Itoa(sb.Ports[2])

	t.Run("mariadb CLI", func(t *testing.T) { admCLI(t, p) })

	load := admStartLoad(t, p.app.Addr(), 4)

	t.Run("weights shift the replicas' shares", func(t *testing.T) {
		even := load.window(t, nodes, 3000)
		t.Logf("weights 1:1 -> Com_select %v, node3/node2 = %.2f", even, admShare(even))
		require.InDelta(t, 1.0, admShare(even), 0.5)
		p.run(t, "UPDATE mysql_servers SET weight=4 WHERE port="+node3, "LOAD MYSQL SERVERS TO RUNTIME")
		require.Equal(t, [][]string{{"4"}}, p.rows(t, "SELECT weight FROM runtime_mysql_servers WHERE port="+node3))
		skewed := load.window(t, nodes, 3000)
		t.Logf("weights 1:4 -> Com_select %v, node3/node2 = %.2f", skewed, admShare(skewed))
		require.InDelta(t, 4.0, admShare(skewed), 1.5)
		require.Less(t, skewed[0], int64(300), "the reads stay on the replicas")
		load.requireNoErrors(t)
	})

	t.Run("stats and monitor tables show the live proxy", func(t *testing.T) {
		rows := p.rows(t, "SELECT srv_port, Queries FROM stats_mysql_connection_pool WHERE hostgroup = 20 ORDER BY srv_port")
		require.Len(t, rows, 2)
		for _, r := range rows {
			n, _ := strconv.Atoi(r[1])
			require.Greater(t, n, 1000, "queries on replica %s", r[0])
		}
		q := p.rows(t, "SELECT Variable_Value FROM stats_mysql_global WHERE Variable_Name = 'Queries_To_Reader'")
		n, _ := strconv.Atoi(q[0][0])
		require.Greater(t, n, 6000)
		require.Eventually(t, func() bool {
			r := p.rows(t, "SELECT COUNT(DISTINCT port) FROM monitor.mysql_server_ping_log WHERE ping_error IS NULL")
			return r[0][0] == "3"
		}, 30*time.Second, 100*time.Millisecond, "the monitor's pings of the three nodes")
		require.Eventually(t, func() bool {
			r := p.rows(t, "SELECT read_only FROM mysql_server_read_only_log WHERE port = "+strconv.Itoa(sb.Ports[0])+" LIMIT 1")
			return len(r) == 1 && r[0][0] == "0"
		}, 30*time.Second, 100*time.Millisecond, "the primary's read_only check")
		require.Equal(t, [][]string{{"ONLINE", "3"}}, p.rows(t, "SELECT status, COUNT(*) FROM runtime_mysql_servers GROUP BY status"))
	})

	t.Run("OFFLINE_SOFT drains a server", func(t *testing.T) { admOfflineSoft(t, p, load, nodes) })

	t.Run("remove and re-add a server", func(t *testing.T) {
		p.run(t, "DELETE FROM mysql_servers WHERE port="+node3, "LOAD MYSQL SERVERS TO RUNTIME")
		require.Empty(t, p.rows(t, "SELECT * FROM runtime_mysql_servers WHERE port="+node3))
		load.window(t, nodes, 500) // let sessions move off it
		gone := load.window(t, nodes, 3000)
		t.Logf("node3 removed -> Com_select %v", gone)
		require.Less(t, gone[2], int64(30), "a removed server gets no reads")
		require.Greater(t, gone[1], int64(2500))
		p.run(t, "INSERT INTO mysql_servers (hostgroup_id, hostname, port, max_connections, max_replication_lag) "+
			"VALUES (20, '127.0.0.1', "+node3+", 200, 10)", "LOAD MYSQL SERVERS TO RUNTIME")
		back := load.window(t, nodes, 3000)
		t.Logf("node3 re-added -> Com_select %v", back)
		require.InDelta(t, 1.0, admShare(back), 0.5)
		load.requireNoErrors(t)
	})

	t.Run("new user logs in through the proxy", func(t *testing.T) {
		ronly := fmt.Sprintf("ronly:ronly@tcp(%s)/%s", p.app.Addr(), admSchema)
		db, err := sql.Open("mysql", ronly)
		require.NoError(t, err)
		defer db.Close()
		require.EqualValues(t, 1045, myErr(t, db.Ping()).Number)
		p.run(t, "INSERT INTO mysql_users (username, password, default_hostgroup) VALUES ('ronly', 'ronly', 20)",
			"LOAD MYSQL USERS TO RUNTIME")
		var v int
		require.NoError(t, db.QueryRow("SELECT v FROM t WHERE id = 3").Scan(&v))
		require.Equal(t, 30, v)
	})

	t.Run("query rule sends a digest to the writer", func(t *testing.T) {
		c := conn(t, openDB(t, dsn(p.app.Addr(), "app", admSchema)))
		portOf := func() int {
			var port int
			require.NoError(t, c.QueryRowContext(context.Background(), "SELECT @@port AS rule_marker").Scan(&port))
			return port
		}
		require.NotEqual(t, sb.Ports[0], portOf(), "a plain read goes to a replica")
		p.run(t, "INSERT INTO mysql_query_rules (rule_id, active, match_digest, destination_hostgroup, apply) "+
			"VALUES (50, 1, 'rule_marker', 10, 1)", "LOAD MYSQL QUERY RULES TO RUNTIME")
		for range 20 {
			require.Equal(t, sb.Ports[0], portOf(), "the rule sends the statement to the writer")
		}
		rows := p.rows(t, "SELECT hostgroup, count_star FROM stats_mysql_query_digest WHERE digest_text LIKE '%rule_marker%' AND hostgroup = 10")
		require.Len(t, rows, 1, "the digest shows in stats_mysql_query_digest")
		n, _ := strconv.Atoi(rows[0][1])
		require.GreaterOrEqual(t, n, 20)
	})

	t.Run("SAVE TO DISK and restart", func(t *testing.T) {
		p.run(t, "UPDATE mysql_servers SET weight=4 WHERE port="+node3, "LOAD MYSQL SERVERS TO RUNTIME",
			"SAVE MYSQL SERVERS TO DISK", "SAVE MYSQL USERS TO DISK", "SAVE MYSQL QUERY RULES TO DISK")
		require.Equal(t, [][]string{{"4"}}, p.rows(t, "SELECT weight FROM disk.mysql_servers WHERE port="+node3))
		load.stop()
		load.requireNoErrors(t)
		p.close()

		// The same YAML file and datadir: the saved tables win.
		p2 := admStart(t, admYAML(datadir), datadir)
		require.Equal(t, [][]string{{"4"}}, p2.rows(t, "SELECT weight FROM runtime_mysql_servers WHERE port="+node3))
		require.Equal(t, [][]string{{"ronly"}}, p2.rows(t, "SELECT username FROM runtime_mysql_users WHERE username='ronly'"))
		require.Equal(t, [][]string{{"50", "rule_marker"}}, p2.rows(t, "SELECT rule_id, match_digest FROM runtime_mysql_query_rules"))
		var v int
		ronly := openDB(t, fmt.Sprintf("ronly:ronly@tcp(%s)/%s", p2.app.Addr(), admSchema))
		require.NoError(t, ronly.QueryRow("SELECT v FROM t WHERE id = 4").Scan(&v))
		load2 := admStartLoad(t, p2.app.Addr(), 4)
		skewed := load2.window(t, nodes, 3000)
		t.Logf("after restart -> Com_select %v, node3/node2 = %.2f", skewed, admShare(skewed))
		require.InDelta(t, 4.0, admShare(skewed), 1.5)
		load2.requireNoErrors(t)
	})
}

// admOfflineSoft puts the replica that holds an open read-only
// transaction OFFLINE_SOFT: it gets no new reads, and the transaction
// goes on there and commits.
func admOfflineSoft(t *testing.T, p *admProxy, load *admLoad, nodes [3]*sql.DB) {
	ctx := context.Background()
	c := conn(t, openDB(t, dsn(p.app.Addr(), "app", admSchema)))
	_, err := c.ExecContext(ctx, "START TRANSACTION READ ONLY")
	require.NoError(t, err)
	var port int
	require.NoError(t, c.QueryRowContext(ctx, "SELECT @@port").Scan(&port))
	idx := map[int]int{sb.Ports[1]: 1, sb.Ports[2]: 2}
	node, ok := idx[port]
	if !ok {
		t.Fatalf("the read-only transaction runs on port %d, not on a replica", port)
	}
	p.run(t, fmt.Sprintf("UPDATE mysql_servers SET status='OFFLINE_SOFT' WHERE port=%d", port), "LOAD MYSQL SERVERS TO RUNTIME")
	require.Equal(t, [][]string{{"OFFLINE_SOFT"}}, p.rows(t, fmt.Sprintf("SELECT status FROM runtime_mysql_servers WHERE port=%d", port)))
	load.window(t, nodes, 500) // sessions finish what they had in flight
	d := load.window(t, nodes, 3000)
	t.Logf("port %d OFFLINE_SOFT -> Com_select %v", port, d)
	require.Less(t, d[node], int64(30), "an OFFLINE_SOFT server gets no new reads")

	// The open transaction still runs there and commits.
	var again int
	require.NoError(t, c.QueryRowContext(ctx, "SELECT @@port").Scan(&again))
	require.Equal(t, port, again)
	_, err = c.ExecContext(ctx, "COMMIT")
	require.NoError(t, err)

	p.run(t, fmt.Sprintf("UPDATE mysql_servers SET status='ONLINE' WHERE port=%d", port), "LOAD MYSQL SERVERS TO RUNTIME")
	back := load.window(t, nodes, 3000)
	require.Greater(t, back[node], int64(300), "back ONLINE, it takes reads again")
	load.requireNoErrors(t)
}

// admCLI runs the mariadb client on the admin port: what it sends when it
// connects, SHOW statements, and a SELECT on every table.
func admCLI(t *testing.T, p *admProxy) {
	addr := p.app.AdminAddr()
	var tables []string
	for _, db := range []string{"main", "stats", "monitor"} {
		for _, r := range p.rows(t, "SHOW TABLES FROM "+db) {
			tables = append(tables, db+"."+r[0])
		}
	}
	require.Greater(t, len(tables), 20)
	script := []string{
		"select @@version_comment limit 1;",
		"SELECT DATABASE(), USER();",
		"SET NAMES utf8mb4;",
		"SET autocommit=1;",
		"SHOW DATABASES;",
		"SHOW TABLES;",
		"SHOW CREATE TABLE mysql_servers\\G",
		"SHOW VARIABLES LIKE 'mysql-max_connections';",
	}
	for _, tb := range tables {
		script = append(script, "SELECT COUNT(*) AS '"+tb+"' FROM "+tb+";", "SELECT * FROM "+tb+" LIMIT 3;")
	}
	res := runCLI(t, addr, "admin", "admin", strings.Join(script, "\n")+"\n")
	require.NoError(t, res.err, res.stderr)
	require.Empty(t, res.stderr)
	out := res.stdout
	require.Contains(t, out, "@@version_comment\nrwproxy admin\n")
	require.Contains(t, out, "DATABASE()\tUSER()\nmain\tadmin@127.0.0.1\n")
	require.Contains(t, out, "runtime_mysql_servers\n")
	require.Contains(t, out, "PRIMARY KEY (hostgroup_id, hostname, port)")
	require.Contains(t, out, "mysql-max_connections\t4096\n")
	for _, tb := range tables {
		require.Contains(t, out, tb+"\n", "SELECT on %s", tb)
	}

	// A wrong password and an error keep the CLI's usual shape.
	bad := runCLI(t, addr, "admin", "nope", "", "-e", "SELECT 1")
	require.Error(t, bad.err)
	require.True(t, strings.HasPrefix(bad.stderr, "ERROR 1045 (28000): Access denied for user 'admin'@"), bad.stderr)
	res = runCLI(t, addr, "admin", "admin", "", "-e", "UPDATE mysql_servers SET port='x'")
	require.Error(t, res.err)
	require.Contains(t, res.stderr, "ERROR 1366 (HY000) at line 1: cannot store TEXT value in INTEGER column mysql_servers.port")

	// Interactive: the CLI's own connect-time queries and table-name
	// completion (COM_FIELD_LIST for every table of the schema).
	if _, err := exec.LookPath("script"); err == nil {
		admInteractiveCLI(t, addr)
	}
}

// admInteractiveCLI runs the CLI on a pseudo-terminal (script(1)), where
// it behaves as for a person: it reads @@version_comment and, with a
// schema, builds its completion list.
func admInteractiveCLI(t *testing.T, addr string) {
	host, port, _ := strings.Cut(addr, ":")
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	cli := fmt.Sprintf("mariadb --no-defaults --protocol=TCP -h %s -P %s -uadmin -padmin --auto-rehash main", host, port)
	cmd := exec.CommandContext(ctx, "script", "-qec", cli, "/dev/null")
	cmd.Stdin = strings.NewReader("SELECT COUNT(*) FROM mysql_servers;\nUSE stats\nstatus\nquit\n")
	out, err := cmd.CombinedOutput()
	require.NoError(t, err, string(out))
	s := string(out)
	require.Contains(t, s, "Server version: "+admin.Version+" rwproxy admin")
	require.NotContains(t, s, "ERROR")
	require.Contains(t, s, "| COUNT(*) |")
	require.Contains(t, s, "Database changed")
	require.Contains(t, s, "Current database:\tstats")
}
