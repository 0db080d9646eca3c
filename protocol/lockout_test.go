package protocol_test

import (
	"testing"
	"time"

	"github.com/go-mysql-org/go-mysql/mysql"
	"github.com/stretchr/testify/require"

	"github.com/rwproxy/rwproxy/protocol"
)

// TestLoginLockout: after max consecutive wrong passwords a user name is
// locked: the right password then fails with the same 1045, and so does an
// unknown name once it failed as often. Off (max 0), nothing is locked.
func TestLoginLockout(t *testing.T) {
	auth := protocol.NewAuth(func(u string) (string, string, bool) { return "app", "", u == "app" })
	max := 2
	auth.SetLockout(func() (int, time.Duration) { return max, time.Hour })
	login := func(user, pw string) bool {
		return runLoginWith(t, auth, clientScript{response: func(salt []byte) []byte {
			return handshakeResponse(handshakeCaps, user, mysql.CalcNativePassword(salt, []byte(pw)), "", mysql.AUTH_NATIVE_PASSWORD, attrsBlock())
		}}).clientSawOK
	}
	require.True(t, login("app", "app"))
	require.False(t, login("app", "wrong"))
	require.True(t, login("app", "app"), "one failure, then a success: not locked, count cleared")
	require.False(t, login("app", "wrong"))
	require.False(t, login("app", "wrong"))
	require.False(t, login("app", "app"), "locked: the right password fails too")
	require.Equal(t, uint64(1), auth.Locked())
	require.True(t, login("app2", "x") == false && login("ghost", "x") == false && login("ghost", "y") == false)
	require.False(t, login("ghost", "x"))
	require.Equal(t, uint64(2), auth.Locked(), "unknown names are locked the same way")

	max = 0
	require.True(t, login("app", "app"), "lockout turned off")
}
