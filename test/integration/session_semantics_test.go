package integration

import (
	"context"
	"database/sql"
	"fmt"
	"net"
	"strconv"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/go-sql-driver/mysql"
	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/rwproxy/rwproxy/config"
	"github.com/rwproxy/rwproxy/internal/app"
	"github.com/rwproxy/rwproxy/internal/testkit"
	"github.com/rwproxy/rwproxy/router"
	"github.com/rwproxy/rwproxy/session"
	"github.com/rwproxy/rwproxy/topology"
)

// spSemSchema is TestSessionSemantics' own schema, created on the primary
// and replicated to both replicas.
const spSemSchema = "rwsem"

var spSemDDL = []string{
	"CREATE TABLE t1 (id INT PRIMARY KEY, v VARCHAR(20))",
	"INSERT INTO t1 VALUES (1,'one'),(2,'two'),(3,'three'),(4,'four'),(5,'five')",
	"CREATE TABLE t2 (id INT PRIMARY KEY)",
	"CREATE TABLE tai (id INT AUTO_INCREMENT PRIMARY KEY, v INT)",
	"CREATE SEQUENCE s1 START WITH 100 INCREMENT BY 1",
	"CREATE TABLE tproc (x INT)",
	"CREATE PROCEDURE p_ins(x INT) BEGIN INSERT INTO tproc VALUES (x); END",
	"CREATE TABLE tac (id INT PRIMARY KEY)",
	"CREATE TABLE ttext (id INT PRIMARY KEY, s VARCHAR(40) CHARACTER SET utf8mb4)",
	"INSERT INTO ttext VALUES (1, '" + spLatinText + "')",
	"CREATE TABLE tsp (id INT PRIMARY KEY)",
	"CREATE TABLE terr (id INT PRIMARY KEY)",
	"CREATE TABLE tdisc (id INT PRIMARY KEY)",
	"CREATE TABLE tps (id INT PRIMARY KEY, v INT)",
	"CREATE TABLE tryw (id INT PRIMARY KEY)",
}

// spLatinText is non-ASCII text that latin1 can encode.
const spLatinText = "café ñandú Größe"

