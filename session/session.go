package session

import (
	"context"
	"errors"
	"net"
	"runtime/debug"
	"sync"
	"sync/atomic"
	"time"

	"github.com/go-mysql-org/go-mysql/mysql"
	"github.com/go-mysql-org/go-mysql/server"
	"go.uber.org/zap"

	"github.com/rwproxy/rwproxy/config"
	"github.com/rwproxy/rwproxy/pool"
	"github.com/rwproxy/rwproxy/protocol"
	"github.com/rwproxy/rwproxy/router"
	"github.com/rwproxy/rwproxy/tracing"
)

// Picker chooses the server of each statement (balance.Picker implements
// it; tests use fakes). Its methods run on every statement, from every
// session's goroutine.
type Picker interface {
	// Pick chooses a server of hostgroup hg, and says whether hg has
	// session affinity (the session keeps the server it got).
	Pick(hg int) (addr string, keep bool, err error)
	// Keep reports whether hostgroup hg has session affinity and the server
	// at addr may go on serving a session that was given it.
	Keep(hg int, addr string) bool
	// LastResort names a server the monitor shuns for failed checks (not
	// for lag) when hostgroup hg has no usable one; an error when none.
	LastResort(hg int) (addr string, err error)
	// Observe records that a request to the server at addr took d (the
	// adaptive balancer's latency samples).
	Observe(addr string, d time.Duration)
}

// Deps is what every session shares. All fields are safe for concurrent use.
type Deps struct {
	Pools  *pool.Manager
	Server *server.Server
	Auth   server.AuthenticationHandler
	// Config returns the current immutable configuration.
	Config func() *config.Config
	Picker Picker
	Log    *zap.Logger
	Stats  *Stats
	// MaxPacket bounds one client request (max_allowed_packet).
	MaxPacket int
	// HandshakeTimeout bounds the login exchange.
	HandshakeTimeout time.Duration
	// Routing returns the current routing state.
	Routing func() *Routing
	// Cache is the shared statement-classification cache.
	Cache *router.Cache
	// Applied tracks GTIDs known applied per backend (read-your-writes).
	Applied *Applied
	// Digests aggregates per-digest statistics; nil disables them.
	Digests *Digests
	// Registry knows the live sessions (drain, per-user limits, KILL).
	Registry *Registry
	// QueryHook, when set, sees every COM_QUERY before it is routed. Tests
	// use it to inject faults (a panic inside one session).
	QueryHook func(query []byte)
	// Logins rate-limits new connections per source (limits.go); nil: no limit.
	Logins *LoginLimiter
	// LoginLog logs refused logins (NewLoginLogger: sampled); nil: Log.
	LoginLog *zap.Logger
	// PreLogin caps the connections logging in (prelogin.go); nil: no cap.
	PreLogin *PreLogin
	// Observer, when set, sees every request a backend answered (metrics).
	Observer QueryObserver
	// Errors, when set, aggregates the backends' errors (stats_mysql_errors).
	Errors *ErrorStats
	// Tracer, when set, traces statements (trace.go); nil: tracing off.
	Tracer StmtTracer
	// Capture, when set, records statements while a traffic capture runs
	// (trace.go); nil: no capture possible.
	Capture StmtCapture
	// Mirror sends copies of statements to mirror hostgroups (query
	// rules' mirror_hostgroup); nil: no mirroring.
	Mirror *Mirror
	// CheckNow asks the monitor to check the servers at once (a session
	// lost its writer or waits for one: monitor.CheckNow); nil: nothing.
	CheckNow func()
}

// errQuit ends a session normally.
var errQuit = errors.New("session: client quit")

