package session

import (
	"errors"
	"testing"

	"github.com/go-mysql-org/go-mysql/mysql"
	"github.com/stretchr/testify/require"

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
