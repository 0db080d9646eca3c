package admin

import (
	"context"
	"errors"
	"fmt"
	"net"
	"runtime/debug"
	"strings"
	"sync"
	"time"

	"github.com/go-mysql-org/go-mysql/mysql"
	"github.com/go-mysql-org/go-mysql/server"
	"go.uber.org/zap"

	"github.com/rwproxy/rwproxy/config"
	"github.com/rwproxy/rwproxy/internal/buildinfo"
	"github.com/rwproxy/rwproxy/protocol"
)

// Version is announced in the admin listener's handshake and returned by
// SELECT VERSION() and @@version: a MySQL-looking version (clients parse
// it) that carries rwproxy's own, e.g. 8.0.36-rwproxy-v0.3.0-admin.
// @@admin-version has the full build identity (commit, date, Go).
var Version = "8.0.36-rwproxy-" + buildinfo.Get().Version + "-admin"

// DefaultMaxConnections caps concurrent admin connections.
const DefaultMaxConnections = 64

// Options configure a Server.
type Options struct {
	// Runtime is the running proxy (required).
	Runtime Runtime
	// ConfigFile is the YAML file the proxy started from, re-read by
	// LOAD ... FROM CONFIG; empty disables that command.
	ConfigFile string
	// Log receives the audit lines (Info) and errors; nil discards them.
	Log *zap.Logger
	// MaxConnections caps admin connections (0: DefaultMaxConnections).
	MaxConnections int
	// Logins, if set, rate-limits new admin connections per source
	// address under limits.login_rate and limits.login_burst (the wiring
	// passes its own instance of the client listener's limiter).
	Logins Admitter
	// StatementTimeout bounds one operator statement (0:
	// DefaultStatementTimeout).
	StatementTimeout time.Duration
}

// Admitter admits or refuses a new connection before its greeting; a
// refused one has been answered and closed.
type Admitter interface {
	Admit(nc net.Conn, current func() *config.Config) bool
}

// Server is the admin listener. The address, credentials and datadir come
// from Runtime.Config().Admin: the address and datadir when New runs, the
// credentials at each login (so admin-admin_credentials applies live).
type Server struct {
	eng    *engine
	ln     *protocol.Listener
	srv    *server.Server
	auth   *auth
	lg     *zap.Logger
	logins Admitter
	rt     Runtime
	wg     sync.WaitGroup
}

// New opens the admin databases (MEMORY filled from the running
// configuration, DISK at <admin.datadir>/rwproxy.db) and listens on
// admin.listen. Call Start to serve and Close to stop.
func New(o Options) (*Server, error) {
	if o.Runtime == nil {
		return nil, errors.New("admin: no Runtime")
	}
	if o.Log == nil {
		o.Log = zap.NewNop()
	}
	if o.MaxConnections <= 0 {
		o.MaxConnections = DefaultMaxConnections
	}
	cfg := o.Runtime.Config()
	eng, err := newEngine(context.Background(), engineOptions{Runtime: o.Runtime, Datadir: cfg.Admin.Datadir,
		ConfigFile: o.ConfigFile, Log: o.Log, Version: Version, StatementTimeout: o.StatementTimeout})
	if err != nil {
		return nil, err
	}
	warnWeakAdminPassword(cfg.Admin, o.Log)
	s := &Server{eng: eng, lg: o.Log, logins: o.Logins, rt: o.Runtime}
	s.auth = &auth{rt: o.Runtime, lg: o.Log}
	s.auth.Auth = protocol.NewAuth(s.auth.lookup)
	s.srv, err = newProtocolServer(cfg.Admin, s.auth)
	if err != nil {
		_ = eng.Close()
		return nil, err
	}
	s.ln, err = protocol.Listen(cfg.Admin.Listen, o.MaxConnections, s.serve, o.Log.Named("listener"))
	if err != nil {
		_ = eng.Close()
		return nil, fmt.Errorf("admin: listen %s: %w", cfg.Admin.Listen, err)
	}
	return s, nil
}

// Start accepts admin connections until Close.
func (s *Server) Start() {
	s.wg.Go(func() {
		if err := s.ln.Serve(); err != nil {
			s.lg.Error("admin listener stopped", zap.Error(err))
		}
	})
	s.lg.Info("admin interface listening", zap.String("listen", s.Addr()), zap.String("datadir_file", s.eng.diskPath))
}

// RefreshMemory rewrites the MEMORY tables of every module from the
// running configuration, as SAVE <module> TO MEMORY would: with
// config_source: file, after the file was applied, so that what the admin
// interface shows is what runs.
func (s *Server) RefreshMemory(ctx context.Context) error {
	e := s.eng
	e.mu.Lock()
	defer e.mu.Unlock()
	e.internal.Store(true)
	defer e.internal.Store(false)
	for _, m := range modules {
		if err := e.writeMemory(ctx, m, e.rt.Config()); err != nil {
			return err
		}
	}
	return nil
}

// Addr is the admin listener's address.
func (s *Server) Addr() string { return s.ln.Addr().String() }

