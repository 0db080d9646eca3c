package protocol

import (
	"crypto/tls"
	"errors"
	"io"
	"net"

	"github.com/go-mysql-org/go-mysql/mysql"
)

// MaxHandshakePacket bounds every packet a client sends before it is
// authenticated: the handshake response, the SSLRequest, auth switch and
// caching_sha2_password replies. A handshake response is a few hundred
// bytes (user, scramble, schema, plugin, connection attributes; an RSA
// encrypted password is 256-512 bytes); 16 KiB leaves room for generous
// connection attributes while keeping what one unauthenticated peer can
// make the proxy allocate small.
const MaxHandshakePacket = 16 << 10

// ErrHandshakeTooLarge is a pre-login packet announcing more than
// MaxHandshakePacket bytes; the client gets error 1153 and the connection
// is closed.
var ErrHandshakeTooLarge = errors.New("protocol: handshake packet larger than the pre-login limit")

// errNoTLS is an SSLRequest on a listener that offers no TLS.
var errNoTLS = errors.New("protocol: client asked for TLS, none is configured")

// sslRequestLen is the payload length of an SSLRequest: capabilities, max
// packet size, charset and 23 reserved bytes. A handshake response is
// always longer (it has at least the user's NUL and the auth data length).
const sslRequestLen = 4 + 4 + 1 + 23

// HandshakeConn is the client connection as go-mysql's server sees it
// during the login exchange. go-mysql v1.16's packet reader allocates
// whatever length a packet header announces before the bytes arrive (a
// 4-byte header costs the proxy 16 MiB); HandshakeConn follows the packet
// framing of the bytes it hands on and refuses, before go-mysql sees it, a
// header announcing more than MaxHandshakePacket.
//
// It also performs the TLS upgrade itself (go-mysql's would put TLS
// between this reader and go-mysql, where packet lengths are no longer
// visible): an SSLRequest is answered here and not passed on, so go-mysql
// numbers packets one lower than the client; HandshakeConn shifts the
// sequence numbers of the packets that pass in both directions.
//
// Once the login is over (Handshake calls finish) it passes bytes through
// unchanged. A HandshakeConn belongs to one goroutine.
type HandshakeConn struct {
	// Conn is the transport: the client socket, or TLS over it.
	net.Conn
	raw     net.Conn
	tlsConf *tls.Config
	limit   int
	hdr     [4]byte
	// hdrOff is how much of hdr was handed on (4: all of it).
	hdrOff int
	// left is the payload of the current packet not yet handed on.
	left    int
	packets int
	// shift is 1 once TLS was set up by an SSLRequest go-mysql never saw.
	shift  uint8
	isTLS  bool
	done   bool
	failed bool
}

// NewHandshakeConn reads the login exchange of c under the pre-login
// packet limit; tlsConf (nil: TLS not offered) answers an SSLRequest.
func NewHandshakeConn(c net.Conn, tlsConf *tls.Config) *HandshakeConn {
	return &HandshakeConn{Conn: c, raw: c, tlsConf: tlsConf, limit: MaxHandshakePacket, hdrOff: 4}
}

// IsTLS reports whether the client upgraded the connection to TLS.
func (h *HandshakeConn) IsTLS() bool { return h.isTLS }

// Transport is the connection the session goes on with: the client socket,
// or the TLS connection over it.
func (h *HandshakeConn) Transport() net.Conn { return h.Conn }

// finish ends the login exchange: bytes pass through unchanged from now.
func (h *HandshakeConn) finish() { h.done = true }

// Read hands on the client's packets one at a time, never reading past the
// end of the current one (nothing is left buffered here for the session).
func (h *HandshakeConn) Read(p []byte) (int, error) {
	if h.done {
		return h.Conn.Read(p)
	}
	if h.hdrOff < len(h.hdr) {
		n := copy(p, h.hdr[h.hdrOff:])
		h.hdrOff += n
		return n, nil
	}
	if h.left == 0 {
		if err := h.next(); err != nil {
			h.failed = true
			return 0, err
		}
		n := copy(p, h.hdr[:])
		h.hdrOff = n
		return n, nil
	}
	p = p[:min(len(p), h.left)]
	n, err := h.Conn.Read(p)
	h.left -= n
	if err != nil {
		h.failed = true
	}
	return n, err
}

// next reads the header of the client's next packet, answering an
// SSLRequest on the way.
func (h *HandshakeConn) next() error {
	for {
		if _, err := io.ReadFull(h.Conn, h.hdr[:]); err != nil {
			return err
		}
		n := int(h.hdr[0]) | int(h.hdr[1])<<8 | int(h.hdr[2])<<16
		if n > h.limit {
			h.refuse(h.hdr[3] + 1)
			return ErrHandshakeTooLarge
		}
		h.packets++
		if h.packets == 1 && n == sslRequestLen {
			if err := h.startTLS(); err != nil {
				return err
			}
			continue
		}
		h.hdr[3] -= h.shift
		h.left = n
		return nil
	}
}

// startTLS reads the rest of an SSLRequest and runs the TLS handshake.
func (h *HandshakeConn) startTLS() error {
	var req [sslRequestLen]byte
	if _, err := io.ReadFull(h.Conn, req[:]); err != nil {
		return err
	}
	if h.tlsConf == nil {
		return errNoTLS
	}
	tc := tls.Server(h.raw, h.tlsConf)
	if err := tc.Handshake(); err != nil {
		return err
	}
	h.Conn, h.isTLS, h.shift = tc, true, 1
	return nil
}

// refuse sends error 1153 as packet seq, straight to the transport.
func (h *HandshakeConn) refuse(seq uint8) {
	p := AppendErr([]byte{0, 0, 0, 0}, mysql.NewDefaultError(mysql.ER_NET_PACKET_TOO_LARGE))
	n := len(p) - 4
	p[0], p[1], p[2], p[3] = byte(n), byte(n>>8), byte(n>>16), seq
	_, _ = h.Conn.Write(p)
}

// Write passes go-mysql's packets on, renumbered after a TLS upgrade. Once
// a read failed, writes are dropped: go-mysql would answer a read error
// with its Go error text, which is no message for a client.
func (h *HandshakeConn) Write(p []byte) (int, error) {
	if h.done {
		return h.Conn.Write(p)
	}
	if h.failed {
		return len(p), nil
	}
	if h.shift != 0 {
		// go-mysql writes whole packets during the login (each well
		// under 16 MiB); renumber each header in p.
		for off := 0; off+4 <= len(p); {
			p[off+3] += h.shift
			off += 4 + (int(p[off]) | int(p[off+1])<<8 | int(p[off+2])<<16)
		}
	}
	return h.Conn.Write(p)
}
