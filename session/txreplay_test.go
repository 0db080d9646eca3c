package session

import (
	"encoding/binary"
	"fmt"
	"net"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/go-mysql-org/go-mysql/mysql"
	mysqlserver "github.com/go-mysql-org/go-mysql/server"
	"github.com/stretchr/testify/require"

	"github.com/rwproxy/rwproxy/config"
	"github.com/rwproxy/rwproxy/internal/testkit/fakebackend"
	"github.com/rwproxy/rwproxy/protocol"
	"github.com/rwproxy/rwproxy/router"
)

// kvServer is a fake server holding one value v: "SELECT v" returns it
// (text or binary protocol), "UPDATE" answers 1 affected row, BEGIN /
// COMMIT / ROLLBACK set the transaction status. Once dead, it closes each
// connection at its next command (a killed server) and refuses new ones.
type kvServer struct {
	addr   string
	v      atomic.Int64
	dead   atomic.Bool
	lost   atomic.Bool // a connection found it dead
	mu     sync.Mutex
	log    []string // statements received, in order
	byAddr map[string]*kvConn
	// The commit check's table (commitcheck_test.go): markers may be
	// shared by two servers (a replicated table); markerErr makes the
	// marker statement fail with that code; markerDies kills the server
	// at the marker statement; commitDies kills it at a COMMIT, before (1)
	// or after (2) it commits.
	markers    *markerTable
	markerErr  atomic.Uint32
	markerDies atomic.Bool
	commitDies atomic.Int32
	// readOnly makes UPDATE, and the COMMIT of a transaction that
	// updated, fail with 1290 (a demoted primary; txreplayro_test.go).
	readOnly atomic.Bool
}

type kvConn struct {
	mysqlserver.EmptyHandler
	srv     *kvServer
	nc      net.Conn
	c       *mysqlserver.Conn
	pending map[string]string // markers of the open transaction
	wrote   bool              // the open transaction ran an UPDATE
}

func startKV(t *testing.T, v int64) *kvServer {
	t.Helper()
	s := &kvServer{byAddr: map[string]*kvConn{}, markers: &markerTable{m: map[string]string{}}}
	s.v.Store(v)
	s.addr = fakebackend.Start(t, fakebackend.Options{
		Handler: func(nc net.Conn) mysqlserver.Handler {
			h := &kvConn{srv: s, nc: nc}
			s.mu.Lock()
			s.byAddr[nc.RemoteAddr().String()] = h
			s.mu.Unlock()
			if s.dead.Load() {
				_ = nc.Close()
			}
			return h
		},
		OnLogin: func(c *mysqlserver.Conn) {
			s.mu.Lock()
			if h := s.byAddr[c.RemoteAddr().String()]; h != nil {
				h.c = c
			}
			s.mu.Unlock()
		}})
	return s
}

func (s *kvServer) statements() []string {
	s.mu.Lock()
	defer s.mu.Unlock()
	return append([]string(nil), s.log...)
}

