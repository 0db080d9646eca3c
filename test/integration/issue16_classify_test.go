package integration

import (
	"context"
	"database/sql"
	"fmt"
	"io"
	"os"
	"path/filepath"
	"runtime"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/go-sql-driver/mysql"
	"github.com/stretchr/testify/require"

	"github.com/rwproxy/rwproxy/router"
)

// c16Schema is the schema of the classifier tests (locks, SQL mode,
// hints, LOAD DATA LOCAL).
const c16Schema = "rwc16"

var c16Once sync.Once

func c16Setup(t *testing.T) {
	t.Helper()
	needSandbox(t)
	c16Once.Do(func() {
		createSchema(t, c16Schema, []string{
			"CREATE TABLE tlock (id INT PRIMARY KEY)",
			"CREATE TABLE tfree (id INT PRIMARY KEY AUTO_INCREMENT, v INT)",
			"CREATE TABLE tnbe (id INT PRIMARY KEY, v VARCHAR(10))",
			"INSERT INTO tnbe VALUES (1, 'one'), (2, 'two'), (3, 'three')",
			"CREATE TABLE tload (id INT PRIMARY KEY, v VARCHAR(40))",
			"CREATE TABLE tbig (id INT PRIMARY KEY, v VARCHAR(200))",
		})
	})
}

// c16Sess opens a new client session (its own connection) in the schema.
func c16Sess(t *testing.T, addr string, params ...string) *sql.Conn {
	t.Helper()
	return conn(t, openDB(t, dsn(addr, "app", c16Schema, params...)))
}

// c16ConnID identifies the backend connection a session's statement ran
// on: its server's port and CONNECTION_ID() there (a read may run on a
// replica, whose ids are its own).
func c16ConnID(t *testing.T, c *sql.Conn) string {
	t.Helper()
	r := spQuery(t, c, "SELECT CONNECTION_ID(), @@port")[0]
	return r[0] + "@" + r[1]
}

// TestLocksNeverLeak: a session that takes a connection-scoped lock the
// TiDB parser cannot parse keeps its backend connection (counted under its
// pin reason), so no other session ever gets a connection holding the
// lock: their writes to another table succeed (on the locked connection
// they would fail with 1100, "table was not locked"), and their
// CONNECTION_ID() is never the locker's.
func TestLocksNeverLeak(t *testing.T) {
	c16Setup(t)
	a := spProxy(t, nil)
	cases := []struct {
		lock, unlock, reason string
		locksTables          bool // the locker itself can then touch tlock only
	}{
		{"LOCK TABLES tlock WRITE NOWAIT", "UNLOCK TABLES", "lock_tables", true},
		{"LOCK TABLE tlock WRITE WAIT 5", "UNLOCK TABLES", "lock_tables", true},
		{"FLUSH TABLES tlock FOR EXPORT", "UNLOCK TABLES", "lock_tables", true},
		{"BACKUP LOCK tlock", "BACKUP UNLOCK", "backup_lock", false},
		{"BACKUP STAGE START", "BACKUP STAGE END", "backup_stage", false},
		{"INSERT INTO tfree (v) VALUES (1) RETURNING id", "", "", false},
		{"BACKUP STAGE START; SELECT 1", "BACKUP STAGE END", "unparsed_statement", false},
	}
	for _, tc := range cases {
		t.Run(tc.lock, func(t *testing.T) {
			pinsBefore := map[string]uint64{}
			for _, r := range []string{"lock_tables", "backup_lock", "backup_stage", "unparsed_statement"} {
				pinsBefore[r] = spPins(a, r)
			}
			ldb := openDB(t, dsn(a.Addr(), "app", c16Schema, "multiStatements=true"))
			locker := conn(t, ldb)
			_, err := locker.ExecContext(context.Background(), tc.lock)
			require.NoError(t, err, tc.lock)
			lockID := c16ConnID(t, locker)
			for r, n := range pinsBefore {
				if r == tc.reason {
					require.Equal(t, n+1, spPins(a, r), "pin reason %s not counted", r)
				} else {
					require.Equal(t, n, spPins(a, r), "pin reason %s counted for %q", r, tc.lock)
				}
			}
			if tc.reason == "" {
				return // a stateless shape the parser rejects does not pin
			}
			if tc.locksTables {
				// The lock is on the locker's connection.
				_, err := locker.ExecContext(context.Background(), "INSERT INTO tfree (v) VALUES (2)")
				require.Equal(t, uint16(1100), myErr(t, err).Number)
			}
			for i := 0; i < 6; i++ {
				other := c16Sess(t, a.Addr())
				spExec(t, other, "INSERT INTO tfree (v) VALUES (3)")
				for j := 0; j < 3; j++ {
					require.NotEqual(t, lockID, c16ConnID(t, other), "session %d got the locked connection", i)
				}
			}
			require.Equal(t, lockID, c16ConnID(t, locker), "the locker lost its connection")
			spExec(t, locker, tc.unlock)
			if tc.reason == "unparsed_statement" {
				// Still pinned (rwproxy cannot know what the statement
				// left behind): when the client goes, the backend
				// connection is closed, not reset and pooled.
				require.NoError(t, locker.Close())
				require.NoError(t, ldb.Close())
				id := strings.Split(lockID, "@")[0]
				direct := openDB(t, dsn(primary(), "app", ""))
				require.Eventually(t, func() bool {
					var n int
					err := direct.QueryRow("SELECT COUNT(*) FROM information_schema.PROCESSLIST WHERE ID = " + id).Scan(&n)
					return err == nil && n == 0
				}, 30*time.Second, 20*time.Millisecond, "backend connection %s still open", lockID)
			}
		})
	}
}

