package protocol_test

import (
	"context"
	"crypto/tls"
	"database/sql"
	"fmt"
	"net"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/go-mysql-org/go-mysql/mysql"
	"github.com/go-mysql-org/go-mysql/server"
	gsql "github.com/go-sql-driver/mysql"
	"github.com/stretchr/testify/require"

	"github.com/rwproxy/rwproxy/internal/testkit/certs"
	"github.com/rwproxy/rwproxy/protocol"
)

// authServer is a go-mysql server with rwproxy's authentication (Auth,
// AuthProvider, optional TLS, the read buffer) on loopback. It records how
// each successful login came in.
type authServer struct {
	addr  string
	users sync.Map // name -> userEntry
	srv   *server.Server
	// logins counts successful logins; tlsLogins those over TLS.
	logins, tlsLogins atomic.Int64
}

type userEntry struct{ pw, plugin string }

func startAuthServer(t *testing.T, tlsConf *tls.Config) *authServer {
	t.Helper()
	a := &authServer{}
	auth := protocol.NewAuth(func(name string) (string, string, bool) {
		v, ok := a.users.Load(name)
		if !ok {
			return "", "", false
		}
		u := v.(userEntry)
		return u.pw, u.plugin, true
	})
	srv, err := protocol.NewSecureServer("8.0.36-test", tlsConf, auth)
	require.NoError(t, err)
	a.srv = srv
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	require.NoError(t, err)
	a.addr = ln.Addr().String()
	var wg sync.WaitGroup
	wg.Go(func() {
		for {
			nc, err := ln.Accept()
			if err != nil {
				return
			}
			wg.Go(func() {
				bc := protocol.NewBufConn(protocol.ReadBuffered(nc, srv), 16*1024)
				defer bc.Close()
				_ = nc.SetDeadline(time.Now().Add(10 * time.Second))
				c, err := protocol.Handshake(srv, bc, auth, server.EmptyHandler{})
				if err != nil {
					return
				}
				a.logins.Add(1)
				if protocol.IsTLS(c) {
					a.tlsLogins.Add(1)
				}
				for c.HandleCommand() == nil {
				}
			})
		}
	})
	t.Cleanup(func() { _ = ln.Close(); wg.Wait() })
	return a
}

func (a *authServer) setUser(name, pw, plugin string) { a.users.Store(name, userEntry{pw, plugin}) }

// login opens one connection with go-sql-driver and pings; tlsName is ""
// (no TLS) or a name registered with RegisterTLSConfig.
func login(t *testing.T, addr, user, pw, tlsName string) error {
	t.Helper()
	dsn := fmt.Sprintf("%s:%s@tcp(%s)/?timeout=5s", user, pw, addr)
	if tlsName != "" {
		dsn += "&tls=" + tlsName
	}
	db, err := sql.Open("mysql", dsn)
	require.NoError(t, err)
	defer db.Close()
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	return db.PingContext(ctx)
}

func requireDenied(t *testing.T, err error, user string) {
	t.Helper()
	var me *gsql.MySQLError
	require.ErrorAs(t, err, &me, "want access denied, got %v", err)
	require.Equal(t, uint16(mysql.ER_ACCESS_DENIED_ERROR), me.Number, me.Message)
	require.Contains(t, me.Message, "Access denied for user '"+user+"'@'127.0.0.1'")
}

// tlsSetup returns a server TLS config and registers the matching client
// config as "rwproxy-test" with go-sql-driver.
func tlsSetup(t *testing.T) *tls.Config {
	ca := certs.NewCA(t, "rwproxy test CA")
	srvConf := protocol.ServerTLSConfig(ca.TLSCert(t, "127.0.0.1", "localhost"))
	require.NoError(t, gsql.RegisterTLSConfig("rwproxy-test", &tls.Config{RootCAs: ca.Pool(), ServerName: "127.0.0.1", MinVersion: tls.VersionTLS12}))
	t.Cleanup(func() { gsql.DeregisterTLSConfig("rwproxy-test") })
	return srvConf
}

