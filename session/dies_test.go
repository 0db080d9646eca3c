package session

import (
	"encoding/binary"
	"errors"
	"io"
	"net"
	"strings"
	"sync/atomic"
	"testing"
	"time"

	"github.com/go-mysql-org/go-mysql/mysql"
	mysqlserver "github.com/go-mysql-org/go-mysql/server"
	"github.com/stretchr/testify/require"
	"go.uber.org/zap/zaptest"

	"github.com/rwproxy/rwproxy/config"
	"github.com/rwproxy/rwproxy/internal/testkit/fakebackend"
	"github.com/rwproxy/rwproxy/protocol"
	"github.com/rwproxy/rwproxy/router"
)

// Issue #21: whatever point of a reply a backend dies at, the client gets
// either one well-formed ERR packet with the sequence id of the command's
// reply, or (once part of the reply was relayed) a clean close: never a
// partial reply followed by more packets, never a client-library code.

// dyingBackend is a fake server that dies at the point a statement names:
// "before" closes the connection before answering; "mid" sends the first
// packets of the reply, then closes it.
type dyingBackend struct {
	mysqlserver.EmptyHandler
	nc net.Conn
}

// rawWrite writes whole packets with sequence ids from 1, as a server's
// reply.
func rawWrite(nc net.Conn, payloads ...[]byte) {
	for i, p := range payloads {
		n := len(p)
		_, _ = nc.Write(append([]byte{byte(n), byte(n >> 8), byte(n >> 16), byte(i + 1)}, p...))
	}
}

var errDied = errors.New("fake backend died")

func (h *dyingBackend) die(q string, partial ...[]byte) error {
	if strings.Contains(q, "mid") {
		rawWrite(h.nc, partial...)
	}
	_ = h.nc.Close()
	return errDied
}

// columnDef is a column definition packet (protocol 4.1) for name.
func columnDef(name string) []byte {
	f := &mysql.Field{Name: []byte(name), Type: mysql.MYSQL_TYPE_LONGLONG, Charset: 63}
	return f.Dump()
}

func dies(q string) bool { return strings.Contains(q, "die_") }

func (h *dyingBackend) HandleQuery(q string) (*mysql.Result, error) {
	if !dies(q) {
		if strings.HasPrefix(q, "BEGIN") {
			return &mysql.Result{Status: mysql.SERVER_STATUS_IN_TRANS}, nil
		}
		return nil, nil
	}
	// A text result set of one column: count, definition, EOF, one row.
	return nil, h.die(q, []byte{1}, columnDef("c"), []byte{mysql.EOF_HEADER, 0, 0, 2, 0}, []byte{1, '7'})
}

func (h *dyingBackend) HandleStmtPrepare(q string) (int, int, any, error) {
	if dies(q) && strings.Contains(q, "prepare") {
		// The prepare OK announces one column; its definition never comes.
		return 0, 0, nil, h.die(q, []byte{0, 1, 0, 0, 0, 1, 0, 0, 0, 0, 0, 0})
	}
	if strings.Contains(q, "rows") {
		return 0, 1, nil, nil
	}
	return 0, 0, nil, nil
}

func (h *dyingBackend) HandleStmtExecute(_ any, q string, _ []any) (*mysql.Result, error) {
	if !dies(q) {
		return nil, nil
	}
	// A binary result set: count, definition, EOF, one binary row.
	return nil, h.die(q, []byte{1}, columnDef("c"), []byte{mysql.EOF_HEADER, 0, 0, 2, 0},
		[]byte{0, 0, 7, 0, 0, 0, 0, 0, 0, 0})
}

func (h *dyingBackend) HandleFieldList(table, _ string) ([]*mysql.Field, error) {
	if !dies(table) {
		return nil, nil
	}
	return nil, h.die(table, columnDef("a"), columnDef("b"))
}

func (h *dyingBackend) UseDB(db string) error {
	if dies(db) {
		return h.die(db)
	}
	return nil
}

func (h *dyingBackend) HandleOtherCommand(cmd byte, _ []byte) error {
	switch cmd {
	case mysql.COM_STATISTICS:
		return h.die("")
	case mysql.COM_SET_OPTION:
		return nil // EOF
	}
	return mysql.NewError(mysql.ER_UNKNOWN_COM_ERROR, "unknown command")
}