func (h *kvConn) run(q string, binary bool) (*mysql.Result, error) {
	if h.srv.dead.Load() {
		h.srv.lost.Store(true)
		_ = h.nc.Close()
		return nil, errDied
	}
	uq := strings.ToUpper(strings.TrimSpace(q))
	if strings.HasPrefix(uq, "SET ") || strings.HasPrefix(uq, "SELECT @@") {
		if strings.HasPrefix(uq, "SELECT @@") {
			rs, _ := mysql.BuildSimpleTextResultset([]string{"c"}, [][]any{{"utf8mb4_0900_ai_ci"}})
			return &mysql.Result{Resultset: rs}, nil
		}
		return nil, nil // the pool's and the session's own settings
	}
	h.srv.mu.Lock()
	h.srv.log = append(h.srv.log, q)
	h.srv.mu.Unlock()
	// A read-only server refuses writes, the commit check's marker and
	// the COMMIT of a transaction that wrote (before the markers commit).
	refused := h.srv.readOnly.Load() && (strings.HasPrefix(uq, "UPDATE") || strings.HasPrefix(uq, "INSERT") ||
		(strings.HasPrefix(uq, "COMMIT") && (h.wrote || len(h.pending) > 0)))
	if refused {
		return nil, mysql.NewError(mysql.ER_OPTION_PREVENTS_STATEMENT,
			"The MySQL server is running with the --super-read-only option so it cannot execute this statement")
	}
	if r, ok, err := h.marker(q, uq); ok {
		return r, err
	}
	switch {
	case strings.HasPrefix(uq, "BEGIN"), strings.HasPrefix(uq, "START"):
		h.wrote = false
		h.c.SetStatus(mysql.SERVER_STATUS_IN_TRANS)
	case strings.HasPrefix(uq, "COMMIT"), strings.HasPrefix(uq, "ROLLBACK"):
		h.wrote = false
		h.c.UnsetStatus(mysql.SERVER_STATUS_IN_TRANS)
	case strings.HasPrefix(uq, "UPDATE"):
		h.wrote = true
		return &mysql.Result{AffectedRows: 1}, nil
	case strings.HasPrefix(uq, "SELECT"):
		var rs *mysql.Resultset
		var err error
		if binary {
			rs, err = mysql.BuildSimpleBinaryResultset([]string{"v"}, [][]any{{h.srv.v.Load()}})
		} else {
			rs, err = mysql.BuildSimpleTextResultset([]string{"v"}, [][]any{{h.srv.v.Load()}})
		}
		return &mysql.Result{Resultset: rs}, err
	}
	return nil, nil
}

func (h *kvConn) HandleOtherCommand(cmd byte, _ []byte) error {
	if cmd == mysql.COM_SET_OPTION {
		return nil // EOF
	}
	return mysql.NewError(mysql.ER_UNKNOWN_COM_ERROR, "unknown command")
}

func (h *kvConn) HandleQuery(q string) (*mysql.Result, error) { return h.run(q, false) }

func (h *kvConn) HandleStmtPrepare(q string) (int, int, any, error) {
	if h.srv.dead.Load() {
		_ = h.nc.Close()
		return 0, 0, nil, errDied
	}
	params := strings.Count(q, "?")
	cols := 0
	if strings.HasPrefix(strings.ToUpper(q), "SELECT") {
		cols = 1
	}
	return params, cols, nil, nil
}

func (h *kvConn) HandleStmtExecute(_ any, q string, args []any) (*mysql.Result, error) {
	return h.run(q, true)
}

// switchPicker sends hostgroup 10 to the address it holds.
type switchPicker struct{ addr atomic.Pointer[string] }

func (p *switchPicker) Pick(int) (string, bool, error) { return *p.addr.Load(), false, nil }
func (*switchPicker) Keep(int, string) bool            { return false }
func (*switchPicker) LastResort(int) (string, error)   { return "", errNoPick }
func (*switchPicker) Observe(string, time.Duration)    {}

func (p *switchPicker) set(a string) { p.addr.Store(&a) }

// failoverPicker names a until a connection found it dead, then b (a
// monitor that saw the failover at once).
type failoverPicker struct{ a, b *kvServer }

func (p *failoverPicker) Pick(int) (string, bool, error) {
	if p.a.lost.Load() {
		return p.b.addr, false, nil
	}
	return p.a.addr, false, nil
}
func (*failoverPicker) Keep(int, string) bool          { return false }
func (*failoverPicker) LastResort(int) (string, error) { return "", errNoPick }
func (*failoverPicker) Observe(string, time.Duration)  {}

// replaySession serves a session with transaction replay on, in front of
// servers a (the first writer) and b.
func replaySession(t *testing.T, a, b *kvServer) (net.Conn, *Stats, *switchPicker) {
	t.Helper()
	p := &switchPicker{}
	p.set(a.addr)
	rt := &Routing{ReaderOf: map[int]int{}, FailoverBuffer: 5 * time.Second,
		Replay: ReplayConfig{On: true, MaxSize: 1 << 20, Attempts: 3, Timeout: 20 * time.Second}}
	nc, st := servedSession(t, p, rt, a.addr, b.addr)
	return nc, st, p
}