// TestSQLModeRouting: under the session's NO_BACKSLASH_ESCAPES a string
// ending in a backslash ends there, so "SELECT 'a\'; DELETE ...; -- '" is
// a SELECT and a DELETE: it must run on the writer (a replica would
// refuse the DELETE as read-only, or worse, a lagging one would lose it).
func TestSQLModeRouting(t *testing.T) {
	c16Setup(t)
	a := spProxy(t, nil)
	c := c16Sess(t, a.Addr(), "multiStatements=true")
	spExec(t, c, "SET SESSION sql_mode = CONCAT(@@sql_mode, ',NO_BACKSLASH_ESCAPES')")
	writes := a.Stats.Routes[router.ReasonWrite].Load()
	rows, err := c.QueryContext(context.Background(), `SELECT 'a\', @@port; DELETE FROM tnbe WHERE id = 1; -- '`)
	require.NoError(t, err)
	require.True(t, rows.Next())
	var s string
	var port int
	require.NoError(t, rows.Scan(&s, &port))
	require.Equal(t, `a\`, s)
	require.Equal(t, 1, nodeOf(port), "the multi-statement ran on node%d", nodeOf(port))
	for rows.NextResultSet() {
	}
	require.NoError(t, rows.Err())
	require.NoError(t, rows.Close())
	require.Greater(t, a.Stats.Routes[router.ReasonWrite].Load(), writes)
	direct := openDB(t, dsn(primary(), "app", c16Schema))
	require.Equal(t, [][]string{{"0"}}, spQuery(t, direct, "SELECT COUNT(*) FROM tnbe WHERE id = 1"))
	// A plain read under the same mode still goes to a replica.
	spEventuallyOnReplica(t, c, `SELECT 'C:\dir\', v, @@port FROM tnbe WHERE id = 2`, `C:\dir\`, "two")
}

// TestHintsInAnyComment: hints right after the first keyword, at the end,
// and in sqlcommenter form route as a leading hint does; an optimizer
// hint is not a routing hint.
func TestHintsInAnyComment(t *testing.T) {
	spRouteSetup(t)
	a := spProxy(t, nil)
	cases := []struct {
		name, query string
		nodes       []int
	}{
		{"after the keyword", "SELECT /* rwproxy:writer */ v, @@port FROM t_norule WHERE id = 7", []int{1}},
		{"at the end", "SELECT v, @@port FROM t_norule WHERE id = 7 /* rwproxy:writer */", []int{1}},
		{"sqlcommenter", "SELECT v, @@port FROM t_norule WHERE id = 7 /*action='show',rwproxy='writer'*/", []int{1}},
		{"sqlcommenter hostgroup", "SELECT v, @@port FROM t_norule WHERE id = 7 /*rwproxy='hostgroup%3D20'*/", []int{2, 3}},
		{"optimizer hint is no routing hint", "SELECT /*+ rwproxy:writer */ v, @@port FROM t_norule WHERE id = 7", []int{2, 3}},
		{"mid-statement comment is no hint", "SELECT v, /* rwproxy:writer */ @@port FROM t_norule WHERE id = 7", []int{2, 3}},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			c := spRouteSess(t, a.Addr())
			seen := map[int]int{}
			for i := 0; i < 6; i++ {
				vals, node := spRow(t, c, tc.query)
				require.Equal(t, []string{"v7"}, vals)
				require.Contains(t, tc.nodes, node, "%s ran on node%d", tc.query, node)
				seen[node]++
			}
			require.Len(t, seen, len(tc.nodes), "runs by node: %v", seen)
		})
	}
}