// diesSession serves one client session (already logged in as "u") on a
// loopback socket, in front of a dyingBackend, and returns the client's
// end and the session's counters.
func diesSession(t *testing.T) (net.Conn, *Stats) {
	t.Helper()
	addr := startDying(t)
	return servedSession(t, onePicker(addr), &Routing{ReaderOf: map[int]int{}}, addr)
}

func startDying(t *testing.T) string {
	return fakebackend.Start(t, fakebackend.Options{
		Handler: func(nc net.Conn) mysqlserver.Handler { return &dyingBackend{nc: nc} }})
}

// servedSession runs a session of user "u" (writer hostgroup 10) routed
// by rt to the servers p picks (addrs).
func servedSession(t *testing.T, p Picker, rt *Routing, addrs ...string) (net.Conn, *Stats) {
	t.Helper()
	return servedSessionAs(t, config.User{Username: "u", Password: "pw", DefaultHostgroup: 10}, p, rt, addrs...)
}

// servedSessionAs is servedSession for user u (whose password must be
// "pw", the fake backends'). A fast_forward user's session has no
// classifier: classifying one of its statements would panic.
func servedSessionAs(t *testing.T, u config.User, p Picker, rt *Routing, addrs ...string) (net.Conn, *Stats) {
	t.Helper()
	return servedSessionFull(t, u, p, func() *Routing { return rt }, nil, addrs...)
}

// servedSessionWith is servedSession with the routing read from rt at each
// statement and with more dependencies set by with (when not nil).
func servedSessionWith(t *testing.T, p Picker, rt func() *Routing, with func(*Deps), addrs ...string) (net.Conn, *Stats) {
	t.Helper()
	return servedSessionFull(t, config.User{Username: "u", Password: "pw", DefaultHostgroup: 10}, p, rt, with, addrs...)
}

// servedSessionFull is servedSessionAs with servedSessionWith's options.
func servedSessionFull(t *testing.T, u config.User, p Picker, rt func() *Routing, with func(*Deps), addrs ...string) (net.Conn, *Stats) {
	t.Helper()
	cli, d := servedSessionOf(t, u, p, rt, with, false, addrs...)
	return cli, d.Stats
}

// servedSessionOf is servedSessionFull returning the deps; register puts
// the session in its registry, as Serve does (txhandover_test.go).
func servedSessionOf(t *testing.T, u config.User, p Picker, rt func() *Routing, with func(*Deps), register bool,
	addrs ...string) (net.Conn, *Deps) {
	t.Helper()
	m := newPools(t, addrs[0], 10, 2*time.Second)
	for _, a := range addrs[1:] {
		m.SetServer(a, 10)
	}
	cfg := config.Defaults()
	cfg.Users = []config.User{u}
	st := &Stats{}
	d := &Deps{Pools: m, Stats: st, Log: zaptest.NewLogger(t), Config: func() *config.Config { return cfg },
		Routing: rt, Picker: p, Registry: NewRegistry(),
		MaxPacket: 1 << 20}
	if with != nil {
		with(d)
	}
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	require.NoError(t, err)
	defer ln.Close()
	cli, err := net.Dial("tcp", ln.Addr().String())
	require.NoError(t, err)
	srv, err := ln.Accept()
	require.NoError(t, err)
	t.Cleanup(func() { _ = cli.Close() })
	s := &Session{id: 1, d: d, ctx: t.Context(), nc: srv, cl: protocol.NewClientConn(srv),
		user: cfg.Users[0], caps: mysql.CLIENT_PROTOCOL_41 | mysql.CLIENT_SECURE_CONNECTION | mysql.CLIENT_TRANSACTIONS,
		charset: 45, stmts: map[uint32]*prepared{}}
	if !u.FastForward {
		s.cls = router.NewClassifier(nil)
	}
	s.st.initCharset(s.charset)
	s.relay.OnOK = s.onOK
	s.relay.OnErr = s.onErr
	s.timer.init(s)
	s.cmd.max = maxPacket(d)
	s.rywSetup()
	done := make(chan struct{})
	if register {
		d.Registry.add(s)
	}
	go func() {
		defer close(done)
		s.run()
		if register {
			d.Registry.remove(s)
		}
		_ = srv.Close()
	}()
	t.Cleanup(func() { _ = cli.Close(); <-done })
	return cli, d
}

type wirePacket struct {
	seq     byte
	payload []byte
}