// Close stops accepting, closes the admin connections, waits for them and
// closes the databases.
func (s *Server) Close() error {
	err := s.ln.Close()
	s.wg.Wait()
	return errors.Join(err, s.eng.Close())
}

// auth checks admin logins against the running admin credentials.
type auth struct {
	*protocol.Auth
	rt Runtime
	lg *zap.Logger
}

func (a *auth) lookup(user string) (string, string, bool) {
	c := a.rt.Config().Admin
	switch {
	case user == c.Username:
		return c.Password, "", true
	case c.StatsUsername != "" && user == c.StatsUsername:
		return c.StatsPassword, "", true
	}
	return "", "", false
}

// OnAuthFailure logs a refused admin login.
func (a *auth) OnAuthFailure(c *server.Conn, err error) {
	a.lg.Warn("admin login refused", zap.String("admin_user", c.GetUser()),
		zap.String("client_addr", c.RemoteAddr().String()), zap.Error(err))
}

// handshakeTimeout bounds an admin login.
const handshakeTimeout = 10 * time.Second

// serve runs one admin connection: go-mysql's handshake and command loop
// with conn as the handler. A panic closes this connection only.
func (s *Server) serve(ctx context.Context, nc net.Conn) {
	if s.logins != nil && !s.logins.Admit(nc, s.rt.Config) {
		return
	}
	bc := protocol.NewBufConn(nc, 16<<10)
	defer func() {
		if r := recover(); r != nil {
			s.lg.Error("admin connection panic: connection closed", zap.Any("panic", r), zap.ByteString("stack", debug.Stack()))
		}
		_ = bc.Close()
	}()
	h := &conn{ctx: ctx, eng: s.eng, sess: adminSession{Addr: nc.RemoteAddr().String(), DB: schemaMain}}
	_ = nc.SetDeadline(time.Now().Add(handshakeTimeout))
	cc, err := protocol.Handshake(s.srv, bc, s.auth, h) // bounded pre-login reads
	if err != nil {
		return
	}
	_ = nc.SetDeadline(time.Time{})
	cc.SetStatus(mysql.SERVER_STATUS_AUTOCOMMIT)
	h.sess.User = cc.GetUser()
	// Only the admin account writes; the one other login is the read-only one.
	h.sess.ReadOnly = h.sess.User != s.rt.Config().Admin.Username
	for !cc.Closed() {
		if err := cc.HandleCommand(); err != nil {
			return
		}
	}
}

// conn is the go-mysql Handler of one admin connection. go-mysql calls
// it from the connection's goroutine only.
type conn struct {
	ctx  context.Context
	eng  *engine
	sess adminSession
}

var _ server.Handler = (*conn)(nil)

// UseDB handles COM_INIT_DB.
func (c *conn) UseDB(db string) error {
	return useDB(&c.sess, db)
}

// HandleQuery handles COM_QUERY.
func (c *conn) HandleQuery(q string) (*mysql.Result, error) {
	res, err := c.eng.Exec(c.ctx, &c.sess, strings.Clone(q))
	if err != nil {
		return nil, err
	}
	return toMySQL(res)
}

// toMySQL converts an engine result for go-mysql.
func toMySQL(res *result) (*mysql.Result, error) {
	if len(res.Columns) == 0 {
		return &mysql.Result{AffectedRows: uint64(max(res.Affected, 0)), StatusMessage: res.Info}, nil
	}
	for _, r := range res.Rows {
		for i, v := range r {
			if v == "" {
				r[i] = []byte{} // go-mysql sends a "" string as NULL
			}
		}
	}
	rs, err := mysql.BuildSimpleResultset(res.Columns, res.Rows, false)
	if err != nil {
		return nil, newError(erUnknown, "admin: build result: "+err.Error())
	}
	return mysql.NewResult(rs), nil
}

// HandleFieldList handles COM_FIELD_LIST (the CLI's table-name completion).
func (c *conn) HandleFieldList(table string, _ string) ([]*mysql.Field, error) {
	return c.eng.FieldList(c.ctx, &c.sess, table)
}

// HandleStmtPrepare refuses prepared statements: the admin interface
// speaks the text protocol only.
func (c *conn) HandleStmtPrepare(string) (int, int, any, error) {
	return 0, 0, nil, newError(erUnsupportedPS, "the admin interface does not support prepared statements; "+
		"send plain queries (go-sql-driver/mysql: interpolateParams=true)")
}

// HandleStmtExecute is never reached (no statement is ever prepared).
func (c *conn) HandleStmtExecute(any, string, []any) (*mysql.Result, error) {
	return nil, newError(erUnsupportedPS, "the admin interface does not support prepared statements")
}

// HandleStmtClose has nothing to close.
func (c *conn) HandleStmtClose(any) error { return nil }

// HandleOtherCommand accepts the harmless commands clients send
// (COM_SET_OPTION, COM_RESET_CONNECTION) and refuses the rest.
func (c *conn) HandleOtherCommand(cmd byte, _ []byte) error {
	switch cmd {
	case mysql.COM_SET_OPTION, mysql.COM_RESET_CONNECTION:
		return nil
	}
	return protocol.NewErrUnknownCommand(cmd)
}
