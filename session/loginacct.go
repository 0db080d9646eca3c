package session

import (
	"errors"
	"io"
	"net"
	"strings"
	"sync/atomic"
	"syscall"
	"time"

	"github.com/go-mysql-org/go-mysql/mysql"
	"github.com/go-mysql-org/go-mysql/server"
	perrors "github.com/pingcap/errors"
	"go.uber.org/zap"
	"go.uber.org/zap/zapcore"

	"github.com/rwproxy/rwproxy/config"
	"github.com/rwproxy/rwproxy/protocol"
)

// LoginFailure is why a client login was refused; each has its own counter
// (Stats.LoginFailures, admin stats_mysql_global, /metrics).
type LoginFailure uint8

// Login failure reasons.
const (
	// LoginWrongPassword: a configured, active user with a wrong password.
	LoginWrongPassword LoginFailure = iota
	// LoginUnknownUser: no such user, or the user is not active.
	LoginUnknownUser
	// LoginTLSRequired: the user has require_tls and the client did not use TLS.
	LoginTLSRequired
	// LoginLimitReached: the user's max_connections was reached.
	LoginLimitReached
	// LoginBackendUnavailable: the login named a schema and no backend
	// could check it (down, refused, timed out).
	LoginBackendUnavailable
	// LoginBadSchema: the backend refused the schema the login named.
	LoginBadSchema
	// LoginProtocol: the handshake itself failed (malformed, timed out,
	// the client went away).
	LoginProtocol
	numLoginFailures
)

var loginFailureNames = [numLoginFailures]string{
	"wrong_password", "unknown_user", "tls_required", "limit_reached", "backend_unavailable", "bad_schema", "protocol",
}

// String is the reason's snake_case name (the metric label).
func (f LoginFailure) String() string { return loginFailureNames[f] }

// LoginFailureNames lists the reasons in order (index = LoginFailure).
func LoginFailureNames() []string { return append([]string(nil), loginFailureNames[:]...) }

// loginFailures counts refused logins by reason.
type loginFailures [numLoginFailures]atomic.Uint64

// count records one refused login (and the AuthFailures total).
func (st *Stats) countLogin(f LoginFailure) {
	st.AuthFailures.Add(1)
	st.LoginFailures[f].Add(1)
}

// LoginFailureCount returns the refused logins of one reason.
func (st *Stats) LoginFailureCount(f LoginFailure) uint64 { return st.LoginFailures[f].Load() }

// loginAttempt follows one client login to tell why it failed.
type loginAttempt struct {
	user    string // as sent by the client ("" before GetCredential)
	asked   bool   // GetCredential ran: the client got to the password check
	failure LoginFailure
	set     bool // failure was decided by a check after the password
	counted bool // the refusal was counted and logged (countBeforeReply)
}

// fail records f as the reason, if none was recorded.
func (l *loginAttempt) fail(f LoginFailure) {
	if !l.set {
		l.failure, l.set = f, true
	}
}

// reason decides why a handshake that returned an error failed: a check
// after the password said so; else the password check was reached and
// the user exists (wrong password) or not; else the protocol failed.
func (l *loginAttempt) reason(exists func(user string) bool) LoginFailure {
	switch {
	case l.set:
		return l.failure
	case l.asked && exists(l.user):
		return LoginWrongPassword
	case l.asked:
		return LoginUnknownUser
	}
	return LoginProtocol
}

// countBeforeReply returns the hook that sees the handshake's ERR packet
// (b starts with it: writeDeadlineConn.beforeErr) before the client can
// read it: a refusal is counted and logged first,
// so whoever the client tells finds it in the counters. Protocol failures
// wait for the handshake's error (account): a client that closed early
// is not counted.
func (l *loginAttempt) countBeforeReply(d *Deps, from net.Addr) func([]byte) {
	return func(b []byte) {
		if f := l.reasonIn(d); f != LoginProtocol {
			d.Stats.countLogin(f)
			logLoginFailure(d, f, l.user, from, errFromPacket(b))
			l.counted = true
		}
	}
}

// account counts and logs a failed handshake that countBeforeReply did
// not: a protocol failure, or a refusal whose reply never reached the
// client; a client that closed before logging in is only logged at Debug.
func (l *loginAttempt) account(d *Deps, from net.Addr, err error) {
	if l.counted {
		return
	}
	f := l.reasonIn(d)
	if f == LoginProtocol && closedEarly(err) {
		// A TCP health check or port probe: no login was attempted.
		d.Log.Debug("client closed the connection before logging in", zap.String("client_addr", from.String()))
		return
	}
	d.Stats.countLogin(f)
	logLoginFailure(d, f, l.user, from, err)
}