// c16Rows writes n CSV rows "i,row-i" to a file and returns its path.
func c16Rows(t *testing.T, n int) string {
	t.Helper()
	p := filepath.Join(t.TempDir(), "rows.csv")
	var b strings.Builder
	for i := 1; i <= n; i++ {
		fmt.Fprintf(&b, "%d,row-%d\n", i, i)
	}
	require.NoError(t, os.WriteFile(p, []byte(b.String()), 0o600))
	return p
}

// c16Count counts rows of table on the primary, directly.
func c16Count(t *testing.T, table string) string {
	t.Helper()
	direct := openDB(t, dsn(primary(), "app", c16Schema))
	return spQuery(t, direct, "SELECT COUNT(*) FROM "+table)[0][0]
}

// c16Gen produces n CSV rows lazily, never holding more than one row.
type c16Gen struct {
	i, n int
	buf  []byte
	pad  string
}

func (g *c16Gen) Read(p []byte) (int, error) {
	for len(g.buf) == 0 {
		if g.i >= g.n {
			return 0, io.EOF
		}
		g.i++
		g.buf = strconv.AppendInt(g.buf[:0], int64(g.i), 10)
		g.buf = append(append(append(g.buf, ','), g.pad...), '\n')
	}
	k := copy(p, g.buf)
	g.buf = g.buf[k:]
	return k, nil
}

