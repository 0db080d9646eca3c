package fakemysql

import (
	"net"
	"slices"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/go-mysql-org/go-mysql/mysql"
	gmserver "github.com/go-mysql-org/go-mysql/server"
	"github.com/stretchr/testify/require"

	"github.com/rwproxy/rwproxy/internal/testkit/fakebackend"
)

// Version is the server version the fake announces (a MySQL 8.4, so that
// clients enable MySQL's session trackers).
const Version = "8.4.0-fakemysql"

// User and Password are the one account the fake accepts
// (mysql_native_password).
const (
	User     = "u"
	Password = "pw"
)

// Cut is where a reply stops because the server "dies".
type Cut uint8

// The points at which a reply can be cut.
const (
	// CutNone answers normally.
	CutNone Cut = iota
	// CutBefore closes the connection before any byte of the reply.
	CutBefore
	// CutMid sends the first packets of a result set (column count and
	// the first column definition), then closes the connection.
	CutMid
)

// Reply is how the server answers one statement.
type Reply struct {
	// Cols and Rows make a result set (text for COM_QUERY, binary for
	// COM_STMT_EXECUTE); Cols nil: no result set.
	Cols []string
	Rows [][]any
	// OK carries the OK packet's details: affected rows, insert id, status
	// flags, info and session-state changes (set SERVER_SESSION_STATE_CHANGED
	// in Status with SessionTracking). nil: a plain OK.
	OK *mysql.Result
	// Err answers with an ERR packet.
	Err *mysql.MyError
	// Delay holds the reply back; a KILL QUERY of the connection (sent on
	// another connection) ends the wait with error 1317, and the end of
	// the test or a dropped connection ends it silently.
	Delay time.Duration
	// Cut drops the connection before or in the middle of the reply.
	Cut Cut
	// Times is how many statements the reply answers before the rule is
	// forgotten (0: every matching statement).
	Times int
}

// Rows is a Reply with one result set.
func Rows(cols []string, rows ...[]any) Reply { return Reply{Cols: cols, Rows: rows} }

// Error is a Reply with an ERR packet.
func Error(code uint16, state, msg string) Reply {
	return Reply{Err: &mysql.MyError{Code: code, State: state, Message: msg}}
}

// Command is one command the server received.
type Command struct {
	// Conn is the server connection id (CONNECTION_ID()); User the
	// account it logged in as.
	Conn uint32
	User string
	// Cmd is the command byte (mysql.COM_QUERY, ...).
	Cmd byte
	// Arg is the statement (COM_QUERY, COM_STMT_PREPARE, and the prepared
	// statement's text for COM_STMT_EXECUTE), the schema (COM_INIT_DB),
	// else empty.
	Arg string
}

// rule answers the statements match accepts.
type rule struct {
	match func(q string) bool
	reply Reply
	left  int // uses left; 0: unlimited
}

// Server is one fake MySQL server.
type Server struct {
	// Addr is the server's address (127.0.0.1:port).
	Addr string
	// Port is Addr's port, which the server also answers to SELECT @@port.
	Port int

	srv   *gmserver.Server
	creds *gmserver.InMemoryAuthenticationHandler

	mu struct {
		sync.Mutex
		rules  []*rule
		log    []Command
		conns  map[uint32]*conn
		reject *mysql.MyError
	}
	logins atomic.Int64
	done   chan struct{}
}

// Start serves until the test ends. Every statement no rule matches is
// answered as a server would answer it in the simplest case: OK, with the
// transaction status of BEGIN/START TRANSACTION, COMMIT and ROLLBACK kept
// per connection; SELECT @@port, CONNECTION_ID() and KILL [QUERY] id work.
func Start(t testing.TB) *Server {
	t.Helper()
	s := &Server{srv: gmserver.NewServer(Version, mysql.DEFAULT_COLLATION_ID, mysql.AUTH_NATIVE_PASSWORD, nil, nil),
		creds: gmserver.NewInMemoryAuthenticationHandler(mysql.AUTH_NATIVE_PASSWORD), done: make(chan struct{})}
	require.NoError(t, s.creds.AddUser(User, Password))
	s.mu.conns = make(map[uint32]*conn)
	s.Addr = fakebackend.Listen(t, s.serve)
	_, port, _ := net.SplitHostPort(s.Addr)
	s.Port, _ = strconv.Atoi(port)
	// Registered after Listen's cleanup, so it runs first: delayed replies
	// end before the connections are closed and waited for.
	t.Cleanup(func() { close(s.done) })
	return s
}

// On answers the statements that start with prefix (case-insensitive,
// leading spaces ignored) with r. A later rule takes precedence over an
// earlier one. COM_INIT_DB is matched as the statement "USE db".
func (s *Server) On(prefix string, r Reply) {
	p := strings.ToLower(prefix)
	s.OnFunc(func(q string) bool { return strings.HasPrefix(strings.ToLower(strings.TrimSpace(q)), p) }, r)
}

// OnFunc answers the statements match accepts with r.
func (s *Server) OnFunc(match func(q string) bool, r Reply) {
	s.mu.Lock()
	defer s.mu.Unlock()
	s.mu.rules = append(s.mu.rules, &rule{match: match, reply: r, left: r.Times})
}

