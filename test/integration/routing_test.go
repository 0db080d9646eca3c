package integration

import (
	"context"
	"database/sql"
	"strconv"
	"sync"
	"testing"
	"time"

	"github.com/stretchr/testify/require"

	"github.com/rwproxy/rwproxy/config"
	"github.com/rwproxy/rwproxy/router"
)

// spRouteSchema is the routing tests' schema.
const spRouteSchema = "rwroute"

var spRouteDDL = []string{
	"CREATE TABLE t_rule (id INT PRIMARY KEY, v VARCHAR(10))",
	"INSERT INTO t_rule VALUES (1, 'r1'), (2, 'r2')",
	"CREATE TABLE t_norule (id INT PRIMARY KEY, v VARCHAR(10))",
	"INSERT INTO t_norule SELECT seq, CONCAT('v', seq) FROM seq_1_to_100",
	"CREATE TABLE thint (id INT PRIMARY KEY)",
	"CREATE TABLE tlo (id INT PRIMARY KEY)",
	"INSERT INTO tlo VALUES (1), (2), (3)",
	"CREATE TABLE tv (a INT) WITH SYSTEM VERSIONING",
	"INSERT INTO tv VALUES (1)",
	"UPDATE tv SET a = 2",
}

var spRouteOnce sync.Once

// spRouteSetup creates the routing schema once per test binary.
func spRouteSetup(t *testing.T) {
	t.Helper()
	needSandbox(t)
	done := false
	spRouteOnce.Do(func() {
		createSchema(t, spRouteSchema, spRouteDDL)
		done = true
	})
	if !done {
		// Another test created it; make sure it exists (a failed first
		// attempt leaves Once done).
		rows := spQuery(t, openDB(t, dsn(primary(), "app", "")),
			"SELECT COUNT(*) FROM information_schema.TABLES WHERE TABLE_SCHEMA = '"+spRouteSchema+"' AND TABLE_NAME = 'tv'")
		require.Equal(t, [][]string{{"1"}}, rows, "routing schema missing")
	}
}

// spRouteSess opens a new client session to the proxy at addr in the
// routing schema.
func spRouteSess(t *testing.T, addr string) *sql.Conn {
	t.Helper()
	return conn(t, openDB(t, dsn(addr, "app", spRouteSchema)))
}

// TestHints checks the rwproxy routing hints, sent with go-sql-driver
// (which keeps comments), as text and as prepared statements.
func TestHints(t *testing.T) {
	spRouteSetup(t)
	a := spProxy(t, nil)
	cases := []struct {
		name  string
		query string
		args  []any
		nodes []int // where every run must go
	}{
		{"writer hint on a read", "/* rwproxy:writer */ SELECT v, @@port FROM t_norule WHERE id = 7", nil, []int{1}},
		{"writer hint on a prepared read", "/* rwproxy:writer */ SELECT v, @@port FROM t_norule WHERE id = ?", []any{7}, []int{1}},
		{"hostgroup=20 hint on a read", "/* rwproxy:hostgroup=20 */ SELECT v, @@port FROM t_norule WHERE id = 7", nil, []int{2, 3}},
		{"hostgroup=10 hint on a read", "/* rwproxy:hostgroup=10 */ SELECT v, @@port FROM t_norule WHERE id = 7", nil, []int{1}},
		{"reader hint on a read", "/* rwproxy:reader */ SELECT v, @@port FROM t_norule WHERE id = 7", nil, []int{2, 3}},
		{"reader hint on a locking read", "/* rwproxy:reader */ SELECT v, @@port FROM t_norule WHERE id = 7 FOR UPDATE", nil, []int{1}},
		{"no hint", "SELECT v, @@port FROM t_norule WHERE id = 7", nil, []int{2, 3}},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			c := spRouteSess(t, a.Addr())
			seen := map[int]int{}
			for i := 0; i < 4; i++ {
				vals, node := spRow(t, c, tc.query, tc.args...)
				require.Equal(t, []string{"v7"}, vals)
				require.Contains(t, tc.nodes, node, "%s ran on node%d", tc.query, node)
				seen[node]++
			}
			require.Len(t, seen, len(tc.nodes), "runs by node: %v", seen)
		})
	}
	t.Run("reader hint on a write runs on the writer", func(t *testing.T) {
		writes := a.Stats.Routes[router.ReasonWrite].Load()
		c := spRouteSess(t, a.Addr())
		// The replicas are read_only: the insert only succeeds on the writer.
		spExec(t, c, "/* rwproxy:reader */ INSERT INTO thint VALUES (1)")
		require.Greater(t, a.Stats.Routes[router.ReasonWrite].Load(), writes)
		rows := spQuery(t, openDB(t, dsn(primary(), "app", spRouteSchema)), "SELECT COUNT(*) FROM thint WHERE id = 1")
		require.Equal(t, [][]string{{"1"}}, rows)
	})
}