// TestLoadDataLocal: LOAD DATA LOCAL INFILE through the proxy, with
// go-sql-driver (a registered file, a streamed reader of ~64 MB whose
// load must not grow the heap by anything near its size) and the mariadb
// CLI; and the refusals, from the driver itself and from the proxy when
// the CLI does not enable local files.
func TestLoadDataLocal(t *testing.T) {
	c16Setup(t)
	a := spProxy(t, nil)
	t.Run("go-sql-driver file", func(t *testing.T) {
		path := c16Rows(t, 1000)
		mysql.RegisterLocalFile(path)
		t.Cleanup(func() { mysql.DeregisterLocalFile(path) })
		c := c16Sess(t, a.Addr())
		spExec(t, c, "DELETE FROM tload")
		res := spExec(t, c, "LOAD DATA LOCAL INFILE '"+path+"' INTO TABLE tload FIELDS TERMINATED BY ','")
		n, err := res.RowsAffected()
		require.NoError(t, err)
		require.Equal(t, int64(1000), n)
		require.Equal(t, "1000", c16Count(t, "tload"))
		// The session goes on normally on the same client connection.
		vals, node := spRow(t, c, "SELECT COUNT(*), @@port FROM tload /* rwproxy:writer */")
		require.Equal(t, []string{"1000"}, vals)
		require.Equal(t, 1, node)
	})
	t.Run("go-sql-driver refuses an unregistered file", func(t *testing.T) {
		c := c16Sess(t, a.Addr())
		spExec(t, c, "DELETE FROM tload")
		_, err := c.ExecContext(context.Background(), "LOAD DATA LOCAL INFILE '/nonexistent/x.csv' INTO TABLE tload")
		require.Error(t, err)
		require.Contains(t, err.Error(), "not registered")
		vals, node := spRow(t, c, "SELECT COUNT(*), @@port FROM tload /* rwproxy:writer */")
		require.Equal(t, []string{"0"}, vals)
		require.Equal(t, 1, node)
	})
	t.Run("go-sql-driver streamed reader stays bounded", func(t *testing.T) {
		const rows = 330_000 // ~64 MB
		pad := strings.Repeat("x", 190)
		mysql.RegisterReaderHandler("c16big", func() io.Reader { return &c16Gen{n: rows, pad: pad} })
		t.Cleanup(func() { mysql.DeregisterReaderHandler("c16big") })
		c := c16Sess(t, a.Addr())
		spExec(t, c, "TRUNCATE TABLE tbig")
		runtime.GC()
		var ms runtime.MemStats
		runtime.ReadMemStats(&ms)
		base := ms.HeapInuse
		var peak atomic.Uint64
		done := make(chan struct{})
		sampled := make(chan struct{})
		go func() {
			defer close(sampled)
			var m runtime.MemStats
			for {
				runtime.ReadMemStats(&m)
				if m.HeapInuse > peak.Load() {
					peak.Store(m.HeapInuse)
				}
				select {
				case <-done:
					return
				default:
					runtime.Gosched()
				}
			}
		}()
		res, err := c.ExecContext(context.Background(), "LOAD DATA LOCAL INFILE 'Reader::c16big' INTO TABLE tbig FIELDS TERMINATED BY ','")
		close(done)
		<-sampled
		require.NoError(t, err)
		n, err := res.RowsAffected()
		require.NoError(t, err)
		require.Equal(t, int64(rows), n)
		require.Equal(t, fmt.Sprint(rows), c16Count(t, "tbig"))
		growth := int64(peak.Load()) - int64(base)
		t.Logf("heap in use: base %d MiB, peak %d MiB", base>>20, peak.Load()>>20)
		require.Less(t, growth, int64(32<<20), "heap grew by %d MiB while streaming a 64 MB file", growth>>20)
	})
	t.Run("mariadb CLI", func(t *testing.T) {
		needSandbox(t)
		path := c16Rows(t, 250)
		spExec(t, openDB(t, dsn(primary(), "app", c16Schema)), "DELETE FROM tload")
		r := runCLI(t, a.Addr(), "app", "app", "", "--local-infile=1", c16Schema, "-e",
			"LOAD DATA LOCAL INFILE '"+path+"' INTO TABLE tload FIELDS TERMINATED BY ','; SELECT ROW_COUNT()")
		require.NoError(t, r.err, r.stderr)
		require.Equal(t, "ROW_COUNT()\n250\n", r.stdout)
		require.Equal(t, "250", c16Count(t, "tload"))
		// Without --local-infile the client did not enable local files:
		// refused with the error a server gives (compare with direct).
		q := "LOAD DATA LOCAL INFILE '" + path + "' INTO TABLE tload FIELDS TERMINATED BY ','"
		direct := runCLI(t, primary(), "app", "app", "", "--local-infile=0", c16Schema, "-e", q)
		proxied := runCLI(t, a.Addr(), "app", "app", "", "--local-infile=0", c16Schema, "-e", q)
		require.Error(t, direct.err)
		require.Error(t, proxied.err)
		t.Logf("direct: %s proxied: %s", direct.stderr, proxied.stderr)
		require.Contains(t, direct.stderr, "4166")
		require.Contains(t, proxied.stderr, "4166")
		require.Equal(t, "250", c16Count(t, "tload"))
	})
}
