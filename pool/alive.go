package pool

import (
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
// nothing on an idle connection, so anything readable — EOF, a reset, or
// stray bytes — means the connection cannot be used.
func alive(nc net.Conn) bool {
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
		n, err := syscall.Read(int(fd), buf[:])
		switch {
		case errors.Is(err, syscall.EAGAIN), errors.Is(err, syscall.EWOULDBLOCK):
			ok = true
		default: // EOF (n == 0), data, or an error
			ok = n < 0 && err == nil
		}
		return true // never wait for readiness
	})
	return rerr == nil && ok
}
