package session

import (
	"fmt"
	"strconv"
	"sync"
	"testing"
	"time"

	"github.com/go-mysql-org/go-mysql/client"
	"github.com/go-mysql-org/go-mysql/mysql"
	"github.com/stretchr/testify/require"

	"github.com/rwproxy/rwproxy/internal/testkit/fakemysql"
	"github.com/rwproxy/rwproxy/protocol"
)

// Reads go to a replica of the reader hostgroup, writes to the writer;
// each response's latency reaches the picker (Observe).
func TestQPRoutesReadsAndWrites(t *testing.T) {
	h := newQP(t)
	h.r1.On("select v from t", fakemysql.Rows([]string{"v"}, []any{"from r1"}))
	h.r2.On("select v from t", fakemysql.Rows([]string{"v"}, []any{"from r2"}))
	c := h.connect(t)

	ports := map[int]int{}
	for range 4 {
		ports[port(t, c)]++
	}
	require.Equal(t, map[int]int{h.r1.Port: 2, h.r2.Port: 2}, ports, "reads alternate over the replicas")
	r := exec(t, c, "SELECT v FROM t")
	v, _ := r.GetString(0, 0)
	require.Contains(t, []string{"from r1", "from r2"}, v)

	r = exec(t, c, "INSERT INTO t VALUES (1)")
	require.Zero(t, r.Status&mysql.SERVER_STATUS_IN_TRANS)
	require.Equal(t, 1, h.writer.Count(mysql.COM_QUERY, "INSERT"))
	require.Zero(t, h.readers("INSERT"))
	require.Zero(t, h.writer.Count(mysql.COM_QUERY, "SELECT"), "no read reached the writer")
	require.EqualValues(t, 5, h.d.Stats.ToReader.Load())
	require.EqualValues(t, 1, h.d.Stats.ToWriter.Load())
	require.Equal(t, 6, h.picker.observations(h.r1.Addr)+h.picker.observations(h.r2.Addr)+
		h.picker.observations(h.writer.Addr), "every response observed")
}

// pinCase is one kind of state that keeps the session on its writer
// connection: the statement that takes it and the one that ends it (""
// when it lasts until the session ends).
type pinCase struct {
	name, take, release string
}

// Transactions, LOCK TABLES, GET_LOCK, temporary tables and user
// variables keep the session on the writer connection that holds them:
// reads go there too, on the same server connection, until the state is
// released; then reads go back to the replicas.
func TestQPPinning(t *testing.T) {
	cases := []pinCase{
		{"transaction", "BEGIN", "COMMIT"},
		{"transaction rolled back", "START TRANSACTION", "ROLLBACK"},
		{"lock tables", "LOCK TABLES t WRITE", "UNLOCK TABLES"},
		{"named lock", "SELECT GET_LOCK('l', 1)", ""},
		{"temporary table", "CREATE TEMPORARY TABLE tt (a INT)", ""},
		{"user variable", "SET @v = 1", ""},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			h := newQP(t)
			c := h.connect(t)
			exec(t, c, tc.take)
			first := backendConn(t, c)
			require.Equal(t, h.writer.Port, port(t, c), "a read while pinned runs on the writer")
			require.Equal(t, first, backendConn(t, c), "on the same server connection")
			require.Zero(t, h.readers("SELECT"), "no read reached a replica while pinned")
			if tc.release == "" {
				exec(t, c, "SELECT 1")
				require.Equal(t, h.writer.Port, port(t, c), "pinned until the session ends")
				return
			}
			exec(t, c, tc.release)
			require.NotEqual(t, h.writer.Port, port(t, c), "unpinned: reads go to the replicas again")
		})
	}
}

