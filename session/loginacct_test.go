package session

import (
	"context"
	"errors"
	"net"
	"slices"
	"testing"
	"time"

	"github.com/go-mysql-org/go-mysql/client"
	"github.com/go-mysql-org/go-mysql/mysql"
	"github.com/stretchr/testify/require"
	"go.uber.org/zap"
	"go.uber.org/zap/zapcore"
	"go.uber.org/zap/zaptest/observer"

	"github.com/rwproxy/rwproxy/internal/testkit/fakemysql"
	"github.com/rwproxy/rwproxy/protocol"
)

// TestLoginFailureReason: each way a login fails has its own reason.
func TestLoginFailureReason(t *testing.T) {
	exists := func(u string) bool { return u == "app" }
	for _, tc := range []struct {
		name string
		at   loginAttempt
		want LoginFailure
	}{
		{"wrong password", loginAttempt{user: "app", asked: true}, LoginWrongPassword},
		{"unknown user", loginAttempt{user: "nobody", asked: true}, LoginUnknownUser},
		{"no password check reached", loginAttempt{}, LoginProtocol},
		{"tls required", loginAttempt{user: "app", asked: true, failure: LoginTLSRequired, set: true}, LoginTLSRequired},
	} {
		t.Run(tc.name, func(t *testing.T) { require.Equal(t, tc.want, tc.at.reason(exists)) })
	}
	require.Equal(t, LoginBackendUnavailable, backendFailure(protocol.NewErrNoWriter(10, 0, "")))
	require.Equal(t, LoginBackendUnavailable, backendFailure(protocol.NewErrBackendConnect(10, errors.New("x"))))
	require.Equal(t, LoginBadSchema, backendFailure(mysql.NewDefaultError(mysql.ER_BAD_DB_ERROR, "nope")))
	require.Equal(t, LoginBadSchema, backendFailure(mysql.NewDefaultError(mysql.ER_DBACCESS_DENIED_ERROR, "u", "h", "nope")))
	require.Equal(t, LoginBackendUnavailable, backendFailure(mysql.NewDefaultError(mysql.ER_CON_COUNT_ERROR)),
		"a server refusing the connection is not a bad schema")

	var st Stats
	st.countLogin(LoginWrongPassword)
	st.countLogin(LoginBackendUnavailable)
	require.Equal(t, uint64(2), st.AuthFailures.Load())
	require.Equal(t, uint64(1), st.LoginFailureCount(LoginWrongPassword))
	require.Equal(t, uint64(1), st.LoginFailureCount(LoginBackendUnavailable))
	require.Len(t, LoginFailureNames(), int(numLoginFailures))
}

// TestLoginLogIsSampled: a flood of refused logins logs a bounded number
// of lines per second.
func TestLoginLogIsSampled(t *testing.T) {
	core, logs := observer.New(zapcore.DebugLevel)
	d := &Deps{Log: zap.New(core), LoginLog: NewLoginLogger(zap.New(core))}
	from := &net.TCPAddr{IP: net.IPv4(10, 0, 0, 5), Port: 40000}
	for range 5000 {
		logLoginFailure(d, LoginWrongPassword, "app", from, errors.New("access denied"))
	}
	n := logs.Len()
	require.GreaterOrEqual(t, n, loginLogBurst)
	require.Less(t, n, 500, "sampled (about 20 lines a second), not one line per attempt")
	e := logs.All()[0]
	require.Equal(t, zapcore.WarnLevel, e.Level)
	require.Equal(t, "app", e.ContextMap()["user"])
	require.Equal(t, "10.0.0.5:40000", e.ContextMap()["client_addr"])
	require.Equal(t, "wrong_password", e.ContextMap()["reason"])
}

