package protocol

import (
	"bytes"
	"crypto/rand"
	"crypto/rsa"
	"crypto/sha1" //nolint:gosec // mysql_native_password and the RSA padding of caching_sha2_password are defined with SHA-1
	"crypto/sha256"
	"crypto/subtle"
	"crypto/tls"
	"crypto/x509"
	"encoding/hex"
	"encoding/pem"
	"errors"
	"net"
	"reflect"
	"sync"

	"github.com/go-mysql-org/go-mysql/mysql"
	"github.com/go-mysql-org/go-mysql/server"
)

// IsNativeHash reports whether a configured password is stored in
// mysql_native_password hash form, as MySQL's mysql.user and ProxySQL's
// mysql_users keep it: "*" followed by the 40 hex digits of
// SHA1(SHA1(password)).
func IsNativeHash(pw string) bool {
	if len(pw) != 41 || pw[0] != '*' {
		return false
	}
	_, err := hex.DecodeString(pw[1:])
	return err == nil
}

// NativeHash returns the stored form of password: "*" + upper-case
// hex(SHA1(SHA1(password))), what MySQL 5.7's PASSWORD() returned. The
// empty password stays empty.
func NativeHash(password string) string {
	if password == "" {
		return ""
	}
	return mysql.EncodePasswordHex(mysql.NativePasswordHash([]byte(password)))
}

// nativeStage2 returns SHA1(SHA1(password)) for a configured password in
// either form (plain text or IsNativeHash).
func nativeStage2(pw string) []byte {
	if IsNativeHash(pw) {
		b, _ := hex.DecodeString(pw[1:])
		return b
	}
	return mysql.NativePasswordHash([]byte(pw))
}

// CheckNativeScramble verifies a mysql_native_password reply to salt
// against a configured password, plain or hashed. The empty password
// accepts only an empty reply.
func CheckNativeScramble(stored string, reply, salt []byte) bool {
	if stored == "" {
		return isEmptyAuth(reply)
	}
	if isEmptyAuth(reply) {
		return false
	}
	return mysql.CompareNativePassword(reply, nativeStage2(stored), salt)
}

func isEmptyAuth(b []byte) bool { return len(b) == 0 || (len(b) == 1 && b[0] == 0) }

// errNoScramble means the connection's scramble could not be read: the
// go-mysql version no longer has the field AuthProvider relies on.
var errNoScramble = errors.New("protocol: cannot read the handshake scramble (go-mysql changed?)")

// caching_sha2_password "more data" replies.
const (
	sha2FastAuthOK  = 3
	sha2FullAuth    = 4
	sha2RequestPubK = 2
)

// AuthProvider is rwproxy's go-mysql AuthenticationProvider. Compared with
// go-mysql's DefaultAuthenticationProvider it
//
//   - accepts passwords stored as mysql_native_password hashes ("*" + 40
//     hex digits) for mysql_native_password users, and for
//     caching_sha2_password users through full authentication (TLS, or
//     the RSA key exchange without TLS);
//   - keeps its own caching_sha2_password cache, checked against the
//     password configured now: go-mysql's cache outlives a password change,
//     so the old password would keep working by fast authentication.
//
// Passwords are looked up through the same AuthenticationHandler the
// connection uses. It is safe for concurrent use.
type AuthProvider struct {
	creds  server.AuthenticationHandler
	key    *rsa.PrivateKey
	pubPEM []byte
	// cache maps a user name to SHA256(SHA256(password)) once that user
	// passed full authentication with that password.
	cache sync.Map
	def   server.DefaultAuthenticationProvider
}

var _ server.AuthenticationProvider = (*AuthProvider)(nil)

// NewAuthProvider returns a provider that reads passwords through creds and
// answers RSA public key requests with key.
func NewAuthProvider(creds server.AuthenticationHandler, key *rsa.PrivateKey) (*AuthProvider, error) {
	der, err := x509.MarshalPKIXPublicKey(&key.PublicKey)
	if err != nil {
		return nil, err
	}
	return &AuthProvider{creds: creds, key: key,
		pubPEM: pem.EncodeToMemory(&pem.Block{Type: "PUBLIC KEY", Bytes: der})}, nil
}

// Validate implements server.AuthenticationProvider.
func (p *AuthProvider) Validate(plugin string) bool { return p.def.Validate(plugin) }

// Authenticate implements server.AuthenticationProvider. go-mysql calls it
// with the client's reply for the user's own plugin (after an auth switch
// if needed); it completes the exchange (caching_sha2_password's extra
// round trips included) and returns nil, or an error that go-mysql turns
// into 1045 (server.ErrAccessDenied) or sends as it is.
func (p *AuthProvider) Authenticate(c *server.Conn, plugin string, data []byte) error {
	cred, found, err := p.creds.GetCredential(c.GetUser())
	if err != nil {
		return err
	}
	if !found || len(cred.Passwords) == 0 {
		return server.ErrAccessDenied
	}
	pw := cred.Passwords[0]
	switch plugin {
	case mysql.AUTH_NATIVE_PASSWORD:
		return p.native(c, pw, data)
	case mysql.AUTH_CACHING_SHA2_PASSWORD:
		return p.cachingSha2(c, pw, data)
	default:
		return p.def.Authenticate(c, plugin, data)
	}
}