// send writes one command (sequence id 0).
func send(t *testing.T, nc net.Conn, cmd byte, body ...byte) {
	t.Helper()
	n := len(body) + 1
	_, err := nc.Write(append([]byte{byte(n), byte(n >> 8), byte(n >> 16), 0, cmd}, body...))
	require.NoError(t, err)
}

// reply reads packets until an ERR packet, a terminal packet the caller
// recognises (done), or the end of the connection. A packet cut short or
// a read timeout (the proxy neither answering nor closing) fails the test.
func reply(t *testing.T, nc net.Conn, done func(i int, p []byte) bool) (ps []wirePacket, closed bool) {
	t.Helper()
	_ = nc.SetReadDeadline(time.Now().Add(10 * time.Second))
	for {
		var h [4]byte
		if _, err := io.ReadFull(nc, h[:]); err != nil {
			var ne net.Error
			require.False(t, errors.As(err, &ne) && ne.Timeout(), "the proxy neither answered nor closed")
			require.ErrorIs(t, err, io.EOF, "the connection ended inside a packet header")
			return ps, true
		}
		p := make([]byte, int(h[0])|int(h[1])<<8|int(h[2])<<16)
		_, err := io.ReadFull(nc, p)
		require.NoError(t, err, "a packet was cut short")
		ps = append(ps, wirePacket{h[3], p})
		if p[0] == mysql.ERR_HEADER || done(len(ps)-1, p) {
			return ps, false
		}
	}
}

func single(int, []byte) bool { return true }

// requireWellFormed checks the sequence ids (1, 2, ... as a server's
// reply) and that an ERR packet, if any, is the whole reply.
func requireWellFormed(t *testing.T, ps []wirePacket) {
	t.Helper()
	for i, p := range ps {
		require.EqualValues(t, i+1, p.seq, "sequence id of packet %d", i)
		if p.payload[0] == mysql.ERR_HEADER {
			require.Zero(t, i, "an ERR packet after %d packets of the reply", i)
			require.GreaterOrEqual(t, len(p.payload), 9)
			require.Equal(t, byte('#'), p.payload[3], "SQLSTATE marker")
			code := binary.LittleEndian.Uint16(p.payload[1:3])
			require.False(t, code >= 2000 && code < 3000, "client-library code %d in an ERR packet", code)
		}
	}
}

func errCode(p wirePacket) uint16 {
	if p.payload[0] != mysql.ERR_HEADER {
		return 0
	}
	return binary.LittleEndian.Uint16(p.payload[1:3])
}

// requireLostErr checks that the reply is exactly the lost-backend ERR
// packet with SQLSTATE state.
func requireLostErr(t *testing.T, ps []wirePacket, closed bool, state string) {
	t.Helper()
	requireWellFormed(t, ps)
	require.False(t, closed, "the proxy closed the connection without an error")
	require.Len(t, ps, 1)
	require.Equal(t, protocol.ErrCodeBackendLost, errCode(ps[0]), "%q", ps[0].payload)
	require.Equal(t, state, string(ps[0].payload[4:9]))
}

// requireStillServes checks that the session answers the next statement.
func requireStillServes(t *testing.T, nc net.Conn) {
	t.Helper()
	send(t, nc, mysql.COM_QUERY, []byte("DO 1")...)
	ps, closed := reply(t, nc, single)
	require.False(t, closed)
	require.Len(t, ps, 1)
	require.Equal(t, byte(mysql.OK_HEADER), ps[0].payload[0], "%q", ps[0].payload)
	require.EqualValues(t, 1, ps[0].seq)
}

// requireCut checks that the proxy relayed the first packets of the reply
// (want of them), then closed the connection with nothing after them.
func requireCut(t *testing.T, ps []wirePacket, closed bool, want int, st *Stats) {
	t.Helper()
	requireWellFormed(t, ps)
	require.True(t, closed, "the connection must be closed after a cut reply")
	require.Len(t, ps, want, "packets of the cut reply")
	for _, p := range ps {
		require.NotEqual(t, byte(mysql.ERR_HEADER), p.payload[0], "an ERR packet after part of the reply")
	}
	require.EqualValues(t, 1, st.ReplyCut.Load(), "Sessions_Closed_Reply_Cut")
}