// TestSessionSemantics checks, statement by statement, that a session
// through the splitting proxy gives the results one MariaDB server gives,
// and that each statement ran where it must: reads that depend on
// per-connection state on the writer (or the pinned connection), plain
// reads on a replica, with the session's state replayed there.
func TestSessionSemantics(t *testing.T) {
	needSandbox(t)
	createSchema(t, spSemSchema, spSemDDL)
	// Read-your-writes (the default, scope user) makes a read after any
	// case's write wait for a replica to have it; a wait longer than
	// replication ever takes here keeps such reads on the replicas, as
	// the cases assert, however slowly a loaded machine applies the
	// writes (the 1 s default would send them to the writer).
	a := spProxy(t, func(c *config.Config) {
		for i := range c.Users {
			c.Users[i].ReadYourWritesTimeout = 30 * time.Second
		}
	})
	// Every case uses new client connections: one left in a pool by an
	// earlier case may still be pinned (user variable, named lock, ...).
	fresh := func(t *testing.T) *sql.DB { return openDB(t, dsn(a.Addr(), "app", spSemSchema)) }
	sess := func(t *testing.T) *sql.Conn { return conn(t, fresh(t)) }
	direct := openDB(t, dsn(primary(), "app", spSemSchema))
	nodes := spOpenNodes(t)

	cases := []struct {
		name string
		run  func(t *testing.T)
	}{
		{"locking reads run on the writer", func(t *testing.T) {
			c := sess(t)
			for _, q := range []string{
				"SELECT v, @@port FROM t1 WHERE id = 1 FOR UPDATE",
				"SELECT v, @@port FROM t1 WHERE id = 1 LOCK IN SHARE MODE",
				"SELECT v, @@port FROM t1 WHERE id = 1 FOR UPDATE SKIP LOCKED",
			} {
				for i := 0; i < 3; i++ {
					vals, node := spRow(t, c, q)
					require.Equal(t, []string{"one"}, vals, q)
					require.Equal(t, 1, node, "%s ran on node%d", q, node)
				}
			}
			// Control: the same read without a lock goes to the replicas.
			spRequireReplicas(t, c, 4, "SELECT v, @@port FROM t1 WHERE id = 1", "one")
		}},
		{"SELECT INTO a user variable, then read it", func(t *testing.T) {
			pins := spPins(a, "user_variable")
			c := sess(t)
			spExec(t, c, "SELECT v INTO @v FROM t1 WHERE id = 2")
			for i := 0; i < 3; i++ {
				vals, node := spRow(t, c, "SELECT @v, @@port")
				require.Equal(t, []string{"two"}, vals)
				require.Equal(t, 1, node, "SELECT @v ran on node%d", node)
			}
			// The variable pins the session to its writer connection.
			vals, node := spRow(t, c, "SELECT COUNT(*), @@port FROM t1")
			require.Equal(t, []string{"5"}, vals)
			require.Equal(t, 1, node, "a plain read of a session holding @v ran on node%d", node)
			require.Greater(t, spPins(a, "user_variable"), pins, "user_variable pin not taken")
		}},
		{"user variable set then read", func(t *testing.T) {
			c := sess(t)
			spExec(t, c, "SET @x = 41")
			spExec(t, c, "SET @x = @x + 1")
			for _, q := range []string{"SELECT @x, @@port", "SELECT @x * 1, @@port FROM t1 WHERE id = 1"} {
				vals, node := spRow(t, c, q)
				require.Equal(t, []string{"42"}, vals, q)
				require.Equal(t, 1, node, "%s ran on node%d", q, node)
			}
			// Read through the binary protocol as well.
			vals, node := spRow(t, c, "SELECT @x + ?, @@port", 1)
			require.Equal(t, []string{"43"}, vals)
			require.Equal(t, 1, node)
			// Pinned: even a read that does not use @x stays on the writer.
			_, node = spRow(t, c, "SELECT COUNT(*), @@port FROM t1")
			require.Equal(t, 1, node, "a plain read of a session holding @x ran on node%d", node)
		}},
		{"GET_LOCK is seen by another session, RELEASE_LOCK frees it", func(t *testing.T) {
			pins := spPins(a, "named_lock")
			holder, other := sess(t), sess(t)
			vals, node := spRow(t, holder, "SELECT GET_LOCK('rwsem_lock', 0), @@port")
			require.Equal(t, []string{"1"}, vals)
			require.Equal(t, 1, node)
			id, node := spRow(t, holder, "SELECT CONNECTION_ID(), @@port")
			require.Equal(t, 1, node, "the session holding a named lock left its connection")
			vals, node = spRow(t, other, "SELECT IS_USED_LOCK('rwsem_lock'), @@port")
			require.Equal(t, id, vals, "IS_USED_LOCK names the holder's connection")
			require.Equal(t, 1, node)
			vals, _ = spRow(t, other, "SELECT GET_LOCK('rwsem_lock', 0), @@port")
			require.Equal(t, []string{"0"}, vals, "a second session got a held lock")
			vals, node = spRow(t, holder, "SELECT RELEASE_LOCK('rwsem_lock'), @@port")
			require.Equal(t, []string{"1"}, vals, "RELEASE_LOCK on the holder's connection")
			require.Equal(t, 1, node)
			vals, _ = spRow(t, other, "SELECT IS_FREE_LOCK('rwsem_lock'), @@port")
			require.Equal(t, []string{"1"}, vals)
			require.Greater(t, spPins(a, "named_lock"), pins, "named_lock pin not taken")
		}},
		{"LAST_INSERT_ID after a text INSERT", func(t *testing.T) {
			c := sess(t)
			res := spExec(t, c, "INSERT INTO tai (v) VALUES (1)")
			id, err := res.LastInsertId()
			require.NoError(t, err)
			spLastInsertID(t, sess, c, id)
		}},
		{"LAST_INSERT_ID after a prepared INSERT", func(t *testing.T) {
			c := sess(t)
			res := spExec(t, c, "INSERT INTO tai (v) VALUES (?)", 2)
			id, err := res.LastInsertId()
			require.NoError(t, err)
			spLastInsertID(t, sess, c, id)
		}},
		{"NEXTVAL, NEXT VALUE FOR and LASTVAL of a sequence", func(t *testing.T) {
			c := sess(t)
			vals, node := spRow(t, c, "SELECT NEXTVAL(s1), @@port")
			require.Equal(t, 1, node)
			first, err := strconv.Atoi(vals[0])
			require.NoError(t, err)
			vals, node = spRow(t, c, "SELECT NEXT VALUE FOR s1, @@port")
			require.Equal(t, 1, node)
			require.Equal(t, []string{strconv.Itoa(first + 1)}, vals)
			// Another session busy on a writer connection: LASTVAL must
			// still answer for this session's own sequence state.
			busy := sess(t)
			spExec(t, busy, "BEGIN")
			vals, _ = spRow(t, busy, "SELECT NEXTVAL(s1), @@port")
			require.Equal(t, []string{strconv.Itoa(first + 2)}, vals)
			vals, node = spRow(t, c, "SELECT LASTVAL(s1), @@port")
			require.Equal(t, []string{strconv.Itoa(first + 1)}, vals, "LASTVAL(s1) after NEXT VALUE FOR s1 returned %v", vals)
			require.Equal(t, 1, node)
			spExec(t, busy, "COMMIT")
		}},
		{"temporary table is always found", func(t *testing.T) {
			pins := spPins(a, "temporary_table")
			c := sess(t)
			spExec(t, c, "CREATE TEMPORARY TABLE tmp1 (a INT)")
			for i := 1; i <= 30; i++ {
				if i%2 == 0 {
					spExec(t, c, "INSERT INTO tmp1 VALUES (?)", i)
				} else {
					spExec(t, c, "INSERT INTO tmp1 VALUES ("+strconv.Itoa(i)+")")
				}
				vals, node := spRow(t, c, "SELECT COUNT(*), @@port FROM tmp1")
				require.Equal(t, []string{strconv.Itoa(i)}, vals)
				require.Equal(t, 1, node)
			}
			vals, node := spRow(t, c, "SELECT SUM(a), @@port FROM tmp1 WHERE a > ?", 10)
			require.Equal(t, []string{"410"}, vals)
			require.Equal(t, 1, node)
			// Another session does not see it, as on a server.
			_, err := fresh(t).ExecContext(context.Background(), "INSERT INTO tmp1 VALUES (1)")
			require.Equal(t, uint16(1146), myErr(t, err).Number)
			require.Greater(t, spPins(a, "temporary_table"), pins, "temporary_table pin not taken")
		}},
		{"LOCK TABLES READ, then UNLOCK TABLES", func(t *testing.T) {
			c, d := sess(t), conn(t, direct)
			for _, x := range []*sql.Conn{c, d} {
				spExec(t, x, "LOCK TABLES t1 READ")
			}
			vals, node := spRow(t, c, "SELECT COUNT(*), @@port FROM t1")
			require.Equal(t, []string{"5"}, vals)
			require.Equal(t, 1, node, "a read under LOCK TABLES ran on node%d", node)
			// Only the locked connection refuses other tables and writes.
			for _, q := range []string{"SELECT COUNT(*) FROM t2", "INSERT INTO t1 VALUES (6, 'six')"} {
				_, derr := d.ExecContext(context.Background(), q)
				_, perr := c.ExecContext(context.Background(), q)
				sameError(t, derr, perr)
			}
			for _, x := range []*sql.Conn{c, d} {
				spExec(t, x, "UNLOCK TABLES")
			}
			spRequireReplicas(t, c, 4, "SELECT COUNT(*), @@port FROM t1", "5")
		}},
		{"SQL_CALC_FOUND_ROWS then FOUND_ROWS()", func(t *testing.T) {
			c, other := sess(t), sess(t)
			for _, tc := range []struct {
				query string
				rows  int
				found string
			}{
				{"SELECT SQL_CALC_FOUND_ROWS id FROM t1 ORDER BY id LIMIT 2", 2, "5"},
				{"SELECT SQL_CALC_FOUND_ROWS id FROM t1 WHERE id > 1 ORDER BY id LIMIT 1", 1, "4"},
			} {
				require.Len(t, spQuery(t, c, tc.query), tc.rows)
				// Another session's SQL_CALC_FOUND_ROWS in between must not
				// change this session's FOUND_ROWS().
				require.Empty(t, spQuery(t, other, "SELECT SQL_CALC_FOUND_ROWS id FROM t1 WHERE id > 3 LIMIT 0"))
				vals, node := spRow(t, c, "SELECT FOUND_ROWS(), @@port")
				require.Equal(t, []string{tc.found}, vals, tc.query)
				require.Equal(t, 1, node)
				vals, _ = spRow(t, other, "SELECT FOUND_ROWS(), @@port")
				require.Equal(t, []string{"2"}, vals)
			}
		}},
		{"SQL PREPARE, EXECUTE, DEALLOCATE", func(t *testing.T) {
			c, d := sess(t), conn(t, direct)
			spExec(t, c, "PREPARE sp1 FROM 'SELECT v, @@port FROM t1 WHERE id = ?'")
			spExec(t, c, "SET @id = 3")
			vals, node := spRow(t, c, "EXECUTE sp1 USING @id")
			require.Equal(t, []string{"three"}, vals)
			require.Equal(t, 1, node)
			vals, node = spRow(t, c, "EXECUTE sp1 USING 4")
			require.Equal(t, []string{"four"}, vals)
			require.Equal(t, 1, node)
			spExec(t, c, "DEALLOCATE PREPARE sp1")
			_, perr := c.ExecContext(context.Background(), "EXECUTE sp1 USING @id")
			_, derr := d.ExecContext(context.Background(), "EXECUTE sp1 USING 1")
			sameError(t, derr, perr)
		}},
		{"CALL of a procedure that inserts runs on the writer", func(t *testing.T) {
			before := nodes.status(t, "Com_call_procedure")
			db := fresh(t)
			spExec(t, db, "CALL p_ins(7)")
			require.Equal(t, [3]int64{1, 0, 0}, spDelta(before, nodes.status(t, "Com_call_procedure")))
			require.Equal(t, [][]string{{"1"}}, spQuery(t, direct, "SELECT COUNT(*) FROM tproc WHERE x = 7"))
			spEventuallyOnReplica(t, db, "SELECT COUNT(*), @@port FROM tproc WHERE x = 7", "1")
		}},
		{"autocommit=0 keeps every statement on the writer until COMMIT", func(t *testing.T) {
			c := sess(t)
			spExec(t, c, "SET autocommit = 0")
			id, node := spRow(t, c, "SELECT CONNECTION_ID(), @@port")
			require.Equal(t, 1, node, "a read with autocommit=0 ran on node%d", node)
			spExec(t, c, "INSERT INTO tac VALUES (1)")
			vals, node := spRow(t, c, "SELECT COUNT(*), @@port FROM tac")
			require.Equal(t, []string{"1"}, vals)
			require.Equal(t, 1, node)
			again, _ := spRow(t, c, "SELECT CONNECTION_ID(), @@port")
			require.Equal(t, id, again, "the implicit transaction moved to another connection")
			require.Equal(t, [][]string{{"0"}}, spQuery(t, direct, "SELECT COUNT(*) FROM tac"), "uncommitted row visible")
			spExec(t, c, "COMMIT")
			require.Equal(t, [][]string{{"1"}}, spQuery(t, direct, "SELECT COUNT(*) FROM tac"), "COMMIT lost the row")
			// Still autocommit=0: the next read opens a new transaction on the writer.
			_, node = spRow(t, c, "SELECT COUNT(*), @@port FROM tac")
			require.Equal(t, 1, node)
			spExec(t, c, "COMMIT")
			spExec(t, c, "SET autocommit = 1")
			spEventuallyOnReplica(t, c, "SELECT COUNT(*), @@port FROM tac", "1")
		}},
		{"SET NAMES latin1 is replayed on the replicas", func(t *testing.T) {
			c := sess(t)
			spExec(t, c, "SET NAMES latin1")
			want := []string{spLatin1(spLatinText), "latin1", "latin1"}
			// Reference: a replica asked directly.
			rd := conn(t, openDB(t, dsn(sb.Addr(2), "app", spSemSchema)))
			spExec(t, rd, "SET NAMES latin1")
			vals, node := spRow(t, rd, "SELECT s, @@character_set_client, @@character_set_results, @@port FROM ttext WHERE id = 1")
			require.Equal(t, 2, node)
			require.Equal(t, want, vals)
			// Runs of router.Run reads go to one replica: 2 runs reach both.
			seen := spRequireReplicas(t, c, 2*router.Run, "SELECT s, @@character_set_client, @@character_set_results, @@port FROM ttext WHERE id = 1", want...)
			require.Len(t, seen, 2, "both replicas should have served the session: %v", seen)
		}},
		{"USE db, then reads on a replica in that db", func(t *testing.T) {
			c := conn(t, openDB(t, dsn(a.Addr(), "app", "")))
			spExec(t, c, "USE "+spSemSchema)
			spRequireReplicas(t, c, 4, "SELECT DATABASE(), COUNT(*), @@port FROM t1", spSemSchema, "5")
			spExec(t, c, "USE app")
			spRequireReplicas(t, c, 2, "SELECT DATABASE(), @@port", "app")
		}},
		{"START TRANSACTION READ ONLY runs on one replica", func(t *testing.T) {
			ctx := context.Background()
			c := sess(t)
			tx, err := c.BeginTx(ctx, &sql.TxOptions{ReadOnly: true})
			require.NoError(t, err)
			t.Cleanup(func() { _ = tx.Rollback() }) // before c is closed
			id, node := spRow(t, tx, "SELECT CONNECTION_ID(), @@port")
			require.Contains(t, []int{2, 3}, node, "read-only transaction on node%d", node)
			for i := 0; i < 3; i++ {
				again, n := spRow(t, tx, "SELECT CONNECTION_ID(), @@port")
				require.Equal(t, id, again)
				require.Equal(t, node, n)
			}
			vals, n := spRow(t, tx, "SELECT COUNT(*), @@port FROM t1")
			require.Equal(t, []string{"5"}, vals)
			require.Equal(t, node, n)
			_, perr := tx.ExecContext(ctx, "INSERT INTO t1 VALUES (99, 'x')")
			require.Equal(t, uint16(1792), myErr(t, perr).Number, "write in a READ ONLY transaction: %v", perr)
			// Reference: the same on the primary directly.
			dtx, err := conn(t, direct).BeginTx(ctx, &sql.TxOptions{ReadOnly: true})
			require.NoError(t, err)
			t.Cleanup(func() { _ = dtx.Rollback() })
			_, derr := dtx.ExecContext(ctx, "INSERT INTO t1 VALUES (99, 'x')")
			require.NoError(t, dtx.Rollback())
			sameError(t, derr, perr)
			vals, n = spRow(t, tx, "SELECT @@in_transaction, @@port")
			require.Equal(t, []string{"1"}, vals, "the transaction ended after the refused write")
			require.Equal(t, node, n)
			require.NoError(t, tx.Commit())
			require.Equal(t, [][]string{{"0"}}, spQuery(t, direct, "SELECT COUNT(*) FROM t1 WHERE id = 99"))
		}},
		{"SAVEPOINT and ROLLBACK TO", func(t *testing.T) {
			c := sess(t)
			for _, q := range []string{"BEGIN", "INSERT INTO tsp VALUES (1)", "SAVEPOINT a", "INSERT INTO tsp VALUES (2)",
				"SAVEPOINT b", "INSERT INTO tsp VALUES (3)", "ROLLBACK TO SAVEPOINT b"} {
				spExec(t, c, q)
			}
			require.Equal(t, [][]string{{"1", "1"}, {"2", "1"}}, spNodes(spQuery(t, c, "SELECT id, @@port FROM tsp ORDER BY id")))
			for _, q := range []string{"ROLLBACK TO SAVEPOINT a", "INSERT INTO tsp VALUES (4)", "RELEASE SAVEPOINT a"} {
				spExec(t, c, q)
			}
			require.Equal(t, [][]string{{"1", "1"}, {"4", "1"}}, spNodes(spQuery(t, c, "SELECT id, @@port FROM tsp ORDER BY id")))
			_, err := c.ExecContext(context.Background(), "ROLLBACK TO SAVEPOINT b")
			require.Equal(t, uint16(1305), myErr(t, err).Number, "savepoint b should be gone")
			spExec(t, c, "COMMIT")
			require.Equal(t, [][]string{{"1"}, {"4"}}, spQuery(t, direct, "SELECT id FROM tsp ORDER BY id"))
		}},
		{"an error inside a transaction does not end it", func(t *testing.T) {
			c := sess(t)
			spExec(t, c, "BEGIN")
			spExec(t, c, "INSERT INTO terr VALUES (1)")
			_, err := c.ExecContext(context.Background(), "INSERT INTO terr VALUES (1)")
			require.Equal(t, uint16(1062), myErr(t, err).Number)
			vals, node := spRow(t, c, "SELECT @@in_transaction, @@port")
			require.Equal(t, []string{"1"}, vals)
			require.Equal(t, 1, node)
			spExec(t, c, "INSERT INTO terr VALUES (2)")
			spExec(t, c, "COMMIT")
			require.Equal(t, [][]string{{"1"}, {"2"}}, spQuery(t, direct, "SELECT id FROM terr ORDER BY id"))
		}},
		{"client disconnect mid-transaction rolls back and resets the connection", func(t *testing.T) {
			spDisconnectMidTxn(t, a, direct)
		}},
		{"prepared statements read on replicas and write on the writer", func(t *testing.T) {
			ctx := context.Background()
			db := fresh(t)
			sel, err := db.PrepareContext(ctx, "SELECT v, @@port FROM t1 WHERE id = ?")
			require.NoError(t, err)
			t.Cleanup(func() { _ = sel.Close() })
			names := []string{"one", "two", "three", "four", "five"}
			// Com_stmt_execute counts the executes each node ran
			// (replication does not change it).
			before := nodes.status(t, "Com_stmt_execute")
			seen := map[int]int{}
			for i := 0; i < 10; i++ {
				var v string
				var port int
				require.NoError(t, sel.QueryRowContext(ctx, i%5+1).Scan(&v, &port))
				require.Equal(t, names[i%5], v)
				seen[nodeOf(port)]++
			}
			require.Zero(t, seen[1], "prepared reads on the writer: %v", seen)
			require.Positive(t, seen[2], "node2 served no prepared read: %v", seen)
			require.Positive(t, seen[3], "node3 served no prepared read: %v", seen)
			require.Equal(t, [3]int64{0, int64(seen[2]), int64(seen[3])}, spDelta(before, nodes.status(t, "Com_stmt_execute")))
			ins, err := db.PrepareContext(ctx, "INSERT INTO tps (id, v) VALUES (?, ?)")
			require.NoError(t, err)
			t.Cleanup(func() { _ = ins.Close() })
			before = nodes.status(t, "Com_stmt_execute")
			for i := 1; i <= 5; i++ {
				_, err := ins.ExecContext(ctx, i, i*10)
				require.NoError(t, err)
			}
			require.Equal(t, [3]int64{5, 0, 0}, spDelta(before, nodes.status(t, "Com_stmt_execute")))
			require.Equal(t, [][]string{{"5", "150"}}, spQuery(t, direct, "SELECT COUNT(*), SUM(v) FROM tps"))
		}},
		{"SET SESSION sql_mode and time_zone are replayed on replicas without a pin", func(t *testing.T) {
			own := spProxy(t, nil) // its own counters
			c := conn(t, openDB(t, dsn(own.Addr(), "app", spSemSchema)))
			spExec(t, c, "SET SESSION sql_mode = 'ANSI_QUOTES,STRICT_ALL_TABLES'")
			spExec(t, c, "SET SESSION time_zone = '+05:00'")
			// With ANSI_QUOTES "v" is the column; FROM_UNIXTIME follows time_zone.
			seen := spRequireReplicas(t, c, 2*router.Run, `SELECT @@sql_mode, @@time_zone, FROM_UNIXTIME(0), "v", @@port FROM t1 WHERE id = 1`,
				"ANSI_QUOTES,STRICT_ALL_TABLES", "+05:00", "1970-01-01 05:00:00", "one")
			require.Len(t, seen, 2, "both replicas should have served the session: %v", seen)
			for i, name := range session.PinReasonNames() {
				require.Zero(t, own.Stats.Pins[i].Load(), "pin %s taken for SET SESSION sql_mode/time_zone", name)
			}
			require.GreaterOrEqual(t, own.Stats.ToReader.Load(), uint64(6))
		}},
		{"read_your_writes sees its own insert", func(t *testing.T) {
			spReadYourWrites(t)
		}},
	}
	for _, tc := range cases {
		t.Run(tc.name, tc.run)
	}
}