// A read whose replica dies before answering is re-run once on the
// other replica: the client sees the answer, not the failure.
func TestQPReadRetriedOnAnotherReplica(t *testing.T) {
	h := newQP(t)
	h.r1.On("select v from t", fakemysql.Reply{Cut: fakemysql.CutBefore})
	h.r2.On("select v from t", fakemysql.Rows([]string{"v"}, []any{"ok"}))
	c := h.connect(t)
	r := exec(t, c, "SELECT v FROM t")
	v, _ := r.GetString(0, 0)
	require.Equal(t, "ok", v)
	require.Equal(t, 1, h.r1.Count(mysql.COM_QUERY, "SELECT v"))
	require.Equal(t, 1, h.r2.Count(mysql.COM_QUERY, "SELECT v"))
	require.Zero(t, h.writer.Count(mysql.COM_QUERY, "SELECT v"))
	require.EqualValues(t, 1, h.d.Stats.ReadRetries.Load())
	require.Zero(t, h.d.Stats.ReadRetryFailures.Load())

	// A write is never re-run: its outcome is unknown.
	h.writer.On("insert", fakemysql.Reply{Cut: fakemysql.CutBefore, Times: 1})
	me := serverErr(t, c, "INSERT INTO t VALUES (1)")
	require.Equal(t, protocol.ErrCodeBackendLost, me.Code)
	require.Equal(t, "HY000", me.State)
	require.Equal(t, 1, h.writer.Count(mysql.COM_QUERY, "INSERT"))
	require.EqualValues(t, 1, h.d.Stats.ReadRetries.Load())
	exec(t, c, "SELECT 1") // the session goes on
}

// With no usable replica a read goes to the writer (reader_fallback), or
// fails with 9001 under reader_fallback: error; a writer hostgroup with no
// usable server tries the picker's last resort.
func TestQPFallbacks(t *testing.T) {
	h := newQP(t)
	h.picker.hgs[hgReader] = nil
	c := h.connect(t)
	require.Equal(t, h.writer.Port, port(t, c))
	require.EqualValues(t, 1, h.d.Stats.ReaderFallbacks.Load())

	h.rt = &Routing{ReaderOf: h.rt.ReaderOf, FallbackError: true}
	me := serverErr(t, c, "SELECT @@port")
	require.Equal(t, protocol.ErrCodeNoBackend, me.Code)

	h.picker.hgs[hgWriter] = nil
	h.picker.lastResort = map[int]string{hgWriter: h.writer.Addr}
	exec(t, c, "INSERT INTO t VALUES (2)")
	require.Equal(t, 1, h.writer.Count(mysql.COM_QUERY, "INSERT"), "the last resort served the write")
	h.picker.lastResort = nil
	me = serverErr(t, c, "INSERT INTO t VALUES (3)")
	require.Equal(t, protocol.ErrCodeNoBackend, me.Code, "no writer at all")
}

// Session affinity: the picker says the hostgroup keeps its server, and
// every read of the session goes to the server it first got while the
// picker keeps it.
func TestQPAffinity(t *testing.T) {
	h := newQP(t)
	h.picker.affinity = map[int]bool{hgReader: true}
	c := h.connect(t)
	first := port(t, c)
	for range 3 {
		require.Equal(t, first, port(t, c))
	}
	h.picker.hgs[hgReader] = []string{h.r2.Addr} // r1 (or r2) is given up
	if first == h.r1.Port {
		require.Equal(t, h.r2.Port, port(t, c), "a server the picker no longer keeps is left")
	}
}

// A statement prepared on one replica and executed on the other is
// prepared again there, on the connection that runs it.
func TestQPReprepareOnAnotherConnection(t *testing.T) {
	h := newQP(t)
	for _, s := range []*fakemysql.Server{h.r1, h.r2} {
		s.On("select v from t where id", fakemysql.Rows([]string{"v"}, []any{"pv"}))
	}
	c := h.connect(t)
	st, err := c.Prepare("SELECT v FROM t WHERE id = ?")
	require.NoError(t, err)
	defer st.Close()
	for range 2 {
		r, err := st.Execute(1)
		require.NoError(t, err)
		v, _ := r.GetString(0, 0)
		require.Equal(t, "pv", v)
	}
	for _, s := range []*fakemysql.Server{h.r1, h.r2} {
		require.Equal(t, 1, s.Count(mysql.COM_STMT_PREPARE, "SELECT v"), "%s: prepared once", s.Addr)
		require.Equal(t, 1, s.Count(mysql.COM_STMT_EXECUTE, "SELECT v"), "%s: executed once", s.Addr)
	}
	require.Zero(t, h.writer.Count(mysql.COM_STMT_PREPARE, "SELECT v"))
}