func prepare(t *testing.T, nc net.Conn, q string) uint32 {
	t.Helper()
	send(t, nc, mysql.COM_STMT_PREPARE, []byte(q)...)
	ps, closed := reply(t, nc, func(_ int, p []byte) bool {
		return p[0] == 0 && len(p) >= 12 && p[5] == 0 && p[6] == 0 ||
			p[0] == mysql.EOF_HEADER
	})
	require.False(t, closed)
	require.Equal(t, byte(0), ps[0].payload[0], "prepare OK")
	return binary.LittleEndian.Uint32(ps[0].payload[1:5])
}

func execute(t *testing.T, nc net.Conn, id uint32) {
	t.Helper()
	send(t, nc, mysql.COM_STMT_EXECUTE, byte(id), byte(id>>8), byte(id>>16), byte(id>>24), 0, 1, 0, 0, 0)
}

func begin(t *testing.T, nc net.Conn) {
	t.Helper()
	send(t, nc, mysql.COM_QUERY, []byte("BEGIN")...)
	ps, closed := reply(t, nc, single)
	require.False(t, closed)
	require.Equal(t, byte(0), ps[0].payload[0])
}

// requireStateLost checks the reply to a statement whose backend, holding
// the session's transaction, died before answering: the lost-state error,
// then the connection closes.
func requireStateLost(t *testing.T, nc net.Conn, st *Stats) {
	t.Helper()
	ps, closed := reply(t, nc, single)
	requireLostErr(t, ps, closed, "08S01")
	_, closed = reply(t, nc, single)
	require.True(t, closed, "the session's transaction is gone: the connection is closed")
	require.EqualValues(t, 1, st.StateLost.Load())
}