// TestQueryRules checks a match_digest rule that sends reads of one table
// to the writer and an error_msg rule.
func TestQueryRules(t *testing.T) {
	spRouteSetup(t)
	writer := 10
	const blocked = "rwproxy test: t_blocked is not allowed"
	a := spProxy(t, func(c *config.Config) {
		c.QueryRules = []config.QueryRule{
			{RuleID: 1, Active: true, MatchDigest: "^select .* from t_rule", DestinationHostgroup: &writer, Apply: true},
			{RuleID: 2, Active: true, MatchPattern: "t_blocked", ErrorMsg: blocked, Apply: true},
		}
	})
	cases := []struct {
		name  string
		query string
		args  []any
		want  string
		nodes []int
	}{
		{"digest rule sends a read to the writer", "SELECT v, @@port FROM t_rule WHERE id = 1", nil, "r1", []int{1}},
		{"digest rule on a prepared read", "SELECT v, @@port FROM t_rule WHERE id = ?", []any{2}, "r2", []int{1}},
		{"other reads still go to the replicas", "SELECT v, @@port FROM t_norule WHERE id = 3", nil, "v3", []int{2, 3}},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			rules := a.Stats.Routes[router.ReasonRule].Load()
			c := spRouteSess(t, a.Addr())
			for i := 0; i < 4; i++ {
				vals, node := spRow(t, c, tc.query, tc.args...)
				require.Equal(t, []string{tc.want}, vals)
				require.Contains(t, tc.nodes, node, "%s ran on node%d", tc.query, node)
			}
			if tc.nodes[0] == 1 {
				require.GreaterOrEqual(t, a.Stats.Routes[router.ReasonRule].Load(), rules+4)
			}
		})
	}
	t.Run("error_msg rule answers with its error", func(t *testing.T) {
		c := spRouteSess(t, a.Addr())
		// t_blocked does not exist: a server would answer 1146.
		for _, args := range [][]any{nil, {1}} {
			q := "SELECT * FROM t_blocked"
			if args != nil {
				q += " WHERE id = ?"
			}
			_, err := c.QueryContext(context.Background(), q, args...)
			me := myErr(t, err)
			require.Equal(t, blocked, me.Message, q)
			require.Equal(t, uint16(1105), me.Number)
		}
		// The session goes on.
		vals, _ := spRow(t, c, "SELECT v, @@port FROM t_rule WHERE id = 1")
		require.Equal(t, []string{"r1"}, vals)
	})
}