// query runs q and returns the reply's packets.
func query(t *testing.T, nc net.Conn, q string) []wirePacket {
	t.Helper()
	send(t, nc, mysql.COM_QUERY, []byte(q)...)
	return replyOf(t, nc)
}

// replyOf reads one complete reply: an OK or ERR packet, or a result set
// up to its closing EOF.
func replyOf(t *testing.T, nc net.Conn) []wirePacket {
	t.Helper()
	eofs := 0
	ps, closed := reply(t, nc, func(i int, p []byte) bool {
		if i == 0 && p[0] == mysql.OK_HEADER {
			return true
		}
		if p[0] == mysql.EOF_HEADER && len(p) < 9 {
			eofs++
		}
		return eofs == 2
	})
	require.False(t, closed, "the session closed the connection")
	requireWellFormed(t, ps)
	return ps
}

func requireOK(t *testing.T, ps []wirePacket) {
	t.Helper()
	require.Equal(t, byte(mysql.OK_HEADER), ps[0].payload[0], "%q", ps[0].payload)
}

// textValue is the value of the one-row, one-column text result ps.
func textValue(t *testing.T, ps []wirePacket) string {
	t.Helper()
	require.Len(t, ps, 5, "count, definition, EOF, row, EOF")
	row := ps[3].payload
	return string(row[1 : 1+int(row[0])])
}

func TestReplayTextTransaction(t *testing.T) {
	a, b := startKV(t, 7), startKV(t, 7)
	nc, st, p := replaySession(t, a, b)
	requireOK(t, query(t, nc, "BEGIN"))
	require.Equal(t, "7", textValue(t, query(t, nc, "SELECT v FROM t")))
	requireOK(t, query(t, nc, "UPDATE t SET v = v + 1"))

	a.dead.Store(true) // the writer is killed; b is the new one
	p.set(b.addr)
	require.Equal(t, "7", textValue(t, query(t, nc, "SELECT v FROM t")), "the client sees no error")
	requireOK(t, query(t, nc, "COMMIT"))

	require.Equal(t, []string{"BEGIN", "SELECT v FROM t", "UPDATE t SET v = v + 1", "SELECT v FROM t", "COMMIT"},
		b.statements(), "the transaction replayed on the new writer, then went on there")
	require.EqualValues(t, 1, st.Replay.Started.Load())
	require.EqualValues(t, 1, st.Replay.Succeeded.Load())
	require.Zero(t, st.Replay.Mismatches.Load())
	require.Zero(t, st.StateLost.Load())
}

func TestReplayChecksumMismatch(t *testing.T) {
	a, b := startKV(t, 7), startKV(t, 8) // another transaction changed v
	nc, st, p := replaySession(t, a, b)
	requireOK(t, query(t, nc, "BEGIN"))
	require.Equal(t, "7", textValue(t, query(t, nc, "SELECT v FROM t")))
	a.dead.Store(true)
	p.set(b.addr)
	ps := query(t, nc, "UPDATE t SET v = v + 1")
	require.EqualValues(t, mysql.ER_LOCK_DEADLOCK, errCode(ps[0]), "%q", ps[0].payload)
	require.Equal(t, "40001", string(ps[0].payload[4:9]))
	require.Equal(t, []string{"BEGIN", "SELECT v FROM t", "ROLLBACK"}, b.statements(),
		"the replay stopped at the differing result and was rolled back")
	require.EqualValues(t, 1, st.Replay.Mismatches.Load())

	// The client's retry runs as a new transaction.
	requireOK(t, query(t, nc, "ROLLBACK"))
	requireOK(t, query(t, nc, "BEGIN"))
	require.Equal(t, "8", textValue(t, query(t, nc, "SELECT v FROM t")))
	requireOK(t, query(t, nc, "UPDATE t SET v = v + 1"))
	requireOK(t, query(t, nc, "COMMIT"))
	require.Equal(t, []string{"BEGIN", "SELECT v FROM t", "UPDATE t SET v = v + 1", "COMMIT"}, b.statements()[4:])
}