// Reset forgets every rule and every recorded command.
func (s *Server) Reset() {
	s.mu.Lock()
	defer s.mu.Unlock()
	s.mu.rules, s.mu.log = nil, nil
}

// reply returns the reply of the newest rule matching q.
func (s *Server) reply(q string) (Reply, bool) {
	s.mu.Lock()
	defer s.mu.Unlock()
	for i := len(s.mu.rules) - 1; i >= 0; i-- {
		r := s.mu.rules[i]
		if !r.match(q) {
			continue
		}
		if r.left > 0 {
			if r.left--; r.left == 0 {
				s.mu.rules = slices.Delete(s.mu.rules, i, i+1)
			}
		}
		return r.reply, true
	}
	return Reply{}, false
}

// RejectLogins makes every following login fail with e (nil: accept
// logins again); e.g. 1045 access denied, 1040 too many connections.
func (s *Server) RejectLogins(e *mysql.MyError) {
	s.mu.Lock()
	defer s.mu.Unlock()
	s.mu.reject = e
}

// AddUser accepts another account (mysql_native_password).
func (s *Server) AddUser(name, password string) error { return s.creds.AddUser(name, password) }

// Logins is the number of successful logins so far.
func (s *Server) Logins() int { return int(s.logins.Load()) }

// Open is the number of connections logged in and not yet closed.
func (s *Server) Open() int {
	s.mu.Lock()
	defer s.mu.Unlock()
	return len(s.mu.conns)
}

// CloseAll drops every connection, as a server that dies does (the
// listener stays open: new connections are accepted).
func (s *Server) CloseAll() {
	s.mu.Lock()
	conns := make([]*conn, 0, len(s.mu.conns))
	for _, c := range s.mu.conns {
		conns = append(conns, c)
	}
	s.mu.Unlock()
	for _, c := range conns {
		c.close()
	}
}

// Received returns every command received so far, in order.
func (s *Server) Received() []Command {
	s.mu.Lock()
	defer s.mu.Unlock()
	return slices.Clone(s.mu.log)
}

// Statements returns the text of the COM_QUERY, COM_STMT_PREPARE and
// COM_STMT_EXECUTE commands received so far, in order.
func (s *Server) Statements() []string {
	var out []string
	for _, c := range s.Received() {
		switch c.Cmd {
		case mysql.COM_QUERY, mysql.COM_STMT_PREPARE, mysql.COM_STMT_EXECUTE:
			out = append(out, c.Arg)
		}
	}
	return out
}

// Count is the number of commands received with command byte cmd whose
// argument starts with prefix (case-insensitive).
func (s *Server) Count(cmd byte, prefix string) int {
	n := 0
	p := strings.ToLower(prefix)
	for _, c := range s.Received() {
		if c.Cmd == cmd && strings.HasPrefix(strings.ToLower(c.Arg), p) {
			n++
		}
	}
	return n
}

func (s *Server) record(c Command) {
	s.mu.Lock()
	defer s.mu.Unlock()
	s.mu.log = append(s.mu.log, c)
}

// gate is the authentication handler: it refuses logins while
// RejectLogins is set, and registers the connections that log in.
type gate struct {
	*gmserver.InMemoryAuthenticationHandler
	s *Server
}

// OnAuthSuccess refuses the login while the server rejects logins.
func (g gate) OnAuthSuccess(c *gmserver.Conn) error {
	g.s.mu.Lock()
	defer g.s.mu.Unlock()
	if e := g.s.mu.reject; e != nil {
		return e
	}
	return nil
}

// serve runs one connection: go-mysql's handshake, then the fake's own
// command loop (go-mysql's Handler cannot cut a reply or add session
// trackers to its OK packets).
func (s *Server) serve(nc net.Conn) {
	defer nc.Close()
	gc, err := s.srv.NewCustomizedConn(nc, gate{s.creds, s}, gmserver.EmptyHandler{})
	if err != nil {
		return
	}
	s.logins.Add(1)
	c := &conn{s: s, gc: gc, nc: nc, id: gc.ConnectionID(), stmts: make(map[uint32]stmt), kill: make(chan struct{}, 1)}
	s.mu.Lock()
	s.mu.conns[c.id] = c
	s.mu.Unlock()
	defer func() {
		s.mu.Lock()
		delete(s.mu.conns, c.id)
		s.mu.Unlock()
	}()
	c.loop()
}

// killQuery interrupts the delayed reply of connection id (KILL QUERY),
// or closes it (KILL); it reports whether the connection exists.
func (s *Server) killQuery(id uint64, query bool) bool {
	s.mu.Lock()
	c := s.mu.conns[uint32(id)]
	s.mu.Unlock()
	if c == nil {
		return false
	}
	if query {
		select {
		case c.kill <- struct{}{}:
		default:
		}
		return true
	}
	c.close()
	return true
}

// parseKill reads KILL [QUERY|CONNECTION] id.
func parseKill(q string) (id uint64, query, ok bool) {
	f := strings.Fields(strings.ToLower(strings.TrimRight(strings.TrimSpace(q), ";")))
	if len(f) < 2 || f[0] != "kill" {
		return 0, false, false
	}
	query = len(f) == 3 && f[1] == "query"
	id, err := strconv.ParseUint(f[len(f)-1], 10, 32)
	return id, query, err == nil
}