func (p *AuthProvider) native(c *server.Conn, pw string, data []byte) error {
	if pw == "" || isEmptyAuth(data) {
		return emptyCheck(pw, data)
	}
	salt, ok := Scramble(c)
	if !ok {
		return errNoScramble
	}
	if mysql.CompareNativePassword(data, nativeStage2(pw), salt) {
		return nil
	}
	return server.ErrAccessDenied
}

// emptyCheck decides a login where the password or the reply is empty.
func emptyCheck(pw string, data []byte) error {
	switch {
	case pw == "" && isEmptyAuth(data):
		return nil
	case isEmptyAuth(data):
		return server.ErrAccessDeniedNoPassword
	default:
		return server.ErrAccessDenied
	}
}

// cachingSha2 runs caching_sha2_password: fast authentication when this
// user already passed full authentication with the current password and
// the scramble matches, full authentication otherwise.
func (p *AuthProvider) cachingSha2(c *server.Conn, pw string, data []byte) error {
	if pw == "" || isEmptyAuth(data) {
		return emptyCheck(pw, data)
	}
	salt, ok := Scramble(c)
	if !ok {
		return errNoScramble
	}
	hashed := IsNativeHash(pw)
	var dh [32]byte
	if !hashed {
		h := sha256.Sum256([]byte(pw))
		dh = sha256.Sum256(h[:])
		if v, ok := p.cache.Load(c.GetUser()); ok && v.([32]byte) == dh && sha2ScrambleOK(dh[:], salt, data) {
			return c.WritePacket([]byte{0, 0, 0, 0, mysql.MORE_DATE_HEADER, sha2FastAuthOK})
		}
	}
	if err := c.WritePacket([]byte{0, 0, 0, 0, mysql.MORE_DATE_HEADER, sha2FullAuth}); err != nil {
		return err
	}
	plain, err := p.fullAuthPassword(c, salt)
	if err != nil {
		return err
	}
	if hashed {
		if subtle.ConstantTimeCompare(mysql.NativePasswordHash(plain), nativeStage2(pw)) == 1 {
			return nil
		}
		return server.ErrAccessDenied
	}
	if subtle.ConstantTimeCompare(plain, []byte(pw)) != 1 {
		return server.ErrAccessDenied
	}
	p.cache.Store(c.GetUser(), dh)
	return nil
}

// sha2ScrambleOK checks a caching_sha2_password scramble:
// scramble = SHA256(pw) XOR SHA256(SHA256(SHA256(pw)) || salt).
func sha2ScrambleOK(dh, salt, scramble []byte) bool {
	if len(scramble) != sha256.Size {
		return false
	}
	h := sha256.New()
	h.Write(dh)
	h.Write(salt)
	m := h.Sum(nil)
	for i := range m {
		m[i] ^= scramble[i]
	}
	got := sha256.Sum256(m)
	return subtle.ConstantTimeCompare(got[:], dh) == 1
}

// fullAuthPassword reads the password of a caching_sha2_password full
// authentication: in clear over TLS, RSA-encrypted otherwise (after
// sending the public key if the client asks for it).
func (p *AuthProvider) fullAuthPassword(c *server.Conn, salt []byte) ([]byte, error) {
	data, err := c.ReadPacket()
	if err != nil {
		return nil, err
	}
	if IsTLS(c) {
		return bytes.TrimSuffix(data, []byte{0}), nil
	}
	if len(data) == 1 && data[0] == sha2RequestPubK {
		if err := c.WritePacket(append([]byte{0, 0, 0, 0, mysql.MORE_DATE_HEADER}, p.pubPEM...)); err != nil {
			return nil, err
		}
		if data, err = c.ReadPacket(); err != nil {
			return nil, err
		}
	}
	dec, err := rsa.DecryptOAEP(sha1.New(), rand.Reader, p.key, data, nil) //nolint:gosec // OAEP-SHA1 is what the protocol uses
	if err != nil {
		// A client that sent its password in clear without TLS, or
		// garbage: a wrong password either way.
		return nil, server.ErrAccessDenied
	}
	return bytes.TrimSuffix(mysql.Xor(dec, salt), []byte{0}), nil
}

// Scramble returns the 20-byte salt go-mysql's server sent c in its
// greeting or latest auth switch. go-mysql v1.16 keeps it unexported and
// does not hand it to an AuthenticationProvider, which needs it to check a
// reply against a stored hash, so it is read by reflection (a read-only
// copy; TestScrambleMatchesGreeting pins the field).
func Scramble(c *server.Conn) ([]byte, bool) {
	v := reflect.ValueOf(c).Elem().FieldByName("salt")
	if !v.IsValid() || v.Kind() != reflect.Slice || v.Type().Elem().Kind() != reflect.Uint8 {
		return nil, false
	}
	b := bytes.Clone(v.Bytes())
	return b, len(b) >= 20
}

// IsTLS reports whether c's client upgraded the connection to TLS.
func IsTLS(c *server.Conn) bool {
	switch t := c.Conn.Conn.(type) {
	case *HandshakeConn:
		return t.IsTLS()
	case *tls.Conn:
		return true
	}
	return false
}

// Transport is the connection a logged-in client goes on with: the socket,
// or the TLS layer over it.
func Transport(c *server.Conn) net.Conn {
	if h, ok := c.Conn.Conn.(*HandshakeConn); ok {
		return h.Transport()
	}
	return c.Conn.Conn
}
