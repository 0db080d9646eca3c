package pool

import (
	"crypto/tls"
	"errors"
	"net"
	"syscall"
	"time"
)

// aliveCheckAfter: a connection idle at least this long is checked for a
// close by the server before it is handed out (a killed server closes its
// sockets at once; the check is one non-blocking read).
const aliveCheckAfter = 10 * time.Millisecond

// alive reports whether the server has not closed nc. A MySQL server sends
// nothing on an idle connection, so on a plain connection anything readable
// — EOF, a reset, or stray bytes — means the connection cannot be used.
//
// Over TLS the check looks at the socket under the TLS layer, peeking so
// that no byte of the TLS stream is consumed: bytes waiting there may be a
// TLS record the client has not read yet (a TLS 1.3 session ticket after
// the handshake), or the server's close_notify alert followed by its FIN;
// the kernel's TCP state tells the two apart (peerClosed).
func alive(nc net.Conn) bool {
	overTLS := false
	if tc, ok := nc.(*tls.Conn); ok {
		nc, overTLS = tc.NetConn(), true
	}
	sc, ok := nc.(syscall.Conn)
	if !ok {
		return true
	}
	rc, err := sc.SyscallConn()
	if err != nil {
		return false
	}
	ok = true
	var buf [1]byte
	rerr := rc.Read(func(fd uintptr) bool {
		n, _, err := syscall.Recvfrom(int(fd), buf[:], syscall.MSG_PEEK|syscall.MSG_DONTWAIT)
		switch {
		case errors.Is(err, syscall.EAGAIN), errors.Is(err, syscall.EWOULDBLOCK):
			ok = true
		case err != nil || n == 0: // an error, or EOF
			ok = false
		default: // bytes waiting
			ok = overTLS && !peerClosed(fd)
		}
		return true // never wait for readiness
	})
	return rerr == nil && ok
}