// Session is one client connection.
type Session struct {
	id  uint32
	d   *Deps
	ctx context.Context
	cl  *protocol.ClientConn
	nc  net.Conn // the client socket (deadlines, KILL)
	// charset is the collation the client logged in with; tls: it logged
	// in over TLS.
	charset int
	tls     bool
	user    config.User
	caps    uint32
	// lastConnErr is the last failed backend connect (for the log line of
	// the error the client gets); quietConnect: a write waits for a
	// failover, its connect attempts log at Debug (bufferWrite).
	lastConnErr  error
	quietConnect bool
	// owner is the user the Registry counts this session for; guarded by
	// the Registry's lock (other sessions read it for KILL).
	owner string

	st    state
	relay protocol.Relay
	// infile is the relay's LOAD DATA LOCAL INFILE state; its Backend is
	// set while a COM_QUERY runs.
	infile protocol.InfileRelay
	cmd    cmdBuf
	out    []byte
	pinned *pool.Conn
	// affinity holds the servers kept under session affinity (backend.go).
	affinity affinity
	// pins are the reasons (besides a transaction) to keep pinned;
	// counted is what Stats.Pins already counted for this pinning.
	pins    PinReason
	counted PinReason
	// held is the previous statement's connection, kept for the next
	// statement only (see keepOrRelease), for heldIdleTimeout at most:
	// heldTimer's goroutine may take it (clientio.go).
	held      atomic.Pointer[pool.Conn]
	heldTimer *time.Timer
	// idleAt / idleWait: the read deadline armIdle set last on the client
	// socket and the wait_timeout it was set for (clientio.go).
	idleAt   time.Time
	idleWait time.Duration
	// ryw: the user reads its writes (consistency.go); userPos is its
	// user's shared position (scope user), else sessPos the session's own.
	ryw     bool
	userPos *posCell
	sessPos *gtidPos
	inTxn   bool
	// roTxn: the open transaction is READ ONLY (it may run on a replica).
	roTxn bool
	// stateLost: the backend connection holding the session's transaction
	// or pinned state broke; the session ends after the current command.
	stateLost bool
	// txnAborted: rwproxy rolled the client's transaction back (its server
	// turned read-only); statements fail until the client ends it.
	txnAborted bool
	cls        *router.Classifier
	// rules: what query rules decided (rules.go).
	rules ruleState
	// relayConn is the backend connection whose reply the relay is reading
	// (set around each relay of a reply only). It is kept here rather
	// than in the request (request.go): the relay's
	// OnOK callback updates its state, and the recover in Serve and
	// handover's detachable check, which do not run down the request's call
	// chain, must see it.
	relayConn *pool.Conn
	// keyBuf is reused to build the digest statistics' key.
	keyBuf []byte
	// clientHost is the client's host for the digest statistics, set on
	// first use (digestClient).
	clientHost *string

	// running is the connection a statement is running on, for KILL from
	// another session; inTxnFlag mirrors inTxn for Registry.Drain.
	running   atomic.Pointer[pool.Conn]
	killMu    sync.Mutex // see killRunning
	inTxnFlag atomic.Bool
	// proc is what the admin processlist shows of the last statement
	// (see processlist.go).
	proc  procState
	stmts map[uint32]*prepared
	// timer enforces the statement timeout (request.timeout).
	timer stmtTimer
	// nextStmt numbers the statements this session prepared.
	nextStmt uint32
	// longHeld is the long data bytes the session's statements hold.
	longHeld int
	// span is the traced statement being run (trace.go); nil: not traced.
	span *tracing.Stmt
	// txn is the open transaction's span (txntrace.go).
	txn txnTrace
	// qattrs: the client sends query attributes (queryattrs.go); qaBuf
	// holds its executes rewritten to the plain form.
	qattrs bool
	qaBuf  []byte
	// tx records the open transaction for replay (txreplay.go).
	tx txLog
	// attrBuf holds the last statement converted for a backend with query
	// attributes (backendattrs.go).
	attrBuf []byte
	// qc is the session's query cache state (qcache.go).
	qc qcState
	// started is when the client logged in; statements counts the
	// requests served (durable.go carries both across an upgrade).
	started    time.Time
	statements uint64
	// handedOff: the session was handed to another process (handover.go);
	// handing: it was sent and waits for that process to take it
	// (Registry.Unhanded does not count it).
	handedOff bool
	handing   atomic.Bool
}

// handshake is the go-mysql Handler used during login only: rwproxy runs
// its own command loop afterwards (raw relay needs the packets, not
// go-mysql's decoded values).
type handshake struct {
	server.EmptyHandler
	db string
}

// UseDB records the schema the client asked for in its handshake; it is
// checked on a backend once the client is authenticated.
func (h *handshake) UseDB(db string) error { h.db = db; return nil }