// spLastInsertID checks that c's LAST_INSERT_ID() is id after reads that
// went to replicas and while another session, with its own insert, holds a
// writer connection in a transaction (so c's next writer statement may get
// another backend connection).
func spLastInsertID(t *testing.T, sess func(*testing.T) *sql.Conn, c *sql.Conn, id int64) {
	t.Helper()
	require.Positive(t, id)
	spRequireReplicas(t, c, 4, "SELECT COUNT(*), @@port FROM t1", "5")
	busy := sess(t)
	spExec(t, busy, "BEGIN")
	res := spExec(t, busy, "INSERT INTO tai (v) VALUES (9)")
	busyID, err := res.LastInsertId()
	require.NoError(t, err)
	require.NotEqual(t, id, busyID)
	want := []string{strconv.FormatInt(id, 10)}
	vals, node := spRow(t, c, "SELECT LAST_INSERT_ID(), @@port")
	require.Equal(t, want, vals, "LAST_INSERT_ID() (text)")
	require.Equal(t, 1, node)
	vals, _ = spRow(t, c, "SELECT LAST_INSERT_ID() + ?, @@port", 0)
	require.Equal(t, want, vals, "LAST_INSERT_ID() (prepared)")
	vals, _ = spRow(t, busy, "SELECT LAST_INSERT_ID(), @@port")
	require.Equal(t, []string{strconv.FormatInt(busyID, 10)}, vals, "the other session's LAST_INSERT_ID()")
	spExec(t, busy, "ROLLBACK")
	vals, _ = spRow(t, c, "SELECT LAST_INSERT_ID(), @@port")
	require.Equal(t, want, vals, "LAST_INSERT_ID() after the other session's rollback")
}