func TestBackendDiesEveryCommand(t *testing.T) {
	okOnly := single
	t.Run("query_before", func(t *testing.T) {
		nc, _ := diesSession(t)
		send(t, nc, mysql.COM_QUERY, []byte("UPDATE t SET die_before = 1")...)
		ps, closed := reply(t, nc, okOnly)
		requireLostErr(t, ps, closed, "HY000")
		requireStillServes(t, nc)
	})
	t.Run("query_resultset_mid", func(t *testing.T) {
		nc, st := diesSession(t)
		send(t, nc, mysql.COM_QUERY, []byte("SELECT die_mid FROM t FOR UPDATE")...)
		ps, closed := reply(t, nc, func(int, []byte) bool { return false })
		requireCut(t, ps, closed, 4, st)
	})
	t.Run("query_in_transaction", func(t *testing.T) {
		nc, st := diesSession(t)
		begin(t, nc)
		send(t, nc, mysql.COM_QUERY, []byte("UPDATE t SET die_before = 1")...)
		requireStateLost(t, nc, st)
	})
	t.Run("prepare_before", func(t *testing.T) {
		nc, _ := diesSession(t)
		send(t, nc, mysql.COM_STMT_PREPARE, []byte("UPDATE t SET die_before_prepare = ?")...)
		ps, closed := reply(t, nc, okOnly)
		requireLostErr(t, ps, closed, "HY000")
		requireStillServes(t, nc)
	})
	t.Run("prepare_mid", func(t *testing.T) {
		nc, st := diesSession(t)
		send(t, nc, mysql.COM_STMT_PREPARE, []byte("UPDATE t SET die_mid_prepare = 1")...)
		ps, closed := reply(t, nc, func(int, []byte) bool { return false })
		requireCut(t, ps, closed, 1, st)
	})
	t.Run("execute_commit_before", func(t *testing.T) {
		// The report of issue #21: a prepared COMMIT whose backend died.
		nc, st := diesSession(t)
		begin(t, nc)
		id := prepare(t, nc, "COMMIT /* die_before */")
		execute(t, nc, id)
		requireStateLost(t, nc, st)
	})
	t.Run("execute_ok_before", func(t *testing.T) {
		nc, _ := diesSession(t)
		id := prepare(t, nc, "UPDATE t SET die_before = 1")
		execute(t, nc, id)
		ps, closed := reply(t, nc, okOnly)
		requireLostErr(t, ps, closed, "HY000")
		requireStillServes(t, nc)
	})
	t.Run("execute_resultset_mid", func(t *testing.T) {
		nc, st := diesSession(t)
		id := prepare(t, nc, "SELECT die_mid_rows FROM t FOR UPDATE")
		execute(t, nc, id)
		ps, closed := reply(t, nc, func(int, []byte) bool { return false })
		requireCut(t, ps, closed, 4, st)
	})
	t.Run("stmt_reset", func(t *testing.T) {
		// Answered by rwproxy itself: a dead backend cannot affect it.
		nc, _ := diesSession(t)
		id := prepare(t, nc, "UPDATE t SET x = 1")
		send(t, nc, mysql.COM_STMT_RESET, byte(id), byte(id>>8), byte(id>>16), byte(id>>24))
		ps, closed := reply(t, nc, okOnly)
		require.False(t, closed)
		require.Equal(t, byte(0), ps[0].payload[0])
		require.EqualValues(t, 1, ps[0].seq)
	})
	t.Run("stmt_fetch_unsupported", func(t *testing.T) {
		nc, _ := diesSession(t)
		send(t, nc, mysql.COM_STMT_FETCH, 1, 0, 0, 0, 1, 0, 0, 0)
		ps, closed := reply(t, nc, okOnly)
		requireWellFormed(t, ps)
		require.False(t, closed)
		require.EqualValues(t, mysql.ER_UNKNOWN_COM_ERROR, errCode(ps[0]))
	})
	t.Run("init_db_before", func(t *testing.T) {
		nc, _ := diesSession(t)
		send(t, nc, mysql.COM_INIT_DB, []byte("die_db")...)
		ps, closed := reply(t, nc, okOnly)
		requireLostErr(t, ps, closed, "HY000")
		requireStillServes(t, nc)
	})
	t.Run("field_list_mid", func(t *testing.T) {
		nc, st := diesSession(t)
		send(t, nc, mysql.COM_FIELD_LIST, append([]byte("die_mid"), 0)...)
		ps, closed := reply(t, nc, func(int, []byte) bool { return false })
		requireCut(t, ps, closed, 2, st)
	})
	t.Run("field_list_before", func(t *testing.T) {
		nc, _ := diesSession(t)
		send(t, nc, mysql.COM_FIELD_LIST, append([]byte("die_before"), 0)...)
		ps, closed := reply(t, nc, okOnly)
		requireLostErr(t, ps, closed, "HY000")
	})
	t.Run("statistics_before", func(t *testing.T) {
		nc, _ := diesSession(t)
		send(t, nc, mysql.COM_STATISTICS)
		ps, closed := reply(t, nc, okOnly)
		requireLostErr(t, ps, closed, "HY000")
	})
	t.Run("change_user_schema_before", func(t *testing.T) {
		// COM_CHANGE_USER naming a schema that a dying backend was to
		// check: the reply after the auth switch (sequence id 3) is the
		// lost-backend error, then the connection closes (a failed change
		// of user closes it, as a server does).
		nc, _ := diesSession(t)
		send(t, nc, mysql.COM_CHANGE_USER, append(append([]byte("u\x00\x00"), "die_db"...), 0, 45, 0)...)
		ps, closed := reply(t, nc, single)
		require.False(t, closed)
		sw := ps[0].payload
		require.Equal(t, byte(mysql.EOF_HEADER), sw[0], "auth switch request")
		require.EqualValues(t, 1, ps[0].seq)
		salt := sw[len(mysql.AUTH_NATIVE_PASSWORD)+2 : len(sw)-1]
		auth := mysql.CalcNativePassword(salt, []byte("pw"))
		_, err := nc.Write(append([]byte{byte(len(auth)), 0, 0, 2}, auth...))
		require.NoError(t, err)
		ps, closed = reply(t, nc, single)
		require.False(t, closed)
		require.Len(t, ps, 1)
		require.EqualValues(t, 3, ps[0].seq, "sequence id of the reply to the auth switch response")
		require.Equal(t, protocol.ErrCodeBackendLost, errCode(ps[0]), "%q", ps[0].payload)
		_, closed = reply(t, nc, single)
		require.True(t, closed)
	})
	t.Run("ping", func(t *testing.T) {
		nc, _ := diesSession(t)
		send(t, nc, mysql.COM_PING)
		ps, closed := reply(t, nc, okOnly)
		require.False(t, closed)
		require.Equal(t, byte(0), ps[0].payload[0])
		require.EqualValues(t, 1, ps[0].seq)
	})
}

// writerBackend answers everything (prepares too) and counts the
// statements it ran.
type writerBackend struct {
	mysqlserver.EmptyHandler
	ran *atomic.Int32
}

