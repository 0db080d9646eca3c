package protocol_test

import (
	"bytes"
	"fmt"
	"net"
	"runtime/debug"
	"sync"
	"testing"
	"time"

	"github.com/go-mysql-org/go-mysql/mysql"
	"github.com/go-mysql-org/go-mysql/packet"
	"github.com/go-mysql-org/go-mysql/server"
	"github.com/stretchr/testify/require"

	"github.com/rwproxy/rwproxy/protocol"
)

// testServer is built once: NewServer generates an RSA key.
var testServer = sync.OnceValues(func() (*server.Server, error) {
	return protocol.NewServer("8.0.36-test")
})

func testAuth() *protocol.Auth {
	return protocol.NewAuth(func(user string) (string, string, bool) {
		if user == "app" {
			return "app", "", true
		}
		return "", "", false
	})
}

// quietHandler accepts any schema without EmptyHandler's logging.
type quietHandler struct{ server.EmptyHandler }

func (quietHandler) UseDB(string) error { return nil }

// loginOutcome is what one handshake attempt produced.
type loginOutcome struct {
	serverErr   error  // NewCustomizedConn's error; nil is a successful login
	panicked    string // a panic on the server side, with its stack
	clientSawOK bool   // the client received an OK packet
}

// clientScript answers the server: response builds the handshake
// response payload from the greeting's salt; authSwitch the reply to an
// auth switch request (plugin name, new salt).
type clientScript struct {
	response   func(salt []byte) []byte
	authSwitch func(plugin string, salt []byte) []byte
}

// greetingSalt extracts the 20-byte scramble from a protocol-10 greeting.
func greetingSalt(g []byte) []byte {
	if len(g) < 1 || g[0] != 10 {
		return nil
	}
	i := bytes.IndexByte(g[1:], 0)
	if i < 0 {
		return nil
	}
	pos := 1 + i + 1 + 4 // version, NUL, connection id
	if len(g) < pos+8+1+2+1+2+2+1+10+12 {
		return nil
	}
	salt := append([]byte(nil), g[pos:pos+8]...)
	pos += 8 + 1 + 2 + 1 + 2 + 2 + 1 + 10
	return append(salt, g[pos:pos+12]...)
}

// runLogin performs one handshake over a net.Pipe: the proxy side runs
// go-mysql's server handshake with protocol.NewServer and protocol.NewAuth,
// the client side follows script. Deadlines bound everything.
func runLogin(t *testing.T, script clientScript) loginOutcome {
	t.Helper()
	return runLoginWith(t, testAuth(), script)
}

// runLoginWith is runLogin against the given authentication handler.
func runLoginWith(t *testing.T, auth *protocol.Auth, script clientScript) loginOutcome {
	t.Helper()
	srv, err := testServer()
	require.NoError(t, err)
	sEnd, cEnd := net.Pipe()
	deadline := time.Now().Add(5 * time.Second)
	require.NoError(t, sEnd.SetDeadline(deadline))
	require.NoError(t, cEnd.SetDeadline(deadline))

	var out loginOutcome
	done := make(chan struct{})
	go func() {
		defer close(done)
		defer func() {
			if r := recover(); r != nil {
				out.panicked = fmt.Sprintf("%v\n%s", r, debug.Stack())
				_ = sEnd.Close()
			}
		}()
		conn, err := protocol.Handshake(srv, sEnd, auth, quietHandler{})
		out.serverErr = err
		if conn != nil {
			conn.Close()
		}
	}()

	out.clientSawOK = playClient(cEnd, script)
	_ = cEnd.Close()
	select {
	case <-done:
	case <-time.After(10 * time.Second):
		t.Fatal("server handshake did not end")
	}
	return out
}

// playClient reads the greeting, sends the scripted packets and reports
// whether the server accepted the login (OK packet).
func playClient(c net.Conn, script clientScript) bool {
	pc := packet.NewConn(c)
	g, err := pc.ReadPacket()
	if err != nil {
		return false
	}
	if err := pc.WritePacket(append([]byte{0, 0, 0, 0}, script.response(greetingSalt(g))...)); err != nil {
		return false
	}
	for {
		p, err := pc.ReadPacket()
		if err != nil || len(p) == 0 {
			return false
		}
		switch p[0] {
		case mysql.OK_HEADER:
			return true
		case mysql.EOF_HEADER: // auth switch request
			if script.authSwitch == nil {
				return false
			}
			plugin, salt, _ := bytes.Cut(p[1:], []byte{0})
			salt = bytes.TrimSuffix(salt, []byte{0})
			if err := pc.WritePacket(append([]byte{0, 0, 0, 0}, script.authSwitch(string(plugin), salt)...)); err != nil {
				return false
			}
		default: // ERR, or more auth data this client does not speak
			return false
		}
	}
}

const handshakeCaps = mysql.CLIENT_PROTOCOL_41 | mysql.CLIENT_SECURE_CONNECTION | mysql.CLIENT_LONG_PASSWORD |
	mysql.CLIENT_PLUGIN_AUTH | mysql.CLIENT_PLUGIN_AUTH_LENENC_CLIENT_DATA | mysql.CLIENT_CONNECT_WITH_DB |
	mysql.CLIENT_CONNECT_ATTRS | mysql.CLIENT_SESSION_TRACK | mysql.CLIENT_TRANSACTIONS