// spDisconnectMidTxn drops a client's TCP connection (no COM_QUIT) in the
// middle of a transaction that also set a session and a user variable, and
// checks that the insert is rolled back and that new sessions see a clean
// connection.
func spDisconnectMidTxn(t *testing.T, a *app.App, direct *sql.DB) {
	sessions := a.Stats.Sessions.Load()
	dirty := openDB(t, fmt.Sprintf("app:app@%s(%s)/%s", spDialNet(), a.Addr(), spSemSchema))
	dirty.SetMaxOpenConns(1)
	c := conn(t, dirty)
	nc := spLastDialed(t)
	spExec(t, c, "SET SESSION lock_wait_timeout = 77")
	spExec(t, c, "SET @leak = 'dirty'")
	spExec(t, c, "BEGIN")
	spExec(t, c, "INSERT INTO tdisc VALUES (1)")
	vals, node := spRow(t, c, "SELECT CONNECTION_ID(), @@in_transaction, @@session.lock_wait_timeout, @leak, @@port")
	require.Equal(t, 1, node)
	require.Equal(t, []string{vals[0], "1", "77", "dirty"}, vals)
	backendID := vals[0]
	require.NoError(t, nc.Close())
	require.Eventually(t, func() bool { return a.Stats.Sessions.Load() == sessions },
		30*time.Second, 20*time.Millisecond, "the proxy did not end the dropped session")
	// The row is gone and not locked: inserting it directly succeeds at once.
	d := conn(t, direct)
	spExec(t, d, "SET SESSION innodb_lock_wait_timeout = 2")
	spExec(t, d, "INSERT INTO tdisc VALUES (1)")
	spExec(t, d, "DELETE FROM tdisc WHERE id = 1")
	reused := false
	for i := 0; i < 5; i++ {
		fresh := openDB(t, dsn(a.Addr(), "app", spSemSchema))
		vals, node := spRow(t, fresh, "/* rwproxy:writer */ SELECT CONNECTION_ID(), @@in_transaction, "+
			"@@session.lock_wait_timeout = @@global.lock_wait_timeout, @leak IS NULL, @@port")
		require.Equal(t, 1, node)
		require.Equal(t, []string{vals[0], "0", "1", "1"}, vals, "a new session found the dropped session's state")
		reused = reused || vals[0] == backendID
		require.NoError(t, fresh.Close())
	}
	t.Logf("backend connection %s reused after reset: %v", backendID, reused)
}