func TestReplayCommitInDoubtNotReplayed(t *testing.T) {
	a, b := startKV(t, 7), startKV(t, 7)
	nc, st, p := replaySession(t, a, b)
	requireOK(t, query(t, nc, "BEGIN"))
	requireOK(t, query(t, nc, "UPDATE t SET v = v + 1"))
	a.dead.Store(true)
	p.set(b.addr)
	ps := query(t, nc, "COMMIT")
	require.Equal(t, protocol.ErrCodeBackendLost, errCode(ps[0]), "%q", ps[0].payload)
	require.Equal(t, "HY000", string(ps[0].payload[4:9]), "the session goes on: its transaction is over either way")
	require.Empty(t, b.statements(), "a COMMIT whose outcome is unknown is never replayed")
	require.EqualValues(t, 1, st.Replay.Failed[ReplayCommitInDoubt].Load())
	require.Zero(t, st.StateLost.Load())
	require.Equal(t, "7", textValue(t, query(t, nc, "SELECT v FROM t")), "the next statement runs (on b)")
}

func TestReplayReadOnlyCommitAndRollback(t *testing.T) {
	for _, end := range []string{"COMMIT", "ROLLBACK"} {
		t.Run(end, func(t *testing.T) {
			a, b := startKV(t, 7), startKV(t, 7)
			nc, st, p := replaySession(t, a, b)
			requireOK(t, query(t, nc, "BEGIN"))
			require.Equal(t, "7", textValue(t, query(t, nc, "SELECT v FROM t")))
			if end == "ROLLBACK" {
				requireOK(t, query(t, nc, "UPDATE t SET v = v + 1"))
			}
			a.dead.Store(true)
			p.set(b.addr)
			ps := query(t, nc, end)
			requireOK(t, ps)
			status := binary.LittleEndian.Uint16(ps[0].payload[3:5])
			require.Zero(t, status&mysql.SERVER_STATUS_IN_TRANS, "the transaction is over")
			require.Empty(t, b.statements())
			require.EqualValues(t, 1, st.Replay.Succeeded.Load())
			require.Equal(t, "7", textValue(t, query(t, nc, "SELECT v FROM t")), "the session goes on")
		})
	}
}

// prepareAll prepares q and reads the whole reply (the parameter and
// column definitions, each list closed by EOF).
func prepareAll(t *testing.T, nc net.Conn, q string) uint32 {
	t.Helper()
	send(t, nc, mysql.COM_STMT_PREPARE, []byte(q)...)
	want := -1
	ps, closed := reply(t, nc, func(i int, p []byte) bool {
		if i == 0 {
			cols, params := binary.LittleEndian.Uint16(p[5:7]), binary.LittleEndian.Uint16(p[7:9])
			want = 0
			for _, n := range []uint16{cols, params} {
				if n > 0 {
					want += int(n) + 1
				}
			}
		}
		return i == want
	})
	require.False(t, closed)
	require.Equal(t, byte(0), ps[0].payload[0], "prepare OK")
	return binary.LittleEndian.Uint32(ps[0].payload[1:5])
}

func TestReplayPreparedTransaction(t *testing.T) {
	a, b := startKV(t, 7), startKV(t, 7)
	nc, st, p := replaySession(t, a, b)
	begin := prepareAll(t, nc, "BEGIN")
	sel := prepareAll(t, nc, "SELECT v FROM t WHERE id = ?")
	upd := prepareAll(t, nc, "UPDATE t SET v = v + 1 WHERE id = ?")
	commit := prepareAll(t, nc, "COMMIT")
	exec := func(id uint32, arg int64) []wirePacket {
		body := []byte{byte(id), byte(id >> 8), byte(id >> 16), byte(id >> 24), 0, 1, 0, 0, 0}
		if arg >= 0 {
			body = append(body, 0, 1, mysql.MYSQL_TYPE_LONGLONG, 0)
			body = binary.LittleEndian.AppendUint64(body, uint64(arg))
		}
		send(t, nc, mysql.COM_STMT_EXECUTE, body...)
		return replyOf(t, nc)
	}
	requireOK(t, exec(begin, -1))
	rows := exec(sel, 1)
	require.Len(t, rows, 5)
	requireOK(t, exec(upd, 1))

	a.dead.Store(true)
	p.set(b.addr)
	again := exec(sel, 2)
	require.Len(t, again, 5, "the binary result, no error")
	require.Equal(t, rows[3].payload, again[3].payload)
	requireOK(t, exec(commit, -1))
	require.Equal(t, []string{"BEGIN", "SELECT v FROM t WHERE id = ?", "UPDATE t SET v = v + 1 WHERE id = ?",
		"SELECT v FROM t WHERE id = ?", "COMMIT"}, b.statements())
	require.EqualValues(t, 1, st.Replay.Succeeded.Load())
}