// Serve runs one client connection to its end. It never panics: a panic in
// the session is logged with its stack and closes this connection only.
func Serve(ctx context.Context, nc net.Conn, d *Deps) {
	if !d.Logins.Admit(nc, d.Config) {
		return
	}
	loggingIn, ok := d.PreLogin.admit(nc, d.Config)
	if !ok {
		return
	}
	var s *Session
	var bc *protocol.BufConn
	registered := false
	// One deferred function (not four): each defer's closure and arguments
	// are kept in Serve's frame, which is on the stack all the time the
	// session waits (see run).
	defer func() {
		if registered {
			d.Stats.Sessions.Add(-1)
			d.Registry.remove(s)
		}
		if r := recover(); r != nil {
			d.Log.Error("session panic: connection closed", zap.Any("panic", r), zap.ByteString("stack", debug.Stack()))
			d.Stats.Panics.Add(1)
			if s != nil {
				s.writeErr(protocol.NewErrInternal())
				s.dropBackend()
			}
		}
		if bc != nil {
			_ = bc.Close()
		} else {
			_ = nc.Close()
		}
		loggingIn() // a panic or a failed login gives the slot back too
	}()
	if !login(ctx, nc, d, &s, &bc) {
		return
	}
	loggingIn()
	d.Registry.add(s)
	d.Stats.Sessions.Add(1)
	registered = true
	d.Stats.SessionsCreated.Add(1)
	s.proc.mu.Lock()
	s.proc.db, s.proc.hg, s.proc.start = s.st.db, -1, time.Now()
	s.proc.mu.Unlock()
	s.run()
}

// login runs the handshake of nc to the end; it stores the buffered
// connection it makes in *bcp at once and the client's session in *sp as
// soon as it is authenticated (the caller closes the one and recovers
// with the other), and reports whether the client logged in.
//
// It is a function of its own, never inlined, so that its frame (1.3 KiB
// of handshake state) is gone while the session waits for commands: a
// goroutine's stack shrinks at a garbage collection only to a size whose
// quarter holds what is in use, and an idle session's goroutine should
// need 4 KiB rather than 8 (ten thousand idle clients: 40 MiB).
//
//go:noinline
func login(ctx context.Context, nc net.Conn, d *Deps, sp **Session, bcp **protocol.BufConn) bool {
	wc := &writeDeadlineConn{Conn: nc}
	bc := protocol.NewBufConn(protocol.ReadBuffered(wc, d.Server), 16*1024)
	*bcp = bc
	bc.AdvertiseCaps(mysql.CLIENT_MULTI_STATEMENTS | mysql.CLIENT_FOUND_ROWS | mysql.CLIENT_LOCAL_FILES | queryAttrCaps(d))
	if d.HandshakeTimeout > 0 {
		_ = nc.SetDeadline(time.Now().Add(d.HandshakeTimeout))
	}
	hs := &handshake{}
	at := &loginAttempt{}
	auth := &authCheck{AuthenticationHandler: recordingAuth{d.Auth, at}, hs: hs, check: loginCheck(ctx, d, nc, sp, at)}
	wc.beforeErr = at.countBeforeReply(d, nc.RemoteAddr())
	cc, err := protocol.Handshake(d.Server, bc, auth, hs)
	wc.beforeErr = nil
	s := *sp
	if err != nil {
		if s != nil {
			d.Registry.release(s.user.Username)
			s.dropBackend()
		}
		at.account(d, nc.RemoteAddr(), err)
		return false
	}
	_ = nc.SetDeadline(time.Time{})
	wc.timeout = d.Config().Limits.NetWriteTimeout
	// go-mysql's connection (with its 80 KiB of buffers) is dropped here:
	// the session reads and writes through its own small ClientConn.
	s.tls = protocol.IsTLS(cc)
	s.cl = protocol.NewClientConn(protocol.Transport(cc))
	bc.DropReadBuffer()
	return true
}

// loginCheck is what a login must pass once its password is checked: an
// active user, TLS when required, the user's connection cap and the
// schema it names (checked on the writer, as the server would). It
// creates the session in *sp and notes in at why a login fails.
func loginCheck(ctx context.Context, d *Deps, nc net.Conn, sp **Session, at *loginAttempt) func(*server.Conn, string) error {
	return func(c *server.Conn, db string) error {
		u, ok := findUser(d.Config(), c.GetUser())
		if !ok {
			at.fail(LoginUnknownUser)
			return protocol.NewErrInternal()
		}
		if err := requireTLS(protocol.IsTLS(c), u, c.GetUser(), c.RemoteAddr()); err != nil {
			at.fail(LoginTLSRequired)
			return err
		}
		if !d.Registry.admit(u.Username, u.MaxConnections) {
			at.fail(LoginLimitReached)
			return protocol.NewErrTooManyConnections()
		}
		*sp = newSession(ctx, c, d, nc, u)
		s := *sp
		if db == "" {
			db = u.DefaultSchema // ProxySQL's mysql_users.default_schema
		}
		if err := schemaLocked(u, db); err != nil {
			return err
		}
		if db != "" {
			err := s.checkDB(db)
			if err != nil {
				at.fail(backendFailure(err))
			}
			return err
		}
		return nil
	}
}

