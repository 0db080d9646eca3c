package protocol

import (
	"bufio"
	"crypto/rand"
	"crypto/rsa"
	"crypto/tls"
	"net"

	"github.com/go-mysql-org/go-mysql/mysql"
	"github.com/go-mysql-org/go-mysql/server"
)

// ServerTLSConfig returns the TLS settings offered to clients for a
// certificate chain and key: TLS 1.2 or newer; client certificates are not
// asked for.
func ServerTLSConfig(cert tls.Certificate) *tls.Config {
	return &tls.Config{Certificates: []tls.Certificate{cert}, MinVersion: tls.VersionTLS12}
}

// NewSecureServer is NewServer with rwproxy's AuthProvider (stored
// mysql_native_password hashes, a caching_sha2_password cache that follows
// password changes) reading passwords through creds, and, when tlsConf is
// not nil, TLS offered to clients (CLIENT_SSL in the greeting; a client's
// SSLRequest upgrades the connection). The RSA key for
// caching_sha2_password without TLS is generated here.
func NewSecureServer(version string, tlsConf *tls.Config, creds server.AuthenticationHandler) (*server.Server, error) {
	key, err := rsa.GenerateKey(rand.Reader, 2048)
	if err != nil {
		return nil, err
	}
	return NewSecureServerKey(version, tlsConf, creds, key)
}

// NewSecureServerKey is NewSecureServer with a given RSA key (tls.rsa_key,
// LoadRSAKey): the public key clients fetch, or pin, stays the same across
// restarts.
func NewSecureServerKey(version string, tlsConf *tls.Config, creds server.AuthenticationHandler, key *rsa.PrivateKey) (*server.Server, error) {
	prov, err := NewAuthProvider(creds, key)
	if err != nil {
		return nil, err
	}
	return server.NewServerWithAuth(version, utf8mb4GeneralCI, mysql.AUTH_NATIVE_PASSWORD, key, tlsConf, prov), nil
}

// OffersTLS reports whether srv announces CLIENT_SSL.
func OffersTLS(srv *server.Server) bool { return srv.Capability()&mysql.CLIENT_SSL != 0 }

// ReadBuffered returns nc with a read buffer when srv offers TLS, nc
// itself otherwise. go-mysql v1.16's server reads a connection without a
// buffer whenever TLS is configured (packet.NewTLSConn), TLS or not: two
// read syscalls per packet for a plain client. The TLS layer, which
// go-mysql puts over this connection on an SSLRequest, reads through the
// buffer too, so no byte is lost across the upgrade.
func ReadBuffered(nc net.Conn, srv *server.Server) net.Conn {
	if !OffersTLS(srv) {
		return nc
	}
	return &readBufConn{Conn: nc, r: bufio.NewReaderSize(nc, readBufSize)}
}

// readBufSize fits a typical request and most of a TLS record; larger
// reads bypass the buffer.
const readBufSize = 16 * 1024

// readBufConn is a net.Conn whose reads go through a bufio.Reader. It
// belongs to one goroutine, like BufConn.
type readBufConn struct {
	net.Conn
	r *bufio.Reader
}

// Read reads through the buffer, if it still has one.
func (c *readBufConn) Read(p []byte) (int, error) {
	if c.r == nil {
		return c.Conn.Read(p)
	}
	return c.r.Read(p)
}

// DropReadBuffer frees the read buffer ReadBuffered put under b, once the
// handshake that needed it is over and it holds no unread byte: the
// session's ClientConn (or the TLS layer) buffers what it reads itself.
func (b *BufConn) DropReadBuffer() {
	if c, ok := b.Conn.(*readBufConn); ok && c.r != nil && c.r.Buffered() == 0 {
		c.r = nil
	}
}