// TestAuthMatrix logs in with go-sql-driver for every combination of
// plugin (native, caching_sha2), stored form (plain, native hash) and
// transport (TLS, plain), right and wrong passwords.
func TestAuthMatrix(t *testing.T) {
	a := startAuthServer(t, tlsSetup(t))
	hash := protocol.NativeHash("s3cret")
	for _, plugin := range []string{mysql.AUTH_NATIVE_PASSWORD, mysql.AUTH_CACHING_SHA2_PASSWORD} {
		for _, stored := range []string{"s3cret", hash} {
			for _, tlsName := range []string{"", "rwproxy-test"} {
				name := fmt.Sprintf("%s/hashed=%t/tls=%t", plugin, stored == hash, tlsName != "")
				t.Run(name, func(t *testing.T) {
					user := fmt.Sprintf("u%d", a.logins.Load())
					a.setUser(user, stored, plugin)
					before, beforeTLS := a.logins.Load(), a.tlsLogins.Load()
					require.NoError(t, login(t, a.addr, user, "s3cret", tlsName))
					require.Equal(t, before+1, a.logins.Load())
					if tlsName != "" {
						require.Equal(t, beforeTLS+1, a.tlsLogins.Load())
					}
					// Again: caching_sha2 now takes the fast path for plain
					// stored passwords, full authentication for hashes.
					require.NoError(t, login(t, a.addr, user, "s3cret", tlsName))
					requireDenied(t, login(t, a.addr, user, "wrong", tlsName), user)
					requireDenied(t, login(t, a.addr, user, "", tlsName), user)
				})
			}
		}
	}
	t.Run("unknown user", func(t *testing.T) {
		requireDenied(t, login(t, a.addr, "nobody", "s3cret", ""), "nobody")
	})
	t.Run("empty password", func(t *testing.T) {
		a.setUser("empty", "", mysql.AUTH_CACHING_SHA2_PASSWORD)
		require.NoError(t, login(t, a.addr, "empty", "", ""))
		requireDenied(t, login(t, a.addr, "empty", "x", ""), "empty")
		a.setUser("empty2", "", mysql.AUTH_NATIVE_PASSWORD)
		require.NoError(t, login(t, a.addr, "empty2", "", "rwproxy-test"))
		requireDenied(t, login(t, a.addr, "empty2", "x", ""), "empty2")
	})
}

// TestSha2CacheFollowsPasswordChange: go-mysql's own caching_sha2 cache
// would keep accepting the old password by fast authentication after a
// change; rwproxy's provider checks the cache against the current one.
func TestSha2CacheFollowsPasswordChange(t *testing.T) {
	a := startAuthServer(t, tlsSetup(t))
	a.setUser("rot", "old-password", mysql.AUTH_CACHING_SHA2_PASSWORD)
	require.NoError(t, login(t, a.addr, "rot", "old-password", "rwproxy-test"))
	require.NoError(t, login(t, a.addr, "rot", "old-password", "")) // fast auth, no TLS needed
	a.setUser("rot", "new-password", mysql.AUTH_CACHING_SHA2_PASSWORD)
	requireDenied(t, login(t, a.addr, "rot", "old-password", ""), "rot")
	requireDenied(t, login(t, a.addr, "rot", "old-password", "rwproxy-test"), "rot")
	require.NoError(t, login(t, a.addr, "rot", "new-password", ""))
}

// TestNoTLSOffered: without a TLS config the greeting has no CLIENT_SSL and
// a client that insists on TLS cannot log in.
func TestNoTLSOffered(t *testing.T) {
	tlsSetup(t)
	a := startAuthServer(t, nil)
	require.False(t, protocol.OffersTLS(a.srv))
	a.setUser("u", "pw", mysql.AUTH_CACHING_SHA2_PASSWORD)
	require.NoError(t, login(t, a.addr, "u", "pw", "")) // RSA key exchange
	err := login(t, a.addr, "u", "pw", "rwproxy-test")
	require.Error(t, err)
	require.Contains(t, err.Error(), "TLS requested but server does not support TLS")
}