// spReadYourWrites runs 200 insert-then-read round trips as a
// read_your_writes user, then again with node2 five seconds behind.
func spReadYourWrites(t *testing.T) {
	// A wait longer than replication ever takes here, loaded machine or
	// not: the reads wait for a replica instead of depending on how fast
	// it applies (a 300 ms wait sent most reads to the writer under load).
	a := spProxy(t, func(c *config.Config) {
		c.Users[0].Consistency = config.ConsistencyReadYourWrites
		c.Users[0].ReadYourWritesTimeout = 30 * time.Second
	})
	c := conn(t, openDB(t, dsn(a.Addr(), "app", spSemSchema)))
	seen := map[int]int{}
	for i := 1; i <= 200; i++ {
		spExec(t, c, "INSERT INTO tryw VALUES ("+strconv.Itoa(i)+")")
		vals, node := spRow(t, c, "SELECT COUNT(*), @@port FROM tryw WHERE id = "+strconv.Itoa(i))
		require.Equal(t, []string{"1"}, vals, "iteration %d: own insert not seen on node%d", i, node)
		seen[node]++
	}
	t.Logf("read_your_writes reads by node: %v; waits %d, fallbacks %d", seen, a.Stats.RYWWaits.Load(), a.Stats.RYWFallbacks.Load())
	require.Positive(t, a.Stats.RYWWaits.Load(), "no MASTER_GTID_WAIT")
	require.GreaterOrEqual(t, seen[2]+seen[3], 100, "most reads should be served by caught-up replicas: %v", seen)

	_, err := sb.Run("lag", "2", "delay", "5")
	require.NoError(t, err)
	t.Cleanup(func() {
		_, err := sb.Run("lag", "2", "clear")
		require.NoError(t, err)
		_, err = sb.Run("sync")
		require.NoError(t, err)
	})
	// node2 stays in the reader hostgroup (5 s is under its
	// max_replication_lag): reads are still sent there, and must give up
	// on it after the wait, here 300 ms, far below node2's 5 s delay.
	a = spProxy(t, func(c *config.Config) {
		c.Users[0].Consistency = config.ConsistencyReadYourWrites
		c.Users[0].ReadYourWritesTimeout = 300 * time.Millisecond
	})
	c = conn(t, openDB(t, dsn(a.Addr(), "app", spSemSchema)))
	require.Eventually(t, func() bool {
		for _, b := range a.Monitor.Snapshot().Hostgroups[20] {
			if b.Addr == sb.Addr(2) {
				return b.State == topology.StateOnline
			}
		}
		return false
	}, 30*time.Second, 50*time.Millisecond, "node2 left the reader hostgroup")
	fallbacks := a.Stats.RYWFallbacks.Load()
	lagged := map[int]int{}
	for i := 1001; i <= 1010; i++ {
		spExec(t, c, "INSERT INTO tryw VALUES ("+strconv.Itoa(i)+")")
		vals, node := spRow(t, c, "SELECT COUNT(*), @@port FROM tryw WHERE id = "+strconv.Itoa(i))
		require.Equal(t, []string{"1"}, vals, "lagging replica: own insert %d not seen on node%d", i, node)
		require.NotEqual(t, 2, node, "read served by the lagging node2")
		lagged[node]++
	}
	t.Logf("with node2 lagging, reads by node: %v", lagged)
	require.Greater(t, a.Stats.RYWFallbacks.Load(), fallbacks, "node2 was never tried and abandoned")
}