// COM_CHANGE_USER resets the session: the connection it held pinned (a
// temporary table) is reset with COM_RESET_CONNECTION before it goes back
// to the pool, the new user's statements are unpinned and run under its
// own backend login.
func TestQPChangeUser(t *testing.T) {
	h := newQP(t)
	c := h.connect(t)
	exec(t, c, "CREATE TEMPORARY TABLE tt (a INT)")
	require.Equal(t, h.writer.Port, port(t, c))

	pkt := append([]byte{0, 0, 0, 0, mysql.COM_CHANGE_USER}, "v"...)
	pkt = append(pkt, 0, 0) // NUL, empty auth response
	c.ResetSequence()
	require.NoError(t, c.WritePacket(pkt))
	sw, err := c.ReadPacket()
	require.NoError(t, err)
	require.Equal(t, byte(mysql.EOF_HEADER), sw[0], "auth switch request")
	require.NoError(t, c.WritePacket([]byte{0, 0, 0, 0})) // the empty password's reply
	ok, err := c.ReadPacket()
	require.NoError(t, err)
	require.Equal(t, byte(mysql.OK_HEADER), ok[0], "%q", ok)

	require.Equal(t, 1, h.writer.Count(mysql.COM_RESET_CONNECTION, ""), "the pinned connection was reset")
	require.NotEqual(t, h.writer.Port, port(t, c), "no longer pinned")
	exec(t, c, "INSERT INTO t VALUES (1)")
	var users []string
	for _, cmd := range h.writer.Received() {
		if cmd.Cmd == mysql.COM_QUERY && cmd.Arg == "INSERT INTO t VALUES (1)" {
			users = append(users, cmd.User)
		}
	}
	require.Equal(t, []string{"v"}, users, "the new user's statement runs under its own login")
}

// KILL QUERY from another session stops the statement on its server
// (1317 reaches the client, the session goes on); KILL closes the session.
func TestQPKill(t *testing.T) {
	h := newQP(t)
	for _, s := range []*fakemysql.Server{h.r1, h.r2} {
		s.On("select sleep", fakemysql.Reply{Delay: time.Hour})
	}
	victim, killer := h.connect(t), h.connect(t)
	done := make(chan error, 1)
	go func() { _, err := victim.Execute("SELECT SLEEP(3600)"); done <- err }()
	require.Eventually(t, func() bool { return h.readers("SELECT SLEEP") == 1 }, 10*time.Second, 5*time.Millisecond)
	exec(t, killer, "KILL QUERY "+strconv.FormatUint(uint64(victim.GetConnectionID()), 10))
	err := <-done
	var me *mysql.MyError
	require.ErrorAs(t, err, &me)
	require.Equal(t, uint16(mysql.ER_QUERY_INTERRUPTED), me.Code)
	require.Equal(t, 1, h.readers("KILL QUERY"), "the kill reached the statement's server")
	port(t, victim) // the session goes on

	exec(t, killer, "KILL "+strconv.FormatUint(uint64(victim.GetConnectionID()), 10))
	require.Eventually(t, func() bool { return victim.Ping() != nil }, 10*time.Second, 5*time.Millisecond,
		"KILL closes the session")
}

// A statement past its query_timeout is killed on its server and fails
// with 3024; the session goes on.
func TestQPQueryTimeout(t *testing.T) {
	h := newQP(t)
	h.rt = &Routing{ReaderOf: h.rt.ReaderOf, QueryTimeout: 50 * time.Millisecond}
	for _, s := range []*fakemysql.Server{h.r1, h.r2} {
		s.On("select slow", fakemysql.Reply{Delay: time.Hour})
	}
	c := h.connect(t)
	me := serverErr(t, c, "SELECT slow FROM t")
	require.Equal(t, protocol.ErrCodeQueryTimeout, me.Code)
	require.EqualValues(t, 1, h.d.Stats.QueryTimeouts.Load())
	require.Equal(t, 1, h.readers("KILL QUERY"))
	port(t, c)
}