// newSession builds the session of an authenticated client; cc is the
// go-mysql connection (its handshake may still be finishing).
func newSession(ctx context.Context, cc *server.Conn, d *Deps, nc net.Conn, u config.User) *Session {
	return newSessionFor(ctx, d, nc, u, cc.ConnectionID(), cc.Capability(), int(cc.Charset()))
}

// newSessionFor builds the session of client id, logged in as u with
// capabilities caps and collation charset (a login, or a session handed
// over by another rwproxy process: handover.go).
func newSessionFor(ctx context.Context, d *Deps, nc net.Conn, u config.User, id, caps uint32, charset int) *Session {
	u.Password = u.BackendSecret() // s.user.Password logs into the backends
	s := &Session{id: id, d: d, ctx: ctx, nc: nc, user: u,
		caps: caps, charset: charset, stmts: make(map[uint32]*prepared), started: time.Now()}
	s.cls = router.NewClassifier(d.Cache)
	s.cls.SetParseLimit(d.Config().Limits.FullParseMaxLength)
	s.st.initCharset(s.charset)
	s.st.multiStatements = s.caps&mysql.CLIENT_MULTI_STATEMENTS != 0
	// Only when announced: some clients (go-mysql) set the flag in their
	// handshake whatever the server offers, and then do not use it.
	s.qattrs = s.caps&queryAttrCaps(d) != 0
	s.relay.ClientTrack = s.caps&mysql.CLIENT_SESSION_TRACK != 0
	s.relay.OnOK = s.onOK
	s.relay.OnErr = s.onErr
	s.infile.Allowed = s.caps&mysql.CLIENT_LOCAL_FILES != 0
	s.infile.MaxPacket = maxPacket(d)
	s.relay.Infile = &s.infile
	s.timer.init(s)
	s.cmd.max = maxPacket(d)
	s.rywSetup()
	return s
}

// log is the session's logger, made when something is logged: a logger
// with fields costs 1.5 KiB, which ten thousand idle sessions need not hold.
func (s *Session) log() *zap.Logger {
	return s.d.Log.With(zap.Uint32("conn", s.id), zap.String("user", s.user.Username))
}

func findUser(c *config.Config, name string) (config.User, bool) {
	for _, u := range c.Users {
		if u.Username == name {
			return u, true
		}
	}
	return config.User{}, false
}

// run is the command loop.
//
// The loop is cut into waitCommand and serveCommand, each never inlined,
// so that what is on the goroutine's stack while the client is idle is
// small: the runtime halves an idle goroutine's stack at a collection
// only when what it uses plus 800 bytes is under a quarter of it, and an
// idle session should hold 4 KiB of stack rather than 8.
func (s *Session) run() {
	defer s.close()
	for s.waitCommand() && s.serveCommand() {
	}
}

// waitCommand waits until the client's next command has begun to arrive
// (or the session must end: it then reports false).
//
//go:noinline
func (s *Session) waitCommand() bool {
	for {
		s.armIdle()
		if !s.d.Registry.drainWait(s.nc, s.inTxn) {
			return false
		}
		if s.handoff() {
			return false // another rwproxy process serves the client now
		}
		s.cl.ResetSequence()
		wakes := s.d.Registry.wakes.Load()
		err := s.cl.WaitRequest()
		if err == nil {
			return true
		}
		if s.handoffWoke(err, wakes) {
			s.idleWait = 0 // StartHandoff moved the deadline: armIdle sets it again
			continue
		}
		s.idleRead(err)
		return false
	}
}