// ---------------------------------------------------------------- helpers

// spQueryer is what *sql.DB, *sql.Conn and *sql.Tx have in common.
type spQueryer interface {
	QueryContext(ctx context.Context, query string, args ...any) (*sql.Rows, error)
	ExecContext(ctx context.Context, query string, args ...any) (sql.Result, error)
}

// spProxy starts a proxy with testkit's split configuration (writer
// hostgroup 10 = node1, reader hostgroup 20 = node2 and node3), changed
// by edit first when not nil.
func spProxy(t *testing.T, edit func(*config.Config)) *app.App {
	t.Helper()
	c := testkit.SandboxConfig(sb)
	if edit != nil {
		edit(c)
	}
	return testkit.StartProxy(t, c)
}

// spExec runs a statement that must succeed.
func spExec(t *testing.T, q spQueryer, query string, args ...any) sql.Result {
	t.Helper()
	res, err := q.ExecContext(context.Background(), query, args...)
	require.NoError(t, err, query)
	return res
}

// spQuery returns every row of query as strings (NULL as "NULL").
func spQuery(t *testing.T, q spQueryer, query string, args ...any) [][]string {
	t.Helper()
	rows, err := q.QueryContext(context.Background(), query, args...)
	require.NoError(t, err, query)
	defer rows.Close()
	cols, err := rows.Columns()
	require.NoError(t, err)
	var out [][]string
	for rows.Next() {
		vals := make([]sql.RawBytes, len(cols))
		ptrs := make([]any, len(cols))
		for i := range vals {
			ptrs[i] = &vals[i]
		}
		require.NoError(t, rows.Scan(ptrs...))
		row := make([]string, len(cols))
		for i, v := range vals {
			if v == nil {
				row[i] = "NULL"
			} else {
				row[i] = string(v)
			}
		}
		out = append(out, row)
	}
	require.NoError(t, rows.Err(), query)
	return out
}

