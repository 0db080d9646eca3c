package testkit

import (
	"database/sql"
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/go-sql-driver/mysql"
	"github.com/stretchr/testify/require"
)

// sandboxTestBasePort is the test's first port unless
// RWPROXY_TESTKIT_BASE_PORT says another.
const sandboxTestBasePort = 23400

func TestSandbox(t *testing.T) {
	RequireTools(t, "mariadbd", "mariadb", "mariadb-install-db", "mariadb-admin")
	if testing.Short() && os.Getenv("CI") != "true" {
		t.Skip("starts three MariaDB servers; skipped with -short")
	}

	base, err := BasePort("RWPROXY_TESTKIT_BASE_PORT", sandboxTestBasePort, 3)
	require.NoError(t, err)
	sb, err := StartSandbox(base)
	require.NoError(t, err)
	t.Cleanup(func() { _ = sb.Stop() })
	require.Equal(t, []int{base, base + 1, base + 2}, sb.Ports)
	require.Equal(t, fmt.Sprintf("127.0.0.1:%d", base+1), sb.Addr(2))

	dbs := make([]*sql.DB, 4)
	for n := 1; n <= 3; n++ {
		dbs[n] = openDB(t, sb.DSN(n, "app", "app"))
	}

	t.Run("write on primary reaches both replicas", func(t *testing.T) {
		_, err := dbs[1].Exec("CREATE TABLE app.sandbox_probe (id INT PRIMARY KEY, v VARCHAR(32))")
		require.NoError(t, err)
		_, err = dbs[1].Exec("INSERT INTO app.sandbox_probe VALUES (1, 'from-primary')")
		require.NoError(t, err)
		for _, n := range []int{2, 3} {
			require.Eventually(t, func() bool {
				var v string
				err := dbs[n].QueryRow("SELECT v FROM app.sandbox_probe WHERE id = 1").Scan(&v)
				return err == nil && v == "from-primary"
			}, 30*time.Second, 50*time.Millisecond, "node%d never saw the row", n)
		}
	})

	t.Run("app cannot write on a replica", func(t *testing.T) {
		_, err := dbs[2].Exec("INSERT INTO app.sandbox_probe VALUES (2, 'on-replica')")
		var myErr *mysql.MySQLError
		require.ErrorAs(t, err, &myErr)
		require.Equal(t, uint16(1290), myErr.Number, "want ER_OPTION_PREVENTS_STATEMENT (read_only)")
	})

	t.Run("sql runs as superuser over the socket", func(t *testing.T) {
		out, err := sb.SQL(3, "SELECT @@global.read_only, @@port")
		require.NoError(t, err)
		require.Equal(t, "1\t23402", strings.TrimSpace(out))
	})

	t.Run("up is idempotent", func(t *testing.T) {
		before := mariadbdPIDs(t, sb.Dir)
		require.Len(t, before, 3)
		out, err := sb.Run("up")
		require.NoError(t, err)
		require.Equal(t, 3, strings.Count(out, "alive=yes"), out)
		require.ElementsMatch(t, before, mariadbdPIDs(t, sb.Dir), "up restarted servers")
		var n int
		require.NoError(t, dbs[3].QueryRow("SELECT COUNT(*) FROM app.sandbox_probe").Scan(&n))
		require.Equal(t, 1, n)
	})

	t.Run("lag injection", func(t *testing.T) {
		out, err := sb.Run("lag", "3", "stop-sql")
		require.NoError(t, err)
		require.Contains(t, out, "sql=No seconds_behind=NULL")
		out, err = sb.Run("lag", "3", "clear")
		require.NoError(t, err)
		require.Contains(t, out, "io=Yes sql=Yes")
		_, err = sb.Run("lag", "1", "clear")
		require.Error(t, err, "the primary has no replication to delay")
	})

	t.Run("switchover, failover and rejoin", func(t *testing.T) {
		insert := func(node, id int) {
			t.Helper()
			_, err := dbs[node].Exec("INSERT INTO app.sandbox_probe VALUES (?, 'x')", id)
			require.NoError(t, err, "insert on node%d", node)
		}
		_, err := sb.Run("promote", "2") // switchover: node1 is alive
		require.NoError(t, err)
		insert(2, 10)
		_, err = dbs[1].Exec("INSERT INTO app.sandbox_probe VALUES (11, 'x')")
		require.Error(t, err, "the old primary must be read-only")

		_, err = sb.Run("kill", "2")
		require.NoError(t, err)
		_, err = sb.Run("promote", "3") // failover: node2 is dead
		require.NoError(t, err)
		insert(3, 12)
		_, err = sb.Run("start", "2") // the dead primary rejoins as a replica
		require.NoError(t, err)
		env, err := sb.Run("env")
		require.NoError(t, err)
		require.Contains(t, env, fmt.Sprintf("SANDBOX_PRIMARY_PORT=%d", base+2))
		require.Contains(t, env, fmt.Sprintf("SANDBOX_REPLICA_PORTS=%d,%d", base, base+1))

		dbs[2] = openDB(t, sb.DSN(2, "app", "app")) // the old pool's connections died with node2
		for n := 1; n <= 3; n++ {
			require.Eventually(t, func() bool {
				var c int
				err := dbs[n].QueryRow("SELECT COUNT(*) FROM app.sandbox_probe").Scan(&c)
				return err == nil && c == 3
			}, 30*time.Second, 50*time.Millisecond, "node%d is missing rows", n)
		}
	})

	t.Run("down leaves nothing behind", func(t *testing.T) {
		for _, db := range dbs[1:] {
			_ = db.Close()
		}
		require.NoError(t, sb.Stop())
		require.Empty(t, mariadbdPIDs(t, sb.Dir))
		require.NoDirExists(t, sb.Dir)
		require.NoError(t, sb.Stop(), "a second down is a no-op")
	})
}

func openDB(t *testing.T, dsn string) *sql.DB {
	t.Helper()
	db, err := sql.Open("mysql", dsn)
	require.NoError(t, err)
	t.Cleanup(func() { _ = db.Close() })
	require.NoError(t, db.Ping())
	return db
}

// mariadbdPIDs lists live (non-zombie) mariadbd processes whose command line
// mentions dir.
func mariadbdPIDs(t *testing.T, dir string) []string {
	t.Helper()
	procs, err := filepath.Glob("/proc/[0-9]*")
	require.NoError(t, err)
	var pids []string
	for _, p := range procs {
		comm, err := os.ReadFile(filepath.Join(p, "comm"))
		if err != nil || strings.TrimSpace(string(comm)) != "mariadbd" {
			continue
		}
		cmdline, err := os.ReadFile(filepath.Join(p, "cmdline"))
		if err != nil || !strings.Contains(string(cmdline), dir) {
			continue // zombies have an empty cmdline
		}
		pids = append(pids, filepath.Base(p))
	}
	return pids
}