// handshakeResponse builds a HandshakeResponse41 payload.
func handshakeResponse(caps uint32, user string, auth []byte, db, plugin string, attrs []byte) []byte {
	p := []byte{byte(caps), byte(caps >> 8), byte(caps >> 16), byte(caps >> 24), 0, 0, 0, 1, 45}
	p = append(p, make([]byte, 23)...)
	p = append(append(p, user...), 0)
	if caps&mysql.CLIENT_PLUGIN_AUTH_LENENC_CLIENT_DATA != 0 {
		p = lenenc(p, auth)
	} else {
		p = append(append(p, byte(len(auth))), auth...)
	}
	if caps&mysql.CLIENT_CONNECT_WITH_DB != 0 {
		p = append(append(p, db...), 0)
	}
	if caps&mysql.CLIENT_PLUGIN_AUTH != 0 {
		p = append(append(p, plugin...), 0)
	}
	if caps&mysql.CLIENT_CONNECT_ATTRS != 0 {
		p = append(p, attrs...)
	}
	return p
}

func attrsBlock(kv ...string) []byte {
	var body []byte
	for _, s := range kv {
		body = lenenc(body, []byte(s))
	}
	return lenenc(nil, body)
}

// fixedScript sends fixed bytes whatever the server asks.
func fixedScript(resp, switchResp []byte) clientScript {
	return clientScript{
		response:   func([]byte) []byte { return resp },
		authSwitch: func(string, []byte) []byte { return switchResp },
	}
}

// TestHandshakeHarness shows the harness tells a good login from a bad
// one, so that FuzzHandshake's "never logs in" can fail.
func TestHandshakeHarness(t *testing.T) {
	native := func(pw string) func([]byte) []byte {
		return func(salt []byte) []byte { return mysql.CalcNativePassword(salt, []byte(pw)) }
	}
	tests := []struct {
		name   string
		script clientScript
		ok     bool
	}{
		{"native password", clientScript{response: func(salt []byte) []byte {
			return handshakeResponse(handshakeCaps, "app", native("app")(salt), "", mysql.AUTH_NATIVE_PASSWORD,
				attrsBlock("_client_name", "test"))
		}}, true},
		{"switched from caching_sha2_password", clientScript{
			response: func([]byte) []byte {
				return handshakeResponse(handshakeCaps, "app", []byte("xxxx"), "db", mysql.AUTH_CACHING_SHA2_PASSWORD, attrsBlock())
			},
			authSwitch: func(plugin string, salt []byte) []byte {
				if plugin != mysql.AUTH_NATIVE_PASSWORD {
					return nil
				}
				return native("app")(salt)
			},
		}, true},
		{"wrong password", clientScript{response: func(salt []byte) []byte {
			return handshakeResponse(handshakeCaps, "app", native("nope")(salt), "", mysql.AUTH_NATIVE_PASSWORD, attrsBlock())
		}}, false},
		{"unknown user", clientScript{response: func(salt []byte) []byte {
			return handshakeResponse(handshakeCaps, "root", native("app")(salt), "", mysql.AUTH_NATIVE_PASSWORD, attrsBlock())
		}}, false},
		{"empty password", fixedScript(handshakeResponse(handshakeCaps, "app", nil, "", mysql.AUTH_NATIVE_PASSWORD, attrsBlock()), nil), false},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			out := runLogin(t, tc.script)
			require.Empty(t, out.panicked)
			require.Equal(t, tc.ok, out.serverErr == nil, "server error: %v", out.serverErr)
			require.Equal(t, tc.ok, out.clientSawOK)
		})
	}
}

// FuzzHandshake writes arbitrary bytes as the client's handshake response
// (and as its answer to an auth switch). The server must not panic, and
// since the fuzzer cannot know the random salt, no input may log in.
func FuzzHandshake(f *testing.F) {
	f.Add(handshakeResponse(handshakeCaps, "app", bytes.Repeat([]byte{7}, 20), "", mysql.AUTH_NATIVE_PASSWORD,
		attrsBlock("_os", "linux", "program_name", "mysql")), []byte(nil))
	f.Add(handshakeResponse(handshakeCaps, "app", []byte{1}, "shop", mysql.AUTH_CACHING_SHA2_PASSWORD, attrsBlock()),
		bytes.Repeat([]byte{9}, 20))
	f.Add(handshakeResponse(handshakeCaps, "root", nil, "", mysql.AUTH_SHA256_PASSWORD, nil), []byte{1})
	f.Add(handshakeResponse(handshakeCaps&^mysql.CLIENT_PLUGIN_AUTH_LENENC_CLIENT_DATA, "app", make([]byte, 20), "", "", nil), []byte(nil))
	f.Add(handshakeResponse(mysql.CLIENT_PROTOCOL_41|mysql.CLIENT_SECURE_CONNECTION, "app", make([]byte, 20), "", "", nil), []byte(nil))
	f.Add(make([]byte, 32), []byte(nil)) // SSLRequest without TLS configured
	f.Add([]byte{}, []byte(nil))
	f.Add([]byte{0x00, 0x02}, []byte(nil)) // no CLIENT_PROTOCOL_41
	f.Fuzz(func(t *testing.T, resp, switchResp []byte) {
		mustNotPanic(t, func() {
			out := runLogin(t, fixedScript(resp, switchResp))
			require.Empty(t, out.panicked, "server panicked")
			require.Error(t, out.serverErr, "arbitrary bytes logged in")
			require.False(t, out.clientSawOK, "client received OK")
		})
	})
}