// spRow runs query, whose last column must be @@port, and returns its one
// row's other columns and the sandbox node that ran it.
func spRow(t *testing.T, q spQueryer, query string, args ...any) ([]string, int) {
	t.Helper()
	rows := spQuery(t, q, query, args...)
	require.Len(t, rows, 1, query)
	last := len(rows[0]) - 1
	port, err := strconv.Atoi(rows[0][last])
	require.NoError(t, err, "%s: last column is not a port", query)
	node := nodeOf(port)
	require.NotZero(t, node, "%s: port %d is no sandbox node", query, port)
	return rows[0][:last], node
}

// spNodes maps the last column (@@port) of every row to its node number.
func spNodes(rows [][]string) [][]string {
	for _, r := range rows {
		p, _ := strconv.Atoi(r[len(r)-1])
		r[len(r)-1] = strconv.Itoa(nodeOf(p))
	}
	return rows
}

// spRequireReplicas runs query n times and requires each run to return
// want on a replica; it returns how many runs each replica served.
func spRequireReplicas(t *testing.T, q spQueryer, n int, query string, want ...string) map[int]int {
	t.Helper()
	seen := map[int]int{}
	for i := 0; i < n; i++ {
		vals, node := spRow(t, q, query)
		require.Equal(t, want, vals, query)
		require.Contains(t, []int{2, 3}, node, "%s ran on node%d, not on a replica", query, node)
		seen[node]++
	}
	return seen
}

// spEventuallyOnReplica waits until query, run on a replica, returns want.
func spEventuallyOnReplica(t *testing.T, q spQueryer, query string, want ...string) {
	t.Helper()
	var (
		mu   sync.Mutex
		last string
	)
	ok := assert.Eventually(t, func() bool {
		var got []string
		rows, err := q.QueryContext(context.Background(), query)
		if err == nil {
			cols, _ := rows.Columns()
			if rows.Next() {
				vals := make([]sql.NullString, len(cols))
				ptrs := make([]any, len(cols))
				for i := range vals {
					ptrs[i] = &vals[i]
				}
				if err = rows.Scan(ptrs...); err == nil {
					for _, v := range vals {
						got = append(got, v.String)
					}
				}
			}
			_ = rows.Close()
		}
		mu.Lock()
		defer mu.Unlock()
		last = fmt.Sprintf("%q (err %v)", got, err)
		if len(got) != len(want)+1 {
			return false
		}
		port, _ := strconv.Atoi(got[len(want)])
		return nodeOf(port) > 1 && fmt.Sprint(got[:len(want)]) == fmt.Sprint(want)
	}, 30*time.Second, 20*time.Millisecond, "%s never returned %q on a replica", query, want)
	mu.Lock()
	defer mu.Unlock()
	require.True(t, ok, "last result: %s", last)
}