func TestReplayOffOrTooBig(t *testing.T) {
	t.Run("too_big", func(t *testing.T) {
		a, b := startKV(t, 7), startKV(t, 7)
		p := &switchPicker{}
		p.set(a.addr)
		rt := &Routing{ReaderOf: map[int]int{}, FailoverBuffer: time.Second,
			Replay: ReplayConfig{On: true, MaxSize: 40, Attempts: 3, Timeout: 10 * time.Second}}
		nc, st := servedSession(t, p, rt, a.addr, b.addr)
		requireOK(t, query(t, nc, "BEGIN"))
		requireOK(t, query(t, nc, "UPDATE t SET v = v + 1 /* a long statement past the record's bound */"))
		a.dead.Store(true)
		p.set(b.addr)
		send(t, nc, mysql.COM_QUERY, []byte("SELECT v FROM t")...)
		requireStateLost(t, nc, st)
		require.EqualValues(t, 1, st.Replay.TooBig.Load())
		require.EqualValues(t, 1, st.Replay.Failed[ReplayNotReplayable].Load())
		require.Empty(t, b.statements())
	})
	t.Run("autocommit_write_not_rerun", func(t *testing.T) {
		a, b := startKV(t, 7), startKV(t, 7)
		nc, st, _ := replaySession(t, a, b)
		require.Equal(t, "7", textValue(t, query(t, nc, "SELECT v FROM t"))) // leaves an idle connection to a
		a.dead.Store(true)
		ps := query(t, nc, "UPDATE t SET v = v + 1")
		require.Equal(t, protocol.ErrCodeBackendLost, errCode(ps[0]))
		require.Empty(t, b.statements(), "an autocommit write whose outcome is unknown is never re-run")
		require.Zero(t, st.Replay.Started.Load())
	})
}

func TestReplayableStatements(t *testing.T) {
	for _, c := range []struct {
		kind  router.Kind
		flags router.Flags
		sql   string
		want  bool
	}{
		{router.KindRead, 0, "SELECT 1", true},
		{router.KindRead, router.FlagLockingRead, "SELECT 1 FOR UPDATE", true},
		{router.KindBegin, router.FlagReadOnlyTxn, "START TRANSACTION READ ONLY", true},
		{router.KindWrite, 0, "UPDATE t SET a = 1", true},
		{router.KindWrite, 0, " /* c */ insert into t values (1)", true},
		{router.KindWrite, 0, "-- c\nDELETE FROM t", true},
		{router.KindWrite, 0, "(REPLACE INTO t VALUES (1))", true},
		{router.KindWrite, 0, "CREATE TABLE t (a int)", false}, // commits implicitly
		{router.KindWrite, 0, "ALTER TABLE t ADD b int", false},
		{router.KindWrite, router.FlagCall, "CALL p()", false},
		{router.KindWrite, router.FlagMulti, "UPDATE t SET a = 1; COMMIT", false},
		{router.KindWrite, router.FlagLoadLocal, "LOAD DATA LOCAL INFILE 'f' INTO TABLE t", false},
		{router.KindWrite, router.FlagParseError, "UPDATE t SET", false},
		{router.KindRead, router.FlagSelectInto, "SELECT 1 INTO OUTFILE '/tmp/x'", false},
		{router.KindWrite, router.FlagCreateTempTable, "CREATE TEMPORARY TABLE t (a int)", false},
		{router.KindXA, 0, "XA START 'x'", false},
	} {
		require.Equal(t, c.want, replayable(c.kind, c.flags, c.sql), c.sql)
	}
}

