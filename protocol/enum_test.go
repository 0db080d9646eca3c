package protocol_test

import (
	"bytes"
	"net"
	"testing"
	"time"

	"github.com/go-mysql-org/go-mysql/mysql"
	"github.com/go-mysql-org/go-mysql/packet"
	"github.com/go-mysql-org/go-mysql/server"
	"github.com/stretchr/testify/require"

	"github.com/rwproxy/rwproxy/protocol"
)

// firstReply logs in as user offering mysql_native_password with a wrong
// scramble and returns the server's first answer: an auth switch request
// (0xFE + plugin name) or an error.
func firstReply(t *testing.T, srv *server.Server, auth *protocol.Auth, user string) []byte {
	t.Helper()
	pc, finish := dialHandshake(t, srv, auth)
	defer finish()
	resp := handshakeResponse(handshakeCaps, user, bytes.Repeat([]byte{7}, 20), "", mysql.AUTH_NATIVE_PASSWORD, attrsBlock())
	require.NoError(t, pc.WritePacket(append([]byte{0, 0, 0, 0}, resp...)))
	p, err := pc.ReadPacket()
	require.NoError(t, err)
	return p
}

// dialHandshake runs protocol.Handshake for srv and auth on one end of a
// pipe (deadlines 5 s) and returns the client's end, past the greeting, as
// a packet connection; finish closes it and waits for the server side.
func dialHandshake(t *testing.T, srv *server.Server, auth *protocol.Auth) (pc *packet.Conn, finish func()) {
	t.Helper()
	sEnd, cEnd := net.Pipe()
	deadline := time.Now().Add(5 * time.Second)
	require.NoError(t, sEnd.SetDeadline(deadline))
	require.NoError(t, cEnd.SetDeadline(deadline))
	done := make(chan struct{})
	go func() {
		defer close(done)
		if c, err := protocol.Handshake(srv, sEnd, auth, quietHandler{}); err == nil {
			c.Close()
		}
		_ = sEnd.Close()
	}()
	pc = packet.NewConn(cEnd)
	_, err := pc.ReadPacket()
	require.NoError(t, err, "greeting")
	return pc, func() { _ = cEnd.Close(); <-done }
}

// TestUnknownUserLooksLikeKnown: with caching_sha2_password users only, a
// client offering mysql_native_password gets an auth switch to
// caching_sha2_password for an unknown user name too, not 1045 at once
// (issue #17: the difference told which names exist). With a mix, each
// unknown name gets one plugin, the same at every attempt, and both occur.
func TestUnknownUserLooksLikeKnown(t *testing.T) {
	users := map[string]string{"app": mysql.AUTH_CACHING_SHA2_PASSWORD}
	auth := protocol.NewAuth(func(u string) (string, string, bool) {
		pl, ok := users[u]
		return "secret", pl, ok
	})
	auth.SetPluginMix(func() (int, int) { return 0, 1 })
	srv, err := protocol.NewSecureServer("8.0.36-test", nil, auth)
	require.NoError(t, err)
	known := firstReply(t, srv, auth, "app")
	require.Equal(t, byte(mysql.EOF_HEADER), known[0], "auth switch for the existing user")
	shape := func(p []byte) []byte { // the packet without its random salt
		head, _, _ := bytes.Cut(p, []byte{0})
		return head
	}
	require.Equal(t, "\xfecaching_sha2_password", string(shape(known)))
	for _, ghost := range []string{"ghost", "root", "admin"} {
		p := firstReply(t, srv, auth, ghost)
		require.Equal(t, shape(known), shape(p), "an unknown user %q looks the same", ghost)
		require.Len(t, p, len(known))
	}

	auth.SetPluginMix(func() (int, int) { return 1, 1 })
	seen := map[byte]int{}
	for i := range 16 {
		name := "ghost" + string(rune('a'+i))
		first := firstReply(t, srv, auth, name)
		require.Equal(t, first[0], firstReply(t, srv, auth, name)[0], "the same answer at every attempt")
		seen[first[0]]++
	}
	require.Positive(t, seen[mysql.EOF_HEADER], "some unknown names are switched")
	require.Positive(t, seen[mysql.ERR_HEADER], "some are refused at once, as native users with a wrong password")
}