// spPins returns how often the proxy took the named pin reason.
func spPins(a *app.App, name string) uint64 {
	for i, n := range session.PinReasonNames() {
		if n == name {
			return a.Stats.Pins[i].Load()
		}
	}
	panic("no pin reason " + name)
}

// spLatin1 encodes s (code points below 256 only) as latin1.
func spLatin1(s string) string {
	b := make([]byte, 0, len(s))
	for _, r := range s {
		if r > 255 {
			panic("not latin1: " + s)
		}
		b = append(b, byte(r))
	}
	return string(b)
}

// spNodesDB holds one direct connection pool per sandbox node, as the
// monitor user, to read the nodes' own counters: global status (SHOW
// GLOBAL STATUS changes no Com_* counter the tests use) and, with
// userstat on, the statements user app ran (the proxy's monitor also
// runs SELECTs, as user monitor, so Com_select alone cannot tell).
type spNodesDB struct{ dbs [3]*sql.DB }

// spOpenNodes connects to every node and turns userstat on for the test.
func spOpenNodes(t *testing.T) *spNodesDB {
	t.Helper()
	n := &spNodesDB{}
	for i := range n.dbs {
		n.dbs[i] = openDB(t, dsn(sb.Addr(i+1), "monitor", ""))
		node := strconv.Itoa(i + 1)
		was, err := sb.SQL(i+1, "SELECT @@global.userstat")
		require.NoError(t, err)
		_, err = sb.SQL(i+1, "SET GLOBAL userstat = 1")
		require.NoError(t, err)
		t.Cleanup(func() { _, _ = sb.Run("sql", node, "SET GLOBAL userstat = "+strings.TrimSpace(was)) })
	}
	return n
}

// status returns the global status variable name of nodes 1..3.
func (n *spNodesDB) status(t *testing.T, name string) [3]int64 {
	t.Helper()
	var out [3]int64
	for i, db := range n.dbs {
		var k string
		require.NoError(t, db.QueryRowContext(context.Background(), "SHOW GLOBAL STATUS LIKE '"+name+"'").Scan(&k, &out[i]))
	}
	return out
}

// appSelects returns the SELECT statements user app ran on nodes 1..3
// (text and prepared), from information_schema.USER_STATISTICS.
func (n *spNodesDB) appSelects(t *testing.T) [3]int64 {
	t.Helper()
	var out [3]int64
	for i, db := range n.dbs {
		err := db.QueryRowContext(context.Background(),
			"SELECT IFNULL(SUM(SELECT_COMMANDS), 0) FROM information_schema.USER_STATISTICS WHERE USER = 'app'").Scan(&out[i])
		require.NoError(t, err)
	}
	return out
}

// appSelectsAfter returns the SELECTs user app ran on nodes 1..3 since
// before, waiting (up to 30 s) until they add up to at least want:
// MariaDB counts a statement in USER_STATISTICS only after it has sent
// the result, so the last statement on a connection may not be counted
// yet when the client reads the counters straight after. The caller
// still compares the per-node figures exactly.
func (n *spNodesDB) appSelectsAfter(t *testing.T, before [3]int64, want int64) [3]int64 {
	t.Helper()
	deadline := time.Now().Add(30 * time.Second)
	for {
		d := spDelta(before, n.appSelects(t))
		if d[0]+d[1]+d[2] >= want || time.Now().After(deadline) {
			return d
		}
		time.Sleep(20 * time.Millisecond)
	}
}

// spDelta is after - before, per node.
func spDelta(before, after [3]int64) [3]int64 {
	return [3]int64{after[0] - before[0], after[1] - before[1], after[2] - before[2]}
}

// A dial function for go-sql-driver that remembers the last connection it
// made, so that a test can drop a client's TCP connection abruptly.
var (
	spDialOnce sync.Once
	spDialMu   sync.Mutex
	spDialLast net.Conn
)

// spDialNet returns the DSN network name whose connections spLastDialed sees.
func spDialNet() string {
	spDialOnce.Do(func() {
		mysql.RegisterDialContext("spdial", func(ctx context.Context, addr string) (net.Conn, error) {
			var d net.Dialer
			nc, err := d.DialContext(ctx, "tcp", addr)
			if err == nil {
				spDialMu.Lock()
				spDialLast = nc
				spDialMu.Unlock()
			}
			return nc, err
		})
	})
	return "spdial"
}

// spLastDialed returns the last connection made through spDialNet.
func spLastDialed(t *testing.T) net.Conn {
	t.Helper()
	spDialMu.Lock()
	defer spDialMu.Unlock()
	require.NotNil(t, spDialLast)
	return spDialLast
}