// The writer dies in the middle of a transaction: the next statement
// gets 9020 with SQLSTATE 08S01 and the client connection is closed, so
// that nothing autocommits in place of the lost transaction. Outside a
// transaction the same loss is a plain 9020 and the session goes on.
func TestQPBackendLost(t *testing.T) {
	h := newQP(t)
	// One connection to the writer: every discarded connection must free
	// its slot for the statements that follow to run.
	h.d.Pools.SetServer(h.writer.Addr, 1)
	c := h.connect(t)
	exec(t, c, "BEGIN")
	exec(t, c, "INSERT INTO t VALUES (1)")
	h.writer.CloseAll()
	me := serverErr(t, c, "INSERT INTO t VALUES (2)")
	require.Equal(t, protocol.ErrCodeBackendLost, me.Code)
	require.Equal(t, "08S01", me.State)
	require.Error(t, c.Ping(), "the client connection is closed")
	require.EqualValues(t, 1, h.d.Stats.StateLost.Load())

	c2 := h.connect(t)
	exec(t, c2, "INSERT INTO t VALUES (3)")
	h.writer.CloseAll()
	h.writer.On("insert into t values (4)", fakemysql.Reply{Cut: fakemysql.CutBefore, Times: 1})
	me = serverErr(t, c2, "INSERT INTO t VALUES (4)")
	require.Equal(t, protocol.ErrCodeBackendLost, me.Code)
	require.Equal(t, "HY000", me.State)
	exec(t, c2, "INSERT INTO t VALUES (5)")
	require.EqualValues(t, 1, h.d.Stats.StateLost.Load())
	require.EqualValues(t, 0, h.d.Pools.Stats(h.writer.Addr).ConnUsed.Load())
}

// A server at its connection limit makes the statement wait
// pool.wait_timeout, then fail with 9010; the connection it waited for
// serves the next statement once released.
func TestQPConnLimit(t *testing.T) {
	h := newQP(t)
	h.d.Pools.SetServer(h.writer.Addr, 1)
	a, b := h.connect(t), h.connect(t)
	exec(t, a, "BEGIN") // holds the writer's one connection
	me := serverErr(t, b, "INSERT INTO t VALUES (1)")
	require.Equal(t, protocol.ErrCodeConnLimit, me.Code)
	exec(t, a, "COMMIT")
	exec(t, b, "INSERT INTO t VALUES (1)")
	st := h.d.Pools.Stats(h.writer.Addr)
	require.EqualValues(t, 0, st.ConnUsed.Load(), "every connection went back")
	require.EqualValues(t, 1, st.MaxConnUsed.Load())
}

// The digest statistics count every execute of a prepared statement and
// every text statement under its own digest, with the rows each sent; the
// prepared statement's digest is computed once and kept, and the types a
// client resends with every execute are the ones the replica gets.
func TestQPDigestsPreparedAndText(t *testing.T) {
	h, c := pointSelectSession(t)
	st, err := c.Prepare("SELECT c FROM sbtest1 WHERE id=?")
	require.NoError(t, err)
	defer st.Close()
	for i := range 3 {
		r, err := st.Execute(i + 1)
		require.NoError(t, err)
		v, _ := r.GetString(0, 0)
		require.Equal(t, "value", v)
	}
	r, err := st.Execute("text") // other types bound: the replica must get them
	require.NoError(t, err)
	require.Equal(t, 1, r.RowNumber())
	for i := range 2 {
		_, err := c.Execute(fmt.Sprintf("SELECT c FROM sbtest1 WHERE id=%d", 10+i))
		require.NoError(t, err)
	}
	got := map[string]uint64{}
	rows := map[string]uint64{}
	for _, d := range h.d.Digests.Snapshot() {
		require.Equal(t, hgReader, d.Hostgroup, d.Digest)
		got[d.Digest] += d.Count
		rows[d.Digest] += d.SumRowsSent
	}
	require.Equal(t, map[string]uint64{"select c from sbtest1 where id = ?": 6}, got)
	require.Equal(t, uint64(6), rows["select c from sbtest1 where id = ?"])
}

// pointSelectSession is a session with digest statistics, as the
// application runs it (internal/app: session.NewDigests), whose replicas
// answer sysbench's point select ("select c from sbtest1 ...").
func pointSelectSession(t testing.TB) (*qp, *client.Conn) {
	t.Helper()
	h := newQP(t)
	reserve(t, h, func(d *Deps) { d.Digests = NewDigests(10000) })
	for _, s := range []*fakemysql.Server{h.r1, h.r2} {
		s.On("select c from sbtest1", fakemysql.Rows([]string{"c"}, []any{"value"}))
	}
	return h, h.connect(t)
}

func pointSelectQP(b *testing.B) *client.Conn {
	_, c := pointSelectSession(b)
	return c
}

