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

// suspectFor: after a connection was found closed by its server (a killed
// or restarting server closes every socket at once), the server's idle
// connections are checked before use for this long, however briefly they
// idled: a statement that follows the first lost one then goes to a new
// connection (and, the server being down, waits for a writer) instead of
// being sent on a dead one and reported as lost with its outcome unknown.
const suspectFor = 2 * time.Second

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
	_, overTLS := nc.(*tls.Conn)
	ok, peeked := peekSocket(nc, func(fd uintptr, n int, err error) bool {
		switch {
		case wouldBlock(err):
			return true
		case err != nil || n == 0: // an error, or EOF
			return false
		}
		return overTLS && !peerClosed(fd) // bytes waiting
	})
	if !peeked {
		return !ok // not a socket: taken as alive; unreachable: dead
	}
	return ok
}

// closedByServer reports whether the server closed nc (its FIN or a reset
// arrived), as opposed to a connection dropped in an unknown state with a
// reply still unread.
func closedByServer(nc net.Conn) bool {
	closed, peeked := peekSocket(nc, func(fd uintptr, n int, err error) bool {
		switch {
		case wouldBlock(err):
			return false
		case err != nil || n == 0:
			return true
		}
		return peerClosed(fd) // bytes waiting: closed only if the FIN came after them
	})
	return peeked && closed
}

func wouldBlock(err error) bool {
	return errors.Is(err, syscall.EAGAIN) || errors.Is(err, syscall.EWOULDBLOCK)
}

// peekSocket peeks one byte of nc's socket (under TLS, the TCP socket)
// without waiting and returns what decide makes of it, with peeked true.
// When nc is no socket it returns (false, false); when the socket cannot
// be reached, (true, false).
func peekSocket(nc net.Conn, decide func(fd uintptr, n int, err error) bool) (result, peeked bool) {
	if tc, ok := nc.(*tls.Conn); ok {
		nc = tc.NetConn()
	}
	sc, ok := nc.(syscall.Conn)
	if !ok {
		return false, false
	}
	rc, err := sc.SyscallConn()
	if err != nil {
		return true, false
	}
	var buf [1]byte
	rerr := rc.Read(func(fd uintptr) bool {
		n, _, err := syscall.Recvfrom(int(fd), buf[:], syscall.MSG_PEEK|syscall.MSG_DONTWAIT)
		result = decide(fd, n, err)
		return true // never wait for readiness
	})
	if rerr != nil {
		return true, false
	}
	return result, true
}
