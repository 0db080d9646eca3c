package protocol

import (
	"crypto/hmac"
	"crypto/rand"
	"crypto/rsa"
	"crypto/sha256"
	"crypto/tls"
	"encoding/binary"
	"encoding/hex"
	"net"
	"reflect"
	"sync/atomic"
	"unsafe"

	"github.com/go-mysql-org/go-mysql/mysql"
	"github.com/go-mysql-org/go-mysql/server"
)

// UserLookup returns a user's password and frontend auth plugin ("" means
// mysql_native_password); ok is false for unknown or inactive users.
type UserLookup func(user string) (password, plugin string, ok bool)

// Auth authenticates clients against the configured users.
type Auth struct {
	lookup UserLookup
	// decoy is the password of users that do not exist: authentication
	// then fails with 1045 exactly as for a wrong password, and the reply
	// does not reveal which user names exist.
	decoy string
	// mix and key choose the plugin of a user that does not exist (see
	// decoyPlugin); mix is nil until SetPluginMix.
	mix PluginMix
	key []byte
	// policy, locks and lockedRefusals are the per-user lockout
	// (lockout.go); policy is nil while it is off.
	policy         LockoutPolicy
	locks          lockout
	lockedRefusals atomic.Uint64
}

// PluginMix returns how many configured users authenticate with
// mysql_native_password and with caching_sha2_password.
type PluginMix func() (native, sha2 int)

var _ server.AuthenticationHandler = (*Auth)(nil)

// NewAuth returns an authentication handler reading users through lookup.
func NewAuth(lookup UserLookup) *Auth {
	return &Auth{lookup: lookup, decoy: hex.EncodeToString(mysql.RandomBuf(24)), key: mysql.RandomBuf(32)}
}

// SetPluginMix makes users that do not exist authenticate with the plugins
// of the configured users, in the same proportions. Call it before the
// first login.
func (a *Auth) SetPluginMix(m PluginMix) { a.mix = m }

// decoyPlugin is the plugin a user that does not exist is asked to use.
// Without it, a client offering mysql_native_password would get an auth
// switch for an existing caching_sha2_password user and 1045 at once for an
// unknown name: a user enumeration. Each unknown name gets one plugin, the
// same at every attempt (a keyed hash of the name, weighted by the
// configured users' plugins), so probing a name twice shows nothing more,
// and an unknown name behaves as an existing one does.
func (a *Auth) decoyPlugin(user string) string {
	if a.mix == nil {
		return mysql.AUTH_NATIVE_PASSWORD
	}
	native, sha2 := a.mix()
	if sha2 == 0 {
		return mysql.AUTH_NATIVE_PASSWORD
	}
	h := hmac.New(sha256.New, a.key)
	h.Write([]byte(user))
	if binary.LittleEndian.Uint64(h.Sum(nil))%uint64(native+sha2) < uint64(sha2) {
		return mysql.AUTH_CACHING_SHA2_PASSWORD
	}
	return mysql.AUTH_NATIVE_PASSWORD
}

// GetCredential implements server.AuthenticationHandler.
func (a *Auth) GetCredential(user string) (server.Credential, bool, error) {
	pw, plugin, ok := a.lookup(user)
	if !ok {
		return server.Credential{Passwords: []string{a.decoy}, AuthPluginName: a.decoyPlugin(user)}, true, nil
	}
	if plugin == "" {
		plugin = mysql.AUTH_NATIVE_PASSWORD
	}
	if a.lockedNow(user) {
		// The user's own exchange, a password nobody knows.
		return server.Credential{Passwords: []string{a.decoy}, AuthPluginName: plugin}, true, nil
	}
	return server.Credential{Passwords: []string{pw}, AuthPluginName: plugin}, true, nil
}

// NewServer builds the go-mysql server configuration: the announced
// version, mysql_native_password by default (caching_sha2_password users
// are switched to it by the protocol's auth switch), and an RSA key so
// caching_sha2_password full authentication works without TLS.
func NewServer(version string) (*server.Server, error) {
	key, err := rsa.GenerateKey(rand.Reader, 2048)
	if err != nil {
		return nil, err
	}
	return server.NewServerWithAuth(version, utf8mb4GeneralCI, mysql.AUTH_NATIVE_PASSWORD,
		key, nil, &server.DefaultAuthenticationProvider{}), nil
}

// utf8mb4GeneralCI is collation 45, known to MySQL and MariaDB alike.
const utf8mb4GeneralCI uint8 = 45

// Handshake runs go-mysql's login exchange on nc. go-mysql v1.16 indexes
// past the end of some malformed handshake responses (connection
// attributes, auth data lengths); such a panic is turned into error 1043
// (ER_HANDSHAKE_ERROR) sent to the client, so that an unauthenticated peer
// can neither crash nor spam the proxy's error log.
//
// Every packet the client sends before it is authenticated is read through
// a HandshakeConn (bounded by MaxHandshakePacket, TLS set up there); the
// returned connection's Conn is that HandshakeConn, passing bytes through
// unchanged from now on (its Transport is the socket or the TLS layer).
func Handshake(srv *server.Server, nc net.Conn, auth server.AuthenticationHandler, h server.Handler) (c *server.Conn, err error) {
	hc := NewHandshakeConn(nc, serverTLS(srv))
	defer func() {
		if r := recover(); r != nil {
			c, err = nil, mysql.NewDefaultError(mysql.ER_HANDSHAKE_ERROR)
			p := AppendErr([]byte{0, 0, 0, 0}, err.(*mysql.MyError))
			n := len(p) - 4
			// The client's response was packet 1; the reply is packet 2.
			p[0], p[1], p[2], p[3] = byte(n), byte(n>>8), byte(n>>16), 2
			_, _ = hc.Write(p)
			_ = hc.Close()
		}
	}()
	c, err = srv.NewCustomizedConn(hc, auth, h)
	if err == nil {
		hc.finish()
	}
	return c, err
}

// serverTLS returns the TLS configuration srv offers clients (nil: none).
// go-mysql v1.16 keeps it unexported and would run the TLS upgrade itself,
// above the bounded HandshakeConn; the pointer is read by reflection
// (TestServerTLSField pins the field).
func serverTLS(srv *server.Server) *tls.Config {
	v := reflect.ValueOf(srv).Elem().FieldByName("tlsConfig")
	if !v.IsValid() || v.Type() != reflect.TypeFor[*tls.Config]() {
		return nil
	}
	//nolint:gosec // a read-only copy of a pointer field of go-mysql's server, type checked above
	return *(**tls.Config)(unsafe.Pointer(v.UnsafeAddr()))
}