// reasonIn is reason with the users of d's running configuration.
func (l *loginAttempt) reasonIn(d *Deps) LoginFailure {
	return l.reason(func(user string) bool { u, ok := findUser(d.Config(), user); return ok && u.IsActive() })
}

// backendFailure classifies a schema check's error: the server's answer
// about the schema (unknown, not allowed, badly named) is a bad schema;
// anything else (no server, a server refusing the connection or lost) is
// a backend that could not be used.
func backendFailure(err error) LoginFailure {
	if me, ok := err.(*mysql.MyError); ok {
		switch me.Code {
		case mysql.ER_BAD_DB_ERROR, mysql.ER_DBACCESS_DENIED_ERROR, mysql.ER_WRONG_DB_NAME:
			return LoginBadSchema
		}
	}
	return LoginBackendUnavailable
}

// closedEarly reports a handshake that ended because the client closed the
// connection before answering it (a TCP health check, a port scan).
func closedEarly(err error) bool {
	if c := perrors.Cause(err); c != nil {
		err = c
	}
	return errors.Is(err, io.EOF) || errors.Is(err, io.ErrUnexpectedEOF) || errors.Is(err, syscall.ECONNRESET) ||
		strings.Contains(err.Error(), "EOF") || strings.Contains(err.Error(), "connection reset")
}

// recordingAuth notes the user name a client sent, for the accounting of a
// failed login; it changes nothing in the exchange.
type recordingAuth struct {
	server.AuthenticationHandler
	at *loginAttempt
}

// GetCredential implements server.AuthenticationHandler.
func (r recordingAuth) GetCredential(user string) (server.Credential, bool, error) {
	r.at.user, r.at.asked = user, true
	return r.AuthenticationHandler.GetCredential(user)
}

// logLoginFailure logs a refused login at Warn (Debug for protocol
// failures: port scanners and health checks), through the rate-limited
// login logger.
func logLoginFailure(d *Deps, f LoginFailure, user string, from net.Addr, err error) {
	lg := d.LoginLog
	if lg == nil {
		lg = d.Log
	}
	lvl := zapcore.WarnLevel
	if f == LoginProtocol {
		lvl = zapcore.DebugLevel
	}
	if ce := lg.Check(lvl, "client login refused"); ce != nil {
		ce.Write(zap.String("reason", f.String()), zap.String("user", user), zap.String("client_addr", from.String()),
			zap.Error(err))
	}
}

// NewLoginLogger returns lg sampled so that a flood of failed logins
// cannot fill the disk: per second, the first loginLogBurst lines of each
// message and level, then one in loginLogThereafter.
func NewLoginLogger(lg *zap.Logger) *zap.Logger {
	return lg.WithOptions(zap.WrapCore(func(c zapcore.Core) zapcore.Core {
		return zapcore.NewSamplerWithOptions(c, time.Second, loginLogBurst, loginLogThereafter)
	}))
}

const (
	loginLogBurst      = 20
	loginLogThereafter = 1000
)

// changeUserFailure checks a COM_CHANGE_USER's credentials the way a login
// is checked, and says why they are refused.
func changeUserFailure(u config.User, found bool, reply, salt []byte, isTLS bool) (LoginFailure, bool) {
	switch {
	case !found || !u.IsActive():
		return LoginUnknownUser, true
	case !protocol.CheckNativeScramble(u.Password, reply, salt):
		return LoginWrongPassword, true
	case u.RequireTLS && !isTLS:
		return LoginTLSRequired, true
	}
	return 0, false
}

// errPacketIn returns the offset in b, a write to the client made of
// whole packets, of its first ERR packet (payload starting with 0xff), or
// -1 when it carries none. A packet whose header claims more bytes than b
// holds ends the walk: an ERR packet is still found if it is that one.
func errPacketIn(b []byte) int {
	for off := 0; len(b)-off >= 5; {
		if b[off+4] == mysql.ERR_HEADER {
			return off
		}
		off += 4 + (int(b[off]) | int(b[off+1])<<8 | int(b[off+2])<<16)
	}
	return -1
}

// errFromPacket decodes the ERR packet at the start of p (b[errPacketIn(b):])
// into the error it tells the client, for the log line of a refused login;
// nil when p is too short to hold one.
func errFromPacket(p []byte) error {
	if len(p) < 7 || p[4] != mysql.ERR_HEADER {
		return nil
	}
	n := 4 + (int(p[0]) | int(p[1])<<8 | int(p[2])<<16)
	p = p[5:min(n, len(p))]
	if len(p) < 2 {
		return nil
	}
	e := &mysql.MyError{Code: uint16(p[0]) | uint16(p[1])<<8, State: mysql.DEFAULT_MYSQL_STATE}
	p = p[2:]
	if len(p) >= 6 && p[0] == '#' {
		e.State, p = string(p[1:6]), p[6:]
	}
	e.Message = string(p)
	return e
}