func TestNativeHashHelpers(t *testing.T) {
	require.Equal(t, "*5BCB3E6AC345B435C7C2E6B7949A04CE6F6563D3", protocol.NativeHash("app"))
	require.Empty(t, protocol.NativeHash(""))
	require.True(t, protocol.IsNativeHash(protocol.NativeHash("x")))
	require.False(t, protocol.IsNativeHash("*5BCB3E6AC345B435C7C2E6B7949A04CE6F6563D"))
	salt := []byte("01234567890123456789")
	reply := mysql.CalcNativePassword(salt, []byte("app"))
	for _, stored := range []string{"app", protocol.NativeHash("app")} {
		require.True(t, protocol.CheckNativeScramble(stored, reply, salt), stored)
		require.False(t, protocol.CheckNativeScramble(stored, mysql.CalcNativePassword(salt, []byte("nope")), salt))
		require.False(t, protocol.CheckNativeScramble(stored, nil, salt))
	}
	require.True(t, protocol.CheckNativeScramble("", nil, salt))
	require.False(t, protocol.CheckNativeScramble("", reply, salt))
}

// TestScrambleMatchesGreeting pins the go-mysql internals Scramble reads:
// the 20 bytes it returns are those the greeting carried.
func TestScrambleMatchesGreeting(t *testing.T) {
	srv, err := protocol.NewSecureServer("8.0.36-test", nil, protocol.NewAuth(func(string) (string, string, bool) { return "", "", false }))
	require.NoError(t, err)
	cli, srvSide := net.Pipe()
	defer cli.Close()
	got := make(chan []byte, 1)
	probe := &probeAuth{got: got}
	go func() {
		defer srvSide.Close()
		_, _ = srv.NewCustomizedConn(srvSide, probe, server.EmptyHandler{})
	}()
	greeting := readPacket(t, cli)
	// protocol 10: version NUL, conn id (4), salt part 1 (8), filler, caps
	// (2), charset, status (2), caps (2), auth data length, 10 reserved,
	// salt part 2 (12) NUL.
	v := 1 + indexByte(greeting[1:], 0) + 1
	part1 := greeting[v+4 : v+12]
	p2 := v + 12 + 1 + 2 + 1 + 2 + 2 + 1 + 10
	part2 := greeting[p2 : p2+12]
	// A handshake response for user "x" with CLIENT_PROTOCOL_41 |
	// CLIENT_SECURE_CONNECTION | CLIENT_PLUGIN_AUTH and a 20-byte reply.
	resp := []byte{0x00, 0x82, 0x08, 0x00, 0, 0, 0, 1, 45}
	resp = append(resp, make([]byte, 23)...)
	resp = append(resp, 'x', 0, 20)
	resp = append(resp, make([]byte, 20)...)
	resp = append(append(resp, mysql.AUTH_NATIVE_PASSWORD...), 0)
	writePacket(t, cli, 1, resp)
	select {
	case s := <-got:
		require.Equal(t, append(append([]byte{}, part1...), part2...), s)
	case <-time.After(5 * time.Second):
		t.Fatal("the provider never ran")
	}
}

// probeAuth denies every login after reporting the connection's scramble.
type probeAuth struct {
	server.InMemoryAuthenticationHandler
	got chan []byte
}

func (p *probeAuth) GetCredential(string) (server.Credential, bool, error) {
	return server.Credential{Passwords: []string{"pw"}, AuthPluginName: mysql.AUTH_NATIVE_PASSWORD}, true, nil
}

func (p *probeAuth) OnAuthFailure(c *server.Conn, _ error) {
	s, ok := protocol.Scramble(c)
	if !ok {
		s = nil
	}
	p.got <- s
}

func readPacket(t *testing.T, c net.Conn) []byte {
	t.Helper()
	require.NoError(t, c.SetReadDeadline(time.Now().Add(5*time.Second)))
	var h [4]byte
	_, err := ioReadFull(c, h[:])
	require.NoError(t, err)
	b := make([]byte, int(h[0])|int(h[1])<<8|int(h[2])<<16)
	_, err = ioReadFull(c, b)
	require.NoError(t, err)
	return b
}

func writePacket(t *testing.T, c net.Conn, seq byte, p []byte) {
	t.Helper()
	n := len(p)
	_, err := c.Write(append([]byte{byte(n), byte(n >> 8), byte(n >> 16), seq}, p...))
	require.NoError(t, err)
}

func ioReadFull(c net.Conn, b []byte) (int, error) {
	n := 0
	for n < len(b) {
		m, err := c.Read(b[n:])
		n += m
		if err != nil {
			return n, err
		}
	}
	return n, nil
}

func indexByte(b []byte, c byte) int {
	for i, x := range b {
		if x == c {
			return i
		}
	}
	return -1
}