// TestRefusedLoginCountedFirst: a refused login is counted and logged
// before the client can read the refusal, so whoever the client tells
// (an operator, a test) finds it in the counters at once.
func TestRefusedLoginCountedFirst(t *testing.T) {
	h := newQP(t)
	h.writer.RejectLogins(mysql.NewDefaultError(mysql.ER_CON_COUNT_ERROR))
	login := func(pass, db string) *mysql.MyError {
		ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
		defer cancel()
		c, err := client.ConnectWithContext(ctx, h.addr, fakemysql.User, pass, db, 10*time.Second)
		if c != nil {
			_ = c.Close()
		}
		var me *mysql.MyError
		require.ErrorAs(t, err, &me)
		return me
	}
	for i := range 20 {
		require.Equal(t, uint16(mysql.ER_ACCESS_DENIED_ERROR), login("wrong", "").Code)
		require.Equal(t, uint64(i+1), h.d.Stats.LoginFailureCount(LoginWrongPassword), "counted before the client read it")
		me := login(fakemysql.Password, "app")
		require.Equal(t, uint16(mysql.ER_CON_COUNT_ERROR), me.Code, "the server's refusal: %s", me.Message)
		require.Equal(t, uint64(i+1), h.d.Stats.LoginFailureCount(LoginBackendUnavailable), "counted before the client read it")
	}
	require.Equal(t, uint64(40), h.d.Stats.AuthFailures.Load())
}

// TestErrPacketIn: a write to the client is walked packet by packet for
// its ERR packet, once; the offset found is where errFromPacket decodes
// the code, state and message for the log.
func TestErrPacketIn(t *testing.T) {
	errp := protocol.AppendErr([]byte{0, 0, 0, 2}, mysql.NewDefaultError(mysql.ER_ACCESS_DENIED_ERROR, "app", "h", "YES"))
	n := len(errp) - 4
	errp[0], errp[1], errp[2] = byte(n), byte(n>>8), byte(n>>16)
	ok := []byte{7, 0, 0, 2, 0, 0, 0, 2, 0, 0, 0}
	// A packet whose payload is 0xfe…: an EOF/auth switch, not an ERR.
	authSwitch := []byte{3, 0, 0, 2, 0xfe, 'x', 0}
	cat := func(ps ...[]byte) []byte { return slices.Concat(ps...) }
	const denied = "ERROR 1045 (28000): Access denied for user 'app'@'h' (using password: YES)"
	for _, tc := range []struct {
		name string
		b    []byte
		at   int    // errPacketIn's answer
		err  string // errFromPacket(b[at:]) as text; "" for nil
	}{
		{"the ERR packet alone", errp, 0, denied},
		{"an OK packet", ok, -1, ""},
		{"ERR after one packet", cat(ok, errp), len(ok), denied},
		{"ERR third, then an OK", cat(ok, authSwitch, errp, ok), len(ok) + len(authSwitch), denied},
		{"no ERR in several packets", cat(ok, authSwitch, ok), -1, ""},
		{"empty", nil, -1, ""},
		{"header cut short", []byte{0xff, 0, 0}, -1, ""},
		{"a packet's header cut short after a packet", cat(ok, []byte{9, 0, 0}), -1, ""},
		{"a packet longer than the write", cat([]byte{200, 0, 0, 2, 0, 0}, errp), -1, ""},
		{"an ERR packet cut after its code", cat(ok, []byte{9, 0, 0, 2, 0xff, 0x15, 0x04}), len(ok),
			"ERROR 1045 (HY000): "},
		{"an ERR packet cut before its code", cat(ok, []byte{9, 0, 0, 2, 0xff, 0x15}), len(ok), ""},
	} {
		t.Run(tc.name, func(t *testing.T) {
			at := errPacketIn(tc.b)
			require.Equal(t, tc.at, at)
			if at < 0 {
				return
			}
			e := errFromPacket(tc.b[at:])
			if tc.err == "" {
				require.NoError(t, e)
				return
			}
			require.EqualError(t, e, tc.err)
		})
	}
	require.NoError(t, errFromPacket(ok), "not an ERR packet")
}