// BenchmarkQPPointSelect is one autocommit point select through a session
// to a fake replica, client and fake server included (their allocations
// are the same for every version of the session): the per-statement
// path's cost and allocations, without MariaDB.
//
// The session keeps digest statistics, as the application's sessions do
// (internal/app: session.NewDigests), so the benchmark measures the default
// configuration's query path.
func BenchmarkQPPointSelect(b *testing.B) {
	c := pointSelectQP(b)
	b.ReportAllocs()
	for b.Loop() {
		if _, err := c.Execute("SELECT c FROM sbtest1 WHERE id=1"); err != nil {
			b.Fatal(err)
		}
	}
}

// BenchmarkQPPointSelectPrepared is BenchmarkQPPointSelect with a
// prepared statement (sysbench's default --db-ps-mode=auto): one
// COM_STMT_EXECUTE per iteration.
func BenchmarkQPPointSelectPrepared(b *testing.B) {
	c := pointSelectQP(b)
	st, err := c.Prepare("SELECT c FROM sbtest1 WHERE id=?")
	if err != nil {
		b.Fatal(err)
	}
	b.Cleanup(func() { _ = st.Close() })
	b.ReportAllocs()
	for b.Loop() {
		if _, err := st.Execute(1); err != nil {
			b.Fatal(err)
		}
	}
}

// observations records what the session reports to Deps.Observer.
type observations struct {
	mu  sync.Mutex
	got []observed
}

type observed struct {
	hg   int
	addr string
	d    time.Duration
}

func (o *observations) ObserveQuery(hg int, addr, _, _ string, d time.Duration, _ int) {
	o.mu.Lock()
	defer o.mu.Unlock()
	o.got = append(o.got, observed{hg, addr, d})
}

func (o *observations) last() observed {
	o.mu.Lock()
	defer o.mu.Unlock()
	return o.got[len(o.got)-1]
}

// COM_INIT_DB is accounted as a request of its own: the writer's
// hostgroup (not the previous statement's), and a latency that covers the
// server's reply (here held back 20 ms, so it cannot be near 0).
func TestQPInitDBObserved(t *testing.T) {
	h := newQP(t)
	obs := &observations{}
	h.d.Observer = obs
	h.writer.On("use slowdb", fakemysql.Reply{Delay: 20 * time.Millisecond})
	c := h.connect(t)
	require.NotEqual(t, h.writer.Port, port(t, c))
	require.Equal(t, observed{hgReader, obs.last().addr, obs.last().d}, obs.last())
	require.NoError(t, c.UseDB("slowdb"))
	got := obs.last()
	require.Equal(t, hgWriter, got.hg, "COM_INIT_DB runs on the writer")
	require.Equal(t, h.writer.Addr, got.addr)
	require.GreaterOrEqual(t, got.d, 20*time.Millisecond, "the latency includes the server's reply")
	require.Equal(t, 1, h.writer.Count(mysql.COM_INIT_DB, "slowdb"))
}

// A session variable the server reports in its OK packet's trackers is
// replayed on every other connection the session uses, before its
// statement, with one SET SESSION of the differences.
func TestQPSessionStateSynced(t *testing.T) {
	h := newQP(t)
	track := &mysql.Result{Status: mysql.SERVER_SESSION_STATE_CHANGED,
		SessionTracking: &mysql.SessionTrackingInfo{Variables: map[string]string{"sql_mode": "ANSI_QUOTES"}}}
	for _, s := range []*fakemysql.Server{h.writer, h.r1, h.r2} {
		s.On("set session sql_mode", fakemysql.Reply{OK: track})
	}
	c := h.connect(t)
	exec(t, c, "SET SESSION sql_mode = 'ANSI_QUOTES'")
	p := port(t, c)
	require.NotEqual(t, h.writer.Port, p, "a SET whose effect is tracked does not pin")
	replica := h.r1
	if p == h.r2.Port {
		replica = h.r2
	}
	stmts := replica.Statements()
	require.GreaterOrEqual(t, len(stmts), 2)
	require.Equal(t, "SELECT @@port", stmts[len(stmts)-1])
	require.Contains(t, stmts[len(stmts)-2], "sql_mode", "the variable is synced before the read")
	require.Contains(t, stmts[len(stmts)-2], "ANSI_QUOTES")
}