func TestIdempotentRuleRerunsAutocommitWrite(t *testing.T) {
	for _, idem := range []bool{false, true} {
		t.Run(fmt.Sprint("idempotent=", idem), func(t *testing.T) {
			a, b := startKV(t, 7), startKV(t, 7)
			p := &failoverPicker{a: a, b: b}
			rules, err := router.CompileRules([]config.QueryRule{{RuleID: 1, Active: true,
				MatchPattern: `^UPDATE t SET v = 5`, Idempotent: idem}})
			require.NoError(t, err)
			rt := &Routing{Rules: rules, ReaderOf: map[int]int{}, FailoverBuffer: 5 * time.Second}
			nc, st := servedSession(t, p, rt, a.addr, b.addr)
			require.Equal(t, "7", textValue(t, query(t, nc, "SELECT v FROM t"))) // an idle connection to a
			a.dead.Store(true)
			ps := query(t, nc, "UPDATE t SET v = 5 WHERE id = 1")
			if !idem {
				require.Equal(t, protocol.ErrCodeBackendLost, errCode(ps[0]), "an unknown outcome is never re-run")
				require.Empty(t, b.statements())
				return
			}
			requireOK(t, ps)
			require.Equal(t, []string{"UPDATE t SET v = 5 WHERE id = 1"}, b.statements(), "re-run once on the new writer")
			require.EqualValues(t, 1, st.Replay.IdempotentRetries.Load())
		})
	}
}

// recordingSession is a session with transaction replay on, inside a
// transaction, for the record's benchmarks (no backend: the hooks only).
func recordingSession() *Session {
	rt := &Routing{Replay: ReplayConfig{On: true, MaxSize: 4 << 20, Attempts: 1, Timeout: time.Second}}
	s := &Session{d: &Deps{Stats: &Stats{}, Routing: func() *Routing { return rt }}}
	s.st.initCharset(45)
	return s
}

// recordTxn runs the record's hooks for BEGIN and n-1 UPDATEs (st, pkt),
// the last of which ends the transaction.
func recordTxn(s *Session, st *router.Stmt, pkt []byte, n int) {
	t := target{hg: 10, writer: 10}
	var r request
	ok := protocol.OK{AffectedRows: 1}
	begin := router.Stmt{Kind: router.KindBegin}
	for i := range n {
		if i == 0 {
			s.txNote(&begin, "BEGIN")
		} else {
			s.txNote(st, bytesToString(pkt[5:]))
		}
		s.txBegin(&r, pkt, opQuery, &t)
		s.txOK(&ok)
		s.inTxn = i < n-1 // the last statement ends the transaction
		if s.inTxn && !(s.tx.open && !s.tx.broken && len(s.tx.ents) == i) {
			panic("statement not recorded")
		}
		s.txEnd(&r, protocol.Response{Affected: 1, HasStatus: true}, nil)
	}
}

// TestRecordAllocatesNothing: recording a transaction's statements costs
// no allocation once the session's buffers have grown.
func TestRecordAllocatesNothing(t *testing.T) {
	s := recordingSession()
	st := router.Stmt{Kind: router.KindWrite}
	pkt := append([]byte{0, 0, 0, 0, mysql.COM_QUERY}, "UPDATE sbtest1 SET k = k + 1 WHERE id = 5012"...)
	recordTxn(s, &st, pkt, 20)
	require.Zero(t, testing.AllocsPerRun(100, func() { recordTxn(s, &st, pkt, 20) }))
	require.False(t, s.tx.open, "the record ends with the transaction")
}

func BenchmarkRecordStatement(b *testing.B) {
	s := recordingSession()
	st := router.Stmt{Kind: router.KindWrite}
	pkt := append([]byte{0, 0, 0, 0, mysql.COM_QUERY}, "UPDATE sbtest1 SET k = k + 1 WHERE id = 5012"...)
	b.ReportAllocs()
	for b.Loop() {
		recordTxn(s, &st, pkt, 20)
	}
}