func (h writerBackend) HandleQuery(q string) (*mysql.Result, error) {
	if dies(q) {
		h.ran.Add(1)
	}
	return nil, nil
}

func (writerBackend) HandleStmtPrepare(string) (int, int, any, error) { return 0, 0, nil, nil }

func (h writerBackend) HandleStmtExecute(_ any, q string, _ []any) (*mysql.Result, error) {
	return h.HandleQuery(q)
}

func (writerBackend) HandleOtherCommand(byte, []byte) error { return nil }

// TestReadRetriedOnWriter: an autocommit read whose replica dies before
// answering (text, prepare, execute) is re-run on the writer, and the
// client gets the writer's answer with no error; counted in Read_Retries.
func TestReadRetriedOnWriter(t *testing.T) {
	var ran atomic.Int32
	writer := fakebackend.Start(t, fakebackend.Options{
		Handler: func(net.Conn) mysqlserver.Handler { return writerBackend{ran: &ran} }})
	reader := startDying(t)
	nc, st := servedSession(t, hgPicker{10: writer, 20: reader}, &Routing{ReaderOf: map[int]int{10: 20}},
		writer, reader)
	ok := func(ps []wirePacket, closed bool) {
		t.Helper()
		require.False(t, closed)
		requireWellFormed(t, ps)
		require.Len(t, ps, 1)
		require.Equal(t, byte(0), ps[0].payload[0], "%q", ps[0].payload)
	}

	send(t, nc, mysql.COM_QUERY, []byte("SELECT die_before FROM t")...)
	ok(reply(t, nc, single))
	require.EqualValues(t, 1, ran.Load(), "the writer ran the read")
	require.EqualValues(t, 1, st.ReadRetries.Load())

	// The prepare dies on the replica and runs on the writer.
	send(t, nc, mysql.COM_STMT_PREPARE, []byte("SELECT die_before_prepare FROM t")...)
	ok(reply(t, nc, single))
	require.EqualValues(t, 2, st.ReadRetries.Load())

	// A statement prepared on the replica, whose execute dies there.
	id := prepare(t, nc, "SELECT die_before_exec FROM t")
	execute(t, nc, id)
	ok(reply(t, nc, single))
	require.EqualValues(t, 2, ran.Load(), "the writer ran the execute")
	require.EqualValues(t, 3, st.ReadRetries.Load())
	require.Zero(t, st.ReadRetryFailures.Load())
	require.Zero(t, st.ReplyCut.Load())

	// A read cut mid-reply is not re-run: the client connection closes.
	send(t, nc, mysql.COM_QUERY, []byte("SELECT die_mid FROM t")...)
	ps, closed := reply(t, nc, func(int, []byte) bool { return false })
	requireCut(t, ps, closed, 4, st)
	require.EqualValues(t, 3, st.ReadRetries.Load())
}

// TestReadRetriedOnOtherReader: with two replicas, a read whose replica
// dies before answering is re-run on the other replica, not the writer.
func TestReadRetriedOnOtherReader(t *testing.T) {
	var onWriter, onReader atomic.Int32
	writer := fakebackend.Start(t, fakebackend.Options{
		Handler: func(net.Conn) mysqlserver.Handler { return writerBackend{ran: &onWriter} }})
	good := fakebackend.Start(t, fakebackend.Options{
		Handler: func(net.Conn) mysqlserver.Handler { return writerBackend{ran: &onReader} }})
	dying := startDying(t)
	p := &rrPicker{next: map[int]int{}, hgs: map[int][]string{10: {writer}, 20: {dying, good}}}
	nc, st := servedSession(t, p, &Routing{ReaderOf: map[int]int{10: 20}}, writer, good, dying)
	send(t, nc, mysql.COM_QUERY, []byte("SELECT die_before FROM t")...)
	ps, closed := reply(t, nc, single)
	require.False(t, closed)
	requireWellFormed(t, ps)
	require.Equal(t, byte(0), ps[0].payload[0], "%q", ps[0].payload)
	require.EqualValues(t, 1, onReader.Load(), "the other replica ran the read")
	require.Zero(t, onWriter.Load(), "the writer ran the read")
	require.EqualValues(t, 1, st.ReadRetries.Load())
	require.Zero(t, st.ReaderFallbacks.Load())
}