// serveCommand reads the command waitCommand saw arrive and serves it; it
// reports whether the session goes on.
//
//go:noinline
func (s *Session) serveCommand() bool {
	if err := s.cmd.read(s.cl); err != nil {
		if errors.Is(err, protocol.ErrTooLarge) {
			s.writeErr(protocol.NewErrPacketTooLarge())
		} else {
			s.idleRead(err)
		}
		return false
	}
	s.statements++
	if err := s.dispatch(s.cmd.b); err != nil {
		if !errors.Is(err, errQuit) && !errors.Is(err, protocol.ErrClientIO) {
			s.log().Debug("session ended", zap.Error(err))
		}
		return false
	}
	if s.stateLost {
		// The backend connection holding the session's transaction or
		// pinned state broke (errStateLost told the client): close the
		// client connection as that server would have.
		s.d.Stats.StateLost.Add(1)
		return false
	}
	return true
}

// close returns or discards the backend connections the session holds.
func (s *Session) close() {
	s.timer.stop()
	s.endTxnSpan(time.Time{}, "abandoned")
	s.releaseHeld()
	if s.pinned == nil {
		return
	}
	c := s.pinned
	s.pinned = nil
	s.resetAndRecycle(c)
}

// dispatch handles one command; pkt has a 4-byte header placeholder. It
// returns an error only when the session must end.
func (s *Session) dispatch(pkt []byte) error {
	if len(pkt) < 5 {
		s.writeErr(protocol.NewErrMalformed("empty command"))
		return nil
	}
	if me := s.checkLimits(pkt); me != nil {
		return s.writeErr(me)
	}
	r := request{cmd: -1} // on this stack: passed down, never stored
	switch pkt[4] {
	case mysql.COM_QUERY:
		return s.handleQuery(&r, pkt)
	case mysql.COM_STMT_PREPARE:
		return s.handlePrepare(&r, pkt)
	case mysql.COM_STMT_EXECUTE:
		return s.handleExecute(&r, pkt)
	case mysql.COM_STMT_SEND_LONG_DATA:
		s.handleLongData(pkt)
		return nil
	case mysql.COM_STMT_CLOSE:
		s.handleStmtClose(pkt)
		return nil
	case mysql.COM_STMT_RESET:
		return s.handleStmtReset(pkt)
	case mysql.COM_QUIT:
		return errQuit
	case mysql.COM_PING:
		return s.writeOK()
	case mysql.COM_INIT_DB:
		return s.handleInitDB(&r, pkt)
	case mysql.COM_FIELD_LIST:
		return s.handleFieldList(&r, pkt)
	case mysql.COM_STATISTICS:
		return s.handleStatistics(&r, pkt)
	case mysql.COM_SET_OPTION:
		return s.handleSetOption(pkt)
	case mysql.COM_RESET_CONNECTION:
		return s.handleResetConnection()
	case mysql.COM_CHANGE_USER:
		return s.handleChangeUser(pkt)
	default:
		return s.writeErr(protocol.NewErrUnknownCommand(pkt[4]))
	}
}

// writeErr sends an ERR packet; its error is a client I/O error.
func (s *Session) writeErr(e *mysql.MyError) error {
	if s.span != nil {
		s.span.ErrCode = e.Code
	}
	s.out = protocol.AppendErr(append(s.out[:0], 0, 0, 0, 0), e)
	return protocol.WriteRaw(s.cl, s.out)
}

// status is the server status the proxy reports in its own OK packets.
func (s *Session) status() uint16 {
	var st uint16
	if s.st.autocommit() {
		st |= mysql.SERVER_STATUS_AUTOCOMMIT
	}
	if s.inTxn {
		st |= mysql.SERVER_STATUS_IN_TRANS
	}
	return st
}

// writeOK sends a proxy-made OK packet.
func (s *Session) writeOK() error {
	st := s.status()
	s.out = append(s.out[:0], 0, 0, 0, 0, mysql.OK_HEADER, 0, 0, byte(st), byte(st>>8), 0, 0)
	if s.relay.ClientTrack {
		s.out = append(s.out, 0) // empty info string
	}
	return protocol.WriteRaw(s.cl, s.out)
}

// writeEOF sends a proxy-made EOF packet.
func (s *Session) writeEOF() error {
	st := s.status()
	s.out = append(s.out[:0], 0, 0, 0, 0, mysql.EOF_HEADER, 0, 0, byte(st), byte(st>>8))
	return protocol.WriteRaw(s.cl, s.out)
}