// TestRouting checks balancing, reader fallback, parse errors and
// prepared reads against the real replicas.
func TestRouting(t *testing.T) {
	spRouteSetup(t)
	nodes := spOpenNodes(t)

	t.Run("replica weights 1:3", func(t *testing.T) {
		a := spProxy(t, func(c *config.Config) { c.Servers[1].Weight, c.Servers[2].Weight = 1, 3 })
		c := spRouteSess(t, a.Addr())
		before := nodes.appSelects(t)
		seen := map[int]int{}
		const n = 400
		for i := 0; i < n; i++ {
			id := strconv.Itoa(i%100 + 1)
			vals, node := spRow(t, c, "SELECT v, @@port FROM t_norule WHERE id = "+id)
			require.Equal(t, []string{"v" + id}, vals)
			seen[node]++
		}
		delta := nodes.appSelectsAfter(t, before, n)
		t.Logf("reads by node: %v; SELECTs by user app per node %v", seen, delta)
		require.Zero(t, seen[1], "point selects on the writer")
		require.InDelta(t, 25, 100*float64(seen[2])/n, 5, "node2 share (weight 1 of 4): %v", seen)
		require.InDelta(t, 75, 100*float64(seen[3])/n, 5, "node3 share (weight 3 of 4): %v", seen)
		require.Equal(t, [3]int64{0, int64(seen[2]), int64(seen[3])}, delta, "the nodes' own counters disagree")
	})

	t.Run("least_outstanding", func(t *testing.T) {
		a := spProxy(t, func(c *config.Config) {
			c.HostgroupAttributes = []config.HostgroupAttributes{{HostgroupID: 20, Balance: config.BalanceLeastOutstanding}}
		})
		seen := spParallelReads(t, a.Addr(), 8, func(i int, _ map[int]int) bool { return i < 50 })
		t.Logf("reads by node: %v", seen)
		require.Zero(t, seen[1], "least_outstanding sent reads to the writer")
		require.Equal(t, 400, seen[2]+seen[3])
		require.Greater(t, seen[2], 40, "node2 hardly used: %v", seen)
		require.Greater(t, seen[3], 40, "node3 hardly used: %v", seen)

		// Make node2 slow: its tlo is write-locked until the test has seen
		// enough reads (or 60 s), so every read of tlo sent there waits.
		// Least outstanding keeps most clients on node3 meanwhile;
		// round-robin would park all of them on node2. The window is
		// counted in reads, not timed, so a loaded machine only makes it
		// longer.
		locked := make(chan error, 1)
		go func() {
			_, err := sb.SQL(2, "LOCK TABLES "+spRouteSchema+".tlo WRITE; SELECT SLEEP(60); UNLOCK TABLES")
			locked <- err
		}()
		n2 := openDB(t, dsn(sb.Addr(2), "app", ""))
		stallID := func() (id int64) {
			err := n2.QueryRow("SELECT ID FROM information_schema.PROCESSLIST WHERE INFO LIKE 'SELECT SLEEP(60)%'").Scan(&id)
			if err != nil {
				return 0
			}
			return id
		}
		require.Eventually(t, func() bool { return stallID() != 0 }, 30*time.Second, 10*time.Millisecond, "node2 never locked tlo")
		// Each client can wait on node2 once. Round-robin parks every client
		// there within about two reads; least outstanding only when node3
		// has as many reads in flight, or when both random draws are node2
		// (1 in 32), so the last clients keep reading node3 until it has
		// served 5 reads per client; then the lock is released (KILL QUERY
		// ends the SLEEP early) and the parked reads finish.
		const clients = 16
		var release sync.Once
		seen = spParallelReads(t, a.Addr(), clients, func(_ int, seen map[int]int) bool {
			if seen[3] < 5*clients {
				return true
			}
			release.Do(func() {
				if id := stallID(); id != 0 {
					if _, err := sb.SQL(2, "KILL QUERY "+strconv.FormatInt(id, 10)); err != nil {
						t.Errorf("ending node2's lock: %v", err) // a client goroutine: no FailNow
					}
				}
			})
			return false
		})
		if err := <-locked; err != nil {
			// MariaDB may answer the killed SLEEP with 1317; the CLI then
			// exits, which releases the lock as UNLOCK TABLES would.
			require.Contains(t, err.Error(), "interrupted", "node2's lock session")
		}
		t.Logf("with node2 stalled, reads by node: %v", seen)
		require.Zero(t, seen[1])
		require.LessOrEqual(t, seen[2], clients, "each client can wait on node2 once")
		require.GreaterOrEqual(t, seen[3], 5*clients, "least_outstanding did not keep clients off the stalled node2: %v", seen)
	})

	t.Run("reader fallback", func(t *testing.T) {
		noWeight := func(c *config.Config) { c.Servers[1].Weight, c.Servers[2].Weight = 0, 0 }
		offline := func(c *config.Config) {
			c.Servers[1].Status, c.Servers[2].Status = config.StatusOfflineHard, config.StatusOfflineHard
		}
		cases := []struct {
			name     string
			edit     func(*config.Config)
			fallback string
		}{
			{"replicas at weight 0, fallback to the writer", noWeight, config.ReaderFallbackWriter},
			{"replicas OFFLINE_HARD, fallback to the writer", offline, config.ReaderFallbackWriter},
			{"replicas at weight 0, fallback error", noWeight, config.ReaderFallbackError},
			{"replicas OFFLINE_HARD, fallback error", offline, config.ReaderFallbackError},
		}
		for _, tc := range cases {
			t.Run(tc.name, func(t *testing.T) {
				a := spProxy(t, func(c *config.Config) { tc.edit(c); c.ReaderFallback = tc.fallback })
				// No maxAllowedPacket=0 here: the driver would read
				// @@max_allowed_packet at login, a plain read that fails
				// with fallback error.
				c := conn(t, openDB(t, "app:app@tcp("+a.Addr()+")/"+spRouteSchema))
				for i := 0; i < 3; i++ {
					if tc.fallback == config.ReaderFallbackWriter {
						vals, node := spRow(t, c, "SELECT v, @@port FROM t_norule WHERE id = 5")
						require.Equal(t, []string{"v5"}, vals)
						require.Equal(t, 1, node)
						continue
					}
					_, err := c.QueryContext(context.Background(), "SELECT v, @@port FROM t_norule WHERE id = 5")
					require.Equal(t, uint16(9001), myErr(t, err).Number, "want the no-backend error, got %v", err)
				}
				if tc.fallback == config.ReaderFallbackWriter {
					require.GreaterOrEqual(t, a.Stats.ReaderFallbacks.Load(), uint64(3))
				} else {
					require.Zero(t, a.Stats.ReaderFallbacks.Load())
				}
				// Statements for the writer are unaffected.
				vals, node := spRow(t, c, "/* rwproxy:writer */ SELECT v, @@port FROM t_norule WHERE id = 6")
				require.Equal(t, []string{"v6"}, vals)
				require.Equal(t, 1, node)
			})
		}
	})

	t.Run("parse errors go to the writer", func(t *testing.T) {
		a := spProxy(t, nil)
		direct := openDB(t, dsn(primary(), "app", spRouteSchema))
		cases := []struct{ name, query string }{
			{"FOR SYSTEM_TIME", "SELECT a, @@port FROM tv FOR SYSTEM_TIME ALL ORDER BY a"},
			{"SET STATEMENT ... FOR SELECT", "SET STATEMENT max_statement_time=10 FOR SELECT v, @@port FROM t_norule WHERE id <= 2 ORDER BY id"},
		}
		for _, tc := range cases {
			t.Run(tc.name, func(t *testing.T) {
				c := spRouteSess(t, a.Addr())
				parseErrs, routed := router.ParseErrors(), a.Stats.Routes[router.ReasonParseError].Load()
				want := spQuery(t, direct, tc.query)
				got := spQuery(t, c, tc.query)
				require.Equal(t, want, got, "result differs from the primary's")
				require.Equal(t, strconv.Itoa(sb.Ports[0]), got[0][len(got[0])-1], "ran on another node than the writer")
				require.Greater(t, router.ParseErrors(), parseErrs, "the classifier did not report a parse error")
				require.Equal(t, routed+1, a.Stats.Routes[router.ReasonParseError].Load())
			})
		}
	})

	t.Run("prepared read executes on a replica", func(t *testing.T) {
		a := spProxy(t, nil)
		db := openDB(t, dsn(a.Addr(), "app", spRouteSchema))
		before := [2][3]int64{nodes.status(t, "Com_stmt_prepare"), nodes.status(t, "Com_stmt_execute")}
		st, err := db.Prepare("SELECT v, @@port FROM t_norule WHERE id = ?")
		require.NoError(t, err)
		t.Cleanup(func() { _ = st.Close() })
		seen := map[int]int{}
		for i := 1; i <= 10; i++ {
			var v string
			var port int
			require.NoError(t, st.QueryRow(i).Scan(&v, &port))
			require.Equal(t, "v"+strconv.Itoa(i), v)
			seen[nodeOf(port)]++
		}
		prep := spDelta(before[0], nodes.status(t, "Com_stmt_prepare"))
		exec := spDelta(before[1], nodes.status(t, "Com_stmt_execute"))
		t.Logf("executes by node: %v; prepares %v, executes %v", seen, prep, exec)
		require.Zero(t, seen[1], "prepared read executed on the writer")
		require.Len(t, seen, 2, "both replicas should serve: %v", seen)
		require.Equal(t, [3]int64{0, int64(seen[2]), int64(seen[3])}, exec)
		require.Zero(t, prep[0], "the read was prepared on the writer")
	})
}

// spParallelReads runs `SELECT COUNT(*), @@port FROM tlo` from clients
// sessions at once, each while more(i, seen) for its i-th read (seen: the
// reads by node so far, of every client; more runs under the lock that
// guards it), and counts the reads by node.
func spParallelReads(t *testing.T, addr string, clients int, more func(i int, seen map[int]int) bool) map[int]int {
	t.Helper()
	conns := make([]*sql.Conn, clients)
	for i := range conns {
		conns[i] = spRouteSess(t, addr)
	}
	var (
		mu   sync.Mutex
		seen = map[int]int{}
		errs []error
		wg   sync.WaitGroup
	)
	for _, c := range conns {
		wg.Go(func() {
			for i := 0; ; i++ {
				mu.Lock()
				again := more(i, seen)
				mu.Unlock()
				if !again {
					return
				}
				var k, port int
				err := c.QueryRowContext(context.Background(), "SELECT COUNT(*), @@port FROM tlo").Scan(&k, &port)
				mu.Lock()
				if err != nil {
					errs = append(errs, err)
				} else {
					seen[nodeOf(port)]++
				}
				mu.Unlock()
				if err != nil {
					return
				}
			}
		})
	}
	wg.Wait()
	require.Empty(t, errs)
	return seen
}
