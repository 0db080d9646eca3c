package session

import (
	"errors"
	"net"
	"testing"

	"github.com/go-mysql-org/go-mysql/mysql"
	"github.com/stretchr/testify/require"
	"go.uber.org/zap"
	"go.uber.org/zap/zapcore"
	"go.uber.org/zap/zaptest/observer"

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
